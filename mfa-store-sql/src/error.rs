//! Database failures as they leave a store: a short class and the engine's
//! code, never the driver's message, which may quote values (MySQL's
//! "Duplicate entry '…'" does). Drivers build these; the repositories use
//! [`is_retryable`] to decide whether a whole transaction runs again.

use mfa_core::store::StoreError;
use std::fmt;

/// A database failure without SQL text or bound values.
#[derive(Debug)]
pub struct DbFailure {
    what: &'static str,
    code: Option<String>,
    retryable: bool,
}

impl DbFailure {
    /// A failure of class `what` (a fixed phrase), with the engine's
    /// SQLSTATE or error number when the driver exposes one. `retryable`
    /// marks a deadlock, serialization failure or busy database: the whole
    /// transaction may run again.
    #[must_use]
    pub fn new(what: &'static str, code: Option<String>, retryable: bool) -> Self {
        Self {
            what,
            code,
            retryable,
        }
    }

    /// Whether the whole transaction may run again.
    #[must_use]
    pub fn retryable(&self) -> bool {
        self.retryable
    }
}

impl fmt::Display for DbFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} (code {code})", self.what),
            None => f.write_str(self.what),
        }
    }
}

impl std::error::Error for DbFailure {}

/// A retryable conflict (deadlock, serialization failure, busy database) as
/// [`StoreError::Unavailable`].
#[must_use]
pub fn conflict(code: Option<String>) -> StoreError {
    StoreError::Unavailable(Box::new(DbFailure::new("transaction conflict", code, true)))
}

/// A non-retryable failure of class `what` as [`StoreError::Backend`].
#[must_use]
pub fn backend(what: &'static str, code: Option<String>) -> StoreError {
    StoreError::Backend(Box::new(DbFailure::new(what, code, false)))
}

/// A lost or refused connection as [`StoreError::Unavailable`]: the fate of
/// the statement is unknown, so it is not retried here.
#[must_use]
pub fn unavailable(what: &'static str, code: Option<String>) -> StoreError {
    StoreError::Unavailable(Box::new(DbFailure::new(what, code, false)))
}

/// Whether a mapped error is worth retrying the whole operation for.
#[must_use]
pub fn is_retryable(err: &StoreError) -> bool {
    match err {
        StoreError::Unavailable(source) => source
            .downcast_ref::<DbFailure>()
            .is_some_and(DbFailure::retryable),
        _ => false,
    }
}

/// A corrupt-row error naming the column, never the value.
#[must_use]
pub fn corrupt(column: &str) -> StoreError {
    StoreError::Corrupt(format!("invalid value in column {column}"))
}

/// The driver's generic unique-violation error relabelled with what the
/// duplicate means at this call site (`Conflict("user identifier")`).
pub(crate) fn conflict_as(what: &'static str) -> impl Fn(StoreError) -> StoreError {
    move |err| match err {
        StoreError::Conflict(_) => StoreError::Conflict(what),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_conflicts_are_retryable() {
        assert!(is_retryable(&conflict(Some("40001".into()))));
        assert!(!is_retryable(&unavailable("connection failure", None)));
        assert!(!is_retryable(&backend("database error", None)));
    }

    #[test]
    fn a_failure_shows_its_class_and_code_only() {
        let f = DbFailure::new("database error", Some("42P01".into()), false);
        assert_eq!(f.to_string(), "database error (code 42P01)");
    }
}

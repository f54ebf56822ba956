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

/// SQLSTATEs and engine codes that mean "run the transaction again":
/// PostgreSQL serialization failure / deadlock, MySQL deadlock / lock wait
/// timeout, SQLite busy / locked (with extended codes).
fn is_retryable_code(code: &str) -> bool {
    matches!(
        code,
        "40001" | "40P01" | "1213" | "1205" | "5" | "6" | "261" | "262" | "517" | "773"
    )
}

/// Codes of a server that is going away, restarting or refusing
/// connections: PostgreSQL class 08 (connection exception), 57P01–57P03
/// (shutdown, crash, not yet accepting connections), 53300 (too many
/// connections); MySQL/MariaDB 1040 (too many connections), 1053 (shutdown),
/// 2006/2013 (server gone / connection lost).
fn is_unavailable_code(code: &str) -> bool {
    code.starts_with("08")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "53300" | "1040" | "1053" | "2006" | "2013"
        )
}

/// A database error (other than a unique violation) by the engine's
/// SQLSTATE or error number, for drivers that expose it: a server going
/// away is [`unavailable`] (the statement's fate is unknown, so it is not
/// retried), a deadlock, serialization failure or busy database a
/// retryable [`conflict`], anything else a [`backend`] error.
#[must_use]
pub fn from_code(code: Option<String>) -> StoreError {
    match code {
        Some(c) if is_unavailable_code(&c) => unavailable("database unavailable", Some(c)),
        Some(c) if is_retryable_code(&c) => conflict(Some(c)),
        code => backend("database error", code),
    }
}

/// Whether a driver's message says "run the transaction again", for
/// drivers that keep no code for it; the engines' fixed texts are matched:
/// PostgreSQL deadlock and serialization failure, MySQL/MariaDB deadlock and
/// lock wait timeout, SQLite busy / locked.
#[must_use]
pub fn is_retryable_message(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("deadlock")
        || m.contains("lock wait timeout")
        || m.contains("could not serialize")
        || m.contains("database is locked")
        || m.contains("database table is locked")
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

    /// A restarting server (what the load-with-faults run met) is
    /// `unavailable` (HTTP 503, retry later), not an internal error; it is
    /// not retried inside the store because the statement's fate is unknown.
    #[test]
    fn server_going_away_is_unavailable() {
        for code in [
            "57P01", "57P02", "57P03", "08006", "08003", "53300", "2006", "2013", "1053",
        ] {
            let err = from_code(Some(code.into()));
            assert!(matches!(err, StoreError::Unavailable(_)), "{code}: {err:?}");
            assert!(!is_retryable(&err), "{code} must not be retried blindly");
        }
    }

    #[test]
    fn conflict_codes_are_retryable_and_other_codes_are_backend_errors() {
        for code in ["40001", "40P01", "1213", "1205", "5", "517"] {
            assert!(is_retryable(&from_code(Some(code.into()))), "{code}");
        }
        assert!(matches!(
            from_code(Some("42P01".into())),
            StoreError::Backend(_)
        ));
        assert!(matches!(from_code(None), StoreError::Backend(_)));
    }

    #[test]
    fn deadlocks_and_busy_databases_are_retryable_messages() {
        for m in [
            "deadlock detected",
            "Deadlock found when trying to get lock; try restarting transaction",
            "Lock wait timeout exceeded; try restarting transaction",
            "database is locked",
        ] {
            assert!(is_retryable_message(m), "{m}");
        }
        assert!(!is_retryable_message("syntax error at or near"));
    }
}

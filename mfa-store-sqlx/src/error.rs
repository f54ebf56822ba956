//! Mapping of sqlx errors into [`StoreError`], without SQL text or values.

use mfa_core::store::StoreError;
use mfa_store_sql::error::{backend, conflict, unavailable};

/// SQLSTATEs and engine codes that mean "try the transaction again":
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
/// 2006/2013 (server gone / connection lost). The outcome of the statement
/// is unknown, so these are unavailable but not retried here.
fn is_unavailable_code(code: &str) -> bool {
    code.starts_with("08")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "53300" | "1040" | "1053" | "2006" | "2013"
        )
}

/// Maps a sqlx error; a unique violation is a generic `Conflict` that the
/// repository relabels.
pub(crate) fn map_err(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned());
            if db.is_unique_violation() {
                // Relabelled by the repository with what the duplicate means.
                return StoreError::Conflict("duplicate row");
            }
            match code {
                Some(c) if is_unavailable_code(&c) => unavailable("database unavailable", Some(c)),
                Some(c) if is_retryable_code(&c) => conflict(Some(c)),
                code => backend("database error", code),
            }
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::BeginFailed => StoreError::unavailable(err),
        sqlx::Error::ColumnDecode { index, .. } => {
            StoreError::Corrupt(format!("column {index} could not be decoded"))
        }
        sqlx::Error::ColumnNotFound(name) => StoreError::Corrupt(format!("column {name} missing")),
        sqlx::Error::Decode(_) => StoreError::Corrupt("a value could not be decoded".into()),
        sqlx::Error::ColumnIndexOutOfBounds { .. } | sqlx::Error::TypeNotFound { .. } => {
            StoreError::Corrupt("unexpected row shape".into())
        }
        other => backend(kind_name(&other), None),
    }
}

fn kind_name(err: &sqlx::Error) -> &'static str {
    match err {
        sqlx::Error::Configuration(_) => "configuration error",
        sqlx::Error::Protocol(_) => "protocol error",
        sqlx::Error::Encode(_) => "value could not be encoded",
        sqlx::Error::RowNotFound => "row not found",
        _ => "driver error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_store_sql::error::is_retryable;
    use std::borrow::Cow;
    use std::fmt;

    /// A driver error with a given SQLSTATE / server code.
    #[derive(Debug)]
    struct Coded(&'static str);

    impl fmt::Display for Coded {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "server said {}", self.0)
        }
    }

    impl std::error::Error for Coded {}

    impl sqlx::error::DatabaseError for Coded {
        fn message(&self) -> &str {
            "server message"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn mapped(code: &'static str) -> StoreError {
        map_err(sqlx::Error::Database(Box::new(Coded(code))))
    }

    /// A restarting server (what the load-with-faults run met) is
    /// `unavailable` (HTTP 503, retry later), not an internal error; it is
    /// not retried inside the store because the statement's fate is unknown.
    #[test]
    fn server_going_away_is_unavailable() {
        for code in [
            "57P01", "57P02", "57P03", "08006", "08003", "53300", "2006", "2013", "1053",
        ] {
            let err = mapped(code);
            assert!(matches!(err, StoreError::Unavailable(_)), "{code}: {err:?}");
            assert!(!is_retryable(&err), "{code} must not be retried blindly");
        }
    }

    #[test]
    fn conflicts_are_retryable_and_other_errors_are_backend_errors() {
        assert!(is_retryable(&mapped("40001")));
        assert!(matches!(mapped("42P01"), StoreError::Backend(_)));
    }
}

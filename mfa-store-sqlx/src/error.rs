//! Mapping of sqlx errors into [`StoreError`], without SQL text or values.

use mfa_core::store::StoreError;
use mfa_store_sql::error::{backend, from_code};

/// Maps a sqlx error; a unique violation is a generic `Conflict` that the
/// repository relabels.
pub(crate) fn map_err(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::Database(db) => {
            if db.is_unique_violation() {
                // Relabelled by the repository with what the duplicate means.
                return StoreError::Conflict("duplicate row");
            }
            from_code(db.code().map(|c| c.into_owned()))
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

    /// The engine's code reaches the classification of `mfa-store-sql`.
    #[test]
    fn server_codes_are_classified() {
        let err = mapped("57P01");
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert!(!is_retryable(&err), "a server going away is not retried");
    }

    #[test]
    fn conflicts_are_retryable_and_other_errors_are_backend_errors() {
        assert!(is_retryable(&mapped("40001")));
        assert!(matches!(mapped("42P01"), StoreError::Backend(_)));
    }
}

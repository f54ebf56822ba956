//! Mapping of sqlx errors into [`StoreError`], without SQL text or values.

use mfa_core::store::StoreError;
use std::fmt;

/// A database failure as it leaves this crate: the driver's error class and
/// SQLSTATE (or engine code), never its message, which may quote values
/// (MySQL's "Duplicate entry '…'" does).
#[derive(Debug)]
pub(crate) struct DbFailure {
    what: &'static str,
    code: Option<String>,
    /// A deadlock, serialization failure or busy database: the whole
    /// operation may be retried.
    pub(crate) retryable: bool,
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

/// SQLSTATEs and engine codes that mean "try the transaction again":
/// PostgreSQL serialization failure / deadlock, MySQL deadlock / lock wait
/// timeout, SQLite busy / locked (with extended codes).
fn is_retryable_code(code: &str) -> bool {
    matches!(
        code,
        "40001" | "40P01" | "1213" | "1205" | "5" | "6" | "261" | "262" | "517" | "773"
    )
}

/// Maps a sqlx error. `conflict` names what a unique violation means here.
pub(crate) fn map_err_as(err: sqlx::Error, conflict: &'static str) -> StoreError {
    match err {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned());
            if db.is_unique_violation() {
                return StoreError::Conflict(conflict);
            }
            let retryable = code.as_deref().is_some_and(is_retryable_code);
            let failure = DbFailure {
                what: if retryable {
                    "transaction conflict"
                } else {
                    "database error"
                },
                code,
                retryable,
            };
            if retryable {
                StoreError::Unavailable(Box::new(failure))
            } else {
                StoreError::Backend(Box::new(failure))
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
        other => StoreError::Backend(Box::new(DbFailure {
            what: kind_name(&other),
            code: None,
            retryable: false,
        })),
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

/// Maps a sqlx error where no unique violation is expected.
pub(crate) fn map_err(err: sqlx::Error) -> StoreError {
    map_err_as(err, "duplicate row")
}

/// Whether a mapped error is worth retrying the whole operation for.
pub(crate) fn is_retryable(err: &StoreError) -> bool {
    match err {
        StoreError::Unavailable(source) => source
            .downcast_ref::<DbFailure>()
            .is_some_and(|f| f.retryable),
        _ => false,
    }
}

/// A corrupt-row error naming the column, never the value.
pub(crate) fn corrupt(column: &str) -> StoreError {
    StoreError::Corrupt(format!("invalid value in column {column}"))
}

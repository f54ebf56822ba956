//! Mapping of diesel and pool errors into [`StoreError`], without SQL text
//! or values.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use mfa_core::store::StoreError;
use std::fmt;

/// A database failure as it leaves this crate: a short class, never the
/// driver's message, which may quote values (MySQL's "Duplicate entry '…'"
/// does).
#[derive(Debug)]
pub(crate) struct DbFailure {
    what: &'static str,
    /// A deadlock, serialization failure or busy database: the whole
    /// operation may be retried.
    pub(crate) retryable: bool,
}

impl fmt::Display for DbFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)
    }
}

impl std::error::Error for DbFailure {}

/// Whether a driver message says "run the transaction again". diesel keeps
/// no SQLSTATE for these, so the engines' fixed texts are matched:
/// PostgreSQL deadlock, MySQL/MariaDB deadlock and lock wait timeout,
/// SQLite busy / locked.
fn is_retryable_message(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("deadlock")
        || m.contains("lock wait timeout")
        || m.contains("could not serialize")
        || m.contains("database is locked")
        || m.contains("database table is locked")
}

/// Maps a diesel error. `conflict` names what a unique violation means here.
pub(crate) fn map_err_as(err: DieselError, conflict: &'static str) -> StoreError {
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            StoreError::Conflict(conflict)
        }
        DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
            StoreError::Unavailable(Box::new(DbFailure {
                what: "transaction conflict",
                retryable: true,
            }))
        }
        DieselError::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection,
            _,
        ) => StoreError::Unavailable(Box::new(DbFailure {
            what: "connection failure",
            retryable: false,
        })),
        DieselError::DatabaseError(kind, info) => {
            if is_retryable_message(info.message()) {
                return StoreError::Unavailable(Box::new(DbFailure {
                    what: "transaction conflict",
                    retryable: true,
                }));
            }
            let what = match kind {
                DatabaseErrorKind::ForeignKeyViolation => "foreign key violation",
                DatabaseErrorKind::NotNullViolation => "not-null violation",
                DatabaseErrorKind::CheckViolation => "check violation",
                _ => "database error",
            };
            StoreError::Backend(Box::new(DbFailure {
                what,
                retryable: false,
            }))
        }
        DieselError::DeserializationError(source) => match source.downcast::<StoreError>() {
            Ok(store) => *store,
            Err(_) => StoreError::Corrupt("a value could not be decoded".into()),
        },
        DieselError::BrokenTransactionManager => StoreError::Unavailable(Box::new(DbFailure {
            what: "broken transaction state",
            retryable: false,
        })),
        other => StoreError::Backend(Box::new(DbFailure {
            what: kind_name(&other),
            retryable: false,
        })),
    }
}

fn kind_name(err: &DieselError) -> &'static str {
    match err {
        DieselError::SerializationError(_) => "value could not be encoded",
        DieselError::NotFound => "row not found",
        DieselError::QueryBuilderError(_) => "query could not be built",
        DieselError::RollbackTransaction | DieselError::AlreadyInTransaction => "transaction error",
        _ => "driver error",
    }
}

/// Maps a diesel error where no unique violation is expected.
pub(crate) fn map_err(err: DieselError) -> StoreError {
    map_err_as(err, "duplicate row")
}

/// Maps a failure to get a connection from the pool.
pub(crate) fn pool_err<E: std::error::Error + Send + Sync + 'static>(err: E) -> StoreError {
    StoreError::unavailable(err)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlocks_and_busy_databases_are_retryable() {
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

    #[test]
    fn unique_violations_become_conflicts_without_the_message() {
        let err = DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new("Duplicate entry 'secret@example.com'".to_owned()),
        );
        let mapped = map_err_as(err, "user identifier");
        assert!(matches!(mapped, StoreError::Conflict("user identifier")));
        assert!(!format!("{mapped:?}").contains("secret"));
    }
}

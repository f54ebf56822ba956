//! Mapping of diesel and pool errors into [`StoreError`], without SQL text
//! or values.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use mfa_core::store::StoreError;
use mfa_store_sql::error::{backend, conflict, unavailable};

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

/// Maps a diesel error; a unique violation is a generic `Conflict` that the
/// repository relabels.
pub(crate) fn map_err(err: DieselError) -> StoreError {
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            StoreError::Conflict("duplicate row")
        }
        DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => conflict(None),
        DieselError::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection,
            _,
        ) => unavailable("connection failure", None),
        DieselError::DatabaseError(kind, info) => {
            if is_retryable_message(info.message()) {
                return conflict(None);
            }
            let what = match kind {
                DatabaseErrorKind::ForeignKeyViolation => "foreign key violation",
                DatabaseErrorKind::NotNullViolation => "not-null violation",
                DatabaseErrorKind::CheckViolation => "check violation",
                _ => "database error",
            };
            backend(what, None)
        }
        DieselError::DeserializationError(source) => match source.downcast::<StoreError>() {
            Ok(store) => *store,
            Err(_) => StoreError::Corrupt("a value could not be decoded".into()),
        },
        DieselError::BrokenTransactionManager => unavailable("broken transaction state", None),
        other => backend(kind_name(&other), None),
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

/// Maps a failure to get a connection from the pool.
pub(crate) fn pool_err<E: std::error::Error + Send + Sync + 'static>(err: E) -> StoreError {
    StoreError::unavailable(err)
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
        let mapped = map_err(err);
        assert!(matches!(mapped, StoreError::Conflict(_)));
        assert!(!format!("{mapped:?}").contains("secret"));
    }
}

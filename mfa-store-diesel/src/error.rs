//! Mapping of diesel and pool errors into [`StoreError`], without SQL text
//! or values.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use mfa_core::store::StoreError;
use mfa_store_sql::error::{backend, conflict, is_retryable_message, unavailable};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlocks_reported_as_other_errors_are_retryable() {
        let err = DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("Deadlock found when trying to get lock".to_owned()),
        );
        assert!(mfa_store_sql::error::is_retryable(&map_err(err)));
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

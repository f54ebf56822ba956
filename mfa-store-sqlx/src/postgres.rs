//! PostgreSQL: [`PgStore`].

use crate::error::map_err;
use mfa_core::store::StoreResult;
use mfa_store_sql::sql::Dialect;
use sqlx::postgres::{PgPool, Postgres};

mfa_store_sql::store_type! {
    /// The store on PostgreSQL (feature `postgres`).
    ///
    /// UUIDs are `uuid`, timestamps `timestamptz`, digests and sealed secrets
    /// `bytea`, metadata `jsonb`. Security check-then-acts are single
    /// `UPDATE … WHERE … RETURNING` statements; the few multi-statement
    /// operations run in short READ COMMITTED transactions with row locks.
    pub struct PgStore(PgDriver, PgPool);
    /// Creates or upgrades this store's tables. Idempotent: applied versions
    /// are recorded in `<prefix>schema_migrations`; all pending migrations
    /// run in one transaction that holds an exclusive lock on that table,
    /// so concurrent callers apply each migration once.
    ///
    /// # Errors
    /// Any database failure; a failed migration leaves no partial change.
    fn migrate;
}

crate::driver::sqlx_driver!(
    PgDriver,
    PgTx,
    Postgres,
    Dialect::POSTGRES,
    begin_with: None,
    carried: Some(mfa_store_sql::sql::CARRIED_BEGIN_POSTGRES),
    joins_statements: false,
    uuid: uuid::Uuid,
    ts: chrono::DateTime<chrono::Utc>
);

//! PostgreSQL: [`PgStore`].

use crate::driver::get;
use crate::error::map_err;
use chrono::{DateTime, Utc};
use mfa_core::store::StoreResult;
use mfa_store_sql::sql::Dialect;
use mfa_store_sql::{InvalidPrefix, SqlStore, TablePrefix};
use sqlx::postgres::{PgPool, Postgres};

/// The store on PostgreSQL (feature `postgres`).
///
/// UUIDs are `uuid`, timestamps `timestamptz`, digests and sealed secrets
/// `bytea`, metadata `jsonb`. Security check-then-acts are single
/// `UPDATE … WHERE … RETURNING` statements; the few multi-statement
/// operations run in short READ COMMITTED transactions with row locks.
#[derive(Debug, Clone)]
pub struct PgStore {
    inner: SqlStore<PgDriver>,
}

impl PgStore {
    /// A store on `pool` with the default table prefix `mfa_`.
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self {
            inner: SqlStore::new(PgDriver { pool }, TablePrefix::default()),
        }
    }

    /// A store on `pool` whose tables start with `prefix`.
    ///
    /// # Errors
    /// [`InvalidPrefix`] if `prefix` is not a safe identifier start.
    pub fn with_prefix(pool: PgPool, prefix: &str) -> Result<Self, InvalidPrefix> {
        let prefix = TablePrefix::new(prefix)?;
        Ok(Self {
            inner: SqlStore::new(PgDriver { pool }, prefix),
        })
    }

    /// The pool the store runs on.
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.inner.driver().pool
    }

    /// The table prefix.
    #[must_use]
    pub fn prefix(&self) -> &TablePrefix {
        self.inner.prefix()
    }

    /// Creates or upgrades this store's tables. Idempotent: applied versions
    /// are recorded in `<prefix>schema_migrations`; all pending migrations
    /// run in one transaction that holds an exclusive lock on that table,
    /// so concurrent callers apply each migration once.
    ///
    /// # Errors
    /// Any database failure; a failed migration leaves no partial change.
    pub async fn migrate(&self) -> StoreResult<()> {
        self.inner.migrate().await
    }
}

crate::driver::sqlx_driver!(
    PgDriver,
    PgTx,
    Postgres,
    Dialect::POSTGRES,
    begin_with: None,
    ts_in: |t: DateTime<Utc>| t,
    ts_out: DateTime<Utc> => |_: &str, t| Ok(t)
);

mfa_store_sql::forward_repositories!(PgStore => inner);

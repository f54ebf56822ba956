//! MySQL and MariaDB: [`MySqlStore`].

use crate::driver::get;
use crate::error::map_err;
use chrono::{DateTime, Utc};
use mfa_core::store::StoreResult;
use mfa_store_sql::sql::Dialect;
use mfa_store_sql::{InvalidPrefix, SqlStore, TablePrefix};
use sqlx::mysql::{MySql, MySqlPool};

/// The store on MySQL 8 or MariaDB ≥ 10.5 (feature `mysql`).
///
/// UUIDs are `BINARY(16)`, timestamps `DATETIME(6)` in UTC, digests
/// `BINARY(32)`, sealed secrets `BLOB`, metadata `JSON`. MySQL has no
/// `UPDATE … RETURNING`: single-winner operations are a conditional
/// `UPDATE` judged by its affected-row count, or a `SELECT … FOR UPDATE` in a
/// short transaction; deadlocks are retried.
#[derive(Debug, Clone)]
pub struct MySqlStore {
    inner: SqlStore<MySqlDriver>,
}

impl MySqlStore {
    /// A store on `pool` with the default table prefix `mfa_`.
    #[must_use]
    pub fn new(pool: MySqlPool) -> Self {
        Self {
            inner: SqlStore::new(MySqlDriver { pool }, TablePrefix::default()),
        }
    }

    /// A store on `pool` whose tables start with `prefix`.
    ///
    /// # Errors
    /// [`InvalidPrefix`] if `prefix` is not a safe identifier start.
    pub fn with_prefix(pool: MySqlPool, prefix: &str) -> Result<Self, InvalidPrefix> {
        let prefix = TablePrefix::new(prefix)?;
        Ok(Self {
            inner: SqlStore::new(MySqlDriver { pool }, prefix),
        })
    }

    /// The pool the store runs on.
    #[must_use]
    pub fn pool(&self) -> &MySqlPool {
        &self.inner.driver().pool
    }

    /// The table prefix.
    #[must_use]
    pub fn prefix(&self) -> &TablePrefix {
        self.inner.prefix()
    }

    /// Creates or upgrades this store's tables. Idempotent: applied versions
    /// are recorded in `<prefix>schema_migrations`, and concurrent callers
    /// are serialised by a named lock (`GET_LOCK`).
    ///
    /// MySQL commits every DDL statement at once, so a migration cannot be
    /// rolled back: if one fails half-way, its tables must be dropped by hand
    /// before retrying.
    ///
    /// # Errors
    /// Any database failure.
    pub async fn migrate(&self) -> StoreResult<()> {
        self.inner.migrate().await
    }
}

crate::driver::sqlx_driver!(
    MySqlDriver,
    MySqlTx,
    MySql,
    Dialect::MYSQL,
    begin_with: None,
    ts_in: |t: DateTime<Utc>| t,
    ts_out: DateTime<Utc> => |_: &str, t| Ok(t)
);

mfa_store_sql::forward_repositories!(MySqlStore => inner);

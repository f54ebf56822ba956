//! MySQL and MariaDB: [`MySqlStore`].

use crate::error::map_err;
use mfa_core::store::StoreResult;
use mfa_store_sql::sql::Dialect;
use sqlx::mysql::{MySql, MySqlPool};

mfa_store_sql::store_type! {
    /// The store on MariaDB ≥ 10.6 (feature `mysql`; MySQL 8 lacks the `INSERT … RETURNING` the rate limiter needs).
    ///
    /// UUIDs are `BINARY(16)`, timestamps `DATETIME(6)` in UTC, digests
    /// `BINARY(32)`, sealed secrets `BLOB`, metadata `JSON`. MySQL has no
    /// `UPDATE … RETURNING`: single-winner operations are a conditional
    /// `UPDATE` judged by its affected-row count, or a `SELECT … FOR UPDATE` in a
    /// short transaction; deadlocks are retried.
    pub struct MySqlStore(MySqlDriver, MySqlPool);
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
    fn migrate;
}

crate::driver::sqlx_driver!(
    MySqlDriver,
    MySqlTx,
    MySql,
    Dialect::MYSQL,
    begin_with: None,
    carried: None,
    joins_statements: false,
    uuid: uuid::Uuid,
    ts: chrono::DateTime<chrono::Utc>
);

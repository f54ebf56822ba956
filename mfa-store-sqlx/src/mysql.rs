//! MySQL and MariaDB: [`MySqlStore`].

use crate::error::map_err;
use crate::migrate::{self, Migration};
use crate::prefix::{InvalidPrefix, TablePrefix};
use crate::sql::{Arg, Dialect, Placeholders};
use chrono::{DateTime, Utc};
use mfa_core::store::{StoreError, StoreResult};
use sqlx::mysql::{MySql, MySqlPool, MySqlRow};
use sqlx::{Pool, Row as _, Transaction};

const DIALECT: Dialect = Dialect {
    placeholders: Placeholders::Question,
    returning: false,
    for_update: " FOR UPDATE",
    null_safe_eq: "<=>",
    delete_limit: true,
    mysql: true,
};

const MIGRATIONS: &[Migration] = migrate::MYSQL;

/// The store on MySQL 8 or MariaDB ≥ 10.5 (feature `mysql`).
///
/// UUIDs are `BINARY(16)`, timestamps `DATETIME(6)` in UTC, digests
/// `BINARY(32)`, sealed secrets `BLOB`, metadata `JSON`. MySQL has no
/// `UPDATE … RETURNING`: single-winner operations are a conditional
/// `UPDATE` judged by its affected-row count, or a `SELECT … FOR UPDATE` in a
/// short transaction; deadlocks are retried.
#[derive(Debug, Clone)]
pub struct MySqlStore {
    pool: MySqlPool,
    prefix: TablePrefix,
}

impl MySqlStore {
    /// A store on `pool` with the default table prefix `mfa_`.
    #[must_use]
    pub fn new(pool: MySqlPool) -> Self {
        Self {
            pool,
            prefix: TablePrefix::default(),
        }
    }

    /// A store on `pool` whose tables start with `prefix`.
    ///
    /// # Errors
    /// [`InvalidPrefix`] if `prefix` is not a safe identifier start.
    pub fn with_prefix(pool: MySqlPool, prefix: &str) -> Result<Self, InvalidPrefix> {
        Ok(Self {
            pool,
            prefix: TablePrefix::new(prefix)?,
        })
    }

    /// The pool the store runs on.
    #[must_use]
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// The table prefix.
    #[must_use]
    pub fn prefix(&self) -> &TablePrefix {
        &self.prefix
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
        let prefix = self.prefix.as_str();
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        let lock_name = format!("mfa-store-sqlx:{prefix}");
        let locked: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 60)")
            .bind(&lock_name)
            .fetch_one(&mut *conn)
            .await
            .map_err(map_err)?;
        if locked != Some(1) {
            return Err(StoreError::Unavailable(
                "timed out waiting for the migration lock".into(),
            ));
        }
        let result = async {
            let ddl = migrate::tracking_table(
                prefix,
                "DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)",
            );
            sqlx::query(sqlx::AssertSqlSafe(ddl))
                .execute(&mut *conn)
                .await
                .map_err(map_err)?;
            let applied: Vec<i64> =
                sqlx::query_scalar(sqlx::AssertSqlSafe(migrate::applied_sql(prefix)))
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(map_err)?;
            for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
                for statement in migration.statements(prefix) {
                    sqlx::query(sqlx::AssertSqlSafe(statement))
                        .execute(&mut *conn)
                        .await
                        .map_err(map_err)?;
                }
                let record =
                    format!("INSERT INTO {prefix}schema_migrations (version, name) VALUES (?, ?)");
                sqlx::query(sqlx::AssertSqlSafe(record))
                    .bind(migration.version)
                    .bind(migration.name)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
            }
            Ok::<_, StoreError>(())
        }
        .await;
        sqlx::query("SELECT RELEASE_LOCK(?)")
            .bind(&lock_name)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        result
    }
}

async fn begin_write(pool: &Pool<MySql>) -> Result<Transaction<'static, MySql>, sqlx::Error> {
    pool.begin().await
}

type Query = sqlx::query::Query<'static, MySql, <MySql as sqlx::Database>::Arguments>;

fn bind_arg(q: Query, arg: Arg) -> Query {
    match arg {
        Arg::Uuid(v) => q.bind(v),
        Arg::OptUuid(v) => q.bind(v),
        Arg::Ts(v) => q.bind(v),
        Arg::OptTs(v) => q.bind(v),
        Arg::Bytes(v) => q.bind(v),
        Arg::OptBytes(v) => q.bind(v),
        Arg::Text(v) => q.bind(v),
        Arg::OptText(v) => q.bind(v),
        Arg::I32(v) => q.bind(v),
        Arg::OptI32(v) => q.bind(v),
        Arg::I64(v) => q.bind(v),
        Arg::OptI64(v) => q.bind(v),
        Arg::Bool(v) => q.bind(v),
        Arg::Json(v) => q.bind(sqlx::types::Json(v)),
    }
}

fn read_ts(row: &MySqlRow, column: &str) -> StoreResult<DateTime<Utc>> {
    row.try_get(column).map_err(map_err)
}

fn read_opt_ts(row: &MySqlRow, column: &str) -> StoreResult<Option<DateTime<Utc>>> {
    row.try_get(column).map_err(map_err)
}

crate::repo::impl_repositories!(MySqlStore, MySql);

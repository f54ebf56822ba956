//! PostgreSQL: [`PgStore`].

use crate::error::map_err;
use crate::migrate::{self, Migration};
use crate::prefix::{InvalidPrefix, TablePrefix};
use crate::sql::{Arg, Dialect, Placeholders};
use chrono::{DateTime, Utc};
use mfa_core::store::StoreResult;
use sqlx::postgres::{PgPool, PgRow, Postgres};
use sqlx::{Pool, Row as _, Transaction};

const DIALECT: Dialect = Dialect {
    placeholders: Placeholders::Dollar,
    returning: true,
    for_update: " FOR UPDATE",
    null_safe_eq: "IS NOT DISTINCT FROM",
    delete_limit: false,
    mysql: false,
};

const MIGRATIONS: &[Migration] = migrate::POSTGRES;

/// The store on PostgreSQL (feature `postgres`).
///
/// UUIDs are `uuid`, timestamps `timestamptz`, digests and sealed secrets
/// `bytea`, metadata `jsonb`. Security check-then-acts are single
/// `UPDATE … WHERE … RETURNING` statements; the few multi-statement
/// operations run in short READ COMMITTED transactions with row locks.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    prefix: TablePrefix,
}

impl PgStore {
    /// A store on `pool` with the default table prefix `mfa_`.
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            prefix: TablePrefix::default(),
        }
    }

    /// A store on `pool` whose tables start with `prefix`.
    ///
    /// # Errors
    /// [`InvalidPrefix`] if `prefix` is not a safe identifier start.
    pub fn with_prefix(pool: PgPool, prefix: &str) -> Result<Self, InvalidPrefix> {
        Ok(Self {
            pool,
            prefix: TablePrefix::new(prefix)?,
        })
    }

    /// The pool the store runs on.
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The table prefix.
    #[must_use]
    pub fn prefix(&self) -> &TablePrefix {
        &self.prefix
    }

    /// Creates or upgrades this store's tables. Idempotent: applied versions
    /// are recorded in `<prefix>schema_migrations`; all pending migrations
    /// run in one transaction that holds an exclusive lock on that table,
    /// so concurrent callers apply each migration once.
    ///
    /// # Errors
    /// Any database failure; a failed migration leaves no partial change.
    pub async fn migrate(&self) -> StoreResult<()> {
        let prefix = self.prefix.as_str();
        let mut tx = begin_write(&self.pool).await.map_err(map_err)?;
        let ddl = migrate::tracking_table(prefix, "TIMESTAMPTZ NOT NULL DEFAULT now()");
        // Concurrent `CREATE TABLE IF NOT EXISTS` can still collide on the
        // type catalog; a transaction-scoped advisory lock keyed by the
        // prefix serialises migrators of one prefix.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(format!("mfa-store-sqlx:{prefix}"))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        sqlx::query(sqlx::AssertSqlSafe(ddl))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        let applied: Vec<i64> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(migrate::applied_sql(prefix)))
                .fetch_all(&mut *tx)
                .await
                .map_err(map_err)?;
        for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
            for statement in migration.statements(prefix) {
                sqlx::query(sqlx::AssertSqlSafe(statement))
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
            }
            let record =
                format!("INSERT INTO {prefix}schema_migrations (version, name) VALUES ($1, $2)");
            sqlx::query(sqlx::AssertSqlSafe(record))
                .bind(migration.version)
                .bind(migration.name)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }
}

async fn begin_write(pool: &Pool<Postgres>) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    pool.begin().await
}

type Query = sqlx::query::Query<'static, Postgres, <Postgres as sqlx::Database>::Arguments>;

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

fn read_ts(row: &PgRow, column: &str) -> StoreResult<DateTime<Utc>> {
    row.try_get(column).map_err(map_err)
}

fn read_opt_ts(row: &PgRow, column: &str) -> StoreResult<Option<DateTime<Utc>>> {
    row.try_get(column).map_err(map_err)
}

crate::repo::impl_repositories!(PgStore, Postgres);

//! SQLite: [`SqliteStore`].

use crate::error::map_err;
use crate::migrate::{self, Migration};
use crate::prefix::{InvalidPrefix, TablePrefix};
use crate::sql::{Arg, Dialect, Placeholders};
use chrono::{DateTime, Utc};
use mfa_core::store::StoreResult;
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Pool, Row as _, Transaction};
use std::str::FromStr;
use std::time::Duration;

const DIALECT: Dialect = Dialect {
    placeholders: Placeholders::NumberedQuestion,
    returning: true,
    for_update: "",
    null_safe_eq: "IS",
    delete_limit: false,
    mysql: false,
};

const MIGRATIONS: &[Migration] = migrate::SQLITE;

/// The store on SQLite (feature `sqlite`).
///
/// Timestamps are stored as INTEGER microseconds since the Unix epoch, UUIDs
/// and digests as BLOBs. Every write transaction starts with
/// `BEGIN IMMEDIATE`, so it holds the database write lock from its first
/// statement and never fails upgrading a read lock. Give the pool
/// [`SqliteStore::connect_options`] (WAL, a busy timeout, foreign keys on),
/// or at least foreign keys and a busy timeout.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    prefix: TablePrefix,
}

impl SqliteStore {
    /// A store on `pool` with the default table prefix `mfa_`.
    #[must_use]
    pub fn new(pool: SqlitePool) -> Self {
        Self {
            pool,
            prefix: TablePrefix::default(),
        }
    }

    /// A store on `pool` whose tables start with `prefix`.
    ///
    /// # Errors
    /// [`InvalidPrefix`] if `prefix` is not a safe identifier start.
    pub fn with_prefix(pool: SqlitePool, prefix: &str) -> Result<Self, InvalidPrefix> {
        Ok(Self {
            pool,
            prefix: TablePrefix::new(prefix)?,
        })
    }

    /// The pool the store runs on.
    #[must_use]
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The table prefix.
    #[must_use]
    pub fn prefix(&self) -> &TablePrefix {
        &self.prefix
    }

    /// Connection options this store expects, from a URL such as
    /// `sqlite://mfa.db` or `sqlite:file:mfa?mode=memory&cache=shared`:
    /// the file is created if missing, WAL journal (file databases), a 5 s
    /// busy timeout, `synchronous = NORMAL` and foreign keys on.
    ///
    /// # Errors
    /// [`StoreError::Backend`](mfa_core::store::StoreError::Backend) if the URL does not parse.
    pub fn connect_options(url: &str) -> StoreResult<SqliteConnectOptions> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(map_err)?
            .create_if_missing(true)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            .synchronous(SqliteSynchronous::Normal);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        Ok(if in_memory {
            options
        } else {
            options.journal_mode(SqliteJournalMode::Wal)
        })
    }

    /// Opens a pool with [`SqliteStore::connect_options`] and at most
    /// `max_connections` connections (without sqlx's ping before each
    /// acquire), and wraps it with the default prefix.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`](mfa_core::store::StoreError::Unavailable) if the database cannot be opened.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            // No liveness ping before each acquire: one store call is one
            // statement, and a ping per call doubled the round trips
            // (docs/performance.md). sqlx still checks a connection when it
            // is released, so a broken one is dropped there.
            .test_before_acquire(false)
            .connect_with(Self::connect_options(url)?)
            .await
            .map_err(map_err)?;
        Ok(Self::new(pool))
    }

    /// Creates or upgrades this store's tables. Idempotent: applied versions
    /// are recorded in `<prefix>schema_migrations`, and every migration runs
    /// in one `BEGIN IMMEDIATE` transaction with its version record.
    ///
    /// # Errors
    /// Any database failure; a failed migration leaves no partial change.
    pub async fn migrate(&self) -> StoreResult<()> {
        let prefix = self.prefix.as_str();
        let mut tx = begin_write(&self.pool).await.map_err(map_err)?;
        let ddl = migrate::tracking_table(prefix, "INTEGER NOT NULL DEFAULT 0");
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
            let record = format!(
                "INSERT INTO {prefix}schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)"
            );
            sqlx::query(sqlx::AssertSqlSafe(record))
                .bind(migration.version)
                .bind(migration.name)
                .bind(Utc::now().timestamp_micros())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }
}

async fn begin_write(pool: &Pool<Sqlite>) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

type Query = sqlx::query::Query<'static, Sqlite, <Sqlite as sqlx::Database>::Arguments>;

fn bind_arg(q: Query, arg: Arg) -> Query {
    match arg {
        Arg::Uuid(v) => q.bind(v),
        Arg::OptUuid(v) => q.bind(v),
        Arg::Ts(v) => q.bind(v.timestamp_micros()),
        Arg::OptTs(v) => q.bind(v.map(|t| t.timestamp_micros())),
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

fn micros(column: &str, v: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_micros(v).ok_or_else(|| crate::error::corrupt(column))
}

fn read_ts(row: &SqliteRow, column: &str) -> StoreResult<DateTime<Utc>> {
    let v: i64 = row.try_get(column).map_err(map_err)?;
    micros(column, v)
}

fn read_opt_ts(row: &SqliteRow, column: &str) -> StoreResult<Option<DateTime<Utc>>> {
    let v: Option<i64> = row.try_get(column).map_err(map_err)?;
    v.map(|v| micros(column, v)).transpose()
}

crate::repo::impl_repositories!(SqliteStore, Sqlite);

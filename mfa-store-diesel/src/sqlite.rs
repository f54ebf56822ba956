//! SQLite: [`SqliteStore`].

use crate::error::{map_err, pool_err};
use chrono::{DateTime, Utc};
use diesel::connection::AnsiTransactionManager;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sqlite::{Sqlite, SqliteConnection};
use diesel_async::SimpleAsyncConnection;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use mfa_core::store::{StoreError, StoreResult};
use mfa_store_sql::error::corrupt;
use mfa_store_sql::sql::{Arg, Dialect};
use mfa_store_sql::{InvalidPrefix, SqlStore, TablePrefix};
use std::fmt;
use uuid::Uuid;

/// The async SQLite connection the store runs on: diesel's synchronous
/// [`SqliteConnection`] behind diesel-async's [`SyncConnectionWrapper`],
/// which runs every call on Tokio's blocking thread pool.
pub type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

/// The connection pool [`SqliteStore`] takes (diesel-async's deadpool).
pub type SqlitePool = Pool<SqliteConn>;

/// Settings every connection of a [`SqliteStore`] pool needs: foreign keys
/// (the purges cascade through them) and a busy timeout (writers wait for
/// the lock instead of failing); WAL and `synchronous = NORMAL` for speed.
pub const CONNECTION_PRAGMAS: &str = "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
    PRAGMA synchronous = NORMAL;";

/// The store on SQLite (feature `sqlite`).
///
/// Same tables as `mfa_store_sqlx::SqliteStore`: timestamps are INTEGER
/// microseconds since the Unix epoch, UUIDs and digests BLOBs, metadata
/// JSON text. Every write transaction starts with `BEGIN IMMEDIATE`, so it
/// holds the database write lock from its first statement and never fails
/// upgrading a read lock.
///
/// Build the pool with [`SqliteStore::build_pool`], or make sure each connection
/// runs [`CONNECTION_PRAGMAS`] (at least foreign keys and a busy timeout).
#[derive(Clone)]
pub struct SqliteStore {
    inner: SqlStore<SqliteDriver>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("prefix", self.inner.prefix())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// A store on `pool` with the default table prefix `mfa_`.
    #[must_use]
    pub fn new(pool: SqlitePool) -> Self {
        Self {
            inner: SqlStore::new(SqliteDriver { pool }, TablePrefix::default()),
        }
    }

    /// A store on `pool` whose tables start with `prefix`.
    ///
    /// # Errors
    /// [`InvalidPrefix`] if `prefix` is not a safe identifier start.
    pub fn with_prefix(pool: SqlitePool, prefix: &str) -> Result<Self, InvalidPrefix> {
        let prefix = TablePrefix::new(prefix)?;
        Ok(Self {
            inner: SqlStore::new(SqliteDriver { pool }, prefix),
        })
    }

    /// The pool the store runs on.
    #[must_use]
    pub fn pool(&self) -> &SqlitePool {
        &self.inner.driver().pool
    }

    /// The table prefix.
    #[must_use]
    pub fn prefix(&self) -> &TablePrefix {
        self.inner.prefix()
    }

    /// A pool of at most `max_size` connections to the database at `url`
    /// (a file path, `sqlite://path` or a `file:` URI; the file is created if
    /// missing), each set up with [`CONNECTION_PRAGMAS`] and, for files, the
    /// WAL journal.
    ///
    /// # Errors
    /// [`StoreError::Backend`] if the pool cannot be built.
    pub fn build_pool(url: &str, max_size: usize) -> StoreResult<SqlitePool> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut config = ManagerConfig::<SqliteConn>::default();
        config.custom_setup = Box::new(move |url| {
            let url = url.to_owned();
            Box::pin(async move {
                let mut conn = SqliteConn::establish(&url).await?;
                let wal = if in_memory {
                    ""
                } else {
                    "PRAGMA journal_mode = WAL;"
                };
                conn.batch_execute(&format!("{CONNECTION_PRAGMAS}{wal}"))
                    .await
                    .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(conn)
            })
        });
        let manager = AsyncDieselConnectionManager::new_with_config(url, config);
        Pool::builder(manager)
            .max_size(max_size.max(1))
            .build()
            .map_err(StoreError::backend)
    }

    /// Opens a pool with [`SqliteStore::build_pool`] and wraps it with the default
    /// prefix.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if the database cannot be opened.
    pub async fn connect(url: &str, max_size: usize) -> StoreResult<Self> {
        let store = Self::new(Self::build_pool(url, max_size)?);
        drop(store.pool().get().await.map_err(pool_err)?);
        Ok(store)
    }

    /// Creates or upgrades this store's tables (the same migrations, and the
    /// same `<prefix>schema_migrations` record, as `mfa-store-sqlx`).
    /// Idempotent: every pending migration runs in one `BEGIN IMMEDIATE`
    /// transaction with its version record.
    ///
    /// # Errors
    /// Any database failure; a failed migration leaves no partial change.
    pub async fn migrate(&self) -> StoreResult<()> {
        self.inner.migrate().await
    }
}

/// Opens a transaction holding the database write lock from the start.
async fn begin(conn: &mut SqliteConn) -> StoreResult<()> {
    conn.spawn_blocking(|c| AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"))
        .await
        .map_err(map_err)
}

fn bind(
    q: BoxedSqlQuery<'static, Sqlite, SqlQuery>,
    arg: Arg,
) -> BoxedSqlQuery<'static, Sqlite, SqlQuery> {
    match arg {
        Arg::Uuid(v) => q.bind::<Binary, _>(v.as_bytes().to_vec()),
        Arg::OptUuid(v) => q.bind::<Nullable<Binary>, _>(v.map(|u| u.as_bytes().to_vec())),
        Arg::Ts(v) => q.bind::<BigInt, _>(v.timestamp_micros()),
        Arg::OptTs(v) => q.bind::<Nullable<BigInt>, _>(v.map(|t| t.timestamp_micros())),
        Arg::Bytes(v) => q.bind::<Binary, _>(v),
        Arg::OptBytes(v) => q.bind::<Nullable<Binary>, _>(v),
        Arg::Text(v) => q.bind::<Text, _>(v),
        Arg::OptText(v) => q.bind::<Nullable<Text>, _>(v),
        Arg::I32(v) => q.bind::<Integer, _>(v),
        Arg::OptI32(v) => q.bind::<Nullable<Integer>, _>(v),
        Arg::I64(v) => q.bind::<BigInt, _>(v),
        Arg::OptI64(v) => q.bind::<Nullable<BigInt>, _>(v),
        Arg::Bool(v) => q.bind::<Bool, _>(v),
        Arg::Json(v) => q.bind::<Text, _>(v.to_string()),
    }
}

fn micros(column: &str, v: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_micros(v).ok_or_else(|| corrupt(column))
}

fn read_uuid<'a>(row: &impl NamedRow<'a, Sqlite>, name: &str) -> StoreResult<Uuid> {
    let bytes = NamedRow::get::<Binary, Vec<u8>>(row, name).map_err(|_| corrupt(name))?;
    Uuid::from_slice(&bytes).map_err(|_| corrupt(name))
}

fn read_opt_uuid<'a>(row: &impl NamedRow<'a, Sqlite>, name: &str) -> StoreResult<Option<Uuid>> {
    NamedRow::get::<Nullable<Binary>, Option<Vec<u8>>>(row, name)
        .map_err(|_| corrupt(name))?
        .map(|b| Uuid::from_slice(&b).map_err(|_| corrupt(name)))
        .transpose()
}

fn read_ts<'a>(row: &impl NamedRow<'a, Sqlite>, name: &str) -> StoreResult<DateTime<Utc>> {
    let v = NamedRow::get::<BigInt, i64>(row, name).map_err(|_| corrupt(name))?;
    micros(name, v)
}

fn read_opt_ts<'a>(
    row: &impl NamedRow<'a, Sqlite>,
    name: &str,
) -> StoreResult<Option<DateTime<Utc>>> {
    NamedRow::get::<Nullable<BigInt>, Option<i64>>(row, name)
        .map_err(|_| corrupt(name))?
        .map(|v| micros(name, v))
        .transpose()
}

fn read_json<'a>(row: &impl NamedRow<'a, Sqlite>, name: &str) -> StoreResult<serde_json::Value> {
    let text = NamedRow::get::<Text, String>(row, name).map_err(|_| corrupt(name))?;
    serde_json::from_str(&text).map_err(|_| corrupt(name))
}

crate::driver::diesel_driver!(SqliteDriver, SqliteTx, SqliteConn, Sqlite, Dialect::SQLITE);

mfa_store_sql::forward_repositories!(SqliteStore => inner);

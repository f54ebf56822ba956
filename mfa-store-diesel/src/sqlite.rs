//! SQLite: [`SqliteStore`].

use crate::error::map_err;
use diesel::connection::AnsiTransactionManager;
use diesel::sqlite::{Sqlite, SqliteConnection};
use diesel_async::SimpleAsyncConnection;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use mfa_core::store::{StoreError, StoreResult};
use mfa_store_sql::sql::Dialect;

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

mfa_store_sql::store_type! {
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
    pub struct SqliteStore(SqliteDriver, SqlitePool);
    /// Creates or upgrades this store's tables (the same migrations, and the
    /// same `<prefix>schema_migrations` record, as `mfa-store-sqlx`).
    /// Idempotent: every pending migration runs in one `BEGIN IMMEDIATE`
    /// transaction with its version record.
    ///
    /// # Errors
    /// Any database failure; a failed migration leaves no partial change.
    fn migrate;
}

impl SqliteStore {
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
        drop(store.pool().get().await.map_err(StoreError::unavailable)?);
        Ok(store)
    }
}

/// Opens a transaction holding the database write lock from the start.
async fn begin(conn: &mut SqliteConn) -> StoreResult<()> {
    conn.spawn_blocking(|c| AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"))
        .await
        .map_err(map_err)
}

crate::driver::diesel_driver!(SqliteDriver, SqliteTx, SqliteConn, Sqlite, Dialect::SQLITE,
    uuid: Vec<u8>, ts: i64, json: String, types: []);

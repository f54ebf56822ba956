//! SQLite: [`SqliteStore`].

use crate::error::map_err;
use diesel::connection::AnsiTransactionManager;
use diesel::sqlite::{Sqlite, SqliteConnection};
use diesel_async::SimpleAsyncConnection;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::sync_connection_wrapper::{SpawnBlocking, SyncConnectionWrapper};
use futures::future::BoxFuture;
use mfa_core::store::{StoreError, StoreResult};
use mfa_store_sql::sql::Dialect;

/// The async SQLite connection the store runs on: diesel's synchronous
/// [`SqliteConnection`] behind diesel-async's [`SyncConnectionWrapper`],
/// which here runs every call on the calling thread ([`Inline`]).
pub type SqliteConn = SyncConnectionWrapper<SqliteConnection, Inline>;

/// The connection pool [`SqliteStore`] takes (diesel-async's deadpool).
pub type SqlitePool = Pool<SqliteConn>;

/// Runs a SQLite call on the thread that asks for it, without a hop to a
/// blocking pool.
///
/// A statement of this store on a local file takes microseconds, less than
/// handing it to another thread and waking the task again, which tripled
/// the cost of a sign-in (see `docs/performance.md`). What could block for
/// long does not happen on the caller's thread: the connections have no
/// busy timeout, so SQLite answers "busy" at once when another connection
/// holds the write lock, and the store waits for it asynchronously (its
/// writers take turns in an async queue; another process's lock is retried
/// with pauses, up to five seconds). What remains inline is the file I/O
/// of a statement and, now and then, a WAL checkpoint at commit.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inline;

impl SpawnBlocking for Inline {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> BoxFuture<'a, Result<R, Box<dyn std::error::Error + Send + Sync + 'static>>>
    where
        R: Send + 'static,
    {
        Box::pin(std::future::ready(Ok(task())))
    }

    fn get_runtime() -> Self {
        Inline
    }
}

/// Settings every connection of a [`SqliteStore`] pool needs: foreign keys
/// (the purges cascade through them) and no busy timeout (the store waits
/// for a busy database asynchronously, see [`Inline`]); `synchronous =
/// NORMAL` for speed (with WAL, a commit is durable across a process crash
/// and reaches the disk at the next checkpoint).
pub const CONNECTION_PRAGMAS: &str = "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 0; \
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
    /// runs [`CONNECTION_PRAGMAS`] (at least foreign keys, and no busy timeout:
    /// a connection that waits in SQLite for the lock blocks its thread).
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
                // Switching a new file to WAL takes a lock another new
                // connection may hold for a moment: only this pragma waits.
                let wal = if in_memory {
                    ""
                } else {
                    "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL;"
                };
                conn.batch_execute(&format!("{wal}{CONNECTION_PRAGMAS}"))
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

/// One writer at a time: see [`Inline`].
fn gate() -> crate::driver::WriteGate {
    crate::driver::WriteGate::single_writer()
}

/// Opens a transaction holding the database write lock from the start.
/// With WAL and `synchronous = NORMAL` a commit does not flush anyway: a
/// carried unit begins as any other.
async fn begin(conn: &mut SqliteConn, _carried: bool) -> StoreResult<()> {
    conn.spawn_blocking(|c| AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"))
        .await
        .map_err(map_err)
}

/// No commit waits for a flush here (see `begin`).
const CARRIES_COMMITS: bool = false;

crate::driver::diesel_driver!(SqliteDriver, SqliteTx, SqliteConn, Sqlite, Dialect::SQLITE,
    uuid: Vec<u8>, ts: i64, json: String, types: []);

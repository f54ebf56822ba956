//! SQLite: [`SqliteStore`].

use crate::error::map_err;
use mfa_core::store::StoreResult;
use mfa_store_sql::sql::Dialect;
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

mfa_store_sql::store_type! {
    /// The store on SQLite (feature `sqlite`).
    ///
    /// Timestamps are stored as INTEGER microseconds since the Unix epoch, UUIDs
    /// and digests as BLOBs. Every write transaction starts with
    /// `BEGIN IMMEDIATE`, so it holds the database write lock from its first
    /// statement and never fails upgrading a read lock. Give the pool
    /// [`SqliteStore::connect_options`] (WAL, a busy timeout, foreign keys on),
    /// or at least foreign keys and a busy timeout.
    pub struct SqliteStore(SqliteDriver, SqlitePool);
    /// Creates or upgrades this store's tables. Idempotent: applied versions
    /// are recorded in `<prefix>schema_migrations`, and every migration runs
    /// in one `BEGIN IMMEDIATE` transaction with its version record.
    ///
    /// # Errors
    /// Any database failure; a failed migration leaves no partial change.
    fn migrate;
}

impl SqliteStore {
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
}

crate::driver::sqlx_driver!(
    SqliteDriver,
    SqliteTx,
    Sqlite,
    Dialect::SQLITE,
    // The write lock from the first statement: a transaction never fails
    // upgrading a read lock.
    begin_with: Some("BEGIN IMMEDIATE"),
    carried: None,
    // sqlx runs a `;`-separated text statement by statement, binding
    // numbered placeholders across them: a unit's writes in one call.
    joins_statements: true,
    uuid: uuid::Uuid,
    ts: i64
);

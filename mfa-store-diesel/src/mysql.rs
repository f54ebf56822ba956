//! MySQL / MariaDB: [`MySqlStore`].

use crate::error::map_err;
use diesel::mysql::Mysql;
use diesel::sql_types::Datetime;
use diesel_async::AsyncMysqlConnection;
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::pooled_connection::deadpool::Pool;
use mfa_core::store::{StoreError, StoreResult};
use mfa_store_sql::sql::Dialect;

/// The connection pool [`MySqlStore`] takes (diesel-async's deadpool over
/// [`AsyncMysqlConnection`], a pure-Rust mysql_async connection).
pub type MySqlPool = Pool<AsyncMysqlConnection>;

mfa_store_sql::store_type! {
    /// The store on MariaDB ≥ 10.6 (feature `mysql`; MySQL 8 lacks the `INSERT … RETURNING` the rate limiter needs).
    ///
    /// Same tables as `mfa_store_sqlx::MySqlStore`: UUIDs are `BINARY(16)`,
    /// timestamps `DATETIME(6)` in UTC, digests `BINARY(32)`, metadata `JSON`;
    /// InnoDB. Without `RETURNING`, the few check-then-acts that need the row
    /// back run in short transactions with `SELECT … FOR UPDATE`; the rest are
    /// single conditional `UPDATE`s.
    pub struct MySqlStore(MySqlDriver, MySqlPool);
    /// Creates or upgrades this store's tables (the same migrations, and the
    /// same `<prefix>schema_migrations` record, as `mfa-store-sqlx`).
    /// Idempotent. MySQL commits DDL implicitly, so instead of a transaction
    /// a named lock (`GET_LOCK`, the same name `mfa-store-sqlx` takes)
    /// serialises concurrent migrators of one prefix.
    ///
    /// # Errors
    /// Any database failure. A failure inside a migration can leave part of
    /// it applied (DDL is not transactional here); its version is then not
    /// recorded.
    fn migrate;
}

impl MySqlStore {
    /// A pool of at most `max_size` connections to the database at `url`
    /// (`mysql://user:password@host:port/database`). Connections are opened
    /// lazily.
    ///
    /// # Errors
    /// [`StoreError::Backend`] if the pool cannot be built.
    pub fn build_pool(url: &str, max_size: usize) -> StoreResult<MySqlPool> {
        let manager = AsyncDieselConnectionManager::<AsyncMysqlConnection>::new(url);
        Pool::builder(manager)
            .max_size(max_size.max(1))
            .build()
            .map_err(StoreError::backend)
    }

    /// Opens a pool with [`MySqlStore::build_pool`], checks that a
    /// connection can be made, and wraps it with the default prefix.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if the database cannot be reached.
    pub async fn connect(url: &str, max_size: usize) -> StoreResult<Self> {
        let store = Self::new(Self::build_pool(url, max_size)?);
        drop(store.pool().get().await.map_err(StoreError::unavailable)?);
        Ok(store)
    }
}

/// Opens a transaction (InnoDB's default REPEATABLE READ; row locks are
/// taken explicitly with `FOR UPDATE`). MariaDB has no per-transaction
/// flush setting: a carried unit begins as any other.
async fn begin(conn: &mut AsyncMysqlConnection, _carried: bool) -> StoreResult<()> {
    <Tm as TransactionManager<AsyncMysqlConnection>>::begin_transaction(conn)
        .await
        .map_err(map_err)
}

/// Rows are locked in the server, which queues writers: the gate is open.
fn gate() -> crate::driver::WriteGate {
    crate::driver::WriteGate::default()
}

/// No commit without a flush on this backend.
const CARRIES_COMMITS: bool = false;

// MariaDB's JSON is LONGTEXT with a validity check: documents go as text.
crate::driver::diesel_driver!(MySqlDriver, MySqlTx, AsyncMysqlConnection, Mysql, Dialect::MYSQL,
    uuid: Vec<u8>, ts: chrono::NaiveDateTime, json: String,
    types: [chrono::NaiveDateTime => Datetime]);

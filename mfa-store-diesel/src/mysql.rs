//! MySQL / MariaDB: [`MySqlStore`].

use crate::error::{map_err, pool_err};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::mysql::Mysql;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::Datetime;
use diesel_async::AsyncMysqlConnection;
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::pooled_connection::deadpool::Pool;
use mfa_core::store::{StoreError, StoreResult};
use mfa_store_sql::error::corrupt;
use mfa_store_sql::sql::{Arg, Dialect};
use mfa_store_sql::{InvalidPrefix, SqlStore, TablePrefix};
use std::fmt;
use uuid::Uuid;

/// The connection pool [`MySqlStore`] takes (diesel-async's deadpool over
/// [`AsyncMysqlConnection`], a pure-Rust mysql_async connection).
pub type MySqlPool = Pool<AsyncMysqlConnection>;

/// The store on MySQL 8 or MariaDB 10.5+ (feature `mysql`).
///
/// Same tables as `mfa_store_sqlx::MySqlStore`: UUIDs are `BINARY(16)`,
/// timestamps `DATETIME(6)` in UTC, digests `BINARY(32)`, metadata `JSON`;
/// InnoDB. Without `RETURNING`, the few check-then-acts that need the row
/// back run in short transactions with `SELECT … FOR UPDATE`; the rest are
/// single conditional `UPDATE`s.
#[derive(Clone)]
pub struct MySqlStore {
    inner: SqlStore<MySqlDriver>,
}

impl fmt::Debug for MySqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MySqlStore")
            .field("prefix", self.inner.prefix())
            .finish_non_exhaustive()
    }
}

/// `SELECT GET_LOCK(…) AS v`.
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
        drop(store.pool().get().await.map_err(pool_err)?);
        Ok(store)
    }

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
    pub async fn migrate(&self) -> StoreResult<()> {
        self.inner.migrate().await
    }
}

/// Opens a transaction (InnoDB's default REPEATABLE READ; row locks are
/// taken explicitly with `FOR UPDATE`).
async fn begin(conn: &mut AsyncMysqlConnection) -> StoreResult<()> {
    type Tm = <AsyncMysqlConnection as AsyncConnection>::TransactionManager;
    <Tm as TransactionManager<AsyncMysqlConnection>>::begin_transaction(conn)
        .await
        .map_err(map_err)
}

fn bind(
    q: BoxedSqlQuery<'static, Mysql, SqlQuery>,
    arg: Arg,
) -> BoxedSqlQuery<'static, Mysql, SqlQuery> {
    match arg {
        Arg::Uuid(v) => q.bind::<Binary, _>(v.as_bytes().to_vec()),
        Arg::OptUuid(v) => q.bind::<Nullable<Binary>, _>(v.map(|u| u.as_bytes().to_vec())),
        Arg::Ts(v) => q.bind::<Datetime, _>(v.naive_utc()),
        Arg::OptTs(v) => q.bind::<Nullable<Datetime>, _>(v.map(|t| t.naive_utc())),
        Arg::Bytes(v) => q.bind::<Binary, _>(v),
        Arg::OptBytes(v) => q.bind::<Nullable<Binary>, _>(v),
        Arg::Text(v) => q.bind::<Text, _>(v),
        Arg::OptText(v) => q.bind::<Nullable<Text>, _>(v),
        Arg::I32(v) => q.bind::<Integer, _>(v),
        Arg::OptI32(v) => q.bind::<Nullable<Integer>, _>(v),
        Arg::I64(v) => q.bind::<BigInt, _>(v),
        Arg::OptI64(v) => q.bind::<Nullable<BigInt>, _>(v),
        Arg::Bool(v) => q.bind::<Bool, _>(v),
        // MariaDB's JSON is LONGTEXT with a validity check: send the text.
        Arg::Json(v) => q.bind::<Text, _>(v.to_string()),
    }
}

fn read_uuid<'a>(row: &impl NamedRow<'a, Mysql>, name: &str) -> StoreResult<Uuid> {
    let bytes = NamedRow::get::<Binary, Vec<u8>>(row, name).map_err(|_| corrupt(name))?;
    Uuid::from_slice(&bytes).map_err(|_| corrupt(name))
}

fn read_opt_uuid<'a>(row: &impl NamedRow<'a, Mysql>, name: &str) -> StoreResult<Option<Uuid>> {
    NamedRow::get::<Nullable<Binary>, Option<Vec<u8>>>(row, name)
        .map_err(|_| corrupt(name))?
        .map(|b| Uuid::from_slice(&b).map_err(|_| corrupt(name)))
        .transpose()
}

fn read_ts<'a>(row: &impl NamedRow<'a, Mysql>, name: &str) -> StoreResult<DateTime<Utc>> {
    NamedRow::get::<Datetime, NaiveDateTime>(row, name)
        .map(|t| t.and_utc())
        .map_err(|_| corrupt(name))
}

fn read_opt_ts<'a>(
    row: &impl NamedRow<'a, Mysql>,
    name: &str,
) -> StoreResult<Option<DateTime<Utc>>> {
    NamedRow::get::<Nullable<Datetime>, Option<NaiveDateTime>>(row, name)
        .map(|t| t.map(|t| t.and_utc()))
        .map_err(|_| corrupt(name))
}

fn read_json<'a>(row: &impl NamedRow<'a, Mysql>, name: &str) -> StoreResult<serde_json::Value> {
    let text = NamedRow::get::<Text, String>(row, name).map_err(|_| corrupt(name))?;
    serde_json::from_str(&text).map_err(|_| corrupt(name))
}

crate::driver::diesel_driver!(
    MySqlDriver,
    MySqlTx,
    AsyncMysqlConnection,
    Mysql,
    Dialect::MYSQL
);

mfa_store_sql::forward_repositories!(MySqlStore => inner);

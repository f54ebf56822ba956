//! PostgreSQL: [`PgStore`].

use crate::error::{map_err, pool_err};
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{Jsonb, Timestamptz};
use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::pooled_connection::deadpool::Pool;
use mfa_core::store::{StoreError, StoreResult};
use mfa_store_sql::error::corrupt;
use mfa_store_sql::sql::{Arg, Dialect};
use mfa_store_sql::{InvalidPrefix, SqlStore, TablePrefix};
use std::fmt;
use uuid::Uuid;

/// The connection pool [`PgStore`] takes (diesel-async's deadpool over
/// [`AsyncPgConnection`], a pure-Rust tokio-postgres connection).
pub type PgPool = Pool<AsyncPgConnection>;

/// The store on PostgreSQL (feature `postgres`).
///
/// Same tables as `mfa_store_sqlx::PgStore`: UUIDs are `uuid`, timestamps
/// `timestamptz`, digests and sealed secrets `bytea`, metadata `jsonb`.
/// Security check-then-acts are single `UPDATE … WHERE … RETURNING`
/// statements; the few multi-statement operations run in short READ
/// COMMITTED transactions with row locks.
#[derive(Clone)]
pub struct PgStore {
    inner: SqlStore<PgDriver>,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("prefix", self.inner.prefix())
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// A store on `pool` with the default table prefix `mfa_`.
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self {
            inner: SqlStore::new(PgDriver { pool }, TablePrefix::default()),
        }
    }

    /// A store on `pool` whose tables start with `prefix`.
    ///
    /// # Errors
    /// [`InvalidPrefix`] if `prefix` is not a safe identifier start.
    pub fn with_prefix(pool: PgPool, prefix: &str) -> Result<Self, InvalidPrefix> {
        let prefix = TablePrefix::new(prefix)?;
        Ok(Self {
            inner: SqlStore::new(PgDriver { pool }, prefix),
        })
    }

    /// The pool the store runs on.
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.inner.driver().pool
    }

    /// The table prefix.
    #[must_use]
    pub fn prefix(&self) -> &TablePrefix {
        self.inner.prefix()
    }

    /// A pool of at most `max_size` connections to the database at `url`
    /// (`postgres://user:password@host:port/database`, without TLS).
    /// Connections are opened lazily.
    ///
    /// # Errors
    /// [`StoreError::Backend`] if the pool cannot be built.
    pub fn build_pool(url: &str, max_size: usize) -> StoreResult<PgPool> {
        let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url);
        Pool::builder(manager)
            .max_size(max_size.max(1))
            .build()
            .map_err(StoreError::backend)
    }

    /// Opens a pool with [`PgStore::build_pool`], checks that a connection
    /// can be made, and wraps it with the default prefix.
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
    /// Idempotent: all pending migrations run in one transaction holding a
    /// transaction-scoped advisory lock keyed by the prefix (the same key
    /// `mfa-store-sqlx` takes), so concurrent callers of either crate apply
    /// each migration once.
    ///
    /// # Errors
    /// Any database failure; a failed migration leaves no partial change.
    pub async fn migrate(&self) -> StoreResult<()> {
        self.inner.migrate().await
    }
}

/// Opens a READ COMMITTED transaction (row locks are taken explicitly).
async fn begin(conn: &mut AsyncPgConnection) -> StoreResult<()> {
    type Tm = <AsyncPgConnection as AsyncConnection>::TransactionManager;
    <Tm as TransactionManager<AsyncPgConnection>>::begin_transaction(conn)
        .await
        .map_err(map_err)
}

fn bind(q: BoxedSqlQuery<'static, Pg, SqlQuery>, arg: Arg) -> BoxedSqlQuery<'static, Pg, SqlQuery> {
    match arg {
        Arg::Uuid(v) => q.bind::<diesel::sql_types::Uuid, _>(v),
        Arg::OptUuid(v) => q.bind::<Nullable<diesel::sql_types::Uuid>, _>(v),
        Arg::Ts(v) => q.bind::<Timestamptz, _>(v),
        Arg::OptTs(v) => q.bind::<Nullable<Timestamptz>, _>(v),
        Arg::Bytes(v) => q.bind::<Binary, _>(v),
        Arg::OptBytes(v) => q.bind::<Nullable<Binary>, _>(v),
        Arg::Text(v) => q.bind::<Text, _>(v),
        Arg::OptText(v) => q.bind::<Nullable<Text>, _>(v),
        Arg::I32(v) => q.bind::<Integer, _>(v),
        Arg::OptI32(v) => q.bind::<Nullable<Integer>, _>(v),
        Arg::I64(v) => q.bind::<BigInt, _>(v),
        Arg::OptI64(v) => q.bind::<Nullable<BigInt>, _>(v),
        Arg::Bool(v) => q.bind::<Bool, _>(v),
        Arg::Json(v) => q.bind::<Jsonb, _>(v),
    }
}

fn read_uuid<'a>(row: &impl NamedRow<'a, Pg>, name: &str) -> StoreResult<Uuid> {
    NamedRow::get::<diesel::sql_types::Uuid, Uuid>(row, name).map_err(|_| corrupt(name))
}

fn read_opt_uuid<'a>(row: &impl NamedRow<'a, Pg>, name: &str) -> StoreResult<Option<Uuid>> {
    NamedRow::get::<Nullable<diesel::sql_types::Uuid>, Option<Uuid>>(row, name)
        .map_err(|_| corrupt(name))
}

fn read_ts<'a>(row: &impl NamedRow<'a, Pg>, name: &str) -> StoreResult<DateTime<Utc>> {
    NamedRow::get::<Timestamptz, DateTime<Utc>>(row, name).map_err(|_| corrupt(name))
}

fn read_opt_ts<'a>(row: &impl NamedRow<'a, Pg>, name: &str) -> StoreResult<Option<DateTime<Utc>>> {
    NamedRow::get::<Nullable<Timestamptz>, Option<DateTime<Utc>>>(row, name)
        .map_err(|_| corrupt(name))
}

fn read_json<'a>(row: &impl NamedRow<'a, Pg>, name: &str) -> StoreResult<serde_json::Value> {
    NamedRow::get::<Jsonb, serde_json::Value>(row, name).map_err(|_| corrupt(name))
}

crate::driver::diesel_driver!(PgDriver, PgTx, AsyncPgConnection, Pg, Dialect::POSTGRES);

mfa_store_sql::forward_repositories!(PgStore => inner);

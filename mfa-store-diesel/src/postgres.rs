//! PostgreSQL: [`PgStore`].

use crate::error::map_err;
use diesel::pg::Pg;
use diesel::sql_types::{Jsonb, Timestamptz};
use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::pooled_connection::deadpool::Pool;
use mfa_core::store::{StoreError, StoreResult};
use mfa_store_sql::sql::Dialect;

/// The connection pool [`PgStore`] takes (diesel-async's deadpool over
/// [`AsyncPgConnection`], a pure-Rust tokio-postgres connection).
pub type PgPool = Pool<AsyncPgConnection>;

mfa_store_sql::store_type! {
    /// The store on PostgreSQL (feature `postgres`).
    ///
    /// Same tables as `mfa_store_sqlx::PgStore`: UUIDs are `uuid`, timestamps
    /// `timestamptz`, digests and sealed secrets `bytea`, metadata `jsonb`.
    /// Security check-then-acts are single `UPDATE … WHERE … RETURNING`
    /// statements; the few multi-statement operations run in short READ
    /// COMMITTED transactions with row locks.
    pub struct PgStore(PgDriver, PgPool);
    /// Creates or upgrades this store's tables (the same migrations, and the
    /// same `<prefix>schema_migrations` record, as `mfa-store-sqlx`).
    /// Idempotent: all pending migrations run in one transaction holding a
    /// transaction-scoped advisory lock keyed by the prefix (the same key
    /// `mfa-store-sqlx` takes), so concurrent callers of either crate apply
    /// each migration once.
    ///
    /// # Errors
    /// Any database failure; a failed migration leaves no partial change.
    fn migrate;
}

impl PgStore {
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
        drop(store.pool().get().await.map_err(StoreError::unavailable)?);
        Ok(store)
    }
}

/// The `BEGIN` of a READ COMMITTED transaction (row locks are taken
/// explicitly), sent with the transaction's first statement (see
/// [`crate::pipeline`]); `carried`, one whose commit does not wait for the
/// WAL flush.
fn begin_sql(carried: bool) -> &'static str {
    if carried {
        mfa_store_sql::sql::CARRIED_BEGIN_POSTGRES
    } else {
        "BEGIN"
    }
}

/// Rows are locked in the server, which queues writers: the gate is open.
fn gate() -> crate::driver::WriteGate {
    crate::driver::WriteGate::default()
}

/// A carried unit's commit does not wait for the WAL flush (see `begin`).
const CARRIES_COMMITS: bool = true;

crate::driver::diesel_driver!(PgDriver, PgTx, AsyncPgConnection, Pg, Dialect::POSTGRES,
    uuid: uuid::Uuid, ts: chrono::DateTime<chrono::Utc>, json: serde_json::Value,
    types: [uuid::Uuid => diesel::sql_types::Uuid, chrono::DateTime<chrono::Utc> => Timestamptz,
        serde_json::Value => Jsonb], transactions: pipelined);

//! Store factories of this crate's test files; what both SQL store crates
//! share is `mfa_store_sql::testing` (the suites) and this crate's
//! `testing` module (cleanup, schema checks).
#![allow(dead_code)]

#[cfg(any(feature = "postgres", feature = "mysql"))]
use mfa_store_sqlx::testing::cleanup;

use mfa_store_sql::testing::unique_prefix;

/// Connections per test pool: MariaDB's `max_connections` is limited and
/// many tests run at once.
pub const POOL_SIZE: u32 = 8;

/// The tag of this crate's table prefixes (`t<run>x<n>_`).
const TAG: char = 't';

#[cfg(feature = "sqlite")]
mfa_store_sql::sqlite_file_store!(sqlite_file_store: mfa_store_sqlx::SqliteStore, "sqlite-tests", POOL_SIZE);

/// A SQLite store on a fresh named in-memory database shared by the pool's
/// connections (shared cache).
#[cfg(feature = "sqlite")]
pub async fn sqlite_memory_store() -> mfa_store_sqlx::SqliteStore {
    let url = format!(
        "sqlite:file:mfa{}?mode=memory&cache=shared",
        uuid::Uuid::now_v7().simple()
    );
    let options = mfa_store_sqlx::SqliteStore::connect_options(&url).expect("options");
    // The database lives as long as one connection to it: keep one open.
    let pool = mfa_store_sqlx::sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(4)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(options)
        .await
        .expect("open the in-memory database");
    let store = mfa_store_sqlx::SqliteStore::new(pool);
    store.migrate().await.expect("migrate");
    store
}

/// A Postgres store on a fresh table prefix, migrated.
#[cfg(feature = "postgres")]
pub async fn postgres_store() -> mfa_store_sqlx::PgStore {
    let url = cleanup::url("MFA_TEST_POSTGRES_URL", "sqlx_postgres_store");
    cleanup::clean_postgres(url.clone(), TAG);
    let pool = mfa_store_sqlx::sqlx::postgres::PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .connect(&url)
        .await
        .expect("connect to MFA_TEST_POSTGRES_URL");
    let store = mfa_store_sqlx::PgStore::with_prefix(pool, &unique_prefix(TAG)).expect("prefix");
    store.migrate().await.expect("migrate");
    store
}

/// A MySQL/MariaDB store on a fresh table prefix, migrated.
#[cfg(feature = "mysql")]
pub async fn mysql_store() -> mfa_store_sqlx::MySqlStore {
    let url = cleanup::url("MFA_TEST_MYSQL_URL", "sqlx_mysql_store");
    cleanup::clean_mysql(url.clone(), TAG);
    let pool = mfa_store_sqlx::sqlx::mysql::MySqlPoolOptions::new()
        .max_connections(POOL_SIZE)
        .connect(&url)
        .await
        .expect("connect to MFA_TEST_MYSQL_URL");
    let store = mfa_store_sqlx::MySqlStore::with_prefix(pool, &unique_prefix(TAG)).expect("prefix");
    store.migrate().await.expect("migrate");
    store
}

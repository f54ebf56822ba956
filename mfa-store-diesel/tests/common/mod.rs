//! Store factories of this crate's test files; what both SQL store crates
//! share is `mfa_store_sql::testing` (the suites) and `mfa_store_sqlx::testing`
//! (cleanup, schema checks).
//!
//! Every factory call returns an isolated store: a fresh SQLite file, or a
//! fresh table prefix (`d<run start>x<n>_`; the `d` keeps these apart from
//! `mfa-store-sqlx`'s tests, which may run at the same time).
#![allow(dead_code)]

#[cfg(any(feature = "postgres", feature = "mysql"))]
use mfa_store_sqlx::testing::cleanup;

/// Connections per test pool: MariaDB's `max_connections` is limited and
/// several tests run at once.
pub const POOL_SIZE: usize = 4;

/// The tag of this crate's table prefixes.
const TAG: char = 'd';

/// A table prefix no other call of any run returns.
pub fn unique_prefix() -> String {
    mfa_store_sql::testing::unique_prefix(TAG)
}

/// A fresh SQLite database file path (files of earlier runs are removed).
pub fn sqlite_path() -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("diesel-sqlite-tests");
    mfa_store_sql::testing::sqlite_path(&dir)
}

#[cfg(feature = "sqlite")]
mfa_store_sql::sqlite_file_store!(sqlite_store: mfa_store_diesel::SqliteStore, "diesel-sqlite-tests", POOL_SIZE);

/// The PostgreSQL URL the tests were built for.
#[cfg(feature = "postgres")]
pub fn postgres_url() -> String {
    cleanup::url("MFA_TEST_POSTGRES_URL", "diesel_postgres_store")
}

/// A Postgres store on a fresh table prefix, migrated.
#[cfg(feature = "postgres")]
pub async fn postgres_store() -> mfa_store_diesel::PgStore {
    postgres_store_with_prefix(&unique_prefix()).await
}

/// A Postgres store on `prefix`, migrated.
#[cfg(feature = "postgres")]
pub async fn postgres_store_with_prefix(prefix: &str) -> mfa_store_diesel::PgStore {
    let url = postgres_url();
    cleanup::clean_postgres(url.clone(), TAG);
    let pool = mfa_store_diesel::PgStore::build_pool(&url, POOL_SIZE).expect("pool");
    let store = mfa_store_diesel::PgStore::with_prefix(pool, prefix).expect("prefix");
    store.migrate().await.expect("migrate");
    store
}

/// The MySQL/MariaDB URL the tests were built for.
#[cfg(feature = "mysql")]
pub fn mysql_url() -> String {
    cleanup::url("MFA_TEST_MYSQL_URL", "diesel_mysql_store")
}

/// A MySQL/MariaDB store on a fresh table prefix, migrated.
#[cfg(feature = "mysql")]
pub async fn mysql_store() -> mfa_store_diesel::MySqlStore {
    mysql_store_with_prefix(&unique_prefix()).await
}

/// A MySQL/MariaDB store on `prefix`, migrated.
#[cfg(feature = "mysql")]
pub async fn mysql_store_with_prefix(prefix: &str) -> mfa_store_diesel::MySqlStore {
    let url = mysql_url();
    cleanup::clean_mysql(url.clone(), TAG);
    let pool = mfa_store_diesel::MySqlStore::build_pool(&url, POOL_SIZE).expect("pool");
    let store = mfa_store_diesel::MySqlStore::with_prefix(pool, prefix).expect("prefix");
    store.migrate().await.expect("migrate");
    store
}

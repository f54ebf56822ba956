//! Store factories shared by the test files of this crate.
//!
//! Every factory call returns an isolated store: a fresh SQLite file, or a
//! fresh table prefix (`d<run start>x<n>_`) in the PostgreSQL / MariaDB test
//! database. Tables of earlier runs are dropped once per process, so CI
//! databases do not grow. (The `d` keeps these apart from the prefixes of
//! `mfa-store-sqlx`'s tests, which may run at the same time.)
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Connections per test pool: MariaDB's `max_connections` is limited and
/// several tests run at once.
pub const POOL_SIZE: usize = 4;

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A table prefix no other call of any run returns: `d<run start>x<n>_`.
pub fn unique_prefix() -> String {
    static RUN: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static N: AtomicU64 = AtomicU64::new(0);
    let run = *RUN.get_or_init(now_secs);
    format!("d{run}x{}_", N.fetch_add(1, Ordering::Relaxed))
}

/// Whether a table belongs to a test prefix of a run that started more than
/// `min_age_secs` ago.
pub fn is_stale_test_table(name: &str, min_age_secs: u64) -> bool {
    let Some(rest) = name.strip_prefix('d') else {
        return false;
    };
    let Some((run, tail)) = rest.split_once('x') else {
        return false;
    };
    let Ok(run) = run.parse::<u64>() else {
        return false;
    };
    let counter_ok = tail
        .split_once('_')
        .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    counter_ok && run + min_age_secs < now_secs()
}

/// A fresh SQLite database file path (files of earlier runs are removed).
pub fn sqlite_path() -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("diesel-sqlite-tests");
    static CLEANED: std::sync::Once = std::sync::Once::new();
    CLEANED.call_once(|| {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age.as_secs() > 600);
                if old {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    });
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir.join(format!("{}.db", uuid::Uuid::now_v7()))
}

/// A SQLite store on a fresh database file (WAL, several connections).
#[cfg(feature = "sqlite")]
pub async fn sqlite_store() -> mfa_store_diesel::SqliteStore {
    let url = format!("sqlite://{}", sqlite_path().display());
    let store = mfa_store_diesel::SqliteStore::connect(&url, POOL_SIZE)
        .await
        .expect("open the SQLite file");
    store.migrate().await.expect("migrate");
    store
}

/// Runs `cleanup` once per process, on its own thread and runtime (tests
/// run on many runtimes; a pool must not outlive the one it was made on).
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn once_per_process(
    cell: &'static std::sync::OnceLock<()>,
    cleanup: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> + Send + 'static,
) {
    cell.get_or_init(|| {
        std::thread::spawn(move || {
            mfa_core::testing::tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the cleanup")
                .block_on(cleanup());
        })
        .join()
        .expect("the cleanup of earlier test tables failed");
    });
}

/// The PostgreSQL URL the tests were built for.
#[cfg(feature = "postgres")]
pub fn postgres_url() -> String {
    std::env::var("MFA_TEST_POSTGRES_URL")
        .expect("MFA_TEST_POSTGRES_URL was set when the tests were built; set it to run them")
}

/// Drops the tables of test prefixes of runs that started over a minute ago.
#[cfg(feature = "postgres")]
fn clean_postgres(url: String) {
    static CLEANUP: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    once_per_process(&CLEANUP, move || {
        Box::pin(async move {
            use mfa_store_sqlx::sqlx;
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect(&url)
                .await
                .expect("connect to MFA_TEST_POSTGRES_URL");
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()",
            )
            .fetch_all(&pool)
            .await
            .expect("list tables");
            let stale: Vec<String> = tables
                .into_iter()
                .filter(|t| is_stale_test_table(t, 60))
                .map(|t| format!("\"{t}\""))
                .collect();
            for chunk in stale.chunks(200) {
                let sql = format!("DROP TABLE IF EXISTS {} CASCADE", chunk.join(", "));
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&pool)
                    .await
                    .expect("drop stale test tables");
            }
            pool.close().await;
        })
    });
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
    clean_postgres(url.clone());
    let pool = mfa_store_diesel::PgStore::build_pool(&url, POOL_SIZE).expect("pool");
    let store = mfa_store_diesel::PgStore::with_prefix(pool, prefix).expect("prefix");
    store.migrate().await.expect("migrate");
    store
}

/// The MySQL/MariaDB URL the tests were built for.
#[cfg(feature = "mysql")]
pub fn mysql_url() -> String {
    std::env::var("MFA_TEST_MYSQL_URL")
        .expect("MFA_TEST_MYSQL_URL was set when the tests were built; set it to run them")
}

/// Drops the tables of test prefixes of runs that started over a minute ago.
#[cfg(feature = "mysql")]
fn clean_mysql(url: String) {
    static CLEANUP: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    once_per_process(&CLEANUP, move || {
        Box::pin(async move {
            use mfa_store_sqlx::sqlx;
            let pool = sqlx::mysql::MySqlPoolOptions::new()
                .max_connections(1)
                .connect(&url)
                .await
                .expect("connect to MFA_TEST_MYSQL_URL");
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
                 WHERE table_schema = DATABASE()",
            )
            .fetch_all(&pool)
            .await
            .expect("list tables");
            let stale: Vec<String> = tables
                .into_iter()
                .filter(|t| is_stale_test_table(t, 60))
                .map(|t| format!("`{t}`"))
                .collect();
            let mut conn = pool.acquire().await.expect("a connection");
            sqlx::query("SET FOREIGN_KEY_CHECKS = 0")
                .execute(&mut *conn)
                .await
                .expect("disable foreign key checks");
            for chunk in stale.chunks(200) {
                let sql = format!("DROP TABLE IF EXISTS {}", chunk.join(", "));
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut *conn)
                    .await
                    .expect("drop stale test tables");
            }
            drop(conn);
            pool.close().await;
        })
    });
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
    clean_mysql(url.clone());
    let pool = mfa_store_diesel::MySqlStore::build_pool(&url, POOL_SIZE).expect("pool");
    let store = mfa_store_diesel::MySqlStore::with_prefix(pool, prefix).expect("prefix");
    store.migrate().await.expect("migrate");
    store
}

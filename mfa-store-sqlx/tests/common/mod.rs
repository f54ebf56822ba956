//! Store factories shared by the test files of this crate.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Connections per test pool: MariaDB's `max_connections` is limited and
/// many tests run at once.
pub const POOL_SIZE: u32 = 8;

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A table prefix no other call of any run returns: `t<run start>x<n>_`.
/// The run start lets a later run recognise and drop this run's tables.
pub fn unique_prefix() -> String {
    static RUN: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static N: AtomicU64 = AtomicU64::new(0);
    let run = *RUN.get_or_init(now_secs);
    format!("t{run}x{}_", N.fetch_add(1, Ordering::Relaxed))
}

/// Whether a table belongs to a test prefix of a run that started more than
/// `min_age_secs` ago.
pub fn is_stale_test_table(name: &str, min_age_secs: u64) -> bool {
    let Some(rest) = name.strip_prefix('t') else {
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

/// The URL in `var`, or `None` after printing that the tests are skipped.
pub fn database_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("{var} is not set: skipped");
            None
        }
    }
}

/// A SQLite store on a fresh database file (WAL, several connections).
#[cfg(feature = "sqlite")]
pub async fn sqlite_file_store() -> mfa_store_sqlx::SqliteStore {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sqlite-tests");
    static CLEANED: std::sync::Once = std::sync::Once::new();
    CLEANED.call_once(|| {
        // Files of earlier runs (older than ten minutes) go.
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
    let path = dir.join(format!("{}.db", uuid::Uuid::now_v7()));
    let url = format!("sqlite://{}", path.display());
    let store = mfa_store_sqlx::SqliteStore::connect(&url, POOL_SIZE)
        .await
        .expect("open the SQLite file");
    store.migrate().await.expect("migrate");
    store
}

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

/// Drops, once per test process, the tables of test prefixes of runs that
/// started over a minute ago, so the CI databases do not grow.
#[cfg(any(feature = "postgres", feature = "mysql"))]
static CLEANUP: std::sync::OnceLock<()> = std::sync::OnceLock::new();

/// Runs `cleanup` once per process, on its own thread and runtime (tests
/// run on many runtimes; a pool must not outlive the one it was made on).
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn once_per_process<F, Fut>(cleanup: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    CLEANUP.get_or_init(|| {
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

#[cfg(feature = "postgres")]
fn postgres_url() -> String {
    std::env::var("MFA_TEST_POSTGRES_URL")
        .expect("MFA_TEST_POSTGRES_URL was set when the tests were built; set it to run them")
}

/// A Postgres store on a fresh table prefix, migrated.
#[cfg(feature = "postgres")]
pub async fn postgres_store() -> mfa_store_sqlx::PgStore {
    use mfa_store_sqlx::sqlx::postgres::PgPoolOptions;
    let url = postgres_url();
    let cleanup_url = url.clone();
    once_per_process(move || async move {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect(&cleanup_url)
            .await
            .expect("connect to MFA_TEST_POSTGRES_URL");
        let tables: Vec<String> = mfa_store_sqlx::sqlx::query_scalar(
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
            mfa_store_sqlx::sqlx::query(mfa_store_sqlx::sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .expect("drop stale test tables");
        }
        pool.close().await;
    });
    let pool = PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .connect(&url)
        .await
        .expect("connect to MFA_TEST_POSTGRES_URL");
    let store = mfa_store_sqlx::PgStore::with_prefix(pool, &unique_prefix()).expect("prefix");
    store.migrate().await.expect("migrate");
    store
}

#[cfg(feature = "mysql")]
fn mysql_url() -> String {
    std::env::var("MFA_TEST_MYSQL_URL")
        .expect("MFA_TEST_MYSQL_URL was set when the tests were built; set it to run them")
}

/// A MySQL/MariaDB store on a fresh table prefix, migrated.
#[cfg(feature = "mysql")]
pub async fn mysql_store() -> mfa_store_sqlx::MySqlStore {
    use mfa_store_sqlx::sqlx::mysql::MySqlPoolOptions;
    let url = mysql_url();
    let cleanup_url = url.clone();
    once_per_process(move || async move {
        let pool = MySqlPoolOptions::new()
            .max_connections(1)
            .connect(&cleanup_url)
            .await
            .expect("connect to MFA_TEST_MYSQL_URL");
        let tables: Vec<String> = mfa_store_sqlx::sqlx::query_scalar(
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
        mfa_store_sqlx::sqlx::query("SET FOREIGN_KEY_CHECKS = 0")
            .execute(&mut *conn)
            .await
            .expect("disable foreign key checks");
        for chunk in stale.chunks(200) {
            let sql = format!("DROP TABLE IF EXISTS {}", chunk.join(", "));
            mfa_store_sqlx::sqlx::query(mfa_store_sqlx::sqlx::AssertSqlSafe(sql))
                .execute(&mut *conn)
                .await
                .expect("drop stale test tables");
        }
        drop(conn);
        pool.close().await;
    });
    let pool = MySqlPoolOptions::new()
        .max_connections(POOL_SIZE)
        .connect(&url)
        .await
        .expect("connect to MFA_TEST_MYSQL_URL");
    let store = mfa_store_sqlx::MySqlStore::with_prefix(pool, &unique_prefix()).expect("prefix");
    store.migrate().await.expect("migrate");
    store
}

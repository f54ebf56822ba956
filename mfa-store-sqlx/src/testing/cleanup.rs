//! Drops the tables that test runs of the SQL stores left in the
//! PostgreSQL / MariaDB test databases, once per test process.

#[cfg(any(feature = "postgres", feature = "mysql"))]
use crate::sqlx;
#[cfg(any(feature = "postgres", feature = "mysql"))]
use mfa_store_sql::testing::{is_stale_test_table, once_per_process};

/// Drops the PostgreSQL tables of test prefixes with `tag` of runs that
/// started over a minute ago.
#[cfg(feature = "postgres")]
pub fn clean_postgres(url: String, tag: char) {
    static CLEANUP: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    once_per_process(&CLEANUP, move || async move {
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
            .filter(|t| is_stale_test_table(t, tag, 60))
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
    });
}

/// Drops the MySQL/MariaDB tables of test prefixes with `tag` of runs that
/// started over a minute ago.
#[cfg(feature = "mysql")]
pub fn clean_mysql(url: String, tag: char) {
    static CLEANUP: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    once_per_process(&CLEANUP, move || async move {
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
            .filter(|t| is_stale_test_table(t, tag, 60))
            .map(|t| format!("`{t}`"))
            .collect();
        // One connection: the foreign key switch is per session.
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
    });
}

/// The database URL in `var`; the suites using it were built because it was
/// set, so it missing now is a recorded skip and then a failure.
///
/// # Panics
/// When `var` is not set.
#[must_use]
pub fn url(var: &str, test: &str) -> String {
    mfa_store_sql::testing::database_url(var, test)
        .unwrap_or_else(|| panic!("{var} was set when the tests were built; set it to run them"))
}

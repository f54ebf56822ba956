//! Reads a migrated schema back through an independent sqlx pool, for the
//! migration tests of [`mfa_store_sql::sql_store_tests!`]: every migration
//! is recorded once, and a prefix has its 17 tables and the migration
//! record.

use crate::sqlx;

/// `SELECT version FROM <prefix>schema_migrations`.
fn versions_sql(prefix: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!("SELECT version FROM {prefix}schema_migrations"))
}

/// Each migration recorded once, and 17 tables and the migration record
/// (migration 2's `rate_limits` beside the two rate-limit tables of
/// migration 1, kept for a rolling upgrade; migration 3's
/// `webauthn_ceremonies`; none of the SQLite tables rebuilt by migrations
/// 3 and 5 left behind; migration 4's `key_checks`; migration 5's
/// `push_requests`; migration 6 adds columns and an index only; migration
/// 7 partitions PostgreSQL's audit log, whose partitions are not counted
/// here; migration 8 adds an index only; migration 9 adds a column and
/// rebuilds SQLite's `login_tickets` in place; migration 10 adds columns
/// and an index only; migration 11 adds a column only).
fn assert_migrated(versions: &[i64], tables: i64) {
    assert_eq!(
        versions,
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
        "each migration is recorded once"
    );
    assert_eq!(tables, 18, "17 tables and the migration record");
}

/// The SQLite database at `url`: migrated with the default prefix, and
/// beside it with `host_mfa_`.
///
/// # Panics
/// When the schema is not as migrated.
#[cfg(feature = "sqlite")]
pub async fn sqlite_migrated(url: &str) {
    let pool = sqlx::SqlitePool::connect(url).await.expect("sqlx open");
    for prefix in ["mfa_", "host_mfa_"] {
        let versions = sqlx::query_scalar(versions_sql(prefix))
            .fetch_all(&pool)
            .await
            .expect("read versions");
        let tables = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' \
             AND substr(name, 1, length(?1)) = ?1",
        )
        .bind(prefix)
        .fetch_one(&pool)
        .await
        .expect("count tables");
        assert_migrated(&versions, tables);
    }
    pool.close().await;
}

/// The PostgreSQL tables of `prefix`, migrated.
///
/// # Panics
/// When the schema is not as migrated.
#[cfg(feature = "postgres")]
pub async fn postgres_migrated(prefix: &str) {
    let url = super::cleanup::url("MFA_TEST_POSTGRES_URL", "postgres_migrated");
    let pool = sqlx::PgPool::connect(&url).await.expect("sqlx connect");
    let versions = sqlx::query_scalar(versions_sql(prefix))
        .fetch_all(&pool)
        .await
        .expect("read versions");
    let tables = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_tables t WHERE schemaname = current_schema() \
         AND starts_with(tablename::text, $1) AND NOT EXISTS \
         (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = \
          format('%I.%I', t.schemaname, t.tablename)::regclass)",
    )
    .bind(prefix)
    .fetch_one(&pool)
    .await
    .expect("count tables");
    assert_migrated(&versions, tables);
    // The audit log's DEFAULT partition, this month's and the months ahead.
    let partitions: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_inherits WHERE inhparent = to_regclass($1::text)",
    )
    .bind(format!("{prefix}audit_events"))
    .fetch_one(&pool)
    .await
    .expect("count partitions");
    let months = i64::from(mfa_store_sql::partitions::AUDIT_MONTHS_AHEAD) + 1;
    assert!(
        partitions > months,
        "{partitions} partitions: the DEFAULT one and {months} months"
    );
    pool.close().await;
}

/// The MySQL/MariaDB tables of `prefix`, migrated.
///
/// # Panics
/// When the schema is not as migrated.
#[cfg(feature = "mysql")]
pub async fn mysql_migrated(prefix: &str) {
    let url = super::cleanup::url("MFA_TEST_MYSQL_URL", "mysql_migrated");
    let pool = sqlx::MySqlPool::connect(&url).await.expect("sqlx connect");
    let versions = sqlx::query_scalar(versions_sql(prefix))
        .fetch_all(&pool)
        .await
        .expect("read versions");
    let tables = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() \
         AND LEFT(table_name, CHAR_LENGTH(?)) = ?",
    )
    .bind(prefix)
    .bind(prefix)
    .fetch_one(&pool)
    .await
    .expect("count tables");
    assert_migrated(&versions, tables);
    pool.close().await;
}

//! The `mfa-core` conformance suite, the engine flow suite and the
//! migration test on the MySQL/MariaDB at `MFA_TEST_MYSQL_URL` (a fresh
//! table prefix per store). Without the variable the suites are not built
//! and one test says so; with it, a connection failure fails.
#![cfg(feature = "mysql")]

mod common;

#[cfg(mfa_test_mysql)]
mod conformance {
    use super::common::mysql_store;
    mfa_core::store_conformance_tests!(mysql_store);
}

#[cfg(mfa_test_mysql)]
mod units {
    use super::common::mysql_store;
    mfa_core::unit_of_work_conformance_tests!(mysql_store);
}

#[cfg(mfa_test_mysql)]
mod flow {
    use super::common::mysql_store;
    mfa_core::flow_tests!(mysql_store);
}

#[cfg(mfa_test_mysql)]
mod counts {
    use super::common::mysql_store;
    mfa_store_sql::statement_count_tests!(mysql_store);
}

#[cfg(mfa_test_mysql)]
#[mfa_core::testing::tokio::test(crate = "::mfa_core::testing::tokio")]
async fn migrations_apply_to_an_empty_database_and_are_idempotent() {
    use mfa_store_sqlx::sqlx;
    let store = common::mysql_store().await; // migrated once
    let prefix = store.prefix().as_str().to_owned();
    store.migrate().await.expect("second migrate");
    let pool = sqlx::MySqlPool::connect(&common::mysql_url())
        .await
        .expect("sqlx connect");
    let versions: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT version FROM {prefix}schema_migrations"
    )))
    .fetch_all(&pool)
    .await
    .expect("read versions");
    assert_eq!(versions, vec![1, 2], "each migration is recorded once");
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() \
         AND LEFT(table_name, CHAR_LENGTH(?)) = ?",
    )
    .bind(&prefix)
    .bind(&prefix)
    .fetch_one(&pool)
    .await
    .expect("count tables");
    assert_eq!(tables, 13, "12 tables and the migration record");
}

#[cfg(not(mfa_test_mysql))]
#[test]
fn mysql_suite_is_skipped_without_its_url() {
    mfa_core::testing::skip::skip(
        "mysql_suite_is_skipped_without_its_url",
        "MFA_TEST_MYSQL_URL was not set when the tests were built: MySQL/MariaDB tests not compiled",
    );
}

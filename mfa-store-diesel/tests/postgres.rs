//! The `mfa-core` conformance suite, the engine flow suite and the
//! migration test on the PostgreSQL at `MFA_TEST_POSTGRES_URL` (a fresh
//! table prefix per store). Without the variable the suites are not built
//! and one test says so; with it, a connection failure fails.
#![cfg(feature = "postgres")]

mod common;

#[cfg(mfa_test_postgres)]
mod conformance {
    use super::common::postgres_store;
    mfa_core::store_conformance_tests!(postgres_store);
}

#[cfg(mfa_test_postgres)]
mod units {
    use super::common::postgres_store;
    mfa_core::unit_of_work_conformance_tests!(postgres_store);
}

#[cfg(mfa_test_postgres)]
mod flow {
    use super::common::postgres_store;
    mfa_core::flow_tests!(postgres_store);
}

#[cfg(mfa_test_postgres)]
mod counts {
    use super::common::postgres_store;
    mfa_store_sql::statement_count_tests!(postgres_store);
}

#[cfg(mfa_test_postgres)]
#[mfa_core::testing::tokio::test(crate = "::mfa_core::testing::tokio")]
async fn migrations_apply_to_an_empty_database_and_are_idempotent() {
    use mfa_store_sqlx::sqlx;
    let store = common::postgres_store().await; // migrated once
    let prefix = store.prefix().as_str().to_owned();
    store.migrate().await.expect("second migrate");
    let pool = sqlx::PgPool::connect(&common::postgres_url())
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
        "SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema() \
         AND starts_with(tablename::text, $1)",
    )
    .bind(&prefix)
    .fetch_one(&pool)
    .await
    .expect("count tables");
    assert_eq!(tables, 13, "12 tables and the migration record");
}

#[cfg(not(mfa_test_postgres))]
#[test]
fn postgres_suite_is_skipped_without_its_url() {
    mfa_core::testing::skip::skip(
        "postgres_suite_is_skipped_without_its_url",
        "MFA_TEST_POSTGRES_URL was not set when the tests were built: PostgreSQL tests not compiled",
    );
}

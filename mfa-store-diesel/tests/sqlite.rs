//! The `mfa-core` conformance suite and the engine flow suite on SQLite (a
//! database file per test), plus the migration test.
#![cfg(feature = "sqlite")]

mod common;

mod conformance {
    use super::common::sqlite_store;
    mfa_core::store_conformance_tests!(sqlite_store);
}

mod units {
    use super::common::sqlite_store;
    mfa_core::unit_of_work_conformance_tests!(sqlite_store);
}

mod flow {
    use super::common::sqlite_store;
    mfa_core::flow_tests!(sqlite_store);
}

mod counts {
    use super::common::sqlite_store;
    mfa_store_sql::statement_count_tests!(sqlite_store);
}

#[mfa_core::testing::tokio::test(crate = "::mfa_core::testing::tokio")]
async fn migrations_apply_to_an_empty_database_and_are_idempotent() {
    use mfa_store_sqlx::sqlx;
    let path = common::sqlite_path();
    let url = format!("sqlite://{}", path.display());
    let store = mfa_store_diesel::SqliteStore::connect(&url, 1)
        .await
        .expect("open");
    store.migrate().await.expect("first migrate");
    store.migrate().await.expect("second migrate");
    let custom = mfa_store_diesel::SqliteStore::with_prefix(store.pool().clone(), "host_mfa_")
        .expect("prefix");
    custom
        .migrate()
        .await
        .expect("a second prefix beside the first");
    // Read back through an independent driver.
    let pool = sqlx::SqlitePool::connect(&url).await.expect("sqlx open");
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM mfa_schema_migrations")
        .fetch_all(&pool)
        .await
        .expect("read versions");
    assert_eq!(versions, vec![1, 2], "each migration is recorded once");
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name LIKE 'host\\_mfa\\_%' ESCAPE '\\'",
    )
    .fetch_one(&pool)
    .await
    .expect("count tables");
    assert_eq!(tables, 13, "12 tables and the migration record per prefix");
}

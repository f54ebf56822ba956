//! The `mfa-core` conformance suite on SQLite: a database file per test
//! (WAL, several connections) and a named in-memory shared-cache database
//! per test; plus the migration test.
#![cfg(feature = "sqlite")]

mod common;

mod file {
    use super::common::sqlite_file_store;
    mfa_core::store_conformance_tests!(sqlite_file_store);
}

mod file_units {
    use super::common::sqlite_file_store;
    mfa_core::unit_of_work_conformance_tests!(sqlite_file_store);
}

mod memory {
    use super::common::sqlite_memory_store;
    mfa_core::store_conformance_tests!(sqlite_memory_store);
}

mod counts {
    use super::common::sqlite_file_store;
    mfa_store_sql::statement_count_tests!(sqlite_file_store);
}

#[mfa_core::testing::tokio::test(crate = "::mfa_core::testing::tokio")]
async fn migrations_apply_to_an_empty_database_and_are_idempotent() {
    use mfa_store_sqlx::SqliteStore;
    use mfa_store_sqlx::sqlx;
    let url = format!(
        "sqlite:file:migrate{}?mode=memory&cache=shared",
        uuid::Uuid::now_v7().simple()
    );
    let store = SqliteStore::connect(&url, 1).await.expect("open");
    let empty: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master")
        .fetch_one(store.pool())
        .await
        .expect("count");
    assert_eq!(empty, 0, "the database starts empty");
    store.migrate().await.expect("first migrate");
    store.migrate().await.expect("second migrate");
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM mfa_schema_migrations")
        .fetch_all(store.pool())
        .await
        .expect("read versions");
    assert_eq!(versions, vec![1, 2], "each migration is recorded once");
    let custom = SqliteStore::with_prefix(store.pool().clone(), "host_mfa_").expect("prefix");
    custom
        .migrate()
        .await
        .expect("a second prefix beside the first");
    let tables: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name LIKE 'host\\_mfa\\_%' ESCAPE '\\'",
    )
    .fetch_one(store.pool())
    .await
    .expect("count tables");
    assert_eq!(tables, 13, "12 tables and the migration record per prefix");
}

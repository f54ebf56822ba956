//! The `mfa-core` conformance suite on SQLite: a database file per test
//! (WAL, several connections) and a named in-memory shared-cache database
//! per test; plus the unit-of-work suite and the migration test on files.
#![cfg(all(feature = "sqlite", feature = "testing"))]

mod common;

mod file {
    mfa_store_sql::sql_store_tests!(sqlite: mfa_store_sqlx::SqliteStore = crate::common::sqlite_file_store;
        conformance, units, counts, migrations(mfa_store_sqlx::testing::schema::sqlite_migrated));
}

mod memory {
    mfa_store_sql::sql_store_tests!(sqlite: mfa_store_sqlx::SqliteStore = crate::common::sqlite_memory_store;
        conformance);
}

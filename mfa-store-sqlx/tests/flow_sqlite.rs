//! The `mfa-core` engine flow suite and the tamper suite of the audit
//! chains on SQLite (a database file per test).
#![cfg(all(feature = "sqlite", feature = "testing"))]

mod common;

mfa_store_sql::sql_store_tests!(sqlite: mfa_store_sqlx::SqliteStore = crate::common::sqlite_file_store;
    flow, audit_chains);

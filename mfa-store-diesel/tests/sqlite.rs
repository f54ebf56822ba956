//! The `mfa-core` conformance, unit-of-work and engine flow suites on
//! SQLite (a database file per test), plus the migration test.
#![cfg(feature = "sqlite")]

mod common;

mfa_store_sql::sql_store_tests!(sqlite: mfa_store_diesel::SqliteStore = crate::common::sqlite_store;
    conformance, units, counts, flow, migrations(crate::common::schema::sqlite_migrated));

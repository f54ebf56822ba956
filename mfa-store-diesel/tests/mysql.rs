//! The `mfa-core` conformance, unit-of-work, engine flow and audit chain
//! tamper suites and the migration test on the MySQL/MariaDB at
//! `MFA_TEST_MYSQL_URL` (a fresh table prefix per store). Without the
//! variable the suites are not built and one test says so; with it, a
//! connection failure fails.
#![cfg(feature = "mysql")]

mod common;

mfa_store_sql::sql_store_tests!(mysql: mfa_store_diesel::MySqlStore = crate::common::mysql_store;
    conformance, units, counts, flow, audit_chains,
    migrations(mfa_store_sqlx::testing::schema::mysql_migrated));

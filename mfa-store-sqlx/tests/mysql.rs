//! The `mfa-core` conformance and unit-of-work suites and the migration
//! test on the MySQL or MariaDB at `MFA_TEST_MYSQL_URL` (a fresh table
//! prefix per test). Without the variable the suites are not built and one
//! test says so.
#![cfg(all(feature = "mysql", feature = "testing"))]

mod common;

mfa_store_sql::sql_store_tests!(mysql: mfa_store_sqlx::MySqlStore = crate::common::mysql_store;
    conformance, units, counts, migrations(mfa_store_sqlx::testing::schema::mysql_migrated));

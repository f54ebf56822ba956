//! The `mfa-core` conformance and unit-of-work suites and the migration
//! test on the PostgreSQL at `MFA_TEST_POSTGRES_URL` (a fresh table prefix
//! per test). Without the variable the suites are not built and one test
//! says so.
#![cfg(feature = "postgres")]

mod common;

mfa_store_sql::sql_store_tests!(postgres: mfa_store_sqlx::PgStore = crate::common::postgres_store;
    conformance, units, counts, migrations(crate::common::schema::postgres_migrated));

//! The `mfa-core` engine flow suite and the tamper suite of the audit
//! chains on the PostgreSQL at `MFA_TEST_POSTGRES_URL` (a fresh table
//! prefix per test).
#![cfg(all(feature = "postgres", feature = "testing"))]

mod common;

mfa_store_sql::sql_store_tests!(postgres: mfa_store_sqlx::PgStore = crate::common::postgres_store;
    flow, audit_chains);

//! The `mfa-core` engine flow suite and the tamper suite of the audit
//! chains on the MySQL or MariaDB at `MFA_TEST_MYSQL_URL` (a fresh table
//! prefix per test).
#![cfg(all(feature = "mysql", feature = "testing"))]

mod common;

mfa_store_sql::sql_store_tests!(mysql: mfa_store_sqlx::MySqlStore = crate::common::mysql_store;
    flow, audit_chains);

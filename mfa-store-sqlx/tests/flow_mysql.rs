//! The `mfa-core` engine flow suite on the MySQL or MariaDB at
//! `MFA_TEST_MYSQL_URL` (a fresh table prefix per test).
#![cfg(feature = "mysql")]

mod common;

#[cfg(mfa_test_mysql)]
mod on_mysql {
    use super::common::mysql_store;
    mfa_core::flow_tests!(mysql_store);
}

#[cfg(not(mfa_test_mysql))]
#[test]
fn mysql_flow_suite_is_skipped_without_its_url() {
    mfa_core::testing::skip::skip(
        "mysql_flow_suite_is_skipped_without_its_url",
        "MFA_TEST_MYSQL_URL was not set when the tests were built: MySQL flow tests not compiled",
    );
}

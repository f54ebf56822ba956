//! The `mfa-core` engine flow suite on the PostgreSQL at
//! `MFA_TEST_POSTGRES_URL` (a fresh table prefix per test).
#![cfg(feature = "postgres")]

mod common;

#[cfg(mfa_test_postgres)]
mod on_postgres {
    use super::common::postgres_store;
    mfa_core::flow_tests!(postgres_store);
}

#[cfg(not(mfa_test_postgres))]
#[test]
fn postgres_flow_suite_is_skipped_without_its_url() {
    mfa_core::testing::skip::skip(
        "postgres_flow_suite_is_skipped_without_its_url",
        "MFA_TEST_POSTGRES_URL was not set when the tests were built: PostgreSQL flow tests not compiled",
    );
}

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
    eprintln!("MFA_TEST_POSTGRES_URL is not set: PostgreSQL flow tests skipped");
}

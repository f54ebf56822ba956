//! How many store calls each engine step makes, counted through
//! `CountingStore`: a guard against steps quietly growing extra round trips
//! (every call is a network round trip on the SQL stores). The figures are
//! the ones `docs/performance.md` reports.

use mfa_core::model::FactorKind;
use mfa_core::testing::counting::CountingStore;
use mfa_core::testing::flow::harness::{Harness, expect_mfa_ticket};
use mfa_store_memory::MemoryStore;
use std::sync::Arc;

#[tokio::test]
async fn engine_steps_make_a_fixed_number_of_store_calls() {
    let h = Harness::new(Arc::new(CountingStore::new(MemoryStore::new())));
    let user = h.user_with_totp("counted").await;

    h.store.reset();
    let ticket = expect_mfa_ticket(h.login(&user.user).await);
    assert_eq!(h.store.reset(), 13, "login → MFA required");

    h.next_step();
    let code = h.totp_code(&user.secret);
    let verified = h
        .verify(&ticket, FactorKind::Totp, &code)
        .await
        .expect("verify failed");
    assert_eq!(h.store.reset(), 11, "verify TOTP");

    h.mfa
        .authenticate(&verified.tokens.access_token)
        .await
        .expect("authenticate failed");
    assert_eq!(h.store.reset(), 1, "authenticate");

    h.mfa
        .refresh(&verified.tokens.refresh_token, &h.client())
        .await
        .expect("refresh failed");
    assert_eq!(h.store.reset(), 2, "refresh");
}

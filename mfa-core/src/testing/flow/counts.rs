//! Round trips and commits of each engine step, counted through
//! [`CountingStore`]: every step is one unit of work (one commit) and
//! makes a fixed number of store calls, so a step that quietly grows an
//! extra call or an extra commit fails here, on every backend.
//!
//! A round trip here is one repository call, or the begin or the end of a
//! unit: what one network round trip costs on a SQL store when each call is
//! one statement. The SQL stores pin their statements per call in their own
//! tests.

use super::harness::{Harness, expect_mfa_ticket};
use crate::model::{FactorKind, OtpChannel};
use crate::store::Store;
use crate::testing::counting::CountingStore;
use secrecy::ExposeSecret;
use std::sync::Arc;

/// Takes the store back out of the `Arc` the suite hands over (the flow
/// suite creates it fresh for each test, so nothing else holds it).
fn counted<S: Store>(store: Arc<S>) -> Arc<CountingStore<S>> {
    let Ok(store) = Arc::try_unwrap(store) else {
        panic!("the flow suite hands over a store nobody else holds");
    };
    Arc::new(CountingStore::new(store))
}

/// Runs the counted sign-in flow on `h`: login → MFA required, verify
/// TOTP, authenticate, refresh, logout, a login of an email-code user and
/// its email code, a login answered with a backup code; `mark(step)` is called after each, so a caller can read
/// its counters. Users are enrolled before the first mark. Store crates use
/// it to pin their own statement counts.
///
/// # Panics
/// When a step fails.
pub async fn counted_sign_in_flow<S: Store>(h: &Harness<S>, mut mark: impl FnMut(&'static str)) {
    let user = h.user_with_totp("counted").await;
    let (otp_user, _) = h.user_with_otp("counted-otp", OtpChannel::Email).await;
    mark("set-up");
    let ticket = expect_mfa_ticket(h.login(&user.user).await);
    mark("login → MFA required");
    h.next_step();
    let code = h.totp_code(&user.secret);
    let verified = h
        .verify(&ticket, FactorKind::Totp, &code)
        .await
        .expect("verify failed");
    mark("verify TOTP");
    let claims = h
        .mfa
        .authenticate(&verified.tokens.access_token)
        .await
        .expect("authenticate failed");
    mark("authenticate");
    h.mfa
        .refresh(&verified.tokens.refresh_token, &h.client())
        .await
        .expect("refresh failed");
    mark("refresh");
    h.mfa.logout(&claims).await.expect("logout failed");
    mark("logout");
    let ticket = expect_mfa_ticket(h.login(&otp_user).await);
    mark("login (email user)");
    h.mfa
        .send_challenge(&ticket, OtpChannel::Email)
        .await
        .expect("send_challenge failed");
    mark("send an email code");
    let ticket = expect_mfa_ticket(h.login(&user.user).await);
    mark("login (backup-code answer)");
    let code = user.backup_codes[0].expose_secret();
    h.verify(&ticket, FactorKind::BackupCodes, code)
        .await
        .expect("verify with a backup code failed");
    mark("verify backup code");
}

/// (round trips, commits) of each step of [`counted_sign_in_flow`].
pub async fn each_step_commits_once_with_pinned_round_trips<S: Store>(store: Arc<S>) {
    let store = counted(store);
    let h = Harness::new(Arc::clone(&store));
    let mut seen = Vec::new();
    counted_sign_in_flow(&h, |step| seen.push((step, store.take()))).await;
    seen.remove(0);
    let login = (13, 2);
    let expected = [
        // Two units around the password hash (count, then decide).
        ("login → MFA required", login),
        ("verify TOTP", (11, 1)),
        ("authenticate", (1, 0)),
        ("refresh", (4, 1)),
        ("logout", (5, 1)),
        ("login (email user)", login),
        ("send an email code", (7, 1)),
        ("login (backup-code answer)", login),
        // The unit, then the notice of a spent code (its audit event
        // written after delivery, in a unit of its own).
        ("verify backup code", (14, 1)),
    ];
    assert_eq!(
        seen, expected,
        "(round trips, commits) per step changed; update the pins and docs/performance.md"
    );
}

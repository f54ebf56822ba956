//! Sessions and tokens after sign-in: refresh rotation and reuse, access
//! tokens, step-up freshness, logout and revocation.

use super::harness::{Harness, expect_err, expect_mfa_ticket};
use crate::model::{Aal, AuditKind, FactorKind, NotificationKind};
use crate::store::{AuditFilter, Store};
use crate::{LoginOutcome, Tokens};
use chrono::TimeDelta;
use std::sync::Arc;

/// A new user `name`, signed in (`first`) and refreshed once (`second`,
/// from `first`'s refresh token).
pub(super) async fn signed_in_and_refreshed<S: Store>(
    h: &Harness<S>,
    name: &str,
) -> (super::harness::TestUser, Tokens, Tokens) {
    let user = h.create_user(name).await;
    let first = h.sign_in(&user).await;
    let second = h
        .mfa
        .refresh(&first.refresh_token, &h.client())
        .await
        .expect("refresh failed");
    (user, first, second)
}

/// R38: a refresh returns new tokens with a different refresh token, of the
/// same session, AAL and methods; the spent token no longer works.
pub async fn r38_refresh_rotates_the_refresh_token<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("alice").await;
    let first = h.sign_in_with_totp(&user).await.tokens;
    h.advance(TimeDelta::minutes(1));
    let second = h
        .mfa
        .refresh(&first.refresh_token, &h.client())
        .await
        .expect("refresh failed");
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_ne!(second.access_token, first.access_token);
    assert_eq!(second.session_id, first.session_id);
    assert_eq!(second.aal, Aal::Aal2);
    assert_eq!(second.amr, first.amr);
    h.mfa
        .authenticate(&second.access_token)
        .await
        .expect("the new access token works");
    let third = h
        .mfa
        .refresh(&second.refresh_token, &h.client())
        .await
        .expect("the new refresh token works");
    assert_ne!(third.refresh_token, second.refresh_token);
}

/// R39: presenting a rotated refresh token again answers `token_reused`,
/// revokes the family (the newest token fails too) and the session (its
/// access token fails), is audited and announced.
pub async fn r39_refresh_reuse_revokes_family_and_session<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let (user, first, second) = signed_in_and_refreshed(&h, "bob").await;
    expect_err(
        h.mfa.refresh(&first.refresh_token, &h.client()).await,
        "token_reused",
    );
    expect_err(
        h.mfa.refresh(&second.refresh_token, &h.client()).await,
        "invalid_token",
    );
    expect_err(
        h.mfa.authenticate(&second.access_token).await,
        "invalid_token",
    );
    expect_err(
        h.mfa.authenticate(&first.access_token).await,
        "invalid_token",
    );
    assert!(h.mfa.sessions(user.id).await.expect("sessions").is_empty());
    let reused = h
        .audit_matching(&AuditFilter {
            user_id: Some(user.id),
            kinds: vec![AuditKind::RefreshTokenReused],
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(reused.len(), 1);
    assert_eq!(reused[0].session_id, Some(first.session_id));
    assert!(
        reused[0].metadata.get("family").is_some(),
        "the family is recorded"
    );
    assert_eq!(h.notified(&user, NotificationKind::TokenReused), 1);
}

/// R39: reuse of one session's token leaves the user's other sessions alone.
pub async fn refresh_reuse_spares_other_sessions<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("cid").await;
    let stolen = h.sign_in(&user).await;
    let other = h.sign_in(&user).await;
    h.mfa
        .refresh(&stolen.refresh_token, &h.client())
        .await
        .expect("refresh failed");
    expect_err(
        h.mfa.refresh(&stolen.refresh_token, &h.client()).await,
        "token_reused",
    );
    h.mfa
        .authenticate(&other.access_token)
        .await
        .expect("the other session stays");
    h.mfa
        .refresh(&other.refresh_token, &h.client())
        .await
        .expect("its refresh works");
}

/// The reuse grace of the tests that turn it on.
const GRACE: TimeDelta = TimeDelta::seconds(10);

/// A harness whose policy gives refresh-token reuse a grace of [`GRACE`].
fn with_grace<S: Store>(store: Arc<S>) -> Harness<S> {
    Harness::with_policy(store, |p| p.session.refresh_reuse_grace = GRACE)
}

/// The `refresh_token_retried` events of `user`.
async fn retried_events<S: Store>(h: &Harness<S>, user: &super::harness::TestUser) -> usize {
    h.audit_matching(&AuditFilter {
        user_id: Some(user.id),
        kinds: vec![AuditKind::RefreshTokenRetried],
        ..AuditFilter::default()
    })
    .await
    .len()
}

/// Reuse grace: a retry of the just-rotated token inside the grace interval
/// gets the same new refresh token and a working access token of the same
/// session; nothing is revoked, the retry is audited, nobody is alerted,
/// and the new token goes on working.
pub async fn refresh_retry_within_the_grace_gets_the_same_refresh_token<S: Store>(store: Arc<S>) {
    let h = with_grace(store);
    let (user, first, second) = signed_in_and_refreshed(&h, "gus").await;
    h.advance(GRACE - TimeDelta::seconds(1));
    let retried = h
        .mfa
        .refresh(&first.refresh_token, &h.client())
        .await
        .expect("a retry within the grace succeeds");
    assert_eq!(
        retried.refresh_token, second.refresh_token,
        "the retry gets the refresh token it missed"
    );
    assert_eq!(retried.refresh_expires_at, second.refresh_expires_at);
    assert_eq!(retried.session_id, second.session_id);
    let claims = h
        .mfa
        .authenticate(&retried.access_token)
        .await
        .expect("the retry's access token works");
    assert_eq!(claims.sid, second.session_id);
    h.mfa
        .authenticate(&second.access_token)
        .await
        .expect("the first answer's access token still works");
    assert_eq!(retried_events(&h, &user).await, 1, "the retry is audited");
    assert_eq!(h.notified(&user, NotificationKind::TokenReused), 0);
    let third = h
        .mfa
        .refresh(&retried.refresh_token, &h.client())
        .await
        .expect("the new refresh token still rotates");
    assert_ne!(third.refresh_token, second.refresh_token);
}

/// Reuse grace: a retry after the grace interval is reuse: `token_reused`,
/// and no token or access token of the family works afterwards.
pub async fn refresh_retry_after_the_grace_revokes_the_family<S: Store>(store: Arc<S>) {
    let h = with_grace(store);
    let (user, first, second) = signed_in_and_refreshed(&h, "hal").await;
    h.advance(GRACE);
    expect_err(
        h.mfa.refresh(&first.refresh_token, &h.client()).await,
        "token_reused",
    );
    expect_err(
        h.mfa.refresh(&second.refresh_token, &h.client()).await,
        "invalid_token",
    );
    expect_err(
        h.mfa.refresh(&first.refresh_token, &h.client()).await,
        "invalid_token",
    );
    expect_err(
        h.mfa.authenticate(&second.access_token).await,
        "invalid_token",
    );
    assert!(h.mfa.sessions(user.id).await.expect("sessions").is_empty());
    assert_eq!(retried_events(&h, &user).await, 0);
    assert_eq!(h.notified(&user, NotificationKind::TokenReused), 1);
}

/// Reuse grace: only the predecessor of the family's active token gets
/// grace. Once the new token was rotated in turn, a retry of the token
/// before it revokes the family, even inside its grace interval.
pub async fn refresh_retry_of_an_older_token_revokes_the_family<S: Store>(store: Arc<S>) {
    let h = with_grace(store);
    let (user, first, second) = signed_in_and_refreshed(&h, "ida").await;
    h.advance(TimeDelta::seconds(1));
    let third = h
        .mfa
        .refresh(&second.refresh_token, &h.client())
        .await
        .expect("refresh failed");
    h.advance(TimeDelta::seconds(1));
    expect_err(
        h.mfa.refresh(&first.refresh_token, &h.client()).await,
        "token_reused",
    );
    for token in [&second, &third] {
        expect_err(
            h.mfa.refresh(&token.refresh_token, &h.client()).await,
            "invalid_token",
        );
        expect_err(
            h.mfa.authenticate(&token.access_token).await,
            "invalid_token",
        );
    }
    assert_eq!(retried_events(&h, &user).await, 0);
}

/// Reuse grace is off by default: an immediate retry of a rotated token is
/// reuse and revokes the family, as without the setting.
pub async fn refresh_reuse_grace_is_off_by_default<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    assert_eq!(
        h.mfa.policy().session.refresh_reuse_grace,
        TimeDelta::zero()
    );
    let (user, first, second) = signed_in_and_refreshed(&h, "jon").await;
    expect_err(
        h.mfa.refresh(&first.refresh_token, &h.client()).await,
        "token_reused",
    );
    expect_err(
        h.mfa.refresh(&second.refresh_token, &h.client()).await,
        "invalid_token",
    );
    assert_eq!(retried_events(&h, &user).await, 0);
}

/// R40: a session ends at its absolute lifetime (90 days) even when it was
/// refreshed within every sliding window.
pub async fn r40_session_ends_at_its_absolute_lifetime_despite_refreshes<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("dee").await;
    let mut tokens = h.sign_in(&user).await;
    let start = h.now();
    for _ in 0..3 {
        h.advance(TimeDelta::days(29));
        tokens = h
            .mfa
            .refresh(&tokens.refresh_token, &h.client())
            .await
            .expect("sliding refresh");
        assert!(tokens.refresh_expires_at <= start + h.mfa.policy().session.absolute);
    }
    h.clock.set(start + h.mfa.policy().session.absolute);
    expect_err(
        h.mfa.refresh(&tokens.refresh_token, &h.client()).await,
        "invalid_token",
    );
}

/// R36: under [`crate::policy::Policy::nist`] a session is refused after 30
/// minutes without activity and 12 hours after sign-in; each refresh
/// (activity) resets only the idle timer, and a new sign-in starts afresh.
pub async fn r36_nist_profile_ends_sessions_after_30_min_idle_and_12_h<S: Store>(store: Arc<S>) {
    let h = Harness::with_policy(store, |p| *p = crate::policy::Policy::nist());
    let user = h.create_user("nia").await;

    // Idle: 29 minutes are fine and reset the timer; 31 are not.
    let tokens = h.sign_in(&user).await;
    h.advance(TimeDelta::minutes(29));
    let tokens = h
        .mfa
        .refresh(&tokens.refresh_token, &h.client())
        .await
        .expect("refresh within the idle limit");
    h.advance(TimeDelta::minutes(29));
    let tokens = h
        .mfa
        .refresh(&tokens.refresh_token, &h.client())
        .await
        .expect("refresh within the idle limit, timer reset by activity");
    h.advance(TimeDelta::minutes(31));
    expect_err(
        h.mfa.refresh(&tokens.refresh_token, &h.client()).await,
        "invalid_token",
    );

    // Absolute: activity every 20 minutes keeps the session for 12 hours,
    // not longer.
    let start = h.now();
    let mut tokens = h.sign_in(&user).await;
    while h.now() + TimeDelta::minutes(20) < start + TimeDelta::hours(12) {
        h.advance(TimeDelta::minutes(20));
        tokens = h
            .mfa
            .refresh(&tokens.refresh_token, &h.client())
            .await
            .expect("active session within 12 hours");
        assert!(tokens.refresh_expires_at <= start + TimeDelta::hours(12));
    }
    h.clock.set(start + TimeDelta::hours(12));
    expect_err(
        h.mfa.refresh(&tokens.refresh_token, &h.client()).await,
        "invalid_token",
    );
    // Re-authentication starts a new session with both timers reset.
    let fresh = h.sign_in(&user).await;
    h.advance(TimeDelta::minutes(29));
    h.mfa
        .refresh(&fresh.refresh_token, &h.client())
        .await
        .expect("a new sign-in resets both timers");
}

/// R40: an unused refresh token expires after the sliding window.
pub async fn r40_idle_refresh_token_expires<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("eli").await;
    let tokens = h.sign_in(&user).await;
    h.advance(h.mfa.policy().session.refresh_sliding + TimeDelta::seconds(1));
    expect_err(
        h.mfa.refresh(&tokens.refresh_token, &h.client()).await,
        "invalid_token",
    );
}

/// Garbage and unknown refresh tokens are `invalid_token`.
pub async fn unknown_refresh_token_is_invalid_token<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let unknown = crate::crypto::OpaqueToken::generate();
    for token in ["", "garbage", &"r".repeat(5000), unknown.expose()] {
        expect_err(h.mfa.refresh(token, &h.client()).await, "invalid_token");
    }
}

/// R32: `authenticate` rejects garbage, truncated and tampered tokens.
pub async fn authenticate_rejects_garbage_and_tampered_tokens<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("fox").await;
    let tokens = h.sign_in(&user).await;
    let token = tokens.access_token.clone();
    let mut tampered = token.clone().into_bytes();
    let mid = tampered.len() / 2;
    tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap_or_default();
    let truncated = token[..token.len() - 4].to_owned();
    for bad in [
        "",
        "garbage",
        "a.b.c",
        &tampered,
        &truncated,
        &tokens.refresh_token,
    ] {
        expect_err(h.mfa.authenticate(bad).await, "invalid_token");
    }
    h.mfa
        .authenticate(&token)
        .await
        .expect("the genuine token works");
}

/// R33: an access token past its lifetime (15 minutes plus leeway) is
/// rejected.
pub async fn r33_expired_access_token_is_rejected<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("gus").await;
    let tokens = h.sign_in(&user).await;
    h.advance(TimeDelta::minutes(14));
    h.mfa
        .authenticate(&tokens.access_token)
        .await
        .expect("valid before expiry");
    h.advance(TimeDelta::minutes(2));
    expect_err(
        h.mfa.authenticate(&tokens.access_token).await,
        "invalid_token",
    );
}

/// R35: after logout the session's access token fails at once, and its
/// refresh token too.
pub async fn r35_logout_invalidates_the_access_token<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("hope").await;
    let tokens = h.sign_in(&user).await;
    let claims = h
        .mfa
        .authenticate(&tokens.access_token)
        .await
        .expect("authenticate");
    h.mfa.logout(&claims).await.expect("logout failed");
    expect_err(
        h.mfa.authenticate(&tokens.access_token).await,
        "invalid_token",
    );
    expect_err(
        h.mfa.refresh(&tokens.refresh_token, &h.client()).await,
        "invalid_token",
    );
    h.mfa
        .logout(&claims)
        .await
        .expect("logging out twice is not an error");
}

/// R35: a password change ends the user's other sessions.
pub async fn r35_password_change_ends_other_sessions<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("ian").await;
    let other = h.sign_in(&user).await;
    let current = h.sign_in(&user).await;
    let claims = h
        .mfa
        .authenticate(&current.access_token)
        .await
        .expect("authenticate");
    let new = crate::crypto::SecretString::from("a-brand-new-password");
    h.mfa
        .change_password(&claims, &user.password, &new)
        .await
        .expect("change_password");
    expect_err(
        h.mfa.authenticate(&other.access_token).await,
        "invalid_token",
    );
    h.mfa
        .authenticate(&current.access_token)
        .await
        .expect("the current session stays");
    expect_err(h.login(&user).await, "invalid_credentials");
    expect_err(
        h.mfa.change_password(&claims, &new, &user.password).await,
        "invalid_input",
    );
}

/// `require_recent_mfa` accepts a session whose MFA is within `max_age`.
pub async fn require_recent_mfa_accepts_a_fresh_mfa_session<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("jade").await;
    let tokens = h.sign_in_with_totp(&user).await.tokens;
    let claims = h
        .mfa
        .authenticate(&tokens.access_token)
        .await
        .expect("authenticate");
    h.advance(TimeDelta::minutes(4));
    h.mfa
        .require_recent_mfa(&claims, TimeDelta::minutes(5))
        .expect("MFA four minutes ago is recent");
}

/// `require_recent_mfa` answers `step_up_required` once `max_age` passed.
pub async fn require_recent_mfa_refuses_an_old_mfa_session<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("kurt").await;
    let tokens = h.sign_in_with_totp(&user).await.tokens;
    let claims = h
        .mfa
        .authenticate(&tokens.access_token)
        .await
        .expect("authenticate");
    h.advance(TimeDelta::minutes(6));
    expect_err(
        h.mfa.require_recent_mfa(&claims, TimeDelta::minutes(5)),
        "step_up_required",
    );
}

/// `require_recent_mfa` answers `step_up_required` for an AAL1 session,
/// however recent.
pub async fn require_recent_mfa_refuses_an_aal1_session<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("lara").await;
    let tokens = h.sign_in(&user).await;
    let claims = h
        .mfa
        .authenticate(&tokens.access_token)
        .await
        .expect("authenticate");
    expect_err(
        h.mfa.require_recent_mfa(&claims, TimeDelta::minutes(5)),
        "step_up_required",
    );
}

/// R37: a step-up creates a new session with a fresh MFA time and revokes
/// the old one; the new session may change factors again.
pub async fn r37_step_up_replaces_the_session<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("milo").await;
    let old = h.sign_in_with_totp(&user).await.tokens;
    let old_claims = h
        .mfa
        .authenticate(&old.access_token)
        .await
        .expect("authenticate");
    h.advance(TimeDelta::minutes(11));
    let ticket = expect_mfa_ticket(h.mfa.begin_step_up(&old_claims).await);
    let code = h.totp_code(&user.secret);
    let new = h
        .verify(&ticket, FactorKind::Totp, &code)
        .await
        .expect("step-up verify")
        .tokens;
    assert_ne!(new.session_id, old.session_id);
    assert_eq!(new.aal, Aal::Aal2);
    expect_err(h.mfa.authenticate(&old.access_token).await, "invalid_token");
    expect_err(
        h.mfa.refresh(&old.refresh_token, &h.client()).await,
        "invalid_token",
    );
    let claims = h
        .mfa
        .authenticate(&new.access_token)
        .await
        .expect("the new session works");
    h.mfa
        .require_recent_mfa(&claims, TimeDelta::minutes(5))
        .expect("the step-up is recent");
    h.mfa
        .regenerate_backup_codes(crate::Actor::Session(&claims))
        .await
        .expect("factor changes are allowed again");
}

/// A step-up needs a second factor to step up with.
pub async fn step_up_without_factors_is_method_unavailable<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("nico").await;
    let tokens = h.sign_in(&user).await;
    let claims = h
        .mfa
        .authenticate(&tokens.access_token)
        .await
        .expect("authenticate");
    let outcome: crate::MfaResult<LoginOutcome> = h.mfa.begin_step_up(&claims).await;
    expect_err(outcome, "method_unavailable");
}

/// `sessions` lists the user's live sessions, newest first, with their
/// devices.
pub async fn sessions_are_listed_with_their_devices<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("oona").await;
    let a = h.sign_in(&user).await;
    h.advance(TimeDelta::seconds(1));
    let b =
        super::harness::expect_authenticated(h.login_from(&user, h.client_on("fp-laptop")).await);
    let listed = h.mfa.sessions(user.id).await.expect("sessions");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].session.id, b.session_id);
    assert_eq!(listed[1].session.id, a.session_id);
    for view in &listed {
        let device = view.device.as_ref().expect("each session has its device");
        assert_eq!(Some(device.id), view.session.device_id);
    }
    assert_ne!(
        listed[0].device.as_ref().map(|d| d.id),
        listed[1].device.as_ref().map(|d| d.id)
    );
}

/// `revoke_session` ends one session of the user, and only the user's own.
pub async fn revoke_session_ends_one_session<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("pat").await;
    let stranger = h.create_user("quinn").await;
    let a = h.sign_in(&user).await;
    let b = h.sign_in(&user).await;
    expect_err(
        h.mfa.revoke_session(stranger.id, a.session_id).await,
        "not_found",
    );
    h.mfa
        .authenticate(&a.access_token)
        .await
        .expect("still live");
    h.mfa
        .revoke_session(user.id, a.session_id)
        .await
        .expect("revoke_session");
    expect_err(h.mfa.authenticate(&a.access_token).await, "invalid_token");
    h.mfa
        .authenticate(&b.access_token)
        .await
        .expect("the other session stays");
}

/// `revoke_all_sessions` ends every session but the one kept.
pub async fn revoke_all_sessions_keeps_only_the_excepted_one<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("rex").await;
    let a = h.sign_in(&user).await;
    let b = h.sign_in(&user).await;
    let keep = h.sign_in(&user).await;
    assert_eq!(
        h.mfa
            .revoke_all_sessions(user.id, Some(keep.session_id))
            .await
            .ok(),
        Some(2)
    );
    expect_err(h.mfa.authenticate(&a.access_token).await, "invalid_token");
    expect_err(h.mfa.authenticate(&b.access_token).await, "invalid_token");
    h.mfa.authenticate(&keep.access_token).await.expect("kept");
    assert_eq!(h.mfa.revoke_all_sessions(user.id, None).await.ok(), Some(1));
    expect_err(
        h.mfa.authenticate(&keep.access_token).await,
        "invalid_token",
    );
}

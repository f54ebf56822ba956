//! Sign-in with a password ([`crate::Mfa::login`]) and with a first factor
//! the host checked itself ([`crate::Mfa::begin_after_primary_auth`]).

use super::harness::{Harness, expect_authenticated, expect_err, expect_mfa_ticket};
use crate::crypto::SecretString;
use crate::model::{Aal, AuditKind, AuthMethod, FactorKind, NotificationKind, UserStatus};
use crate::store::{AuditFilter, Store};
use crate::{ClientInfo, LoginOutcome, LoginRequest};
use chrono::TimeDelta;
use std::sync::Arc;

/// A user without a second factor signs in with the password alone, at
/// AAL1 with `amr = [pwd]`.
pub async fn password_without_mfa_signs_in_at_aal1<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("alice").await;
    let tokens = expect_authenticated(h.login(&user).await);
    assert_eq!(tokens.aal, Aal::Aal1);
    assert_eq!(tokens.amr, [AuthMethod::Pwd]);
    let claims = h
        .mfa
        .authenticate(&tokens.access_token)
        .await
        .expect("the access token works");
    assert_eq!(claims.sub, user.id);
    assert_eq!(claims.aal, Aal::Aal1);
}

/// The identifier is matched trimmed and case-insensitively.
pub async fn identifier_is_matched_trimmed_and_case_insensitively<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("casey").await;
    let outcome = h
        .mfa
        .login(LoginRequest {
            identifier: format!("  {}  ", user.identifier.to_uppercase()),
            password: user.password.clone(),
            client: h.client(),
        })
        .await;
    expect_authenticated(outcome);
}

/// With an authenticator app enrolled the password only yields a ticket,
/// listing the methods the user can complete.
pub async fn password_with_totp_enrolled_requires_mfa<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("bob").await;
    match h.login(&user.user).await.expect("login failed") {
        LoginOutcome::MfaRequired {
            ticket,
            methods,
            expires_at,
        } => {
            assert!(!ticket.is_empty());
            assert_eq!(methods, [FactorKind::Totp, FactorKind::BackupCodes]);
            assert_eq!(expires_at, h.now() + TimeDelta::minutes(10));
        }
        other => panic!("expected MfaRequired, got {other:?}"),
    }
}

/// A wrong password answers `invalid_credentials`.
pub async fn wrong_password_is_invalid_credentials<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("carol").await;
    expect_err(
        h.login_with_password(&user, "not-the-password").await,
        "invalid_credentials",
    );
    assert_eq!(h.stored_user(user.id).await.password_failures.failures, 1);
}

/// R53: an unknown identifier fails exactly like a wrong password, and its
/// audit event names no user.
pub async fn r53_unknown_user_and_wrong_password_fail_alike<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("dave").await;
    let wrong = expect_err(
        h.login_with_password(&user, "not-the-password").await,
        "invalid_credentials",
    );
    let unknown = expect_err(
        h.mfa
            .login(LoginRequest {
                identifier: "nobody@example.test".into(),
                password: SecretString::from("whatever-password"),
                client: h.client(),
            })
            .await,
        "invalid_credentials",
    );
    assert_eq!(wrong.to_string(), unknown.to_string());
    assert_eq!(wrong.retry_after(), unknown.retry_after());
    let attempts = h
        .audit_matching(&AuditFilter {
            kinds: vec![AuditKind::PasswordLogin],
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(attempts.len(), 2, "both attempts are audited");
    assert!(
        attempts.iter().any(|e| e.user_id.is_none()),
        "the unknown identifier's event names no user"
    );
    assert!(attempts.iter().any(|e| e.user_id == Some(user.id)));
}

/// After `password_lockout.threshold` wrong passwords even the right one
/// answers `invalid_credentials` while the lock lasts (R53: a locked account
/// looks like a wrong password).
pub async fn password_lockout_refuses_the_right_password_while_locked<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("erin").await;
    let threshold = h.mfa.policy().password_lockout.threshold;
    for _ in 0..threshold {
        expect_err(
            h.login_with_password(&user, "wrong-password").await,
            "invalid_credentials",
        );
    }
    expect_err(h.login(&user).await, "invalid_credentials");
    h.advance(TimeDelta::minutes(14));
    expect_err(h.login(&user).await, "invalid_credentials");
}

/// R22: the password lock ends after its time; then the right password
/// works again.
pub async fn password_lock_ends_when_its_time_is_up<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("frank").await;
    let rule = h.mfa.policy().password_lockout;
    for _ in 0..rule.threshold {
        expect_err(
            h.login_with_password(&user, "wrong-password").await,
            "invalid_credentials",
        );
    }
    h.advance(rule.base_lock);
    expect_authenticated(h.login(&user).await);
    assert_eq!(h.stored_user(user.id).await.password_failures.failures, 0);
}

/// R25: the password lock is audited and the user notified, once.
pub async fn r25_password_lock_is_audited_and_notified<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("gina").await;
    let threshold = h.mfa.policy().password_lockout.threshold;
    for _ in 0..threshold + 2 {
        expect_err(
            h.login_with_password(&user, "wrong-password").await,
            "invalid_credentials",
        );
    }
    let locks = h
        .audit_matching(&AuditFilter {
            user_id: Some(user.id),
            kinds: vec![AuditKind::AccountLocked],
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(locks.len(), 1);
    assert_eq!(h.notified(&user, NotificationKind::AccountLocked), 1);
}

/// Sign-ins per identifier are capped: the next one is `rate_limited` with
/// a `retry_after`, even with the right password.
pub async fn per_identifier_rate_limit_answers_rate_limited<S: Store>(store: Arc<S>) {
    let h = Harness::with_policy(store, |p| p.login_rate.per_identifier = 3);
    let user = h.create_user("hank").await;
    for _ in 0..3 {
        expect_err(
            h.login_with_password(&user, "wrong-password").await,
            "invalid_credentials",
        );
    }
    let limited = expect_err(h.login(&user).await, "rate_limited");
    let wait = limited
        .retry_after()
        .expect("rate_limited carries retry_after");
    assert!(
        wait.as_secs() > 0 && wait.as_secs() <= 15 * 60,
        "retry_after {wait:?}"
    );
    h.advance(TimeDelta::minutes(15));
    expect_authenticated(h.login(&user).await);
}

/// R46: a sign-in refused by a rate limit is audited (once, as denied,
/// without a user: the limit is checked before any lookup).
pub async fn r46_rate_limited_sign_in_is_audited<S: Store>(store: Arc<S>) {
    let h = Harness::with_policy(store, |p| p.login_rate.per_identifier = 1);
    let user = h.create_user("hope").await;
    expect_authenticated(h.login(&user).await);
    expect_err(h.login(&user).await, "rate_limited");
    let limited = h
        .audit_matching(&AuditFilter {
            kinds: vec![AuditKind::RateLimited],
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(limited.len(), 1, "the refused sign-in is audited once");
    assert_eq!(limited[0].outcome, crate::model::AuditOutcome::Denied);
    assert_eq!(limited[0].ip.as_deref(), Some("192.0.2.10"));
}

/// Sign-ins per client IP are capped across identifiers.
pub async fn per_ip_rate_limit_spans_identifiers<S: Store>(store: Arc<S>) {
    let h = Harness::with_policy(store, |p| p.login_rate.per_ip = 2);
    let a = h.create_user("ivan").await;
    let b = h.create_user("jade").await;
    expect_authenticated(h.login(&a).await);
    expect_authenticated(h.login(&b).await);
    expect_err(h.login(&a).await, "rate_limited");
    let other_ip = ClientInfo {
        ip: Some([198u8, 51, 100, 7].into()),
        ..h.client()
    };
    expect_authenticated(h.login_from(&b, other_ip).await);
}

async fn assert_refused_without_trace<S: Store>(h: &Harness<S>, request: LoginRequest) {
    let before = h.audit().await.len();
    expect_err(h.mfa.login(request).await, "invalid_input");
    assert_eq!(
        h.audit().await.len(),
        before,
        "a malformed request leaves no audit event"
    );
}

/// An empty, oversized or control-character identifier is `invalid_input`,
/// with no audit event and no change to the account.
pub async fn malformed_identifier_is_invalid_input<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("kim").await;
    for identifier in ["", "   ", &"a".repeat(255), "kim\r\n@example.test"] {
        assert_refused_without_trace(
            &h,
            LoginRequest {
                identifier: identifier.to_owned(),
                password: user.password.clone(),
                client: h.client(),
            },
        )
        .await;
    }
    assert_eq!(h.stored_user(user.id).await.password_failures.failures, 0);
}

/// An empty or oversized password is `invalid_input`, with no audit event
/// and no failure counted.
pub async fn malformed_password_is_invalid_input<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("liam").await;
    let max = h.mfa.policy().password.max_bytes;
    for password in [String::new(), "p".repeat(max + 1)] {
        assert_refused_without_trace(
            &h,
            LoginRequest {
                identifier: user.identifier.clone(),
                password: SecretString::from(password),
                client: h.client(),
            },
        )
        .await;
    }
    assert_eq!(h.stored_user(user.id).await.password_failures.failures, 0);
}

/// A malformed client (bad country, oversized user agent) is
/// `invalid_input`, with no audit event and no failure counted.
pub async fn malformed_client_is_invalid_input<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("mia").await;
    let clients = [
        ClientInfo {
            country: Some("che".into()),
            ..h.client()
        },
        ClientInfo {
            user_agent: Some("u".repeat(2000)),
            ..h.client()
        },
    ];
    for client in clients {
        assert_refused_without_trace(
            &h,
            LoginRequest {
                identifier: user.identifier.clone(),
                password: user.password.clone(),
                client,
            },
        )
        .await;
    }
    assert_eq!(h.stored_user(user.id).await.password_failures.failures, 0);
}

/// A first factor checked by the host still needs the second factor; the
/// session then carries `amr = [ext, otp]`.
pub async fn primary_auth_by_the_host_requires_mfa_too<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("noah").await;
    let ticket = expect_mfa_ticket(
        h.mfa
            .begin_after_primary_auth(user.user.id, h.client())
            .await,
    );
    h.next_step();
    let verified = h
        .verify(&ticket, FactorKind::Totp, &h.totp_code(&user.secret))
        .await
        .expect("verify failed");
    assert_eq!(verified.tokens.amr, [AuthMethod::Ext, AuthMethod::Otp]);
    assert_eq!(verified.tokens.aal, Aal::Aal2);
}

/// A disabled account is refused like a wrong password, on both sign-in
/// paths.
pub async fn disabled_user_is_refused<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("olga").await;
    h.store
        .set_status(user.id, UserStatus::Disabled, h.now())
        .await
        .expect("set_status failed");
    expect_err(h.login(&user).await, "invalid_credentials");
    expect_err(
        h.mfa.begin_after_primary_auth(user.id, h.client()).await,
        "invalid_credentials",
    );
}

/// Disabling a user through the engine ends their sessions at once: the
/// access token no longer authenticates and the refresh token no longer
/// rotates.
pub async fn disabling_a_user_ends_their_sessions<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("quinn").await;
    let tokens = h.sign_in(&user).await;
    h.mfa
        .set_user_status(user.id, UserStatus::Disabled)
        .await
        .expect("set_user_status failed");
    expect_err(
        h.mfa.authenticate(&tokens.access_token).await,
        "invalid_token",
    );
    expect_err(
        h.mfa.refresh(&tokens.refresh_token, &h.client()).await,
        "invalid_token",
    );
    expect_err(h.login(&user).await, "invalid_credentials");
    h.mfa
        .set_user_status(user.id, UserStatus::Active)
        .await
        .expect("set_user_status failed");
    h.sign_in(&user).await;
}

/// A deleted account is refused like a wrong password, on both sign-in
/// paths.
pub async fn deleted_user_is_refused<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("paul").await;
    h.mfa
        .delete_user(user.id)
        .await
        .expect("delete_user failed");
    expect_err(h.login(&user).await, "invalid_credentials");
    expect_err(
        h.mfa.begin_after_primary_auth(user.id, h.client()).await,
        "invalid_credentials",
    );
}

//! Enrolment and removal of second factors, and backup codes.

use super::harness::{Harness, expect_authenticated, expect_err, expect_mfa_ticket};
use super::verify::wrong_code;
use crate::crypto::ExposeSecret;
use crate::model::{AuditKind, FactorKind, FactorStatus, NotificationKind, OtpChannel};
use crate::store::{AuditFilter, Store};
use crate::{Actor, LoginOutcome};
use chrono::TimeDelta;
use std::sync::Arc;

/// The first confirmed factor comes with ten backup codes, all distinct;
/// enrolment is audited and announced (R48).
pub async fn first_confirmed_factor_comes_with_ten_backup_codes<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("alice").await;
    assert_eq!(user.backup_codes.len(), 10);
    let mut codes: Vec<&str> = user
        .backup_codes
        .iter()
        .map(|c| c.expose_secret())
        .collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), 10, "backup codes are distinct");
    assert_eq!(
        h.mfa.backup_codes_remaining(user.user.id).await.ok(),
        Some(10)
    );
    assert_eq!(h.notified(&user.user, NotificationKind::FactorAdded), 1);
    assert_eq!(
        h.notified(&user.user, NotificationKind::BackupCodesGenerated),
        1
    );
    let enrolled = h
        .audit_matching(&AuditFilter {
            user_id: Some(user.user.id),
            kinds: vec![AuditKind::FactorEnrolled],
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(enrolled.len(), 1);
}

/// A second factor comes without new backup codes: the first set stays.
pub async fn second_factor_keeps_the_backup_codes<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("ben").await;
    let verified = h.sign_in_with_totp(&user).await;
    let claims = h
        .mfa
        .authenticate(&verified.tokens.access_token)
        .await
        .expect("authenticate");
    let pending = h
        .mfa
        .enroll_email(Actor::Session(&claims), &user.user.email)
        .await
        .expect("enroll_email failed");
    let code = h.last_code(OtpChannel::Email, &user.user.email);
    let enrolled = h
        .mfa
        .confirm_factor(
            Actor::Session(&claims),
            pending.factor_id,
            &code,
            &h.client(),
        )
        .await
        .expect("confirm_factor failed");
    assert!(enrolled.backup_codes.is_none());
    let ticket = h.mfa_ticket(&user.user).await;
    h.verify(
        &ticket,
        FactorKind::BackupCodes,
        user.backup_codes[0].expose_secret(),
    )
    .await
    .expect("the first set still works");
}

/// A pending factor is not usable until confirmed: a wrong confirmation
/// code leaves it pending and sign-in needs no second factor.
pub async fn unconfirmed_factor_is_not_used_for_sign_in<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("cody").await;
    let tokens = h.sign_in(&user).await;
    let claims = h
        .mfa
        .authenticate(&tokens.access_token)
        .await
        .expect("authenticate");
    let enrollment = h
        .mfa
        .enroll_totp(Actor::Session(&claims), Some("phone"))
        .await
        .expect("enroll_totp failed");
    let code = wrong_code(&h.totp_code(&enrollment.secret));
    expect_err(
        h.mfa
            .confirm_factor(
                Actor::Session(&claims),
                enrollment.factor_id,
                &code,
                &h.client(),
            )
            .await,
        "invalid_code",
    );
    let factors = h.mfa.factors(user.id).await.expect("factors");
    assert_eq!(factors.len(), 1);
    assert_eq!(factors[0].status, FactorStatus::Pending);
    assert!(
        factors[0].secret.is_none(),
        "factors() hides sealed secrets"
    );
    expect_authenticated(h.login(&user).await);
}

/// Wrong confirmation codes count toward the second-factor lockout.
pub async fn wrong_confirmation_code_counts_toward_the_lockout<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("dana").await;
    let tokens = h.sign_in(&user).await;
    let claims = h
        .mfa
        .authenticate(&tokens.access_token)
        .await
        .expect("authenticate");
    let enrollment = h
        .mfa
        .enroll_totp(Actor::Session(&claims), None)
        .await
        .expect("enroll_totp failed");
    let right = h.totp_code(&enrollment.secret);
    let threshold = h.mfa.policy().mfa_lockout.threshold;
    for _ in 0..threshold {
        expect_err(
            h.mfa
                .confirm_factor(
                    Actor::Session(&claims),
                    enrollment.factor_id,
                    &wrong_code(&right),
                    &h.client(),
                )
                .await,
            "invalid_code",
        );
    }
    assert_eq!(h.mfa_failures(user.id).await, threshold);
    expect_err(
        h.mfa
            .confirm_factor(
                Actor::Session(&claims),
                enrollment.factor_id,
                &right,
                &h.client(),
            )
            .await,
        "account_locked",
    );
}

/// R37: with a factor enrolled, changing factors from a session whose MFA is
/// older than the re-authentication window needs a step-up.
pub async fn r37_factor_change_with_a_stale_session_needs_step_up<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("emil").await;
    let verified = h.sign_in_with_totp(&user).await;
    let claims = h
        .mfa
        .authenticate(&verified.tokens.access_token)
        .await
        .expect("authenticate");
    h.mfa
        .regenerate_backup_codes(Actor::Session(&claims))
        .await
        .expect("a fresh session may change factors");
    h.advance(h.mfa.policy().session.reauth_window + TimeDelta::seconds(1));
    expect_err(
        h.mfa.enroll_totp(Actor::Session(&claims), None).await,
        "step_up_required",
    );
    expect_err(
        h.mfa.regenerate_backup_codes(Actor::Session(&claims)).await,
        "step_up_required",
    );
    expect_err(
        h.mfa
            .remove_factor(Actor::Session(&claims), user.factor_id)
            .await,
        "step_up_required",
    );
    expect_err(
        h.mfa
            .enroll_email(Actor::Session(&claims), "new@example.test")
            .await,
        "step_up_required",
    );
}

/// R37: a session signed in at AAL1 (by a trusted device) cannot change
/// factors, however recent.
pub async fn r37_factor_change_from_an_aal1_session_needs_step_up<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("fay").await;
    let remembered = h.sign_in_remembered(&user, &h.client()).await;
    let client = crate::ClientInfo {
        trust_token: remembered.trust_token.clone(),
        ..h.client()
    };
    let tokens = expect_authenticated(h.login_from(&user.user, client).await);
    let claims = h
        .mfa
        .authenticate(&tokens.access_token)
        .await
        .expect("authenticate");
    expect_err(
        h.mfa
            .remove_factor(Actor::Session(&claims), user.factor_id)
            .await,
        "step_up_required",
    );
}

/// R19: regenerating backup codes invalidates every old code, issues new
/// ones, and notifies the user.
pub async fn r19_regenerated_backup_codes_replace_the_old_ones<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("gabe").await;
    let verified = h.sign_in_with_totp(&user).await;
    let claims = h
        .mfa
        .authenticate(&verified.tokens.access_token)
        .await
        .expect("authenticate");
    let fresh = h
        .mfa
        .regenerate_backup_codes(Actor::Session(&claims))
        .await
        .expect("regenerate_backup_codes failed");
    assert_eq!(fresh.codes.len(), 10);
    assert_eq!(
        h.notified(&user.user, NotificationKind::BackupCodesGenerated),
        2
    );
    let ticket = h.mfa_ticket(&user.user).await;
    expect_err(
        h.verify(
            &ticket,
            FactorKind::BackupCodes,
            user.backup_codes[0].expose_secret(),
        )
        .await,
        "invalid_code",
    );
    h.verify(
        &ticket,
        FactorKind::BackupCodes,
        fresh.codes[0].expose_secret(),
    )
    .await
    .expect("a new code works");
}

/// R29, R48: removing a factor removes it, ends device trust and the
/// user's other sessions, and notifies the user.
pub async fn r29_removing_a_factor_ends_device_trust_and_other_sessions<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("hedy").await;
    let other = h.sign_in_remembered(&user, &h.client_on("fp-laptop")).await;
    let current = h.sign_in_with_totp(&user).await;
    let claims = h
        .mfa
        .authenticate(&current.tokens.access_token)
        .await
        .expect("authenticate");
    h.mfa
        .remove_factor(Actor::Session(&claims), user.factor_id)
        .await
        .expect("remove_factor failed");
    assert!(
        h.mfa
            .factors(user.user.id)
            .await
            .expect("factors")
            .iter()
            .all(|f| f.id != user.factor_id),
        "the factor is gone"
    );
    assert!(
        h.mfa
            .trusted_devices(user.user.id)
            .await
            .expect("trusted")
            .is_empty()
    );
    expect_err(
        h.mfa.authenticate(&other.access_token).await,
        "invalid_token",
    );
    h.mfa
        .authenticate(&current.tokens.access_token)
        .await
        .expect("the current session stays");
    assert_eq!(h.notified(&user.user, NotificationKind::FactorRemoved), 1);
}

/// Removing the last factor removes the backup codes too; sign-in then
/// needs no second factor.
pub async fn removing_the_last_factor_removes_backup_codes<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("ivo").await;
    let current = h.sign_in_with_totp(&user).await;
    let claims = h
        .mfa
        .authenticate(&current.tokens.access_token)
        .await
        .expect("authenticate");
    h.mfa
        .remove_factor(Actor::Session(&claims), user.factor_id)
        .await
        .expect("remove_factor failed");
    assert_eq!(
        h.mfa.backup_codes_remaining(user.user.id).await.ok(),
        Some(0)
    );
    expect_authenticated(h.login(&user.user).await);
}

/// Removing another user's factor is `not_found`.
pub async fn removing_another_users_factor_is_not_found<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let victim = h.user_with_totp("jan").await;
    let attacker = h.create_user("kai").await;
    let tokens = h.sign_in(&attacker).await;
    let claims = h
        .mfa
        .authenticate(&tokens.access_token)
        .await
        .expect("authenticate");
    expect_err(
        h.mfa
            .remove_factor(Actor::Session(&claims), victim.factor_id)
            .await,
        "not_found",
    );
    assert!(
        h.mfa
            .factors(victim.user.id)
            .await
            .expect("factors")
            .iter()
            .any(|f| f.id == victim.factor_id)
    );
}

/// An email factor is confirmed with the code sent to the address, and is
/// then offered at sign-in.
pub async fn email_enrolment_is_confirmed_by_the_code_sent<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let (user, codes) = h.user_with_otp("lou", OtpChannel::Email).await;
    assert_eq!(codes.len(), 10);
    match h.login(&user).await.expect("login failed") {
        LoginOutcome::MfaRequired { methods, .. } => {
            assert_eq!(methods, [FactorKind::Email, FactorKind::BackupCodes]);
        }
        other => panic!("expected MfaRequired, got {other:?}"),
    }
}

/// An SMS factor is confirmed with the code sent to the number, and is then
/// offered at sign-in.
pub async fn sms_enrolment_is_confirmed_by_the_code_sent<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let (user, _) = h.user_with_otp("mo", OtpChannel::Sms).await;
    let ticket = expect_mfa_ticket(h.login(&user).await);
    h.mfa
        .send_challenge(&ticket, OtpChannel::Sms)
        .await
        .expect("send_challenge");
    let code = h.last_code(OtpChannel::Sms, &user.phone);
    h.verify(&ticket, FactorKind::Sms, &code)
        .await
        .expect("verify by SMS");
}

/// A wrong code leaves an email enrolment pending.
pub async fn wrong_email_confirmation_code_is_invalid_code<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("nora").await;
    let tokens = h.sign_in(&user).await;
    let claims = h
        .mfa
        .authenticate(&tokens.access_token)
        .await
        .expect("authenticate");
    let pending = h
        .mfa
        .enroll_email(Actor::Session(&claims), &user.email)
        .await
        .expect("enroll_email failed");
    let code = h.last_code(OtpChannel::Email, &user.email);
    expect_err(
        h.mfa
            .confirm_factor(
                Actor::Session(&claims),
                pending.factor_id,
                &wrong_code(&code),
                &h.client(),
            )
            .await,
        "invalid_code",
    );
    expect_authenticated(h.login(&user).await);
}

/// Malformed email addresses, phone numbers and labels are `invalid_input`,
/// and nothing is sent.
pub async fn invalid_destination_is_invalid_input<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("otis").await;
    let tokens = h.sign_in(&user).await;
    let claims = h
        .mfa
        .authenticate(&tokens.access_token)
        .await
        .expect("authenticate");
    let actor = Actor::Session(&claims);
    for email in [
        "",
        "no-at-sign",
        "a@nodot",
        "@example.test",
        "a b@example.test",
    ] {
        expect_err(h.mfa.enroll_email(actor, email).await, "invalid_input");
    }
    for phone in [
        "",
        "0791234567",
        "+0791234567",
        "+41 79 123 45 67",
        "+4179123456789012",
    ] {
        expect_err(h.mfa.enroll_sms(actor, phone).await, "invalid_input");
    }
    expect_err(h.mfa.enroll_totp(actor, Some("")).await, "invalid_input");
    expect_err(
        h.mfa.enroll_totp(actor, Some(&"l".repeat(65))).await,
        "invalid_input",
    );
    assert_eq!(h.email.codes_sent() + h.sms.codes_sent(), 0);
    assert!(h.mfa.factors(user.id).await.expect("factors").is_empty());
}

/// A disabled method cannot be enrolled.
pub async fn disabled_method_cannot_be_enrolled<S: Store>(store: Arc<S>) {
    let h = Harness::with_policy(store, |p| p.methods.sms = false);
    let user = h.create_user("pete").await;
    let tokens = h.sign_in(&user).await;
    let claims = h
        .mfa
        .authenticate(&tokens.access_token)
        .await
        .expect("authenticate");
    expect_err(
        h.mfa.enroll_sms(Actor::Session(&claims), &user.phone).await,
        "method_unavailable",
    );
}

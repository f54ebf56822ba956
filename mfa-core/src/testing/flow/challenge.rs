//! Codes sent by email and SMS ([`crate::Mfa::send_challenge`]) and their
//! verification: expiry, resend, attempt caps and send caps.

use super::harness::{Harness, TestUser, contains_token, expect_err};
use super::verify::wrong_code;
use crate::model::{Aal, AuditKind, AuthMethod, FactorKind, OtpChannel};
use crate::store::{AuditFilter, Store};
use crate::{Actor, LoginOutcome};
use chrono::TimeDelta;
use std::sync::Arc;

/// Signs `user` in with the password and a code sent by email.
async fn sign_in_by_email<S: Store>(h: &Harness<S>, user: &TestUser) -> crate::Verified {
    let ticket = h.mfa_ticket(user).await;
    h.mfa
        .send_challenge(&ticket, OtpChannel::Email)
        .await
        .expect("send_challenge failed");
    let code = h.last_code(OtpChannel::Email, &user.email);
    h.verify(&ticket, FactorKind::Email, &code)
        .await
        .expect("verify with the email code failed")
}

/// An email code sent for a ticket completes the sign-in: AAL2,
/// `amr = [pwd, email]`.
pub async fn email_code_completes_sign_in<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let (user, _) = h.user_with_otp("alice", OtpChannel::Email).await;
    let ticket = h.mfa_ticket(&user).await;
    let sent = h
        .mfa
        .send_challenge(&ticket, OtpChannel::Email)
        .await
        .expect("send_challenge failed");
    assert_eq!(sent.masked_destination, "a***@example.test");
    assert_eq!(sent.expires_at, h.now() + TimeDelta::minutes(10));
    let code = h.last_code(OtpChannel::Email, &user.email);
    let verified = h
        .verify(&ticket, FactorKind::Email, &code)
        .await
        .expect("verify with the email code failed");
    assert_eq!(verified.tokens.aal, Aal::Aal2);
    assert_eq!(verified.tokens.amr, [AuthMethod::Pwd, AuthMethod::Email]);
}

/// R14(c): with `methods.email_aal = Aal1` (a NIST-aligned deployment:
/// email is not an out-of-band authenticator, SP 800-63B §5.1.3.1), an email
/// code completes the sign-in but the session stays at AAL1 and fails
/// step-up checks.
pub async fn r14_email_code_gives_aal1_under_the_nist_profile<S: Store>(store: Arc<S>) {
    let h = Harness::with_policy(store, |p| p.methods.email_aal = Aal::Aal1);
    let (user, _) = h.user_with_otp("carla", OtpChannel::Email).await;
    let verified = sign_in_by_email(&h, &user).await;
    assert_eq!(verified.tokens.aal, Aal::Aal1);
    assert_eq!(verified.tokens.amr, [AuthMethod::Pwd, AuthMethod::Email]);
    let claims = h
        .mfa
        .authenticate(&verified.tokens.access_token)
        .await
        .expect("authenticate failed");
    expect_err(
        h.mfa.require_recent_mfa(&claims, TimeDelta::minutes(10)),
        "step_up_required",
    );
}

/// R14(a): under [`crate::policy::Policy::nist`], SMS (a restricted
/// authenticator, SP 800-63B §5.1.3.3) cannot be a user's only second factor:
/// enrolling it first is refused with a typed error and stores nothing, an
/// email factor at AAL1 is no alternative, and once an authenticator app is
/// active the same number enrols.
pub async fn r14_sms_cannot_be_the_only_factor_under_the_nist_profile<S: Store>(store: Arc<S>) {
    let h = Harness::with_policy(store, |p| {
        *p = crate::policy::Policy::nist();
        p.methods.email = true;
        p.methods.sms = true;
    });
    let (user, _) = h.user_with_otp("dora", OtpChannel::Email).await;
    let verified = sign_in_by_email(&h, &user).await;
    let claims = h
        .mfa
        .authenticate(&verified.tokens.access_token)
        .await
        .expect("authenticate failed");
    let refused = expect_err(
        h.mfa.enroll_sms(Actor::Session(&claims), &user.phone).await,
        "conflict",
    );
    assert!(refused.to_string().contains("restricted"), "{refused}");
    let factors = h.store.list_factors(user.id).await.expect("list_factors");
    assert!(
        factors.iter().all(|f| f.kind != FactorKind::Sms),
        "a refused SMS enrolment left a factor behind"
    );
    assert!(
        h.mfa
            .send_challenge(&h.mfa_ticket(&user).await, OtpChannel::Sms)
            .await
            .is_err(),
        "a refused SMS enrolment can still receive codes"
    );

    // With an authenticator app the same number enrols.
    h.enroll_totp_for(&verified.tokens).await;
    h.mfa
        .enroll_sms(Actor::Session(&claims), &user.phone)
        .await
        .expect("SMS beside an authenticator app is refused");
}

/// R14(a): a new user's first factor cannot be SMS under the NIST profile,
/// not even through the enrolment ticket of a sign-in.
pub async fn r14_sms_cannot_be_the_first_factor_under_the_nist_profile<S: Store>(store: Arc<S>) {
    let h = Harness::with_policy(store, |p| {
        *p = crate::policy::Policy::nist();
        p.methods.sms = true;
        p.enforcement = crate::policy::Enforcement::All;
    });
    let user = h.create_user("emil").await;
    let LoginOutcome::EnrollmentRequired { ticket, .. } = h.login(&user).await.expect("login")
    else {
        panic!("a user without factors under enforcement `All` must enrol");
    };
    expect_err(
        h.mfa.enroll_sms(Actor::Ticket(&ticket), &user.phone).await,
        "conflict",
    );
    // The authenticator app remains available with the same ticket.
    h.mfa
        .enroll_totp(Actor::Ticket(&ticket), None)
        .await
        .expect("enrolling an authenticator app with the ticket failed");
}

/// An SMS code sent for a ticket completes the sign-in with
/// `amr = [pwd, sms]`.
pub async fn sms_code_completes_sign_in<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let (user, _) = h.user_with_otp("bob", OtpChannel::Sms).await;
    let ticket = h.mfa_ticket(&user).await;
    h.mfa
        .send_challenge(&ticket, OtpChannel::Sms)
        .await
        .expect("send_challenge failed");
    let code = h.last_code(OtpChannel::Sms, &user.phone);
    let verified = h
        .verify(&ticket, FactorKind::Sms, &code)
        .await
        .expect("verify with the SMS code failed");
    assert_eq!(verified.tokens.amr, [AuthMethod::Pwd, AuthMethod::Sms]);
}

/// A wrong email code answers `invalid_code`.
pub async fn wrong_email_code_is_invalid_code<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let (user, _) = h.user_with_otp("cleo", OtpChannel::Email).await;
    let ticket = h.mfa_ticket(&user).await;
    h.mfa
        .send_challenge(&ticket, OtpChannel::Email)
        .await
        .expect("send_challenge failed");
    let code = h.last_code(OtpChannel::Email, &user.email);
    expect_err(
        h.verify(&ticket, FactorKind::Email, &wrong_code(&code))
            .await,
        "invalid_code",
    );
    assert_eq!(h.mfa_failures(user.id).await, 1);
}

/// R10: a code is bound to the ticket it was sent for: it fails on another
/// ticket of the same user.
pub async fn r10_code_is_bound_to_its_ticket<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let (user, _) = h.user_with_otp("dina", OtpChannel::Email).await;
    let a = h.mfa_ticket(&user).await;
    let b = h.mfa_ticket(&user).await;
    h.mfa
        .send_challenge(&a, OtpChannel::Email)
        .await
        .expect("send_challenge failed");
    let code = h.last_code(OtpChannel::Email, &user.email);
    expect_err(h.verify(&b, FactorKind::Email, &code).await, "invalid_code");
    h.verify(&a, FactorKind::Email, &code)
        .await
        .expect("the code works on its own ticket");
}

/// R10: a code verifies once; the challenge is spent afterwards.
pub async fn r10_code_is_accepted_once<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let (user, _) = h.user_with_otp("ed", OtpChannel::Sms).await;
    let ticket = h.mfa_ticket(&user).await;
    h.mfa
        .send_challenge(&ticket, OtpChannel::Sms)
        .await
        .expect("send_challenge failed");
    let code = h.last_code(OtpChannel::Sms, &user.phone);
    h.verify(&ticket, FactorKind::Sms, &code)
        .await
        .expect("first use works");
    let again = h.mfa_ticket(&user).await;
    expect_err(
        h.verify(&again, FactorKind::Sms, &code).await,
        "invalid_code",
    );
}

/// R12: the code sent never appears in any audit event.
pub async fn r12_email_code_never_appears_in_the_audit_log<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let (user, _) = h.user_with_otp("fern", OtpChannel::Email).await;
    let enrol_code = h.last_code(OtpChannel::Email, &user.email);
    let ticket = h.mfa_ticket(&user).await;
    h.mfa
        .send_challenge(&ticket, OtpChannel::Email)
        .await
        .expect("send_challenge failed");
    let code = h.last_code(OtpChannel::Email, &user.email);
    expect_err(
        h.verify(&ticket, FactorKind::Email, &wrong_code(&code))
            .await,
        "invalid_code",
    );
    h.verify(&ticket, FactorKind::Email, &code)
        .await
        .expect("verify failed");
    let events = h.audit_json().await;
    assert!(events.len() > 5);
    for event in &events {
        for secret in [&code, &enrol_code] {
            assert!(!contains_token(event, secret), "a code leaked into {event}");
        }
    }
}

/// R9: a code still verifies one second before its ten minutes are up.
pub async fn r9_email_code_verifies_until_just_before_ten_minutes<S: Store>(store: Arc<S>) {
    let h = Harness::with_policy(store, |p| p.session.ticket_ttl = TimeDelta::minutes(30));
    let (user, _) = h.user_with_otp("gwen", OtpChannel::Email).await;
    let ticket = h.mfa_ticket(&user).await;
    h.mfa
        .send_challenge(&ticket, OtpChannel::Email)
        .await
        .expect("send_challenge failed");
    let code = h.last_code(OtpChannel::Email, &user.email);
    h.advance(TimeDelta::minutes(10) - TimeDelta::seconds(1));
    h.verify(&ticket, FactorKind::Email, &code)
        .await
        .expect("the code is valid for ten minutes");
}

/// R9: ten minutes after it was sent, the code answers
/// `challenge_expired` (while the ticket itself is still valid).
pub async fn r9_email_code_expires_after_ten_minutes<S: Store>(store: Arc<S>) {
    let h = Harness::with_policy(store, |p| p.session.ticket_ttl = TimeDelta::minutes(30));
    let (user, _) = h.user_with_otp("hana", OtpChannel::Email).await;
    let ticket = h.mfa_ticket(&user).await;
    h.mfa
        .send_challenge(&ticket, OtpChannel::Email)
        .await
        .expect("send_challenge failed");
    let code = h.last_code(OtpChannel::Email, &user.email);
    h.advance(TimeDelta::minutes(10));
    expect_err(
        h.verify(&ticket, FactorKind::Email, &code).await,
        "challenge_expired",
    );
}

/// R13: a resend inside the cooldown is `rate_limited` with the remaining
/// wait, and nothing is sent.
pub async fn r13_resend_before_cooldown_is_rate_limited<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let (user, _) = h.user_with_otp("ines", OtpChannel::Email).await;
    let ticket = h.mfa_ticket(&user).await;
    h.mfa
        .send_challenge(&ticket, OtpChannel::Email)
        .await
        .expect("send_challenge failed");
    let sent = h.email.codes_sent();
    h.advance(TimeDelta::seconds(10));
    let limited = expect_err(
        h.mfa.send_challenge(&ticket, OtpChannel::Email).await,
        "rate_limited",
    );
    assert_eq!(limited.retry_after().map(|d| d.as_secs()), Some(20));
    assert_eq!(h.email.codes_sent(), sent, "nothing was sent");
}

/// R46: a resend refused by the cooldown is audited as rate limited.
pub async fn r46_refused_resend_is_audited<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let (user, _) = h.user_with_otp("ivy", OtpChannel::Email).await;
    let ticket = h.mfa_ticket(&user).await;
    h.mfa
        .send_challenge(&ticket, OtpChannel::Email)
        .await
        .expect("send_challenge failed");
    expect_err(
        h.mfa.send_challenge(&ticket, OtpChannel::Email).await,
        "rate_limited",
    );
    let limited = h
        .audit_matching(&AuditFilter {
            user_id: Some(user.id),
            kinds: vec![AuditKind::RateLimited],
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(limited.len(), 1);
}

/// R11: after a resend the previous code fails and the new one works.
pub async fn r11_resend_invalidates_the_previous_code<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let (user, _) = h.user_with_otp("jill", OtpChannel::Email).await;
    let ticket = h.mfa_ticket(&user).await;
    h.mfa
        .send_challenge(&ticket, OtpChannel::Email)
        .await
        .expect("send_challenge failed");
    let old = h.last_code(OtpChannel::Email, &user.email);
    h.advance(h.mfa.policy().email_otp.resend_after);
    h.mfa
        .send_challenge(&ticket, OtpChannel::Email)
        .await
        .expect("resend failed");
    let new = h.last_code(OtpChannel::Email, &user.email);
    if old != new {
        expect_err(
            h.verify(&ticket, FactorKind::Email, &old).await,
            "invalid_code",
        );
    }
    h.verify(&ticket, FactorKind::Email, &new)
        .await
        .expect("the new code works");
}

/// R11: a resend keeps the failure counts: the account counter is
/// unchanged and the challenge's attempts carry over, so the cap is reached
/// across both codes.
pub async fn r11_resend_keeps_the_failure_counts<S: Store>(store: Arc<S>) {
    let h = Harness::with_policy(store, |p| p.mfa_lockout.threshold = 20);
    let (user, _) = h.user_with_otp("kent", OtpChannel::Email).await;
    let ticket = h.mfa_ticket(&user).await;
    h.mfa
        .send_challenge(&ticket, OtpChannel::Email)
        .await
        .expect("send_challenge failed");
    let old = h.last_code(OtpChannel::Email, &user.email);
    for _ in 0..2 {
        expect_err(
            h.verify(&ticket, FactorKind::Email, &wrong_code(&old))
                .await,
            "invalid_code",
        );
    }
    h.advance(h.mfa.policy().email_otp.resend_after);
    h.mfa
        .send_challenge(&ticket, OtpChannel::Email)
        .await
        .expect("resend failed");
    assert_eq!(
        h.mfa_failures(user.id).await,
        2,
        "a resend does not reset the counter"
    );
    let new = h.last_code(OtpChannel::Email, &user.email);
    let cap = h.mfa.policy().email_otp.max_attempts;
    for _ in 2..cap {
        expect_err(
            h.verify(&ticket, FactorKind::Email, &wrong_code(&new))
                .await,
            "invalid_code",
        );
    }
    expect_err(
        h.verify(&ticket, FactorKind::Email, &new).await,
        "invalid_code",
    );
}

/// After `max_attempts` wrong answers the challenge refuses even its right
/// code; a new code must be requested.
pub async fn challenge_refuses_the_right_code_after_its_attempt_cap<S: Store>(store: Arc<S>) {
    let h = Harness::with_policy(store, |p| p.mfa_lockout.threshold = 20);
    let (user, _) = h.user_with_otp("lena", OtpChannel::Sms).await;
    let ticket = h.mfa_ticket(&user).await;
    h.mfa
        .send_challenge(&ticket, OtpChannel::Sms)
        .await
        .expect("send_challenge failed");
    let code = h.last_code(OtpChannel::Sms, &user.phone);
    for _ in 0..h.mfa.policy().sms_otp.max_attempts {
        expect_err(
            h.verify(&ticket, FactorKind::Sms, &wrong_code(&code)).await,
            "invalid_code",
        );
    }
    expect_err(
        h.verify(&ticket, FactorKind::Sms, &code).await,
        "invalid_code",
    );
}

/// R13: sends per destination are capped per hour; the excess is
/// `rate_limited` and never reaches the transport.
pub async fn r13_sends_per_destination_are_capped<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let (user, _) = h.user_with_otp("moe", OtpChannel::Sms).await;
    let policy = h.mfa.policy().sms_otp;
    let ticket = h.mfa_ticket(&user).await;
    // The enrolment code already used one send to this number.
    for _ in 1..policy.sends_per_destination_per_hour {
        h.advance(policy.resend_after);
        h.mfa
            .send_challenge(&ticket, OtpChannel::Sms)
            .await
            .expect("send within the cap");
    }
    let sent = h.sms.codes_sent();
    h.advance(policy.resend_after);
    expect_err(
        h.mfa.send_challenge(&ticket, OtpChannel::Sms).await,
        "rate_limited",
    );
    assert_eq!(
        h.sms.codes_sent(),
        sent,
        "the refused send never reached the transport"
    );
}

/// Asking for a code on a channel the user has not enrolled is
/// `method_unavailable`.
pub async fn send_on_an_unenrolled_channel_is_method_unavailable<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let (user, _) = h.user_with_otp("nell", OtpChannel::Email).await;
    let ticket = h.mfa_ticket(&user).await;
    expect_err(
        h.mfa.send_challenge(&ticket, OtpChannel::Sms).await,
        "method_unavailable",
    );
    expect_err(
        h.mfa.send_challenge("garbage", OtpChannel::Email).await,
        "invalid_ticket",
    );
}

/// A transport failure answers `delivery_failed`; once the transport
/// works again (after the cooldown) a new code can be sent and used.
pub async fn failed_delivery_answers_delivery_failed<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let (user, _) = h.user_with_otp("opal", OtpChannel::Email).await;
    let ticket = h.mfa_ticket(&user).await;
    h.email.set_failing(true);
    expect_err(
        h.mfa.send_challenge(&ticket, OtpChannel::Email).await,
        "delivery_failed",
    );
    h.email.set_failing(false);
    h.advance(h.mfa.policy().email_otp.resend_after);
    h.mfa
        .send_challenge(&ticket, OtpChannel::Email)
        .await
        .expect("resend failed");
    let code = h.last_code(OtpChannel::Email, &user.email);
    h.verify(&ticket, FactorKind::Email, &code)
        .await
        .expect("verify failed");
}

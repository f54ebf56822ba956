//! Push approval with number matching: enrolment of a phone app, the
//! request, the app's signed answer, and the waiting browser completing
//! the sign-in. The app is [`TestPushApp`] (a Rust client holding the
//! device key); what it receives is [`CapturingPush`]'s record.
//!
//! Push approval is an out-of-band authenticator: the sign-in's context is
//! shown on the device and the user's answer travels over a separate,
//! authenticated channel (the device key's signature), NIST SP 800-63B
//! §5.1.3.1–§5.1.3.2; a session it completes is AAL2.

use super::harness::{FixedRisk, Harness, TotpUser, expect_err};
use super::passkeys::fresh_claims;
use crate::crypto::AccessClaims;
use crate::crypto::push::PushDecision;
use crate::model::Contact;
use crate::model::{
    Aal, AuditKind, AuditOutcome, AuthMethod, FactorId, FactorKind, FactorStatus, NotificationKind,
    PushRequestId,
};
use crate::store::{AuditFilter, Store};
use crate::template::Templates;
use crate::testing::capture::CapturingPush;
use crate::testing::push_app::TestPushApp;
use crate::{Actor, Enrolled, MfaResult, PushEnrolment, PushPending, PushState};
use chrono::TimeDelta;
use data_encoding::BASE64URL_NOPAD;
use std::sync::Arc;

/// A user with an authenticator app and an enrolled push app.
struct PushUser {
    totp: TotpUser,
    app: TestPushApp,
    token: String,
    factor_id: FactorId,
}

/// Enrols `app` (push address `token`) for the session `claims`.
async fn enrol<S: Store>(
    h: &Harness<S>,
    claims: &AccessClaims,
    app: &TestPushApp,
    token: &str,
) -> MfaResult<Enrolled> {
    let started = h
        .mfa
        .start_push_enrolment(Actor::Session(claims), Some("phone"))
        .await?;
    let signature = BASE64URL_NOPAD.encode(&app.prove(&started.challenge));
    let key = app.public_key().to_base64url();
    h.mfa
        .finish_push_enrolment(
            Actor::Session(claims),
            PushEnrolment {
                id: started.id,
                algorithm: app.public_key().algorithm(),
                public_key: &key,
                address: &CapturingPush::address(token),
                signature: &signature,
            },
            &h.client(),
        )
        .await
}

/// Creates `name` with TOTP and an Ed25519 push app.
async fn push_user<S: Store>(h: &Harness<S>, name: &str) -> PushUser {
    push_user_with(h, name, TestPushApp::ed25519()).await
}

async fn push_user_with<S: Store>(h: &Harness<S>, name: &str, app: TestPushApp) -> PushUser {
    let totp = h.user_with_totp(name).await;
    let claims = fresh_claims(h, &totp).await;
    let token = format!("device-of-{name}");
    let enrolled = enrol(h, &claims, &app, &token)
        .await
        .expect("the push app enrols");
    PushUser {
        totp,
        app,
        token,
        factor_id: enrolled.factor_id,
    }
}

/// Signs in with the password and asks for a push.
async fn ask<S: Store>(h: &Harness<S>, user: &PushUser) -> (String, PushPending) {
    let ticket = h.mfa_ticket(&user.totp.user).await;
    let pending = h
        .mfa
        .request_push(&ticket, &h.client())
        .await
        .expect("request_push");
    (ticket, pending)
}

/// The app's signed answer, made now.
fn answer<S: Store>(
    h: &Harness<S>,
    app: &TestPushApp,
    request: PushRequestId,
    number: u8,
    decision: PushDecision,
    user_verified: bool,
) -> String {
    app.answer(
        *request.as_uuid(),
        number,
        decision,
        h.now().timestamp(),
        user_verified,
    )
    .to_json()
}

/// The user's app answers `pending` with the number shown.
async fn respond<S: Store>(
    h: &Harness<S>,
    user: &PushUser,
    pending: &PushPending,
    decision: PushDecision,
    user_verified: bool,
) -> MfaResult<crate::PushAnswered> {
    h.mfa
        .answer_push(&answer(
            h,
            &user.app,
            pending.request,
            pending.number,
            decision,
            user_verified,
        ))
        .await
}

/// The user's app approves `pending` with the number shown, the key
/// unlocked by the user.
async fn approve<S: Store>(
    h: &Harness<S>,
    user: &PushUser,
    pending: &PushPending,
) -> MfaResult<crate::PushAnswered> {
    respond(h, user, pending, PushDecision::Approve, true).await
}

/// A number the app offers that is not the one shown.
async fn wrong_number<S: Store>(h: &Harness<S>, pending: &PushPending) -> u8 {
    let prompt = h
        .mfa
        .push_request_for_app(pending.request)
        .await
        .expect("the app reads the request");
    prompt
        .choices
        .into_iter()
        .find(|n| *n != pending.number)
        .expect("three distinct choices")
}

/// The app's push arrives, it reads the request, the user picks the number
/// the browser shows and approves; the browser sees `approved` and
/// completes an AAL2 session whose `amr` says `swk` and `user`.
pub async fn approve_with_the_number_completes_the_sign_in_at_aal2<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = push_user(&h, "pia").await;
    let (ticket, pending) = ask(&h, &user).await;
    assert_eq!(pending.devices, 1);

    let notices = h.push.notices_to(&user.token);
    let notice = notices.last().expect("the app was pushed");
    assert_eq!(
        notice.request, pending.request,
        "the push names the request"
    );
    assert_eq!(
        (notice.title.as_str(), notice.body.as_str()),
        ("Approve sign-in?", "flow-tests/1.0, CH"),
        "the shipped English words, and the sign-in's device and country"
    );
    let prompt = h
        .mfa
        .push_request_for_app(notice.request)
        .await
        .expect("the app reads the request");
    assert!(prompt.choices.contains(&pending.number), "{prompt:?}");
    assert_eq!(prompt.context.ip.as_deref(), Some("192.0.2.10"));
    assert_eq!(prompt.context.country.as_deref(), Some("CH"));
    assert_eq!(
        h.mfa.push_status(&ticket, pending.request).await.unwrap(),
        PushState::Pending
    );

    let answered = approve(&h, &user, &pending)
        .await
        .expect("the approval is accepted");
    assert_eq!(answered.state, PushState::Approved);
    assert_eq!(
        h.mfa.push_status(&ticket, pending.request).await.unwrap(),
        PushState::Approved
    );

    let verified = h
        .mfa
        .complete_push(&ticket, pending.request, false, &h.client())
        .await
        .expect("the browser completes the sign-in");
    assert_eq!(verified.tokens.aal, Aal::Aal2);
    for method in [AuthMethod::Pwd, AuthMethod::Swk, AuthMethod::User] {
        assert!(
            verified.tokens.amr.contains(&method),
            "{:?}",
            verified.tokens.amr
        );
    }
    let events = h
        .audit_matching(&AuditFilter {
            user_id: Some(user.totp.user.id),
            kinds: vec![AuditKind::PushRequested, AuditKind::PushAnswered],
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.iter().all(|e| e.outcome == AuditOutcome::Success));
}

/// Without user verification the `amr` says `swk` only.
pub async fn approve_without_user_verification_proves_possession_only<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = push_user_with(&h, "pavel", TestPushApp::p256()).await;
    let (ticket, pending) = ask(&h, &user).await;
    respond(&h, &user, &pending, PushDecision::Approve, false)
        .await
        .expect("approved");
    let verified = h
        .mfa
        .complete_push(&ticket, pending.request, false, &h.client())
        .await
        .expect("completed");
    assert!(verified.tokens.amr.contains(&AuthMethod::Swk));
    assert!(!verified.tokens.amr.contains(&AuthMethod::User));
}

/// `policy.push.require_user_verification`: an approval without it is
/// refused and the request stays pending, so the app can ask again.
pub async fn policy_can_require_user_verification<S: Store>(store: Arc<S>) {
    let h = Harness::with_policy(store, |p| p.push.require_user_verification = true);
    let user = push_user(&h, "ulla").await;
    let (ticket, pending) = ask(&h, &user).await;
    let unverified = answer(
        &h,
        &user.app,
        pending.request,
        pending.number,
        PushDecision::Approve,
        false,
    );
    expect_err(
        h.mfa.answer_push(&unverified).await,
        "push_user_verification_required",
    );
    assert_eq!(
        h.mfa.push_status(&ticket, pending.request).await.unwrap(),
        PushState::Pending
    );
    approve(&h, &user, &pending)
        .await
        .expect("a verified approval is accepted");
}

/// A denial: the browser sees `denied` and cannot complete; the denial
/// counts toward the lockout when the browser tries.
pub async fn deny_refuses_the_sign_in<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = push_user(&h, "dora").await;
    let (ticket, pending) = ask(&h, &user).await;
    let answered = h
        .mfa
        .answer_push(&answer(
            &h,
            &user.app,
            pending.request,
            0,
            PushDecision::Deny,
            false,
        ))
        .await;
    // 0 is outside the numbers an app can pick: the answer is malformed.
    expect_err(answered, "push_malformed");
    // Completing before the app answered: refused, nothing counted.
    expect_err(
        h.mfa
            .complete_push(&ticket, pending.request, false, &h.client())
            .await,
        "push_pending",
    );
    assert_eq!(h.mfa_failures(user.totp.user.id).await, 0);
    let answered = respond(&h, &user, &pending, PushDecision::Deny, false)
        .await
        .expect("the denial is accepted");
    assert_eq!(answered.state, PushState::Denied);
    assert_eq!(
        h.mfa.push_status(&ticket, pending.request).await.unwrap(),
        PushState::Denied
    );
    expect_err(
        h.mfa
            .complete_push(&ticket, pending.request, false, &h.client())
            .await,
        "push_denied",
    );
    assert_eq!(h.mfa_failures(user.totp.user.id).await, 1);
}

/// An approval with a number other than the one shown is refused for good
/// (the request cannot be answered again) and counts as a failed second
/// factor: the fifth locks it (R56: counted before compared).
pub async fn wrong_number_refuses_and_counts_toward_the_lockout<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = push_user(&h, "wanda").await;
    let threshold = crate::model::LockoutRule::default().threshold;
    let mut last_ticket = String::new();
    for round in 1..=threshold {
        let (ticket, pending) = ask(&h, &user).await;
        let wrong = wrong_number(&h, &pending).await;
        expect_err(
            h.mfa
                .answer_push(&answer(
                    &h,
                    &user.app,
                    pending.request,
                    wrong,
                    PushDecision::Approve,
                    true,
                ))
                .await,
            "push_wrong_number",
        );
        assert_eq!(
            h.mfa.push_status(&ticket, pending.request).await.unwrap(),
            PushState::WrongNumber
        );
        // The right number now is too late.
        expect_err(approve(&h, &user, &pending).await, "push_closed");
        assert_eq!(h.mfa_failures(user.totp.user.id).await, round);
        h.advance(h.mfa.policy().push.cooldown + TimeDelta::seconds(1));
        last_ticket = ticket;
    }
    // Locked: even the authenticator app is refused now.
    h.next_step();
    let ticket = last_ticket;
    let code = h.totp_code(&user.totp.secret);
    expect_err(
        h.verify(&ticket, FactorKind::Totp, &code).await,
        "account_locked",
    );
}

/// An answer after the request's time is refused; the browser sees
/// `expired`, and completing says so.
pub async fn an_expired_request_cannot_be_answered_or_completed<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = push_user(&h, "ezra").await;
    let (ticket, pending) = ask(&h, &user).await;
    h.advance(h.mfa.policy().push.request_ttl + TimeDelta::seconds(1));
    expect_err(approve(&h, &user, &pending).await, "push_closed");
    expect_err(
        h.mfa.push_request_for_app(pending.request).await,
        "push_closed",
    );
    assert_eq!(
        h.mfa.push_status(&ticket, pending.request).await.unwrap(),
        PushState::Expired
    );
    expect_err(
        h.mfa
            .complete_push(&ticket, pending.request, false, &h.client())
            .await,
        "challenge_expired",
    );
}

/// An answer signed long before (or after) now is refused: a captured
/// answer cannot wait for a later request.
pub async fn a_stale_answer_is_refused<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = push_user(&h, "stan").await;
    let (_ticket, pending) = ask(&h, &user).await;
    let skew = h.mfa.policy().push.answer_skew;
    let early = user
        .app
        .answer(
            *pending.request.as_uuid(),
            pending.number,
            PushDecision::Approve,
            (h.now() - skew - TimeDelta::seconds(1)).timestamp(),
            true,
        )
        .to_json();
    expect_err(h.mfa.answer_push(&early).await, "push_stale");
}

/// A replayed answer is refused: the same answer again, and the same
/// answer moved to another request (its signature covers the request id).
pub async fn a_replayed_answer_is_refused<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = push_user(&h, "remy").await;
    let (ticket, pending) = ask(&h, &user).await;
    let approval = answer(
        &h,
        &user.app,
        pending.request,
        pending.number,
        PushDecision::Approve,
        true,
    );
    h.mfa.answer_push(&approval).await.expect("approved once");
    expect_err(h.mfa.answer_push(&approval).await, "push_closed");
    h.mfa
        .complete_push(&ticket, pending.request, false, &h.client())
        .await
        .expect("completed once");
    expect_err(h.mfa.answer_push(&approval).await, "push_closed");

    h.advance(h.mfa.policy().push.cooldown + TimeDelta::seconds(1));
    let (_ticket, next) = ask(&h, &user).await;
    let moved = approval.replace(&pending.request.to_string(), &next.request.to_string());
    assert_ne!(moved, approval);
    expect_err(h.mfa.answer_push(&moved).await, "push_bad_signature");
}

/// An approval that comes after the request was answered is closed before
/// anything is compared, so it neither counts as a failure nor clears one.
pub async fn a_late_approval_is_closed_without_touching_the_counter<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = push_user(&h, "lena").await;
    let (_ticket, first) = ask(&h, &user).await;
    let wrong = wrong_number(&h, &first).await;
    expect_err(
        h.mfa
            .answer_push(&answer(
                &h,
                &user.app,
                first.request,
                wrong,
                PushDecision::Approve,
                true,
            ))
            .await,
        "push_wrong_number",
    );
    assert_eq!(h.mfa_failures(user.totp.user.id).await, 1);
    expect_err(approve(&h, &user, &first).await, "push_closed");
    assert_eq!(
        h.mfa_failures(user.totp.user.id).await,
        1,
        "the late approval cleared nothing"
    );
}

/// An answer signed by a key that is not one of the user's apps (another
/// user's app, or a key never enrolled) is refused and changes nothing.
pub async fn an_answer_signed_by_another_devices_key_is_refused<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = push_user(&h, "kira").await;
    let other = push_user(&h, "karl").await;
    let (ticket, pending) = ask(&h, &user).await;
    for app in [&other.app, &TestPushApp::ed25519(), &TestPushApp::p256()] {
        expect_err(
            h.mfa
                .answer_push(&answer(
                    &h,
                    app,
                    pending.request,
                    pending.number,
                    PushDecision::Approve,
                    true,
                ))
                .await,
            "push_bad_signature",
        );
    }
    assert_eq!(
        h.mfa.push_status(&ticket, pending.request).await.unwrap(),
        PushState::Pending
    );
    let refused = h
        .audit_matching(&AuditFilter {
            user_id: Some(user.totp.user.id),
            kinds: vec![AuditKind::PushAnswered],
            outcome: Some(AuditOutcome::Failure),
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(refused.len(), 3, "every refused answer is audited");
}

/// Concurrent answers to one request (approve, deny, "not me", the same
/// approval twice): exactly one is accepted, on every backend. Concurrent
/// completions of the approval: exactly one session.
pub async fn concurrent_answers_exactly_one_wins<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = push_user(&h, "cora").await;
    let (ticket, pending) = ask(&h, &user).await;
    let answers: Vec<String> = [
        PushDecision::Approve,
        PushDecision::Approve,
        PushDecision::Deny,
        PushDecision::Approve,
        PushDecision::Deny,
        PushDecision::Approve,
    ]
    .into_iter()
    .map(|d| answer(&h, &user.app, pending.request, pending.number, d, true))
    .collect();
    let results = crate::testing::race_all(answers.len(), |i| {
        let mfa = h.mfa.clone();
        let json = answers[i].clone();
        async move { mfa.answer_push(&json).await }
    })
    .await;
    let won: Vec<_> = results.iter().filter(|r| r.is_ok()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    for lost in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(lost.code(), "push_closed", "{lost:?}");
    }
    if won[0].as_ref().unwrap().state != PushState::Approved {
        return;
    }
    let results = crate::testing::race_all(4, |_| {
        let mfa = h.mfa.clone();
        let ticket = ticket.clone();
        let client = h.client();
        let request = pending.request;
        async move { mfa.complete_push(&ticket, request, false, &client).await }
    })
    .await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
}

/// MFA fatigue: no more than `max_pending` requests wait at once, none
/// within the cooldown of the last, no more than `per_window` per window.
pub async fn fatigue_limits_cap_the_pushes<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = push_user(&h, "fay").await;
    let policy = h.mfa.policy().push;
    let ticket = h.mfa_ticket(&user.totp.user).await;
    h.mfa
        .request_push(&ticket, &h.client())
        .await
        .expect("the first push");
    expect_err(
        h.mfa.request_push(&ticket, &h.client()).await,
        "rate_limited",
    );
    h.advance(policy.cooldown + TimeDelta::seconds(1));
    h.mfa
        .request_push(&ticket, &h.client())
        .await
        .expect("after the cooldown");
    h.advance(policy.cooldown + TimeDelta::seconds(1));
    assert_eq!(policy.max_pending, 2);
    expect_err(
        h.mfa.request_push(&ticket, &h.client()).await,
        "rate_limited",
    );
    assert_eq!(h.push.notices_to(&user.token).len(), 2);
    let refusals = h
        .audit_matching(&AuditFilter {
            user_id: Some(user.totp.user.id),
            kinds: vec![AuditKind::PushRequested],
            outcome: Some(AuditOutcome::Denied),
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(refusals.len(), 2, "{refusals:?}");
}

/// The window cap holds however the requests are spread.
pub async fn fatigue_window_caps_the_requests<S: Store>(store: Arc<S>) {
    let h = Harness::with_policy(store, |p| {
        p.push.cooldown = TimeDelta::zero();
        p.push.max_pending = 10;
    });
    let user = push_user(&h, "wes").await;
    let per_window = h.mfa.policy().push.per_window;
    let ticket = h.mfa_ticket(&user.totp.user).await;
    for _ in 0..per_window {
        h.mfa
            .request_push(&ticket, &h.client())
            .await
            .expect("within the window cap");
        h.advance(TimeDelta::seconds(1));
    }
    expect_err(
        h.mfa.request_push(&ticket, &h.client()).await,
        "rate_limited",
    );
    h.advance(h.mfa.policy().push.window);
    let ticket = h.mfa_ticket(&user.totp.user).await;
    h.mfa
        .request_push(&ticket, &h.client())
        .await
        .expect("a new window");
}

/// A sign-in whose risk is at or above `policy.push.refuse_at_risk` may not
/// ask for a push (other methods stay), and nothing is sent.
pub async fn a_risky_sign_in_may_not_ask_for_a_push<S: Store>(store: Arc<S>) {
    let h = Harness::with_risk(store, FixedRisk(80));
    let user = push_user(&h, "rita").await;
    let sent = h.push.count();
    let ticket = h.mfa_ticket(&user.totp.user).await;
    expect_err(
        h.mfa.request_push(&ticket, &h.client()).await,
        "push_risk_too_high",
    );
    assert_eq!(h.push.count(), sent, "nothing was pushed");
    h.next_step();
    let code = h.totp_code(&user.totp.secret);
    h.verify(&ticket, FactorKind::Totp, &code)
        .await
        .expect("the authenticator app still works");
}

/// "This wasn't me": the request is denied, the second factor locks at
/// once, the event is audited and the user is told by email.
pub async fn not_me_denies_locks_audits_and_notifies<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = push_user(&h, "nora").await;
    let (ticket, pending) = ask(&h, &user).await;
    let answered = respond(&h, &user, &pending, PushDecision::NotMe, true)
        .await
        .expect("the report is accepted");
    assert_eq!(answered.state, PushState::Denied);
    assert_eq!(
        h.mfa.push_status(&ticket, pending.request).await.unwrap(),
        PushState::Denied,
        "the browser is not told it was reported"
    );
    assert_eq!(h.notified(&user.totp.user, NotificationKind::PushNotMe), 1);
    let reported = h
        .audit_matching(&AuditFilter {
            user_id: Some(user.totp.user.id),
            kinds: vec![AuditKind::PushNotMe, AuditKind::AccountLocked],
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(reported.len(), 2, "{reported:?}");
    h.next_step();
    let code = h.totp_code(&user.totp.secret);
    expect_err(
        h.verify(&ticket, FactorKind::Totp, &code).await,
        "account_locked",
    );
}

/// A push service that says the address is gone: the device is turned off
/// and audited, and with no other device the request fails as a delivery.
pub async fn a_gone_address_turns_the_device_off<S: Store>(store: Arc<S>) {
    let h = Harness::new(Arc::clone(&store));
    let user = push_user(&h, "gus").await;
    h.push.set_gone(&user.token);
    let ticket = h.mfa_ticket(&user.totp.user).await;
    expect_err(
        h.mfa.request_push(&ticket, &h.client()).await,
        "delivery_failed",
    );
    let factor = store
        .get_factor(user.factor_id)
        .await
        .unwrap()
        .expect("the factor stays, turned off");
    assert_eq!(factor.status, FactorStatus::Disabled);
    let gone = h
        .audit_matching(&AuditFilter {
            kinds: vec![AuditKind::PushDeviceGone],
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(gone.len(), 1);
    h.advance(h.mfa.policy().push.cooldown + TimeDelta::seconds(1));
    expect_err(
        h.mfa.request_push(&ticket, &h.client()).await,
        "method_unavailable",
    );
}

/// An approval completes only the ticket it was asked for.
pub async fn an_approval_completes_only_its_own_ticket<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = push_user(&h, "otto").await;
    let (_ticket, pending) = ask(&h, &user).await;
    approve(&h, &user, &pending).await.expect("approved");
    let other_ticket = h.mfa_ticket(&user.totp.user).await;
    expect_err(
        h.mfa
            .complete_push(&other_ticket, pending.request, false, &h.client())
            .await,
        "push_closed",
    );
}

/// A step-up through push: the request says so, and the new session's MFA
/// time is now.
pub async fn step_up_by_push<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = push_user(&h, "sten").await;
    let verified = h.sign_in_with_totp(&user.totp).await;
    h.advance(h.mfa.policy().session.reauth_window + TimeDelta::minutes(1));
    let claims = h
        .mfa
        .authenticate(&verified.tokens.access_token)
        .await
        .expect("authenticate");
    let crate::LoginOutcome::MfaRequired {
        ticket, methods, ..
    } = h.mfa.begin_step_up(&claims).await.expect("begin_step_up")
    else {
        panic!("a step-up asks for a second factor");
    };
    assert!(methods.contains(&FactorKind::Push), "{methods:?}");
    let pending = h
        .mfa
        .request_push(&ticket, &h.client())
        .await
        .expect("request_push");
    let prompt = h.mfa.push_request_for_app(pending.request).await.unwrap();
    assert!(prompt.context.step_up);
    approve(&h, &user, &pending).await.expect("approved");
    let stepped = h
        .mfa
        .complete_push(&ticket, pending.request, false, &h.client())
        .await
        .expect("stepped up");
    let claims = h
        .mfa
        .authenticate(&stepped.tokens.access_token)
        .await
        .expect("the new session");
    assert_eq!(claims.aal, Aal::Aal2);
    // The second factor is fresh again: enrolment, which needs that, starts.
    h.mfa
        .start_push_enrolment(Actor::Session(&claims), None)
        .await
        .expect("a fresh second factor");
}

/// The notice's title and body are in the user's language
/// (`push.words`), and a host's templates ([`crate::MfaBuilder::templates`])
/// replace the shipped words of the languages they name.
pub async fn push_texts_speak_the_users_language_and_the_hosts_words<S: Store>(store: Arc<S>) {
    let templates = Templates::builder()
        .template(
            "en",
            "push.words",
            "{% set sign_in %}Is this you, signing in to {{ product }}?{% endset %}\
             {% set step_up %}Is this you?{% endset %}\
             {% set waiting %}Someone is signing in{% endset %}",
        )
        .build()
        .expect("the host's words build");
    let h = Harness::with_builder(store, |b| b.templates(templates));
    let user = push_user(&h, "lena").await;
    ask(&h, &user).await;
    let english = h.push.notices_to(&user.token).pop().expect("pushed");
    assert_eq!(
        english.title,
        format!(
            "Is this you, signing in to {}?",
            h.mfa.policy().product_name
        )
    );
    assert_eq!(english.body, "flow-tests/1.0, CH");

    let person = &user.totp.user;
    let german = Contact {
        email: Some(person.email.clone()),
        phone: Some(person.phone.clone()),
        locale: Some("de-CH".into()),
    };
    assert!(
        h.store
            .set_contact(person.id, &german, h.now())
            .await
            .expect("set_contact")
    );
    h.advance(h.mfa.policy().push.cooldown + TimeDelta::seconds(1));
    ask(&h, &user).await;
    let notice = h.push.notices_to(&user.token).pop().expect("pushed");
    assert_eq!(
        (notice.title.as_str(), notice.body.as_str()),
        ("Anmeldung freigeben?", "flow-tests/1.0, CH"),
        "the host set English words only: German stays as shipped"
    );
}

/// Enrolment needs the proof of possession: a proof by another key is
/// refused, nothing is stored, and the challenge is used up.
pub async fn enrolment_needs_the_proof_and_is_single_use<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let totp = h.user_with_totp("eli").await;
    let claims = fresh_claims(&h, &totp).await;
    let app = TestPushApp::ed25519();
    let thief = TestPushApp::ed25519();
    let started = h
        .mfa
        .start_push_enrolment(Actor::Session(&claims), None)
        .await
        .expect("start");
    let key = app.public_key().to_base64url();
    let address = CapturingPush::address("eli-phone");
    let algorithm = app.public_key().algorithm();
    let finish = |signature: String| {
        let key = key.clone();
        let address = address.clone();
        let mfa = h.mfa.clone();
        let client = h.client();
        let claims = claims.clone();
        async move {
            mfa.finish_push_enrolment(
                Actor::Session(&claims),
                PushEnrolment {
                    id: started.id,
                    algorithm,
                    public_key: &key,
                    address: &address,
                    signature: &signature,
                },
                &client,
            )
            .await
        }
    };
    let wrong = BASE64URL_NOPAD.encode(&thief.prove(&started.challenge));
    expect_err(finish(wrong).await, "push_bad_signature");
    assert!(h.mfa.push_devices(totp.user.id).await.unwrap().is_empty());
    let right = BASE64URL_NOPAD.encode(&app.prove(&started.challenge));
    expect_err(finish(right).await, "push_closed");
    assert!(h.mfa.push_devices(totp.user.id).await.unwrap().is_empty());
}

/// Malformed keys, signatures and addresses are refused before anything is
/// read or written: the enrolment stays open for a good answer.
pub async fn malformed_enrolments_are_refused_and_store_nothing<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let totp = h.user_with_totp("mel").await;
    let claims = fresh_claims(&h, &totp).await;
    let app = TestPushApp::p256();
    let started = h
        .mfa
        .start_push_enrolment(Actor::Session(&claims), Some("phone"))
        .await
        .expect("start");
    let key = app.public_key().to_base64url();
    let proof = BASE64URL_NOPAD.encode(&app.prove(&started.challenge));
    let good_address = CapturingPush::address("mel-phone");
    let too_long = serde_json::json!({ "kind": "test", "token": "t".repeat(5000) });
    let cases: [(&str, &str, serde_json::Value, &str); 6] = [
        (
            "AAAA",
            proof.as_str(),
            good_address.clone(),
            "push_malformed_key",
        ),
        (
            "not base64url!",
            proof.as_str(),
            good_address.clone(),
            "push_malformed_key",
        ),
        (key.as_str(), "***", good_address.clone(), "push_malformed"),
        (
            key.as_str(),
            proof.as_str(),
            serde_json::json!({ "kind": "carrier-pigeon" }),
            "push_bad_address",
        ),
        (key.as_str(), proof.as_str(), too_long, "push_bad_address"),
        (
            key.as_str(),
            proof.as_str(),
            serde_json::json!("just a string"),
            "push_bad_address",
        ),
    ];
    for (public_key, signature, address, code) in cases {
        expect_err(
            h.mfa
                .finish_push_enrolment(
                    Actor::Session(&claims),
                    PushEnrolment {
                        id: started.id,
                        algorithm: app.public_key().algorithm(),
                        public_key,
                        address: &address,
                        signature,
                    },
                    &h.client(),
                )
                .await,
            code,
        );
    }
    assert!(h.mfa.push_devices(totp.user.id).await.unwrap().is_empty());
    let enrolled = h
        .mfa
        .finish_push_enrolment(
            Actor::Session(&claims),
            PushEnrolment {
                id: started.id,
                algorithm: app.public_key().algorithm(),
                public_key: &key,
                address: &good_address,
                signature: &proof,
            },
            &h.client(),
        )
        .await
        .expect("the enrolment was still open");
    let devices = h.mfa.push_devices(totp.user.id).await.unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].factor_id, enrolled.factor_id);
    assert_eq!(devices[0].label.as_deref(), Some("phone"));
    assert_eq!(devices[0].address_kind.as_deref(), Some("test"));
}

/// A key enrolled already is refused; so is a device beyond
/// `policy.push.max_devices`. A stale session must step up first.
pub async fn duplicate_keys_extra_devices_and_stale_sessions_are_refused<S: Store>(store: Arc<S>) {
    let h = Harness::with_policy(store, |p| p.push.max_devices = 2);
    let user = push_user(&h, "dina").await;
    let claims = fresh_claims(&h, &user.totp).await;
    expect_err(
        enrol(&h, &claims, &user.app, "dina-second-token").await,
        "push_already_registered",
    );
    enrol(&h, &claims, &TestPushApp::p256(), "dina-tablet")
        .await
        .expect("a second device");
    expect_err(
        enrol(&h, &claims, &TestPushApp::ed25519(), "dina-third").await,
        "push_too_many_devices",
    );
    h.advance(h.mfa.policy().session.reauth_window + TimeDelta::minutes(1));
    expect_err(
        h.mfa
            .start_push_enrolment(Actor::Session(&claims), None)
            .await,
        "step_up_required",
    );
}

/// A removed push app can no longer answer, and its approval cannot
/// complete a sign-in.
pub async fn a_removed_app_cannot_answer<S: Store>(store: Arc<S>) {
    let h = Harness::new(Arc::clone(&store));
    let user = push_user(&h, "rudi").await;
    let (ticket, pending) = ask(&h, &user).await;
    approve(&h, &user, &pending).await.expect("approved");
    store
        .soft_delete_factor(user.factor_id, h.now())
        .await
        .expect("removed");
    expect_err(
        h.mfa
            .complete_push(&ticket, pending.request, false, &h.client())
            .await,
        "method_unavailable",
    );
}

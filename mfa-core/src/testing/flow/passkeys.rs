//! Passkeys and security keys (WebAuthn): registration, the second factor,
//! and what the relying party refuses. The browser and authenticator are
//! [`SoftAuthenticator`]: everything crosses the engine's API as the JSON a
//! browser sends.

use super::harness::{Harness, PASSKEY_ORIGIN, TotpUser, expect_err, expect_mfa_ticket};
use crate::crypto::AccessClaims;
use crate::model::{
    AuditKind, AuditOutcome, AuthMethod, ChallengeId, FactorId, FactorKind, FactorStatus,
    NotificationKind,
};
use crate::store::{AuditFilter, Store};
use crate::testing::authenticator::SoftAuthenticator;
use crate::{
    Actor, LoginOutcome, Mfa, MfaResult, PasskeySignInRequest, PasskeyVerifyRequest, Verified,
};
use chrono::TimeDelta;
use std::sync::Arc;

/// A user with an authenticator app and a registered passkey.
pub(super) struct PasskeyUser {
    pub(super) totp: TotpUser,
    pub(super) authenticator: SoftAuthenticator,
    factor_id: FactorId,
}

/// Claims of a session that verified a second factor just now.
pub(super) async fn fresh_claims<S: Store>(h: &Harness<S>, user: &TotpUser) -> AccessClaims {
    let verified = h.sign_in_with_totp(user).await;
    h.next_step();
    h.mfa
        .authenticate(&verified.tokens.access_token)
        .await
        .expect("authenticate")
}

/// Registers a passkey held by `authenticator` for the session `claims`.
async fn register<S: Store>(
    h: &Harness<S>,
    claims: &AccessClaims,
    authenticator: &mut SoftAuthenticator,
) -> MfaResult<crate::Enrolled> {
    let started = h
        .mfa
        .start_passkey_registration(Actor::Session(claims), Some("laptop"))
        .await
        .expect("start_passkey_registration");
    let response = authenticator
        .register(&started.options)
        .await
        .expect("the authenticator makes a credential");
    h.mfa
        .finish_passkey_registration(
            Actor::Session(claims),
            started.ceremony,
            &response.to_string(),
            &h.client(),
        )
        .await
}

pub(super) async fn user_with_passkey<S: Store>(h: &Harness<S>, name: &str) -> PasskeyUser {
    let totp = h.user_with_totp(name).await;
    let claims = fresh_claims(h, &totp).await;
    let mut authenticator = SoftAuthenticator::new(PASSKEY_ORIGIN);
    let enrolled = register(h, &claims, &mut authenticator)
        .await
        .expect("the passkey registers");
    PasskeyUser {
        totp,
        authenticator,
        factor_id: enrolled.factor_id,
    }
}

/// A fresh login ticket of `user`, the ceremony for it and the assertion
/// `authenticator` gives for it.
pub(super) async fn assertion<S: Store>(
    h: &Harness<S>,
    user: &PasskeyUser,
    authenticator: &mut SoftAuthenticator,
) -> (String, ChallengeId, String) {
    let ticket = h.mfa_ticket(&user.totp.user).await;
    let options = h
        .mfa
        .passkey_options(&ticket)
        .await
        .expect("passkey_options");
    let response = authenticator
        .authenticate(&options.options)
        .await
        .expect("the authenticator signs");
    (ticket, options.ceremony, response.to_string())
}

pub(super) async fn answer<S: Store>(
    h: &Harness<S>,
    ticket: &str,
    ceremony: ChallengeId,
    response: &str,
) -> MfaResult<Verified> {
    h.mfa
        .verify_passkey(PasskeyVerifyRequest {
            ticket,
            ceremony,
            response,
            remember_device: false,
            client: &h.client(),
        })
        .await
}

async fn events<S: Store>(h: &Harness<S>, user: &PasskeyUser, kind: AuditKind) -> usize {
    h.audit_matching(&AuditFilter {
        user_id: Some(user.totp.user.id),
        kinds: vec![kind],
        ..AuditFilter::default()
    })
    .await
    .len()
}

/// A passkey registered from a session with a fresh second factor answers
/// a later sign-in's ticket: AAL2, `amr` per RFC 8176 (`hwk` or `swk`, and
/// `user`); the method is offered, listed, audited and announced.
pub async fn passkey_registers_and_answers_a_ticket_at_aal2<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let mut user = user_with_passkey(&h, "alice").await;
    assert_eq!(
        h.notified(&user.totp.user, NotificationKind::FactorAdded),
        2,
        "the app and the passkey were announced"
    );
    let listed = h.mfa.passkeys(user.totp.user.id).await.expect("passkeys");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].factor_id, user.factor_id);
    assert_eq!(listed[0].label.as_deref(), Some("laptop"));
    assert_eq!(listed[0].status, FactorStatus::Active);
    assert!(
        listed[0].transports.iter().any(|t| t == "internal"),
        "{:?}",
        listed[0].transports
    );

    let outcome = h.login(&user.totp.user).await;
    match &outcome {
        Ok(crate::LoginOutcome::MfaRequired { methods, .. }) => {
            assert!(methods.contains(&FactorKind::Webauthn), "{methods:?}");
        }
        other => panic!("expected MfaRequired, got {other:?}"),
    }
    let mut authenticator = user.authenticator.clone();
    let (ticket, ceremony, response) = assertion(&h, &user, &mut authenticator).await;
    user.authenticator = authenticator;
    let verified = answer(&h, &ticket, ceremony, &response)
        .await
        .expect("the passkey answers the ticket");
    assert_eq!(verified.tokens.aal, crate::model::Aal::Aal2);
    let amr = &verified.tokens.amr;
    assert!(amr.contains(&AuthMethod::Pwd), "{amr:?}");
    assert!(
        amr.contains(&AuthMethod::Hwk) || amr.contains(&AuthMethod::Swk),
        "{amr:?}"
    );
    assert!(amr.contains(&AuthMethod::User), "{amr:?}");
    assert!(!amr.contains(&AuthMethod::Otp), "{amr:?}");
    let used = h
        .audit_matching(&AuditFilter {
            user_id: Some(user.totp.user.id),
            kinds: vec![AuditKind::MfaVerification],
            ..AuditFilter::default()
        })
        .await;
    assert!(
        used.iter()
            .any(|e| e.outcome == AuditOutcome::Success && e.factor == Some(FactorKind::Webauthn)),
        "the passkey's use is audited"
    );
    assert_eq!(events(&h, &user, AuditKind::FactorEnrolled).await, 2);
}

/// A passkey as a user's first second factor comes with backup codes,
/// like any first factor.
pub async fn first_passkey_comes_with_backup_codes<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("bea").await;
    let tokens = h.sign_in(&user).await;
    let claims = h
        .mfa
        .authenticate(&tokens.access_token)
        .await
        .expect("authenticate");
    let mut authenticator = SoftAuthenticator::new(PASSKEY_ORIGIN);
    let enrolled = register(&h, &claims, &mut authenticator)
        .await
        .expect("registers");
    assert_eq!(enrolled.backup_codes.map(|c| c.codes.len()), Some(10));
    let outcome = h.login(&user).await;
    let ticket = expect_mfa_ticket(outcome);
    assert!(!ticket.is_empty(), "a passkey makes the second factor due");
}

/// Registering needs a recent second factor when the user has one (R37):
/// a session older than the re-authentication window is refused.
pub async fn passkey_registration_needs_a_recent_second_factor<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("cem").await;
    let claims = fresh_claims(&h, &user).await;
    h.advance(TimeDelta::hours(1));
    let stale = h
        .mfa
        .start_passkey_registration(Actor::Session(&claims), None)
        .await;
    assert!(stale.is_err(), "a stale session cannot register a passkey");
}

/// A registration answered from another origin (a phishing page relaying
/// the options) is refused with its reason and registers nothing; the
/// ceremony is spent.
pub async fn passkey_registration_refuses_a_wrong_origin_and_stores_nothing<S: Store>(
    store: Arc<S>,
) {
    let h = Harness::new(store);
    let user = h.user_with_totp("dan").await;
    let claims = fresh_claims(&h, &user).await;
    let started = h
        .mfa
        .start_passkey_registration(Actor::Session(&claims), None)
        .await
        .expect("start");
    let mut authenticator = SoftAuthenticator::new(PASSKEY_ORIGIN);
    authenticator.set_origin("https://app.example.com.evil.test");
    let response = authenticator
        .register(&started.options)
        .await
        .expect("create");
    let finish = |response: String| {
        let h = &h;
        let claims = &claims;
        async move {
            h.mfa
                .finish_passkey_registration(
                    Actor::Session(claims),
                    started.ceremony,
                    &response,
                    &h.client(),
                )
                .await
        }
    };
    expect_err(finish(response.to_string()).await, "passkey_wrong_origin");
    assert!(h.mfa.passkeys(user.user.id).await.expect("list").is_empty());
    // The ceremony is spent: even a right answer is too late now.
    let mut honest = SoftAuthenticator::new(PASSKEY_ORIGIN);
    let response = honest.register(&started.options).await.expect("create");
    expect_err(
        finish(response.to_string()).await,
        "passkey_ceremony_closed",
    );
    assert!(h.mfa.passkeys(user.user.id).await.expect("list").is_empty());
}

/// An answer to one ceremony submitted for another (whose challenge it
/// does not sign) is refused.
pub async fn passkey_registration_refuses_an_answer_for_another_ceremony<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("eva").await;
    let claims = fresh_claims(&h, &user).await;
    let first = h
        .mfa
        .start_passkey_registration(Actor::Session(&claims), None)
        .await
        .expect("start");
    let second = h
        .mfa
        .start_passkey_registration(Actor::Session(&claims), None)
        .await
        .expect("start");
    let mut authenticator = SoftAuthenticator::new(PASSKEY_ORIGIN);
    let response = authenticator
        .register(&first.options)
        .await
        .expect("create");
    expect_err(
        h.mfa
            .finish_passkey_registration(
                Actor::Session(&claims),
                second.ceremony,
                &response.to_string(),
                &h.client(),
            )
            .await,
        "passkey_wrong_challenge",
    );
    // Another user's session cannot take the ceremony either.
    let other = h.user_with_totp("eve").await;
    let other_claims = fresh_claims(&h, &other).await;
    expect_err(
        h.mfa
            .finish_passkey_registration(
                Actor::Session(&other_claims),
                first.ceremony,
                &response.to_string(),
                &h.client(),
            )
            .await,
        "passkey_ceremony_closed",
    );
}

/// An assertion is single use: the same answer again (its ceremony taken)
/// is refused, even with a new ticket.
pub async fn replayed_assertion_is_refused<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let mut user = user_with_passkey(&h, "finn").await;
    let mut authenticator = user.authenticator.clone();
    let (ticket, ceremony, response) = assertion(&h, &user, &mut authenticator).await;
    user.authenticator = authenticator;
    answer(&h, &ticket, ceremony, &response)
        .await
        .expect("the first answer wins");
    let again = h.mfa_ticket(&user.totp.user).await;
    expect_err(
        answer(&h, &again, ceremony, &response).await,
        "passkey_ceremony_closed",
    );
    expect_err(
        answer(&h, &ticket, ceremony, &response).await,
        "invalid_ticket",
    );
}

/// The browser has the ceremony's lifetime (5 minutes by default) to
/// answer.
pub async fn assertion_for_an_expired_ceremony_is_refused<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = user_with_passkey(&h, "gus").await;
    let mut authenticator = user.authenticator.clone();
    let (ticket, ceremony, response) = assertion(&h, &user, &mut authenticator).await;
    h.advance(TimeDelta::minutes(5));
    expect_err(
        answer(&h, &ticket, ceremony, &response).await,
        "passkey_ceremony_closed",
    );
}

/// An assertion made for another origin is refused, counts as a failed
/// second factor and is audited with its reason.
pub async fn assertion_from_a_wrong_origin_counts_as_a_failure<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = user_with_passkey(&h, "hal").await;
    let mut phished = user.authenticator.clone();
    phished.set_origin("https://login.example.org");
    let (ticket, ceremony, response) = assertion(&h, &user, &mut phished).await;
    expect_err(
        answer(&h, &ticket, ceremony, &response).await,
        "passkey_wrong_origin",
    );
    assert_eq!(h.mfa_failures(user.totp.user.id).await, 1);
    let failed = h
        .audit_matching(&AuditFilter {
            user_id: Some(user.totp.user.id),
            kinds: vec![AuditKind::MfaVerification],
            ..AuditFilter::default()
        })
        .await;
    assert!(failed.iter().any(|e| {
        e.outcome == AuditOutcome::Failure && e.metadata["reason"] == "passkey_wrong_origin"
    }));
}

/// Without user verification (PIN or biometrics) an assertion is refused:
/// the passkey alone would be one factor.
pub async fn assertion_without_user_verification_is_refused<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = user_with_passkey(&h, "ida").await;
    let mut lazy = user.authenticator.clone().user_verification(false);
    let (ticket, ceremony, response) = assertion(&h, &user, &mut lazy).await;
    expect_err(
        answer(&h, &ticket, ceremony, &response).await,
        "passkey_user_not_verified",
    );
}

/// Answers whose signature or signed data were changed are refused.
pub async fn tampered_assertions_are_refused<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = user_with_passkey(&h, "jon").await;
    for (field, expected) in [
        ("signature", "passkey_bad_signature"),
        ("authenticatorData", "passkey_bad_signature"),
        ("clientDataJSON", "passkey_malformed"),
    ] {
        let mut authenticator = user.authenticator.clone();
        let (ticket, ceremony, response) = assertion(&h, &user, &mut authenticator).await;
        let mut json: serde_json::Value = serde_json::from_str(&response).expect("json");
        let value = json["response"][field].as_str().expect("a base64url field");
        let mut bytes = data_encoding::BASE64URL_NOPAD
            .decode(value.as_bytes())
            .expect("base64url");
        // Flip one bit of the last byte: for client data that breaks the
        // JSON's closing brace.
        if let Some(last) = bytes.last_mut() {
            *last ^= 0x01;
        }
        json["response"][field] = data_encoding::BASE64URL_NOPAD.encode(&bytes).into();
        let refused = answer(&h, &ticket, ceremony, &json.to_string()).await;
        assert!(refused.is_err(), "{field}: a tampered answer is refused");
        let code = refused.err().map(|e| e.code()).unwrap_or_default();
        assert!(
            code == expected || code == "passkey_bad_signature" || code == "passkey_malformed",
            "{field}: {code}"
        );
    }
}

/// Answers that are not WebAuthn responses at all are refused before
/// anything is read or written: the ceremony stays open and no failure is
/// counted, so the genuine answer still works afterwards.
pub async fn malformed_answers_are_refused_before_anything_is_stored<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = user_with_passkey(&h, "kim").await;
    let mut authenticator = user.authenticator.clone();
    let (ticket, ceremony, response) = assertion(&h, &user, &mut authenticator).await;
    let oversized = format!("{{\"id\": \"{}\"}}", "A".repeat(70_000));
    for body in [
        "",
        "not json",
        "{}",
        "[]",
        "{\"id\": \"x\", \"rawId\": \"%%%\", \"type\": \"public-key\", \"response\": {}}",
        oversized.as_str(),
    ] {
        expect_err(
            answer(&h, &ticket, ceremony, body).await,
            "passkey_malformed",
        );
    }
    assert_eq!(h.mfa_failures(user.totp.user.id).await, 0);
    answer(&h, &ticket, ceremony, &response)
        .await
        .expect("the genuine answer still works");
}

/// A cloned authenticator (its signature counter behind the stored one) is
/// refused; the credential is disabled, the event audited and the user
/// told (WebAuthn Level 3 §7.2 step 21).
pub async fn cloned_authenticator_is_refused_disabled_audited_and_notified<S: Store>(
    store: Arc<S>,
) {
    let h = Harness::new(store);
    let user = user_with_passkey(&h, "lea").await;
    let mut original = user.authenticator.clone();
    let mut clone = user.authenticator.clone();
    let (ticket, ceremony, response) = assertion(&h, &user, &mut original).await;
    answer(&h, &ticket, ceremony, &response)
        .await
        .expect("the original signs in");
    let (ticket, ceremony, response) = assertion(&h, &user, &mut clone).await;
    expect_err(
        answer(&h, &ticket, ceremony, &response).await,
        "passkey_counter_regression",
    );
    let listed = h.mfa.passkeys(user.totp.user.id).await.expect("list");
    assert_eq!(listed[0].status, FactorStatus::Disabled);
    assert_eq!(events(&h, &user, AuditKind::PasskeySuspect).await, 1);
    assert_eq!(
        h.notified(&user.totp.user, NotificationKind::PasskeySuspect),
        1
    );
    // The disabled credential is no longer offered, not even to the
    // original.
    let ticket = h.mfa_ticket(&user.totp.user).await;
    expect_err(h.mfa.passkey_options(&ticket).await, "method_unavailable");
}

/// Wrong passkey answers count toward the second-factor lockout like wrong
/// codes (R20).
pub async fn wrong_passkey_answers_lock_the_second_factor<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let threshold = h.mfa.policy().mfa_lockout.threshold;
    let user = user_with_passkey(&h, "max").await;
    let mut phished = user.authenticator.clone();
    phished.set_origin("https://login.example.org");
    let mut last = None;
    for _ in 0..threshold {
        let (ticket, ceremony, response) = assertion(&h, &user, &mut phished).await;
        last = Some(answer(&h, &ticket, ceremony, &response).await);
    }
    let _ = last;
    let mut honest = user.authenticator.clone();
    let (ticket, ceremony, response) = assertion(&h, &user, &mut honest).await;
    expect_err(
        answer(&h, &ticket, ceremony, &response).await,
        "account_locked",
    );
}

async fn answer_owned(
    mfa: Mfa,
    ticket: String,
    ceremony: ChallengeId,
    response: String,
    client: crate::ClientInfo,
) -> MfaResult<Verified> {
    mfa.verify_passkey(PasskeyVerifyRequest {
        ticket: &ticket,
        ceremony,
        response: &response,
        remember_device: false,
        client: &client,
    })
    .await
}

/// The same assertion answered 8 times at once: exactly one wins (the
/// ceremony is taken atomically on every store).
pub async fn concurrent_answers_with_one_assertion_succeed_once<S: Store>(store: Arc<S>) {
    const N: usize = 8;
    let h = Harness::new(store);
    let user = user_with_passkey(&h, "ned").await;
    let mut authenticator = user.authenticator.clone();
    let (ticket, ceremony, response) = assertion(&h, &user, &mut authenticator).await;
    let results = crate::testing::race_all(N, |_| {
        answer_owned(
            h.mfa.clone(),
            ticket.clone(),
            ceremony,
            response.clone(),
            h.client(),
        )
    })
    .await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    let codes: Vec<&str> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(crate::MfaError::code))
        .collect();
    assert_eq!(wins, 1, "exactly one of {N} may win; errors: {codes:?}");
}

/// Options and the authenticator's answer for a passwordless sign-in.
async fn passwordless<S: Store>(
    h: &Harness<S>,
    authenticator: &mut SoftAuthenticator,
) -> (ChallengeId, String) {
    let options = h
        .mfa
        .passkey_sign_in_options(&h.client())
        .await
        .expect("passkey_sign_in_options");
    let response = authenticator
        .authenticate(&options.options)
        .await
        .expect("the authenticator finds its discoverable credential");
    (options.ceremony, response.to_string())
}

async fn sign_in_with<S: Store>(
    h: &Harness<S>,
    ceremony: ChallengeId,
    response: &str,
) -> MfaResult<LoginOutcome> {
    h.mfa
        .passkey_sign_in(PasskeySignInRequest {
            ceremony,
            response,
            client: h.client(),
        })
        .await
}

/// A registered passkey signs in alone, without a user name: the
/// credential names the account, user verification makes it two factors,
/// the session is AAL2 with a fresh MFA time.
pub async fn passwordless_passkey_signs_in_at_aal2<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = user_with_passkey(&h, "olga").await;
    let mut authenticator = user.authenticator.clone();
    let (ceremony, response) = passwordless(&h, &mut authenticator).await;
    let outcome = sign_in_with(&h, ceremony, &response).await;
    let tokens = match outcome {
        Ok(LoginOutcome::Authenticated(tokens)) => tokens,
        other => panic!("expected Authenticated, got {other:?}"),
    };
    assert_eq!(tokens.aal, crate::model::Aal::Aal2);
    assert!(tokens.amr.contains(&AuthMethod::User), "{:?}", tokens.amr);
    assert!(!tokens.amr.contains(&AuthMethod::Pwd), "{:?}", tokens.amr);
    let claims = h
        .mfa
        .authenticate(&tokens.access_token)
        .await
        .expect("authenticate");
    assert_eq!(claims.sub, user.totp.user.id);
    h.mfa
        .require_recent_mfa(&claims, TimeDelta::minutes(5))
        .expect("a passwordless passkey sign-in counts as a fresh second factor");
}

/// The options of a passwordless sign-in name no account and no
/// credential, and differ only by their challenge: they tell nothing about
/// who exists.
pub async fn passwordless_options_name_no_account<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let _user = user_with_passkey(&h, "pia").await;
    let a = h
        .mfa
        .passkey_sign_in_options(&h.client())
        .await
        .expect("options");
    let b = h
        .mfa
        .passkey_sign_in_options(&h.client())
        .await
        .expect("options");
    for options in [&a.options, &b.options] {
        let allowed = &options["publicKey"]["allowCredentials"];
        assert!(
            allowed.is_null() || allowed.as_array().is_some_and(Vec::is_empty),
            "{allowed}"
        );
        assert!(options["publicKey"].get("user").is_none());
    }
    assert_ne!(
        a.options["publicKey"]["challenge"],
        b.options["publicKey"]["challenge"]
    );
    assert_ne!(a.ceremony, b.ceremony);
}

/// A passwordless answer is single use, like every assertion.
pub async fn passwordless_answer_is_single_use<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = user_with_passkey(&h, "quinn").await;
    let mut authenticator = user.authenticator.clone();
    let (ceremony, response) = passwordless(&h, &mut authenticator).await;
    sign_in_with(&h, ceremony, &response)
        .await
        .expect("first sign-in");
    expect_err(
        sign_in_with(&h, ceremony, &response).await,
        "passkey_ceremony_closed",
    );
}

/// A credential of a disabled or deleted account, or an answer naming no
/// account, signs nobody in and answers as an unknown credential.
pub async fn passwordless_refuses_unknown_and_disabled_accounts<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = user_with_passkey(&h, "rosa").await;
    let mut authenticator = user.authenticator.clone();
    let (ceremony, response) = passwordless(&h, &mut authenticator).await;
    let mut anonymous: serde_json::Value = serde_json::from_str(&response).expect("json");
    if let Some(inner) = anonymous["response"].as_object_mut() {
        inner.remove("userHandle");
    }
    expect_err(
        sign_in_with(&h, ceremony, &anonymous.to_string()).await,
        "passkey_unknown_credential",
    );
    h.mfa
        .set_user_status(user.totp.user.id, crate::model::UserStatus::Disabled)
        .await
        .expect("disable");
    let (ceremony, response) = passwordless(&h, &mut authenticator).await;
    expect_err(
        sign_in_with(&h, ceremony, &response).await,
        "passkey_unknown_credential",
    );
}

/// With `policy.methods.passwordless` off, neither options nor sign-ins
/// are served; at AAL1 the passkey stands for the password and the second
/// factor is still asked for.
pub async fn passwordless_follows_the_policy<S: Store>(store: Arc<S>) {
    let off = Harness::with_policy(Arc::clone(&store), |p| p.methods.passwordless = None);
    expect_err(
        off.mfa.passkey_sign_in_options(&off.client()).await,
        "method_unavailable",
    );
    let h = Harness::with_policy(store, |p| {
        p.methods.passwordless = Some(crate::model::Aal::Aal1);
    });
    let user = user_with_passkey(&h, "sam").await;
    let mut authenticator = user.authenticator.clone();
    let (ceremony, response) = passwordless(&h, &mut authenticator).await;
    match sign_in_with(&h, ceremony, &response).await {
        Ok(LoginOutcome::MfaRequired { methods, .. }) => {
            assert!(methods.contains(&FactorKind::Totp), "{methods:?}");
        }
        other => panic!("expected MfaRequired, got {other:?}"),
    }
}

/// A cloned authenticator is caught on the passwordless path too.
pub async fn passwordless_clone_is_refused_and_disabled<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = user_with_passkey(&h, "tia").await;
    let mut original = user.authenticator.clone();
    let mut clone = user.authenticator.clone();
    let (ceremony, response) = passwordless(&h, &mut original).await;
    sign_in_with(&h, ceremony, &response)
        .await
        .expect("the original signs in");
    let (ceremony, response) = passwordless(&h, &mut clone).await;
    expect_err(
        sign_in_with(&h, ceremony, &response).await,
        "passkey_counter_regression",
    );
    assert_eq!(events(&h, &user, AuditKind::PasskeySuspect).await, 1);
}

/// A passkey is renamed and removed from a session with a fresh second
/// factor; both are audited, and a removed passkey no longer answers.
pub async fn passkey_is_renamed_and_removed<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = user_with_passkey(&h, "uma").await;
    let claims = fresh_claims(&h, &user.totp).await;
    h.mfa
        .rename_factor(Actor::Session(&claims), user.factor_id, Some("phone"))
        .await
        .expect("rename");
    let listed = h.mfa.passkeys(user.totp.user.id).await.expect("list");
    assert_eq!(listed[0].label.as_deref(), Some("phone"));
    expect_err(
        h.mfa
            .rename_factor(Actor::Session(&claims), user.factor_id, Some(""))
            .await,
        "invalid_input",
    );
    expect_err(
        h.mfa
            .rename_factor(Actor::Session(&claims), FactorId::new(), Some("x"))
            .await,
        "not_found",
    );
    assert_eq!(events(&h, &user, AuditKind::FactorRenamed).await, 1);
    h.mfa
        .remove_factor(Actor::Session(&claims), user.factor_id)
        .await
        .expect("remove");
    assert!(
        h.mfa
            .passkeys(user.totp.user.id)
            .await
            .expect("list")
            .is_empty()
    );
    let ticket = h.mfa_ticket(&user.totp.user).await;
    expect_err(h.mfa.passkey_options(&ticket).await, "method_unavailable");
    assert!(events(&h, &user, AuditKind::FactorRemoved).await >= 1);
}

/// With an authenticator allow-list, a passkey whose model (AAGUID) is not
/// on it is not registered; one that is, is, and its model is listed.
pub async fn authenticator_allow_list_decides_registration<S: Store>(store: Arc<S>) {
    use super::harness::PASSKEY_RP_ID;
    use crate::passkey::PasskeyConfig;
    let config = PasskeyConfig::new(PASSKEY_RP_ID, "Flow tests", PASSKEY_ORIGIN);
    let strict = Harness::with_passkeys(
        Arc::clone(&store),
        config.clone().allow_authenticators([uuid::Uuid::from_u128(
            0x0ea2_42b4_43c4_4a1b_8b17_dd6d_0b6b_aec6,
        )]),
    );
    let user = strict.user_with_totp("vic").await;
    let claims = fresh_claims(&strict, &user).await;
    let mut authenticator = SoftAuthenticator::new(PASSKEY_ORIGIN);
    expect_err(
        register(&strict, &claims, &mut authenticator).await,
        "passkey_not_allowed",
    );
    assert!(
        strict
            .mfa
            .passkeys(user.user.id)
            .await
            .expect("list")
            .is_empty()
    );
    // The software authenticator names the nil AAGUID (as browsers do for
    // many authenticators under attestation `none`).
    let open = Harness::with_passkeys(store, config.allow_authenticators([uuid::Uuid::nil()]));
    let user = open.user_with_totp("wes").await;
    let claims = fresh_claims(&open, &user).await;
    let mut authenticator = SoftAuthenticator::new(PASSKEY_ORIGIN);
    register(&open, &claims, &mut authenticator)
        .await
        .expect("an allowed model registers");
    let listed = open.mfa.passkeys(user.user.id).await.expect("list");
    assert_eq!(listed[0].aaguid, Some(uuid::Uuid::nil()));
}

/// A user who must enrol a second factor can register a passkey with the
/// enrolment ticket: the registration completes the sign-in at AAL2 and
/// comes with backup codes.
pub async fn passkey_registered_with_the_enrolment_ticket_completes_sign_in<S: Store>(
    store: Arc<S>,
) {
    let h = Harness::with_policy(store, |p| {
        p.enforcement = crate::policy::Enforcement::All;
    });
    let user = h.create_user("xia").await;
    let ticket = match h.login(&user).await {
        Ok(LoginOutcome::EnrollmentRequired { ticket, .. }) => ticket,
        other => panic!("expected EnrollmentRequired, got {other:?}"),
    };
    let started = h
        .mfa
        .start_passkey_registration(Actor::Ticket(&ticket), None)
        .await
        .expect("start with the ticket");
    let mut authenticator = SoftAuthenticator::new(PASSKEY_ORIGIN);
    let created = authenticator
        .register(&started.options)
        .await
        .expect("create");
    let enrolled = h
        .mfa
        .finish_passkey_registration(
            Actor::Ticket(&ticket),
            started.ceremony,
            &created.to_string(),
            &h.client(),
        )
        .await
        .expect("finish with the ticket");
    let tokens = enrolled
        .tokens
        .expect("the registration completes the sign-in");
    assert_eq!(tokens.aal, crate::model::Aal::Aal2);
    assert!(tokens.amr.contains(&AuthMethod::Pwd) && tokens.amr.contains(&AuthMethod::User));
    assert_eq!(enrolled.backup_codes.map(|c| c.codes.len()), Some(10));
    // The ticket is spent.
    expect_err(
        h.mfa
            .start_passkey_registration(Actor::Ticket(&ticket), None)
            .await,
        "invalid_ticket",
    );
}

/// Changes a registration answer before it is sent.
type Edit = Box<dyn FnOnce(&serde_json::Value) -> String + Send>;

/// Rewrites the authenticator data inside a registration answer's
/// attestation object (attestation `none` signs nothing, so the relying
/// party's own checks are what refuses it).
fn with_auth_data(answer: &serde_json::Value, edit: impl FnOnce(&mut Vec<u8>)) -> String {
    use serde_cbor_2::Value;
    let mut answer = answer.clone();
    let bytes = data_encoding::BASE64URL_NOPAD
        .decode(
            answer["response"]["attestationObject"]
                .as_str()
                .expect("attestationObject")
                .as_bytes(),
        )
        .expect("base64url");
    let mut object: std::collections::BTreeMap<String, Value> =
        serde_cbor_2::from_slice(&bytes).expect("CBOR");
    if let Some(Value::Bytes(auth_data)) = object.get_mut("authData") {
        edit(auth_data);
    }
    let bytes = serde_cbor_2::to_vec(&object).expect("CBOR");
    answer["response"]["attestationObject"] = data_encoding::BASE64URL_NOPAD.encode(&bytes).into();
    answer.to_string()
}

/// Registration answers the relying party must refuse, each with its
/// reason, none of them registering anything: no user presence, no user
/// verification, another relying party, an attestation object that is not
/// CBOR, authenticator data cut short.
pub async fn registration_answers_are_refused_with_their_reason<S: Store>(store: Arc<S>) {
    const UP: u8 = 0x01;
    const UV: u8 = 0x04;
    let h = Harness::new(store);
    let user = h.user_with_totp("yan").await;
    let claims = fresh_claims(&h, &user).await;
    let attempt = |edit: Box<dyn FnOnce(&serde_json::Value) -> String + Send>,
                   rp: Option<&'static str>| {
        let h = &h;
        let claims = &claims;
        async move {
            let started = h
                .mfa
                .start_passkey_registration(Actor::Session(claims), None)
                .await
                .expect("start");
            let mut options = started.options.clone();
            if let Some(rp) = rp {
                options["publicKey"]["rp"]["id"] = rp.into();
            }
            let mut authenticator = SoftAuthenticator::new(PASSKEY_ORIGIN);
            let created = authenticator.register(&options).await.expect("create");
            h.mfa
                .finish_passkey_registration(
                    Actor::Session(claims),
                    started.ceremony,
                    &edit(&created),
                    &h.client(),
                )
                .await
        }
    };
    let cases: Vec<(&str, Edit, Option<&'static str>)> = vec![
        (
            "passkey_user_not_present",
            Box::new(|a| with_auth_data(a, |d| d[32] &= !UP)),
            None,
        ),
        (
            "passkey_user_not_verified",
            Box::new(|a| with_auth_data(a, |d| d[32] &= !UV)),
            None,
        ),
        (
            "passkey_malformed",
            Box::new(|a| with_auth_data(a, |d| d.truncate(40))),
            None,
        ),
        (
            "passkey_malformed",
            Box::new(|a| {
                let mut a = a.clone();
                a["response"]["attestationObject"] = "AAEC".into();
                a.to_string()
            }),
            None,
        ),
        // The authenticator signs for the parent domain (which the page
        // may name), not for the relying party.
        (
            "passkey_wrong_relying_party",
            Box::new(|a: &serde_json::Value| a.to_string()),
            Some("example.com"),
        ),
    ];
    for (code, edit, rp) in cases {
        expect_err(attempt(edit, rp).await, code);
    }
    assert!(h.mfa.passkeys(user.user.id).await.expect("list").is_empty());
}

/// An assertion by a credential the user does not have is refused as an
/// unknown credential.
pub async fn assertion_by_an_unknown_credential_is_refused<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = user_with_passkey(&h, "zoe").await;
    let mut authenticator = user.authenticator.clone();
    let (ticket, ceremony, response) = assertion(&h, &user, &mut authenticator).await;
    let mut json: serde_json::Value = serde_json::from_str(&response).expect("json");
    let other = data_encoding::BASE64URL_NOPAD.encode(&[7u8; 32]);
    json["id"] = other.clone().into();
    json["rawId"] = other.into();
    expect_err(
        answer(&h, &ticket, ceremony, &json.to_string()).await,
        "passkey_unknown_credential",
    );
}

/// Options for a ticket are limited per user like sign-in attempts: past
/// the limit they are refused (and audited) until the window moves on.
pub async fn passkey_options_are_rate_limited_per_user<S: Store>(store: Arc<S>) {
    let h = Harness::with_policy(store, |p| p.login_rate.per_identifier = 3);
    let user = user_with_passkey(&h, "amy").await;
    // The sign-in that gives the ticket counts too (per identifier).
    let ticket = h.mfa_ticket(&user.totp.user).await;
    for _ in 0..3 {
        h.mfa
            .passkey_options(&ticket)
            .await
            .expect("within the limit");
    }
    expect_err(h.mfa.passkey_options(&ticket).await, "rate_limited");
    assert!(events(&h, &user, AuditKind::RateLimited).await >= 1);
    h.advance(h.mfa.policy().login_rate.window);
    let ticket = h.mfa_ticket(&user.totp.user).await;
    h.mfa
        .passkey_options(&ticket)
        .await
        .expect("a new window allows options again");
}

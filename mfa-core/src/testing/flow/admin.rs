//! Administration (reset, deletion, purge, settings), the audit log and
//! what it must never contain.

use super::harness::{
    Harness, TestUser, contains_token, expect_authenticated, expect_err, expect_mfa_ticket,
};
use super::verify::wrong_code;
use crate::crypto::{ExposeSecret, SecretString};
use crate::delivery::Message;
use crate::model::{AuditKind, AuditOutcome, FactorKind, OtpChannel};
use crate::store::{AuditFilter, PageRequest, Store};
use crate::template::Templates;
use crate::{Actor, ClientInfo, Tokens};
use chrono::TimeDelta;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Every secret a scenario handled: long ones (passwords, seeds, tokens,
/// backup codes) are searched as substrings, numeric codes as whole tokens.
#[derive(Default)]
struct Secrets {
    long: Vec<String>,
    codes: Vec<String>,
}

impl Secrets {
    fn tokens(&mut self, tokens: &Tokens) {
        self.long.push(tokens.access_token.clone());
        self.long.push(tokens.refresh_token.clone());
        self.long.extend(tokens.trust_token.clone());
    }

    fn backup(&mut self, codes: &[SecretString]) {
        for code in codes {
            self.long.push(code.expose_secret().to_owned());
            self.long.push(code.expose_secret().replace('-', ""));
        }
    }

    fn found_in(&self, text: &str) -> Option<String> {
        self.long
            .iter()
            .find(|s| text.contains(s.as_str()))
            .or_else(|| self.codes.iter().find(|c| contains_token(text, c)))
            .cloned()
    }
}

/// A long scenario that goes through (nearly) every step of the engine,
/// success and failure; returns every secret it handled.
async fn full_scenario<S: Store>(h: &Harness<S>) -> (TestUser, Secrets) {
    let mut secrets = Secrets::default();
    let user = h.create_user("scenario").await;
    secrets.long.push(user.password.expose_secret().to_owned());
    let wrong_password = "wrong-password-123";
    secrets.long.push(wrong_password.to_owned());
    expect_err(
        h.login_with_password(&user, wrong_password).await,
        "invalid_credentials",
    );
    expect_err(
        h.mfa
            .login(crate::LoginRequest {
                identifier: "ghost@example.test".into(),
                password: user.password.clone(),
                client: h.client(),
            })
            .await,
        "invalid_credentials",
    );

    // Enrol an authenticator app.
    let first = h.sign_in(&user).await;
    secrets.tokens(&first);
    let (_, seed, backup) = h.enroll_totp_for(&first).await;
    secrets.long.push(seed.expose_secret().to_owned());
    secrets.codes.push(h.totp_code(&seed));
    secrets.backup(&backup);

    // A wrong code, then the right one, remembering the device.
    let ticket = h.mfa_ticket(&user).await;
    secrets.long.push(ticket.clone());
    h.next_step();
    let code = h.totp_code(&seed);
    secrets.codes.push(code.clone());
    secrets.codes.push(wrong_code(&code));
    expect_err(
        h.verify(&ticket, FactorKind::Totp, &wrong_code(&code))
            .await,
        "invalid_code",
    );
    let verified = h
        .verify_from(&ticket, FactorKind::Totp, &code, true, &h.client())
        .await
        .expect("verify")
        .tokens;
    secrets.tokens(&verified);

    // A replay.
    let replay = h.mfa_ticket(&user).await;
    secrets.long.push(replay.clone());
    expect_err(
        h.verify(&replay, FactorKind::Totp, &code).await,
        "invalid_code",
    );

    // The trusted device.
    let trusted_client = ClientInfo {
        trust_token: verified.trust_token.clone(),
        ..h.client()
    };
    let by_device = expect_authenticated(h.login_from(&user, trusted_client).await);
    secrets.tokens(&by_device);

    // A backup code.
    let ticket = h.mfa_ticket(&user).await;
    secrets.long.push(ticket.clone());
    let by_backup = h
        .verify(&ticket, FactorKind::BackupCodes, backup[0].expose_secret())
        .await
        .expect("backup code")
        .tokens;
    secrets.tokens(&by_backup);

    // Device trust revoked (enrolling another factor would end it too).
    let device = h.mfa.trusted_devices(user.id).await.expect("trusted")[0].id;
    h.mfa
        .revoke_device(user.id, device)
        .await
        .expect("revoke_device");

    // Refresh, then reuse.
    let refreshed = h
        .mfa
        .refresh(&by_device.refresh_token, &h.client())
        .await
        .expect("refresh");
    secrets.tokens(&refreshed);
    expect_err(
        h.mfa.refresh(&by_device.refresh_token, &h.client()).await,
        "token_reused",
    );

    // Step-up after the re-authentication window.
    let claims = h
        .mfa
        .authenticate(&verified.access_token)
        .await
        .expect("authenticate");
    h.advance(TimeDelta::minutes(11));
    let ticket = expect_mfa_ticket(h.mfa.begin_step_up(&claims).await);
    secrets.long.push(ticket.clone());
    let code = h.totp_code(&seed);
    secrets.codes.push(code.clone());
    let stepped = h
        .verify(&ticket, FactorKind::Totp, &code)
        .await
        .expect("step-up")
        .tokens;
    secrets.tokens(&stepped);
    let claims = h
        .mfa
        .authenticate(&stepped.access_token)
        .await
        .expect("authenticate");

    // Enrol email and sign in with it.
    let pending = h
        .mfa
        .enroll_email(Actor::Session(&claims), &user.email)
        .await
        .expect("enroll_email");
    let code = h.last_code(OtpChannel::Email, &user.email);
    secrets.codes.push(code.clone());
    h.mfa
        .confirm_factor(
            Actor::Session(&claims),
            pending.factor_id,
            &code,
            &h.client(),
        )
        .await
        .expect("confirm email");
    let ticket = h.mfa_ticket(&user).await;
    secrets.long.push(ticket.clone());
    h.mfa
        .send_challenge(&ticket, OtpChannel::Email)
        .await
        .expect("send_challenge");
    let code = h.last_code(OtpChannel::Email, &user.email);
    secrets.codes.push(code.clone());
    let by_email = h
        .verify(&ticket, FactorKind::Email, &code)
        .await
        .expect("email")
        .tokens;
    secrets.tokens(&by_email);

    // New backup codes.
    let fresh = h
        .mfa
        .regenerate_backup_codes(Actor::Session(&claims))
        .await
        .expect("regenerate");
    secrets.backup(&fresh.codes);

    // A lockout, lifted by an administrator.
    let ticket = h.mfa_ticket(&user).await;
    secrets.long.push(ticket.clone());
    let wrong = wrong_code(&h.totp_code_at(&seed, 1));
    for _ in 0..h.mfa.policy().mfa_lockout.threshold {
        expect_err(
            h.verify(&ticket, FactorKind::Totp, &wrong).await,
            "invalid_code",
        );
    }
    expect_err(
        h.verify(&ticket, FactorKind::Totp, &wrong).await,
        "account_locked",
    );
    h.mfa.unlock(user.id).await.expect("unlock");

    // A sign-in that cannot be assessed.
    let no_ip = ClientInfo {
        ip: None,
        ..h.client_on("fp-no-ip")
    };
    let ticket = expect_mfa_ticket(h.login_from(&user, no_ip).await);
    secrets.long.push(ticket);

    // Factor removal, password change, sessions ended.
    let email_factor = h
        .mfa
        .factors(user.id)
        .await
        .expect("factors")
        .into_iter()
        .find(|f| f.kind == FactorKind::Email)
        .expect("the email factor")
        .id;
    h.mfa
        .remove_factor(Actor::Session(&claims), email_factor)
        .await
        .expect("remove_factor");
    let new_password = SecretString::from("altered-new-password-456");
    secrets.long.push(new_password.expose_secret().to_owned());
    h.mfa
        .change_password(&claims, &user.password, &new_password)
        .await
        .expect("change_password");
    h.mfa
        .revoke_all_sessions(user.id, Some(claims.sid))
        .await
        .expect("revoke_all");
    h.mfa.logout(&claims).await.expect("logout");
    h.mfa
        .mark_device_compromised(user.id, device)
        .await
        .expect("compromised");

    // Administration.
    h.mfa
        .set_enforcement(user.id, true, None)
        .await
        .expect("set_enforcement");
    h.mfa.reset_mfa(user.id).await.expect("reset_mfa");
    let leaver = h.create_user("leaver").await;
    secrets
        .long
        .push(leaver.password.expose_secret().to_owned());
    h.mfa.delete_user(leaver.id).await.expect("delete_user");
    h.mfa.purge().await.expect("purge");
    (user, secrets)
}

/// R46: a full scenario leaves audit events of at least 20 distinct kinds,
/// each with its time, and a user wherever one was involved.
pub async fn r46_full_scenario_audits_at_least_twenty_kinds<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let (user, _) = full_scenario(&h).await;
    let events = h.audit().await;
    let kinds: BTreeSet<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.len() >= 20, "only {} kinds: {kinds:?}", kinds.len());
    for kind in [
        AuditKind::PasswordLogin,
        AuditKind::MfaVerification,
        AuditKind::TotpReplay,
        AuditKind::BackupCodeUsed,
        AuditKind::BackupCodesGenerated,
        AuditKind::FactorEnrolled,
        AuditKind::FactorRemoved,
        AuditKind::AccountLocked,
        AuditKind::DeviceTrusted,
        AuditKind::DeviceTrustRevoked,
        AuditKind::SessionRefreshed,
        AuditKind::RefreshTokenReused,
        AuditKind::RiskAssessed,
    ] {
        assert!(
            kinds.contains(kind.as_str()),
            "no `{}` event",
            kind.as_str()
        );
    }
    let own = events.iter().filter(|e| e.user_id == Some(user.id)).count();
    assert!(own > 30, "the user's events carry the user id");
    for e in events
        .iter()
        .filter(|e| e.kind == AuditKind::MfaVerification)
    {
        assert!(
            e.user_id.is_some() && e.factor.is_some(),
            "verification events name user and factor: {e:?}"
        );
        assert_eq!(
            e.ip.as_deref(),
            Some("192.0.2.10"),
            "and the source address"
        );
    }
}

/// R47: no audit event and no notification contains a password, TOTP seed,
/// code, backup code, ticket or token.
pub async fn r47_no_secret_reaches_the_audit_log_or_notifications<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let (user, secrets) = full_scenario(&h).await;
    assert!(secrets.long.len() > 30 && secrets.codes.len() > 4);
    // The search works: the code messages do contain their codes.
    let otp_texts: Vec<String> = h
        .email
        .messages()
        .iter()
        .filter(|m| matches!(m, Message::Otp(_)))
        .map(|m| {
            Templates::shipped()
                .render(m)
                .expect("the shipped templates render every code message")
                .text
        })
        .collect();
    assert!(otp_texts.iter().any(|t| secrets.found_in(t).is_some()));
    for event in h.audit_json().await {
        if let Some(secret) = secrets.found_in(&event) {
            panic!(
                "a secret ({} chars) leaked into the audit event {event}",
                secret.len()
            );
        }
    }
    let texts = h.notification_texts();
    assert!(texts.len() > 10, "the scenario sends notifications");
    for text in texts {
        if let Some(secret) = secrets.found_in(&text) {
            panic!(
                "a secret ({} chars) leaked into the notification {text}",
                secret.len()
            );
        }
    }
    assert!(!h.notifications(&user).is_empty());
}

/// Paging through the audit log returns every event exactly once, newest
/// first.
pub async fn audit_events_page_through_every_event_once<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    full_scenario(&h).await;
    let all = h.audit().await;
    let mut paged = Vec::new();
    let mut page = PageRequest::first(7);
    loop {
        let got = h
            .mfa
            .audit_events(&AuditFilter::default(), &page)
            .await
            .expect("audit_events");
        assert!(got.items.len() <= 7);
        paged.extend(got.items);
        match got.next {
            Some(cursor) => page.after = Some(cursor),
            None => break,
        }
    }
    let ids: Vec<_> = paged.iter().map(|e| e.id).collect();
    let expected: Vec<_> = all.iter().map(|e| e.id).collect();
    assert_eq!(ids, expected);
    assert!(paged.windows(2).all(|w| w[0].at >= w[1].at), "newest first");
}

/// Audit queries filter by user, kind and outcome.
pub async fn audit_events_filter_by_user_kind_and_outcome<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let a = h.create_user("ann").await;
    let b = h.create_user("ben").await;
    expect_err(
        h.login_with_password(&a, "wrong-password").await,
        "invalid_credentials",
    );
    h.sign_in(&a).await;
    h.sign_in(&b).await;
    let failures = h
        .audit_matching(&AuditFilter {
            user_id: Some(a.id),
            kinds: vec![AuditKind::PasswordLogin],
            outcome: Some(AuditOutcome::Failure),
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(failures.len(), 1);
    let b_events = h
        .audit_matching(&AuditFilter {
            user_id: Some(b.id),
            ..AuditFilter::default()
        })
        .await;
    assert!(!b_events.is_empty());
    assert!(b_events.iter().all(|e| e.user_id == Some(b.id)));
    let created = h
        .audit_matching(&AuditFilter {
            kinds: vec![AuditKind::UserCreated],
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(created.len(), 2);
}

/// `reset_mfa` removes every factor, backup code, device trust and session;
/// the user then signs in with the password alone.
pub async fn reset_mfa_removes_factors_trust_and_sessions<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("cy").await;
    let tokens = h.sign_in_remembered(&user, &h.client()).await;
    h.mfa.reset_mfa(user.user.id).await.expect("reset_mfa");
    let security = h.mfa.settings(user.user.id).await.expect("settings");
    assert!(security.factors.is_empty());
    assert_eq!(security.backup_codes_remaining, 0);
    assert!(
        h.mfa
            .trusted_devices(user.user.id)
            .await
            .expect("trusted")
            .is_empty()
    );
    expect_err(
        h.mfa.authenticate(&tokens.access_token).await,
        "invalid_token",
    );
    let tokens = expect_authenticated(h.login(&user.user).await);
    assert_eq!(tokens.aal, crate::model::Aal::Aal1);
}

/// Administrative calls made through [`crate::Mfa::as_operator`] name the
/// operator in their audit events (each in the unit of its change); calls
/// without one record no operator; bad operator names are refused before
/// anything changes.
pub async fn operator_calls_name_the_operator_in_their_audit_events<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("ops").await;
    let id = user.user.id;
    let ops = h.mfa.as_operator("support:ana").expect("operator");
    assert_eq!(ops.name(), "support:ana");
    ops.set_enforcement(id, true, Some(TimeDelta::days(2)))
        .await
        .expect("set_enforcement");
    ops.unlock(id).await.expect("unlock");
    ops.revoke_all_sessions(id).await.expect("revoke sessions");
    ops.revoke_all_devices(id).await.expect("revoke devices");
    ops.reset_mfa(id).await.expect("reset_mfa");
    ops.set_user_status(id, crate::model::UserStatus::Disabled)
        .await
        .expect("disable");
    h.mfa
        .set_user_status(id, crate::model::UserStatus::Active)
        .await
        .expect("enable without operator");
    ops.delete_user(id).await.expect("delete_user");
    expect_err(ops.unlock(crate::model::UserId::new()).await, "not_found");
    let events = h
        .mfa
        .audit_events(
            &AuditFilter {
                user_id: Some(id),
                ..AuditFilter::default()
            },
            &PageRequest {
                limit: 100,
                after: None,
            },
        )
        .await
        .expect("audit")
        .items;
    let by = |kind: AuditKind| -> Vec<Option<String>> {
        events
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.metadata["operator"].as_str().map(str::to_owned))
            .collect()
    };
    let ana = Some("support:ana".to_owned());
    for kind in [
        AuditKind::EnforcementChanged,
        AuditKind::AccountUnlocked,
        AuditKind::AllSessionsRevoked,
        AuditKind::DeviceTrustRevoked,
        AuditKind::MfaReset,
        AuditKind::UserDeleted,
    ] {
        assert_eq!(by(kind), std::slice::from_ref(&ana), "{kind:?}");
    }
    // Newest first: the re-enable without an operator, then the disable.
    assert_eq!(by(AuditKind::UserStatusChanged), [None, ana.clone()]);
    let reset = events
        .iter()
        .find(|e| e.kind == AuditKind::MfaReset)
        .expect("reset event");
    // The step's own metadata is kept beside the operator (the TOTP factor
    // and the backup codes).
    assert_eq!(reset.metadata["factors_removed"], 2, "{:?}", reset.metadata);
    for bad in ["", "  ", "a\nb", &"x".repeat(crate::MAX_OPERATOR_LEN + 1)] {
        expect_err(h.mfa.as_operator(bad).map(|_| ()), "invalid_input");
    }
}

/// GDPR art. 15/20: the export holds the account, factors, devices,
/// sessions and every audit event of the user (its own event first), and
/// no secret or digest; exporting is audited, with the operator when there
/// is one; an unknown user is `not_found`.
pub async fn export_holds_the_users_data_and_no_secret<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("gdpr").await;
    let tokens = h.sign_in_remembered(&user, &h.client()).await;
    expect_err(
        h.login_with_password(&user.user, "wrong-password-123")
            .await,
        "invalid_credentials",
    );
    let export = h.mfa.export_user_data(user.user.id).await.expect("export");
    assert_eq!(export.account.id, user.user.id);
    assert_eq!(export.account.identifier, user.user.identifier);
    assert!(export.account.has_password);
    assert_eq!(export.account.password_failures, 1);
    assert!(
        export
            .factors
            .iter()
            .any(|f| f.id == user.factor_id && f.kind == FactorKind::Totp)
    );
    assert_eq!(export.backup_codes_remaining, 10);
    assert_eq!(export.devices.len(), 1);
    assert!(export.devices[0].trusted_until.is_some());
    assert!(
        export
            .sessions
            .iter()
            .any(|s| s.aal == crate::model::Aal::Aal2)
    );
    assert_eq!(export.audit_events[0].kind, AuditKind::DataExported);
    assert!(
        export.audit_events.len() >= 5,
        "{}",
        export.audit_events.len()
    );
    assert!(
        export
            .audit_events
            .iter()
            .all(|e| e.user_id == Some(user.user.id))
    );
    let json = serde_json::to_string(&export).expect("serialises");
    for secret in [
        user.user.password.expose_secret(),
        user.secret.expose_secret(),
        tokens.refresh_token.as_str(),
        tokens.access_token.as_str(),
        tokens.trust_token.as_deref().expect("remembered"),
    ] {
        assert!(!json.contains(secret), "a secret in the export");
    }
    for code in &user.backup_codes {
        assert!(!json.contains(code.expose_secret()));
    }
    for field in [
        "password_hash",
        "fingerprint_hash",
        "trust_token_hash",
        "\"secret\"",
    ] {
        assert!(!json.contains(field), "{field} in the export");
    }
    let again = h
        .mfa
        .as_operator("dpo")
        .expect("operator")
        .export_user_data(user.user.id)
        .await
        .expect("export by operator");
    assert_eq!(again.audit_events[0].metadata["operator"], "dpo");
    assert!(again.audit_events[1].metadata.get("operator").is_none());
    expect_err(
        h.mfa.export_user_data(crate::model::UserId::new()).await,
        "not_found",
    );
}

/// A user deletes their own account with the password and, when a second
/// factor is enrolled, a recent verification of it; nothing changes on a
/// refusal; afterwards no session, token or sign-in works.
pub async fn users_delete_their_own_account<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("leaving").await;
    let tokens = h.sign_in(&user).await;
    let claims = h
        .mfa
        .authenticate(&tokens.access_token)
        .await
        .expect("claims");
    expect_err(
        h.mfa
            .delete_account(&claims, &SecretString::from("not-the-password-1"))
            .await,
        "invalid_credentials",
    );
    h.mfa.user(user.id).await.expect("still there");
    h.mfa
        .delete_account(&claims, &user.password)
        .await
        .expect("delete_account");
    expect_err(
        h.mfa.authenticate(&tokens.access_token).await,
        "invalid_token",
    );
    expect_err(
        h.mfa.refresh(&tokens.refresh_token, &h.client()).await,
        "invalid_token",
    );
    expect_err(h.login(&user).await, "invalid_credentials");
    let deleted = h
        .audit()
        .await
        .into_iter()
        .find(|e| e.kind == AuditKind::UserDeleted && e.user_id == Some(user.id))
        .expect("audited");
    assert_eq!(deleted.metadata["by"], "user");

    // With a second factor: only within the re-authentication window.
    let totp = h.user_with_totp("leaving-mfa").await;
    let verified = h.sign_in_with_totp(&totp).await;
    let claims = h
        .mfa
        .authenticate(&verified.tokens.access_token)
        .await
        .expect("claims");
    h.advance(h.mfa.policy().session.reauth_window + TimeDelta::seconds(1));
    expect_err(
        h.mfa.delete_account(&claims, &totp.user.password).await,
        "step_up_required",
    );
    h.mfa.user(totp.user.id).await.expect("still there");
    let fresh = h.sign_in_with_totp(&totp).await;
    let claims = h
        .mfa
        .authenticate(&fresh.tokens.access_token)
        .await
        .expect("claims");
    h.mfa
        .delete_account(&claims, &totp.user.password)
        .await
        .expect("delete with a recent second factor");
    expect_err(h.mfa.user(totp.user.id).await, "not_found");
}

/// `settings` reports the factors (without secrets) and backup codes left.
pub async fn settings_report_factors_and_backup_codes<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("dee").await;
    let security = h.mfa.settings(user.user.id).await.expect("settings");
    assert_eq!(security.user.id, user.user.id);
    assert_eq!(security.backup_codes_remaining, 10);
    assert!(
        security
            .factors
            .iter()
            .any(|f| f.id == user.factor_id && f.is_active())
    );
    assert!(security.factors.iter().all(|f| f.secret.is_none()));
    expect_err(
        h.mfa.settings(crate::model::UserId::new()).await,
        "not_found",
    );
}

/// `delete_user` ends the user's sessions; sign-in then fails as for an
/// unknown user.
pub async fn deleted_user_loses_sessions_and_sign_in<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("eva").await;
    let tokens = h.sign_in(&user).await;
    h.mfa.delete_user(user.id).await.expect("delete_user");
    expect_err(
        h.mfa.authenticate(&tokens.access_token).await,
        "invalid_token",
    );
    expect_err(
        h.mfa.refresh(&tokens.refresh_token, &h.client()).await,
        "invalid_token",
    );
    expect_err(h.login(&user).await, "invalid_credentials");
    expect_err(h.mfa.user(user.id).await, "not_found");
    expect_err(h.mfa.delete_user(user.id).await, "not_found");
}

/// `purge` removes ended sessions and expired tickets, and keeps live
/// sessions.
pub async fn purge_removes_expired_rows_and_keeps_live_ones<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("finn").await;
    let ended = h.sign_in_with_totp(&user).await.tokens;
    let claims = h
        .mfa
        .authenticate(&ended.access_token)
        .await
        .expect("authenticate");
    h.mfa.logout(&claims).await.expect("logout");
    h.mfa_ticket(&user.user).await;
    h.advance(TimeDelta::days(1));
    let live = h.sign_in_with_totp(&user).await.tokens;
    let removed = h.mfa.purge().await.expect("purge");
    assert!(
        removed >= 2,
        "the ended session and the expired tickets go: {removed}"
    );
    assert!(
        h.store
            .get_session(ended.session_id)
            .await
            .expect("get_session")
            .is_none()
    );
    assert!(
        h.store
            .get_session(live.session_id)
            .await
            .expect("get_session")
            .is_some()
    );
    h.mfa
        .authenticate(&live.access_token)
        .await
        .expect("the live session works");
}

/// The administrators' list of locked accounts: a user locked out of the
/// second factor is listed with that lock (and no password lock) until an
/// unlock, then no more; a bad page size is refused.
pub async fn locked_users_lists_a_locked_account_until_its_unlock<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("locked-list").await;
    let other = h.user_with_totp("locked-list-other").await;
    let listed = |h: &Harness<S>| {
        let mfa = h.mfa.clone();
        async move {
            mfa.locked_users(None, crate::MAX_LOCKED_PAGE)
                .await
                .expect("locked_users")
        }
    };
    let h = &h;
    assert!(listed(h).await.is_empty(), "nobody is locked yet");
    super::verify::lock(h, &user).await;
    let locked = listed(h).await;
    assert_eq!(locked.len(), 1, "{locked:?}");
    assert_eq!(locked[0].user.id, user.user.id);
    assert!(
        matches!(locked[0].mfa_lock, Some(crate::model::Lock::Until(_))),
        "{locked:?}"
    );
    assert_eq!(locked[0].password_lock, None);
    assert!(locked.iter().all(|a| a.user.id != other.user.id));
    assert!(
        h.mfa
            .locked_users(Some(user.user.id), 10)
            .await
            .expect("locked_users")
            .is_empty(),
        "a page starts after its cursor"
    );
    h.mfa.unlock(user.user.id).await.expect("unlock");
    assert!(listed(h).await.is_empty(), "unlocked, no longer listed");
    for limit in [0, crate::MAX_LOCKED_PAGE + 1] {
        expect_err(h.mfa.locked_users(None, limit).await, "invalid_input");
    }
}

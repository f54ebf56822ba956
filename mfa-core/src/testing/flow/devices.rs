//! Devices: "remember this device", trust rotation, expiry and revocation,
//! compromised devices, and risk-based step-up and blocking.

use super::harness::{FixedRisk, Harness, expect_authenticated, expect_err, expect_mfa_ticket};
use crate::ClientInfo;
use crate::model::{Aal, AuditKind, AuthMethod, NotificationKind};
use crate::store::{AuditFilter, Store};
use chrono::TimeDelta;
use std::sync::Arc;

fn with_trust(client: &ClientInfo, token: Option<&String>) -> ClientInfo {
    ClientInfo {
        trust_token: token.cloned(),
        ..client.clone()
    }
}

/// R27: a remembered device skips the second factor; the session stays at
/// AAL1 with `amr = [pwd, device]`.
pub async fn remembered_device_skips_the_second_factor_at_aal1<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("alice").await;
    let first = h.sign_in_remembered(&user, &h.client()).await;
    let client = with_trust(&h.client(), first.trust_token.as_ref());
    let tokens = expect_authenticated(h.login_from(&user.user, client).await);
    assert_eq!(tokens.aal, Aal::Aal1);
    assert_eq!(tokens.amr, [AuthMethod::Pwd, AuthMethod::Device]);
    let claims = h
        .mfa
        .authenticate(&tokens.access_token)
        .await
        .expect("authenticate");
    assert_eq!(claims.aal, Aal::Aal1);
}

/// R26: each use rotates the trust token; the old one no longer skips the
/// second factor, the new one does.
pub async fn r26_trust_token_rotates_and_the_old_one_stops_working<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("bob").await;
    let first = h.sign_in_remembered(&user, &h.client()).await;
    let old = first.trust_token.clone();
    let tokens = expect_authenticated(
        h.login_from(&user.user, with_trust(&h.client(), old.as_ref()))
            .await,
    );
    let rotated = tokens.trust_token.clone();
    assert!(rotated.is_some(), "a rotated token comes back");
    assert_ne!(rotated, old);
    expect_mfa_ticket(
        h.login_from(&user.user, with_trust(&h.client(), old.as_ref()))
            .await,
    );
    expect_authenticated(
        h.login_from(&user.user, with_trust(&h.client(), rotated.as_ref()))
            .await,
    );
}

/// R27: trust ends after `device_trust.lifetime` (30 days), whatever the use.
pub async fn r27_device_trust_expires_after_thirty_days<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("cleo").await;
    let first = h.sign_in_remembered(&user, &h.client()).await;
    h.advance(TimeDelta::days(15));
    let tokens = expect_authenticated(
        h.login_from(
            &user.user,
            with_trust(&h.client(), first.trust_token.as_ref()),
        )
        .await,
    );
    h.advance(TimeDelta::days(15));
    expect_mfa_ticket(
        h.login_from(
            &user.user,
            with_trust(&h.client(), tokens.trust_token.as_ref()),
        )
        .await,
    );
}

/// R29: a revoked device's token fails at once.
pub async fn r29_revoked_device_trust_fails_at_once<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("dirk").await;
    let first = h.sign_in_remembered(&user, &h.client()).await;
    let trusted = h
        .mfa
        .trusted_devices(user.user.id)
        .await
        .expect("trusted_devices");
    assert_eq!(trusted.len(), 1);
    h.mfa
        .revoke_device(user.user.id, trusted[0].id)
        .await
        .expect("revoke_device");
    expect_mfa_ticket(
        h.login_from(
            &user.user,
            with_trust(&h.client(), first.trust_token.as_ref()),
        )
        .await,
    );
    let revoked = h
        .audit_matching(&AuditFilter {
            user_id: Some(user.user.id),
            kinds: vec![AuditKind::DeviceTrustRevoked],
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(revoked.len(), 1);
}

/// R29: `revoke_all_devices` ends the trust of every device.
pub async fn r29_revoke_all_devices_ends_every_trust<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("eli").await;
    let laptop = h.client_on("fp-laptop");
    let a = h.sign_in_remembered(&user, &h.client()).await;
    let b = h.sign_in_remembered(&user, &laptop).await;
    assert_eq!(h.mfa.revoke_all_devices(user.user.id).await.ok(), Some(2));
    expect_mfa_ticket(
        h.login_from(&user.user, with_trust(&h.client(), a.trust_token.as_ref()))
            .await,
    );
    expect_mfa_ticket(
        h.login_from(&user.user, with_trust(&laptop, b.trust_token.as_ref()))
            .await,
    );
}

/// R26: a trust token presented with another fingerprint does not skip the
/// second factor.
pub async fn trust_token_from_another_fingerprint_is_not_trusted<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("faye").await;
    let first = h.sign_in_remembered(&user, &h.client()).await;
    let elsewhere = with_trust(&h.client_on("fp-thief"), first.trust_token.as_ref());
    expect_mfa_ticket(h.login_from(&user.user, elsewhere).await);
}

/// R26: a trust token of one user does not work for another.
pub async fn trust_token_is_bound_to_its_user<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let a = h.user_with_totp("gil").await;
    let b = h.user_with_totp("hal").await;
    let first = h.sign_in_remembered(&a, &h.client()).await;
    expect_mfa_ticket(
        h.login_from(&b.user, with_trust(&h.client(), first.trust_token.as_ref()))
            .await,
    );
}

/// R28: remembering a device is audited and announced.
pub async fn r28_remembering_a_device_is_audited_and_notified<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("ike").await;
    h.sign_in_remembered(&user, &h.client()).await;
    let trusted = h
        .audit_matching(&AuditFilter {
            user_id: Some(user.user.id),
            kinds: vec![AuditKind::DeviceTrusted],
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(trusted.len(), 1);
    assert_eq!(h.notified(&user.user, NotificationKind::DeviceTrusted), 1);
}

/// A device marked compromised loses its sessions and cannot sign in.
pub async fn compromised_device_loses_sessions_and_cannot_sign_in<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("jo").await;
    let first = h.sign_in_remembered(&user, &h.client()).await;
    let device = h.mfa.trusted_devices(user.user.id).await.expect("trusted")[0].id;
    h.mfa
        .mark_device_compromised(user.user.id, device)
        .await
        .expect("mark_device_compromised");
    expect_err(
        h.mfa.authenticate(&first.access_token).await,
        "invalid_token",
    );
    expect_err(
        h.mfa.refresh(&first.refresh_token, &h.client()).await,
        "invalid_token",
    );
    expect_err(
        h.login_from(
            &user.user,
            with_trust(&h.client(), first.trust_token.as_ref()),
        )
        .await,
        "login_blocked",
    );
    expect_mfa_ticket(h.login_from(&user.user, h.client_on("fp-new-phone")).await);
}

/// Devices of another user cannot be revoked or marked.
pub async fn another_users_device_is_not_found<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let owner = h.user_with_totp("kit").await;
    let other = h.create_user("lex").await;
    h.sign_in_remembered(&owner, &h.client()).await;
    let device = h.mfa.trusted_devices(owner.user.id).await.expect("trusted")[0].id;
    expect_err(h.mfa.revoke_device(other.id, device).await, "not_found");
    expect_err(
        h.mfa.mark_device_compromised(other.id, device).await,
        "not_found",
    );
    assert_eq!(
        h.mfa
            .trusted_devices(owner.user.id)
            .await
            .expect("trusted")
            .len(),
        1
    );
}

/// R60: a sign-in without an IP address cannot be assessed, so it needs the
/// second factor even on a trusted device.
pub async fn r60_missing_ip_requires_mfa_even_on_a_trusted_device<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.user_with_totp("mae").await;
    let first = h.sign_in_remembered(&user, &h.client()).await;
    let no_ip = ClientInfo {
        ip: None,
        ..with_trust(&h.client(), first.trust_token.as_ref())
    };
    expect_mfa_ticket(h.login_from(&user.user, no_ip).await);
    let assessed = h
        .audit_matching(&AuditFilter {
            user_id: Some(user.user.id),
            kinds: vec![AuditKind::RiskAssessed],
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(assessed.len(), 1, "the step-up decision is audited");
}

/// R59: a risky sign-in without factors still signs in at AAL1: risk never
/// raises assurance.
pub async fn r59_risk_never_raises_assurance<S: Store>(store: Arc<S>) {
    let h = Harness::with_risk(store, FixedRisk(60));
    let user = h.create_user("ned").await;
    let tokens = expect_authenticated(h.login(&user).await);
    assert_eq!(tokens.aal, Aal::Aal1);
}

/// R60: at or above the block threshold the sign-in is refused
/// (`login_blocked`), audited, and the user alerted.
pub async fn r60_high_risk_sign_in_is_blocked_and_notified<S: Store>(store: Arc<S>) {
    let h = Harness::with_risk(store, FixedRisk(95));
    let user = h.create_user("ola").await;
    expect_err(h.login(&user).await, "login_blocked");
    assert_eq!(h.notified(&user, NotificationKind::SuspiciousSignIn), 1);
    let refused = h
        .audit_matching(&AuditFilter {
            user_id: Some(user.id),
            kinds: vec![AuditKind::LoginRefused],
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].risk_score, Some(95));
    assert!(h.mfa.sessions(user.id).await.expect("sessions").is_empty());
}

/// R60: a risk score at the step-up threshold makes a trusted device ask
/// for the second factor.
pub async fn r60_step_up_risk_overrides_device_trust<S: Store>(store: Arc<S>) {
    let h = Harness::with_risk(store, FixedRisk(50));
    let user = h.user_with_totp("pam").await;
    let first = h.sign_in_remembered(&user, &h.client()).await;
    expect_mfa_ticket(
        h.login_from(
            &user.user,
            with_trust(&h.client(), first.trust_token.as_ref()),
        )
        .await,
    );
}

/// R60: a sign-in from a new device notifies the user; the first device of
/// an account does not.
pub async fn r60_new_device_sign_in_is_notified<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("quentin").await;
    h.sign_in(&user).await;
    assert_eq!(h.notified(&user, NotificationKind::NewDeviceLogin), 0);
    h.sign_in(&user).await;
    assert_eq!(
        h.notified(&user, NotificationKind::NewDeviceLogin),
        0,
        "a known device is not new"
    );
    expect_authenticated(h.login_from(&user, h.client_on("fp-tablet")).await);
    assert_eq!(h.notified(&user, NotificationKind::NewDeviceLogin), 1);
    assert_eq!(h.mfa.devices(user.id).await.expect("devices").len(), 2);
}

/// `register_device` records the signed-in client's device by fingerprint,
/// once, audits the first sighting, and never trusts it.
pub async fn registering_a_device_records_it_without_trust<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("rita").await;
    let tokens = h.sign_in(&user).await;
    let claims = h
        .mfa
        .authenticate(&tokens.access_token)
        .await
        .expect("authenticate failed");
    let client = h.client_on("fp-registered");
    let first = h
        .mfa
        .register_device(&claims, &client)
        .await
        .expect("register_device failed");
    assert!(first.created);
    let again = h
        .mfa
        .register_device(&claims, &client)
        .await
        .expect("register_device failed");
    assert!(!again.created);
    assert_eq!(again.device.id, first.device.id);
    assert!(
        h.mfa
            .trusted_devices(user.id)
            .await
            .expect("trusted_devices failed")
            .is_empty()
    );
    let registered = h
        .audit_matching(&AuditFilter {
            user_id: Some(user.id),
            kinds: vec![AuditKind::DeviceRegistered],
            ..AuditFilter::default()
        })
        .await;
    assert!(
        registered
            .iter()
            .any(|e| e.device_id == Some(first.device.id))
    );
    let anonymous = ClientInfo {
        fingerprint: None,
        ..h.client()
    };
    expect_err(
        h.mfa.register_device(&claims, &anonymous).await,
        "invalid_input",
    );
}

//! Account recovery and email verification (NIST SP 800-63B §6.1.2.3,
//! OWASP Forgot Password cheat sheet): single-use, expiring links bound to
//! the account's state, no user enumeration, and never a way around an
//! enrolled second factor.

use super::harness::{Harness, TestUser, expect_authenticated, expect_err, expect_mfa_ticket};
use crate::crypto::{ExposeSecret, SecretString};
use crate::delivery::{LinkPurpose, Message};
use crate::model::{AuditKind, AuditOutcome, Contact, NotificationKind};
use crate::store::Store;
use crate::template::Templates;
use chrono::TimeDelta;
use std::sync::Arc;

const NEW_PASSWORD: &str = "a fresh and long pass phrase 2026";

fn new_password() -> SecretString {
    SecretString::from(NEW_PASSWORD)
}

fn reset_link<S: Store>(h: &Harness<S>, user: &TestUser) -> Option<String> {
    h.email.last_link(&user.email, LinkPurpose::PasswordReset)
}

async fn request_reset<S: Store>(h: &Harness<S>, user: &TestUser) -> String {
    h.mfa
        .request_password_reset(&user.identifier, &h.client())
        .await
        .expect("request_password_reset");
    reset_link(h, user).expect("a reset link")
}

/// OWASP Forgot Password: the request answers the same for an unknown
/// identifier, a disabled account and an unverified address, and sends
/// nothing in those cases; a verified address gets one link that renders
/// in the shipped templates.
pub async fn reset_requests_answer_alike_and_send_only_to_a_verified_address<S: Store>(
    store: Arc<S>,
) {
    let h = Harness::new(store);
    let unverified = h.create_user("unverified").await;
    let disabled = h.verified_user("disabled").await;
    h.mfa
        .set_user_status(disabled.id, crate::model::UserStatus::Disabled)
        .await
        .expect("disable");
    let sent_before = h.email.messages().len();
    for identifier in [
        unverified.identifier.as_str(),
        disabled.identifier.as_str(),
        "nobody@example.test",
    ] {
        h.mfa
            .request_password_reset(identifier, &h.client())
            .await
            .expect("the same answer");
    }
    assert_eq!(h.email.messages().len(), sent_before, "nothing was sent");
    let denied = h.audit().await;
    assert!(denied.iter().any(|e| {
        e.kind == AuditKind::PasswordResetRequested
            && e.outcome == AuditOutcome::Denied
            && e.user_id == Some(unverified.id)
    }));
    expect_err(
        h.mfa.request_password_reset("  ", &h.client()).await,
        "invalid_input",
    );

    let user = h.verified_user("verified").await;
    let token = request_reset(&h, &user).await;
    let (id, random) = token.split_once('.').expect("id.token");
    assert_eq!(id, user.id.to_string());
    assert_eq!(random.len(), 43);
    let message = h
        .email
        .messages()
        .into_iter()
        .rev()
        .find(|m| matches!(m, Message::Link(_)))
        .expect("the link message");
    let rendered = Templates::shipped().render(&message).expect("renders");
    assert!(rendered.text.contains(&token), "{}", rendered.text);
    assert!(
        rendered.subject.contains("Reset your"),
        "{}",
        rendered.subject
    );
    assert!(
        !format!("{message:?}").contains(random),
        "Debug shows no token"
    );
}

/// A reset sets the password, ends every session and device trust, lifts
/// the password lock, tells the user, and signs nobody in: the next sign-in
/// still asks for the second factor.
pub async fn reset_changes_the_password_and_never_bypasses_the_second_factor<S: Store>(
    store: Arc<S>,
) {
    let h = Harness::new(store);
    let user = h.verified_user("reset").await;
    let first = h.sign_in(&user).await;
    let (_, seed, _) = h.enroll_totp_for(&first).await;
    let totp = crate::testing::flow::harness::TotpUser {
        user: user.clone(),
        factor_id: crate::model::FactorId::new(),
        secret: seed,
        backup_codes: Vec::new(),
    };
    let remembered = h.sign_in_remembered(&totp, &h.client()).await;
    for _ in 0..3 {
        expect_err(
            h.login_with_password(&user, "wrong-password-123").await,
            "invalid_credentials",
        );
    }
    let token = request_reset(&h, &user).await;
    // A refused new password keeps the link usable.
    for bad in ["short", "password1234", user.password.expose_secret()] {
        expect_err(
            h.mfa
                .reset_password(&token, &SecretString::from(bad), &h.client())
                .await,
            "invalid_input",
        );
    }
    h.mfa
        .reset_password(&token, &new_password(), &h.client())
        .await
        .expect("reset_password");
    assert_eq!(h.stored_user(user.id).await.password_failures.failures, 0);
    for access in [&first.access_token, &remembered.access_token] {
        expect_err(h.mfa.authenticate(access).await, "invalid_token");
    }
    expect_err(
        h.mfa.refresh(&remembered.refresh_token, &h.client()).await,
        "invalid_token",
    );
    assert!(
        h.mfa
            .trusted_devices(user.id)
            .await
            .expect("trusted")
            .is_empty()
    );
    assert_eq!(h.notified(&user, NotificationKind::PasswordChanged), 1);
    expect_err(
        h.login_with_password(&user, user.password.expose_secret())
            .await,
        "invalid_credentials",
    );
    // The new password signs in as far as the second factor, no further,
    // even from the device that was remembered.
    let remembered_client = crate::ClientInfo {
        trust_token: remembered.trust_token.clone(),
        ..h.client()
    };
    let moved = TestUser {
        password: new_password(),
        ..user.clone()
    };
    expect_mfa_ticket(h.login_from(&moved, remembered_client).await);
    // The link was used up.
    expect_err(
        h.mfa
            .reset_password(
                &token,
                &SecretString::from("yet another pass phrase 9"),
                &h.client(),
            )
            .await,
        "invalid_token",
    );
    let events = h.audit().await;
    assert!(events.iter().any(|e| e.kind == AuditKind::PasswordReset
        && e.user_id == Some(user.id)
        && e.outcome == AuditOutcome::Success));
}

/// Links are single use, expire, and go stale when the password or the
/// address changes; a malformed or foreign token is `invalid_token`; of two
/// racing resets with one link, exactly one wins.
pub async fn reset_links_are_single_use_expiring_and_bound_to_the_account<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.verified_user("links").await;
    // Two links: using one makes the other stale.
    let first = request_reset(&h, &user).await;
    h.advance(TimeDelta::seconds(1));
    let second = request_reset(&h, &user).await;
    assert_ne!(first, second);
    h.mfa
        .reset_password(&second, &new_password(), &h.client())
        .await
        .expect("reset");
    expect_err(
        h.mfa
            .reset_password(
                &first,
                &SecretString::from("another long pass phrase 7"),
                &h.client(),
            )
            .await,
        "invalid_token",
    );
    // Expiry.
    let late = request_reset(&h, &user).await;
    h.advance(h.mfa.policy().recovery.reset_lifetime + TimeDelta::seconds(1));
    expect_err(
        h.mfa
            .reset_password(
                &late,
                &SecretString::from("another long pass phrase 8"),
                &h.client(),
            )
            .await,
        "invalid_token",
    );
    // A changed address makes the link stale.
    let before_move = request_reset(&h, &user).await;
    assert!(
        h.store
            .set_contact(
                user.id,
                &Contact {
                    email: Some("moved@example.test".into()),
                    phone: None,
                    locale: None,
                },
                h.now(),
            )
            .await
            .expect("set_contact")
    );
    expect_err(
        h.mfa
            .reset_password(
                &before_move,
                &SecretString::from("another long pass phrase 9"),
                &h.client(),
            )
            .await,
        "invalid_token",
    );
    assert_eq!(h.stored_user(user.id).await.email_verified_at, None);
    // Malformed and foreign tokens.
    let other = h.verified_user("other").await;
    let theirs = request_reset(&h, &other).await;
    let (_, random) = theirs.split_once('.').expect("id.token");
    for bad in [
        String::new(),
        "garbage".into(),
        random.to_owned(),
        format!("{}.{random}", user.id),
        format!("not-a-uuid.{random}"),
        format!("{theirs}x"),
    ] {
        expect_err(
            h.mfa
                .reset_password(&bad, &new_password(), &h.client())
                .await,
            "invalid_token",
        );
        expect_err(h.mfa.verify_email(&bad).await, "invalid_token");
    }
    // A reset link is no verification link.
    expect_err(h.mfa.verify_email(&theirs).await, "invalid_token");
    // Racing resets with one link: one wins.
    let (one, two) = (
        SecretString::from("racing pass phrase number 1"),
        SecretString::from("racing pass phrase number 2"),
    );
    let client = h.client();
    let (a, b) = tokio::join!(
        h.mfa.reset_password(&theirs, &one, &client),
        h.mfa.reset_password(&theirs, &two, &client),
    );
    assert_eq!(
        [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "{a:?} {b:?}"
    );
}

/// A verification link proves the address it went to, once; a changed
/// address is unverified again and an old link for it no longer works;
/// requests are limited.
pub async fn email_verification_is_bound_to_the_address<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("verify").await;
    let tokens = expect_authenticated(h.login(&user).await);
    let claims = h
        .mfa
        .authenticate(&tokens.access_token)
        .await
        .expect("claims");
    h.mfa.send_email_verification(&claims).await.expect("send");
    let stale = h
        .email
        .last_link(&user.email, LinkPurpose::EmailVerification)
        .expect("link");
    // The address changes before the link is used.
    assert!(
        h.store
            .set_contact(
                user.id,
                &Contact {
                    email: Some("new-verify@example.test".into()),
                    phone: None,
                    locale: None,
                },
                h.now(),
            )
            .await
            .expect("set_contact")
    );
    expect_err(h.mfa.verify_email(&stale).await, "invalid_token");
    h.mfa
        .send_email_verification(&claims)
        .await
        .expect("send again");
    let fresh = h
        .email
        .last_link("new-verify@example.test", LinkPurpose::EmailVerification)
        .expect("link to the new address");
    h.mfa.verify_email(&fresh).await.expect("verify");
    assert!(h.stored_user(user.id).await.email_verified_at.is_some());
    expect_err(h.mfa.verify_email(&fresh).await, "invalid_token");
    expect_err(h.mfa.send_email_verification(&claims).await, "conflict");
    // The same address again keeps its verification; another clears it.
    let same = Contact {
        email: Some("new-verify@example.test".into()),
        phone: Some("+41790000001".into()),
        locale: None,
    };
    assert!(
        h.store
            .set_contact(user.id, &same, h.now())
            .await
            .expect("same")
    );
    assert!(h.stored_user(user.id).await.email_verified_at.is_some());
    assert!(
        h.store
            .set_contact(
                user.id,
                &Contact {
                    email: None,
                    ..same
                },
                h.now()
            )
            .await
            .expect("none")
    );
    assert!(h.stored_user(user.id).await.email_verified_at.is_none());
    expect_err(
        h.mfa.send_email_verification(&claims).await,
        "invalid_input",
    );
    let events = h.audit().await;
    assert!(events.iter().any(|e| e.kind == AuditKind::EmailVerified));
    assert!(
        events
            .iter()
            .any(|e| e.kind == AuditKind::EmailVerificationSent)
    );
}

/// Reset requests are limited per identifier, whether or not it names an
/// account, so the limit tells nothing either.
pub async fn reset_requests_are_rate_limited_alike<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.verified_user("limited").await;
    let per_window = h.mfa.policy().recovery.per_window;
    for identifier in [user.identifier.as_str(), "ghost@example.test"] {
        for _ in 0..per_window {
            h.mfa
                .request_password_reset(identifier, &h.client())
                .await
                .expect("within the limit");
        }
        expect_err(
            h.mfa.request_password_reset(identifier, &h.client()).await,
            "rate_limited",
        );
    }
    h.advance(h.mfa.policy().recovery.window + TimeDelta::seconds(1));
    h.mfa
        .request_password_reset(&user.identifier, &h.client())
        .await
        .expect("a new window");
}

/// With `notify_unverified_email` off, as by default, an unverified
/// address gets no security notification (the phone does, by SMS); once
/// verified, it does.
pub async fn unverified_addresses_get_notifications_only_when_the_policy_allows<S: Store>(
    store: Arc<S>,
) {
    let default = crate::policy::Policy::default()
        .recovery
        .notify_unverified_email;
    assert!(!default, "off by default");
    let h = Harness::with_policy(store, |p| p.recovery.notify_unverified_email = default);
    let user = h.create_user("quiet").await;
    let tokens = h.sign_in(&user).await;
    let (_, _, _) = h.enroll_totp_for(&tokens).await;
    assert_eq!(h.notified(&user, NotificationKind::FactorAdded), 0);
    assert!(
        h.sms
            .notifications(&user.phone)
            .contains(&NotificationKind::FactorAdded),
        "the phone was told instead"
    );
    let other = h.verified_user("loud").await;
    let tokens = h.sign_in(&other).await;
    let (_, _, _) = h.enroll_totp_for(&tokens).await;
    assert_eq!(h.notified(&other, NotificationKind::FactorAdded), 1);
}

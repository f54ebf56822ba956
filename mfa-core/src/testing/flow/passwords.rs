//! New passwords ([`crate::Mfa::create_user`], [`crate::Mfa::change_password`]):
//! the comparison with common and context-specific values that NIST SP
//! 800-63B §5.1.1.2 asks for (see [`crate::blocklist`]); and the password
//! checked again for a change or an account deletion, counted like a
//! sign-in's (R56, NIST SP 800-63B §5.2.2).

use super::harness::{Harness, TestUser, expect_err};
use crate::blocklist::PasswordBlocklist;
use crate::crypto::{AccessClaims, SecretString};
use crate::model::{AuditKind, AuditOutcome, Contact, NotificationKind};
use crate::store::Store;
use crate::{MfaError, MfaResult, NewUser};
use std::fmt;
use std::sync::Arc;

/// A password no list has and that names nobody.
const STRONG: &str = "vivid-otter-quarry-lantern";

fn new_user(identifier: &str, password: &str) -> NewUser {
    NewUser {
        identifier: identifier.into(),
        password: Some(SecretString::from(password)),
        contact: Contact::default(),
    }
}

/// Asserts an `invalid_input` refusal of the password for `reason`.
#[track_caller]
fn expect_refused<T: fmt::Debug>(result: MfaResult<T>, reason: &str) {
    match expect_err(result, "invalid_input") {
        MfaError::InvalidInput { field, reason: got } => {
            assert_eq!((field, got), ("password", reason));
        }
        other => panic!("expected a refused password, got {other:?}"),
    }
}

async fn count<S: Store>(h: &Harness<S>, kind: AuditKind) -> usize {
    h.audit().await.iter().filter(|e| e.kind == kind).count()
}

async fn claims_of<S: Store>(h: &Harness<S>, user: &TestUser) -> AccessClaims {
    let tokens = h.sign_in(user).await;
    h.mfa
        .authenticate(&tokens.access_token)
        .await
        .expect("authenticate")
}

/// NIST SP 800-63B §5.1.1.2: a password on the list of common passwords is
/// refused at sign-up, in any case and in full-width form, with the reason
/// `too common`; nothing is stored; a strong password is then accepted.
pub async fn nist_63b_5_1_1_2_common_password_is_refused_at_sign_up<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    for listed in ["password1", "Password1", "ILOVEYOU", "ｆｏｏｔｂａｌｌ"] {
        expect_refused(
            h.mfa
                .create_user(new_user("lin@example.test", listed))
                .await,
            "too common",
        );
    }
    assert!(
        h.store
            .find_user_by_identifier("lin@example.test")
            .await
            .expect("find_user_by_identifier")
            .is_none(),
        "a refused sign-up stores no user"
    );
    assert_eq!(count(&h, AuditKind::UserCreated).await, 0);
    h.mfa
        .create_user(new_user("lin@example.test", STRONG))
        .await
        .expect("a strong password is accepted");
    assert_eq!(count(&h, AuditKind::UserCreated).await, 1);
}

/// NIST SP 800-63B §5.1.1.2: a common password is refused at password
/// change with the reason `too common`; the old password still works and
/// no change is recorded.
pub async fn nist_63b_5_1_1_2_common_password_is_refused_at_password_change<S: Store>(
    store: Arc<S>,
) {
    let h = Harness::new(store);
    let user = h.create_user("mona").await;
    let claims = claims_of(&h, &user).await;
    for listed in ["sunshine", "SunShine", "QWERTYUIOP"] {
        expect_refused(
            h.mfa
                .change_password(&claims, &user.password, &SecretString::from(listed))
                .await,
            "too common",
        );
    }
    assert_eq!(count(&h, AuditKind::PasswordChanged).await, 0);
    h.sign_in(&user).await;
    h.mfa
        .change_password(&claims, &user.password, &SecretString::from(STRONG))
        .await
        .expect("a strong password is accepted");
    assert_eq!(count(&h, AuditKind::PasswordChanged).await, 1);
}

/// NIST SP 800-63B §5.1.1.2 (context-specific words): a password equal
/// to or containing the identifier, its local part, or the product name is
/// refused, at sign-up and at password change.
pub async fn nist_63b_5_1_1_2_password_with_the_identifier_or_product_name_is_refused<S: Store>(
    store: Arc<S>,
) {
    let h = Harness::new(store);
    expect_refused(
        h.mfa
            .create_user(new_user(
                "rosa.parks@example.test",
                "Rosa.Parks@Example.Test",
            ))
            .await,
        "contains the identifier",
    );
    expect_refused(
        h.mfa
            .create_user(new_user(
                "rosa.parks@example.test",
                "my name is rosa.parks!",
            ))
            .await,
        "contains the identifier",
    );
    let product = &h.mfa.policy().product_name;
    expect_refused(
        h.mfa
            .create_user(new_user(
                "rosa.parks@example.test",
                &format!("{product}-account-2024"),
            ))
            .await,
        "contains the product name",
    );
    let user = h.create_user("nora").await;
    let claims = claims_of(&h, &user).await;
    expect_refused(
        h.mfa
            .change_password(
                &claims,
                &user.password,
                &SecretString::from("NORA-and-more"),
            )
            .await,
        "contains the identifier",
    );
}

/// A host's own list is honoured at sign-up and password change, in the
/// same normalised form as the shipped one.
pub async fn host_password_blocklist_is_honoured<S: Store>(store: Arc<S>) {
    let list = PasswordBlocklist::new(["Acme-Rocket-Skates", STRONG]);
    let h = Harness::with_password_blocklist(store, list);
    expect_refused(
        h.mfa
            .create_user(new_user("wile@example.test", "ACME-ROCKET-SKATES"))
            .await,
        "too common",
    );
    let user = h.create_user("road").await;
    let claims = claims_of(&h, &user).await;
    expect_refused(
        h.mfa
            .change_password(&claims, &user.password, &SecretString::from(STRONG))
            .await,
        "too common",
    );
}

/// With `policy.password.refuse_common` off, common and context-specific
/// passwords are accepted (the length rule still applies).
pub async fn common_password_check_can_be_turned_off<S: Store>(store: Arc<S>) {
    let h = Harness::with_policy(store, |p| p.password.refuse_common = false);
    assert!(!h.mfa.policy().password.refuse_common);
    h.mfa
        .create_user(new_user("otto@example.test", "password1"))
        .await
        .expect("the check is off");
    h.mfa
        .create_user(new_user("otto.two@example.test", "otto.two-password"))
        .await
        .expect("the context check is off too");
    expect_refused(
        h.mfa
            .create_user(new_user("otto.three@example.test", "short"))
            .await,
        "too short",
    );
}

/// R56: a wrong current password at a password change or an account
/// deletion is counted against the password lock before the hash is
/// evaluated, audited, and at the threshold locks the account (audited and
/// announced): then even the right password is refused there and at
/// sign-in, until the lock ends. A right password clears the count.
pub async fn r56_password_rechecks_are_counted_and_lock_like_sign_ins<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("recheck").await;
    let claims = claims_of(&h, &user).await;
    let wrong = SecretString::from("not-the-password-1");
    let new = SecretString::from(STRONG);
    let threshold = h.mfa.policy().password_lockout.threshold;
    let failures = |h: &Harness<S>| {
        let mfa = h.mfa.clone();
        let id = user.id;
        async move {
            mfa.settings(id)
                .await
                .expect("settings")
                .user
                .password_failures
                .failures
        }
    };

    expect_err(
        h.mfa.change_password(&claims, &wrong, &new).await,
        "invalid_credentials",
    );
    assert_eq!(failures(&h).await, 1, "a wrong password is counted");
    expect_err(
        h.mfa.delete_account(&claims, &wrong).await,
        "invalid_credentials",
    );
    assert_eq!(failures(&h).await, 2, "at an account deletion too");
    h.mfa
        .change_password(&claims, &user.password, &new)
        .await
        .expect("the right password changes it");
    assert_eq!(failures(&h).await, 0, "the right password clears the count");

    let newer = SecretString::from("amber-falcon-harbour-violet");
    for _ in 0..threshold {
        expect_err(
            h.mfa.change_password(&claims, &wrong, &newer).await,
            "invalid_credentials",
        );
    }
    expect_err(
        h.mfa.change_password(&claims, &new, &newer).await,
        "account_locked",
    );
    expect_err(h.mfa.delete_account(&claims, &new).await, "account_locked");
    expect_err(
        h.login_with_password(&user, STRONG).await,
        "invalid_credentials",
    );
    assert_eq!(
        failures(&h).await,
        threshold,
        "a locked counter is not counted further"
    );
    let events = h.audit().await;
    let rechecked = |outcome| {
        events
            .iter()
            .filter(|e| e.kind == AuditKind::PasswordRechecked && e.outcome == outcome)
            .count()
    };
    assert_eq!(rechecked(AuditOutcome::Failure), threshold as usize + 2);
    assert_eq!(
        rechecked(AuditOutcome::Denied),
        2,
        "the refusals while locked"
    );
    assert!(events.iter().any(|e| e.kind == AuditKind::AccountLocked));
    assert_eq!(h.notified(&user, NotificationKind::AccountLocked), 1);

    h.advance(h.mfa.policy().password_lockout.base_lock);
    h.mfa
        .change_password(&claims, &new, &newer)
        .await
        .expect("after the lock, the right password changes it");
    assert_eq!(failures(&h).await, 0);
}

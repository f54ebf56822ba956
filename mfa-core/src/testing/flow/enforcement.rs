//! When a second factor is demanded: [`crate::policy::Enforcement`], the
//! enrolment grace period and enrolment during sign-in.

use super::harness::{Harness, expect_authenticated, expect_err};
use crate::model::{Aal, AuthMethod};
use crate::policy::Enforcement;
use crate::store::Store;
use crate::{Actor, LoginOutcome};
use chrono::TimeDelta;
use std::sync::Arc;

fn all<S: Store>(store: Arc<S>) -> Harness<S> {
    Harness::with_policy(store, |p| p.enforcement = Enforcement::All)
}

/// The enrolment ticket, deadline and `can_skip` of a sign-in.
#[track_caller]
fn expect_enrollment(
    outcome: crate::MfaResult<LoginOutcome>,
) -> (String, Option<chrono::DateTime<chrono::Utc>>, bool) {
    match outcome {
        Ok(LoginOutcome::EnrollmentRequired {
            ticket,
            deadline,
            can_skip,
        }) => (ticket, deadline, can_skip),
        other => panic!("expected EnrollmentRequired, got {other:?}"),
    }
}

/// Under `Enforcement::All` a user without factors must enrol, may skip
/// during the grace period, and the deadline is now + grace period.
pub async fn enforcement_all_asks_a_user_without_factors_to_enrol<S: Store>(store: Arc<S>) {
    let h = all(store);
    let user = h.create_user("alice").await;
    let (_, deadline, can_skip) = expect_enrollment(h.login(&user).await);
    assert!(can_skip);
    assert_eq!(deadline, Some(h.now() + h.mfa.policy().grace_period));
}

/// The grace deadline is fixed at the first sign-in, not pushed back by
/// later ones.
pub async fn grace_deadline_is_set_once<S: Store>(store: Arc<S>) {
    let h = all(store);
    let user = h.create_user("bea").await;
    let (_, first, _) = expect_enrollment(h.login(&user).await);
    h.advance(TimeDelta::days(2));
    let (_, second, _) = expect_enrollment(h.login(&user).await);
    assert_eq!(first, second);
}

/// Before the deadline, `continue_without_mfa` signs in at AAL1.
pub async fn grace_period_allows_signing_in_without_mfa<S: Store>(store: Arc<S>) {
    let h = all(store);
    let user = h.create_user("carl").await;
    let (ticket, _, _) = expect_enrollment(h.login(&user).await);
    h.advance(TimeDelta::minutes(5));
    let tokens = h
        .mfa
        .continue_without_mfa(&ticket, h.client())
        .await
        .expect("continue_without_mfa failed inside the grace period");
    assert_eq!(tokens.aal, Aal::Aal1);
    assert_eq!(tokens.amr, [AuthMethod::Pwd]);
}

/// After the deadline `can_skip` is false and `continue_without_mfa`
/// answers `enrollment_required`.
pub async fn grace_period_ends_at_the_deadline<S: Store>(store: Arc<S>) {
    let h = all(store);
    let user = h.create_user("dora").await;
    let (_, deadline, _) = expect_enrollment(h.login(&user).await);
    h.clock.set(deadline.expect("a deadline"));
    let (ticket, _, can_skip) = expect_enrollment(h.login(&user).await);
    assert!(!can_skip);
    expect_err(
        h.mfa.continue_without_mfa(&ticket, h.client()).await,
        "enrollment_required",
    );
}

/// An enrolment ticket can be spent once.
pub async fn enrollment_ticket_is_single_use<S: Store>(store: Arc<S>) {
    let h = all(store);
    let user = h.create_user("ezra").await;
    let (ticket, _, _) = expect_enrollment(h.login(&user).await);
    h.mfa
        .continue_without_mfa(&ticket, h.client())
        .await
        .expect("first use works");
    expect_err(
        h.mfa.continue_without_mfa(&ticket, h.client()).await,
        "invalid_ticket",
    );
}

/// Enrolling an authenticator app with the enrolment ticket completes the
/// sign-in with AAL2 tokens and `amr = [pwd, otp]`.
pub async fn enrolling_with_the_ticket_completes_sign_in_at_aal2<S: Store>(store: Arc<S>) {
    let h = all(store);
    let user = h.create_user("fay").await;
    let (ticket, _, _) = expect_enrollment(h.login(&user).await);
    let enrollment = h
        .mfa
        .enroll_totp(Actor::Ticket(&ticket), Some("phone"))
        .await
        .expect("enroll_totp with the ticket failed");
    let code = h.totp_code(&enrollment.secret);
    let enrolled = h
        .mfa
        .confirm_factor(
            Actor::Ticket(&ticket),
            enrollment.factor_id,
            &code,
            &h.client(),
        )
        .await
        .expect("confirm_factor with the ticket failed");
    let tokens = enrolled
        .tokens
        .expect("the enrolment completes the sign-in");
    assert_eq!(tokens.aal, Aal::Aal2);
    assert_eq!(tokens.amr, [AuthMethod::Pwd, AuthMethod::Otp]);
    let claims = h
        .mfa
        .authenticate(&tokens.access_token)
        .await
        .expect("the token works");
    assert_eq!(claims.aal, Aal::Aal2);
    expect_err(
        h.mfa.continue_without_mfa(&ticket, h.client()).await,
        "invalid_ticket",
    );
}

/// R37: once the user has a second factor, an enrolment ticket issued
/// before it (a password alone) can no longer change factors: no new
/// backup codes, no extra authenticator, no sign-in by enrolling.
pub async fn r37_enrolment_ticket_cannot_change_factors_once_one_is_enrolled<S: Store>(
    store: Arc<S>,
) {
    let h = all(store);
    let user = h.create_user("kai").await;
    let (stale, _, _) = expect_enrollment(h.login(&user).await);
    let (ticket, _, _) = expect_enrollment(h.login(&user).await);
    let enrollment = h
        .mfa
        .enroll_totp(Actor::Ticket(&ticket), None)
        .await
        .expect("enroll_totp with the ticket failed");
    let code = h.totp_code(&enrollment.secret);
    h.mfa
        .confirm_factor(
            Actor::Ticket(&ticket),
            enrollment.factor_id,
            &code,
            &h.client(),
        )
        .await
        .expect("confirm_factor with the ticket failed");
    expect_err(
        h.mfa.regenerate_backup_codes(Actor::Ticket(&stale)).await,
        "step_up_required",
    );
    expect_err(
        h.mfa.enroll_totp(Actor::Ticket(&stale), None).await,
        "step_up_required",
    );
    expect_err(
        h.mfa
            .remove_factor(Actor::Ticket(&stale), enrollment.factor_id)
            .await,
        "step_up_required",
    );
    expect_err(
        h.mfa.continue_without_mfa(&stale, h.client()).await,
        "mfa_required",
    );
}

/// Under `Enforcement::PerUser` only users enforced with `set_enforcement`
/// must enrol.
pub async fn per_user_enforcement_applies_after_set_enforcement<S: Store>(store: Arc<S>) {
    let h = Harness::with_policy(store, |p| p.enforcement = Enforcement::PerUser);
    let enforced = h.create_user("gus").await;
    let free = h.create_user("hal").await;
    expect_authenticated(h.login(&enforced).await);
    let settings = h
        .mfa
        .set_enforcement(enforced.id, true, Some(TimeDelta::days(3)))
        .await
        .expect("set_enforcement failed");
    assert_eq!(settings.grace_deadline, Some(h.now() + TimeDelta::days(3)));
    let (_, deadline, can_skip) = expect_enrollment(h.login(&enforced).await);
    assert_eq!(deadline, settings.grace_deadline);
    assert!(can_skip);
    expect_authenticated(h.login(&free).await);
    h.mfa
        .set_enforcement(enforced.id, false, None)
        .await
        .expect("set_enforcement(false) failed");
    expect_authenticated(h.login(&enforced).await);
}

/// Under `Enforcement::Off` no second factor is asked, even from a user
/// who enrolled one.
pub async fn enforcement_off_never_asks_for_a_second_factor<S: Store>(store: Arc<S>) {
    let h = Harness::with_policy(store, |p| p.enforcement = Enforcement::Off);
    let user = h.user_with_totp("ida").await;
    let tokens = expect_authenticated(h.login(&user.user).await);
    assert_eq!(tokens.aal, Aal::Aal1);
}

/// `set_enforcement` refuses a negative grace period and unknown users.
pub async fn set_enforcement_checks_its_input<S: Store>(store: Arc<S>) {
    let h = Harness::new(store);
    let user = h.create_user("jon").await;
    expect_err(
        h.mfa
            .set_enforcement(user.id, true, Some(TimeDelta::days(-1)))
            .await,
        "invalid_input",
    );
    expect_err(
        h.mfa
            .set_enforcement(crate::model::UserId::new(), true, None)
            .await,
        "not_found",
    );
}

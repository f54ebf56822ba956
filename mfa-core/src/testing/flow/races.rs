//! Real concurrency through the engine: tasks on the multi-thread runtime,
//! released together by a barrier, race for one single-use thing.

use super::harness::{Harness, expect_err};
use super::verify::wrong_code;
use crate::crypto::ExposeSecret;
use crate::error::MfaResult;
use crate::model::FactorKind;
use crate::store::Store;
use crate::{ClientInfo, Mfa, VerifyRequest};
use std::future::Future;
use std::sync::Arc;

/// Runs `n` engine calls made by `task`, released together; returns their
/// results in task order.
async fn race<T, F, Fut>(n: usize, task: F) -> Vec<MfaResult<T>>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = MfaResult<T>> + Send + 'static,
    T: Send + 'static,
{
    crate::testing::race_all(n, task).await
}

async fn verify_owned(
    mfa: Mfa,
    ticket: String,
    method: FactorKind,
    code: String,
    client: ClientInfo,
) -> MfaResult<crate::Verified> {
    mfa.verify(VerifyRequest {
        ticket: &ticket,
        method,
        code: &code,
        remember_device: false,
        client: &client,
    })
    .await
}

fn codes<T>(results: &[MfaResult<T>]) -> Vec<&'static str> {
    results
        .iter()
        .filter_map(|r| r.as_ref().err().map(crate::MfaError::code))
        .collect()
}

/// R54: 16 concurrent verifications of one valid TOTP code, each with its
/// own ticket: exactly one succeeds.
pub async fn r54_concurrent_verifies_with_one_totp_code_succeed_once<S: Store>(store: Arc<S>) {
    const N: usize = 16;
    let h = Harness::with_policy(store, |p| {
        p.mfa_lockout.threshold = 50;
        p.login_rate.per_identifier = 100;
    });
    let user = h.user_with_totp("alice").await;
    let mut tickets = Vec::with_capacity(N);
    for _ in 0..N {
        tickets.push(h.mfa_ticket(&user.user).await);
    }
    h.next_step();
    let code = h.totp_code(&user.secret);
    let results = race(N, |i| {
        verify_owned(
            h.mfa.clone(),
            tickets[i].clone(),
            FactorKind::Totp,
            code.clone(),
            h.client(),
        )
    })
    .await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(
        wins,
        1,
        "exactly one of {N} may succeed; errors: {:?}",
        codes(&results)
    );
    assert!(codes(&results).iter().all(|c| *c == "invalid_code"));
}

/// R55: 16 concurrent uses of one backup code: exactly one succeeds and
/// one code is spent.
pub async fn r55_concurrent_uses_of_one_backup_code_succeed_once<S: Store>(store: Arc<S>) {
    const N: usize = 16;
    let h = Harness::with_policy(store, |p| {
        p.mfa_lockout.threshold = 50;
        p.login_rate.per_identifier = 100;
    });
    let user = h.user_with_totp("bob").await;
    let mut tickets = Vec::with_capacity(N);
    for _ in 0..N {
        tickets.push(h.mfa_ticket(&user.user).await);
    }
    let code = user.backup_codes[0].expose_secret().to_owned();
    let results = race(N, |i| {
        verify_owned(
            h.mfa.clone(),
            tickets[i].clone(),
            FactorKind::BackupCodes,
            code.clone(),
            h.client(),
        )
    })
    .await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(
        wins,
        1,
        "exactly one of {N} may succeed; errors: {:?}",
        codes(&results)
    );
    assert_eq!(
        h.mfa.backup_codes_remaining(user.user.id).await.ok(),
        Some(9)
    );
}

/// R55: 16 concurrent verifications of one ticket with one email code:
/// exactly one succeeds.
pub async fn r55_concurrent_verifies_of_one_email_code_succeed_once<S: Store>(store: Arc<S>) {
    const N: usize = 16;
    let h = Harness::with_policy(store, |p| p.mfa_lockout.threshold = 50);
    let (user, _) = h
        .user_with_otp("cleo", crate::model::OtpChannel::Email)
        .await;
    let ticket = h.mfa_ticket(&user).await;
    h.mfa
        .send_challenge(&ticket, crate::model::OtpChannel::Email)
        .await
        .expect("send_challenge");
    let code = h.last_code(crate::model::OtpChannel::Email, &user.email);
    let results = race(N, |_| {
        verify_owned(
            h.mfa.clone(),
            ticket.clone(),
            FactorKind::Email,
            code.clone(),
            h.client(),
        )
    })
    .await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(
        wins,
        1,
        "exactly one of {N} may succeed; errors: {:?}",
        codes(&results)
    );
}

/// R57: 16 concurrent refreshes with one token: exactly one rotates, the
/// others answer `token_reused` or `invalid_token`, and the family is
/// revoked (the winner's new token fails too).
pub async fn r57_concurrent_refreshes_with_one_token_rotate_once<S: Store>(store: Arc<S>) {
    const N: usize = 16;
    let h = Harness::new(store);
    let user = h.create_user("dan").await;
    let tokens = h.sign_in(&user).await;
    let results = race(N, |_| {
        let mfa = h.mfa.clone();
        let token = tokens.refresh_token.clone();
        let client = h.client();
        async move { mfa.refresh(&token, &client).await }
    })
    .await;
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one rotation; errors: {:?}",
        codes(&results)
    );
    let errors = codes(&results);
    assert!(
        errors
            .iter()
            .all(|c| *c == "token_reused" || *c == "invalid_token"),
        "{errors:?}"
    );
    assert!(
        errors.contains(&"token_reused"),
        "a loser detects the reuse"
    );
    expect_err(
        h.mfa.refresh(&winners[0].refresh_token, &h.client()).await,
        "invalid_token",
    );
    expect_err(
        h.mfa.authenticate(&winners[0].access_token).await,
        "invalid_token",
    );
}

/// R56: 50 concurrent wrong codes: the failure counter stops at the lockout
/// threshold, the rest are refused as `account_locked` without being
/// evaluated, and the right code is refused afterwards.
pub async fn r56_concurrent_wrong_codes_stop_counting_at_the_threshold<S: Store>(store: Arc<S>) {
    const N: usize = 50;
    let h = Harness::new(store);
    let user = h.user_with_totp("eve").await;
    let ticket = h.mfa_ticket(&user.user).await;
    h.next_step();
    let right = h.totp_code(&user.secret);
    let wrong = wrong_code(&right);
    let results = race(N, |_| {
        verify_owned(
            h.mfa.clone(),
            ticket.clone(),
            FactorKind::Totp,
            wrong.clone(),
            h.client(),
        )
    })
    .await;
    let threshold = h.mfa.policy().mfa_lockout.threshold;
    let errors = codes(&results);
    let evaluated = errors.iter().filter(|c| **c == "invalid_code").count();
    let locked = errors.iter().filter(|c| **c == "account_locked").count();
    assert_eq!(errors.len(), N, "no wrong code succeeds");
    assert_eq!(
        evaluated, threshold as usize,
        "only `threshold` guesses are evaluated"
    );
    assert_eq!(locked, N - threshold as usize);
    assert_eq!(h.mfa_failures(user.user.id).await, threshold);
    expect_err(
        h.verify(&ticket, FactorKind::Totp, &right).await,
        "account_locked",
    );
}

//! Real concurrency through the engine: tasks on the multi-thread runtime,
//! released together by a barrier, race for one single-use thing, or race a
//! revocation against uses of what it revokes (R58).

use super::harness::{Harness, expect_err, expect_mfa_ticket};
use super::verify::wrong_code;
use crate::crypto::ExposeSecret;
use crate::error::MfaResult;
use crate::model::{FactorKind, SessionStatus};
use crate::store::Store;
use crate::{ClientInfo, LoginOutcome, Mfa, Tokens, VerifyRequest};
use futures::future::BoxFuture;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// `n` refreshes with `refresh_token` at once; their answers in task order.
async fn race_refreshes<S: Store>(
    h: &Harness<S>,
    n: usize,
    refresh_token: &str,
) -> Vec<MfaResult<Tokens>> {
    race(n, |_| {
        let mfa = h.mfa.clone();
        let token = refresh_token.to_owned();
        let client = h.client();
        async move { mfa.refresh(&token, &client).await }
    })
    .await
}

/// R57: 16 concurrent refreshes with one token: exactly one rotates, the
/// others answer `token_reused` or `invalid_token`, and the family is
/// revoked (the winner's new token fails too).
pub async fn r57_concurrent_refreshes_with_one_token_rotate_once<S: Store>(store: Arc<S>) {
    const N: usize = 16;
    let h = Harness::new(store);
    let user = h.create_user("dan").await;
    let tokens = h.sign_in(&user).await;
    let results = race_refreshes(&h, N, &tokens.refresh_token).await;
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

/// R57 with reuse grace: 16 concurrent refreshes with one token (the
/// rotation and its retries), and then 16 concurrent retries of it, all
/// succeed with the same new refresh token of the same session, each with
/// a working access token; the family is not revoked and the new token
/// rotates afterwards.
pub async fn r57_concurrent_refreshes_within_the_grace_get_one_pair<S: Store>(store: Arc<S>) {
    const N: usize = 16;
    let h = Harness::with_policy(store, |p| {
        p.session.refresh_reuse_grace = chrono::TimeDelta::seconds(10);
    });
    let user = h.create_user("eve").await;
    let tokens = h.sign_in(&user).await;
    let mut answers = Vec::new();
    for round in ["the rotation and its retries", "retries only"] {
        let results = race_refreshes(&h, N, &tokens.refresh_token).await;
        assert!(
            results.iter().all(Result::is_ok),
            "{round}: every refresh within the grace succeeds, errors: {:?}",
            codes(&results)
        );
        answers.extend(results.into_iter().flatten());
        h.advance(chrono::TimeDelta::seconds(1));
    }
    for answer in &answers {
        assert_eq!(
            answer.refresh_token, answers[0].refresh_token,
            "every racer gets the same refresh token"
        );
        assert_eq!(answer.session_id, tokens.session_id);
        h.mfa
            .authenticate(&answer.access_token)
            .await
            .expect("every racer's access token works");
    }
    h.mfa
        .refresh(&answers[0].refresh_token, &h.client())
        .await
        .expect("the one new refresh token rotates");
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

/// One use of a credential during a revoke race.
#[derive(Debug, Clone, Copy)]
struct Use {
    /// The use began after `revoke()` had returned.
    after_revoke: bool,
    /// The credential was honoured.
    honoured: bool,
}

/// Raised by the revoking task once `revoke()` has returned. A use that
/// reads it raised began after the revocation took effect.
#[derive(Debug, Clone, Default)]
struct Revoked(Arc<AtomicBool>);

impl Revoked {
    fn raise(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn raised(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Uses beyond which a racing task gives up waiting for `revoke()`.
const MAX_USES: usize = 10_000;

/// Uses a credential again and again until one use has begun after
/// `revoke()` returned, so every task ends with at least one such use,
/// whatever the interleaving. `attempt` answers whether the use was
/// honoured.
async fn use_until_revoked<F, Fut>(revoked: Revoked, mut attempt: F) -> Vec<Use>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let mut uses = Vec::new();
    for _ in 0..MAX_USES {
        let after_revoke = revoked.raised();
        let honoured = attempt().await;
        uses.push(Use {
            after_revoke,
            honoured,
        });
        if after_revoke {
            return uses;
        }
        tokio::task::yield_now().await;
    }
    panic!("revoke() did not return within {MAX_USES} uses");
}

/// Runs `revoke` against `users` tasks made by `user`, all released
/// together; returns every use. `revoke` must finish the revocation before
/// its future completes.
async fn revoke_while_using<R, U>(users: usize, revoke: R, user: U) -> Vec<Use>
where
    R: FnOnce() -> BoxFuture<'static, ()>,
    U: Fn(usize, Revoked) -> BoxFuture<'static, Vec<Use>>,
{
    let revoked = Revoked::default();
    let revoke = std::sync::Mutex::new(Some(revoke));
    crate::testing::race_all(users + 1, |i| -> BoxFuture<'static, Vec<Use>> {
        if i == 0 {
            let revoke = revoke.lock().expect("revoke lock").take();
            let done = revoke.expect("one revoking task")();
            let revoked = revoked.clone();
            Box::pin(async move {
                done.await;
                revoked.raise();
                Vec::new()
            })
        } else {
            user(i - 1, revoked.clone())
        }
    })
    .await
    .into_iter()
    .flatten()
    .collect()
}

/// Asserts that no use begun after `revoke()` returned was honoured.
#[track_caller]
fn assert_no_use_after_revoke(uses: &[Use], what: &str) {
    let after = uses.iter().filter(|u| u.after_revoke).count();
    assert!(after > 0, "{what}: some uses begin after revoke() returned");
    let honoured = uses.iter().filter(|u| u.after_revoke && u.honoured).count();
    assert_eq!(
        honoured, 0,
        "{what}: {honoured} of {after} uses begun after revoke() returned were honoured"
    );
}

/// The tokens seen so far by the tasks racing a revocation: the newest
/// refresh token of the chain, and every access token issued.
#[derive(Debug)]
struct Chain {
    refresh_token: String,
    access_tokens: Vec<String>,
}

impl Chain {
    fn shared(tokens: &crate::Tokens) -> Arc<std::sync::Mutex<Self>> {
        Arc::new(std::sync::Mutex::new(Self {
            refresh_token: tokens.refresh_token.clone(),
            access_tokens: vec![tokens.access_token.clone()],
        }))
    }
}

/// A task that refreshes along the chain: each honoured refresh moves the
/// chain on to the new refresh token.
fn refreshing(
    mfa: Mfa,
    client: ClientInfo,
    chain: Arc<std::sync::Mutex<Chain>>,
    revoked: Revoked,
) -> BoxFuture<'static, Vec<Use>> {
    Box::pin(use_until_revoked(revoked, move || {
        let (mfa, client, chain) = (mfa.clone(), client.clone(), Arc::clone(&chain));
        async move {
            let token = chain.lock().expect("chain lock").refresh_token.clone();
            match mfa.refresh(&token, &client).await {
                Ok(tokens) => {
                    let mut chain = chain.lock().expect("chain lock");
                    chain.refresh_token = tokens.refresh_token;
                    chain.access_tokens.push(tokens.access_token);
                    true
                }
                Err(e) => {
                    assert!(
                        matches!(e.code(), "invalid_token" | "token_reused"),
                        "a refused refresh answers invalid_token or token_reused, got {e:?}"
                    );
                    false
                }
            }
        }
    }))
}

/// A task that authenticates with the newest access token of the chain.
fn authenticating(
    mfa: Mfa,
    chain: Arc<std::sync::Mutex<Chain>>,
    revoked: Revoked,
) -> BoxFuture<'static, Vec<Use>> {
    Box::pin(use_until_revoked(revoked, move || {
        let (mfa, chain) = (mfa.clone(), Arc::clone(&chain));
        async move {
            let token = chain
                .lock()
                .expect("chain lock")
                .access_tokens
                .last()
                .cloned()
                .expect("an access token");
            match mfa.authenticate(&token).await {
                Ok(_) => true,
                Err(e) => {
                    assert_eq!(e.code(), "invalid_token", "{e:?}");
                    false
                }
            }
        }
    }))
}

/// After a race: no token of the chain works any more and the session is
/// revoked, so the race left no live session or token behind.
async fn assert_chain_is_dead<S: Store>(
    h: &Harness<S>,
    chain: &std::sync::Mutex<Chain>,
    session: crate::model::SessionId,
    user: crate::model::UserId,
) {
    let (refresh_token, access_tokens) = {
        let chain = chain.lock().expect("chain lock");
        (chain.refresh_token.clone(), chain.access_tokens.clone())
    };
    for token in &access_tokens {
        expect_err(h.mfa.authenticate(token).await, "invalid_token");
    }
    assert!(
        h.mfa.refresh(&refresh_token, &h.client()).await.is_err(),
        "the newest refresh token of a revoked session is refused"
    );
    let stored = h
        .store
        .get_session(session)
        .await
        .expect("get_session failed")
        .expect("the session is kept");
    assert_eq!(stored.status, SessionStatus::Revoked);
    assert!(
        h.mfa
            .sessions(user)
            .await
            .expect("sessions")
            .iter()
            .all(|v| v.session.id != session),
        "a revoked session is not listed"
    );
}

/// R58: `revoke_session` raced with refreshes and authentications of that
/// session: every use begun after `revoke_session` returned is refused, and
/// no token of the session works afterwards.
pub async fn r58_session_revocation_refuses_every_later_use<S: Store>(store: Arc<S>) {
    const USERS: usize = 4;
    let h = Harness::new(store);
    let user = h.create_user("fay").await;
    let tokens = h.sign_in(&user).await;
    let chain = Chain::shared(&tokens);
    let uses = revoke_while_using(
        USERS,
        || {
            let (mfa, user, session) = (h.mfa.clone(), user.id, tokens.session_id);
            Box::pin(async move {
                mfa.revoke_session(user, session)
                    .await
                    .expect("revoke_session");
            })
        },
        |i, revoked| {
            let chain = Arc::clone(&chain);
            if i == 0 {
                refreshing(h.mfa.clone(), h.client(), chain, revoked)
            } else {
                authenticating(h.mfa.clone(), chain, revoked)
            }
        },
    )
    .await;
    assert_no_use_after_revoke(&uses, "revoke_session vs refresh/authenticate");
    assert_chain_is_dead(&h, &chain, tokens.session_id, user.id).await;
}

/// R58: a refresh-token family revoked (by presenting a spent token of it)
/// while the chain is refreshed and its access tokens used: every refresh or
/// authentication begun after the revoking call returned is refused, and no
/// token of the family works afterwards.
pub async fn r58_family_revocation_refuses_every_later_refresh<S: Store>(store: Arc<S>) {
    const USERS: usize = 4;
    let h = Harness::new(store);
    let user = h.create_user("gus").await;
    let first = h.sign_in(&user).await;
    let spent = first.refresh_token.clone();
    let current = h
        .mfa
        .refresh(&spent, &h.client())
        .await
        .expect("the first refresh rotates");
    let chain = Chain::shared(&current);
    let uses = revoke_while_using(
        USERS,
        || {
            let (mfa, client) = (h.mfa.clone(), h.client());
            Box::pin(async move {
                expect_err(mfa.refresh(&spent, &client).await, "token_reused");
            })
        },
        |i, revoked| {
            let chain = Arc::clone(&chain);
            if i == 0 {
                refreshing(h.mfa.clone(), h.client(), chain, revoked)
            } else {
                authenticating(h.mfa.clone(), chain, revoked)
            }
        },
    )
    .await;
    assert_no_use_after_revoke(&uses, "family revocation vs refresh/authenticate");
    assert_chain_is_dead(&h, &chain, first.session_id, user.id).await;
}

/// R58: `revoke_device` raced with sign-ins that present the device's trust
/// token: every sign-in begun after `revoke_device` returned asks for the
/// second factor, and the device is no longer trusted afterwards (a
/// rotation that overlapped the revocation did not restore trust).
pub async fn r58_device_revocation_refuses_every_later_trusted_sign_in<S: Store>(store: Arc<S>) {
    const USERS: usize = 4;
    let h = Harness::with_policy(store, |p| {
        p.login_rate.per_identifier = 10_000;
        p.login_rate.per_ip = 10_000;
    });
    let user = h.user_with_totp("hal").await;
    let first = h.sign_in_remembered(&user, &h.client()).await;
    let first_token = first.trust_token.clone().expect("a trust token");
    let trusted = h
        .mfa
        .trusted_devices(user.user.id)
        .await
        .expect("trusted_devices");
    assert_eq!(trusted.len(), 1, "one trusted device");
    let device = trusted[0].id;
    let trust = Arc::new(std::sync::Mutex::new(first_token.clone()));
    let uses = revoke_while_using(
        USERS,
        || {
            let (mfa, user) = (h.mfa.clone(), user.user.id);
            Box::pin(async move {
                mfa.revoke_device(user, device)
                    .await
                    .expect("revoke_device");
            })
        },
        |_, revoked| {
            let (mfa, account, client) = (h.mfa.clone(), user.user.clone(), h.client());
            let trust = Arc::clone(&trust);
            Box::pin(use_until_revoked(revoked, move || {
                let (mfa, account, trust) = (mfa.clone(), account.clone(), Arc::clone(&trust));
                let mut client = client.clone();
                async move {
                    client.trust_token = Some(trust.lock().expect("trust lock").clone());
                    let outcome = mfa
                        .login(crate::LoginRequest {
                            identifier: account.identifier.clone(),
                            password: account.password.clone(),
                            client,
                        })
                        .await;
                    match outcome {
                        Ok(LoginOutcome::Authenticated(tokens)) => {
                            let fresh = tokens.trust_token.expect("a rotated trust token");
                            *trust.lock().expect("trust lock") = fresh;
                            true
                        }
                        Ok(LoginOutcome::MfaRequired { .. }) => false,
                        other => panic!("expected Authenticated or MfaRequired, got {other:?}"),
                    }
                }
            }))
        },
    )
    .await;
    assert_no_use_after_revoke(&uses, "revoke_device vs trusted sign-in");
    assert!(
        h.mfa
            .trusted_devices(user.user.id)
            .await
            .expect("trusted_devices")
            .is_empty(),
        "no device is trusted after the race"
    );
    let newest = trust.lock().expect("trust lock").clone();
    for token in [first_token, newest] {
        let client = ClientInfo {
            trust_token: Some(token),
            ..h.client()
        };
        expect_mfa_ticket(h.login_from(&user.user, client).await);
    }
}

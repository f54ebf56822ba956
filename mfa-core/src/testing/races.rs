//! Real concurrency: many tasks on the multi-thread runtime, released
//! together by a barrier, race for one single-use thing. Exactly one may
//! win, whatever the backend.

use super::fixtures::{self, at, create_user, t0};
use crate::model::{
    ChallengePurpose, FactorKind, FailureCounter, Lock, LockScope, LockoutRule, SessionStatus,
};
use crate::store::*;
use chrono::TimeDelta;
use std::future::Future;
use std::sync::Arc;

/// Runs `n` store calls made by `task`, released together; returns their
/// results in task order.
async fn race<T, F, Fut>(n: usize, task: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = StoreResult<T>> + Send + 'static,
    T: Send + 'static,
{
    super::race_all(n, task)
        .await
        .into_iter()
        .map(|r| r.expect("a racing store call failed"))
        .collect()
}

fn count<T>(results: &[T], pred: impl Fn(&T) -> bool) -> usize {
    results.iter().filter(|r| pred(r)).count()
}

/// R55: 64 concurrent uses of one backup code: exactly one succeeds.
pub async fn concurrent_backup_code_uses_succeed_once<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let codes = fixtures::backup_codes(user.id, 3, t0());
    store
        .replace_backup_codes(user.id, &codes)
        .await
        .expect("replace_backup_codes failed");
    let hash = codes[1].code_hash;
    let results = race(64, |_| {
        let store = Arc::clone(&store);
        async move { store.consume_backup_code(user.id, &hash, at(10)).await }
    })
    .await;
    assert_eq!(
        count(&results, |won| *won),
        1,
        "exactly one of 64 concurrent uses may succeed"
    );
    let left = store
        .remaining_backup_codes(user.id)
        .await
        .expect("remaining_backup_codes failed");
    assert_eq!(left, 2, "exactly one code was used");
}

/// R55: 64 concurrent consumptions of one OTP challenge: exactly one
/// succeeds.
pub async fn concurrent_challenge_consumptions_succeed_once<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let factor = fixtures::create_factor(&*store, user.id, FactorKind::Sms, t0()).await;
    let challenge = fixtures::challenge(user.id, factor.id, ChallengePurpose::Login, t0());
    store
        .issue_challenge(&challenge)
        .await
        .expect("issue_challenge failed");
    let results = race(64, |_| {
        let store = Arc::clone(&store);
        async move { store.consume_challenge(challenge.id, at(10)).await }
    })
    .await;
    assert_eq!(
        count(&results, |won| *won),
        1,
        "exactly one of 64 concurrent consumptions may succeed"
    );
}

/// R56: 64 concurrent attempts on a challenge allowing 5: exactly 5 are
/// allowed, numbered 1 to 5, and the rest are `Exhausted`.
pub async fn concurrent_challenge_attempts_never_exceed_the_maximum<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let factor = fixtures::create_factor(&*store, user.id, FactorKind::Email, t0()).await;
    let challenge = fixtures::challenge(user.id, factor.id, ChallengePurpose::Login, t0());
    store
        .issue_challenge(&challenge)
        .await
        .expect("issue_challenge failed");
    let results = race(64, |_| {
        let store = Arc::clone(&store);
        async move { store.record_challenge_attempt(challenge.id, at(10)).await }
    })
    .await;
    let mut numbers: Vec<u32> = results
        .iter()
        .filter_map(|r| match r {
            ChallengeAttempt::Allowed { attempts } => Some(*attempts),
            _ => None,
        })
        .collect();
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        vec![1, 2, 3, 4, 5],
        "exactly max_attempts attempts, each number once"
    );
    assert_eq!(
        count(&results, |r| *r == ChallengeAttempt::Exhausted),
        59,
        "every other attempt must be Exhausted"
    );
}

/// R54: 64 concurrent acceptances of the same TOTP step: exactly one wins.
pub async fn concurrent_totp_step_acceptances_succeed_once<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let factor = fixtures::create_active_totp(&*store, user.id, t0()).await;
    let step = 63_333_334;
    let results = race(64, |_| {
        let store = Arc::clone(&store);
        async move { store.advance_totp_step(factor.id, step, at(10)).await }
    })
    .await;
    assert_eq!(
        count(&results, |won| *won),
        1,
        "exactly one of 64 concurrent uses of a step may win"
    );
    let stored = store
        .get_factor(factor.id)
        .await
        .expect("get_factor failed")
        .expect("the factor exists");
    assert_eq!(stored.last_totp_step, Some(step), "the step is recorded");
}

/// 32 concurrent activations of one pending factor: exactly one succeeds.
pub async fn concurrent_factor_activations_succeed_once<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let factor = fixtures::create_factor(&*store, user.id, FactorKind::Totp, t0()).await;
    let results = race(32, |_| {
        let store = Arc::clone(&store);
        async move { store.activate_factor(factor.id, at(10)).await }
    })
    .await;
    assert_eq!(
        count(&results, |won| *won),
        1,
        "exactly one activation may succeed"
    );
}

/// A session of `user` with one refresh token, rotated by 64 tasks at
/// once at `now`, each with a new token from `new`: the session, every
/// outcome in task order, and the one winner's child (asserting there is
/// exactly one).
async fn race_rotations<S: Store>(
    store: &Arc<S>,
    user: crate::model::UserId,
    now: chrono::DateTime<chrono::Utc>,
    new: impl Fn() -> NewRefreshToken,
) -> (
    crate::model::Session,
    Vec<RotateOutcome>,
    crate::model::RefreshToken,
) {
    let session = fixtures::create_session(&**store, user, None, t0()).await;
    let token = fixtures::create_refresh_token(&**store, &session, t0()).await;
    let presented = token.token_hash;
    let results = race(64, |_| {
        let store = Arc::clone(store);
        let new = new();
        async move { store.rotate_refresh_token(&presented, &new, now).await }
    })
    .await;
    let mut winners = results.iter().filter_map(|r| match r {
        RotateOutcome::Rotated { token, .. } => Some(token.clone()),
        _ => None,
    });
    let winner = winners
        .next()
        .expect("one of 64 concurrent rotations must succeed");
    assert!(
        winners.next().is_none(),
        "exactly one of 64 concurrent rotations may succeed"
    );
    (session, results, winner)
}

/// R57: 64 concurrent rotations of the same refresh token: exactly one is
/// `Rotated`, the others `Reused` or `Revoked`; afterwards the family has no
/// usable token and the session is revoked.
pub async fn concurrent_refresh_rotations_rotate_once<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let now = at(60);
    let (session, results, winner) =
        race_rotations(&store, user.id, now, || fixtures::next_refresh_token(now)).await;
    let reused = count(&results, |r| matches!(r, RotateOutcome::Reused { .. }));
    let revoked = count(&results, |r| matches!(r, RotateOutcome::Revoked { .. }));
    assert_eq!(
        reused + revoked,
        63,
        "every loser must be Reused or Revoked, got {results:?}"
    );
    assert!(
        reused >= 1,
        "the first loser after the winner must detect the reuse"
    );
    let after = store
        .rotate_refresh_token(&winner.token_hash, &fixtures::next_refresh_token(now), now)
        .await
        .expect("rotate_refresh_token failed");
    assert_eq!(
        after,
        RotateOutcome::Revoked { user_id: user.id },
        "the winner's child must be revoked with its family"
    );
    let s = store
        .get_session(session.id)
        .await
        .expect("get_session failed")
        .expect("the session exists");
    assert_eq!(
        s.status,
        SessionStatus::Revoked,
        "reuse must revoke the session"
    );
}

/// R57 with reuse grace: 64 concurrent rotations of one token, each with
/// grace: exactly one is `Rotated`; every other is `Retried` with the
/// winner's child and the sealed child the winner kept; the session stays
/// active.
pub async fn concurrent_rotations_with_grace_retry_one_child<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let now = at(60);
    let (session, results, winner) = race_rotations(&store, user.id, now, || {
        fixtures::next_refresh_token_with_grace(now, now + TimeDelta::seconds(10))
    })
    .await;
    let child = &winner;
    for r in &results {
        match r {
            RotateOutcome::Rotated { .. } => {}
            RotateOutcome::Retried {
                token,
                session: current,
                sealed_successor,
            } => {
                assert_eq!(token, child, "every retry gets the winner's child");
                assert_eq!(current.id, session.id);
                assert_eq!(
                    *sealed_successor,
                    fixtures::kept_successor(child.id),
                    "every retry gets the sealed child the winner kept"
                );
            }
            other => panic!("every loser within grace must be Retried, got {other:?}"),
        }
    }
    let s = store
        .get_session(session.id)
        .await
        .expect("get_session failed")
        .expect("the session exists");
    assert_eq!(s.status, SessionStatus::Active, "nothing was revoked");
}

/// R56: 200 concurrent failures under the default rule at one instant:
/// exactly 5 are counted (numbered 1 to 5), the rest are refused with the
/// lock, and the counter ends at 5.
pub async fn concurrent_failures_stop_counting_at_the_lock<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let rule = LockoutRule::default();
    let now = at(10);
    let results = race(200, |_| {
        let store = Arc::clone(&store);
        async move {
            store
                .record_failure(user.id, LockScope::Mfa, &rule, now)
                .await
        }
    })
    .await;
    let mut counted: Vec<u32> = results
        .iter()
        .filter_map(|r| match r {
            FailureOutcome::Counted { failures, .. } => Some(*failures),
            _ => None,
        })
        .collect();
    counted.sort_unstable();
    assert_eq!(
        counted,
        vec![1, 2, 3, 4, 5],
        "exactly 5 failures may be counted, each number once"
    );
    let until = now + TimeDelta::minutes(15);
    assert_eq!(
        count(&results, |r| *r
            == FailureOutcome::Locked(Lock::Until(until))),
        195,
        "every other failure must be refused with the lock"
    );
    let stored = store
        .get_user(user.id)
        .await
        .expect("get_user failed")
        .expect("the user exists");
    assert_eq!(
        stored.mfa_failures,
        FailureCounter {
            failures: 5,
            locked_until: Some(until)
        },
        "the final counter must be consistent"
    );
}

/// 64 concurrent hits on one key with limit 10: exactly 10 are allowed.
pub async fn concurrent_rate_limit_hits_allow_exactly_the_limit<S: Store>(store: Arc<S>) {
    let key = Arc::new(fixtures::rate_key("race"));
    let results = race(64, |_| {
        let store = Arc::clone(&store);
        let key = Arc::clone(&key);
        async move { store.hit(&key, 10, TimeDelta::minutes(1), at(10)).await }
    })
    .await;
    let mut remaining: Vec<u32> = results
        .iter()
        .filter_map(|r| match r {
            RateDecision::Allowed { remaining } => Some(*remaining),
            RateDecision::Limited { .. } => None,
        })
        .collect();
    remaining.sort_unstable();
    assert_eq!(
        remaining,
        (0..10).collect::<Vec<_>>(),
        "exactly 10 hits allowed, each `remaining` once"
    );
}

/// 32 concurrent first sightings of one (user, fingerprint): one device.
pub async fn concurrent_first_sightings_create_one_device<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let sighting = fixtures::sighting(user.id, fixtures::fingerprint(), at(10));
    let results = race(32, |_| {
        let store = Arc::clone(&store);
        let sighting = sighting.clone();
        async move { store.upsert_device(&sighting).await }
    })
    .await;
    assert_eq!(
        count(&results, |u| u.created),
        1,
        "exactly one sighting may create the device"
    );
    let id = results[0].device.id;
    assert!(
        results.iter().all(|u| u.device.id == id),
        "every sighting must see the same device"
    );
    let listed = store
        .list_devices(user.id)
        .await
        .expect("list_devices failed");
    assert_eq!(listed.len(), 1, "one device per (user, fingerprint)");
}

/// 64 concurrent consumptions of one login ticket: exactly one succeeds.
pub async fn concurrent_ticket_consumptions_succeed_once<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let ticket = fixtures::ticket(user.id, t0());
    store
        .create_ticket(&ticket)
        .await
        .expect("create_ticket failed");
    let results = race(64, |_| {
        let store = Arc::clone(&store);
        async move { store.consume_ticket(ticket.id, at(10)).await }
    })
    .await;
    assert_eq!(
        count(&results, |won| *won),
        1,
        "exactly one of 64 concurrent consumptions may succeed"
    );
}

/// 64 concurrent rotations of one device-trust token: exactly one succeeds,
/// and only its new token then finds the device.
pub async fn concurrent_trust_token_rotations_succeed_once<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let device = fixtures::create_device(&*store, user.id, t0()).await;
    let old = fixtures::token_hash();
    let trusted = store
        .trust_device(device.id, &old, at(3_600), at(1))
        .await
        .expect("trust_device failed");
    assert!(trusted, "trust_device must return true");
    let news: Arc<Vec<_>> = Arc::new((0..64).map(|_| fixtures::token_hash()).collect());
    let results = race(64, |i| {
        let store = Arc::clone(&store);
        let news = Arc::clone(&news);
        async move {
            store
                .rotate_trust_token(device.id, &old, &news[i], at(10))
                .await
        }
    })
    .await;
    assert_eq!(
        count(&results, |won| *won),
        1,
        "exactly one of 64 concurrent rotations may succeed"
    );
    let winner = results.iter().position(|won| *won).expect("one winner");
    for (i, hash) in news.iter().enumerate() {
        let found = store
            .find_trusted_device(user.id, hash, at(20))
            .await
            .expect("find_trusted_device failed");
        assert_eq!(
            found.is_some(),
            i == winner,
            "only the winner's token may find the device"
        );
    }
}

/// R40, R58: `revoke_refresh_family` racing a chain of rotations of the same
/// family. Once the revocation has returned, no rotation that starts later
/// may succeed, and no token of the family is left usable: a child inserted
/// by a rotation in flight while the family was revoked must be revoked
/// too. 32 rounds, each with the revocation released at a different point
/// of the chain.
pub async fn revoking_a_family_during_rotations_leaves_no_usable_token<S: Store>(store: Arc<S>) {
    const ROUNDS: usize = 32;
    const CHAIN: usize = 12;
    for round in 0..ROUNDS {
        let user = create_user(&*store, t0()).await;
        let session = fixtures::create_session(&*store, user.id, None, t0()).await;
        let first = fixtures::create_refresh_token(&*store, &session, t0()).await;
        let now = at(60);
        let revoked = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let rotator = {
            let (store, revoked, barrier) = (
                Arc::clone(&store),
                Arc::clone(&revoked),
                Arc::clone(&barrier),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                let mut current = first.token_hash;
                let mut late_successes = 0usize;
                for _ in 0..CHAIN {
                    let started_after_revoke = revoked.load(std::sync::atomic::Ordering::SeqCst);
                    let new = fixtures::next_refresh_token(now);
                    match store
                        .rotate_refresh_token(&current, &new, now)
                        .await
                        .expect("rotate_refresh_token failed")
                    {
                        RotateOutcome::Rotated { token, .. } => {
                            if started_after_revoke {
                                late_successes += 1;
                            }
                            current = token.token_hash;
                        }
                        RotateOutcome::Revoked { .. } => break,
                        other => panic!("a rotation of the chain's newest token gave {other:?}"),
                    }
                }
                (current, late_successes)
            })
        };
        let revoker = {
            let (store, revoked, barrier) = (
                Arc::clone(&store),
                Arc::clone(&revoked),
                Arc::clone(&barrier),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                // Land at a different point of the chain each round.
                for _ in 0..round % 8 {
                    tokio::task::yield_now().await;
                }
                store
                    .revoke_refresh_family(first.family_id, now)
                    .await
                    .expect("revoke_refresh_family failed");
                revoked.store(true, std::sync::atomic::Ordering::SeqCst);
            })
        };
        revoker.await.expect("the revoking task panicked");
        let (newest, late_successes) = rotator.await.expect("the rotating task panicked");
        assert_eq!(
            late_successes, 0,
            "round {round}: a rotation that started after revoke_refresh_family returned succeeded"
        );
        let after = store
            .rotate_refresh_token(&newest, &fixtures::next_refresh_token(now), now)
            .await
            .expect("rotate_refresh_token failed");
        assert_eq!(
            after,
            RotateOutcome::Revoked { user_id: user.id },
            "round {round}: the family's newest token survived its revocation"
        );
    }
}

/// 64 concurrent takes of one WebAuthn ceremony: exactly one gets it (an
/// assertion or attestation is answered once).
pub async fn concurrent_ceremony_takes_succeed_once<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let ceremony = fixtures::ceremony(Some(user.id), crate::model::CeremonyPurpose::Login, t0());
    store
        .create_ceremony(&ceremony)
        .await
        .expect("create_ceremony failed");
    let results = race(64, |_| {
        let store = Arc::clone(&store);
        async move { store.take_ceremony(ceremony.id, at(10)).await }
    })
    .await;
    assert_eq!(
        count(&results, Option::is_some),
        1,
        "exactly one of 64 concurrent takes may get the ceremony"
    );
}

/// 32 concurrent inserts of a check for one key, each with its own value:
/// exactly one is stored, and the stored value is the winner's.
pub async fn concurrent_key_check_inserts_store_one<S: Store>(store: Arc<S>) {
    let subject = crate::model::KeyCheckSubject::AeadKey(fixtures::high_key_id());
    let checks: Arc<Vec<_>> = Arc::new(
        (0..32)
            .map(|_| fixtures::key_check(subject, t0()))
            .collect(),
    );
    let results = race(32, |i| {
        let store = Arc::clone(&store);
        let checks = Arc::clone(&checks);
        async move { store.add_key_check(&checks[i]).await }
    })
    .await;
    assert_eq!(
        count(&results, |won| *won),
        1,
        "exactly one of 32 concurrent inserts may store its check"
    );
    let winner = results.iter().position(|won| *won).expect("a winner");
    let stored: Vec<_> = store
        .key_checks()
        .await
        .expect("key_checks failed")
        .into_iter()
        .filter(|c| c.subject == subject)
        .collect();
    assert_eq!(
        stored,
        [checks[winner].clone()],
        "the winner's check is stored"
    );
}

/// 64 concurrent answers to one pending push request, half approvals and
/// half denials, each signed by its own factor: exactly one is recorded,
/// and the stored answer is the winner's.
pub async fn concurrent_push_resolutions_succeed_once<S: Store>(store: Arc<S>) {
    use crate::model::{PushResolution, PushStatus};
    let user = create_user(&*store, t0()).await;
    let request = fixtures::create_push_request(&*store, user.id, t0()).await;
    let answers: Arc<Vec<PushResolution>> = Arc::new(
        (0..64)
            .map(|i| PushResolution {
                status: if i % 2 == 0 {
                    PushStatus::Approved
                } else {
                    PushStatus::Denied
                },
                factor_id: crate::model::FactorId::new(),
                user_verified: i % 3 == 0,
                at: at(10),
            })
            .collect(),
    );
    let results = race(64, |i| {
        let store = Arc::clone(&store);
        let answers = Arc::clone(&answers);
        async move { store.resolve_push_request(request.id, &answers[i]).await }
    })
    .await;
    assert_eq!(
        count(&results, |won| *won),
        1,
        "exactly one of 64 concurrent answers may be recorded"
    );
    let winner = &answers[results.iter().position(|won| *won).expect("a winner")];
    let stored = store
        .get_push_request(request.id)
        .await
        .expect("get_push_request failed")
        .expect("the request exists");
    assert_eq!(
        (
            stored.status,
            stored.factor_id,
            stored.user_verified,
            stored.answered_at
        ),
        (
            winner.status,
            Some(winner.factor_id),
            winner.user_verified,
            Some(winner.at)
        ),
        "the stored answer is the winner's"
    );
}

/// 64 concurrent consumptions of one approved push request: exactly one
/// completes the ticket.
pub async fn concurrent_push_consumptions_succeed_once<S: Store>(store: Arc<S>) {
    use crate::model::{PushResolution, PushStatus};
    let user = create_user(&*store, t0()).await;
    let phone = fixtures::create_factor(&*store, user.id, FactorKind::Push, t0()).await;
    let request = fixtures::create_push_request(&*store, user.id, t0()).await;
    let approval = PushResolution {
        status: PushStatus::Approved,
        factor_id: phone.id,
        user_verified: true,
        at: at(5),
    };
    assert!(
        store
            .resolve_push_request(request.id, &approval)
            .await
            .expect("resolve_push_request failed"),
        "the approval is recorded"
    );
    let results = race(64, |_| {
        let store = Arc::clone(&store);
        async move { store.consume_push_request(request.id, at(10)).await }
    })
    .await;
    assert_eq!(
        count(&results, |won| *won),
        1,
        "exactly one of 64 concurrent consumptions may succeed"
    );
}

/// 64 concurrent key-rotation writes over one sealed blob, each with a
/// blob of its own: exactly one is stored.
pub async fn concurrent_reseals_of_one_blob_write_once<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let factor = fixtures::create_factor(&*store, user.id, FactorKind::Totp, t0()).await;
    let old = factor.secret.clone().expect("a sealed factor");
    let blob =
        |i: usize| crate::model::SealedSecret::from_bytes(vec![u8::try_from(i).unwrap_or(0); 48]);
    let results = race(64, |i| {
        let store = Arc::clone(&store);
        let old = old.clone();
        async move { store.reseal_factor_secret(factor.id, &old, &blob(i)).await }
    })
    .await;
    assert_eq!(
        count(&results, |won| *won),
        1,
        "exactly one of 64 concurrent reseals may write"
    );
    let winner = results.iter().position(|won| *won).expect("a winner");
    let stored = store
        .get_factor(factor.id)
        .await
        .expect("get_factor failed")
        .and_then(|f| f.secret);
    assert_eq!(stored, Some(blob(winner)), "the winner's blob is stored");
}

//! Units of work ([`UnitOfWork`]): what a committed unit keeps, what a
//! rolled-back one leaves behind (nothing), and single winners among units
//! racing for the same row.
//!
//! Run with [`unit_of_work_conformance_tests!`](crate::unit_of_work_conformance_tests).

use super::fixtures::{self, at, create_user, t0};
use crate::model::{
    AuditKind, AuditOutcome, ChallengePurpose, FactorKind, LockScope, LockoutRule,
    RevocationReason, SessionStatus, UserId,
};
use crate::store::*;
use std::sync::Arc;

/// Writes one row of every aggregate for `user` inside `tx`; returns the
/// session id and the rate-limit key it used.
async fn write_everything(
    tx: &dyn Transaction,
    user: UserId,
) -> (crate::model::SessionId, crate::model::FactorId, String) {
    let r = tx.repositories();
    let factor = fixtures::factor(user, FactorKind::Sms, t0());
    r.create_factor(&factor)
        .await
        .expect("create_factor failed");
    r.replace_backup_codes(user, &fixtures::backup_codes(user, 3, t0()))
        .await
        .expect("replace_backup_codes failed");
    r.issue_challenge(&fixtures::challenge(
        user,
        factor.id,
        ChallengePurpose::Login,
        t0(),
    ))
    .await
    .expect("issue_challenge failed");
    r.upsert_device(&fixtures::sighting(user, fixtures::fingerprint(), t0()))
        .await
        .expect("upsert_device failed");
    let session = fixtures::session(user, None, t0());
    r.create_session(&session)
        .await
        .expect("create_session failed");
    r.insert_refresh_token(&fixtures::refresh_token(&session, t0()))
        .await
        .expect("insert_refresh_token failed");
    r.append_audit(&fixtures::audit_event(
        user,
        AuditKind::PasswordLogin,
        AuditOutcome::Success,
        t0(),
    ))
    .await
    .expect("append_audit failed");
    let key = fixtures::rate_key("unit");
    r.hit(&key, 1, chrono::TimeDelta::minutes(1), t0())
        .await
        .expect("hit failed");
    (session.id, factor.id, key)
}

/// Every unit of a race ended, as a winner or a loser, and exactly one won
/// (`what` names the prize).
#[track_caller]
fn assert_one_winner(results: &[StoreResult<bool>], what: &str) {
    assert!(
        results.iter().all(Result::is_ok),
        "every unit ends, as a winner or a loser: {results:?}"
    );
    let wins = results.iter().filter(|r| matches!(r, Ok(true))).count();
    assert_eq!(wins, 1, "exactly one of {} units may {what}", results.len());
}

/// Runs a whole unit again while it fails with contention (bounded), as the
/// engine does.
async fn retry_contention<T, F, Fut>(unit: F) -> StoreResult<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = StoreResult<T>>,
{
    let mut tries = 0;
    loop {
        match unit().await {
            Err(e) if e.is_contention() && tries < 20 => tries += 1,
            other => return other,
        }
    }
}

async fn audit_of<S: Store>(store: &S, user: UserId) -> usize {
    let filter = AuditFilter {
        user_id: Some(user),
        ..AuditFilter::default()
    };
    store
        .query_audit(&filter, &PageRequest::first(100))
        .await
        .expect("query_audit failed")
        .items
        .len()
}

/// A committed unit's writes are all there afterwards.
pub async fn committed_unit_keeps_every_write<S: Store + UnitOfWork>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let tx = store.begin().await.expect("begin failed");
    let (session, factor, key) = write_everything(&*tx, user.id).await;
    tx.commit().await.expect("commit failed");
    assert!(
        store
            .get_factor(factor)
            .await
            .expect("get_factor")
            .is_some()
    );
    assert_eq!(
        store
            .remaining_backup_codes(user.id)
            .await
            .expect("remaining"),
        3
    );
    assert!(
        store
            .latest_challenge(factor, ChallengePurpose::Login)
            .await
            .expect("latest")
            .is_some()
    );
    assert_eq!(
        store
            .list_devices(user.id)
            .await
            .expect("list_devices")
            .len(),
        1
    );
    assert!(
        store
            .get_session(session)
            .await
            .expect("get_session")
            .is_some()
    );
    assert_eq!(audit_of(&*store, user.id).await, 1);
    let again = store
        .hit(&key, 1, chrono::TimeDelta::minutes(1), at(1))
        .await
        .expect("hit failed");
    assert!(
        matches!(again, RateDecision::Limited { .. }),
        "the committed hit must count"
    );
}

/// A rolled-back unit leaves no row behind, in any aggregate.
pub async fn rolled_back_unit_leaves_no_trace<S: Store + UnitOfWork>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let tx = store.begin().await.expect("begin failed");
    let (session, factor, key) = write_everything(&*tx, user.id).await;
    tx.rollback().await.expect("rollback failed");
    assert_rolled_back(&*store, user.id, session, factor, &key).await;
}

/// Dropping an uncommitted unit rolls it back.
pub async fn dropped_unit_is_rolled_back<S: Store + UnitOfWork>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let tx = store.begin().await.expect("begin failed");
    let (session, factor, key) = write_everything(&*tx, user.id).await;
    drop(tx);
    assert_rolled_back(&*store, user.id, session, factor, &key).await;
}

/// A unit whose last write fails (an audit event at a chain position
/// already taken: refused when written, or when the unit commits) keeps
/// none of its writes: the ones before it are rolled back with it. A
/// store that sends its commit without waiting for the writes before it
/// (a pipelining driver) must still not commit them.
pub async fn unit_failing_at_its_last_write_keeps_nothing<S: Store + UnitOfWork>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let chain = crate::model::AuditChainId::from_uuid(uuid::Uuid::new_v4());
    let linked = |seq: u64| crate::model::AuditEvent {
        link: Some(crate::model::AuditLink {
            chain,
            seq,
            mac: crate::model::AuditMac::from_array([0x11; 32]),
            personal: None,
        }),
        ..fixtures::audit_event(
            user.id,
            AuditKind::MfaVerification,
            AuditOutcome::Success,
            t0(),
        )
    };
    let mut taken = linked(1);
    taken.user_id = None;
    store
        .append_audit(&taken)
        .await
        .expect("append_audit failed");

    let tx = store.begin().await.expect("begin failed");
    let (session, factor, key) = write_everything(&*tx, user.id).await;
    match tx.repositories().append_audit(&linked(1)).await {
        // Refused at once: the owner rolls the unit back.
        Err(_) => tx.rollback().await.expect("rollback failed"),
        Ok(()) => assert!(
            tx.commit().await.is_err(),
            "a unit whose audit event takes a chain position twice must not commit"
        ),
    }
    assert_rolled_back(&*store, user.id, session, factor, &key).await;
}

async fn assert_rolled_back<S: Store>(
    store: &S,
    user: UserId,
    session: crate::model::SessionId,
    factor: crate::model::FactorId,
    key: &str,
) {
    assert!(
        store
            .get_factor(factor)
            .await
            .expect("get_factor")
            .is_none()
    );
    assert_eq!(
        store.remaining_backup_codes(user).await.expect("remaining"),
        0
    );
    assert!(
        store
            .latest_challenge(factor, ChallengePurpose::Login)
            .await
            .expect("latest")
            .is_none()
    );
    assert!(
        store
            .list_devices(user)
            .await
            .expect("list_devices")
            .is_empty()
    );
    assert!(
        store
            .get_session(session)
            .await
            .expect("get_session")
            .is_none()
    );
    assert_eq!(
        audit_of(store, user).await,
        0,
        "no audit event survives a rollback"
    );
    let hit = store
        .hit(key, 1, chrono::TimeDelta::minutes(1), at(1))
        .await
        .expect("hit failed");
    assert!(
        matches!(hit, RateDecision::Allowed { .. }),
        "a rolled-back hit must not count"
    );
}

/// A rollback restores rows the unit changed: a spent backup code, a
/// revoked session, a counted failure and an accepted TOTP step are all as
/// they were.
pub async fn rollback_restores_changed_rows<S: Store + UnitOfWork>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let codes = fixtures::backup_codes(user.id, 2, t0());
    store
        .replace_backup_codes(user.id, &codes)
        .await
        .expect("replace_backup_codes failed");
    let session = fixtures::create_session(&*store, user.id, None, t0()).await;
    let totp = fixtures::create_active_totp(&*store, user.id, t0()).await;
    let tx = store.begin().await.expect("begin failed");
    let r = tx.repositories();
    assert!(
        r.consume_backup_code(user.id, &codes[0].code_hash, at(1))
            .await
            .expect("consume")
    );
    assert!(
        r.revoke_session(session.id, RevocationReason::Logout, at(1))
            .await
            .expect("revoke")
    );
    r.record_failure(user.id, LockScope::Mfa, &LockoutRule::default(), at(1))
        .await
        .expect("record_failure failed");
    assert!(
        r.advance_totp_step(totp.id, 100, at(1))
            .await
            .expect("advance")
    );
    tx.rollback().await.expect("rollback failed");

    assert!(
        store
            .consume_backup_code(user.id, &codes[0].code_hash, at(2))
            .await
            .expect("consume"),
        "the code spent in the rolled-back unit is still usable"
    );
    let s = store
        .get_session(session.id)
        .await
        .expect("get_session")
        .expect("session");
    assert_eq!(s.status, SessionStatus::Active, "the revocation was undone");
    let u = store
        .get_user(user.id)
        .await
        .expect("get_user")
        .expect("user");
    assert_eq!(u.mfa_failures.failures, 0, "the failure was undone");
    assert!(
        store
            .advance_totp_step(totp.id, 100, at(2))
            .await
            .expect("advance"),
        "the step accepted in the rolled-back unit is still unused"
    );
}

/// Inside a unit, reads see the unit's own writes.
pub async fn unit_reads_its_own_writes<S: Store + UnitOfWork>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let tx = store.begin().await.expect("begin failed");
    let r = tx.repositories();
    let factor = fixtures::factor(user.id, FactorKind::Totp, t0());
    r.create_factor(&factor)
        .await
        .expect("create_factor failed");
    assert!(r.activate_factor(factor.id, at(1)).await.expect("activate"));
    let listed = r.list_factors(user.id).await.expect("list_factors failed");
    assert_eq!(listed.len(), 1);
    assert!(listed[0].is_active(), "the unit sees its own activation");
    tx.commit().await.expect("commit failed");
}

/// `sign_in_context` answers what the single-table reads answer, in a unit
/// and outside; inside a unit, the sightings and the counter reset that
/// follow it are kept as the separate calls would keep them (a new
/// device seen twice is one device, a known one keeps its first
/// sighting, and a sighting after the unit wrote the device updates it).
pub async fn sign_in_context_and_its_writes_match_the_single_calls<S: Store + UnitOfWork>(
    store: Arc<S>,
) {
    let user = create_user(&*store, t0()).await;
    let totp = fixtures::create_active_totp(&*store, user.id, t0()).await;
    let mut backup = fixtures::factor(user.id, FactorKind::BackupCodes, t0());
    backup.status = crate::model::FactorStatus::Active;
    backup.confirmed_at = Some(t0());
    store
        .create_factor(&backup)
        .await
        .expect("create_factor failed");
    store
        .replace_backup_codes(user.id, &fixtures::backup_codes(user.id, 3, t0()))
        .await
        .expect("replace_backup_codes failed");
    let mut settings = crate::model::MfaSettings::new(user.id, t0());
    settings.enforced = true;
    store
        .put_settings(&settings)
        .await
        .expect("put_settings failed");
    let known = fixtures::create_device(&*store, user.id, t0()).await;
    store
        .record_failure(user.id, LockScope::Password, &LockoutRule::default(), at(1))
        .await
        .expect("record_failure failed");

    let by_calls = sign_in_context_by_calls(&*store, user.id, true)
        .await
        .expect("sign_in_context_by_calls failed");
    let combined = store
        .sign_in_context(user.id, true)
        .await
        .expect("sign_in_context failed");
    let ids = |c: &SignInContext| {
        (
            c.user.as_ref().map(|u| u.id),
            c.factors.iter().map(|f| f.id).collect::<Vec<_>>(),
            c.devices.iter().map(|d| d.id).collect::<Vec<_>>(),
            c.settings.as_ref().map(|s| s.enforced),
            c.backup_codes_left,
        )
    };
    assert_eq!(ids(&combined), ids(&by_calls));
    assert_eq!(
        ids(&combined),
        (
            Some(user.id),
            vec![totp.id, backup.id],
            vec![known.id],
            Some(true),
            3
        )
    );

    let tx = store.begin().await.expect("begin failed");
    let r = tx.repositories();
    let context = r
        .sign_in_context(user.id, true)
        .await
        .expect("sign_in_context failed");
    assert_eq!(ids(&context), ids(&by_calls));
    assert!(
        r.reset_failures(user.id, LockScope::Password)
            .await
            .expect("reset_failures failed")
    );
    let again = r
        .upsert_device(&fixtures::sighting(user.id, known.fingerprint_hash, at(5)))
        .await
        .expect("upsert_device failed");
    assert!(!again.created);
    assert_eq!(again.device.id, known.id);
    assert_eq!(again.device.first_seen_at, t0());
    let fresh = fixtures::fingerprint();
    let first = r
        .upsert_device(&fixtures::sighting(user.id, fresh, at(6)))
        .await
        .expect("upsert_device failed");
    assert!(first.created);
    let mut quiet = fixtures::sighting(user.id, fresh, at(7));
    quiet.metadata = serde_json::Value::Null;
    let second = r.upsert_device(&quiet).await.expect("upsert_device failed");
    assert!(!second.created, "the same fingerprint is the same device");
    assert_eq!(second.device.id, first.device.id);
    assert_eq!(second.device.metadata, first.device.metadata);
    assert_eq!(
        r.list_devices(user.id).await.expect("list_devices").len(),
        2,
        "the unit reads its own devices"
    );
    let third = r
        .upsert_device(&fixtures::sighting(user.id, fresh, at(8)))
        .await
        .expect("upsert_device failed");
    assert!(!third.created);
    assert_eq!(third.device.id, first.device.id);
    tx.commit().await.expect("commit failed");

    let devices = store.list_devices(user.id).await.expect("list_devices");
    assert_eq!(devices.len(), 2);
    let new = devices
        .iter()
        .find(|d| d.id == first.device.id)
        .expect("the new device");
    assert_eq!(new.first_seen_at, at(6));
    assert_eq!(new.last_seen_at, at(8));
    assert_eq!(new.metadata, first.device.metadata);
    let old = devices
        .iter()
        .find(|d| d.id == known.id)
        .expect("the known device");
    assert_eq!((old.first_seen_at, old.last_seen_at), (t0(), at(5)));
    let u = store
        .get_user(user.id)
        .await
        .expect("get_user")
        .expect("user");
    assert_eq!(u.password_failures.failures, 0, "the reset was written");
}

/// A unit that counts a failure and records its audit event, then commits
/// (as the engine does for a refused attempt), keeps both.
pub async fn refused_attempt_commits_failure_and_audit<S: Store + UnitOfWork>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let tx = store.begin().await.expect("begin failed");
    let r = tx.repositories();
    r.record_failure(user.id, LockScope::Mfa, &LockoutRule::default(), at(1))
        .await
        .expect("record_failure failed");
    r.append_audit(&fixtures::audit_event(
        user.id,
        AuditKind::MfaVerification,
        AuditOutcome::Failure,
        at(1),
    ))
    .await
    .expect("append_audit failed");
    tx.commit().await.expect("commit failed");
    let u = store
        .get_user(user.id)
        .await
        .expect("get_user")
        .expect("user");
    assert_eq!(u.mfa_failures.failures, 1);
    assert_eq!(audit_of(&*store, user.id).await, 1);
}

/// R55 across units: 16 concurrent units each try to spend one backup code
/// and commit; exactly one spends it.
pub async fn concurrent_units_spend_one_backup_code_once<S: Store + UnitOfWork>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let codes = fixtures::backup_codes(user.id, 1, t0());
    store
        .replace_backup_codes(user.id, &codes)
        .await
        .expect("replace_backup_codes failed");
    let hash = codes[0].code_hash;
    let results = super::race_all(16, |_| {
        let store = Arc::clone(&store);
        async move {
            retry_contention(|| async {
                let tx = store.begin().await?;
                let won = tx
                    .repositories()
                    .consume_backup_code(user.id, &hash, at(1))
                    .await?;
                tx.commit().await?;
                Ok(won)
            })
            .await
        }
    })
    .await;
    assert_one_winner(&results, "spend the code");
    assert_eq!(
        store
            .remaining_backup_codes(user.id)
            .await
            .expect("remaining"),
        0
    );
}

/// R56 across units: 32 concurrent units each count one failure and commit;
/// exactly the rule's threshold are counted, the rest see the lock.
pub async fn concurrent_units_stop_counting_failures_at_the_lock<S: Store + UnitOfWork>(
    store: Arc<S>,
) {
    let user = create_user(&*store, t0()).await;
    let rule = LockoutRule::default();
    let results = super::race_all(32, |_| {
        let store = Arc::clone(&store);
        async move {
            retry_contention(|| async {
                let tx = store.begin().await?;
                let outcome = tx
                    .repositories()
                    .record_failure(user.id, LockScope::Mfa, &rule, at(1))
                    .await?;
                tx.commit().await?;
                Ok(outcome)
            })
            .await
        }
    })
    .await;
    let counted = results
        .iter()
        .filter(|r| matches!(r, Ok(FailureOutcome::Counted { .. })))
        .count();
    assert_eq!(
        counted, rule.threshold as usize,
        "exactly the threshold of failures is counted across units: {results:?}"
    );
    let u = store
        .get_user(user.id)
        .await
        .expect("get_user")
        .expect("user");
    assert_eq!(u.mfa_failures.failures, rule.threshold);
}

/// An approval of `request` by `factor` at `at(5)`, user verified.
fn push_approval(factor: crate::model::FactorId) -> crate::model::PushResolution {
    crate::model::PushResolution {
        status: crate::model::PushStatus::Approved,
        factor_id: factor,
        user_verified: true,
        at: at(5),
    }
}

/// A unit reads the push request it created; a rolled-back unit leaves no
/// request it created and no answer it recorded; a committed unit keeps
/// both the answer and the consumption.
pub async fn push_request_writes_commit_and_roll_back_with_the_unit<S: Store + UnitOfWork>(
    store: Arc<S>,
) {
    let user = create_user(&*store, t0()).await;
    let phone = fixtures::create_factor(&*store, user.id, FactorKind::Push, t0()).await;

    let created = fixtures::push_request(user.id, t0());
    let tx = store.begin().await.expect("begin failed");
    tx.repositories()
        .create_push_request(&created)
        .await
        .expect("create_push_request failed");
    assert_eq!(
        tx.repositories()
            .get_push_request(created.id)
            .await
            .expect("get_push_request failed")
            .as_ref(),
        Some(&created),
        "a unit reads the request it created"
    );
    tx.rollback().await.expect("rollback failed");
    assert_eq!(
        store
            .get_push_request(created.id)
            .await
            .expect("get_push_request failed"),
        None,
        "a rolled-back unit leaves no request behind"
    );

    let request = fixtures::create_push_request(&*store, user.id, t0()).await;
    let tx = store.begin().await.expect("begin failed");
    assert!(
        tx.repositories()
            .resolve_push_request(request.id, &push_approval(phone.id))
            .await
            .expect("resolve_push_request failed")
    );
    tx.rollback().await.expect("rollback failed");
    assert_eq!(
        store
            .get_push_request(request.id)
            .await
            .expect("get_push_request failed")
            .as_ref(),
        Some(&request),
        "a rolled-back answer leaves the request pending"
    );

    let tx = store.begin().await.expect("begin failed");
    let r = tx.repositories();
    assert!(
        r.resolve_push_request(request.id, &push_approval(phone.id))
            .await
            .expect("resolve_push_request failed")
    );
    assert!(
        r.consume_push_request(request.id, at(6))
            .await
            .expect("consume_push_request failed"),
        "a unit consumes the approval it recorded"
    );
    tx.commit().await.expect("commit failed");
    let stored = store
        .get_push_request(request.id)
        .await
        .expect("get_push_request failed")
        .expect("the request exists");
    assert_eq!(stored.status, crate::model::PushStatus::Approved);
    assert_eq!(stored.answered_at, Some(at(5)));
    assert_eq!(
        stored.consumed_at,
        Some(at(6)),
        "the committed unit's writes stay"
    );
}

/// 16 concurrent units each read a pending push request and answer it:
/// exactly one answer is recorded.
pub async fn concurrent_units_resolve_a_push_request_once<S: Store + UnitOfWork>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let phone = fixtures::create_factor(&*store, user.id, FactorKind::Push, t0()).await;
    let request = fixtures::create_push_request(&*store, user.id, t0()).await;
    let results = super::race_all(16, |_| {
        let store = Arc::clone(&store);
        async move {
            retry_contention(|| async {
                let tx = store.begin().await?;
                let r = tx.repositories();
                let pending = r
                    .get_push_request(request.id)
                    .await?
                    .is_some_and(|p| p.is_pending(at(5)));
                let won = pending
                    && r.resolve_push_request(request.id, &push_approval(phone.id))
                        .await?;
                tx.commit().await?;
                Ok(won)
            })
            .await
        }
    })
    .await;
    assert_one_winner(&results, "answer the request");
}

/// 16 concurrent units each consume one approved push request: exactly
/// one completes the ticket.
pub async fn concurrent_units_consume_a_push_request_once<S: Store + UnitOfWork>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let phone = fixtures::create_factor(&*store, user.id, FactorKind::Push, t0()).await;
    let request = fixtures::create_push_request(&*store, user.id, t0()).await;
    assert!(
        store
            .resolve_push_request(request.id, &push_approval(phone.id))
            .await
            .expect("resolve_push_request failed")
    );
    let results = super::race_all(16, |_| {
        let store = Arc::clone(&store);
        async move {
            retry_contention(|| async {
                let tx = store.begin().await?;
                let won = tx
                    .repositories()
                    .consume_push_request(request.id, at(6))
                    .await?;
                tx.commit().await?;
                Ok(won)
            })
            .await
        }
    })
    .await;
    assert_one_winner(&results, "consume the approval");
    assert_eq!(
        store
            .get_push_request(request.id)
            .await
            .expect("get_push_request failed")
            .and_then(|p| p.consumed_at),
        Some(at(6))
    );
}

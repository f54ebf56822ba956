//! Users: identity, password history, contact, status, failure counters and
//! purging.

use super::fixtures::{self, Era, at, create_user, era, t0};
use crate::model::{
    Contact, FactorKind, FailureCounter, Lock, LockScope, LockoutRule, User, UserId, UserStatus,
};
use crate::store::*;
use chrono::{DateTime, TimeDelta, Utc};
use std::sync::Arc;

async fn load<S: Store>(store: &S, id: UserId) -> User {
    store
        .get_user(id)
        .await
        .expect("get_user failed")
        .expect("the user should exist")
}

async fn counter<S: Store>(store: &S, id: UserId, scope: LockScope) -> FailureCounter {
    *load(store, id).await.counter(scope)
}

/// Records one failure and checks it against [`LockoutRule::next`] applied
/// to `model`, the expected counter, which it then advances.
async fn fail_and_check<S: Store>(
    store: &S,
    id: UserId,
    scope: LockScope,
    rule: &LockoutRule,
    model: &mut FailureCounter,
    now: DateTime<Utc>,
) -> FailureOutcome {
    let got = store
        .record_failure(id, scope, rule, now)
        .await
        .expect("record_failure failed");
    let expected = match rule.next(*model, now) {
        Some(next) => {
            let started = rule.lock_after(next.failures).map(|lock| now + lock);
            *model = next;
            FailureOutcome::Counted {
                failures: next.failures,
                locked_until: started,
            }
        }
        None => FailureOutcome::Locked(model.lock_at(rule, now).expect("refused means locked")),
    };
    assert_eq!(
        got, expected,
        "record_failure({scope:?}) at {now} must follow LockoutRule::next"
    );
    assert_eq!(
        counter(store, id, scope).await,
        *model,
        "the stored {scope:?} counter must equal LockoutRule::next of its previous value"
    );
    got
}

/// A created user reads back unchanged by id and by identifier.
pub async fn user_round_trips_by_id_and_identifier<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    assert_eq!(
        load(&*store, user.id).await,
        user,
        "get_user must return the stored user"
    );
    let found = store
        .find_user_by_identifier(&user.identifier)
        .await
        .expect("find_user_by_identifier failed");
    assert_eq!(
        found,
        Some(user),
        "find_user_by_identifier must find the user"
    );
}

/// Lookups of an unknown id or identifier find nothing.
pub async fn unknown_user_is_not_found<S: Store>(store: Arc<S>) {
    create_user(&*store, t0()).await;
    let by_id = store
        .get_user(UserId::new())
        .await
        .expect("get_user failed");
    assert_eq!(by_id, None, "get_user of an unknown id must be None");
    let by_identifier = store
        .find_user_by_identifier(&fixtures::identifier("nobody"))
        .await
        .expect("find_user_by_identifier failed");
    assert_eq!(
        by_identifier, None,
        "an unknown identifier must find no user"
    );
}

/// Identifiers are unique among live users: a second user with the same
/// identifier is a `Conflict`, and the first user is unchanged.
pub async fn duplicate_identifier_is_a_conflict<S: Store>(store: Arc<S>) {
    let first = create_user(&*store, t0()).await;
    let mut second = fixtures::user(at(10));
    second.identifier.clone_from(&first.identifier);
    let result = store.create_user(&second).await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "a duplicate identifier must be StoreError::Conflict, got {result:?}"
    );
    let found = store
        .find_user_by_identifier(&first.identifier)
        .await
        .expect("find_user_by_identifier failed");
    assert_eq!(found, Some(first), "the first user must be unchanged");
    let second_by_id = store.get_user(second.id).await.expect("get_user failed");
    assert_eq!(second_by_id, None, "the refused user must not be stored");
}

/// A soft-deleted user is still readable by id (with `deleted_at` set) but
/// is no longer found by identifier, and cannot be deleted twice.
pub async fn soft_deleted_user_is_not_found_by_identifier<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let deleted = store
        .soft_delete_user(user.id, at(60))
        .await
        .expect("soft_delete_user failed");
    assert!(deleted, "soft_delete_user of a live user must return true");
    let again = store
        .soft_delete_user(user.id, at(120))
        .await
        .expect("soft_delete_user failed");
    assert!(
        !again,
        "soft_delete_user of a deleted user must return false"
    );
    assert_eq!(
        load(&*store, user.id).await.deleted_at,
        Some(at(60)),
        "get_user must still return a soft-deleted user, with deleted_at set"
    );
    let found = store
        .find_user_by_identifier(&user.identifier)
        .await
        .expect("find_user_by_identifier failed");
    assert_eq!(
        found, None,
        "a soft-deleted user must not be found by identifier"
    );
}

/// The identifier of a soft-deleted user can be taken by a new user.
pub async fn identifier_is_reusable_after_soft_delete<S: Store>(store: Arc<S>) {
    let old = create_user(&*store, t0()).await;
    assert!(
        store
            .soft_delete_user(old.id, at(60))
            .await
            .expect("soft_delete_user failed"),
        "soft_delete_user must return true"
    );
    let mut new = fixtures::user(at(120));
    new.identifier.clone_from(&old.identifier);
    store
        .create_user(&new)
        .await
        .expect("an identifier freed by soft delete must be reusable");
    let found = store
        .find_user_by_identifier(&old.identifier)
        .await
        .expect("find_user_by_identifier failed");
    assert_eq!(
        found,
        Some(new),
        "the identifier must now find the new user"
    );
}

/// Updates of an unknown or soft-deleted user change nothing and return
/// `false`; failures against them are `NotFound`.
pub async fn updates_of_unknown_or_deleted_user_fail<S: Store>(store: Arc<S>) {
    let deleted = create_user(&*store, t0()).await;
    assert!(
        store
            .soft_delete_user(deleted.id, at(1))
            .await
            .expect("soft_delete_user failed"),
        "soft_delete_user must return true"
    );
    let contact = Contact {
        email: Some("new@example.test".into()),
        ..Contact::default()
    };
    let rule = LockoutRule::default();
    for (label, id) in [("unknown", UserId::new()), ("soft-deleted", deleted.id)] {
        let now = at(10);
        let r = store
            .set_password(id, "h", 5, now)
            .await
            .expect("set_password failed");
        assert!(!r, "set_password of an {label} user must return false");
        let r = store
            .set_contact(id, &contact, now)
            .await
            .expect("set_contact failed");
        assert!(!r, "set_contact of an {label} user must return false");
        let r = store
            .set_status(id, UserStatus::Disabled, now)
            .await
            .expect("set_status failed");
        assert!(!r, "set_status of an {label} user must return false");
        let r = store
            .reset_failures(id, LockScope::Password)
            .await
            .expect("reset_failures failed");
        assert!(!r, "reset_failures of an {label} user must return false");
        let r = store
            .record_failure(id, LockScope::Mfa, &rule, now)
            .await
            .expect("record_failure failed");
        assert_eq!(
            r,
            FailureOutcome::NotFound,
            "record_failure of an {label} user"
        );
    }
    let after = load(&*store, deleted.id).await;
    assert_eq!(
        (
            after.password_hash,
            after.email,
            after.status,
            after.mfa_failures
        ),
        (
            deleted.password_hash,
            deleted.email,
            deleted.status,
            deleted.mfa_failures
        ),
        "a soft-deleted user must not be changed"
    );
}

/// `set_password` replaces the hash and pushes the previous one onto the
/// history, newest first.
pub async fn set_password_pushes_previous_hash_onto_history<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let original = user
        .password_hash
        .clone()
        .expect("the fixture has a password");
    assert!(
        store
            .set_password(user.id, "hash-1", 5, at(10))
            .await
            .expect("set_password failed"),
        "set_password of a live user must return true"
    );
    assert!(
        store
            .set_password(user.id, "hash-2", 5, at(20))
            .await
            .expect("set_password failed"),
        "set_password of a live user must return true"
    );
    let after = load(&*store, user.id).await;
    assert_eq!(
        after.password_hash.as_deref(),
        Some("hash-2"),
        "the new hash must be stored"
    );
    assert_eq!(after.updated_at, at(20), "set_password must set updated_at");
    let history = store
        .password_history(user.id, 10)
        .await
        .expect("password_history failed");
    assert_eq!(
        history,
        vec!["hash-1".to_owned(), original],
        "history must hold the previous hashes, newest first"
    );
}

/// The history keeps at most `history_limit` entries, and
/// `password_history` returns at most `limit`.
pub async fn password_history_is_trimmed_to_its_limit<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    for n in 1..=6 {
        let hash = format!("hash-{n}");
        assert!(
            store
                .set_password(user.id, &hash, 3, at(n))
                .await
                .expect("set_password failed"),
            "set_password must return true"
        );
    }
    let history = store
        .password_history(user.id, 10)
        .await
        .expect("password_history failed");
    assert_eq!(
        history,
        vec!["hash-5", "hash-4", "hash-3"],
        "history must keep only the newest `history_limit` previous hashes"
    );
    let two = store
        .password_history(user.id, 2)
        .await
        .expect("password_history failed");
    assert_eq!(
        two,
        vec!["hash-5", "hash-4"],
        "password_history must return at most `limit`"
    );
    let other = create_user(&*store, t0()).await;
    let none = store
        .password_history(other.id, 10)
        .await
        .expect("password_history failed");
    assert!(
        none.is_empty(),
        "a user who never changed password has no history"
    );
}

/// `set_contact` stores the new contact details.
pub async fn set_contact_updates_contact_details<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let contact = Contact {
        email: Some("changed@example.test".into()),
        phone: Some("+41791111111".into()),
        locale: Some("fr".into()),
    };
    assert!(
        store
            .set_contact(user.id, &contact, at(30))
            .await
            .expect("set_contact failed"),
        "set_contact of a live user must return true"
    );
    let after = load(&*store, user.id).await;
    assert_eq!(
        Contact {
            email: after.email,
            phone: after.phone,
            locale: after.locale,
        },
        contact,
        "set_contact must store every contact field"
    );
    assert_eq!(after.updated_at, at(30), "set_contact must set updated_at");
    assert_eq!(
        after.identifier, user.identifier,
        "set_contact must not touch the identifier"
    );
}

/// `mark_email_verified` records the proof only for the account's current
/// address, a live account; `set_contact` keeps it for the same address
/// and clears it for another; a user created verified reads back so.
pub async fn email_verification_is_conditional_and_cleared_by_a_new_address<S: Store>(
    store: Arc<S>,
) {
    let user = create_user(&*store, t0()).await;
    let email = user.email.clone().expect("the fixture has an email");
    assert_eq!(load(&*store, user.id).await.email_verified_at, None);
    assert!(
        !store
            .mark_email_verified(user.id, "other@example.test", at(1))
            .await
            .expect("mark"),
        "another address is not verified"
    );
    assert!(
        !store
            .mark_email_verified(UserId::new(), &email, at(1))
            .await
            .expect("mark"),
        "no such user"
    );
    assert!(
        store
            .mark_email_verified(user.id, &email, at(2))
            .await
            .expect("mark")
    );
    assert_eq!(load(&*store, user.id).await.email_verified_at, Some(at(2)));
    let same = Contact {
        email: Some(email.clone()),
        phone: None,
        locale: Some("fr".into()),
    };
    assert!(store.set_contact(user.id, &same, at(3)).await.expect("set"));
    assert_eq!(
        load(&*store, user.id).await.email_verified_at,
        Some(at(2)),
        "the same address stays verified"
    );
    let moved = Contact {
        email: Some("moved@example.test".into()),
        ..same
    };
    assert!(
        store
            .set_contact(user.id, &moved, at(4))
            .await
            .expect("set")
    );
    assert_eq!(
        load(&*store, user.id).await.email_verified_at,
        None,
        "a new address is not verified"
    );
    let mut imported = fixtures::user(t0());
    imported.email_verified_at = Some(at(5));
    store.create_user(&imported).await.expect("create verified");
    assert_eq!(
        load(&*store, imported.id).await.email_verified_at,
        Some(at(5))
    );
    assert!(
        store
            .soft_delete_user(imported.id, at(6))
            .await
            .expect("delete")
    );
    assert!(
        !store
            .mark_email_verified(imported.id, "someone@example.test", at(7))
            .await
            .expect("mark"),
        "a deleted user is not verified"
    );
}

/// `set_status` stores the new status.
pub async fn set_status_updates_status<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    assert!(
        store
            .set_status(user.id, UserStatus::Disabled, at(30))
            .await
            .expect("set_status failed"),
        "set_status of a live user must return true"
    );
    let after = load(&*store, user.id).await;
    assert_eq!(
        after.status,
        UserStatus::Disabled,
        "set_status must store the status"
    );
    assert_eq!(after.updated_at, at(30), "set_status must set updated_at");
    assert!(
        store
            .set_status(user.id, UserStatus::Active, at(40))
            .await
            .expect("set_status failed"),
        "set_status must return true"
    );
    assert_eq!(
        load(&*store, user.id).await.status,
        UserStatus::Active,
        "status back to active"
    );
}

/// R20/R22: with the default rule the 5th consecutive failure locks the
/// counter for 15 minutes; the first four lock nothing.
pub async fn fifth_failure_locks_for_fifteen_minutes<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let rule = LockoutRule::default();
    let mut model = FailureCounter::default();
    for n in 1..=4u32 {
        let outcome = fail_and_check(
            &*store,
            user.id,
            LockScope::Mfa,
            &rule,
            &mut model,
            at(n.into()),
        )
        .await;
        assert_eq!(
            outcome,
            FailureOutcome::Counted {
                failures: n,
                locked_until: None
            },
            "failure {n} must be counted without a lock"
        );
    }
    let outcome = fail_and_check(&*store, user.id, LockScope::Mfa, &rule, &mut model, at(5)).await;
    assert_eq!(
        outcome,
        FailureOutcome::Counted {
            failures: 5,
            locked_until: Some(at(5) + TimeDelta::minutes(15)),
        },
        "the 5th failure must lock the counter until now + 15 minutes"
    );
}

/// R25: while locked, a failure is refused with the lock and not counted;
/// once the lock ends failures count again, and the next threshold doubles
/// the lock.
pub async fn locked_counter_refuses_until_the_lock_ends<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let rule = LockoutRule::default();
    let scope = LockScope::Password;
    let mut model = FailureCounter::default();
    for n in 1..=5 {
        fail_and_check(&*store, user.id, scope, &rule, &mut model, at(n)).await;
    }
    let until = at(5) + TimeDelta::minutes(15);
    for probe in [at(6), at(600), until - TimeDelta::seconds(1)] {
        let outcome = fail_and_check(&*store, user.id, scope, &rule, &mut model, probe).await;
        assert_eq!(
            outcome,
            FailureOutcome::Locked(Lock::Until(until)),
            "a failure while locked must be refused with the lock"
        );
    }
    assert_eq!(
        counter(&*store, user.id, scope).await.failures,
        5,
        "refused failures must not count"
    );
    let outcome = fail_and_check(&*store, user.id, scope, &rule, &mut model, until).await;
    assert_eq!(
        outcome,
        FailureOutcome::Counted {
            failures: 6,
            locked_until: None
        },
        "at the end of the lock failures must count again (and start no lock)"
    );
    let mut now = until;
    for _ in 7..=10 {
        now += TimeDelta::seconds(1);
        fail_and_check(&*store, user.id, scope, &rule, &mut model, now).await;
    }
    assert_eq!(
        counter(&*store, user.id, scope).await.locked_until,
        Some(now + TimeDelta::minutes(30)),
        "the 10th failure must lock for twice the base lock"
    );
}

/// R21: password and MFA failures are counted and locked separately.
pub async fn password_and_mfa_counters_are_independent<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let rule = LockoutRule::default();
    let mut password = FailureCounter::default();
    let mut mfa = FailureCounter::default();
    for n in 1..=5 {
        fail_and_check(
            &*store,
            user.id,
            LockScope::Password,
            &rule,
            &mut password,
            at(n),
        )
        .await;
    }
    let outcome = fail_and_check(&*store, user.id, LockScope::Mfa, &rule, &mut mfa, at(6)).await;
    assert_eq!(
        outcome,
        FailureOutcome::Counted {
            failures: 1,
            locked_until: None
        },
        "a locked password counter must not lock or count against MFA"
    );
    assert!(
        store
            .reset_failures(user.id, LockScope::Mfa)
            .await
            .expect("reset_failures failed"),
        "reset_failures must return true"
    );
    assert_eq!(
        counter(&*store, user.id, LockScope::Password).await,
        password,
        "resetting MFA must not touch the password counter"
    );
    let other = create_user(&*store, t0()).await;
    assert_eq!(
        counter(&*store, other.id, LockScope::Password).await,
        FailureCounter::default(),
        "another user's counter must be untouched"
    );
}

/// R23: `reset_failures` clears the counter and its lock.
pub async fn reset_failures_clears_counter_and_lock<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let rule = LockoutRule::default();
    let mut model = FailureCounter::default();
    for n in 1..=5 {
        fail_and_check(&*store, user.id, LockScope::Mfa, &rule, &mut model, at(n)).await;
    }
    assert!(
        store
            .reset_failures(user.id, LockScope::Mfa)
            .await
            .expect("reset_failures failed"),
        "reset_failures of a live user must return true"
    );
    assert_eq!(
        counter(&*store, user.id, LockScope::Mfa).await,
        FailureCounter::default(),
        "reset_failures must clear failures and lock"
    );
    let outcome = store
        .record_failure(user.id, LockScope::Mfa, &rule, at(6))
        .await
        .expect("record_failure failed");
    assert_eq!(
        outcome,
        FailureOutcome::Counted {
            failures: 1,
            locked_until: None
        },
        "after a reset the lock is gone and counting starts at 1"
    );
}

/// R20: at the hard cap the counter is locked until a reset, however much
/// time passes.
pub async fn hard_cap_locks_until_reset<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let rule = LockoutRule {
        threshold: 2,
        base_lock: TimeDelta::minutes(1),
        max_lock: TimeDelta::minutes(4),
        hard_cap: 5,
    };
    let mut model = FailureCounter::default();
    let mut now = t0();
    let mut counted = 0;
    while counted < 5 {
        now += TimeDelta::seconds(1);
        match fail_and_check(&*store, user.id, LockScope::Mfa, &rule, &mut model, now).await {
            FailureOutcome::Counted { .. } => counted += 1,
            FailureOutcome::Locked(Lock::Until(until)) => now = until,
            other => panic!("unexpected outcome {other:?} before the hard cap"),
        }
    }
    let later = now + TimeDelta::days(365);
    let outcome = store
        .record_failure(user.id, LockScope::Mfa, &rule, later)
        .await
        .expect("record_failure failed");
    assert_eq!(
        outcome,
        FailureOutcome::Locked(Lock::UntilReset),
        "at the hard cap failures must be refused until a reset"
    );
    assert_eq!(
        counter(&*store, user.id, LockScope::Mfa).await.failures,
        5,
        "the cap is not passed"
    );
    assert!(
        store
            .reset_failures(user.id, LockScope::Mfa)
            .await
            .expect("reset_failures failed"),
        "reset_failures must return true"
    );
    let outcome = store
        .record_failure(user.id, LockScope::Mfa, &rule, later)
        .await
        .expect("record_failure failed");
    assert_eq!(
        outcome,
        FailureOutcome::Counted {
            failures: 1,
            locked_until: None
        },
        "a reset lifts the hard-cap lock"
    );
}

/// `purge_deleted_users` removes the users soft-deleted before the cutoff,
/// with what they own, and nobody else.
pub async fn purge_deleted_users_removes_only_users_deleted_before_cutoff<S: Store>(store: Arc<S>) {
    let base = era(Era::Users);
    let mut users = Vec::new();
    for _ in 0..3 {
        let user = create_user(&*store, base).await;
        let factor = fixtures::create_factor(&*store, user.id, FactorKind::Totp, base).await;
        store
            .replace_backup_codes(user.id, &fixtures::backup_codes(user.id, 3, base))
            .await
            .expect("replace_backup_codes failed");
        let device = fixtures::create_device(&*store, user.id, base).await;
        let session = fixtures::create_session(&*store, user.id, Some(device.id), base).await;
        let push = fixtures::create_push_request(&*store, user.id, base).await;
        users.push((user, factor, device, session, push));
    }
    let cutoff = base + TimeDelta::hours(1);
    let (old, recent, live) = (&users[0], &users[1], &users[2]);
    let d = store
        .soft_delete_user(old.0.id, base + TimeDelta::minutes(1))
        .await
        .expect("soft_delete_user failed");
    assert!(d, "soft_delete_user must return true");
    let d = store
        .soft_delete_user(recent.0.id, cutoff + TimeDelta::minutes(1))
        .await
        .expect("soft_delete_user failed");
    assert!(d, "soft_delete_user must return true");

    let purged = store
        .purge_deleted_users(cutoff)
        .await
        .expect("purge_deleted_users failed");
    assert_eq!(
        purged, 1,
        "only the user deleted before the cutoff must be purged"
    );

    let old_user = store.get_user(old.0.id).await.expect("get_user failed");
    assert_eq!(old_user, None, "the purged user must be gone");
    let now = base + TimeDelta::minutes(2);
    let factors = store
        .list_factors(old.0.id)
        .await
        .expect("list_factors failed");
    assert!(factors.is_empty(), "the purged user's factors must be gone");
    let codes = store
        .remaining_backup_codes(old.0.id)
        .await
        .expect("remaining_backup_codes failed");
    assert_eq!(codes, 0, "the purged user's backup codes must be gone");
    let devices = store
        .list_devices(old.0.id)
        .await
        .expect("list_devices failed");
    assert!(devices.is_empty(), "the purged user's devices must be gone");
    let sessions = store
        .list_sessions(old.0.id, now)
        .await
        .expect("list_sessions failed");
    assert!(
        sessions.is_empty(),
        "the purged user's sessions must be gone"
    );
    let push = store
        .get_push_request(old.4.id)
        .await
        .expect("get_push_request failed");
    assert_eq!(push, None, "the purged user's push requests must be gone");

    for (label, kept) in [("deleted after the cutoff", recent), ("live", live)] {
        assert!(
            store
                .get_user(kept.0.id)
                .await
                .expect("get_user failed")
                .is_some(),
            "a user {label} must be kept"
        );
        let factors = store
            .list_factors(kept.0.id)
            .await
            .expect("list_factors failed");
        assert_eq!(
            factors,
            vec![kept.1.clone()],
            "the factors of a user {label} must be kept"
        );
        let codes = store
            .remaining_backup_codes(kept.0.id)
            .await
            .expect("remaining_backup_codes failed");
        assert_eq!(codes, 3, "the backup codes of a user {label} must be kept");
        let devices = store
            .list_devices(kept.0.id)
            .await
            .expect("list_devices failed");
        assert_eq!(
            devices.len(),
            1,
            "the device of a user {label} must be kept"
        );
        assert_eq!(
            devices[0].id, kept.2.id,
            "the device of a user {label} must be kept"
        );
        let session = store
            .get_session(kept.3.id)
            .await
            .expect("get_session failed");
        assert_eq!(
            session,
            Some(kept.3.clone()),
            "the session of a user {label} must be kept"
        );
        let push = store
            .get_push_request(kept.4.id)
            .await
            .expect("get_push_request failed");
        assert_eq!(
            push,
            Some(kept.4.clone()),
            "the push requests of a user {label} must be kept"
        );
    }
}

/// The administrators' list of locked accounts: a live user with a lock in
/// force or a counter at its hard cap, in either scope, in id order and in
/// pages after a cursor; an expired lock, a count under the cap, and a
/// deleted user are not listed.
pub async fn locked_users_are_listed_by_either_counter<S: Store>(store: Arc<S>) {
    let now = at(100);
    let rule = LockoutRule::default();
    let counter = |failures, locked_until| FailureCounter {
        failures,
        locked_until,
    };
    let with = |password: FailureCounter, mfa: FailureCounter| {
        let mut user = fixtures::user(t0());
        user.password_failures = password;
        user.mfa_failures = mfa;
        user
    };
    let free = FailureCounter::default();
    let cases = [
        (
            with(counter(5, Some(now + TimeDelta::minutes(15))), free),
            true,
        ),
        (
            with(free, counter(6, Some(now + TimeDelta::seconds(1)))),
            true,
        ),
        (with(free, counter(rule.hard_cap, None)), true),
        (with(counter(rule.hard_cap, Some(at(1))), free), true),
        (with(counter(5, Some(now)), counter(3, Some(at(50)))), false),
        (with(counter(rule.hard_cap - 1, None), free), false),
        (with(free, free), false),
    ];
    let mut expected = Vec::new();
    for (user, locked) in &cases {
        store.create_user(user).await.expect("create_user failed");
        if *locked {
            expected.push(user.id);
        }
    }
    let mut deleted = with(counter(rule.hard_cap, None), free);
    deleted.identifier = format!("{}-deleted", deleted.identifier);
    store
        .create_user(&deleted)
        .await
        .expect("create_user failed");
    assert!(
        store
            .soft_delete_user(deleted.id, at(5))
            .await
            .expect("soft_delete_user failed")
    );
    expected.sort_unstable();
    let ours = |users: Vec<User>| -> Vec<UserId> {
        let ids: Vec<UserId> = users.iter().map(|u| u.id).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids ascend");
        ids.into_iter()
            .filter(|id| cases.iter().any(|(u, _)| u.id == *id) || *id == deleted.id)
            .collect()
    };
    let all = store
        .list_locked_users(now, &rule, &rule, None, 1000)
        .await
        .expect("list_locked_users failed");
    assert_eq!(ours(all), expected, "exactly the locked live users");
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_locked_users(now, &rule, &rule, after, 2)
            .await
            .expect("list_locked_users failed");
        assert!(page.len() <= 2, "at most `limit`");
        after = page.last().map(|u| u.id);
        let done = page.len() < 2;
        paged.extend(ours(page));
        if done {
            break;
        }
    }
    assert_eq!(paged, expected, "the same users, page by page");
    let lenient = LockoutRule {
        hard_cap: rule.hard_cap + 1,
        ..rule
    };
    let by_time_only = ours(
        store
            .list_locked_users(now, &lenient, &lenient, None, 1000)
            .await
            .expect("list_locked_users failed"),
    );
    assert_eq!(
        by_time_only.len(),
        2,
        "with a higher cap only the locks in force are listed"
    );
}

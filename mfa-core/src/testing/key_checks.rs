//! Key checks: stored once per subject, read back whole, never overwritten.

use super::fixtures::{self, at, t0};
use crate::model::{KeyCheck, KeyCheckSubject};
use crate::store::*;
use std::sync::Arc;

async fn stored<S: Store>(store: &S, subject: KeyCheckSubject) -> Option<KeyCheck> {
    store
        .key_checks()
        .await
        .expect("key_checks failed")
        .into_iter()
        .find(|c| c.subject == subject)
}

/// A key check of each kind is stored and reads back unchanged (the AEAD
/// key id above 2^31 included).
pub async fn key_check_round_trips<S: Store>(store: Arc<S>) {
    for subject in [
        KeyCheckSubject::AeadKey(fixtures::high_key_id()),
        KeyCheckSubject::RootSecret(0),
    ] {
        let check = fixtures::key_check(subject, t0());
        assert!(
            store
                .add_key_check(&check)
                .await
                .expect("add_key_check failed"),
            "the first check of {subject} must be stored"
        );
        assert_eq!(
            stored(&*store, subject).await,
            Some(check),
            "the check of {subject} reads back unchanged"
        );
    }
}

/// A second check for the same subject is refused and leaves the first
/// one as it was.
pub async fn second_key_check_of_a_subject_does_not_overwrite<S: Store>(store: Arc<S>) {
    let subject = KeyCheckSubject::AeadKey(fixtures::high_key_id());
    let first = fixtures::key_check(subject, t0());
    assert!(
        store
            .add_key_check(&first)
            .await
            .expect("add_key_check failed")
    );
    let second = fixtures::key_check(subject, at(60));
    assert!(
        !store
            .add_key_check(&second)
            .await
            .expect("add_key_check failed"),
        "a second check of one subject must not be stored"
    );
    assert_eq!(
        stored(&*store, subject).await,
        Some(first),
        "the first check stays"
    );
}

/// Checks of different AEAD keys are separate rows.
pub async fn key_checks_of_different_keys_are_kept_apart<S: Store>(store: Arc<S>) {
    let a = fixtures::key_check(KeyCheckSubject::AeadKey(fixtures::high_key_id()), t0());
    let b = fixtures::key_check(KeyCheckSubject::AeadKey(a.subject.key_id() ^ 1), t0());
    for check in [&a, &b] {
        assert!(
            store
                .add_key_check(check)
                .await
                .expect("add_key_check failed"),
            "the first check of {} must be stored",
            check.subject
        );
    }
    assert_eq!(stored(&*store, a.subject).await, Some(a));
    assert_eq!(stored(&*store, b.subject).await, Some(b));
}

/// Removing a check removes that one only, once; the subject can then be
/// checked again.
pub async fn removed_key_check_is_gone_and_can_be_written_again<S: Store>(store: Arc<S>) {
    let kept = fixtures::key_check(KeyCheckSubject::AeadKey(fixtures::high_key_id()), t0());
    let removed = fixtures::key_check(KeyCheckSubject::AeadKey(kept.subject.key_id() ^ 1), t0());
    for check in [&kept, &removed] {
        store
            .add_key_check(check)
            .await
            .expect("add_key_check failed");
    }
    assert!(
        store
            .remove_key_check(removed.subject)
            .await
            .expect("remove_key_check failed"),
        "an existing check is removed"
    );
    assert!(
        !store
            .remove_key_check(removed.subject)
            .await
            .expect("remove_key_check failed"),
        "a removed check is not removed twice"
    );
    assert_eq!(stored(&*store, removed.subject).await, None);
    assert_eq!(stored(&*store, kept.subject).await, Some(kept));
    let again = fixtures::key_check(removed.subject, at(60));
    assert!(
        store
            .add_key_check(&again)
            .await
            .expect("add_key_check failed"),
        "a removed subject takes a new check"
    );
    assert_eq!(stored(&*store, removed.subject).await, Some(again));
}

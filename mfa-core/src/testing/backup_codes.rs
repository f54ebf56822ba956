//! Backup codes: single use, replacement and deletion.

use super::fixtures::{self, at, backup_codes, create_user, t0};
use crate::model::{BackupCodeRecord, User, UserId};
use crate::store::*;
use std::sync::Arc;

async fn remaining<S: Store>(store: &S, user: UserId) -> u32 {
    store
        .remaining_backup_codes(user)
        .await
        .expect("remaining_backup_codes failed")
}

/// A new user with `n` new backup codes, and the codes.
async fn user_with_codes<S: Store>(store: &S, n: usize) -> (User, Vec<BackupCodeRecord>) {
    let user = create_user(store, t0()).await;
    let codes = backup_codes(user.id, n, t0());
    store
        .replace_backup_codes(user.id, &codes)
        .await
        .expect("replace_backup_codes failed");
    (user, codes)
}

/// R17 through `spend_backup_code`: a code is spent once, by any of the
/// digests given (one per root secret), and the answer counts the unused
/// codes left; unknown digests spend nothing.
pub async fn backup_code_is_spent_once_with_the_codes_left<S: Store>(store: Arc<S>) {
    let (user, codes) = user_with_codes(&*store, 3).await;
    let spend = |hashes: Vec<crate::model::CodeHash>| {
        let store = Arc::clone(&store);
        async move {
            store
                .spend_backup_code(user.id, &hashes, at(10))
                .await
                .expect("spend_backup_code failed")
        }
    };
    let unknown = fixtures::code_hash();
    assert_eq!(spend(vec![]).await, None, "no digest spends nothing");
    assert_eq!(
        spend(vec![unknown]).await,
        None,
        "an unknown digest spends nothing"
    );
    assert_eq!(
        spend(vec![unknown, codes[1].code_hash]).await,
        Some(2),
        "a code found by its second digest (an older root's) is spent"
    );
    assert_eq!(
        spend(vec![codes[1].code_hash]).await,
        None,
        "a spent code is not spent again"
    );
    assert_eq!(remaining(&*store, user.id).await, 2);
    assert_eq!(spend(vec![codes[0].code_hash]).await, Some(1));
    assert_eq!(spend(vec![codes[2].code_hash]).await, Some(0));
    assert_eq!(remaining(&*store, user.id).await, 0);
}

/// R17: each backup code verifies exactly once, and using one leaves the
/// others usable.
pub async fn backup_code_is_consumed_once<S: Store>(store: Arc<S>) {
    let (user, codes) = user_with_codes(&*store, 3).await;
    let first = &codes[0].code_hash;
    assert!(
        store
            .consume_backup_code(user.id, first, at(10))
            .await
            .expect("consume_backup_code failed"),
        "an unused code must be consumed"
    );
    assert!(
        !store
            .consume_backup_code(user.id, first, at(20))
            .await
            .expect("consume_backup_code failed"),
        "a used code must not be consumed again"
    );
    for code in &codes[1..] {
        assert!(
            store
                .consume_backup_code(user.id, &code.code_hash, at(30))
                .await
                .expect("consume_backup_code failed"),
            "the other codes must still be usable"
        );
    }
}

/// `remaining_backup_codes` counts unused codes, one fewer per use.
pub async fn remaining_backup_codes_decreases_with_each_use<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    assert_eq!(
        remaining(&*store, user.id).await,
        0,
        "a user without codes has none remaining"
    );
    let codes = backup_codes(user.id, 10, t0());
    store
        .replace_backup_codes(user.id, &codes)
        .await
        .expect("replace_backup_codes failed");
    assert_eq!(
        remaining(&*store, user.id).await,
        10,
        "every new code is unused"
    );
    for (used, code) in codes.iter().enumerate() {
        assert!(
            store
                .consume_backup_code(user.id, &code.code_hash, at(used as i64))
                .await
                .expect("consume_backup_code failed"),
            "each code must be consumed once"
        );
        assert_eq!(
            remaining(&*store, user.id).await,
            9 - used as u32,
            "remaining after {} uses",
            used + 1
        );
    }
    let again = store
        .consume_backup_code(user.id, &codes[0].code_hash, at(100))
        .await
        .expect("consume_backup_code failed");
    assert!(!again, "a used code stays used");
    assert_eq!(
        remaining(&*store, user.id).await,
        0,
        "a refused use changes no count"
    );
}

/// A code is consumed only for its own user, and an
/// unknown digest is never consumed.
pub async fn backup_code_is_bound_to_its_user<S: Store>(store: Arc<S>) {
    let owner = create_user(&*store, t0()).await;
    let other = create_user(&*store, t0()).await;
    let codes = backup_codes(owner.id, 2, t0());
    store
        .replace_backup_codes(owner.id, &codes)
        .await
        .expect("replace_backup_codes failed");
    store
        .replace_backup_codes(other.id, &backup_codes(other.id, 2, t0()))
        .await
        .expect("replace_backup_codes failed");
    let hash = &codes[0].code_hash;
    assert!(
        !store
            .consume_backup_code(other.id, hash, at(10))
            .await
            .expect("consume_backup_code failed"),
        "another user's code must not be consumed"
    );
    assert!(
        !store
            .consume_backup_code(owner.id, &fixtures::code_hash(), at(10))
            .await
            .expect("consume_backup_code failed"),
        "an unknown digest must not be consumed"
    );
    assert_eq!(
        remaining(&*store, owner.id).await,
        2,
        "refused uses consume nothing"
    );
    assert_eq!(
        remaining(&*store, other.id).await,
        2,
        "refused uses consume nothing"
    );
    assert!(
        store
            .consume_backup_code(owner.id, hash, at(20))
            .await
            .expect("consume_backup_code failed"),
        "the owner can still use the code"
    );
}

/// R19: replacing the codes invalidates every previous code, used or not,
/// and only the new ones count.
pub async fn replacing_backup_codes_invalidates_old_codes<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let old = backup_codes(user.id, 3, t0());
    store
        .replace_backup_codes(user.id, &old)
        .await
        .expect("replace_backup_codes failed");
    assert!(
        store
            .consume_backup_code(user.id, &old[0].code_hash, at(10))
            .await
            .expect("consume_backup_code failed"),
        "an old code is usable before the replacement"
    );
    let new = backup_codes(user.id, 4, at(20));
    store
        .replace_backup_codes(user.id, &new)
        .await
        .expect("replace_backup_codes failed");
    assert_eq!(
        remaining(&*store, user.id).await,
        4,
        "only the new codes remain"
    );
    for code in &old {
        assert!(
            !store
                .consume_backup_code(user.id, &code.code_hash, at(30))
                .await
                .expect("consume_backup_code failed"),
            "an old code must not be consumed after a replacement"
        );
    }
    for code in &new {
        assert!(
            store
                .consume_backup_code(user.id, &code.code_hash, at(40))
                .await
                .expect("consume_backup_code failed"),
            "every new code must be usable"
        );
    }
}

/// Replacing one user's codes leaves every other user's codes alone.
pub async fn replacing_backup_codes_affects_only_their_user<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let other = create_user(&*store, t0()).await;
    let others = backup_codes(other.id, 2, t0());
    store
        .replace_backup_codes(other.id, &others)
        .await
        .expect("replace_backup_codes failed");
    store
        .replace_backup_codes(user.id, &backup_codes(user.id, 5, t0()))
        .await
        .expect("replace_backup_codes failed");
    store
        .replace_backup_codes(user.id, &backup_codes(user.id, 1, t0()))
        .await
        .expect("replace_backup_codes failed");
    assert_eq!(
        remaining(&*store, other.id).await,
        2,
        "the other user's codes must be kept"
    );
    assert!(
        store
            .consume_backup_code(other.id, &others[1].code_hash, at(10))
            .await
            .expect("consume_backup_code failed"),
        "the other user's codes must still be usable"
    );
    store
        .replace_backup_codes(user.id, &[])
        .await
        .expect("replace_backup_codes failed");
    assert_eq!(
        remaining(&*store, user.id).await,
        0,
        "replacing with nothing leaves no code"
    );
}

/// `delete_backup_codes` deletes every code of the user, used or not, and
/// returns how many.
pub async fn delete_backup_codes_removes_every_code<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let other = create_user(&*store, t0()).await;
    let codes = backup_codes(user.id, 3, t0());
    store
        .replace_backup_codes(user.id, &codes)
        .await
        .expect("replace_backup_codes failed");
    store
        .replace_backup_codes(other.id, &backup_codes(other.id, 2, t0()))
        .await
        .expect("replace_backup_codes failed");
    assert!(
        store
            .consume_backup_code(user.id, &codes[0].code_hash, at(10))
            .await
            .expect("consume_backup_code failed"),
        "consume must succeed"
    );
    let deleted = store
        .delete_backup_codes(user.id)
        .await
        .expect("delete_backup_codes failed");
    assert_eq!(
        deleted, 3,
        "delete_backup_codes must count used and unused codes"
    );
    assert_eq!(remaining(&*store, user.id).await, 0, "no code may remain");
    assert!(
        !store
            .consume_backup_code(user.id, &codes[1].code_hash, at(20))
            .await
            .expect("consume_backup_code failed"),
        "a deleted code must not be consumed"
    );
    assert_eq!(
        remaining(&*store, other.id).await,
        2,
        "another user's codes are untouched"
    );
    let again = store
        .delete_backup_codes(user.id)
        .await
        .expect("delete_backup_codes failed");
    assert_eq!(again, 0, "nothing is left to delete");
}

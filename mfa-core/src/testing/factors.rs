//! Factors: life cycle, the TOTP replay guard, MFA settings and purging.

use super::fixtures::{self, Era, at, create_factor, create_user, era, t0};
use crate::model::{Factor, FactorId, FactorKind, FactorStatus, MfaSettings, SealedSecret, UserId};
use crate::store::*;
use chrono::TimeDelta;
use std::sync::Arc;

async fn load<S: Store>(store: &S, id: FactorId) -> Factor {
    store
        .get_factor(id)
        .await
        .expect("get_factor failed")
        .expect("the factor should exist")
}

async fn listed_ids<S: Store>(store: &S, user: UserId) -> Vec<FactorId> {
    store
        .list_factors(user)
        .await
        .expect("list_factors failed")
        .into_iter()
        .map(|f| f.id)
        .collect()
}

/// A created factor reads back unchanged; an unknown id finds nothing.
pub async fn factor_round_trips<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    for kind in FactorKind::ALL {
        let factor = create_factor(&*store, user.id, kind, t0()).await;
        assert_eq!(
            load(&*store, factor.id).await,
            factor,
            "get_factor must return the stored {kind:?} factor"
        );
    }
    let unknown = store
        .get_factor(FactorId::new())
        .await
        .expect("get_factor failed");
    assert_eq!(unknown, None, "get_factor of an unknown id must be None");
}

/// `list_factors` returns a user's live factors, oldest first, and no one
/// else's.
pub async fn list_factors_is_oldest_first_and_excludes_deleted<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let other = create_user(&*store, t0()).await;
    // Inserted out of creation order, so insertion order cannot pass for age.
    let newest = create_factor(&*store, user.id, FactorKind::Email, at(30)).await;
    let oldest = create_factor(&*store, user.id, FactorKind::Totp, at(10)).await;
    let deleted = create_factor(&*store, user.id, FactorKind::Sms, at(15)).await;
    let middle = create_factor(&*store, user.id, FactorKind::BackupCodes, at(20)).await;
    create_factor(&*store, other.id, FactorKind::Totp, at(5)).await;
    assert!(
        store
            .soft_delete_factor(deleted.id, at(40))
            .await
            .expect("soft_delete_factor failed"),
        "soft_delete_factor must return true"
    );
    assert_eq!(
        listed_ids(&*store, user.id).await,
        vec![oldest.id, middle.id, newest.id],
        "list_factors must return live factors of the user, oldest first"
    );
    let listed = store
        .list_factors(user.id)
        .await
        .expect("list_factors failed");
    assert_eq!(listed[0], oldest, "listed factors must be complete");
}

/// Activation moves a pending factor to `Active` exactly once, setting
/// `confirmed_at`.
pub async fn factor_activates_only_from_pending<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let factor = create_factor(&*store, user.id, FactorKind::Totp, t0()).await;
    assert!(
        store
            .activate_factor(factor.id, at(60))
            .await
            .expect("activate_factor failed"),
        "activating a pending factor must return true"
    );
    let active = load(&*store, factor.id).await;
    assert_eq!(
        active.status,
        FactorStatus::Active,
        "the factor must be active"
    );
    assert_eq!(
        active.confirmed_at,
        Some(at(60)),
        "activation must set confirmed_at"
    );
    assert!(
        !store
            .activate_factor(factor.id, at(70))
            .await
            .expect("activate_factor failed"),
        "activating an active factor must return false"
    );
    assert_eq!(
        load(&*store, factor.id).await.confirmed_at,
        Some(at(60)),
        "a refused activation changes nothing"
    );
}

/// Disabled, soft-deleted and unknown factors are not activated.
pub async fn activation_refuses_disabled_deleted_and_unknown_factors<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let disabled = create_factor(&*store, user.id, FactorKind::Totp, t0()).await;
    assert!(
        store
            .set_factor_status(disabled.id, FactorStatus::Disabled)
            .await
            .expect("set_factor_status failed"),
        "set_factor_status must return true"
    );
    let deleted = create_factor(&*store, user.id, FactorKind::Email, t0()).await;
    assert!(
        store
            .soft_delete_factor(deleted.id, at(1))
            .await
            .expect("soft_delete_factor failed"),
        "soft_delete_factor must return true"
    );
    for (label, id) in [
        ("disabled", disabled.id),
        ("soft-deleted", deleted.id),
        ("unknown", FactorId::new()),
    ] {
        let activated = store
            .activate_factor(id, at(10))
            .await
            .expect("activate_factor failed");
        assert!(!activated, "activating a {label} factor must return false");
    }
    assert_eq!(
        load(&*store, disabled.id).await.status,
        FactorStatus::Disabled,
        "still disabled"
    );
    assert_eq!(
        load(&*store, deleted.id).await.status,
        FactorStatus::Pending,
        "still pending"
    );
}

/// `set_factor_status` changes a live factor and refuses a deleted one.
pub async fn set_factor_status_changes_only_live_factors<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let factor = create_factor(&*store, user.id, FactorKind::Sms, t0()).await;
    for status in [
        FactorStatus::Active,
        FactorStatus::Disabled,
        FactorStatus::Active,
    ] {
        assert!(
            store
                .set_factor_status(factor.id, status)
                .await
                .expect("set_factor_status failed"),
            "set_factor_status of a live factor must return true"
        );
        assert_eq!(
            load(&*store, factor.id).await.status,
            status,
            "the status must be stored"
        );
    }
    assert!(
        store
            .soft_delete_factor(factor.id, at(5))
            .await
            .expect("soft_delete_factor failed"),
        "soft_delete_factor must return true"
    );
    assert!(
        !store
            .set_factor_status(factor.id, FactorStatus::Disabled)
            .await
            .expect("set_factor_status failed"),
        "set_factor_status of a deleted factor must return false"
    );
    assert!(
        !store
            .set_factor_status(FactorId::new(), FactorStatus::Disabled)
            .await
            .expect("set_factor_status failed"),
        "set_factor_status of an unknown factor must return false"
    );
    assert_eq!(
        load(&*store, factor.id).await.status,
        FactorStatus::Active,
        "a deleted factor is not changed"
    );
}

/// `set_factor_secret` replaces the sealed secret of a live factor only.
pub async fn set_factor_secret_replaces_the_sealed_secret<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let factor = create_factor(&*store, user.id, FactorKind::Totp, t0()).await;
    let rotated = SealedSecret::from_bytes(vec![0xA5; 48]);
    assert!(
        store
            .set_factor_secret(factor.id, &rotated)
            .await
            .expect("set_factor_secret failed"),
        "set_factor_secret of a live factor must return true"
    );
    assert_eq!(
        load(&*store, factor.id).await.secret,
        Some(rotated.clone()),
        "the new secret must be stored"
    );
    assert!(
        store
            .soft_delete_factor(factor.id, at(5))
            .await
            .expect("soft_delete_factor failed"),
        "soft_delete_factor must return true"
    );
    let other = SealedSecret::from_bytes(vec![0x5A; 48]);
    assert!(
        !store
            .set_factor_secret(factor.id, &other)
            .await
            .expect("set_factor_secret failed"),
        "set_factor_secret of a deleted factor must return false"
    );
    assert_eq!(
        load(&*store, factor.id).await.secret,
        Some(rotated),
        "a deleted factor keeps its secret"
    );
}

/// Every page of [`FactorRepository::list_sealed_factors`] after `after`,
/// `limit` rows each, until a short page; checks each page's length and
/// that ids strictly ascend across pages.
async fn scan_sealed<S: Store>(store: &S, limit: u32) -> Vec<Factor> {
    let mut all: Vec<Factor> = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_sealed_factors(after, limit)
            .await
            .expect("list_sealed_factors failed");
        assert!(
            page.len() <= limit as usize,
            "a page holds at most `limit` factors"
        );
        for f in &page {
            assert!(f.secret.is_some(), "only factors with a secret are listed");
            if let Some(last) = all.last() {
                assert!(last.id < f.id, "ids ascend across pages, none twice");
            }
        }
        let full = page.len() == limit as usize;
        after = page.last().map(|f| f.id);
        all.extend(page);
        if !full {
            return all;
        }
    }
}

/// The key-rotation scan lists every factor with a sealed secret, live or
/// soft-deleted, in ascending id order and in pages of at most `limit`,
/// each page starting after the given id; factors without a secret are
/// left out.
pub async fn sealed_factors_are_listed_in_id_order_with_deleted_ones<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let mut sealed = Vec::new();
    for kind in [
        FactorKind::Totp,
        FactorKind::Webauthn,
        FactorKind::Push,
        FactorKind::Totp,
    ] {
        sealed.push(create_factor(&*store, user.id, kind, t0()).await.id);
    }
    let email = create_factor(&*store, user.id, FactorKind::Email, t0()).await;
    let sms = create_factor(&*store, user.id, FactorKind::Sms, t0()).await;
    assert!(
        store
            .soft_delete_factor(sealed[1], at(5))
            .await
            .expect("soft_delete_factor failed"),
        "delete"
    );
    sealed.sort_unstable();
    for limit in [1, 2, 1000] {
        let ours: Vec<FactorId> = scan_sealed(&*store, limit)
            .await
            .into_iter()
            .filter(|f| f.user_id == user.id)
            .map(|f| f.id)
            .collect();
        assert_eq!(
            ours, sealed,
            "pages of {limit}: every sealed factor, the deleted one too, in id order"
        );
        assert!(!ours.contains(&email.id) && !ours.contains(&sms.id));
    }
    let after_last = store
        .list_sealed_factors(Some(sealed[3]), 1000)
        .await
        .expect("list_sealed_factors failed");
    assert!(
        after_last.iter().all(|f| f.id > sealed[3]),
        "a page starts after its cursor"
    );
    let first = store
        .list_sealed_factors(Some(sealed[0]), 1)
        .await
        .expect("list_sealed_factors failed");
    assert_eq!(
        first.len(),
        1,
        "a page holds `limit` factors when there are more"
    );
    assert!(first[0].id > sealed[0] && first[0].id <= sealed[1]);
    assert_eq!(
        store
            .list_sealed_factors(None, 0)
            .await
            .expect("list_sealed_factors failed"),
        Vec::new(),
        "a page of 0"
    );
}

/// `reseal_factor_secret` is a compare-and-set: it writes only over the
/// expected blob, on a live or soft-deleted factor, and never over a
/// concurrent step's newer write.
pub async fn reseal_factor_secret_replaces_only_the_expected_blob<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let factor = create_factor(&*store, user.id, FactorKind::Webauthn, t0()).await;
    let old = factor.secret.clone().expect("a sealed factor");
    let resealed = SealedSecret::from_bytes(vec![0xA5; 64]);
    let stranger = SealedSecret::from_bytes(vec![0x5A; 64]);
    let reseal = |expected: SealedSecret, new: SealedSecret, id: FactorId| {
        let store = Arc::clone(&store);
        async move {
            store
                .reseal_factor_secret(id, &expected, &new)
                .await
                .expect("reseal_factor_secret failed")
        }
    };
    assert!(
        !reseal(stranger.clone(), resealed.clone(), factor.id).await,
        "a blob other than the stored one is not replaced"
    );
    assert_eq!(load(&*store, factor.id).await.secret, Some(old.clone()));
    assert!(
        reseal(old.clone(), resealed.clone(), factor.id).await,
        "the stored blob is replaced"
    );
    assert_eq!(
        load(&*store, factor.id).await.secret,
        Some(resealed.clone())
    );
    assert!(
        !reseal(old.clone(), stranger.clone(), factor.id).await,
        "a second reseal from the old blob loses"
    );
    assert_eq!(
        load(&*store, factor.id).await.secret,
        Some(resealed.clone())
    );
    assert!(
        store
            .soft_delete_factor(factor.id, at(5))
            .await
            .expect("soft_delete_factor failed"),
        "delete"
    );
    assert!(
        reseal(resealed, stranger.clone(), factor.id).await,
        "a soft-deleted factor is resealed too"
    );
    let deleted = load(&*store, factor.id).await;
    assert_eq!(deleted.secret, Some(stranger.clone()));
    assert!(deleted.deleted_at.is_some(), "and stays deleted");
    assert!(
        !reseal(stranger, old, FactorId::new()).await,
        "an unknown factor"
    );
}

/// A live factor's label is set, set again to the same value, and
/// cleared (each answered `true`); a deleted or unknown factor's is not.
pub async fn set_factor_label_renames_only_live_factors<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let factor = create_factor(&*store, user.id, FactorKind::Webauthn, t0()).await;
    for label in [Some("work laptop"), Some("work laptop"), None] {
        assert!(
            store
                .set_factor_label(factor.id, label)
                .await
                .expect("set_factor_label failed"),
            "set_factor_label({label:?}) of a live factor must return true"
        );
        assert_eq!(load(&*store, factor.id).await.label.as_deref(), label);
    }
    assert!(
        !store
            .set_factor_label(FactorId::new(), Some("x"))
            .await
            .expect("set_factor_label failed"),
        "an unknown factor is not renamed"
    );
    store
        .soft_delete_factor(factor.id, at(5))
        .await
        .expect("soft_delete_factor failed");
    assert!(
        !store
            .set_factor_label(factor.id, Some("gone"))
            .await
            .expect("set_factor_label failed"),
        "a deleted factor is not renamed"
    );
    assert_eq!(load(&*store, factor.id).await.label, None);
}

/// R4: a TOTP step is accepted once; the first step is accepted even when
/// it is 0.
pub async fn totp_step_is_accepted_once<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let factor = fixtures::create_active_totp(&*store, user.id, t0()).await;
    assert!(
        store
            .advance_totp_step(factor.id, 0, at(1))
            .await
            .expect("advance_totp_step failed"),
        "the first step must be accepted, even step 0"
    );
    assert!(
        !store
            .advance_totp_step(factor.id, 0, at(2))
            .await
            .expect("advance_totp_step failed"),
        "the same step must be refused the second time"
    );
    assert_eq!(
        load(&*store, factor.id).await.last_totp_step,
        Some(0),
        "last_totp_step must be recorded"
    );
}

/// R4: only a step greater than the last accepted one is accepted.
pub async fn totp_step_must_increase<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let factor = fixtures::create_active_totp(&*store, user.id, t0()).await;
    let step = 63_333_333;
    let cases = [
        (step, true, "the first step"),
        (step, false, "the same step again"),
        (step - 1, false, "a lower step"),
        (step + 1, true, "a higher step"),
        (step, false, "a step lower than the last accepted"),
        (step + 5, true, "a step several ahead"),
        (step + 3, false, "a step between the accepted ones"),
    ];
    for (n, (candidate, expected, label)) in cases.into_iter().enumerate() {
        let now = at(n as i64);
        let got = store
            .advance_totp_step(factor.id, candidate, now)
            .await
            .expect("advance_totp_step failed");
        assert_eq!(got, expected, "advance_totp_step for {label} ({candidate})");
    }
    assert_eq!(
        load(&*store, factor.id).await.last_totp_step,
        Some(step + 5),
        "last_totp_step is the highest accepted"
    );
    let other = fixtures::create_active_totp(&*store, user.id, t0()).await;
    assert!(
        store
            .advance_totp_step(other.id, step, at(10))
            .await
            .expect("advance_totp_step failed"),
        "each factor has its own replay guard"
    );
}

/// `touch_factor` records the time of the last successful use.
pub async fn touch_factor_records_last_use<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let factor = fixtures::create_active_totp(&*store, user.id, t0()).await;
    store
        .touch_factor(factor.id, at(90))
        .await
        .expect("touch_factor failed");
    assert_eq!(
        load(&*store, factor.id).await.last_used_at,
        Some(at(90)),
        "touch_factor must set last_used_at"
    );
    store
        .touch_factor(factor.id, at(120))
        .await
        .expect("touch_factor failed");
    assert_eq!(
        load(&*store, factor.id).await.last_used_at,
        Some(at(120)),
        "touch_factor must move last_used_at"
    );
}

/// A factor is soft-deleted once: `get_factor` still shows it with
/// `deleted_at`, `list_factors` does not.
pub async fn soft_deleted_factor_is_kept_but_not_listed<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let factor = fixtures::create_active_totp(&*store, user.id, t0()).await;
    assert!(
        store
            .soft_delete_factor(factor.id, at(60))
            .await
            .expect("soft_delete_factor failed"),
        "soft_delete_factor of a live factor must return true"
    );
    assert!(
        !store
            .soft_delete_factor(factor.id, at(70))
            .await
            .expect("soft_delete_factor failed"),
        "soft_delete_factor of a deleted factor must return false"
    );
    assert!(
        !store
            .soft_delete_factor(FactorId::new(), at(70))
            .await
            .expect("soft_delete_factor failed"),
        "soft_delete_factor of an unknown factor must return false"
    );
    let deleted = load(&*store, factor.id).await;
    assert_eq!(
        deleted.deleted_at,
        Some(at(60)),
        "deleted_at must be the first deletion time"
    );
    assert!(
        listed_ids(&*store, user.id).await.is_empty(),
        "a deleted factor must not be listed"
    );
}

/// `soft_delete_factors_of` deletes every live factor of one user and counts
/// only those.
pub async fn soft_delete_factors_of_user_counts_live_factors<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let other = create_user(&*store, t0()).await;
    let a = create_factor(&*store, user.id, FactorKind::Totp, t0()).await;
    let b = create_factor(&*store, user.id, FactorKind::Email, at(1)).await;
    let gone = create_factor(&*store, user.id, FactorKind::Sms, at(2)).await;
    let kept = create_factor(&*store, other.id, FactorKind::Totp, at(3)).await;
    assert!(
        store
            .soft_delete_factor(gone.id, at(10))
            .await
            .expect("soft_delete_factor failed"),
        "soft_delete_factor must return true"
    );
    let n = store
        .soft_delete_factors_of(user.id, at(20))
        .await
        .expect("soft_delete_factors_of failed");
    assert_eq!(
        n, 2,
        "soft_delete_factors_of must count the live factors it deleted"
    );
    assert!(
        listed_ids(&*store, user.id).await.is_empty(),
        "no factor of the user may remain listed"
    );
    for id in [a.id, b.id] {
        assert_eq!(
            load(&*store, id).await.deleted_at,
            Some(at(20)),
            "each live factor gets deleted_at"
        );
    }
    assert_eq!(
        load(&*store, gone.id).await.deleted_at,
        Some(at(10)),
        "an earlier deletion time is kept"
    );
    assert_eq!(
        listed_ids(&*store, other.id).await,
        vec![kept.id],
        "another user's factors are untouched"
    );
    let again = store
        .soft_delete_factors_of(user.id, at(30))
        .await
        .expect("soft_delete_factors_of failed");
    assert_eq!(again, 0, "nothing is left to delete");
}

/// MFA settings are absent until put, then read back; a second put replaces
/// them.
pub async fn settings_are_put_and_replaced<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let none = store
        .get_settings(user.id)
        .await
        .expect("get_settings failed");
    assert_eq!(none, None, "a user has no settings until some are put");
    let first = MfaSettings::new(user.id, at(10));
    store
        .put_settings(&first)
        .await
        .expect("put_settings failed");
    assert_eq!(
        store
            .get_settings(user.id)
            .await
            .expect("get_settings failed"),
        Some(first),
        "settings must read back"
    );
    let second = MfaSettings {
        user_id: user.id,
        enforced: true,
        grace_deadline: Some(at(86_400)),
        preferred: Some(FactorKind::Totp),
        updated_at: at(20),
    };
    store
        .put_settings(&second)
        .await
        .expect("put_settings failed");
    assert_eq!(
        store
            .get_settings(user.id)
            .await
            .expect("get_settings failed"),
        Some(second),
        "a second put must replace the settings"
    );
    let other = create_user(&*store, t0()).await;
    let none = store
        .get_settings(other.id)
        .await
        .expect("get_settings failed");
    assert_eq!(none, None, "settings belong to one user");
}

/// `purge_deleted_factors` removes factors soft-deleted before the cutoff
/// and nothing else.
pub async fn purge_deleted_factors_removes_only_factors_deleted_before_cutoff<S: Store>(
    store: Arc<S>,
) {
    let base = era(Era::Factors);
    let cutoff = base + TimeDelta::hours(1);
    let user = create_user(&*store, base).await;
    let old = create_factor(&*store, user.id, FactorKind::Totp, base).await;
    let recent = create_factor(&*store, user.id, FactorKind::Email, base).await;
    let live = create_factor(&*store, user.id, FactorKind::Sms, base).await;
    assert!(
        store
            .soft_delete_factor(old.id, base + TimeDelta::minutes(1))
            .await
            .expect("soft_delete_factor failed"),
        "delete"
    );
    assert!(
        store
            .soft_delete_factor(recent.id, cutoff + TimeDelta::minutes(1))
            .await
            .expect("soft_delete_factor failed"),
        "delete"
    );
    let purged = store
        .purge_deleted_factors(cutoff)
        .await
        .expect("purge_deleted_factors failed");
    assert_eq!(
        purged, 1,
        "only the factor deleted before the cutoff must be purged"
    );
    assert_eq!(
        store.get_factor(old.id).await.expect("get_factor failed"),
        None,
        "the purged factor must be gone"
    );
    assert!(
        store
            .get_factor(recent.id)
            .await
            .expect("get_factor failed")
            .is_some(),
        "a factor deleted after the cutoff must be kept"
    );
    assert_eq!(
        listed_ids(&*store, user.id).await,
        vec![live.id],
        "a live factor must be kept"
    );
}

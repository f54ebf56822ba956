//! Devices: sightings, trust, trust-token rotation, revocation, compromise,
//! deletion and purging.

use super::fixtures::{self, Era, at, create_device, create_user, era, sighting, t0};
use crate::model::{Device, DeviceId, DeviceInfo, DeviceKind, TokenHash, UserId};
use crate::store::*;
use chrono::{DateTime, TimeDelta, Utc};
use std::sync::Arc;

async fn load<S: Store>(store: &S, id: DeviceId) -> Device {
    store
        .get_device(id)
        .await
        .expect("get_device failed")
        .expect("the device should exist")
}

async fn trusted<S: Store>(
    store: &S,
    user: UserId,
    hash: &TokenHash,
    now: DateTime<Utc>,
) -> Option<DeviceId> {
    store
        .find_trusted_device(user, hash, now)
        .await
        .expect("find_trusted_device failed")
        .map(|d| d.id)
}

async fn trust<S: Store>(
    store: &S,
    id: DeviceId,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> TokenHash {
    let hash = fixtures::token_hash();
    let ok = store
        .trust_device(id, &hash, until, now)
        .await
        .expect("trust_device failed");
    assert!(
        ok,
        "trust_device of a live, uncompromised device must return true"
    );
    hash
}

/// The first sighting of (user, fingerprint) creates a device holding every
/// field of the sighting, untrusted.
pub async fn first_sighting_creates_a_device<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let s = sighting(user.id, fixtures::fingerprint(), at(10));
    let up = store.upsert_device(&s).await.expect("upsert_device failed");
    assert!(up.created, "the first sighting must create the device");
    let d = &up.device;
    assert_eq!(
        (d.user_id, d.fingerprint_hash),
        (s.user_id, s.fingerprint_hash),
        "device key"
    );
    assert_eq!(d.info, s.info, "info from the sighting");
    assert_eq!(
        (&d.last_ip, &d.last_country),
        (&s.ip, &s.country),
        "last IP and country"
    );
    assert_eq!(
        (d.first_seen_at, d.last_seen_at),
        (at(10), at(10)),
        "first and last seen"
    );
    assert_eq!(d.risk_score, s.risk_score, "risk score");
    assert_eq!(d.metadata, s.metadata, "metadata");
    assert_eq!(
        (
            d.trust_token_hash,
            d.trusted_at,
            d.trusted_until,
            d.compromised_at,
            d.deleted_at
        ),
        (None, None, None, None, None),
        "a new device is untrusted, uncompromised and live"
    );
    assert_eq!(
        load(&*store, d.id).await,
        up.device,
        "get_device must return the upserted device"
    );
}

/// A later sighting of the same (user, fingerprint) updates that device:
/// info, IP, country, risk, metadata and last-seen change; first-seen stays.
pub async fn later_sighting_updates_the_same_device<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let fp = fixtures::fingerprint();
    let first = store
        .upsert_device(&sighting(user.id, fp, at(10)))
        .await
        .expect("upsert_device failed")
        .device;
    let mut s = sighting(user.id, fp, at(500));
    s.info = DeviceInfo {
        kind: DeviceKind::Mobile,
        name: Some("Phone".into()),
        ..DeviceInfo::default()
    };
    s.ip = Some("198.51.100.7".into());
    s.country = Some("DE".into());
    s.risk_score = 60;
    s.metadata = serde_json::json!({ "app": "2.1" });
    let up = store.upsert_device(&s).await.expect("upsert_device failed");
    assert!(!up.created, "a second sighting must not create a device");
    let d = up.device;
    assert_eq!(d.id, first.id, "the same device must be updated");
    assert_eq!(d.first_seen_at, at(10), "first_seen_at must be kept");
    assert_eq!(d.last_seen_at, at(500), "last_seen_at must move");
    assert_eq!(d.info, s.info, "info must be replaced");
    assert_eq!(
        (d.last_ip, d.last_country),
        (s.ip, s.country),
        "last IP and country must be updated"
    );
    assert_eq!(d.risk_score, 60, "risk score must be updated");
    assert_eq!(
        d.metadata, s.metadata,
        "non-null metadata must replace the stored value"
    );
    assert_eq!(
        load(&*store, first.id).await.last_seen_at,
        at(500),
        "the update must be stored"
    );
    let listed = store
        .list_devices(user.id)
        .await
        .expect("list_devices failed");
    assert_eq!(listed.len(), 1, "one device per (user, fingerprint)");
}

/// A sighting with null metadata keeps the stored metadata.
pub async fn null_metadata_keeps_stored_metadata<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let fp = fixtures::fingerprint();
    let first = sighting(user.id, fp, at(10));
    store
        .upsert_device(&first)
        .await
        .expect("upsert_device failed");
    let mut later = sighting(user.id, fp, at(20));
    later.metadata = serde_json::Value::Null;
    let up = store
        .upsert_device(&later)
        .await
        .expect("upsert_device failed");
    assert_eq!(
        up.device.metadata, first.metadata,
        "null metadata must not erase the stored value"
    );
    assert_eq!(
        load(&*store, up.device.id).await.metadata,
        first.metadata,
        "null metadata must not erase the stored value"
    );
}

/// The same fingerprint seen for two users makes two devices.
pub async fn same_fingerprint_of_another_user_is_another_device<S: Store>(store: Arc<S>) {
    let alice = create_user(&*store, t0()).await;
    let bob = create_user(&*store, t0()).await;
    let fp = fixtures::fingerprint();
    let a = store
        .upsert_device(&sighting(alice.id, fp, at(1)))
        .await
        .expect("upsert_device failed");
    let b = store
        .upsert_device(&sighting(bob.id, fp, at(2)))
        .await
        .expect("upsert_device failed");
    assert!(
        a.created && b.created,
        "each user's first sighting creates a device"
    );
    assert_ne!(
        a.device.id, b.device.id,
        "devices are keyed by (user, fingerprint)"
    );
    assert_eq!(
        b.device.user_id, bob.id,
        "the second device belongs to the second user"
    );
}

/// A trusted device is found by its trust token's digest, and by no other.
pub async fn trusted_device_is_found_by_its_token_only<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let device = create_device(&*store, user.id, t0()).await;
    assert_eq!(
        trusted(&*store, user.id, &fixtures::token_hash(), at(5)).await,
        None,
        "an untrusted device is not found"
    );
    let until = at(30 * 86_400);
    let hash = trust(&*store, device.id, until, at(10)).await;
    let found = store
        .find_trusted_device(user.id, &hash, at(20))
        .await
        .expect("find_trusted_device failed")
        .expect("the trusted device must be found by its token");
    assert_eq!(found.id, device.id, "the right device");
    assert_eq!(
        found.trust_token_hash,
        Some(hash),
        "trust_token_hash is stored"
    );
    assert_eq!(
        found.trusted_at,
        Some(at(10)),
        "trusted_at is the trust time"
    );
    assert_eq!(found.trusted_until, Some(until), "trusted_until is stored");
    assert_eq!(
        trusted(&*store, user.id, &fixtures::token_hash(), at(20)).await,
        None,
        "another digest must not find it"
    );
}

/// R27: trust ends at `until`.
pub async fn device_trust_ends_at_its_expiry<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let device = create_device(&*store, user.id, t0()).await;
    let until = at(3_600);
    let hash = trust(&*store, device.id, until, at(10)).await;
    let last = until - TimeDelta::seconds(1);
    assert_eq!(
        trusted(&*store, user.id, &hash, last).await,
        Some(device.id),
        "trusted until just before `until`"
    );
    assert_eq!(
        trusted(&*store, user.id, &hash, until).await,
        None,
        "not trusted from `until` on"
    );
}

/// R26: a trust token is bound to its user.
pub async fn device_trust_is_bound_to_its_user<S: Store>(store: Arc<S>) {
    let owner = create_user(&*store, t0()).await;
    let other = create_user(&*store, t0()).await;
    let device = create_device(&*store, owner.id, t0()).await;
    let hash = trust(&*store, device.id, at(3_600), at(10)).await;
    assert_eq!(
        trusted(&*store, other.id, &hash, at(20)).await,
        None,
        "another user's token must not find the device"
    );
    assert_eq!(
        trusted(&*store, owner.id, &hash, at(20)).await,
        Some(device.id),
        "the owner still finds it"
    );
}

/// Trusting again replaces the earlier token.
pub async fn trusting_again_replaces_the_token<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let device = create_device(&*store, user.id, t0()).await;
    let first = trust(&*store, device.id, at(3_600), at(10)).await;
    let second = trust(&*store, device.id, at(7_200), at(20)).await;
    assert_eq!(
        trusted(&*store, user.id, &first, at(30)).await,
        None,
        "the earlier token must stop working"
    );
    assert_eq!(
        trusted(&*store, user.id, &second, at(30)).await,
        Some(device.id),
        "the new token works"
    );
    assert_eq!(
        load(&*store, device.id).await.trusted_until,
        Some(at(7_200)),
        "the new expiry is stored"
    );
}

/// The trust token rotates only from its current digest; the old digest
/// stops working and the expiry is kept.
pub async fn trust_token_rotates_only_from_the_current_hash<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let device = create_device(&*store, user.id, t0()).await;
    let until = at(3_600);
    let old = trust(&*store, device.id, until, at(10)).await;
    let new = fixtures::token_hash();
    let wrong = fixtures::token_hash();
    assert!(
        !store
            .rotate_trust_token(device.id, &wrong, &new, at(20))
            .await
            .expect("rotate_trust_token failed"),
        "rotation from a digest that is not current must fail"
    );
    assert!(
        store
            .rotate_trust_token(device.id, &old, &new, at(20))
            .await
            .expect("rotate_trust_token failed"),
        "rotation from the current digest must succeed"
    );
    assert_eq!(
        trusted(&*store, user.id, &old, at(30)).await,
        None,
        "the old digest must stop working"
    );
    assert_eq!(
        trusted(&*store, user.id, &new, at(30)).await,
        Some(device.id),
        "the new digest works"
    );
    assert_eq!(
        load(&*store, device.id).await.trusted_until,
        Some(until),
        "rotation keeps the expiry"
    );
    let third = fixtures::token_hash();
    assert!(
        !store
            .rotate_trust_token(device.id, &old, &third, at(40))
            .await
            .expect("rotate_trust_token failed"),
        "the old digest must not rotate a second time"
    );
}

/// Rotation needs a device trusted at `now`: an expired or never trusted
/// device does not rotate.
pub async fn trust_token_does_not_rotate_without_trust<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let device = create_device(&*store, user.id, t0()).await;
    let until = at(3_600);
    let old = trust(&*store, device.id, until, at(10)).await;
    let new = fixtures::token_hash();
    assert!(
        !store
            .rotate_trust_token(device.id, &old, &new, until)
            .await
            .expect("rotate_trust_token failed"),
        "an expired trust must not rotate"
    );
    assert_eq!(
        trusted(&*store, user.id, &new, until - TimeDelta::seconds(1)).await,
        None,
        "no new digest was stored"
    );
    let untrusted = create_device(&*store, user.id, t0()).await;
    assert!(
        !store
            .rotate_trust_token(untrusted.id, &old, &new, at(20))
            .await
            .expect("rotate_trust_token failed"),
        "a device that is not trusted must not rotate"
    );
}

/// R29: after `revoke_device_trust` the token fails at once; revoking again
/// returns `false`.
pub async fn revoked_device_trust_fails_immediately<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let device = create_device(&*store, user.id, t0()).await;
    let hash = trust(&*store, device.id, at(3_600), at(10)).await;
    assert!(
        store
            .revoke_device_trust(device.id)
            .await
            .expect("revoke_device_trust failed"),
        "revoking trust must return true"
    );
    assert_eq!(
        trusted(&*store, user.id, &hash, at(11)).await,
        None,
        "a revoked token must fail immediately"
    );
    assert!(
        !store
            .revoke_device_trust(device.id)
            .await
            .expect("revoke_device_trust failed"),
        "revoking an untrusted device returns false"
    );
    let d = load(&*store, device.id).await;
    assert_eq!(d.trust_token_hash, None, "the trust digest must be removed");
    assert!(!d.is_trusted(at(11)), "the device is not trusted any more");
}

/// R29: `revoke_all_device_trust` removes trust from every device of one
/// user and counts them.
pub async fn revoke_all_device_trust_revokes_every_device_of_the_user<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let other = create_user(&*store, t0()).await;
    let a = create_device(&*store, user.id, t0()).await;
    let b = create_device(&*store, user.id, t0()).await;
    create_device(&*store, user.id, t0()).await;
    let theirs = create_device(&*store, other.id, t0()).await;
    let until = at(3_600);
    let ha = trust(&*store, a.id, until, at(1)).await;
    let hb = trust(&*store, b.id, until, at(1)).await;
    let ht = trust(&*store, theirs.id, until, at(1)).await;
    let n = store
        .revoke_all_device_trust(user.id)
        .await
        .expect("revoke_all_device_trust failed");
    assert_eq!(
        n, 2,
        "revoke_all_device_trust must count the trusted devices"
    );
    for hash in [ha, hb] {
        assert_eq!(
            trusted(&*store, user.id, &hash, at(2)).await,
            None,
            "every token of the user must fail"
        );
    }
    assert_eq!(
        trusted(&*store, other.id, &ht, at(2)).await,
        Some(theirs.id),
        "another user's trust is kept"
    );
    let again = store
        .revoke_all_device_trust(user.id)
        .await
        .expect("revoke_all_device_trust failed");
    assert_eq!(again, 0, "nothing is left to revoke");
}

/// A compromised device loses its trust and can never be trusted again.
pub async fn compromised_device_loses_trust_for_good<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let device = create_device(&*store, user.id, t0()).await;
    let hash = trust(&*store, device.id, at(3_600), at(10)).await;
    assert!(
        store
            .mark_device_compromised(device.id, at(20))
            .await
            .expect("mark_device_compromised failed"),
        "marking a device compromised must return true"
    );
    assert_eq!(
        trusted(&*store, user.id, &hash, at(21)).await,
        None,
        "a compromised device must not be trusted"
    );
    let d = load(&*store, device.id).await;
    assert_eq!(d.compromised_at, Some(at(20)), "compromised_at must be set");
    assert_eq!(d.trust_token_hash, None, "the trust digest must be removed");
    assert!(
        !store
            .mark_device_compromised(device.id, at(30))
            .await
            .expect("mark_device_compromised failed"),
        "marking a compromised device again returns false"
    );
    let fresh = fixtures::token_hash();
    assert!(
        !store
            .trust_device(device.id, &fresh, at(7_200), at(40))
            .await
            .expect("trust_device failed"),
        "a compromised device must not be trusted again"
    );
    assert_eq!(
        trusted(&*store, user.id, &fresh, at(41)).await,
        None,
        "a refused trust stores no token"
    );
}

/// A soft-deleted device loses its trust, is not listed, cannot be trusted
/// or compromised, and is still readable by id.
pub async fn soft_deleted_device_is_kept_but_not_trusted_or_listed<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let device = create_device(&*store, user.id, t0()).await;
    let hash = trust(&*store, device.id, at(3_600), at(10)).await;
    assert!(
        store
            .soft_delete_device(device.id, at(20))
            .await
            .expect("soft_delete_device failed"),
        "soft_delete_device must return true"
    );
    assert_eq!(
        trusted(&*store, user.id, &hash, at(21)).await,
        None,
        "a deleted device must not be trusted"
    );
    let listed = store
        .list_devices(user.id)
        .await
        .expect("list_devices failed");
    assert!(listed.is_empty(), "a deleted device must not be listed");
    assert_eq!(
        load(&*store, device.id).await.deleted_at,
        Some(at(20)),
        "get_device shows deleted_at"
    );
    assert!(
        !store
            .trust_device(device.id, &fixtures::token_hash(), at(3_600), at(30))
            .await
            .expect("trust_device failed"),
        "a deleted device must not be trusted"
    );
    assert!(
        !store
            .mark_device_compromised(device.id, at(30))
            .await
            .expect("mark_device_compromised failed"),
        "mark_device_compromised of a deleted device returns false"
    );
}

/// After a soft delete, a new sighting of the same fingerprint creates a new
/// live device.
pub async fn sighting_after_soft_delete_creates_a_new_device<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let fp = fixtures::fingerprint();
    let old = store
        .upsert_device(&sighting(user.id, fp, at(1)))
        .await
        .expect("upsert_device failed")
        .device;
    assert!(
        store
            .soft_delete_device(old.id, at(2))
            .await
            .expect("soft_delete_device failed"),
        "soft delete"
    );
    let up = store
        .upsert_device(&sighting(user.id, fp, at(3)))
        .await
        .expect("upsert_device failed");
    assert!(up.created, "a sighting after deletion must create a device");
    assert_ne!(
        up.device.id, old.id,
        "the deleted device must not come back"
    );
    assert_eq!(up.device.deleted_at, None, "the new device is live");
    let listed = store
        .list_devices(user.id)
        .await
        .expect("list_devices failed");
    assert_eq!(
        listed.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![up.device.id],
        "only the new device is listed"
    );
}

/// `list_devices` returns a user's live devices, most recently seen first.
pub async fn list_devices_is_most_recently_seen_first<S: Store>(store: Arc<S>) {
    let user = create_user(&*store, t0()).await;
    let other = create_user(&*store, t0()).await;
    let fps: Vec<_> = (0..3).map(|_| fixtures::fingerprint()).collect();
    let mut ids = Vec::new();
    for (n, fp) in fps.iter().enumerate() {
        let d = store
            .upsert_device(&sighting(user.id, *fp, at(10 * n as i64)))
            .await
            .expect("upsert_device failed")
            .device;
        ids.push(d.id);
    }
    create_device(&*store, other.id, at(100)).await;
    // The first device is seen again, last of all.
    store
        .upsert_device(&sighting(user.id, fps[0], at(50)))
        .await
        .expect("upsert_device failed");
    let listed: Vec<_> = store
        .list_devices(user.id)
        .await
        .expect("list_devices failed")
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(
        listed,
        vec![ids[0], ids[2], ids[1]],
        "devices must be listed by last_seen_at, newest first"
    );
}

/// `purge_deleted_devices` removes devices soft-deleted before the cutoff,
/// and nothing else.
pub async fn purge_deleted_devices_removes_only_devices_deleted_before_cutoff<S: Store>(
    store: Arc<S>,
) {
    let base = era(Era::Devices);
    let cutoff = base + TimeDelta::hours(1);
    let user = create_user(&*store, base).await;
    let old = create_device(&*store, user.id, base).await;
    let recent = create_device(&*store, user.id, base).await;
    let live = create_device(&*store, user.id, base).await;
    assert!(
        store
            .soft_delete_device(old.id, base + TimeDelta::minutes(1))
            .await
            .expect("soft_delete_device failed"),
        "delete"
    );
    assert!(
        store
            .soft_delete_device(recent.id, cutoff + TimeDelta::minutes(1))
            .await
            .expect("soft_delete_device failed"),
        "delete"
    );
    let purged = store
        .purge_deleted_devices(cutoff)
        .await
        .expect("purge_deleted_devices failed");
    assert_eq!(
        purged, 1,
        "only the device deleted before the cutoff must be purged"
    );
    assert_eq!(
        store.get_device(old.id).await.expect("get_device failed"),
        None,
        "the purged device must be gone"
    );
    assert!(
        store
            .get_device(recent.id)
            .await
            .expect("get_device failed")
            .is_some(),
        "a device deleted after the cutoff must be kept"
    );
    let listed = store
        .list_devices(user.id)
        .await
        .expect("list_devices failed");
    assert_eq!(listed, vec![live], "a live device must be kept");
}

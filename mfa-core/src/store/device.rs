//! Devices and device trust.

use super::StoreResult;
use crate::model::{Device, DeviceId, DeviceSighting, TokenHash, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Result of [`DeviceRepository::upsert_device`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upserted {
    /// The device after the sighting.
    pub device: Device,
    /// Whether this sighting created it.
    pub created: bool,
}

/// Devices, keyed by (user, fingerprint digest), and their trust.
#[async_trait]
pub trait DeviceRepository: Send + Sync {
    /// Records a sighting: creates the live device of (user, fingerprint) or
    /// updates its info, last IP/country, risk score, metadata (unless the
    /// sighting's is null) and last-seen time. Atomic: two concurrent first
    /// sightings create one device.
    async fn upsert_device(&self, sighting: &DeviceSighting) -> StoreResult<Upserted>;

    /// A device by id, including soft-deleted ones.
    async fn get_device(&self, id: DeviceId) -> StoreResult<Option<Device>>;

    /// A user's live devices, most recently seen first.
    async fn list_devices(&self, user: UserId) -> StoreResult<Vec<Device>>;

    /// Trusts a live, uncompromised device until `until`, with the digest of
    /// a fresh trust token (replacing any earlier one). Returns `false` if the
    /// device is deleted or compromised.
    async fn trust_device(
        &self,
        id: DeviceId,
        token_hash: &TokenHash,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// The device of `user` trusted at `now` by the token with this digest.
    async fn find_trusted_device(
        &self,
        user: UserId,
        token_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Device>>;

    /// Swaps the trust token of a device trusted at `now`, atomically, only
    /// if its current digest is `old`; the expiry is kept. Returns `true` for
    /// exactly one caller per old token.
    async fn rotate_trust_token(
        &self,
        id: DeviceId,
        old: &TokenHash,
        new: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Removes trust from a device. Returns `false` if it was not trusted.
    async fn revoke_device_trust(&self, id: DeviceId) -> StoreResult<bool>;

    /// Removes trust from every device of a user; returns how many.
    async fn revoke_all_device_trust(&self, user: UserId) -> StoreResult<u64>;

    /// Marks a device compromised at `now` and removes its trust. Returns
    /// `false` if it was already compromised or is deleted.
    async fn mark_device_compromised(&self, id: DeviceId, now: DateTime<Utc>) -> StoreResult<bool>;

    /// Soft-deletes a device (and removes its trust).
    async fn soft_delete_device(&self, id: DeviceId, now: DateTime<Utc>) -> StoreResult<bool>;

    /// Removes devices soft-deleted before `before`; returns how many.
    async fn purge_deleted_devices(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

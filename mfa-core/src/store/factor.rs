//! Factors and MFA settings.

use super::StoreResult;
use crate::model::{Factor, FactorId, FactorStatus, MfaSettings, SealedSecret, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Second factors and per-user MFA settings.
#[async_trait]
pub trait FactorRepository: Send + Sync {
    /// Inserts a factor.
    async fn create_factor(&self, factor: &Factor) -> StoreResult<()>;

    /// A factor by id, including soft-deleted ones.
    async fn get_factor(&self, id: FactorId) -> StoreResult<Option<Factor>>;

    /// A user's live (not soft-deleted) factors, oldest first.
    async fn list_factors(&self, user: UserId) -> StoreResult<Vec<Factor>>;

    /// Moves a live factor from `Pending` to `Active`, atomically. Returns
    /// `false` if it was not pending.
    async fn activate_factor(&self, id: FactorId, now: DateTime<Utc>) -> StoreResult<bool>;

    /// Sets the status of a live factor. Returns `false` if there is none.
    async fn set_factor_status(&self, id: FactorId, status: FactorStatus) -> StoreResult<bool>;

    /// Replaces the sealed secret of a live factor (key rotation).
    async fn set_factor_secret(&self, id: FactorId, secret: &SealedSecret) -> StoreResult<bool>;

    /// Factors holding a sealed secret, live or soft-deleted, in ascending
    /// id order, starting after `after` (from the first when `None`), at
    /// most `limit` of them: the key-rotation scan
    /// ([`crate::Mfa::reseal_secrets`]). Factors without a secret (email,
    /// SMS) are skipped.
    async fn list_sealed_factors(
        &self,
        after: Option<FactorId>,
        limit: u32,
    ) -> StoreResult<Vec<Factor>>;

    /// Replaces the sealed secret of a factor, live or soft-deleted, only
    /// if it is still `expected`, atomically: the key-rotation write, which
    /// must never undo a concurrent step's own write (a passkey sign-in
    /// storing its credential record). Returns `false` when the secret
    /// changed or the factor is gone.
    async fn reseal_factor_secret(
        &self,
        id: FactorId,
        expected: &SealedSecret,
        resealed: &SealedSecret,
    ) -> StoreResult<bool>;

    /// Sets (or clears) the user-given name of a live factor. Returns
    /// `false` if there is none.
    async fn set_factor_label(&self, id: FactorId, label: Option<&str>) -> StoreResult<bool>;

    /// Records that the TOTP step `step` was accepted, atomically, only if it
    /// is greater than the last accepted step (or none was accepted yet).
    /// Returns `true` for exactly one caller per step: this is the replay
    /// guard (RFC 6238 §5.2).
    async fn advance_totp_step(
        &self,
        id: FactorId,
        step: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Records a successful use of a factor.
    async fn touch_factor(&self, id: FactorId, now: DateTime<Utc>) -> StoreResult<()>;

    /// Soft-deletes a factor. Returns `false` if it was not live.
    async fn soft_delete_factor(&self, id: FactorId, now: DateTime<Utc>) -> StoreResult<bool>;

    /// Soft-deletes every live factor of a user; returns how many.
    async fn soft_delete_factors_of(&self, user: UserId, now: DateTime<Utc>) -> StoreResult<u64>;

    /// A user's MFA settings, if any were stored.
    async fn get_settings(&self, user: UserId) -> StoreResult<Option<MfaSettings>>;

    /// Inserts or replaces a user's MFA settings.
    async fn put_settings(&self, settings: &MfaSettings) -> StoreResult<()>;

    /// Removes factors soft-deleted before `before`; returns how many.
    async fn purge_deleted_factors(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

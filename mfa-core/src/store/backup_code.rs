//! Backup codes.

use super::StoreResult;
use crate::model::{BackupCodeRecord, CodeHash, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Backup-code digests.
#[async_trait]
pub trait BackupCodeRepository: Send + Sync {
    /// Replaces every code of `user` with `codes`, atomically: no moment
    /// exists where both old and new codes, or neither, are valid.
    async fn replace_backup_codes(
        &self,
        user: UserId,
        codes: &[BackupCodeRecord],
    ) -> StoreResult<()>;

    /// Marks the unused code of `user` whose digest is `hash` as used at
    /// `now`, atomically. Returns `true` for exactly one caller per code.
    async fn consume_backup_code(
        &self,
        user: UserId,
        hash: &CodeHash,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Number of unused codes of `user`.
    async fn remaining_backup_codes(&self, user: UserId) -> StoreResult<u32>;

    /// Deletes every code of `user`; returns how many.
    async fn delete_backup_codes(&self, user: UserId) -> StoreResult<u64>;
}

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

    /// Spends the unused code of `user` whose digest is one of `hashes`
    /// (one digest per loaded root secret, see
    /// [`KeyRing::older_backup_code_digests`](crate::crypto::KeyRing::older_backup_code_digests)),
    /// marking it used at `now`, atomically as
    /// [`BackupCodeRepository::consume_backup_code`] does: `Some(n)`, the
    /// unused codes left after it, for exactly one caller per code; `None`
    /// when no unused code has any of the digests. The default is
    /// `consume_backup_code` of each digest in turn, then
    /// `remaining_backup_codes`; a SQL store does it in one statement.
    async fn spend_backup_code(
        &self,
        user: UserId,
        hashes: &[CodeHash],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<u32>> {
        for hash in hashes {
            if self.consume_backup_code(user, hash, now).await? {
                return self.remaining_backup_codes(user).await.map(Some);
            }
        }
        Ok(None)
    }

    /// Deletes every code of `user`; returns how many.
    async fn delete_backup_codes(&self, user: UserId) -> StoreResult<u64>;
}

//! Backup codes.

use crate::driver::Driver;
use crate::rows::*;
use crate::sql::{Arg, params};
use crate::store::{SqlStore, in_tx};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mfa_core::model::*;
use mfa_core::store::*;
use tracing::instrument;

#[async_trait]
impl<D: Driver> BackupCodeRepository for SqlStore<D> {
    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "replace_backup_codes"))]
    async fn replace_backup_codes(
        &self,
        user: UserId,
        codes: &[BackupCodeRecord],
    ) -> StoreResult<()> {
        in_tx!(self, |conn| {
            self.run(
                conn,
                "DELETE FROM {p}backup_codes WHERE user_id = $1",
                vec![uuid_of(user)],
            )
            .await?;
            if !codes.is_empty() {
                let rows = (0..codes.len())
                    .map(|i| format!("({})", params(i * 5 + 1, 5)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "INSERT INTO {{p}}backup_codes (id, user_id, code_hash, created_at, \
                     used_at) VALUES {rows}"
                );
                let args = codes
                    .iter()
                    .flat_map(|c| {
                        [
                            uuid_of(c.id),
                            uuid_of(user),
                            Arg::Bytes(c.code_hash.as_bytes().to_vec()),
                            Arg::Ts(c.created_at),
                            Arg::OptTs(c.used_at),
                        ]
                    })
                    .collect();
                self.run_as(conn, &sql, args, "backup code").await?;
            }
            Ok(())
        })
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "consume_backup_code"))]
    async fn consume_backup_code(
        &self,
        user: UserId,
        hash: &CodeHash,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let n = self
            .affected(
                "UPDATE {p}backup_codes SET used_at = $3 \
                 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
                vec![
                    uuid_of(user),
                    Arg::Bytes(hash.as_bytes().to_vec()),
                    Arg::Ts(now),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "remaining_backup_codes"))]
    async fn remaining_backup_codes(&self, user: UserId) -> StoreResult<u32> {
        let n = self
            .one_on(
                &mut self.pool(),
                "SELECT COUNT(*) AS n FROM {p}backup_codes \
                 WHERE user_id = $1 AND used_at IS NULL",
                vec![uuid_of(user)],
                |r| r.i64("n"),
            )
            .await?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "delete_backup_codes"))]
    async fn delete_backup_codes(&self, user: UserId) -> StoreResult<u64> {
        self.affected(
            "DELETE FROM {p}backup_codes WHERE user_id = $1",
            vec![uuid_of(user)],
        )
        .await
    }
}

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
        self.forget_backup_left(user);
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
        self.forget_backup_left(user);
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
        // A unit that spent a code knows what is left: no statement.
        if let Some(left) = self.unit().and_then(|unit| unit.backup_left(user)) {
            return Ok(left);
        }
        self.count_unused(user).await
    }

    /// One statement on PostgreSQL (the spend in a `WITH` clause, the count
    /// of unused codes beside it, both on the statement's snapshot, i.e.
    /// before the spend); elsewhere the spend and the count, two
    /// statements. Inside a unit both run ahead of the unit's deferred
    /// writes (they touch only backup codes), and the unit remembers the
    /// count for `remaining_backup_codes`.
    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "spend_backup_code"))]
    async fn spend_backup_code(
        &self,
        user: UserId,
        hashes: &[CodeHash],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<u32>> {
        if hashes.is_empty() {
            return Ok(None);
        }
        let mut args = vec![uuid_of(user), Arg::Ts(now)];
        args.extend(hashes.iter().map(|h| Arg::Bytes(h.as_bytes().to_vec())));
        let spend = format!(
            "UPDATE {{p}}backup_codes SET used_at = $2 \
             WHERE user_id = $1 AND used_at IS NULL AND code_hash IN ({})",
            params(3, hashes.len())
        );
        let left = if self.dialect().batch_writes {
            let sql = format!(
                "WITH spent AS ({spend} RETURNING id) \
                 SELECT (SELECT COUNT(*) FROM spent) AS spent, \
                 (SELECT COUNT(*) FROM {{p}}backup_codes \
                 WHERE user_id = $1 AND used_at IS NULL) AS unused"
            );
            let mut counts = None;
            self.pool()
                .fetch_ahead(&self.st(&sql, args), &mut |row| {
                    counts = Some((row.i64("spent")?, row.i64("unused")?));
                    Ok(())
                })
                .await?;
            match counts {
                Some((spent, unused)) if spent > 0 => Some(unused.saturating_sub(spent)),
                _ => None,
            }
        } else if self.pool().execute_ahead(&self.st(&spend, args)).await? > 0 {
            Some(self.count_unused_ahead(user).await?)
        } else {
            None
        };
        let left = left.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
        if let (Some(unit), Some(n)) = (self.unit(), left) {
            unit.know_backup_left(user, Some(n));
        }
        Ok(left)
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "delete_backup_codes"))]
    async fn delete_backup_codes(&self, user: UserId) -> StoreResult<u64> {
        self.forget_backup_left(user);
        self.affected(
            "DELETE FROM {p}backup_codes WHERE user_id = $1",
            vec![uuid_of(user)],
        )
        .await
    }
}

impl<D: Driver> SqlStore<D> {
    /// Forgets what the open unit, if any, knows of `user`'s codes left.
    fn forget_backup_left(&self, user: UserId) {
        if let Some(unit) = self.unit() {
            unit.know_backup_left(user, None);
        }
    }

    /// The unused codes of `user`, counted.
    async fn count_unused(&self, user: UserId) -> StoreResult<u32> {
        let n = self
            .one_on(&mut self.pool(), COUNT_UNUSED, vec![uuid_of(user)], |r| {
                r.i64("n")
            })
            .await?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// [`Self::count_unused`] ahead of a unit's deferred writes.
    async fn count_unused_ahead(&self, user: UserId) -> StoreResult<i64> {
        let mut n = 0;
        self.pool()
            .fetch_ahead(&self.st(COUNT_UNUSED, vec![uuid_of(user)]), &mut |row| {
                n = row.i64("n")?;
                Ok(())
            })
            .await?;
        Ok(n)
    }
}

/// The count of a user's unused codes.
const COUNT_UNUSED: &str =
    "SELECT COUNT(*) AS n FROM {p}backup_codes WHERE user_id = $1 AND used_at IS NULL";

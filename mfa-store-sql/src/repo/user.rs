//! Users: accounts, passwords and their history, failure counters.

use crate::columns as cols;
use crate::driver::{Driver, Row};
use crate::rows::*;
use crate::sql::{Arg, params};
use crate::store::{SqlStore, in_tx};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mfa_core::model::*;
use mfa_core::store::*;
use uuid::Uuid;

fn scope_columns(scope: LockScope) -> (&'static str, &'static str) {
    match scope {
        LockScope::Password => ("password_failures", "password_locked_until"),
        LockScope::Mfa => ("mfa_failures", "mfa_locked_until"),
    }
}

/// The failure counter selected `AS failures, … AS locked_until`.
fn failure_counter(row: &dyn Row) -> StoreResult<FailureCounter> {
    Ok(FailureCounter {
        failures: c_u32(row, "failures")?,
        locked_until: row.opt_ts("locked_until")?,
    })
}

#[async_trait]
impl<D: Driver> UserRepository for SqlStore<D> {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        self.insert(
            "INSERT INTO {p}users (id, identifier, email, phone, locale, password_hash, \
             status, password_failures, password_locked_until, mfa_failures, \
             mfa_locked_until, created_at, updated_at, deleted_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            vec![
                uuid_of(user.id),
                text(&user.identifier),
                opt_text(&user.email),
                opt_text(&user.phone),
                opt_text(&user.locale),
                opt_text(&user.password_hash),
                text(user.status.as_str()),
                count_i32(user.password_failures.failures),
                Arg::OptTs(user.password_failures.locked_until),
                count_i32(user.mfa_failures.failures),
                Arg::OptTs(user.mfa_failures.locked_until),
                Arg::Ts(user.created_at),
                Arg::Ts(user.updated_at),
                Arg::OptTs(user.deleted_at),
            ],
            "user identifier",
        )
        .await
    }

    async fn get_user(&self, id: UserId) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {} FROM {{p}}users WHERE id = $1", cols::USER);
        self.row(&sql, vec![uuid_of(id)]).await
    }

    async fn find_user_by_identifier(&self, identifier: &str) -> StoreResult<Option<User>> {
        let sql = format!(
            "SELECT {} FROM {{p}}users WHERE identifier = $1 AND deleted_at IS NULL",
            cols::USER
        );
        self.row(&sql, vec![text(identifier)]).await
    }

    async fn set_password(
        &self,
        id: UserId,
        password_hash: &str,
        history_limit: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let lock = format!(
            "SELECT password_hash FROM {{p}}users WHERE id = $1 \
             AND deleted_at IS NULL{}",
            self.dialect().for_update
        );
        in_tx!(self, |conn| {
            let Some(previous) = self
                .row_on(conn, &lock, vec![uuid_of(id)], |r| {
                    r.opt_text("password_hash")
                })
                .await?
            else {
                return Ok(false);
            };
            self.run(
                conn,
                "UPDATE {p}users SET password_hash = $2, updated_at = $3 WHERE id = $1",
                vec![uuid_of(id), text(password_hash), Arg::Ts(now)],
            )
            .await?;
            if let Some(previous) = previous {
                self.run(
                    conn,
                    "INSERT INTO {p}password_history (id, user_id, password_hash, \
                     created_at) VALUES ($1, $2, $3, $4)",
                    vec![
                        uuid_of(Uuid::now_v7()),
                        uuid_of(id),
                        Arg::Text(previous),
                        Arg::Ts(now),
                    ],
                )
                .await?;
            }
            let ids = self
                .rows_on(
                    conn,
                    "SELECT id FROM {p}password_history WHERE user_id = $1 \
                     ORDER BY created_at DESC, id DESC",
                    vec![uuid_of(id)],
                    |r| r.uuid("id"),
                )
                .await?;
            let extra: Vec<Arg> = ids
                .into_iter()
                .skip(history_limit as usize)
                .map(Arg::Uuid)
                .collect();
            if !extra.is_empty() {
                let sql = format!(
                    "DELETE FROM {{p}}password_history WHERE id IN ({})",
                    params(1, extra.len())
                );
                self.run(conn, &sql, extra).await?;
            }
            Ok(true)
        })
    }

    async fn password_history(&self, id: UserId, limit: u32) -> StoreResult<Vec<String>> {
        self.rows_on(
            &mut self.driver(),
            "SELECT password_hash FROM {p}password_history WHERE user_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2",
            vec![uuid_of(id), Arg::I64(i64::from(limit))],
            |r| r.text("password_hash"),
        )
        .await
    }

    async fn set_contact(
        &self,
        id: UserId,
        contact: &Contact,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let n = self
            .affected(
                "UPDATE {p}users SET email = $2, phone = $3, locale = $4, \
                 updated_at = $5 WHERE id = $1 AND deleted_at IS NULL",
                vec![
                    uuid_of(id),
                    opt_text(&contact.email),
                    opt_text(&contact.phone),
                    opt_text(&contact.locale),
                    Arg::Ts(now),
                ],
            )
            .await?;
        Ok(n > 0)
    }

    async fn set_status(
        &self,
        id: UserId,
        status: UserStatus,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let n = self
            .affected(
                "UPDATE {p}users SET status = $2, updated_at = $3 \
                 WHERE id = $1 AND deleted_at IS NULL",
                vec![uuid_of(id), text(status.as_str()), Arg::Ts(now)],
            )
            .await?;
        Ok(n > 0)
    }

    async fn record_failure(
        &self,
        id: UserId,
        scope: LockScope,
        rule: &LockoutRule,
        now: DateTime<Utc>,
    ) -> StoreResult<FailureOutcome> {
        // Compare-and-set: read the counter, apply the one definition
        // of the arithmetic (`LockoutRule::next`), and write it back
        // only if nobody changed it in between; otherwise read again.
        // The read locks the row (`FOR UPDATE`, a no-op outside a
        // transaction): inside a unit of work on MySQL/MariaDB a plain read
        // would keep returning the unit's snapshot, so the write could
        // never match, while the failed write kept the row locked.
        let (failures_col, locked_col) = scope_columns(scope);
        let read = format!(
            "SELECT {failures_col} AS failures, {locked_col} AS locked_until \
             FROM {{p}}users WHERE id = $1 AND deleted_at IS NULL{}",
            self.dialect().for_update
        );
        let write = format!(
            "UPDATE {{p}}users SET {failures_col} = $2, {locked_col} = $3 \
             WHERE id = $1 AND deleted_at IS NULL AND {failures_col} = $4 \
             AND {locked_col} {} $5",
            self.dialect().null_safe_eq
        );
        let mut conn = self.driver();
        for _ in 0..10_000 {
            let Some(current) = self
                .row_on(&mut conn, &read, vec![uuid_of(id)], failure_counter)
                .await?
            else {
                return Ok(FailureOutcome::NotFound);
            };
            let Some(next) = rule.next(current, now) else {
                let lock = current
                    .lock_at(rule, now)
                    .ok_or_else(|| StoreError::Corrupt("refused failure without a lock".into()))?;
                return Ok(FailureOutcome::Locked(lock));
            };
            let n = self
                .run(
                    &mut conn,
                    &write,
                    vec![
                        uuid_of(id),
                        count_i32(next.failures),
                        Arg::OptTs(next.locked_until),
                        count_i32(current.failures),
                        Arg::OptTs(current.locked_until),
                    ],
                )
                .await?;
            if n == 1 {
                let started = next
                    .locked_until
                    .filter(|_| next.locked_until != current.locked_until);
                return Ok(FailureOutcome::Counted {
                    failures: next.failures,
                    locked_until: started,
                });
            }
        }
        Err(StoreError::Unavailable(
            "the failure counter kept changing under contention".into(),
        ))
    }

    async fn reset_failures(&self, id: UserId, scope: LockScope) -> StoreResult<bool> {
        let (failures_col, locked_col) = scope_columns(scope);
        let sql = format!(
            "UPDATE {{p}}users SET {failures_col} = 0, {locked_col} = NULL \
             WHERE id = $1 AND deleted_at IS NULL"
        );
        Ok(self.affected(&sql, vec![uuid_of(id)]).await? > 0)
    }

    async fn soft_delete_user(&self, id: UserId, now: DateTime<Utc>) -> StoreResult<bool> {
        let n = self
            .affected(
                "UPDATE {p}users SET deleted_at = $2, updated_at = $2 \
                 WHERE id = $1 AND deleted_at IS NULL",
                vec![uuid_of(id), Arg::Ts(now)],
            )
            .await?;
        Ok(n > 0)
    }

    async fn purge_deleted_users(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        // Foreign keys cascade to everything the users own.
        self.purge_in_batches("users", "deleted_at < $1", vec![Arg::Ts(before)])
            .await
    }
}

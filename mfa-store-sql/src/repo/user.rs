//! Users: accounts, passwords and their history, failure counters.

use crate::columns as cols;
use crate::driver::{Driver, Row};
use crate::rows::*;
use crate::sql::{Arg, params};
use crate::store::{SqlStore, in_tx};
use crate::unit::{RowKey, UnitState};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mfa_core::model::*;
use mfa_core::store::*;
use tracing::instrument;
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

impl<D: Driver> SqlStore<D> {
    /// `record_failure` as one `UPDATE … RETURNING` (PostgreSQL, SQLite):
    /// the counter is advanced only where it is not locked, and the lock a
    /// failure starts is chosen by the failure count it replaces, from a
    /// table built with [`LockoutRule::lock_after`] (the rule's own
    /// arithmetic: failure `f + 1` locks until `now + lock_after(f + 1)`).
    /// Nothing is written when the counter refuses the attempt; then one
    /// read tells which lock refused it (or that the user is gone).
    async fn record_failure_returning(
        &self,
        id: UserId,
        scope: LockScope,
        rule: &LockoutRule,
        now: DateTime<Utc>,
    ) -> StoreResult<FailureOutcome> {
        let (failures_col, locked_col) = scope_columns(scope);
        let mut args = vec![uuid_of(id), count_i32(rule.hard_cap), Arg::Ts(now)];
        let mut arms = String::new();
        for before in 0..rule.hard_cap {
            if let Some(lock) = rule.lock_after(before + 1) {
                args.push(Arg::Ts(now + lock));
                arms.push_str(&format!(" WHEN {before} THEN ${}", args.len()));
            }
        }
        let locked_until = if arms.is_empty() {
            locked_col.to_owned()
        } else {
            format!("CASE {failures_col}{arms} ELSE {locked_col} END")
        };
        let count = format!(
            "UPDATE {{p}}users SET {failures_col} = {failures_col} + 1, \
             {locked_col} = {locked_until} \
             WHERE id = $1 AND deleted_at IS NULL AND {failures_col} < $2 \
             AND ({locked_col} IS NULL OR {locked_col} <= $3) \
             RETURNING {failures_col} AS failures, {locked_col} AS locked_until"
        );
        let read = format!(
            "SELECT {failures_col} AS failures, {locked_col} AS locked_until \
             FROM {{p}}users WHERE id = $1 AND deleted_at IS NULL"
        );
        for _ in 0..10_000 {
            if let Some(next) = self
                .row_on(&mut self.pool(), &count, args.clone(), failure_counter)
                .await?
            {
                if let Some(unit) = self.unit() {
                    unit.set_clean(id, scope, false);
                }
                let started = next
                    .locked_until
                    .filter(|_| rule.lock_after(next.failures).is_some());
                return Ok(FailureOutcome::Counted {
                    failures: next.failures,
                    locked_until: started,
                });
            }
            let Some(current) = self
                .row_on(&mut self.pool(), &read, vec![uuid_of(id)], failure_counter)
                .await?
            else {
                return Ok(FailureOutcome::NotFound);
            };
            if let Some(lock) = current.lock_at(rule, now) {
                return Ok(FailureOutcome::Locked(lock));
            }
            // Unlocked between the two statements: count again.
        }
        Err(StoreError::Unavailable(
            "the failure counter kept changing under contention".into(),
        ))
    }

    /// `record_failure` where `UPDATE … RETURNING` is missing (MySQL,
    /// MariaDB): compare-and-set, the minimum there. Read the counter,
    /// apply [`LockoutRule::next`], and write it back only if nobody changed
    /// it in between; otherwise read again. Two statements, one write; a
    /// refused attempt is one read. Inside a unit of work the read locks
    /// the row (`FOR UPDATE`): a plain read inside a MySQL/MariaDB
    /// transaction keeps returning the unit's snapshot, so the write could
    /// never match, while the failed write kept the row locked.
    async fn record_failure_cas(
        &self,
        id: UserId,
        scope: LockScope,
        rule: &LockoutRule,
        now: DateTime<Utc>,
    ) -> StoreResult<FailureOutcome> {
        let (failures_col, locked_col) = scope_columns(scope);
        let read = format!(
            "SELECT {failures_col} AS failures, {locked_col} AS locked_until \
             FROM {{p}}users WHERE id = $1 AND deleted_at IS NULL{}",
            if self.unit().is_some() {
                self.dialect().for_update
            } else {
                ""
            }
        );
        let write = format!(
            "UPDATE {{p}}users SET {failures_col} = $2, {locked_col} = $3 \
             WHERE id = $1 AND deleted_at IS NULL AND {failures_col} = $4 \
             AND {locked_col} {} $5",
            self.dialect().null_safe_eq
        );
        let mut conn = self.pool();
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
                if let Some(unit) = self.unit() {
                    unit.set_clean(id, scope, false);
                }
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

    /// Defers the write of a locked user's counters as `unit` has them
    /// now, or drops it when they are back to what the database holds.
    fn defer_counters(&self, unit: &UnitState, id: UserId) {
        match unit.counters_to_write(id) {
            Some(Some([password, mfa])) => unit.defer(
                Some(RowKey::Counters(id)),
                self.st(
                    "UPDATE {p}users SET password_failures = $2, \
                     password_locked_until = $3, mfa_failures = $4, mfa_locked_until = $5 \
                     WHERE id = $1",
                    vec![
                        uuid_of(id),
                        count_i32(password.failures),
                        Arg::OptTs(password.locked_until),
                        count_i32(mfa.failures),
                        Arg::OptTs(mfa.locked_until),
                    ],
                ),
            ),
            Some(None) => unit.undefer(RowKey::Counters(id)),
            None => {}
        }
    }

    /// Tells the open unit, if any, which counters of a user it read are
    /// clear.
    fn saw_user(&self, user: Option<&User>) {
        if let (Some(unit), Some(user)) = (self.unit(), user) {
            unit.saw_user(user);
        }
    }
}

#[async_trait]
impl<D: Driver> UserRepository for SqlStore<D> {
    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "create_user"))]
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let mut args = vec![
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
        ];
        // A new account's address is unverified: the column (schema
        // version 9) is written only for an account imported verified, so
        // the insert of every other one is the same on an older schema
        // during a rolling upgrade.
        let sql = match user.email_verified_at {
            None => {
                "INSERT INTO {p}users (id, identifier, email, phone, locale, password_hash, \
                 status, password_failures, password_locked_until, mfa_failures, \
                 mfa_locked_until, created_at, updated_at, deleted_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
            }
            Some(at) => {
                args.push(Arg::Ts(at));
                "INSERT INTO {p}users (id, identifier, email, phone, locale, password_hash, \
                 status, password_failures, password_locked_until, mfa_failures, \
                 mfa_locked_until, created_at, updated_at, deleted_at, email_verified_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
            }
        };
        self.insert(sql, args, "user identifier").await
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "get_user"))]
    async fn get_user(&self, id: UserId) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {} FROM {{p}}users WHERE id = $1", cols::USER);
        let user = self.row(&sql, vec![uuid_of(id)]).await?;
        self.saw_user(user.as_ref());
        Ok(user)
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "find_user_by_identifier"))]
    async fn find_user_by_identifier(&self, identifier: &str) -> StoreResult<Option<User>> {
        // Inside a unit the row is read locked (SQLite's unit holds the
        // database already) and held: the unit's failure counting on this
        // user is then decided from what was read, and written with the
        // unit's other writes (a password sign-in's first unit: the
        // attempt counted at its commit, no statement of its own).
        let sql = format!(
            "SELECT {} FROM {{p}}users WHERE identifier = $1 AND deleted_at IS NULL{}",
            cols::USER,
            if self.unit().is_some() {
                self.dialect().for_update
            } else {
                ""
            }
        );
        let user = self.row(&sql, vec![text(identifier)]).await?;
        if let (Some(unit), Some(user)) = (self.unit(), &user) {
            unit.hold_user(user);
        }
        self.saw_user(user.as_ref());
        Ok(user)
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "set_password"))]
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

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "password_history"))]
    async fn password_history(&self, id: UserId, limit: u32) -> StoreResult<Vec<String>> {
        self.rows_on(
            &mut self.pool(),
            "SELECT password_hash FROM {p}password_history WHERE user_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2",
            vec![uuid_of(id), Arg::I64(i64::from(limit))],
            |r| r.text("password_hash"),
        )
        .await
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "set_contact"))]
    async fn set_contact(
        &self,
        id: UserId,
        contact: &Contact,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let n = self
            .affected(
                // A changed address is no longer verified: `email = $2` is
                // false or NULL for any change (NULL to NULL stays NULL).
                "UPDATE {p}users SET email_verified_at = CASE WHEN email = $2 \
                 THEN email_verified_at ELSE NULL END, email = $2, phone = $3, \
                 locale = $4, updated_at = $5 WHERE id = $1 AND deleted_at IS NULL",
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

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "mark_email_verified"))]
    async fn mark_email_verified(
        &self,
        id: UserId,
        email: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let n = self
            .affected(
                "UPDATE {p}users SET email_verified_at = $3, updated_at = $3 \
                 WHERE id = $1 AND email = $2 AND deleted_at IS NULL",
                vec![uuid_of(id), text(email), Arg::Ts(at)],
            )
            .await?;
        Ok(n > 0)
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "set_status"))]
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

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "record_failure"))]
    async fn record_failure(
        &self,
        id: UserId,
        scope: LockScope,
        rule: &LockoutRule,
        now: DateTime<Utc>,
    ) -> StoreResult<FailureOutcome> {
        if let Some(unit) = self.unit()
            && let Some(outcome) = unit.record_failure(id, scope, rule, now)
        {
            self.defer_counters(unit, id);
            return Ok(outcome);
        }
        if self.dialect().returning && rule.hard_cap <= MAX_CONSECUTIVE_FAILURES {
            self.record_failure_returning(id, scope, rule, now).await
        } else {
            self.record_failure_cas(id, scope, rule, now).await
        }
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "reset_failures"))]
    async fn reset_failures(&self, id: UserId, scope: LockScope) -> StoreResult<bool> {
        // A unit holding the user's row resets its copy (writing, at the
        // unit's next flush, only what differs from the database). Nothing
        // to reset, nothing written: a unit that read the user knows the
        // counter is clear (no statement at all); otherwise the UPDATE
        // touches the row only if there is something to clear.
        if let Some(unit) = self.unit() {
            if unit.reset_failures(id, scope) {
                self.defer_counters(unit, id);
                return Ok(true);
            }
            if unit.is_clean(id, scope) {
                return Ok(true);
            }
        }
        let (failures_col, locked_col) = scope_columns(scope);
        let sql = format!(
            "UPDATE {{p}}users SET {failures_col} = 0, {locked_col} = NULL \
             WHERE id = $1 AND deleted_at IS NULL \
             AND ({failures_col} <> 0 OR {locked_col} IS NOT NULL)"
        );
        let live = if self.affected(&sql, vec![uuid_of(id)]).await? > 0 {
            true
        } else {
            self.row_on(
                &mut self.pool(),
                "SELECT id FROM {p}users WHERE id = $1 AND deleted_at IS NULL",
                vec![uuid_of(id)],
                |r| r.uuid("id"),
            )
            .await?
            .is_some()
        };
        if live && let Some(unit) = self.unit() {
            unit.set_clean(id, scope, true);
        }
        Ok(live)
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "list_locked_users"))]
    async fn list_locked_users(
        &self,
        now: DateTime<Utc>,
        password: &LockoutRule,
        mfa: &LockoutRule,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        // The same rule as `FailureCounter::lock_at`, for either counter.
        let locked = "deleted_at IS NULL AND (password_failures >= $2 \
                      OR password_locked_until > $1 OR mfa_failures >= $3 \
                      OR mfa_locked_until > $1)";
        let mut args = vec![
            Arg::Ts(now),
            Arg::I64(i64::from(password.hard_cap)),
            Arg::I64(i64::from(mfa.hard_cap)),
            Arg::I64(i64::from(limit)),
        ];
        let sql = match after {
            None => format!(
                "SELECT {} FROM {{p}}users WHERE {locked} ORDER BY id LIMIT $4",
                cols::USER
            ),
            Some(after) => {
                args.push(uuid_of(after));
                format!(
                    "SELECT {} FROM {{p}}users WHERE {locked} AND id > $5 ORDER BY id LIMIT $4",
                    cols::USER
                )
            }
        };
        self.rows(&sql, args).await
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "soft_delete_user"))]
    async fn soft_delete_user(&self, id: UserId, now: DateTime<Utc>) -> StoreResult<bool> {
        if let Some(unit) = self.unit() {
            unit.forget_user(id);
        }
        let n = self
            .affected(
                "UPDATE {p}users SET deleted_at = $2, updated_at = $2 \
                 WHERE id = $1 AND deleted_at IS NULL",
                vec![uuid_of(id), Arg::Ts(now)],
            )
            .await?;
        Ok(n > 0)
    }

    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "purge_deleted_users"))]
    async fn purge_deleted_users(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        // Foreign keys cascade to everything the users own.
        self.purge_in_batches("users", "deleted_at < $1", vec![Arg::Ts(before)])
            .await
    }
}

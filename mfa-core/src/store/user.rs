//! Users, their failure counters and password history.

use super::StoreResult;
use crate::model::{Contact, Lock, LockScope, LockoutRule, User, UserId, UserStatus};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Result of [`UserRepository::record_failure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// The failure was counted. `locked_until` is set when this failure
    /// started a lock.
    Counted {
        /// Consecutive failures after this one.
        failures: u32,
        /// The lock this failure started, if any.
        locked_until: Option<DateTime<Utc>>,
    },
    /// The counter was already locked: nothing was counted and the attempt
    /// must be refused without being evaluated.
    Locked(Lock),
    /// No such live user.
    NotFound,
}

/// Users and password history. A host may implement this over its own user
/// table and keep every other repository from a library store.
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Inserts a user.
    ///
    /// # Errors
    /// [`super::StoreError::Conflict`] if a live user has the same identifier.
    async fn create_user(&self, user: &User) -> StoreResult<()>;

    /// A user by id, including soft-deleted ones.
    async fn get_user(&self, id: UserId) -> StoreResult<Option<User>>;

    /// A live (not soft-deleted) user by exact identifier. Inside a unit
    /// of work a store may lock the row it returns until the unit ends,
    /// and decide the unit's later [`UserRepository::record_failure`] and
    /// [`UserRepository::reset_failures`] of that user from what it read,
    /// as [`StepReads`](super::StepReads) describes for its reads (the SQL
    /// stores do: a sign-in's first unit then counts its attempt without a
    /// statement of its own).
    async fn find_user_by_identifier(&self, identifier: &str) -> StoreResult<Option<User>>;

    /// Replaces the password hash, pushing the previous one onto the history,
    /// which keeps at most `history_limit` entries. Returns `false` if no live
    /// user has this id.
    async fn set_password(
        &self,
        id: UserId,
        password_hash: &str,
        history_limit: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Previous password hashes, newest first, at most `limit`.
    async fn password_history(&self, id: UserId, limit: u32) -> StoreResult<Vec<String>>;

    /// Replaces the contact details (a `None` field clears it); a changed
    /// email address is no longer verified (`email_verified_at` cleared).
    /// Returns `false` if no live user has this id.
    async fn set_contact(
        &self,
        id: UserId,
        contact: &Contact,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Records that the live user `id` proved `email` receives mail, at
    /// `at`, only while `email` is still the account's address (one
    /// conditional write). Returns `false` otherwise.
    ///
    /// A host's own user table that keeps no verification answers
    /// [`super::StoreError::Backend`] (the default).
    async fn mark_email_verified(
        &self,
        id: UserId,
        email: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let _ = (id, email, at);
        Err(super::StoreError::Backend(
            "this user repository does not record email verification".into(),
        ))
    }

    /// Sets the status. Returns `false` if no live user has this id.
    async fn set_status(
        &self,
        id: UserId,
        status: UserStatus,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Counts one failure against `scope`, atomically: if the counter is
    /// locked at `now` under `rule`, nothing changes and
    /// [`FailureOutcome::Locked`] is returned; otherwise the counter becomes
    /// [`LockoutRule::next`] of its current value.
    ///
    /// The engine calls this *before* evaluating a code, so concurrent
    /// guesses can never evaluate more codes than the rule allows.
    async fn record_failure(
        &self,
        id: UserId,
        scope: LockScope,
        rule: &LockoutRule,
        now: DateTime<Utc>,
    ) -> StoreResult<FailureOutcome>;

    /// Clears the counter and lock of `scope`. Returns `false` if no live user
    /// has this id.
    async fn reset_failures(&self, id: UserId, scope: LockScope) -> StoreResult<bool>;

    /// Live users locked at `now` in either scope (a lock in force, or a
    /// counter at its rule's [`LockoutRule::hard_cap`]: `password` for the
    /// password counter, `mfa` for the second-factor one), in ascending id
    /// order after `after` (from the first when `None`), at most `limit`:
    /// the administrators' list of locked accounts.
    ///
    /// A host's own user table answers [`super::StoreError::Backend`]
    /// unless it implements this (the default).
    async fn list_locked_users(
        &self,
        now: DateTime<Utc>,
        password: &LockoutRule,
        mfa: &LockoutRule,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        let _ = (now, password, mfa, after, limit);
        Err(super::StoreError::Backend(
            "this user repository does not list locked accounts".into(),
        ))
    }

    /// Soft-deletes a user. Returns `false` if no live user has this id.
    async fn soft_delete_user(&self, id: UserId, now: DateTime<Utc>) -> StoreResult<bool>;

    /// Removes users soft-deleted before `before`, with everything they own.
    /// Returns the number of users removed.
    async fn purge_deleted_users(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

//! In-process store for `mfa-core`: the reference implementation of every
//! repository trait.
//!
//! All state sits behind one mutex, so every trait operation is trivially
//! atomic; that lock is never held across an `.await`. Units of work
//! ([`UnitOfWork`]) are serialised by a second, async lock that an open unit
//! holds until it ends and every operation outside a unit waits for; each
//! table remembers the rows a unit first touches, so a rollback puts them
//! back and a unit costs what it writes. Use it for tests, development and
//! single-process deployments that can lose their state on restart.
//!
//! Every operation, and the begin and end of a unit, runs in a `DEBUG`
//! span `mfa.store` (fields `backend = "memory"` and `op`, the operation)
//! and counts in the engine step's `store_calls` (see
//! `mfa_core::observability`).
//!
//! ```
//! use mfa_core::store::{Store, UserRepository};
//! use mfa_core::model::User;
//! use mfa_store_memory::MemoryStore;
//!
//! # async fn demo() -> Result<(), mfa_core::store::StoreError> {
//! let store = MemoryStore::new();
//! let now = chrono::Utc::now();
//! let alice = User::new("alice@example.com", now);
//! store.create_user(&alice).await?;
//! assert!(store.find_user_by_identifier("alice@example.com").await?.is_some());
//! # Ok(()) }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod journal;
mod state;
#[cfg(feature = "testing")]
mod tamper;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use mfa_core::model::{
    Aal, AuditChainId, AuditEvent, AuthMethod, BackupCodeRecord, ChallengeId, ChallengePurpose,
    CodeHash, Contact, Device, DeviceId, DeviceSighting, Factor, FactorId, FactorStatus, FamilyId,
    KeyCheck, KeyCheckSubject, LockScope, LockoutRule, LoginTicket, MfaSettings, OtpChallenge,
    PushRequest, PushRequestId, PushResolution, RefreshStatus, RefreshToken, RevocationReason,
    SealedSecret, Session, SessionId, SessionStatus, TicketId, TokenHash, User, UserId, UserStatus,
    WebauthnCeremony,
};
use mfa_core::store::{
    AuditErasure, AuditFilter, AuditRepository, BackupCodeRepository, ChainPosition,
    ChallengeAttempt, ChallengeRepository, DeviceRepository, FactorRepository, FailureOutcome,
    KeyCheckRepository, NewRefreshToken, Page, PageRequest, PushRepository, RateDecision,
    RateLimiter, Repositories, RotateOutcome, SessionRepository, StepReads, StoreError,
    StoreResult, Transaction, UnitOfWork, Upserted, UserRepository,
};
use state::{RateHit, State};
use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tracing::span::EnteredSpan;
use tracing::{Instrument, Span};

/// A row naming a parent row that does not exist: what the foreign key of
/// a SQL store refuses, and reported the same way, as
/// [`StoreError::Backend`] (a broken reference is no uniqueness conflict).
#[derive(Debug)]
struct MissingParent(&'static str);

impl std::fmt::Display for MissingParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "foreign key violation: {}", self.0)
    }
}

impl std::error::Error for MissingParent {}

/// The in-memory store. Cheap to create; clone an `Arc` of it to share.
#[derive(Debug, Default)]
pub struct MemoryStore {
    shared: Arc<Shared>,
    /// This handle belongs to an open unit of work, which holds the unit
    /// lock already.
    in_unit: bool,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    /// Held by an open unit of work for its whole life, and by every single
    /// operation outside one: units are serialised, and no operation sees
    /// or changes what an open unit has not committed.
    unit: Arc<tokio::sync::Mutex<()>>,
}

/// The state, locked, and the unit lock when the caller is not a unit,
/// inside the span of the operation that locked them.
struct Locked<'a> {
    _unit: Option<tokio::sync::MutexGuard<'a, ()>>,
    state: MutexGuard<'a, State>,
    _span: EnteredSpan,
}

impl std::ops::Deref for Locked<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.state
    }
}

impl std::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.state
    }
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Locks the state for the repository operation `op`, whose span
    /// covers the wait for the unit lock and the operation itself (which
    /// never awaits once it holds the state).
    async fn lock(&self, op: &'static str) -> Locked<'_> {
        let span = operation(op);
        let unit = if self.in_unit {
            None
        } else {
            Some(self.shared.unit.lock().instrument(span.clone()).await)
        };
        Locked {
            _unit: unit,
            state: self.state(),
            _span: span.entered(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every mutation below completes before the guard drops and none can
        // panic half-way, so a poisoned lock still guards consistent data.
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The span of one store operation `op` (see `mfa_core::observability`),
/// counted for the engine step that makes it.
fn operation(op: &'static str) -> Span {
    mfa_core::observability::count_store_call();
    tracing::debug_span!("mfa.store", backend = "memory", op)
}

/// An open unit of work on a [`MemoryStore`]: it holds the store's unit
/// lock until it ends, and its writes are undone unless it commits.
struct MemoryTransaction {
    store: MemoryStore,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl MemoryTransaction {
    fn end(&mut self, commit: bool) {
        if self.guard.take().is_some() {
            let mut state = self.store.state();
            if commit {
                state.commit();
            } else {
                state.rollback();
            }
        }
    }
}

impl Drop for MemoryTransaction {
    fn drop(&mut self) {
        self.end(false);
    }
}

#[async_trait]
impl Transaction for MemoryTransaction {
    fn repositories(&self) -> &dyn Repositories {
        &self.store
    }

    async fn commit(mut self: Box<Self>) -> StoreResult<()> {
        let _span = operation("commit").entered();
        self.end(true);
        Ok(())
    }

    async fn rollback(mut self: Box<Self>) -> StoreResult<()> {
        let _span = operation("rollback").entered();
        self.end(false);
        Ok(())
    }
}

#[async_trait]
impl UnitOfWork for MemoryStore {
    async fn begin(&self) -> StoreResult<Box<dyn Transaction>> {
        let span = operation("begin");
        let guard = Arc::clone(&self.shared.unit)
            .lock_owned()
            .instrument(span.clone())
            .await;
        let _span = span.entered();
        self.state().begin();
        Ok(Box::new(MemoryTransaction {
            store: Self {
                shared: Arc::clone(&self.shared),
                in_unit: true,
            },
            guard: Some(guard),
        }))
    }
}

#[async_trait]
impl UserRepository for MemoryStore {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let mut s = self.lock("create_user").await;
        if s.users.contains_key(&user.id) {
            return Err(StoreError::Conflict("user id"));
        }
        if s.live_user_by_identifier(&user.identifier).is_some() {
            return Err(StoreError::Conflict("user identifier"));
        }
        s.users.insert(user.id, user.clone());
        Ok(())
    }

    async fn get_user(&self, id: UserId) -> StoreResult<Option<User>> {
        Ok(self.lock("get_user").await.users.get(&id).cloned())
    }

    async fn find_user_by_identifier(&self, identifier: &str) -> StoreResult<Option<User>> {
        Ok(self
            .lock("find_user_by_identifier")
            .await
            .live_user_by_identifier(identifier)
            .cloned())
    }

    async fn set_password(
        &self,
        id: UserId,
        password_hash: &str,
        history_limit: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut s = self.lock("set_password").await;
        let Some(user) = s.live_user_mut(id) else {
            return Ok(false);
        };
        let previous = user.password_hash.replace(password_hash.to_owned());
        user.updated_at = now;
        let history = s.password_history.get_or_default(id);
        if let Some(previous) = previous {
            history.insert(0, previous);
        }
        history.truncate(history_limit as usize);
        Ok(true)
    }

    async fn password_history(&self, id: UserId, limit: u32) -> StoreResult<Vec<String>> {
        let s = self.lock("password_history").await;
        Ok(s.password_history
            .get(&id)
            .map(|h| h.iter().take(limit as usize).cloned().collect())
            .unwrap_or_default())
    }

    async fn set_contact(
        &self,
        id: UserId,
        contact: &Contact,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut s = self.lock("set_contact").await;
        let Some(user) = s.live_user_mut(id) else {
            return Ok(false);
        };
        if user.email != contact.email {
            user.email_verified_at = None;
        }
        user.email.clone_from(&contact.email);
        user.phone.clone_from(&contact.phone);
        user.locale.clone_from(&contact.locale);
        user.updated_at = now;
        Ok(true)
    }

    async fn mark_email_verified(
        &self,
        id: UserId,
        email: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut s = self.lock("mark_email_verified").await;
        let Some(user) = s.live_user_mut(id) else {
            return Ok(false);
        };
        if user.email.as_deref() != Some(email) {
            return Ok(false);
        }
        user.email_verified_at = Some(at);
        user.updated_at = at;
        Ok(true)
    }

    async fn set_status(
        &self,
        id: UserId,
        status: UserStatus,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut s = self.lock("set_status").await;
        let Some(user) = s.live_user_mut(id) else {
            return Ok(false);
        };
        user.status = status;
        user.updated_at = now;
        Ok(true)
    }

    async fn record_failure(
        &self,
        id: UserId,
        scope: LockScope,
        rule: &LockoutRule,
        now: DateTime<Utc>,
    ) -> StoreResult<FailureOutcome> {
        let mut s = self.lock("record_failure").await;
        let Some(user) = s.live_user_mut(id) else {
            return Ok(FailureOutcome::NotFound);
        };
        let counter = match scope {
            LockScope::Password => &mut user.password_failures,
            LockScope::Mfa => &mut user.mfa_failures,
        };
        match rule.next(*counter, now) {
            Some(next) => {
                let started = next
                    .locked_until
                    .filter(|_| next.locked_until != counter.locked_until);
                *counter = next;
                Ok(FailureOutcome::Counted {
                    failures: next.failures,
                    locked_until: started,
                })
            }
            None => Ok(FailureOutcome::Locked(
                counter
                    .lock_at(rule, now)
                    .ok_or_else(|| StoreError::Corrupt("refused failure without a lock".into()))?,
            )),
        }
    }

    async fn reset_failures(&self, id: UserId, scope: LockScope) -> StoreResult<bool> {
        let mut s = self.lock("reset_failures").await;
        let Some(user) = s.live_user_mut(id) else {
            return Ok(false);
        };
        match scope {
            LockScope::Password => user.password_failures = Default::default(),
            LockScope::Mfa => user.mfa_failures = Default::default(),
        }
        Ok(true)
    }

    async fn list_locked_users(
        &self,
        now: DateTime<Utc>,
        password: &LockoutRule,
        mfa: &LockoutRule,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        let s = self.lock("list_locked_users").await;
        let mut list: Vec<User> = s
            .users
            .values()
            .filter(|u| {
                u.deleted_at.is_none()
                    && after.is_none_or(|a| u.id > a)
                    && (u.password_failures.lock_at(password, now).is_some()
                        || u.mfa_failures.lock_at(mfa, now).is_some())
            })
            .cloned()
            .collect();
        list.sort_by_key(|u| u.id);
        list.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(list)
    }

    async fn soft_delete_user(&self, id: UserId, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut s = self.lock("soft_delete_user").await;
        let Some(user) = s.live_user_mut(id) else {
            return Ok(false);
        };
        user.deleted_at = Some(now);
        user.updated_at = now;
        Ok(true)
    }

    async fn purge_deleted_users(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let mut s = self.lock("purge_deleted_users").await;
        let doomed: Vec<UserId> = s
            .users
            .values()
            .filter(|u| u.deleted_at.is_some_and(|d| d < before))
            .map(|u| u.id)
            .collect();
        for id in &doomed {
            s.remove_user_cascade(*id);
        }
        Ok(doomed.len() as u64)
    }
}

#[async_trait]
impl FactorRepository for MemoryStore {
    async fn create_factor(&self, factor: &Factor) -> StoreResult<()> {
        let mut s = self.lock("create_factor").await;
        if s.factors.contains_key(&factor.id) {
            return Err(StoreError::Conflict("factor id"));
        }
        s.factors.insert(factor.id, factor.clone());
        Ok(())
    }

    async fn get_factor(&self, id: FactorId) -> StoreResult<Option<Factor>> {
        Ok(self.lock("get_factor").await.factors.get(&id).cloned())
    }

    async fn list_factors(&self, user: UserId) -> StoreResult<Vec<Factor>> {
        let s = self.lock("list_factors").await;
        let mut list: Vec<Factor> = s
            .factors
            .values()
            .filter(|f| f.user_id == user && f.deleted_at.is_none())
            .cloned()
            .collect();
        list.sort_by_key(|f| (f.created_at, f.id));
        Ok(list)
    }

    async fn activate_factor(&self, id: FactorId, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut s = self.lock("activate_factor").await;
        match s.live_factor_mut(id) {
            Some(f) if f.status == FactorStatus::Pending => {
                f.status = FactorStatus::Active;
                f.confirmed_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn set_factor_status(&self, id: FactorId, status: FactorStatus) -> StoreResult<bool> {
        let mut s = self.lock("set_factor_status").await;
        Ok(s.live_factor_mut(id).map(|f| f.status = status).is_some())
    }

    async fn set_factor_secret(&self, id: FactorId, secret: &SealedSecret) -> StoreResult<bool> {
        let mut s = self.lock("set_factor_secret").await;
        Ok(s.live_factor_mut(id)
            .map(|f| f.secret = Some(secret.clone()))
            .is_some())
    }

    async fn list_sealed_factors(
        &self,
        after: Option<FactorId>,
        limit: u32,
    ) -> StoreResult<Vec<Factor>> {
        let s = self.lock("list_sealed_factors").await;
        let mut list: Vec<Factor> = s
            .factors
            .values()
            .filter(|f| f.secret.is_some() && after.is_none_or(|a| f.id > a))
            .cloned()
            .collect();
        list.sort_by_key(|f| f.id);
        list.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(list)
    }

    async fn reseal_factor_secret(
        &self,
        id: FactorId,
        expected: &SealedSecret,
        resealed: &SealedSecret,
    ) -> StoreResult<bool> {
        let mut s = self.lock("reseal_factor_secret").await;
        match s.factors.get_mut(&id) {
            Some(f) if f.secret.as_ref() == Some(expected) => {
                f.secret = Some(resealed.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn set_factor_label(&self, id: FactorId, label: Option<&str>) -> StoreResult<bool> {
        let mut s = self.lock("set_factor_label").await;
        Ok(s.live_factor_mut(id)
            .map(|f| f.label = label.map(str::to_owned))
            .is_some())
    }

    async fn advance_totp_step(
        &self,
        id: FactorId,
        step: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut s = self.lock("advance_totp_step").await;
        match s.live_factor_mut(id) {
            Some(f) if f.last_totp_step.is_none_or(|last| last < step) => {
                f.last_totp_step = Some(step);
                f.last_used_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn touch_factor(&self, id: FactorId, now: DateTime<Utc>) -> StoreResult<()> {
        if let Some(f) = self.lock("touch_factor").await.live_factor_mut(id) {
            f.last_used_at = Some(now);
        }
        Ok(())
    }

    async fn soft_delete_factor(&self, id: FactorId, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut s = self.lock("soft_delete_factor").await;
        Ok(s.live_factor_mut(id)
            .map(|f| f.deleted_at = Some(now))
            .is_some())
    }

    async fn soft_delete_factors_of(&self, user: UserId, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut s = self.lock("soft_delete_factors_of").await;
        Ok(s.factors.update_where(
            |f| f.user_id == user && f.deleted_at.is_none(),
            |f| {
                f.deleted_at = Some(now);
                true
            },
        ))
    }

    async fn get_settings(&self, user: UserId) -> StoreResult<Option<MfaSettings>> {
        Ok(self.lock("get_settings").await.settings.get(&user).cloned())
    }

    async fn put_settings(&self, settings: &MfaSettings) -> StoreResult<()> {
        self.lock("put_settings")
            .await
            .settings
            .insert(settings.user_id, settings.clone());
        Ok(())
    }

    async fn purge_deleted_factors(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let mut s = self.lock("purge_deleted_factors").await;
        let n = s.factors.len();
        s.factors
            .retain(|_, f| f.deleted_at.is_none_or(|d| d >= before));
        Ok((n - s.factors.len()) as u64)
    }
}

#[async_trait]
impl BackupCodeRepository for MemoryStore {
    async fn replace_backup_codes(
        &self,
        user: UserId,
        codes: &[BackupCodeRecord],
    ) -> StoreResult<()> {
        let mut s = self.lock("replace_backup_codes").await;
        s.backup_codes.insert(user, codes.to_vec());
        Ok(())
    }

    async fn consume_backup_code(
        &self,
        user: UserId,
        hash: &CodeHash,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut s = self.lock("consume_backup_code").await;
        let Some(codes) = s.backup_codes.get_mut(&user) else {
            return Ok(false);
        };
        match codes
            .iter_mut()
            .find(|c| c.used_at.is_none() && c.code_hash == *hash)
        {
            Some(code) => {
                code.used_at = Some(now);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn remaining_backup_codes(&self, user: UserId) -> StoreResult<u32> {
        let s = self.lock("remaining_backup_codes").await;
        let n = s.backup_codes.get(&user).map_or(0, |codes| {
            codes.iter().filter(|c| c.used_at.is_none()).count()
        });
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn delete_backup_codes(&self, user: UserId) -> StoreResult<u64> {
        Ok(self
            .lock("delete_backup_codes")
            .await
            .backup_codes
            .remove(&user)
            .map_or(0, |codes| codes.len() as u64))
    }
}

#[async_trait]
impl StepReads for MemoryStore {}

#[async_trait]
impl KeyCheckRepository for MemoryStore {
    async fn key_checks(&self) -> StoreResult<Vec<KeyCheck>> {
        Ok(self
            .lock("key_checks")
            .await
            .key_checks
            .values()
            .cloned()
            .collect())
    }

    async fn add_key_check(&self, check: &KeyCheck) -> StoreResult<bool> {
        let mut s = self.lock("add_key_check").await;
        if s.key_checks.contains_key(&check.subject) {
            return Ok(false);
        }
        s.key_checks.insert(check.subject, check.clone());
        Ok(true)
    }

    async fn remove_key_check(&self, subject: KeyCheckSubject) -> StoreResult<bool> {
        Ok(self
            .lock("remove_key_check")
            .await
            .key_checks
            .remove(&subject)
            .is_some())
    }
}

#[async_trait]
impl PushRepository for MemoryStore {
    async fn create_push_request(&self, request: &PushRequest) -> StoreResult<()> {
        let mut s = self.lock("create_push_request").await;
        if s.push_requests.contains_key(&request.id) {
            return Err(StoreError::Conflict("push request id"));
        }
        if !s.users.contains_key(&request.user_id) {
            return Err(StoreError::backend(MissingParent("push request user")));
        }
        s.push_requests.insert(request.id, request.clone());
        Ok(())
    }

    async fn get_push_request(&self, id: PushRequestId) -> StoreResult<Option<PushRequest>> {
        Ok(self
            .lock("get_push_request")
            .await
            .push_requests
            .get(&id)
            .cloned())
    }

    async fn resolve_push_request(
        &self,
        id: PushRequestId,
        resolution: &PushResolution,
    ) -> StoreResult<bool> {
        let mut s = self.lock("resolve_push_request").await;
        match s.push_requests.get_mut(&id) {
            Some(r) if r.is_pending(resolution.at) => {
                r.status = resolution.status;
                r.factor_id = Some(resolution.factor_id);
                r.user_verified = resolution.user_verified;
                r.answered_at = Some(resolution.at);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn consume_push_request(
        &self,
        id: PushRequestId,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut s = self.lock("consume_push_request").await;
        match s.push_requests.get_mut(&id) {
            Some(r) if r.is_completable(now) => {
                r.consumed_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn count_pending_push_requests(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<u32> {
        let s = self.lock("count_pending_push_requests").await;
        let n = s
            .push_requests
            .values()
            .filter(|r| r.user_id == user && r.is_pending(now))
            .count();
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn purge_push_requests(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let mut s = self.lock("purge_push_requests").await;
        let n = s.push_requests.len();
        s.push_requests.retain(|_, r| r.expires_at >= before);
        Ok((n - s.push_requests.len()) as u64)
    }
}

#[async_trait]
impl ChallengeRepository for MemoryStore {
    async fn issue_challenge(&self, challenge: &OtpChallenge) -> StoreResult<()> {
        let mut s = self.lock("issue_challenge").await;
        if s.challenges.contains_key(&challenge.id) {
            return Err(StoreError::Conflict("challenge id"));
        }
        s.challenges.update_where(
            |c| {
                c.factor_id == challenge.factor_id
                    && c.purpose == challenge.purpose
                    && c.consumed_at.is_none()
            },
            |c| {
                c.consumed_at = Some(challenge.created_at);
                true
            },
        );
        s.challenges.insert(challenge.id, challenge.clone());
        Ok(())
    }

    async fn get_challenge(&self, id: ChallengeId) -> StoreResult<Option<OtpChallenge>> {
        Ok(self
            .lock("get_challenge")
            .await
            .challenges
            .get(&id)
            .cloned())
    }

    async fn latest_challenge(
        &self,
        factor: FactorId,
        purpose: ChallengePurpose,
    ) -> StoreResult<Option<OtpChallenge>> {
        let s = self.lock("latest_challenge").await;
        Ok(s.challenges
            .values()
            .filter(|c| c.factor_id == factor && c.purpose == purpose)
            .max_by_key(|c| (c.created_at, c.id))
            .cloned())
    }

    async fn record_challenge_attempt(
        &self,
        id: ChallengeId,
        now: DateTime<Utc>,
    ) -> StoreResult<ChallengeAttempt> {
        let mut s = self.lock("record_challenge_attempt").await;
        let Some(c) = s.challenges.get_mut(&id) else {
            return Ok(ChallengeAttempt::Closed);
        };
        if c.consumed_at.is_some() || now >= c.expires_at {
            return Ok(ChallengeAttempt::Closed);
        }
        if c.attempts >= c.max_attempts {
            return Ok(ChallengeAttempt::Exhausted);
        }
        c.attempts += 1;
        Ok(ChallengeAttempt::Allowed {
            attempts: c.attempts,
        })
    }

    async fn consume_challenge(&self, id: ChallengeId, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut s = self.lock("consume_challenge").await;
        match s.challenges.get_mut(&id) {
            Some(c) if c.consumed_at.is_none() && now < c.expires_at => {
                c.consumed_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn create_ticket(&self, ticket: &LoginTicket) -> StoreResult<()> {
        let mut s = self.lock("create_ticket").await;
        if s.tickets.contains_key(&ticket.id)
            || s.tickets
                .values()
                .any(|t| t.token_hash == ticket.token_hash)
        {
            return Err(StoreError::Conflict("ticket"));
        }
        s.tickets.insert(ticket.id, ticket.clone());
        Ok(())
    }

    async fn find_ticket(&self, token_hash: &TokenHash) -> StoreResult<Option<LoginTicket>> {
        let s = self.lock("find_ticket").await;
        Ok(s.tickets
            .values()
            .find(|t| t.token_hash == *token_hash)
            .cloned())
    }

    async fn consume_ticket(&self, id: TicketId, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut s = self.lock("consume_ticket").await;
        match s.tickets.get_mut(&id) {
            Some(t) if t.is_open(now) => {
                t.consumed_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn create_ceremony(&self, ceremony: &WebauthnCeremony) -> StoreResult<()> {
        let mut s = self.lock("create_ceremony").await;
        if s.ceremonies.contains_key(&ceremony.id) {
            return Err(StoreError::Conflict("ceremony id"));
        }
        s.ceremonies.insert(ceremony.id, ceremony.clone());
        Ok(())
    }

    async fn take_ceremony(
        &self,
        id: ChallengeId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<WebauthnCeremony>> {
        let mut s = self.lock("take_ceremony").await;
        match s.ceremonies.get_mut(&id) {
            Some(c) if c.is_open(now) => {
                c.consumed_at = Some(now);
                Ok(Some(c.clone()))
            }
            _ => Ok(None),
        }
    }

    async fn purge_expired_challenges(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let mut s = self.lock("purge_expired_challenges").await;
        let n = s.challenges.len() + s.ceremonies.len() + s.tickets.len();
        s.challenges.retain(|_, c| c.expires_at >= before);
        s.ceremonies.retain(|_, c| c.expires_at >= before);
        s.tickets.retain(|_, t| t.expires_at >= before);
        Ok((n - s.challenges.len() - s.ceremonies.len() - s.tickets.len()) as u64)
    }
}

#[async_trait]
impl DeviceRepository for MemoryStore {
    async fn upsert_device(&self, sighting: &DeviceSighting) -> StoreResult<Upserted> {
        let mut s = self.lock("upsert_device").await;
        let known = s.devices.find_key(|d| {
            d.user_id == sighting.user_id
                && d.fingerprint_hash == sighting.fingerprint_hash
                && d.deleted_at.is_none()
        });
        if let Some(device) = known.and_then(|id| s.devices.get_mut(&id)) {
            sighting.apply_to(device);
            return Ok(Upserted {
                device: device.clone(),
                created: false,
            });
        }
        let device = sighting.new_device();
        s.devices.insert(device.id, device.clone());
        Ok(Upserted {
            device,
            created: true,
        })
    }

    async fn get_device(&self, id: DeviceId) -> StoreResult<Option<Device>> {
        Ok(self.lock("get_device").await.devices.get(&id).cloned())
    }

    async fn list_devices(&self, user: UserId) -> StoreResult<Vec<Device>> {
        let s = self.lock("list_devices").await;
        let mut list: Vec<Device> = s
            .devices
            .values()
            .filter(|d| d.user_id == user && d.deleted_at.is_none())
            .cloned()
            .collect();
        list.sort_by_key(|d| Reverse((d.last_seen_at, d.id)));
        Ok(list)
    }

    async fn trust_device(
        &self,
        id: DeviceId,
        token_hash: &TokenHash,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut s = self.lock("trust_device").await;
        match s.devices.get_mut(&id) {
            Some(d) if d.deleted_at.is_none() && d.compromised_at.is_none() => {
                d.trust_token_hash = Some(*token_hash);
                d.trusted_at = Some(now);
                d.trusted_until = Some(until);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn find_trusted_device(
        &self,
        user: UserId,
        token_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Device>> {
        let s = self.lock("find_trusted_device").await;
        Ok(s.devices
            .values()
            .find(|d| {
                d.user_id == user
                    && d.trust_token_hash.as_ref() == Some(token_hash)
                    && d.is_trusted(now)
            })
            .cloned())
    }

    async fn rotate_trust_token(
        &self,
        id: DeviceId,
        old: &TokenHash,
        new: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut s = self.lock("rotate_trust_token").await;
        match s.devices.get_mut(&id) {
            Some(d) if d.is_trusted(now) && d.trust_token_hash.as_ref() == Some(old) => {
                d.trust_token_hash = Some(*new);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn revoke_device_trust(&self, id: DeviceId) -> StoreResult<bool> {
        let mut s = self.lock("revoke_device_trust").await;
        Ok(s.devices.get_mut(&id).is_some_and(State::clear_trust))
    }

    async fn revoke_all_device_trust(&self, user: UserId) -> StoreResult<u64> {
        let mut s = self.lock("revoke_all_device_trust").await;
        Ok(s.devices
            .update_where(|d| d.user_id == user, State::clear_trust))
    }

    async fn mark_device_compromised(&self, id: DeviceId, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut s = self.lock("mark_device_compromised").await;
        match s.devices.get_mut(&id) {
            Some(d) if d.deleted_at.is_none() && d.compromised_at.is_none() => {
                d.compromised_at = Some(now);
                State::clear_trust(d);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn soft_delete_device(&self, id: DeviceId, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut s = self.lock("soft_delete_device").await;
        match s.devices.get_mut(&id) {
            Some(d) if d.deleted_at.is_none() => {
                d.deleted_at = Some(now);
                State::clear_trust(d);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn purge_deleted_devices(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let mut s = self.lock("purge_deleted_devices").await;
        let n = s.devices.len();
        s.devices
            .retain(|_, d| d.deleted_at.is_none_or(|at| at >= before));
        Ok((n - s.devices.len()) as u64)
    }
}

#[async_trait]
impl SessionRepository for MemoryStore {
    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        let mut s = self.lock("create_session").await;
        if s.sessions.contains_key(&session.id) {
            return Err(StoreError::Conflict("session id"));
        }
        s.sessions.insert(session.id, session.clone());
        Ok(())
    }

    async fn get_session(&self, id: SessionId) -> StoreResult<Option<Session>> {
        Ok(self.lock("get_session").await.sessions.get(&id).cloned())
    }

    async fn list_sessions(&self, user: UserId, now: DateTime<Utc>) -> StoreResult<Vec<Session>> {
        let s = self.lock("list_sessions").await;
        let mut list: Vec<Session> = s
            .sessions
            .values()
            .filter(|x| {
                x.user_id == user && x.status != SessionStatus::Revoked && now < x.expires_at
            })
            .cloned()
            .collect();
        list.sort_by_key(|x| Reverse((x.created_at, x.id)));
        Ok(list)
    }

    async fn authenticate_session(
        &self,
        id: SessionId,
        aal: Aal,
        amr: &[AuthMethod],
        mfa_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut s = self.lock("authenticate_session").await;
        match s.sessions.get_mut(&id) {
            Some(x) if x.status != SessionStatus::Revoked && now < x.expires_at => {
                x.status = SessionStatus::Active;
                x.aal = aal;
                x.amr = amr.to_vec();
                if mfa_at.is_some() {
                    x.mfa_at = mfa_at;
                }
                x.last_seen_at = now;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn revoke_session(
        &self,
        id: SessionId,
        reason: RevocationReason,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        Ok(self
            .lock("revoke_session")
            .await
            .revoke_session(id, reason, now))
    }

    async fn revoke_user_sessions(
        &self,
        user: UserId,
        except: Option<SessionId>,
        reason: RevocationReason,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut s = self.lock("revoke_user_sessions").await;
        let ids: Vec<SessionId> = s
            .sessions
            .values()
            .filter(|x| x.user_id == user && Some(x.id) != except)
            .map(|x| x.id)
            .collect();
        Ok(ids
            .into_iter()
            .filter(|id| s.revoke_session(*id, reason, now))
            .count() as u64)
    }

    async fn revoke_device_sessions(
        &self,
        device: DeviceId,
        reason: RevocationReason,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut s = self.lock("revoke_device_sessions").await;
        let ids: Vec<SessionId> = s
            .sessions
            .values()
            .filter(|x| x.device_id == Some(device))
            .map(|x| x.id)
            .collect();
        Ok(ids
            .into_iter()
            .filter(|id| s.revoke_session(*id, reason, now))
            .count() as u64)
    }

    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()> {
        let mut s = self.lock("insert_refresh_token").await;
        if s.refresh_tokens.contains_key(&token.id)
            || s.refresh_by_hash.contains_key(token.token_hash.as_bytes())
        {
            return Err(StoreError::Conflict("refresh token"));
        }
        s.insert_refresh(token.clone());
        Ok(())
    }

    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        new: &NewRefreshToken,
        now: DateTime<Utc>,
    ) -> StoreResult<RotateOutcome> {
        let mut s = self.lock("rotate_refresh_token").await;
        let Some(current) = s.refresh_by_hash(presented).cloned() else {
            return Ok(RotateOutcome::Unknown);
        };
        match current.status {
            RefreshStatus::Revoked => {
                return Ok(RotateOutcome::Revoked {
                    user_id: current.user_id,
                });
            }
            RefreshStatus::Rotated => {
                if new.grace.is_some()
                    && let Some(retried) = s.retry_within_grace(&current, now)
                {
                    return Ok(retried);
                }
                s.revoke_family(current.family_id, now);
                s.revoke_session(current.session_id, RevocationReason::TokenReuse, now);
                return Ok(RotateOutcome::Reused {
                    family_id: current.family_id,
                    session_id: current.session_id,
                    user_id: current.user_id,
                });
            }
            RefreshStatus::Active => {}
        }
        let Some(session) = s
            .sessions
            .get(&current.session_id)
            .filter(|x| x.is_active(now) && now < current.expires_at)
            .cloned()
        else {
            return Ok(RotateOutcome::Expired {
                user_id: current.user_id,
            });
        };
        if s.refresh_tokens.contains_key(&new.id)
            || s.refresh_by_hash.contains_key(new.token_hash.as_bytes())
        {
            return Err(StoreError::Conflict("refresh token"));
        }
        if let Some(old) = s.refresh_tokens.get_mut(&current.id) {
            old.status = RefreshStatus::Rotated;
            old.used_at = Some(now);
        }
        // The parent's grace ends with this rotation of its child.
        if let Some(parent) = current.parent_id {
            s.refresh_grace.remove(&parent);
        }
        if let Some(grace) = &new.grace {
            s.refresh_grace.insert(current.id, grace.clone());
        }
        let token = RefreshToken {
            id: new.id,
            family_id: current.family_id,
            session_id: current.session_id,
            user_id: current.user_id,
            parent_id: Some(current.id),
            token_hash: new.token_hash,
            status: RefreshStatus::Active,
            created_at: now,
            expires_at: new.expires_at.min(session.expires_at),
            used_at: None,
        };
        s.insert_refresh(token.clone());
        let session = match s.sessions.get_mut(&current.session_id) {
            Some(x) => {
                x.last_seen_at = now;
                x.clone()
            }
            None => session,
        };
        Ok(RotateOutcome::Rotated { token, session })
    }

    async fn revoke_refresh_family(
        &self,
        family: FamilyId,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        Ok(self
            .lock("revoke_refresh_family")
            .await
            .revoke_family(family, now))
    }

    async fn purge_sessions(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let mut s = self.lock("purge_sessions").await;
        let doomed: Vec<SessionId> = s
            .sessions
            .values()
            .filter(|x| x.expires_at < before || x.revoked_at.is_some_and(|r| r < before))
            .map(|x| x.id)
            .collect();
        for id in &doomed {
            s.remove_session_cascade(*id);
        }
        Ok(doomed.len() as u64)
    }
}

#[async_trait]
impl AuditRepository for MemoryStore {
    /// A second event at one chain position is a conflict.
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        let mut s = self.lock("append_audit").await;
        if let Some(link) = &event.link {
            let position = (link.chain, link.seq);
            if s.audit_positions.contains_key(&position) {
                return Err(StoreError::Conflict("audit chain position"));
            }
            s.audit_positions.insert(position, event.id);
        }
        s.audit.push(event.clone());
        Ok(())
    }

    async fn query_audit(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<AuditEvent>> {
        let s = self.lock("query_audit").await;
        let mut matching: Vec<&AuditEvent> = s
            .audit
            .iter()
            .filter(|e| state::audit_matches(filter, e))
            .filter(|e| page.after.is_none_or(|c| (e.at, e.id) < (c.at, c.id)))
            .collect();
        matching.sort_by_key(|e| Reverse((e.at, e.id)));
        let limit = page.effective_limit() as usize;
        let more = matching.len() > limit;
        let items: Vec<AuditEvent> = matching.into_iter().take(limit).cloned().collect();
        let next = if more {
            items
                .last()
                .map(|e| mfa_core::store::AuditCursor { at: e.at, id: e.id })
        } else {
            None
        };
        Ok(Page { items, next })
    }

    async fn scan_audit_chains(
        &self,
        after: Option<ChainPosition>,
        before: Option<DateTime<Utc>>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEvent>> {
        let s = self.lock("scan_audit_chains").await;
        let after = after.map(|p| (p.chain, p.seq));
        let mut linked: Vec<(AuditChainId, u64, &AuditEvent)> = s
            .audit
            .iter()
            .filter(|e| before.is_none_or(|before| e.at < before))
            .filter_map(|e| e.link.map(|l| (l.chain, l.seq, e)))
            .filter(|(chain, seq, _)| after.is_none_or(|a| (*chain, *seq) > a))
            .collect();
        // Chain ids compare as their UUIDs' bytes, like the SQL stores'.
        linked.sort_unstable_by_key(|(chain, seq, _)| (*chain, *seq));
        let limit = limit.clamp(1, SCAN_LIMIT) as usize;
        Ok(linked
            .into_iter()
            .take(limit)
            .map(|(_, _, e)| e.clone())
            .collect())
    }

    async fn count_unlinked_audit(&self, since: Option<DateTime<Utc>>) -> StoreResult<u64> {
        let s = self.lock("count_unlinked_audit").await;
        let n = s
            .audit
            .iter()
            .filter(|e| e.link.is_none() && since.is_none_or(|since| e.at >= since))
            .count();
        Ok(n as u64)
    }

    async fn erase_audit_personal(&self, user: UserId) -> StoreResult<AuditErasure> {
        let mut s = self.lock("erase_audit_personal").await;
        let mut done = AuditErasure::default();
        s.audit.change_each(|event| {
            if event.user_id != Some(user) {
                return;
            }
            if event.link.is_some_and(|link| link.personal.is_none()) {
                done.kept += 1;
            } else {
                event.erase_personal_fields();
                done.erased += 1;
            }
        });
        Ok(done)
    }

    async fn delete_audit_prefix(
        &self,
        cuts: &[ChainPosition],
        unlinked_before: Option<DateTime<Utc>>,
    ) -> StoreResult<u64> {
        let mut s = self.lock("delete_audit_prefix").await;
        let cut: HashMap<AuditChainId, u64> = cuts.iter().map(|c| (c.chain, c.seq)).collect();
        let mut gone = Vec::new();
        s.audit.retain(|e| {
            let archived = match e.link {
                Some(link) => cut.get(&link.chain).is_some_and(|&seq| link.seq <= seq),
                None => unlinked_before.is_some_and(|before| e.at < before),
            };
            if archived {
                gone.push(e.link);
            }
            !archived
        });
        let removed = gone.len() as u64;
        for link in gone.into_iter().flatten() {
            s.audit_positions.remove(&(link.chain, link.seq));
        }
        Ok(removed)
    }
}

/// Events a [`AuditRepository::scan_audit_chains`] call returns at most,
/// as on the SQL stores.
const SCAN_LIMIT: u32 = 10_000;

#[async_trait]
impl RateLimiter for MemoryStore {
    async fn hit(
        &self,
        key: &str,
        limit: u32,
        window: TimeDelta,
        now: DateTime<Utc>,
    ) -> StoreResult<RateDecision> {
        let mut s = self.lock("hit").await;
        let hits = s.rate_hits.get_or_default(key.to_owned());
        let window_start = now - window;
        hits.retain(|hit| hit.at > window_start);
        let used = u32::try_from(hits.len()).unwrap_or(u32::MAX);
        if used >= limit {
            let oldest = hits.iter().map(|hit| hit.at).min().unwrap_or(now);
            return Ok(RateDecision::Limited {
                retry_after: (oldest + window - now).max(TimeDelta::zero()),
            });
        }
        hits.push(RateHit {
            at: now,
            expires_at: now + window,
        });
        Ok(RateDecision::Allowed {
            remaining: limit - used - 1,
        })
    }

    async fn purge_rate_limits(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut s = self.lock("purge_rate_limits").await;
        let mut removed = 0u64;
        s.rate_hits.update_where(
            |hits| hits.iter().any(|hit| hit.expires_at <= now),
            |hits| {
                let before = hits.len();
                hits.retain(|hit| hit.expires_at > now);
                removed += (before - hits.len()) as u64;
                true
            },
        );
        s.rate_hits.retain(|_, hits| !hits.is_empty());
        Ok(removed)
    }
}

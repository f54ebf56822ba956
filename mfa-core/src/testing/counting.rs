//! A store wrapper that counts round trips: every repository call is one,
//! and so are the begin and the commit (or rollback) of a unit of work.
//! Benchmarks and tests use it to report and pin how many store operations
//! each engine step makes, on any backend.

use crate::model::*;
use crate::store::*;
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a [`CountingStore`] forwards the repository calls to: a store, or
/// the repositories of an open unit of work.
pub trait Backing: Send + Sync {
    /// The repositories behind the wrapper.
    fn repositories(&self) -> &dyn Repositories;
}

impl<S: Store> Backing for S {
    fn repositories(&self) -> &dyn Repositories {
        self
    }
}

/// The open unit of work of a [`CountingStore`], as a [`Backing`].
pub struct UnitBacking(Box<dyn Transaction>);

impl Backing for UnitBacking {
    fn repositories(&self) -> &dyn Repositories {
        self.0.repositories()
    }
}

#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    commits: AtomicU64,
}

/// Wraps a store and counts the repository calls made through it, inside
/// units of work too.
#[derive(Debug, Default)]
pub struct CountingStore<S> {
    inner: S,
    counters: Arc<Counters>,
}

impl<S> CountingStore<S> {
    /// Wraps `inner` with zero counts.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            counters: Arc::default(),
        }
    }

    /// Round trips made so far: repository calls, and the begin and end of
    /// every unit of work.
    pub fn calls(&self) -> u64 {
        self.counters.calls.load(Ordering::Relaxed)
    }

    /// Units of work committed so far.
    pub fn commits(&self) -> u64 {
        self.counters.commits.load(Ordering::Relaxed)
    }

    /// Sets both counts back to zero and returns the round trips.
    pub fn reset(&self) -> u64 {
        self.counters.commits.store(0, Ordering::Relaxed);
        self.counters.calls.swap(0, Ordering::Relaxed)
    }

    /// Sets both counts back to zero and returns `(round trips, commits)`.
    pub fn take(&self) -> (u64, u64) {
        let commits = self.counters.commits.swap(0, Ordering::Relaxed);
        (self.counters.calls.swap(0, Ordering::Relaxed), commits)
    }

    /// The wrapped store.
    pub const fn inner(&self) -> &S {
        &self.inner
    }

    fn tick(&self) {
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
    }
}

/// An open unit of work of a [`CountingStore`]: its calls are counted in
/// the store's counters.
struct CountingUnit {
    repositories: CountingStore<UnitBacking>,
}

#[async_trait]
impl Transaction for CountingUnit {
    fn repositories(&self) -> &dyn Repositories {
        &self.repositories
    }

    async fn commit(self: Box<Self>) -> StoreResult<()> {
        let counted = self.repositories;
        counted.tick();
        counted.inner.0.commit().await?;
        counted.counters.commits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn rollback(self: Box<Self>) -> StoreResult<()> {
        let counted = self.repositories;
        counted.tick();
        counted.inner.0.rollback().await
    }
}

#[async_trait]
impl<S: Store> UnitOfWork for CountingStore<S> {
    async fn begin(&self) -> StoreResult<Box<dyn Transaction>> {
        self.begin_with(Durability::Flushed).await
    }

    async fn begin_with(&self, durability: Durability) -> StoreResult<Box<dyn Transaction>> {
        self.tick();
        let tx = self.inner.begin_with(durability).await?;
        Ok(Box::new(CountingUnit {
            repositories: CountingStore {
                inner: UnitBacking(tx),
                counters: Arc::clone(&self.counters),
            },
        }))
    }
}

#[async_trait]
impl<S: Backing> UserRepository for CountingStore<S> {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        self.tick();
        self.inner.repositories().create_user(user).await
    }

    async fn get_user(&self, id: UserId) -> StoreResult<Option<User>> {
        self.tick();
        self.inner.repositories().get_user(id).await
    }

    async fn find_user_by_identifier(&self, identifier: &str) -> StoreResult<Option<User>> {
        self.tick();
        self.inner
            .repositories()
            .find_user_by_identifier(identifier)
            .await
    }

    async fn set_password(
        &self,
        id: UserId,
        password_hash: &str,
        history_limit: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.tick();
        self.inner
            .repositories()
            .set_password(id, password_hash, history_limit, now)
            .await
    }

    async fn password_history(&self, id: UserId, limit: u32) -> StoreResult<Vec<String>> {
        self.tick();
        self.inner.repositories().password_history(id, limit).await
    }

    async fn set_contact(
        &self,
        id: UserId,
        contact: &Contact,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.tick();
        self.inner
            .repositories()
            .set_contact(id, contact, now)
            .await
    }

    async fn mark_email_verified(
        &self,
        id: UserId,
        email: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.tick();
        self.inner
            .repositories()
            .mark_email_verified(id, email, at)
            .await
    }

    async fn set_status(
        &self,
        id: UserId,
        status: UserStatus,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.tick();
        self.inner.repositories().set_status(id, status, now).await
    }

    async fn record_failure(
        &self,
        id: UserId,
        scope: LockScope,
        rule: &LockoutRule,
        now: DateTime<Utc>,
    ) -> StoreResult<FailureOutcome> {
        self.tick();
        self.inner
            .repositories()
            .record_failure(id, scope, rule, now)
            .await
    }

    async fn reset_failures(&self, id: UserId, scope: LockScope) -> StoreResult<bool> {
        self.tick();
        self.inner.repositories().reset_failures(id, scope).await
    }

    async fn list_locked_users(
        &self,
        now: DateTime<Utc>,
        password: &LockoutRule,
        mfa: &LockoutRule,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        self.tick();
        self.inner
            .repositories()
            .list_locked_users(now, password, mfa, after, limit)
            .await
    }

    async fn soft_delete_user(&self, id: UserId, now: DateTime<Utc>) -> StoreResult<bool> {
        self.tick();
        self.inner.repositories().soft_delete_user(id, now).await
    }

    async fn purge_deleted_users(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.tick();
        self.inner.repositories().purge_deleted_users(before).await
    }
}

#[async_trait]
impl<S: Backing> FactorRepository for CountingStore<S> {
    async fn create_factor(&self, factor: &Factor) -> StoreResult<()> {
        self.tick();
        self.inner.repositories().create_factor(factor).await
    }

    async fn get_factor(&self, id: FactorId) -> StoreResult<Option<Factor>> {
        self.tick();
        self.inner.repositories().get_factor(id).await
    }

    async fn list_factors(&self, user: UserId) -> StoreResult<Vec<Factor>> {
        self.tick();
        self.inner.repositories().list_factors(user).await
    }

    async fn activate_factor(&self, id: FactorId, now: DateTime<Utc>) -> StoreResult<bool> {
        self.tick();
        self.inner.repositories().activate_factor(id, now).await
    }

    async fn set_factor_status(&self, id: FactorId, status: FactorStatus) -> StoreResult<bool> {
        self.tick();
        self.inner
            .repositories()
            .set_factor_status(id, status)
            .await
    }

    async fn set_factor_secret(&self, id: FactorId, secret: &SealedSecret) -> StoreResult<bool> {
        self.tick();
        self.inner
            .repositories()
            .set_factor_secret(id, secret)
            .await
    }

    async fn list_sealed_factors(
        &self,
        after: Option<FactorId>,
        limit: u32,
    ) -> StoreResult<Vec<Factor>> {
        self.tick();
        self.inner
            .repositories()
            .list_sealed_factors(after, limit)
            .await
    }

    async fn reseal_factor_secret(
        &self,
        id: FactorId,
        expected: &SealedSecret,
        resealed: &SealedSecret,
    ) -> StoreResult<bool> {
        self.tick();
        self.inner
            .repositories()
            .reseal_factor_secret(id, expected, resealed)
            .await
    }

    async fn set_factor_label(&self, id: FactorId, label: Option<&str>) -> StoreResult<bool> {
        self.tick();
        self.inner.repositories().set_factor_label(id, label).await
    }

    async fn advance_totp_step(
        &self,
        id: FactorId,
        step: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.tick();
        self.inner
            .repositories()
            .advance_totp_step(id, step, now)
            .await
    }

    async fn touch_factor(&self, id: FactorId, now: DateTime<Utc>) -> StoreResult<()> {
        self.tick();
        self.inner.repositories().touch_factor(id, now).await
    }

    async fn soft_delete_factor(&self, id: FactorId, now: DateTime<Utc>) -> StoreResult<bool> {
        self.tick();
        self.inner.repositories().soft_delete_factor(id, now).await
    }

    async fn soft_delete_factors_of(&self, user: UserId, now: DateTime<Utc>) -> StoreResult<u64> {
        self.tick();
        self.inner
            .repositories()
            .soft_delete_factors_of(user, now)
            .await
    }

    async fn get_settings(&self, user: UserId) -> StoreResult<Option<MfaSettings>> {
        self.tick();
        self.inner.repositories().get_settings(user).await
    }

    async fn put_settings(&self, settings: &MfaSettings) -> StoreResult<()> {
        self.tick();
        self.inner.repositories().put_settings(settings).await
    }

    async fn purge_deleted_factors(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.tick();
        self.inner
            .repositories()
            .purge_deleted_factors(before)
            .await
    }
}

#[async_trait]
impl<S: Backing> BackupCodeRepository for CountingStore<S> {
    async fn replace_backup_codes(
        &self,
        user: UserId,
        codes: &[BackupCodeRecord],
    ) -> StoreResult<()> {
        self.tick();
        self.inner
            .repositories()
            .replace_backup_codes(user, codes)
            .await
    }

    async fn consume_backup_code(
        &self,
        user: UserId,
        hash: &CodeHash,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.tick();
        self.inner
            .repositories()
            .consume_backup_code(user, hash, now)
            .await
    }

    async fn remaining_backup_codes(&self, user: UserId) -> StoreResult<u32> {
        self.tick();
        self.inner.repositories().remaining_backup_codes(user).await
    }

    async fn spend_backup_code(
        &self,
        user: UserId,
        hashes: &[CodeHash],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<u32>> {
        self.tick();
        self.inner
            .repositories()
            .spend_backup_code(user, hashes, now)
            .await
    }

    async fn delete_backup_codes(&self, user: UserId) -> StoreResult<u64> {
        self.tick();
        self.inner.repositories().delete_backup_codes(user).await
    }
}

#[async_trait]
impl<S: Backing> StepReads for CountingStore<S> {
    async fn ticket_context(
        &self,
        token_hash: &TokenHash,
        with_user: bool,
    ) -> StoreResult<Option<TicketContext>> {
        self.tick();
        self.inner
            .repositories()
            .ticket_context(token_hash, with_user)
            .await
    }

    async fn sign_in_context(&self, user: UserId, with_user: bool) -> StoreResult<SignInContext> {
        self.tick();
        self.inner
            .repositories()
            .sign_in_context(user, with_user)
            .await
    }
}

#[async_trait]
impl<S: Backing> ChallengeRepository for CountingStore<S> {
    async fn issue_challenge(&self, challenge: &OtpChallenge) -> StoreResult<()> {
        self.tick();
        self.inner.repositories().issue_challenge(challenge).await
    }

    async fn get_challenge(&self, id: ChallengeId) -> StoreResult<Option<OtpChallenge>> {
        self.tick();
        self.inner.repositories().get_challenge(id).await
    }

    async fn latest_challenge(
        &self,
        factor: FactorId,
        purpose: ChallengePurpose,
    ) -> StoreResult<Option<OtpChallenge>> {
        self.tick();
        self.inner
            .repositories()
            .latest_challenge(factor, purpose)
            .await
    }

    async fn record_challenge_attempt(
        &self,
        id: ChallengeId,
        now: DateTime<Utc>,
    ) -> StoreResult<ChallengeAttempt> {
        self.tick();
        self.inner
            .repositories()
            .record_challenge_attempt(id, now)
            .await
    }

    async fn consume_challenge(&self, id: ChallengeId, now: DateTime<Utc>) -> StoreResult<bool> {
        self.tick();
        self.inner.repositories().consume_challenge(id, now).await
    }

    async fn create_ticket(&self, ticket: &LoginTicket) -> StoreResult<()> {
        self.tick();
        self.inner.repositories().create_ticket(ticket).await
    }

    async fn find_ticket(&self, token_hash: &TokenHash) -> StoreResult<Option<LoginTicket>> {
        self.tick();
        self.inner.repositories().find_ticket(token_hash).await
    }

    async fn consume_ticket(&self, id: TicketId, now: DateTime<Utc>) -> StoreResult<bool> {
        self.tick();
        self.inner.repositories().consume_ticket(id, now).await
    }

    async fn create_ceremony(&self, ceremony: &WebauthnCeremony) -> StoreResult<()> {
        self.tick();
        self.inner.repositories().create_ceremony(ceremony).await
    }

    async fn take_ceremony(
        &self,
        id: ChallengeId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<WebauthnCeremony>> {
        self.tick();
        self.inner.repositories().take_ceremony(id, now).await
    }

    async fn purge_expired_challenges(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.tick();
        self.inner
            .repositories()
            .purge_expired_challenges(before)
            .await
    }
}

#[async_trait]
impl<S: Backing> DeviceRepository for CountingStore<S> {
    async fn upsert_device(&self, sighting: &DeviceSighting) -> StoreResult<Upserted> {
        self.tick();
        self.inner.repositories().upsert_device(sighting).await
    }

    async fn get_device(&self, id: DeviceId) -> StoreResult<Option<Device>> {
        self.tick();
        self.inner.repositories().get_device(id).await
    }

    async fn list_devices(&self, user: UserId) -> StoreResult<Vec<Device>> {
        self.tick();
        self.inner.repositories().list_devices(user).await
    }

    async fn trust_device(
        &self,
        id: DeviceId,
        token_hash: &TokenHash,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.tick();
        self.inner
            .repositories()
            .trust_device(id, token_hash, until, now)
            .await
    }

    async fn find_trusted_device(
        &self,
        user: UserId,
        token_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Device>> {
        self.tick();
        self.inner
            .repositories()
            .find_trusted_device(user, token_hash, now)
            .await
    }

    async fn rotate_trust_token(
        &self,
        id: DeviceId,
        old: &TokenHash,
        new: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.tick();
        self.inner
            .repositories()
            .rotate_trust_token(id, old, new, now)
            .await
    }

    async fn revoke_device_trust(&self, id: DeviceId) -> StoreResult<bool> {
        self.tick();
        self.inner.repositories().revoke_device_trust(id).await
    }

    async fn revoke_all_device_trust(&self, user: UserId) -> StoreResult<u64> {
        self.tick();
        self.inner
            .repositories()
            .revoke_all_device_trust(user)
            .await
    }

    async fn mark_device_compromised(&self, id: DeviceId, now: DateTime<Utc>) -> StoreResult<bool> {
        self.tick();
        self.inner
            .repositories()
            .mark_device_compromised(id, now)
            .await
    }

    async fn soft_delete_device(&self, id: DeviceId, now: DateTime<Utc>) -> StoreResult<bool> {
        self.tick();
        self.inner.repositories().soft_delete_device(id, now).await
    }

    async fn purge_deleted_devices(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.tick();
        self.inner
            .repositories()
            .purge_deleted_devices(before)
            .await
    }
}

#[async_trait]
impl<S: Backing> SessionRepository for CountingStore<S> {
    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        self.tick();
        self.inner.repositories().create_session(session).await
    }

    async fn get_session(&self, id: SessionId) -> StoreResult<Option<Session>> {
        self.tick();
        self.inner.repositories().get_session(id).await
    }

    async fn list_sessions(&self, user: UserId, now: DateTime<Utc>) -> StoreResult<Vec<Session>> {
        self.tick();
        self.inner.repositories().list_sessions(user, now).await
    }

    async fn authenticate_session(
        &self,
        id: SessionId,
        aal: Aal,
        amr: &[AuthMethod],
        mfa_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.tick();
        self.inner
            .repositories()
            .authenticate_session(id, aal, amr, mfa_at, now)
            .await
    }

    async fn revoke_session(
        &self,
        id: SessionId,
        reason: RevocationReason,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.tick();
        self.inner
            .repositories()
            .revoke_session(id, reason, now)
            .await
    }

    async fn revoke_user_sessions(
        &self,
        user: UserId,
        except: Option<SessionId>,
        reason: RevocationReason,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        self.tick();
        self.inner
            .repositories()
            .revoke_user_sessions(user, except, reason, now)
            .await
    }

    async fn revoke_device_sessions(
        &self,
        device: DeviceId,
        reason: RevocationReason,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        self.tick();
        self.inner
            .repositories()
            .revoke_device_sessions(device, reason, now)
            .await
    }

    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()> {
        self.tick();
        self.inner.repositories().insert_refresh_token(token).await
    }

    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        new: &NewRefreshToken,
        now: DateTime<Utc>,
    ) -> StoreResult<RotateOutcome> {
        self.tick();
        self.inner
            .repositories()
            .rotate_refresh_token(presented, new, now)
            .await
    }

    async fn revoke_refresh_family(
        &self,
        family: FamilyId,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        self.tick();
        self.inner
            .repositories()
            .revoke_refresh_family(family, now)
            .await
    }

    async fn purge_sessions(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.tick();
        self.inner.repositories().purge_sessions(before).await
    }
}

#[async_trait]
impl<S: Backing> AuditRepository for CountingStore<S> {
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        self.tick();
        self.inner.repositories().append_audit(event).await
    }

    async fn query_audit(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<AuditEvent>> {
        self.tick();
        self.inner.repositories().query_audit(filter, page).await
    }

    async fn scan_audit_chains(
        &self,
        after: Option<ChainPosition>,
        before: Option<DateTime<Utc>>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEvent>> {
        self.tick();
        self.inner
            .repositories()
            .scan_audit_chains(after, before, limit)
            .await
    }

    async fn count_unlinked_audit(&self, since: Option<DateTime<Utc>>) -> StoreResult<u64> {
        self.tick();
        self.inner.repositories().count_unlinked_audit(since).await
    }

    async fn erase_audit_personal(&self, user: UserId) -> StoreResult<AuditErasure> {
        self.tick();
        self.inner.repositories().erase_audit_personal(user).await
    }

    async fn delete_audit_prefix(
        &self,
        cuts: &[ChainPosition],
        unlinked_before: Option<DateTime<Utc>>,
    ) -> StoreResult<u64> {
        self.tick();
        self.inner
            .repositories()
            .delete_audit_prefix(cuts, unlinked_before)
            .await
    }
}

#[async_trait]
impl<S: Backing> RateLimiter for CountingStore<S> {
    async fn hit(
        &self,
        key: &str,
        limit: u32,
        window: TimeDelta,
        now: DateTime<Utc>,
    ) -> StoreResult<RateDecision> {
        self.tick();
        self.inner.repositories().hit(key, limit, window, now).await
    }

    async fn hit_in_order(
        &self,
        hits: &[RateHit<'_>],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<RateDecision>> {
        self.tick();
        self.inner.repositories().hit_in_order(hits, now).await
    }

    async fn purge_rate_limits(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.tick();
        self.inner.repositories().purge_rate_limits(now).await
    }
}

#[async_trait]
impl<S: Backing> KeyCheckRepository for CountingStore<S> {
    async fn key_checks(&self) -> StoreResult<Vec<KeyCheck>> {
        self.tick();
        self.inner.repositories().key_checks().await
    }

    async fn add_key_check(&self, check: &KeyCheck) -> StoreResult<bool> {
        self.tick();
        self.inner.repositories().add_key_check(check).await
    }

    async fn remove_key_check(&self, subject: KeyCheckSubject) -> StoreResult<bool> {
        self.tick();
        self.inner.repositories().remove_key_check(subject).await
    }
}

#[async_trait]
impl<S: Backing> PushRepository for CountingStore<S> {
    async fn create_push_request(&self, request: &PushRequest) -> StoreResult<()> {
        self.tick();
        self.inner.repositories().create_push_request(request).await
    }

    async fn get_push_request(&self, id: PushRequestId) -> StoreResult<Option<PushRequest>> {
        self.tick();
        self.inner.repositories().get_push_request(id).await
    }

    async fn resolve_push_request(
        &self,
        id: PushRequestId,
        resolution: &PushResolution,
    ) -> StoreResult<bool> {
        self.tick();
        self.inner
            .repositories()
            .resolve_push_request(id, resolution)
            .await
    }

    async fn consume_push_request(
        &self,
        id: PushRequestId,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.tick();
        self.inner
            .repositories()
            .consume_push_request(id, now)
            .await
    }

    async fn count_pending_push_requests(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<u32> {
        self.tick();
        self.inner
            .repositories()
            .count_pending_push_requests(user, now)
            .await
    }

    async fn purge_push_requests(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.tick();
        self.inner.repositories().purge_push_requests(before).await
    }
}

//! A store wrapper that counts round trips: every repository call is one.
//! Benchmarks and docs use it to report how many store operations each
//! engine step makes, on any backend.

use crate::model::*;
use crate::store::*;
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use std::sync::atomic::{AtomicU64, Ordering};

/// Wraps a store and counts the repository calls made through it.
#[derive(Debug, Default)]
pub struct CountingStore<S> {
    inner: S,
    calls: AtomicU64,
}

impl<S> CountingStore<S> {
    /// Wraps `inner` with a zero count.
    pub const fn new(inner: S) -> Self {
        Self {
            inner,
            calls: AtomicU64::new(0),
        }
    }

    /// Calls made so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Sets the count back to zero and returns what it was.
    pub fn reset(&self) -> u64 {
        self.calls.swap(0, Ordering::Relaxed)
    }

    /// The wrapped store.
    pub const fn inner(&self) -> &S {
        &self.inner
    }

    fn tick(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

#[async_trait]
impl<S: UserRepository> UserRepository for CountingStore<S> {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        self.tick();
        self.inner.create_user(user).await
    }

    async fn get_user(&self, id: UserId) -> StoreResult<Option<User>> {
        self.tick();
        self.inner.get_user(id).await
    }

    async fn find_user_by_identifier(&self, identifier: &str) -> StoreResult<Option<User>> {
        self.tick();
        self.inner.find_user_by_identifier(identifier).await
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
            .set_password(id, password_hash, history_limit, now)
            .await
    }

    async fn password_history(&self, id: UserId, limit: u32) -> StoreResult<Vec<String>> {
        self.tick();
        self.inner.password_history(id, limit).await
    }

    async fn set_contact(
        &self,
        id: UserId,
        contact: &Contact,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.tick();
        self.inner.set_contact(id, contact, now).await
    }

    async fn set_status(
        &self,
        id: UserId,
        status: UserStatus,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.tick();
        self.inner.set_status(id, status, now).await
    }

    async fn record_failure(
        &self,
        id: UserId,
        scope: LockScope,
        rule: &LockoutRule,
        now: DateTime<Utc>,
    ) -> StoreResult<FailureOutcome> {
        self.tick();
        self.inner.record_failure(id, scope, rule, now).await
    }

    async fn reset_failures(&self, id: UserId, scope: LockScope) -> StoreResult<bool> {
        self.tick();
        self.inner.reset_failures(id, scope).await
    }

    async fn soft_delete_user(&self, id: UserId, now: DateTime<Utc>) -> StoreResult<bool> {
        self.tick();
        self.inner.soft_delete_user(id, now).await
    }

    async fn purge_deleted_users(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.tick();
        self.inner.purge_deleted_users(before).await
    }
}

#[async_trait]
impl<S: FactorRepository> FactorRepository for CountingStore<S> {
    async fn create_factor(&self, factor: &Factor) -> StoreResult<()> {
        self.tick();
        self.inner.create_factor(factor).await
    }

    async fn get_factor(&self, id: FactorId) -> StoreResult<Option<Factor>> {
        self.tick();
        self.inner.get_factor(id).await
    }

    async fn list_factors(&self, user: UserId) -> StoreResult<Vec<Factor>> {
        self.tick();
        self.inner.list_factors(user).await
    }

    async fn activate_factor(&self, id: FactorId, now: DateTime<Utc>) -> StoreResult<bool> {
        self.tick();
        self.inner.activate_factor(id, now).await
    }

    async fn set_factor_status(&self, id: FactorId, status: FactorStatus) -> StoreResult<bool> {
        self.tick();
        self.inner.set_factor_status(id, status).await
    }

    async fn set_factor_secret(&self, id: FactorId, secret: &SealedSecret) -> StoreResult<bool> {
        self.tick();
        self.inner.set_factor_secret(id, secret).await
    }

    async fn advance_totp_step(
        &self,
        id: FactorId,
        step: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.tick();
        self.inner.advance_totp_step(id, step, now).await
    }

    async fn touch_factor(&self, id: FactorId, now: DateTime<Utc>) -> StoreResult<()> {
        self.tick();
        self.inner.touch_factor(id, now).await
    }

    async fn soft_delete_factor(&self, id: FactorId, now: DateTime<Utc>) -> StoreResult<bool> {
        self.tick();
        self.inner.soft_delete_factor(id, now).await
    }

    async fn soft_delete_factors_of(&self, user: UserId, now: DateTime<Utc>) -> StoreResult<u64> {
        self.tick();
        self.inner.soft_delete_factors_of(user, now).await
    }

    async fn get_settings(&self, user: UserId) -> StoreResult<Option<MfaSettings>> {
        self.tick();
        self.inner.get_settings(user).await
    }

    async fn put_settings(&self, settings: &MfaSettings) -> StoreResult<()> {
        self.tick();
        self.inner.put_settings(settings).await
    }

    async fn purge_deleted_factors(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.tick();
        self.inner.purge_deleted_factors(before).await
    }
}

#[async_trait]
impl<S: BackupCodeRepository> BackupCodeRepository for CountingStore<S> {
    async fn replace_backup_codes(
        &self,
        user: UserId,
        codes: &[BackupCodeRecord],
    ) -> StoreResult<()> {
        self.tick();
        self.inner.replace_backup_codes(user, codes).await
    }

    async fn consume_backup_code(
        &self,
        user: UserId,
        hash: &CodeHash,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.tick();
        self.inner.consume_backup_code(user, hash, now).await
    }

    async fn remaining_backup_codes(&self, user: UserId) -> StoreResult<u32> {
        self.tick();
        self.inner.remaining_backup_codes(user).await
    }

    async fn delete_backup_codes(&self, user: UserId) -> StoreResult<u64> {
        self.tick();
        self.inner.delete_backup_codes(user).await
    }
}

#[async_trait]
impl<S: ChallengeRepository> ChallengeRepository for CountingStore<S> {
    async fn issue_challenge(&self, challenge: &OtpChallenge) -> StoreResult<()> {
        self.tick();
        self.inner.issue_challenge(challenge).await
    }

    async fn get_challenge(&self, id: ChallengeId) -> StoreResult<Option<OtpChallenge>> {
        self.tick();
        self.inner.get_challenge(id).await
    }

    async fn latest_challenge(
        &self,
        factor: FactorId,
        purpose: ChallengePurpose,
    ) -> StoreResult<Option<OtpChallenge>> {
        self.tick();
        self.inner.latest_challenge(factor, purpose).await
    }

    async fn record_challenge_attempt(
        &self,
        id: ChallengeId,
        now: DateTime<Utc>,
    ) -> StoreResult<ChallengeAttempt> {
        self.tick();
        self.inner.record_challenge_attempt(id, now).await
    }

    async fn consume_challenge(&self, id: ChallengeId, now: DateTime<Utc>) -> StoreResult<bool> {
        self.tick();
        self.inner.consume_challenge(id, now).await
    }

    async fn create_ticket(&self, ticket: &LoginTicket) -> StoreResult<()> {
        self.tick();
        self.inner.create_ticket(ticket).await
    }

    async fn find_ticket(&self, token_hash: &TokenHash) -> StoreResult<Option<LoginTicket>> {
        self.tick();
        self.inner.find_ticket(token_hash).await
    }

    async fn consume_ticket(&self, id: TicketId, now: DateTime<Utc>) -> StoreResult<bool> {
        self.tick();
        self.inner.consume_ticket(id, now).await
    }

    async fn purge_expired_challenges(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.tick();
        self.inner.purge_expired_challenges(before).await
    }
}

#[async_trait]
impl<S: DeviceRepository> DeviceRepository for CountingStore<S> {
    async fn upsert_device(&self, sighting: &DeviceSighting) -> StoreResult<Upserted> {
        self.tick();
        self.inner.upsert_device(sighting).await
    }

    async fn get_device(&self, id: DeviceId) -> StoreResult<Option<Device>> {
        self.tick();
        self.inner.get_device(id).await
    }

    async fn list_devices(&self, user: UserId) -> StoreResult<Vec<Device>> {
        self.tick();
        self.inner.list_devices(user).await
    }

    async fn trust_device(
        &self,
        id: DeviceId,
        token_hash: &TokenHash,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.tick();
        self.inner.trust_device(id, token_hash, until, now).await
    }

    async fn find_trusted_device(
        &self,
        user: UserId,
        token_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Device>> {
        self.tick();
        self.inner.find_trusted_device(user, token_hash, now).await
    }

    async fn rotate_trust_token(
        &self,
        id: DeviceId,
        old: &TokenHash,
        new: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.tick();
        self.inner.rotate_trust_token(id, old, new, now).await
    }

    async fn revoke_device_trust(&self, id: DeviceId) -> StoreResult<bool> {
        self.tick();
        self.inner.revoke_device_trust(id).await
    }

    async fn revoke_all_device_trust(&self, user: UserId) -> StoreResult<u64> {
        self.tick();
        self.inner.revoke_all_device_trust(user).await
    }

    async fn mark_device_compromised(&self, id: DeviceId, now: DateTime<Utc>) -> StoreResult<bool> {
        self.tick();
        self.inner.mark_device_compromised(id, now).await
    }

    async fn soft_delete_device(&self, id: DeviceId, now: DateTime<Utc>) -> StoreResult<bool> {
        self.tick();
        self.inner.soft_delete_device(id, now).await
    }

    async fn purge_deleted_devices(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.tick();
        self.inner.purge_deleted_devices(before).await
    }
}

#[async_trait]
impl<S: SessionRepository> SessionRepository for CountingStore<S> {
    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        self.tick();
        self.inner.create_session(session).await
    }

    async fn get_session(&self, id: SessionId) -> StoreResult<Option<Session>> {
        self.tick();
        self.inner.get_session(id).await
    }

    async fn list_sessions(&self, user: UserId, now: DateTime<Utc>) -> StoreResult<Vec<Session>> {
        self.tick();
        self.inner.list_sessions(user, now).await
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
        self.inner.revoke_session(id, reason, now).await
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
        self.inner.revoke_device_sessions(device, reason, now).await
    }

    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()> {
        self.tick();
        self.inner.insert_refresh_token(token).await
    }

    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        new: &NewRefreshToken,
        now: DateTime<Utc>,
    ) -> StoreResult<RotateOutcome> {
        self.tick();
        self.inner.rotate_refresh_token(presented, new, now).await
    }

    async fn revoke_refresh_family(
        &self,
        family: FamilyId,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        self.tick();
        self.inner.revoke_refresh_family(family, now).await
    }

    async fn purge_sessions(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.tick();
        self.inner.purge_sessions(before).await
    }
}

#[async_trait]
impl<S: AuditRepository> AuditRepository for CountingStore<S> {
    async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        self.tick();
        self.inner.append_audit(event).await
    }

    async fn query_audit(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<AuditEvent>> {
        self.tick();
        self.inner.query_audit(filter, page).await
    }
}

#[async_trait]
impl<S: RateLimiter> RateLimiter for CountingStore<S> {
    async fn hit(
        &self,
        key: &str,
        limit: u32,
        window: TimeDelta,
        now: DateTime<Utc>,
    ) -> StoreResult<RateDecision> {
        self.tick();
        self.inner.hit(key, limit, window, now).await
    }

    async fn purge_rate_limits(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.tick();
        self.inner.purge_rate_limits(now).await
    }
}

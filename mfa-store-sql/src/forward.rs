//! [`forward_repositories!`]: the public store types of the driver crates
//! are their own types (with their own constructors); every repository
//! method forwards to the [`SqlStore`](crate::SqlStore) inside.

/// Implements every repository trait of `mfa_core::store`, and
/// `UnitOfWork`, for `$store` by forwarding to its field
/// `$inner: SqlStore<_>`; gives `$store` the store's counters as an
/// inherent `stats()` and through [`Instrumented`](crate::Instrumented).
/// When this crate is built with feature `testing` (as the driver crates'
/// tests build it), also the test helpers of `testing`: the tamper edits
/// of the audit chain suite (`mfa_core::testing::chains::AuditTamper`) and
/// raw statements (`testing::RawStatements`).
///
/// ```ignore
/// pub struct PgStore { inner: mfa_store_sql::SqlStore<PgDriver> }
/// mfa_store_sql::forward_repositories!(PgStore => inner);
/// ```
#[macro_export]
macro_rules! forward_repositories {
    ($store:ty => $inner:ident) => {
        impl $store {
            /// The round-trip and commit counters of this store, shared by
            /// its clones and the units of work it begins (see
            /// [`mfa_store_sql::stats`]($crate::stats)).
            #[must_use]
            pub fn stats(&self) -> &$crate::StoreStats {
                self.$inner.stats()
            }
        }
        impl $crate::Instrumented for $store {
            fn stats(&self) -> &$crate::StoreStats {
                self.$inner.stats()
            }
            fn dialect(&self) -> &'static $crate::sql::Dialect {
                self.$inner.sql_dialect()
            }
            fn joins_statements(&self) -> bool {
                self.$inner.joins_statements()
            }
            fn carries_commits(&self) -> bool {
                self.$inner.carries_commits()
            }
            fn pipelines(&self) -> bool {
                self.$inner.pipelines()
            }
        }
        const _: () = {
            use $crate::__private::*;
            #[$crate::__private::async_trait]
            impl $crate::__private::UserRepository for $store {
                async fn create_user(&self, user: &User) -> StoreResult<()> {
                    self.$inner.create_user(user).await
                }
                async fn get_user(&self, id: UserId) -> StoreResult<Option<User>> {
                    self.$inner.get_user(id).await
                }
                async fn find_user_by_identifier(
                    &self,
                    identifier: &str,
                ) -> StoreResult<Option<User>> {
                    self.$inner.find_user_by_identifier(identifier).await
                }
                async fn set_password(
                    &self,
                    id: UserId,
                    password_hash: &str,
                    history_limit: u32,
                    now: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    self.$inner
                        .set_password(id, password_hash, history_limit, now)
                        .await
                }
                async fn password_history(
                    &self,
                    id: UserId,
                    limit: u32,
                ) -> StoreResult<Vec<String>> {
                    self.$inner.password_history(id, limit).await
                }
                async fn set_contact(
                    &self,
                    id: UserId,
                    contact: &Contact,
                    now: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    self.$inner.set_contact(id, contact, now).await
                }
                async fn mark_email_verified(
                    &self,
                    id: UserId,
                    email: &str,
                    at: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    self.$inner.mark_email_verified(id, email, at).await
                }
                async fn set_status(
                    &self,
                    id: UserId,
                    status: UserStatus,
                    now: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    self.$inner.set_status(id, status, now).await
                }
                async fn record_failure(
                    &self,
                    id: UserId,
                    scope: LockScope,
                    rule: &LockoutRule,
                    now: DateTime<Utc>,
                ) -> StoreResult<FailureOutcome> {
                    self.$inner.record_failure(id, scope, rule, now).await
                }
                async fn reset_failures(&self, id: UserId, scope: LockScope) -> StoreResult<bool> {
                    self.$inner.reset_failures(id, scope).await
                }
                async fn list_locked_users(
                    &self,
                    now: DateTime<Utc>,
                    password: &LockoutRule,
                    mfa: &LockoutRule,
                    after: Option<UserId>,
                    limit: u32,
                ) -> StoreResult<Vec<User>> {
                    self.$inner
                        .list_locked_users(now, password, mfa, after, limit)
                        .await
                }
                async fn soft_delete_user(
                    &self,
                    id: UserId,
                    now: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    self.$inner.soft_delete_user(id, now).await
                }
                async fn purge_deleted_users(&self, before: DateTime<Utc>) -> StoreResult<u64> {
                    self.$inner.purge_deleted_users(before).await
                }
            }
            #[$crate::__private::async_trait]
            impl $crate::__private::FactorRepository for $store {
                async fn create_factor(&self, factor: &Factor) -> StoreResult<()> {
                    self.$inner.create_factor(factor).await
                }
                async fn get_factor(&self, id: FactorId) -> StoreResult<Option<Factor>> {
                    self.$inner.get_factor(id).await
                }
                async fn list_factors(&self, user: UserId) -> StoreResult<Vec<Factor>> {
                    self.$inner.list_factors(user).await
                }
                async fn activate_factor(
                    &self,
                    id: FactorId,
                    now: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    self.$inner.activate_factor(id, now).await
                }
                async fn set_factor_status(
                    &self,
                    id: FactorId,
                    status: FactorStatus,
                ) -> StoreResult<bool> {
                    self.$inner.set_factor_status(id, status).await
                }
                async fn set_factor_secret(
                    &self,
                    id: FactorId,
                    secret: &SealedSecret,
                ) -> StoreResult<bool> {
                    self.$inner.set_factor_secret(id, secret).await
                }
                async fn list_sealed_factors(
                    &self,
                    after: Option<FactorId>,
                    limit: u32,
                ) -> StoreResult<Vec<Factor>> {
                    self.$inner.list_sealed_factors(after, limit).await
                }
                async fn reseal_factor_secret(
                    &self,
                    id: FactorId,
                    expected: &SealedSecret,
                    resealed: &SealedSecret,
                ) -> StoreResult<bool> {
                    self.$inner.reseal_factor_secret(id, expected, resealed).await
                }
                async fn set_factor_label(
                    &self,
                    id: FactorId,
                    label: Option<&str>,
                ) -> StoreResult<bool> {
                    self.$inner.set_factor_label(id, label).await
                }
                async fn advance_totp_step(
                    &self,
                    id: FactorId,
                    step: i64,
                    now: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    self.$inner.advance_totp_step(id, step, now).await
                }
                async fn touch_factor(&self, id: FactorId, now: DateTime<Utc>) -> StoreResult<()> {
                    self.$inner.touch_factor(id, now).await
                }
                async fn soft_delete_factor(
                    &self,
                    id: FactorId,
                    now: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    self.$inner.soft_delete_factor(id, now).await
                }
                async fn soft_delete_factors_of(
                    &self,
                    user: UserId,
                    now: DateTime<Utc>,
                ) -> StoreResult<u64> {
                    self.$inner.soft_delete_factors_of(user, now).await
                }
                async fn get_settings(&self, user: UserId) -> StoreResult<Option<MfaSettings>> {
                    self.$inner.get_settings(user).await
                }
                async fn put_settings(&self, settings: &MfaSettings) -> StoreResult<()> {
                    self.$inner.put_settings(settings).await
                }
                async fn purge_deleted_factors(&self, before: DateTime<Utc>) -> StoreResult<u64> {
                    self.$inner.purge_deleted_factors(before).await
                }
            }
            #[$crate::__private::async_trait]
            impl $crate::__private::BackupCodeRepository for $store {
                async fn replace_backup_codes(
                    &self,
                    user: UserId,
                    codes: &[BackupCodeRecord],
                ) -> StoreResult<()> {
                    self.$inner.replace_backup_codes(user, codes).await
                }
                async fn consume_backup_code(
                    &self,
                    user: UserId,
                    hash: &CodeHash,
                    now: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    self.$inner.consume_backup_code(user, hash, now).await
                }
                async fn remaining_backup_codes(&self, user: UserId) -> StoreResult<u32> {
                    self.$inner.remaining_backup_codes(user).await
                }
                async fn spend_backup_code(
                    &self,
                    user: UserId,
                    hashes: &[CodeHash],
                    now: DateTime<Utc>,
                ) -> StoreResult<Option<u32>> {
                    self.$inner.spend_backup_code(user, hashes, now).await
                }
                async fn delete_backup_codes(&self, user: UserId) -> StoreResult<u64> {
                    self.$inner.delete_backup_codes(user).await
                }
            }
            #[$crate::__private::async_trait]
            impl $crate::__private::ChallengeRepository for $store {
                async fn issue_challenge(&self, challenge: &OtpChallenge) -> StoreResult<()> {
                    self.$inner.issue_challenge(challenge).await
                }
                async fn get_challenge(
                    &self,
                    id: ChallengeId,
                ) -> StoreResult<Option<OtpChallenge>> {
                    self.$inner.get_challenge(id).await
                }
                async fn latest_challenge(
                    &self,
                    factor: FactorId,
                    purpose: ChallengePurpose,
                ) -> StoreResult<Option<OtpChallenge>> {
                    self.$inner.latest_challenge(factor, purpose).await
                }
                async fn record_challenge_attempt(
                    &self,
                    id: ChallengeId,
                    now: DateTime<Utc>,
                ) -> StoreResult<ChallengeAttempt> {
                    self.$inner.record_challenge_attempt(id, now).await
                }
                async fn consume_challenge(
                    &self,
                    id: ChallengeId,
                    now: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    self.$inner.consume_challenge(id, now).await
                }
                async fn create_ticket(&self, ticket: &LoginTicket) -> StoreResult<()> {
                    self.$inner.create_ticket(ticket).await
                }
                async fn find_ticket(
                    &self,
                    token_hash: &TokenHash,
                ) -> StoreResult<Option<LoginTicket>> {
                    self.$inner.find_ticket(token_hash).await
                }
                async fn consume_ticket(
                    &self,
                    id: TicketId,
                    now: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    self.$inner.consume_ticket(id, now).await
                }
                async fn create_ceremony(&self, ceremony: &WebauthnCeremony) -> StoreResult<()> {
                    self.$inner.create_ceremony(ceremony).await
                }
                async fn take_ceremony(
                    &self,
                    id: ChallengeId,
                    now: DateTime<Utc>,
                ) -> StoreResult<Option<WebauthnCeremony>> {
                    self.$inner.take_ceremony(id, now).await
                }
                async fn purge_expired_challenges(
                    &self,
                    before: DateTime<Utc>,
                ) -> StoreResult<u64> {
                    self.$inner.purge_expired_challenges(before).await
                }
            }
            #[$crate::__private::async_trait]
            impl $crate::__private::DeviceRepository for $store {
                async fn upsert_device(&self, sighting: &DeviceSighting) -> StoreResult<Upserted> {
                    self.$inner.upsert_device(sighting).await
                }
                async fn get_device(&self, id: DeviceId) -> StoreResult<Option<Device>> {
                    self.$inner.get_device(id).await
                }
                async fn list_devices(&self, user: UserId) -> StoreResult<Vec<Device>> {
                    self.$inner.list_devices(user).await
                }
                async fn trust_device(
                    &self,
                    id: DeviceId,
                    token_hash: &TokenHash,
                    until: DateTime<Utc>,
                    now: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    self.$inner.trust_device(id, token_hash, until, now).await
                }
                async fn find_trusted_device(
                    &self,
                    user: UserId,
                    token_hash: &TokenHash,
                    now: DateTime<Utc>,
                ) -> StoreResult<Option<Device>> {
                    self.$inner.find_trusted_device(user, token_hash, now).await
                }
                async fn rotate_trust_token(
                    &self,
                    id: DeviceId,
                    old: &TokenHash,
                    new: &TokenHash,
                    now: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    self.$inner.rotate_trust_token(id, old, new, now).await
                }
                async fn revoke_device_trust(&self, id: DeviceId) -> StoreResult<bool> {
                    self.$inner.revoke_device_trust(id).await
                }
                async fn revoke_all_device_trust(&self, user: UserId) -> StoreResult<u64> {
                    self.$inner.revoke_all_device_trust(user).await
                }
                async fn mark_device_compromised(
                    &self,
                    id: DeviceId,
                    now: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    self.$inner.mark_device_compromised(id, now).await
                }
                async fn soft_delete_device(
                    &self,
                    id: DeviceId,
                    now: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    self.$inner.soft_delete_device(id, now).await
                }
                async fn purge_deleted_devices(&self, before: DateTime<Utc>) -> StoreResult<u64> {
                    self.$inner.purge_deleted_devices(before).await
                }
            }
            #[$crate::__private::async_trait]
            impl $crate::__private::SessionRepository for $store {
                async fn create_session(&self, session: &Session) -> StoreResult<()> {
                    self.$inner.create_session(session).await
                }
                async fn get_session(&self, id: SessionId) -> StoreResult<Option<Session>> {
                    self.$inner.get_session(id).await
                }
                async fn list_sessions(
                    &self,
                    user: UserId,
                    now: DateTime<Utc>,
                ) -> StoreResult<Vec<Session>> {
                    self.$inner.list_sessions(user, now).await
                }
                async fn authenticate_session(
                    &self,
                    id: SessionId,
                    aal: Aal,
                    amr: &[AuthMethod],
                    mfa_at: Option<DateTime<Utc>>,
                    now: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    self.$inner
                        .authenticate_session(id, aal, amr, mfa_at, now)
                        .await
                }
                async fn revoke_session(
                    &self,
                    id: SessionId,
                    reason: RevocationReason,
                    now: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    self.$inner.revoke_session(id, reason, now).await
                }
                async fn revoke_user_sessions(
                    &self,
                    user: UserId,
                    except: Option<SessionId>,
                    reason: RevocationReason,
                    now: DateTime<Utc>,
                ) -> StoreResult<u64> {
                    self.$inner
                        .revoke_user_sessions(user, except, reason, now)
                        .await
                }
                async fn revoke_device_sessions(
                    &self,
                    device: DeviceId,
                    reason: RevocationReason,
                    now: DateTime<Utc>,
                ) -> StoreResult<u64> {
                    self.$inner
                        .revoke_device_sessions(device, reason, now)
                        .await
                }
                async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()> {
                    self.$inner.insert_refresh_token(token).await
                }
                async fn rotate_refresh_token(
                    &self,
                    presented: &TokenHash,
                    new: &NewRefreshToken,
                    now: DateTime<Utc>,
                ) -> StoreResult<RotateOutcome> {
                    self.$inner.rotate_refresh_token(presented, new, now).await
                }
                async fn revoke_refresh_family(
                    &self,
                    family: FamilyId,
                    now: DateTime<Utc>,
                ) -> StoreResult<u64> {
                    self.$inner.revoke_refresh_family(family, now).await
                }
                async fn purge_sessions(&self, before: DateTime<Utc>) -> StoreResult<u64> {
                    self.$inner.purge_sessions(before).await
                }
            }
            #[$crate::__private::async_trait]
            impl $crate::__private::AuditRepository for $store {
                async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
                    self.$inner.append_audit(event).await
                }
                async fn query_audit(
                    &self,
                    filter: &AuditFilter,
                    page: &PageRequest,
                ) -> StoreResult<Page<AuditEvent>> {
                    self.$inner.query_audit(filter, page).await
                }
                async fn scan_audit_chains(
                    &self,
                    after: Option<ChainPosition>,
                    before: Option<DateTime<Utc>>,
                    limit: u32,
                ) -> StoreResult<Vec<AuditEvent>> {
                    self.$inner.scan_audit_chains(after, before, limit).await
                }
                async fn count_unlinked_audit(
                    &self,
                    since: Option<DateTime<Utc>>,
                ) -> StoreResult<u64> {
                    self.$inner.count_unlinked_audit(since).await
                }
                async fn erase_audit_personal(&self, user: UserId) -> StoreResult<AuditErasure> {
                    self.$inner.erase_audit_personal(user).await
                }
                async fn delete_audit_prefix(
                    &self,
                    cuts: &[ChainPosition],
                    unlinked_before: Option<DateTime<Utc>>,
                ) -> StoreResult<u64> {
                    self.$inner.delete_audit_prefix(cuts, unlinked_before).await
                }
            }
            #[$crate::__private::async_trait]
            impl $crate::__private::RateLimiter for $store {
                async fn hit(
                    &self,
                    key: &str,
                    limit: u32,
                    window: TimeDelta,
                    now: DateTime<Utc>,
                ) -> StoreResult<RateDecision> {
                    self.$inner.hit(key, limit, window, now).await
                }
                async fn hit_in_order(
                    &self,
                    hits: &[RateHit<'_>],
                    now: DateTime<Utc>,
                ) -> StoreResult<Vec<RateDecision>> {
                    self.$inner.hit_in_order(hits, now).await
                }
                async fn purge_rate_limits(&self, now: DateTime<Utc>) -> StoreResult<u64> {
                    self.$inner.purge_rate_limits(now).await
                }
            }
            #[$crate::__private::async_trait]
            impl $crate::__private::StepReads for $store {
                async fn ticket_context(
                    &self,
                    token_hash: &TokenHash,
                    with_user: bool,
                ) -> StoreResult<Option<TicketContext>> {
                    self.$inner.ticket_context(token_hash, with_user).await
                }
                async fn sign_in_context(
                    &self,
                    user: UserId,
                    with_user: bool,
                ) -> StoreResult<SignInContext> {
                    self.$inner.sign_in_context(user, with_user).await
                }
            }
            #[$crate::__private::async_trait]
            impl $crate::__private::KeyCheckRepository for $store {
                async fn key_checks(&self) -> StoreResult<Vec<KeyCheck>> {
                    self.$inner.key_checks().await
                }
                async fn add_key_check(&self, check: &KeyCheck) -> StoreResult<bool> {
                    self.$inner.add_key_check(check).await
                }
                async fn remove_key_check(&self, subject: KeyCheckSubject) -> StoreResult<bool> {
                    self.$inner.remove_key_check(subject).await
                }
            }
            #[$crate::__private::async_trait]
            impl $crate::__private::PushRepository for $store {
                async fn create_push_request(&self, request: &PushRequest) -> StoreResult<()> {
                    self.$inner.create_push_request(request).await
                }
                async fn get_push_request(
                    &self,
                    id: PushRequestId,
                ) -> StoreResult<Option<PushRequest>> {
                    self.$inner.get_push_request(id).await
                }
                async fn resolve_push_request(
                    &self,
                    id: PushRequestId,
                    resolution: &PushResolution,
                ) -> StoreResult<bool> {
                    self.$inner.resolve_push_request(id, resolution).await
                }
                async fn consume_push_request(
                    &self,
                    id: PushRequestId,
                    now: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    self.$inner.consume_push_request(id, now).await
                }
                async fn count_pending_push_requests(
                    &self,
                    user: UserId,
                    now: DateTime<Utc>,
                ) -> StoreResult<u32> {
                    self.$inner.count_pending_push_requests(user, now).await
                }
                async fn purge_push_requests(&self, before: DateTime<Utc>) -> StoreResult<u64> {
                    self.$inner.purge_push_requests(before).await
                }
            }
            #[$crate::__private::async_trait]
            impl $crate::__private::UnitOfWork for $store {
                async fn begin(&self) -> StoreResult<Box<dyn Transaction>> {
                    self.$inner.begin().await
                }

                async fn begin_with(
                    &self,
                    durability: $crate::__private::Durability,
                ) -> StoreResult<Box<dyn Transaction>> {
                    self.$inner.begin_with(durability).await
                }
            }
        };
        $crate::__forward_testing!($store => $inner);
    };
}

/// Without feature `testing` the store types have no test helpers (with
/// it, see `testing::__forward_testing`). Not public API.
#[cfg(not(feature = "testing"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __forward_testing {
    ($store:ty => $inner:ident) => {};
}

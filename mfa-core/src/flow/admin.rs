//! Administration: settings, enforcement, resets, unlocks, deletion, purge
//! and audit queries.

use super::Mfa;
use super::support::Audit;
use super::unit::{direct, unit};
use crate::error::{MfaError, MfaResult};
use crate::model::{
    AuditEvent, AuditKind, AuditOutcome, Factor, Lock, LockScope, MfaSettings, RevocationReason,
    User, UserId, UserStatus,
};
use crate::observability::step;
use crate::store::{AuditErasure, AuditFilter, Page, PageRequest};
use chrono::TimeDelta;

/// Longest accepted operator name ([`Mfa::as_operator`]), in bytes.
pub const MAX_OPERATOR_LEN: usize = 128;

/// The administrative calls of [`Mfa`] made on behalf of a named operator:
/// a support agent, a service key, a job. Each does what the `Mfa` method
/// of the same name does, and its audit event names the operator in its
/// metadata (`"operator": name`), in the same unit of work.
#[derive(Debug, Clone, Copy)]
pub struct AsOperator<'a> {
    mfa: &'a Mfa,
    operator: &'a str,
}

/// A user's security state, for settings pages and support tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSecurity {
    /// The account.
    pub user: User,
    /// Settings (defaults when none were stored).
    pub settings: MfaSettings,
    /// Factors, without secrets.
    pub factors: Vec<Factor>,
    /// Unused backup codes.
    pub backup_codes_remaining: u32,
}

/// Largest page of [`Mfa::locked_users`].
pub const MAX_LOCKED_PAGE: u32 = 500;

/// A locked account, for the administrators' list ([`Mfa::locked_users`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockedAccount {
    /// The account.
    pub user: User,
    /// The password lock in force, if any.
    pub password_lock: Option<Lock>,
    /// The second-factor lock in force, if any.
    pub mfa_lock: Option<Lock>,
}

impl Mfa {
    /// The administrative calls, recorded as made by `operator`.
    ///
    /// # Errors
    /// [`MfaError::InvalidInput`] (`operator`) for an empty name, one
    /// longer than [`MAX_OPERATOR_LEN`], or one with control characters.
    pub fn as_operator<'a>(&'a self, operator: &'a str) -> MfaResult<AsOperator<'a>> {
        if operator.trim().is_empty() {
            return Err(MfaError::invalid_input("operator", "empty"));
        }
        if operator.len() > MAX_OPERATOR_LEN {
            return Err(MfaError::invalid_input("operator", "too long"));
        }
        if operator.chars().any(char::is_control) {
            return Err(MfaError::invalid_input("operator", "control characters"));
        }
        Ok(AsOperator {
            mfa: self,
            operator,
        })
    }

    /// A user's MFA settings, factors and backup-code count.
    ///
    /// # Errors
    /// [`MfaError::NotFound`].
    pub async fn settings(&self, user: UserId) -> MfaResult<UserSecurity> {
        step!("mfa.settings", user = user, async {
            let (account, settings) = direct!(&self.inner, |inner| {
                let account = inner.user(user).await?;
                let settings = inner
                    .factors
                    .get_settings(user)
                    .await?
                    .unwrap_or_else(|| MfaSettings::new(user, inner.now()));
                Ok((account, settings))
            })?;
            Ok(UserSecurity {
                user: account,
                settings,
                factors: self.factors(user).await?,
                backup_codes_remaining: self.backup_codes_remaining(user).await?,
            })
        })
    }

    /// Starts or stops MFA enforcement for one user. Starting gives a grace
    /// period (`grace`, or the policy's) to enrol.
    ///
    /// # Errors
    /// [`MfaError::NotFound`], [`MfaError::InvalidInput`] for a negative grace.
    pub async fn set_enforcement(
        &self,
        user: UserId,
        required: bool,
        grace: Option<TimeDelta>,
    ) -> MfaResult<MfaSettings> {
        self.set_enforcement_by(user, required, grace, None).await
    }

    /// [`Mfa::set_enforcement`], recording `operator` in its audit event.
    pub(crate) async fn set_enforcement_by(
        &self,
        user: UserId,
        required: bool,
        grace: Option<TimeDelta>,
        operator: Option<&str>,
    ) -> MfaResult<MfaSettings> {
        step!("mfa.set_enforcement", user = user, async {
            unit!(&self.inner, |inner| {
                inner.user(user).await?;
                let grace = grace.unwrap_or(inner.policy.grace_period);
                if grace < TimeDelta::zero() {
                    return Err(MfaError::invalid_input("grace", "negative"));
                }
                let now = inner.now();
                let mut settings = inner
                    .factors
                    .get_settings(user)
                    .await?
                    .unwrap_or_else(|| MfaSettings::new(user, now));
                settings.enforced = required;
                settings.grace_deadline = required.then_some(now + grace);
                settings.updated_at = now;
                inner.factors.put_settings(&settings).await?;
                inner
                    .record(
                        Audit::new(AuditKind::EnforcementChanged, AuditOutcome::Success, now)
                            .user(user)
                            .meta(serde_json::json!({
                                "required": required,
                                "deadline": settings.grace_deadline,
                            }))
                            .operator(operator),
                    )
                    .await?;
                Ok(settings)
            })
        })
    }

    /// Removes every factor and backup code of a user, all device trust and
    /// all sessions (for account recovery by support). Audited.
    ///
    /// # Errors
    /// [`MfaError::NotFound`].
    pub async fn reset_mfa(&self, user: UserId) -> MfaResult<()> {
        self.reset_mfa_by(user, None).await
    }

    /// [`Mfa::reset_mfa`], recording `operator` in its audit event.
    pub(crate) async fn reset_mfa_by(&self, user: UserId, operator: Option<&str>) -> MfaResult<()> {
        step!("mfa.reset_mfa", user = user, async {
            unit!(&self.inner, |inner| {
                inner.user(user).await?;
                let now = inner.now();
                let factors = inner.factors.soft_delete_factors_of(user, now).await?;
                inner.backup_codes.delete_backup_codes(user).await?;
                inner.devices.revoke_all_device_trust(user).await?;
                inner
                    .sessions
                    .revoke_user_sessions(user, None, RevocationReason::FactorsChanged, now)
                    .await?;
                inner.clear_failures(user, LockScope::Mfa).await?;
                inner
                    .record(
                        Audit::new(AuditKind::MfaReset, AuditOutcome::Success, now)
                            .user(user)
                            .meta(serde_json::json!({ "factors_removed": factors }))
                            .operator(operator),
                    )
                    .await
            })
        })
    }

    /// Lifts password and second-factor locks of a user. Audited.
    ///
    /// # Errors
    /// [`MfaError::NotFound`].
    pub async fn unlock(&self, user: UserId) -> MfaResult<()> {
        self.unlock_by(user, None).await
    }

    /// [`Mfa::unlock`], recording `operator` in its audit event.
    pub(crate) async fn unlock_by(&self, user: UserId, operator: Option<&str>) -> MfaResult<()> {
        step!("mfa.unlock", user = user, async {
            unit!(&self.inner, |inner| {
                inner.user(user).await?;
                inner.clear_failures(user, LockScope::Password).await?;
                inner.clear_failures(user, LockScope::Mfa).await?;
                inner
                    .record(
                        Audit::new(
                            AuditKind::AccountUnlocked,
                            AuditOutcome::Success,
                            inner.now(),
                        )
                        .user(user)
                        .operator(operator),
                    )
                    .await
            })
        })
    }

    /// Disables or re-enables a user. Disabling ends every session and all
    /// device trust at once; a disabled user cannot sign in.
    ///
    /// # Errors
    /// [`MfaError::NotFound`].
    pub async fn set_user_status(&self, user: UserId, status: UserStatus) -> MfaResult<()> {
        self.set_user_status_by(user, status, None).await
    }

    /// [`Mfa::set_user_status`], recording `operator` in its audit event.
    pub(crate) async fn set_user_status_by(
        &self,
        user: UserId,
        status: UserStatus,
        operator: Option<&str>,
    ) -> MfaResult<()> {
        step!("mfa.set_user_status", user = user, async {
            unit!(&self.inner, |inner| {
                let now = inner.now();
                if !inner.users.set_status(user, status, now).await? {
                    return Err(MfaError::NotFound);
                }
                if status == UserStatus::Disabled {
                    inner
                        .sessions
                        .revoke_user_sessions(user, None, RevocationReason::AccountDisabled, now)
                        .await?;
                    inner.devices.revoke_all_device_trust(user).await?;
                }
                inner
                    .record(
                        Audit::new(AuditKind::UserStatusChanged, AuditOutcome::Success, now)
                            .user(user)
                            .meta(serde_json::json!({ "status": status.as_str() }))
                            .operator(operator),
                    )
                    .await
            })
        })
    }

    /// Soft-deletes a user and ends their sessions; [`Mfa::purge`] removes
    /// the rows after `policy.retention`.
    ///
    /// # Errors
    /// [`MfaError::NotFound`].
    pub async fn delete_user(&self, user: UserId) -> MfaResult<()> {
        self.delete_user_by(user, None).await
    }

    /// [`Mfa::delete_user`], recording `operator` in its audit event.
    pub(crate) async fn delete_user_by(
        &self,
        user: UserId,
        operator: Option<&str>,
    ) -> MfaResult<()> {
        step!("mfa.delete_user", user = user, async {
            unit!(&self.inner, |inner| {
                let now = inner.now();
                if !inner.users.soft_delete_user(user, now).await? {
                    return Err(MfaError::NotFound);
                }
                inner
                    .sessions
                    .revoke_user_sessions(user, None, RevocationReason::AccountDisabled, now)
                    .await?;
                inner
                    .record(
                        Audit::new(AuditKind::UserDeleted, AuditOutcome::Success, now)
                            .user(user)
                            .operator(operator),
                    )
                    .await
            })
        })
    }

    /// Erases what the audit log holds about a deleted user (GDPR art. 17):
    /// the user id, IP address, user agent and country of every one of
    /// their events are emptied, in one unit of work. The chains stay
    /// verifiable (each link covers a digest of those fields, see
    /// [`crate::audit`]); a verification counts the erased events. Events
    /// linked before such digests existed are left as they are (erasing
    /// them would break their links) and counted as `kept`. The erasure is
    /// audited (`user_data_erased`) without naming the user. The user's
    /// other rows go with [`Mfa::purge`] after `policy.retention`.
    ///
    /// # Errors
    /// [`MfaError::Conflict`] for a user who is not deleted (delete the
    /// account first: [`Mfa::delete_user`]); store errors. A user the
    /// store no longer holds (purged) can be erased.
    pub async fn erase_user_data(&self, user: UserId) -> MfaResult<AuditErasure> {
        self.erase_user_data_by(user, None).await
    }

    /// [`Mfa::erase_user_data`], recording `operator` in its audit event.
    pub(crate) async fn erase_user_data_by(
        &self,
        user: UserId,
        operator: Option<&str>,
    ) -> MfaResult<AuditErasure> {
        step!("mfa.erase_user_data", user = user, async {
            unit!(&self.inner, |inner| {
                if inner
                    .users
                    .get_user(user)
                    .await?
                    .is_some_and(|found| found.deleted_at.is_none())
                {
                    return Err(MfaError::Conflict("the user is not deleted"));
                }
                let done = inner.audit.erase_audit_personal(user).await?;
                inner
                    .record(
                        Audit::new(
                            AuditKind::UserDataErased,
                            AuditOutcome::Success,
                            inner.now(),
                        )
                        .meta(serde_json::json!({ "events": done.erased, "kept": done.kept }))
                        .operator(operator),
                    )
                    .await?;
                Ok(done)
            })
        })
    }

    /// Removes expired challenges, tickets, sessions and rate-limit hits, and
    /// soft-deleted users, factors and devices older than
    /// `policy.retention`. Returns the number of rows removed. Run it
    /// periodically.
    ///
    /// # Errors
    /// Store errors.
    pub async fn purge(&self) -> MfaResult<u64> {
        step!("mfa.purge", async {
            direct!(&self.inner, |inner| {
                let now = inner.now();
                let cutoff = now - inner.policy.retention;
                let removed = inner.challenges.purge_expired_challenges(now).await?
                    + inner.sessions.purge_sessions(now).await?
                    + inner.rate.purge_rate_limits(now).await?
                    + inner.push.purge_push_requests(now).await?
                    + inner.factors.purge_deleted_factors(cutoff).await?
                    + inner.devices.purge_deleted_devices(cutoff).await?
                    + inner.users.purge_deleted_users(cutoff).await?;
                inner
                    .record(
                        Audit::new(AuditKind::Purged, AuditOutcome::Success, now)
                            .meta(serde_json::json!({ "rows": removed })),
                    )
                    .await?;
                Ok(removed)
            })
        })
    }

    /// Accounts locked now, by their password or second-factor counter (a
    /// lock in force, or the hard cap reached), in id order after `after`
    /// (from the first when `None`), at most `limit`; pass the last id as
    /// `after` for the next page. [`Mfa::unlock`] lifts a lock.
    ///
    /// # Errors
    /// [`MfaError::InvalidInput`] (`limit`) outside 1 to
    /// [`MAX_LOCKED_PAGE`]; store errors (a host's own user table that does
    /// not list locked accounts answers a backend error).
    pub async fn locked_users(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> MfaResult<Vec<LockedAccount>> {
        if limit == 0 || limit > MAX_LOCKED_PAGE {
            return Err(MfaError::invalid_input("limit", "between 1 and 500"));
        }
        step!("mfa.locked_users", async {
            direct!(&self.inner, |inner| {
                let now = inner.now();
                let (password, mfa) = (&inner.policy.password_lockout, &inner.policy.mfa_lockout);
                let users = inner
                    .users
                    .list_locked_users(now, password, mfa, after, limit)
                    .await?;
                Ok(users
                    .into_iter()
                    .map(|user| LockedAccount {
                        password_lock: user.password_failures.lock_at(password, now),
                        mfa_lock: user.mfa_failures.lock_at(mfa, now),
                        user,
                    })
                    .collect())
            })
        })
    }

    /// Audit events matching `filter`, newest first.
    ///
    /// # Errors
    /// Store errors.
    pub async fn audit_events(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> MfaResult<Page<AuditEvent>> {
        step!("mfa.audit_events", async {
            direct!(&self.inner, |inner| Ok(inner
                .audit
                .query_audit(filter, page)
                .await?))
        })
    }
}

impl AsOperator<'_> {
    /// The operator's name, as recorded.
    #[must_use]
    pub fn name(&self) -> &str {
        self.operator
    }

    /// [`Mfa::set_enforcement`] by this operator.
    ///
    /// # Errors
    /// As [`Mfa::set_enforcement`].
    pub async fn set_enforcement(
        &self,
        user: UserId,
        required: bool,
        grace: Option<TimeDelta>,
    ) -> MfaResult<MfaSettings> {
        self.mfa
            .set_enforcement_by(user, required, grace, Some(self.operator))
            .await
    }

    /// [`Mfa::reset_mfa`] by this operator.
    ///
    /// # Errors
    /// As [`Mfa::reset_mfa`].
    pub async fn reset_mfa(&self, user: UserId) -> MfaResult<()> {
        self.mfa.reset_mfa_by(user, Some(self.operator)).await
    }

    /// [`Mfa::unlock`] by this operator.
    ///
    /// # Errors
    /// As [`Mfa::unlock`].
    pub async fn unlock(&self, user: UserId) -> MfaResult<()> {
        self.mfa.unlock_by(user, Some(self.operator)).await
    }

    /// [`Mfa::set_user_status`] by this operator.
    ///
    /// # Errors
    /// As [`Mfa::set_user_status`].
    pub async fn set_user_status(&self, user: UserId, status: UserStatus) -> MfaResult<()> {
        self.mfa
            .set_user_status_by(user, status, Some(self.operator))
            .await
    }

    /// [`Mfa::delete_user`] by this operator.
    ///
    /// # Errors
    /// As [`Mfa::delete_user`].
    pub async fn delete_user(&self, user: UserId) -> MfaResult<()> {
        self.mfa.delete_user_by(user, Some(self.operator)).await
    }

    /// [`Mfa::erase_user_data`] by this operator.
    ///
    /// # Errors
    /// As [`Mfa::erase_user_data`].
    pub async fn erase_user_data(&self, user: UserId) -> MfaResult<AuditErasure> {
        self.mfa.erase_user_data_by(user, Some(self.operator)).await
    }

    /// [`Mfa::revoke_all_sessions`] (none kept) by this operator.
    ///
    /// # Errors
    /// As [`Mfa::revoke_all_sessions`].
    pub async fn revoke_all_sessions(&self, user: UserId) -> MfaResult<u64> {
        self.mfa
            .revoke_all_sessions_by(user, None, Some(self.operator))
            .await
    }

    /// [`Mfa::export_user_data`] by this operator.
    ///
    /// # Errors
    /// As [`Mfa::export_user_data`].
    pub async fn export_user_data(&self, user: UserId) -> MfaResult<crate::UserExport> {
        self.mfa
            .export_user_data_by(user, Some(self.operator))
            .await
    }

    /// [`Mfa::revoke_all_devices`] by this operator.
    ///
    /// # Errors
    /// As [`Mfa::revoke_all_devices`].
    pub async fn revoke_all_devices(&self, user: UserId) -> MfaResult<u64> {
        self.mfa
            .revoke_all_devices_by(user, Some(self.operator))
            .await
    }
}

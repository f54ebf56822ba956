//! A user's data as one document (GDPR art. 15 and 20: access and
//! portability): the account, MFA settings, factors, devices, live sessions
//! and every audit event about the user. Secrets and the digests that stand
//! for them (password hash, sealed seeds, token and fingerprint digests)
//! are never part of it.

use super::Mfa;
use super::support::Audit;
use super::unit::{direct, unit};
use crate::error::MfaResult;
use crate::model::{
    Aal, AuditEvent, AuditKind, AuditOutcome, AuthMethod, DeviceId, DeviceInfo, FactorId,
    FactorKind, FactorStatus, MfaSettings, SessionId, SessionType, UserId, UserStatus,
};
use crate::observability::step;
use crate::store::{AuditFilter, PageRequest};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Audit events read per store call while exporting.
const AUDIT_PAGE: u32 = 500;

/// Everything the engine holds about one user, without secrets
/// ([`Mfa::export_user_data`]). Serialises to the JSON a user downloads.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserExport {
    /// When the export was made.
    pub exported_at: DateTime<Utc>,
    /// The account.
    pub account: AccountExport,
    /// MFA settings (defaults when none were stored).
    pub mfa_settings: SettingsExport,
    /// Factors, pending and active (no secrets).
    pub factors: Vec<FactorExport>,
    /// Unused backup codes (how many; the codes are stored as digests).
    pub backup_codes_remaining: u32,
    /// Devices the user signed in from.
    pub devices: Vec<DeviceExport>,
    /// Live sessions.
    pub sessions: Vec<SessionExport>,
    /// Every audit event about the user, newest first.
    pub audit_events: Vec<AuditEvent>,
}

/// The account part of a [`UserExport`].
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountExport {
    /// Id.
    pub id: UserId,
    /// Sign-in identifier.
    pub identifier: String,
    /// Email address.
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// Preferred language.
    pub locale: Option<String>,
    /// Whether a password is set (never the password or its hash).
    pub has_password: bool,
    /// Active or disabled.
    pub status: UserStatus,
    /// Consecutive failed password checks.
    pub password_failures: u32,
    /// Consecutive failed second-factor checks.
    pub mfa_failures: u32,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// The MFA settings part of a [`UserExport`].
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SettingsExport {
    /// Whether MFA is enforced for the user.
    pub enforced: bool,
    /// End of the enrolment grace period.
    pub grace_deadline: Option<DateTime<Utc>>,
    /// The factor offered first.
    pub preferred: Option<FactorKind>,
}

impl From<MfaSettings> for SettingsExport {
    fn from(s: MfaSettings) -> Self {
        Self {
            enforced: s.enforced,
            grace_deadline: s.grace_deadline,
            preferred: s.preferred,
        }
    }
}

/// One factor of a [`UserExport`].
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FactorExport {
    /// Id.
    pub id: FactorId,
    /// TOTP, email, SMS, passkey, push app or backup codes.
    pub kind: FactorKind,
    /// Pending, active or disabled.
    pub status: FactorStatus,
    /// The user's name for it.
    pub label: Option<String>,
    /// Where codes go (email address or phone number).
    pub destination: Option<String>,
    /// Enrolment start.
    pub created_at: DateTime<Utc>,
    /// Enrolment end.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// Last successful use.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// One device of a [`UserExport`].
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceExport {
    /// Id.
    pub id: DeviceId,
    /// What the device said about itself.
    pub info: DeviceInfo,
    /// Last address seen.
    pub last_ip: Option<String>,
    /// Last country seen.
    pub last_country: Option<String>,
    /// First sighting.
    pub first_seen_at: DateTime<Utc>,
    /// Last sighting.
    pub last_seen_at: DateTime<Utc>,
    /// Trusted ("remember this device") until.
    pub trusted_until: Option<DateTime<Utc>>,
    /// Reported compromised at.
    pub compromised_at: Option<DateTime<Utc>>,
}

/// One live session of a [`UserExport`].
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionExport {
    /// Id.
    pub id: SessionId,
    /// Web, mobile or API.
    pub session_type: SessionType,
    /// Assurance level.
    pub aal: Aal,
    /// Methods used.
    pub amr: Vec<AuthMethod>,
    /// The device, if known.
    pub device_id: Option<DeviceId>,
    /// Address at sign-in.
    pub ip: Option<String>,
    /// User agent at sign-in.
    pub user_agent: Option<String>,
    /// Country at sign-in.
    pub country: Option<String>,
    /// Sign-in time.
    pub created_at: DateTime<Utc>,
    /// Last use.
    pub last_seen_at: DateTime<Utc>,
    /// End of life.
    pub expires_at: DateTime<Utc>,
}

impl Mfa {
    /// Everything the engine holds about `user`, without secrets, for the
    /// user to download (GDPR art. 15 and 20). The export itself is
    /// recorded in the audit log (`data_exported`, with `operator` when
    /// made through [`Mfa::as_operator`]).
    ///
    /// # Errors
    /// [`crate::MfaError::NotFound`] for an unknown or deleted user; store
    /// errors.
    pub async fn export_user_data(&self, user: UserId) -> MfaResult<UserExport> {
        self.export_user_data_by(user, None).await
    }

    /// [`Mfa::export_user_data`], recording `operator`.
    pub(crate) async fn export_user_data_by(
        &self,
        user: UserId,
        operator: Option<&str>,
    ) -> MfaResult<UserExport> {
        step!("mfa.export_user_data", user = user, async {
            // Recorded first, so the export lists its own event.
            unit!(&self.inner, |inner| {
                inner.user(user).await?;
                inner
                    .record(
                        Audit::new(AuditKind::DataExported, AuditOutcome::Success, inner.now())
                            .user(user)
                            .operator(operator),
                    )
                    .await
            })?;
            let (account, settings, devices, sessions) = direct!(&self.inner, |inner| {
                let now = inner.now();
                let account = inner.user(user).await?;
                let settings = inner
                    .factors
                    .get_settings(user)
                    .await?
                    .unwrap_or_else(|| MfaSettings::new(user, now));
                let devices = inner.devices.list_devices(user).await?;
                let sessions = inner.sessions.list_sessions(user, now).await?;
                Ok((account, settings, devices, sessions))
            })?;
            let factors = self.factors(user).await?;
            let backup_codes_remaining = self.backup_codes_remaining(user).await?;
            let filter = AuditFilter {
                user_id: Some(user),
                ..AuditFilter::default()
            };
            let mut audit_events = Vec::new();
            let mut after = None;
            loop {
                let page = self
                    .audit_events(
                        &filter,
                        &PageRequest {
                            limit: AUDIT_PAGE,
                            after,
                        },
                    )
                    .await?;
                audit_events.extend(page.items);
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            Ok(UserExport {
                exported_at: self.inner.now(),
                account: AccountExport {
                    id: account.id,
                    identifier: account.identifier,
                    email: account.email,
                    phone: account.phone,
                    locale: account.locale,
                    has_password: account.password_hash.is_some(),
                    status: account.status,
                    password_failures: account.password_failures.failures,
                    mfa_failures: account.mfa_failures.failures,
                    created_at: account.created_at,
                    updated_at: account.updated_at,
                },
                mfa_settings: settings.into(),
                factors: factors
                    .into_iter()
                    .map(|f| FactorExport {
                        id: f.id,
                        kind: f.kind,
                        status: f.status,
                        label: f.label,
                        destination: f.destination,
                        created_at: f.created_at,
                        confirmed_at: f.confirmed_at,
                        last_used_at: f.last_used_at,
                    })
                    .collect(),
                backup_codes_remaining,
                devices: devices
                    .into_iter()
                    .filter(|d| d.deleted_at.is_none())
                    .map(|d| DeviceExport {
                        id: d.id,
                        info: d.info,
                        last_ip: d.last_ip,
                        last_country: d.last_country,
                        first_seen_at: d.first_seen_at,
                        last_seen_at: d.last_seen_at,
                        trusted_until: d.trusted_until,
                        compromised_at: d.compromised_at,
                    })
                    .collect(),
                sessions: sessions
                    .into_iter()
                    .map(|s| SessionExport {
                        id: s.id,
                        session_type: s.session_type,
                        aal: s.aal,
                        amr: s.amr,
                        device_id: s.device_id,
                        ip: s.ip,
                        user_agent: s.user_agent,
                        country: s.country,
                        created_at: s.created_at,
                        last_seen_at: s.last_seen_at,
                        expires_at: s.expires_at,
                    })
                    .collect(),
                audit_events,
            })
        })
    }
}

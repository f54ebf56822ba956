//! Audit events: one record per security-relevant step, success or failure.

use super::{AuditChainId, AuditEventId, AuditMac, DeviceId, FactorKind, SessionId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

macro_rules! audit_kinds {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, )+) => {
        /// What happened. The storage name is stable and safe to index.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum AuditKind {
            $( $(#[$doc])* $variant, )+
        }

        impl AuditKind {
            /// Every kind, in a stable order.
            pub const ALL: &'static [Self] = &[ $( Self::$variant, )+ ];

            /// Stable storage name.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $name, )+
                }
            }

            /// Parses the storage name.
            #[must_use]
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|k| k.as_str() == s)
            }
        }
    };
}

audit_kinds! {
    /// A user account was created.
    UserCreated => "user_created",
    /// A password check at sign-in.
    PasswordLogin => "password_login",
    /// The host reported a first factor it verified itself.
    PrimaryAuthAccepted => "primary_auth_accepted",
    /// A sign-in was refused before any factor (disabled, blocked, locked).
    LoginRefused => "login_refused",
    /// A second factor was demanded; a login ticket was issued.
    MfaRequired => "mfa_required",
    /// An email or SMS code was sent (or the send failed).
    OtpSent => "otp_sent",
    /// A second-factor verification.
    MfaVerification => "mfa_verification",
    /// A TOTP code was presented again after it was accepted.
    TotpReplay => "totp_replay",
    /// A WebAuthn assertion carried a signature counter that did not move
    /// forward: the credential may have been cloned; it was disabled.
    PasskeySuspect => "passkey_suspect",
    /// A push approval request was made (and sent to the user's apps).
    PushRequested => "push_requested",
    /// A phone app answered a push approval request (approve, deny, wrong
    /// number), or its answer was refused.
    PushAnswered => "push_answered",
    /// The user answered a push approval with "this wasn't me".
    PushNotMe => "push_not_me",
    /// A push service said a device's address is gone; the device was
    /// turned off.
    PushDeviceGone => "push_device_gone",
    /// A backup code was used.
    BackupCodeUsed => "backup_code_used",
    /// Backup codes were generated or regenerated.
    BackupCodesGenerated => "backup_codes_generated",
    /// Few backup codes remain.
    BackupCodesLow => "backup_codes_low",
    /// Enrolment of a factor started.
    FactorEnrollmentStarted => "factor_enrollment_started",
    /// A factor was confirmed and activated.
    FactorEnrolled => "factor_enrolled",
    /// A factor was removed or disabled.
    FactorRemoved => "factor_removed",
    /// A factor was given another name.
    FactorRenamed => "factor_renamed",
    /// An account locked after repeated failures.
    AccountLocked => "account_locked",
    /// An account was unlocked.
    AccountUnlocked => "account_unlocked",
    /// A request was refused by a rate limit.
    RateLimited => "rate_limited",
    /// A device was seen for the first time.
    DeviceRegistered => "device_registered",
    /// A device was trusted ("remember this device").
    DeviceTrusted => "device_trusted",
    /// A trusted device skipped the second factor.
    DeviceTrustUsed => "device_trust_used",
    /// Trust in a device was revoked.
    DeviceTrustRevoked => "device_trust_revoked",
    /// A device was marked compromised.
    DeviceCompromised => "device_compromised",
    /// A session was created and tokens issued.
    SessionCreated => "session_created",
    /// A refresh token was rotated.
    SessionRefreshed => "session_refreshed",
    /// A rotated refresh token was presented again.
    RefreshTokenReused => "refresh_token_reused",
    /// A just-rotated refresh token was presented again within the reuse
    /// grace interval (a client's retry) and answered with the same new
    /// refresh token; nothing was revoked.
    RefreshTokenRetried => "refresh_token_retried",
    /// A session ended.
    SessionRevoked => "session_revoked",
    /// Every session of a user ended.
    AllSessionsRevoked => "all_sessions_revoked",
    /// A step-up (recent MFA) check.
    StepUp => "step_up",
    /// A risk assessment crossed a threshold.
    RiskAssessed => "risk_assessed",
    /// A password was set or changed.
    PasswordChanged => "password_changed",
    /// A signed-in user's password was checked again (to change it or to
    /// delete the account) and was wrong, or the check was refused by a
    /// lock; `step` and `reason` in the metadata.
    PasswordRechecked => "password_rechecked",
    /// MFA enforcement was started or stopped for a user.
    EnforcementChanged => "enforcement_changed",
    /// An administrator reset a user's MFA.
    MfaReset => "mfa_reset",
    /// A security notification was sent (or failed).
    NotificationSent => "notification_sent",
    /// A user was soft-deleted.
    UserDeleted => "user_deleted",
    /// A user was disabled or enabled.
    UserStatusChanged => "user_status_changed",
    /// A copy of everything held about a user was exported
    /// ([`crate::Mfa::export_user_data`]).
    DataExported => "data_exported",
    /// A password reset link was asked for (and sent, when the account
    /// has a verified email address).
    PasswordResetRequested => "password_reset_requested",
    /// A password was set through a reset link.
    PasswordReset => "password_reset",
    /// A link to verify the account's email address was sent.
    EmailVerificationSent => "email_verification_sent",
    /// The account's email address was verified.
    EmailVerified => "email_verified",
    /// Expired and deleted rows were purged.
    Purged => "purged",
    /// A batch of a key rotation moved factor secrets to the current key
    /// ([`crate::Mfa::reseal_secrets`]).
    SecretsResealed => "secrets_resealed",
    /// An AEAD key was retired after a rotation ([`crate::Mfa::retire_key`]).
    KeyRetired => "key_retired",
    /// The personal fields of a deleted user's audit events were erased
    /// ([`crate::Mfa::erase_user_data`]); `events` in the metadata. The
    /// event names no user.
    UserDataErased => "user_data_erased",
    /// A checkpoint of the audit chains' heads (see [`crate::audit`]).
    AuditCheckpoint => "audit_checkpoint",
    /// Events were archived and removed: where each chain now starts (see
    /// [`crate::audit::archive`]).
    AuditArchived => "audit_archived",
}

text_traits!(AuditKind);

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// It worked.
    Success,
    /// It failed (wrong code, expired, …).
    Failure,
    /// It was refused by policy (locked, rate limited, blocked).
    Denied,
}

storage_names! {
    AuditOutcome {
        Success => "success",
        Failure => "failure",
        Denied => "denied",
    }
}

/// One audit record. It never carries a secret, a full code or a raw token:
/// `metadata` holds only non-secret details chosen by the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    /// Identifier.
    pub id: AuditEventId,
    /// When (UTC).
    pub at: DateTime<Utc>,
    /// The user concerned, when known.
    pub user_id: Option<UserId>,
    /// The session concerned.
    pub session_id: Option<SessionId>,
    /// The device concerned.
    pub device_id: Option<DeviceId>,
    /// What happened.
    pub kind: AuditKind,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// The factor involved.
    pub factor: Option<FactorKind>,
    /// Client IP address.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Client country.
    pub country: Option<String>,
    /// Risk score, when assessed.
    pub risk_score: Option<u8>,
    /// Non-secret details (JSON object).
    pub metadata: serde_json::Value,
    /// Where the event sits in its tamper-evident chain; set by the engine
    /// when it writes the event (see [`crate::audit`]), `None` for an event
    /// not yet written or written before chains existed.
    pub link: Option<AuditLink>,
}

/// An audit event's place in its chain: the chain, its position, and the
/// keyed digest that binds its content to the event before it (see
/// [`crate::audit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditLink {
    /// The chain.
    pub chain: AuditChainId,
    /// Position in the chain, from 1, without gaps.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub seq: u64,
    /// `HMAC-SHA256(audit key, previous mac ‖ chain ‖ seq ‖ content)`;
    /// lowercase hex in JSON.
    #[serde(with = "mac_hex")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub mac: AuditMac,
    /// The keyed digest of the event's personal fields (user, IP address,
    /// user agent, country) that the link covers in their place, so that
    /// erasing them ([`crate::Mfa::erase_user_data`]) leaves the chain
    /// verifiable; `None` for an event linked before digests existed (its
    /// link covers the fields themselves). Lowercase hex in JSON.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_mac_hex")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub personal: Option<AuditMac>,
}

/// An optional [`AuditMac`] as lowercase hex in JSON.
mod opt_mac_hex {
    use super::AuditMac;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the hex, or nothing.
    pub(super) fn serialize<S: Serializer>(
        mac: &Option<AuditMac>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match mac {
            Some(mac) => super::mac_hex::serialize(mac, s),
            None => s.serialize_none(),
        }
    }

    /// Reads the hex, or nothing.
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<AuditMac>, D::Error> {
        #[derive(Deserialize)]
        struct Hex(#[serde(with = "super::mac_hex")] AuditMac);
        Ok(Option::<Hex>::deserialize(d)?.map(|Hex(mac)| mac))
    }
}

/// An [`AuditMac`] as lowercase hex in JSON.
pub(crate) mod mac_hex {
    use super::AuditMac;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the hex.
    pub(crate) fn serialize<S: Serializer>(mac: &AuditMac, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&data_encoding::HEXLOWER.encode(mac.as_bytes()))
    }

    /// Reads the hex (64 lowercase digits).
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<AuditMac, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = data_encoding::HEXLOWER
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)?;
        AuditMac::from_slice(&bytes).map_err(serde::de::Error::custom)
    }
}

impl AuditEvent {
    /// An event with only kind, outcome and time set.
    #[must_use]
    pub fn new(kind: AuditKind, outcome: AuditOutcome, at: DateTime<Utc>) -> Self {
        Self {
            id: AuditEventId::new(),
            at,
            user_id: None,
            session_id: None,
            device_id: None,
            kind,
            outcome,
            factor: None,
            ip: None,
            user_agent: None,
            country: None,
            risk_score: None,
            metadata: serde_json::Value::Null,
            link: None,
        }
    }

    /// Empties the event's personal fields (user, IP address, user agent,
    /// country), as an erasure of a user's data leaves them.
    pub fn erase_personal_fields(&mut self) {
        (self.user_id, self.ip, self.user_agent, self.country) = (None, None, None, None);
    }

    /// Whether every personal field of the event is empty (see
    /// [`AuditEvent::erase_personal_fields`]).
    #[must_use]
    pub fn personal_fields_empty(&self) -> bool {
        self.user_id.is_none()
            && self.ip.is_none()
            && self.user_agent.is_none()
            && self.country.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_at_least_25_audit_kinds_with_unique_names() {
        assert!(AuditKind::ALL.len() >= 25);
        let mut names: Vec<_> = AuditKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), AuditKind::ALL.len());
        for k in AuditKind::ALL {
            assert_eq!(AuditKind::parse(k.as_str()), Some(*k));
            assert_eq!(
                serde_json::to_string(k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
        }
    }
}

//! Security notifications sent to users.

use super::{NotificationId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which security event a notification reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// Sign-in from a device not seen before.
    NewDeviceLogin,
    /// A factor was added.
    FactorAdded,
    /// A factor was removed.
    FactorRemoved,
    /// Backup codes were (re)generated.
    BackupCodesGenerated,
    /// A backup code was used.
    BackupCodeUsed,
    /// Few backup codes remain.
    BackupCodesLow,
    /// The account locked after failed attempts.
    AccountLocked,
    /// A rotated refresh token was reused: sessions were revoked.
    TokenReused,
    /// A TOTP code was replayed.
    OtpReplay,
    /// A passkey's signature counter went backwards: it may have been
    /// cloned, and it was disabled.
    PasskeySuspect,
    /// The user answered a push approval with "this wasn't me": the
    /// sign-in was refused and the second factor locked.
    PushNotMe,
    /// A sign-in was assessed as high risk.
    SuspiciousSignIn,
    /// A device was trusted.
    DeviceTrusted,
    /// The password changed.
    PasswordChanged,
}

impl NotificationKind {
    /// Stable name (also the template name).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NewDeviceLogin => "new_device_login",
            Self::FactorAdded => "factor_added",
            Self::FactorRemoved => "factor_removed",
            Self::BackupCodesGenerated => "backup_codes_generated",
            Self::BackupCodeUsed => "backup_code_used",
            Self::BackupCodesLow => "backup_codes_low",
            Self::AccountLocked => "account_locked",
            Self::TokenReused => "token_reused",
            Self::OtpReplay => "otp_replay",
            Self::PasskeySuspect => "passkey_suspect",
            Self::PushNotMe => "push_not_me",
            Self::SuspiciousSignIn => "suspicious_sign_in",
            Self::DeviceTrusted => "device_trusted",
            Self::PasswordChanged => "password_changed",
        }
    }
}

/// A notification to send: which event, to whom, with which non-secret
/// details for the template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Identifier (also an idempotency key for transports).
    pub id: NotificationId,
    /// Recipient.
    pub user_id: UserId,
    /// Event.
    pub kind: NotificationKind,
    /// Template values (never secrets).
    pub details: serde_json::Value,
    /// When the event happened.
    pub at: DateTime<Utc>,
}

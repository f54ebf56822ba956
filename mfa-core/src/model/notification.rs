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
    /// Every kind, in declaration order. Each has a words template named
    /// after its stable name (`{name}.words`, see [`crate::template`]).
    pub const ALL: [Self; 14] = [
        Self::NewDeviceLogin,
        Self::FactorAdded,
        Self::FactorRemoved,
        Self::BackupCodesGenerated,
        Self::BackupCodeUsed,
        Self::BackupCodesLow,
        Self::AccountLocked,
        Self::TokenReused,
        Self::OtpReplay,
        Self::PasskeySuspect,
        Self::PushNotMe,
        Self::SuspiciousSignIn,
        Self::DeviceTrusted,
        Self::PasswordChanged,
    ];
}

storage_names! {
    NotificationKind {
        NewDeviceLogin => "new_device_login",
        FactorAdded => "factor_added",
        FactorRemoved => "factor_removed",
        BackupCodesGenerated => "backup_codes_generated",
        BackupCodeUsed => "backup_code_used",
        BackupCodesLow => "backup_codes_low",
        AccountLocked => "account_locked",
        TokenReused => "token_reused",
        OtpReplay => "otp_replay",
        PasskeySuspect => "passkey_suspect",
        PushNotMe => "push_not_me",
        SuspiciousSignIn => "suspicious_sign_in",
        DeviceTrusted => "device_trusted",
        PasswordChanged => "password_changed",
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

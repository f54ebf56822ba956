//! Sessions and refresh tokens.

use super::{Aal, AuthMethod, DeviceId, FamilyId, RefreshTokenId, SessionId, TokenHash, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What kind of client holds the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SessionType {
    /// Browser.
    #[default]
    Web,
    /// Mobile app.
    Mobile,
    /// API client.
    Api,
}

storage_names! {
    SessionType {
        Web => "web",
        Mobile => "mobile",
        Api => "api",
    }
}

/// Life cycle of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// First factor passed, second factor outstanding: no tokens yet.
    PendingMfa,
    /// Tokens issued.
    Active,
    /// Ended (logout, revocation, reuse detection).
    Revoked,
}

storage_names! {
    SessionStatus {
        PendingMfa => "pending_mfa",
        Active => "active",
        Revoked => "revoked",
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationReason {
    /// The user logged out.
    Logout,
    /// The user or an administrator revoked it.
    Revoked,
    /// A rotated refresh token was presented again.
    TokenReuse,
    /// Password changed.
    PasswordChanged,
    /// Factors changed or MFA reset.
    FactorsChanged,
    /// The device was marked compromised.
    DeviceCompromised,
    /// The account was disabled or deleted.
    AccountDisabled,
    /// Risk too high to continue.
    HighRisk,
    /// Replaced by a new session after a step-up verification.
    SteppedUp,
}

storage_names! {
    RevocationReason {
        Logout => "logout",
        Revoked => "revoked",
        TokenReuse => "token_reuse",
        PasswordChanged => "password_changed",
        FactorsChanged => "factors_changed",
        DeviceCompromised => "device_compromised",
        AccountDisabled => "account_disabled",
        HighRisk => "high_risk",
        SteppedUp => "stepped_up",
    }
}

/// A sign-in session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Identifier (the `sid` claim).
    pub id: SessionId,
    /// Owner.
    pub user_id: UserId,
    /// The device it runs on.
    pub device_id: Option<DeviceId>,
    /// Client kind.
    pub session_type: SessionType,
    /// Life-cycle state.
    pub status: SessionStatus,
    /// Assurance level reached.
    pub aal: Aal,
    /// Methods used, in order.
    pub amr: Vec<AuthMethod>,
    /// Time of the latest second-factor verification.
    pub mfa_at: Option<DateTime<Utc>>,
    /// IP address at sign-in.
    pub ip: Option<String>,
    /// User agent at sign-in.
    pub user_agent: Option<String>,
    /// Country at sign-in.
    pub country: Option<String>,
    /// Risk score at sign-in (0–100).
    pub risk_score: u8,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Latest activity (refresh).
    pub last_seen_at: DateTime<Utc>,
    /// Absolute end of the session.
    pub expires_at: DateTime<Utc>,
    /// When it ended.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why it ended.
    pub revocation_reason: Option<RevocationReason>,
}

impl Session {
    /// Whether the session is usable at `now`.
    #[must_use]
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.status == SessionStatus::Active && now < self.expires_at
    }
}

/// State of one refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshStatus {
    /// The one usable token of its family.
    Active,
    /// Exchanged for a child; presenting it again is reuse.
    Rotated,
    /// Revoked with its family.
    Revoked,
}

storage_names! {
    RefreshStatus {
        Active => "active",
        Rotated => "rotated",
        Revoked => "revoked",
    }
}

/// One refresh token, stored as the SHA-256 digest of the opaque value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshToken {
    /// Identifier.
    pub id: RefreshTokenId,
    /// Every token rotated from one sign-in shares a family.
    pub family_id: FamilyId,
    /// The session it refreshes.
    pub session_id: SessionId,
    /// Owner.
    pub user_id: UserId,
    /// The token it was rotated from.
    pub parent_id: Option<RefreshTokenId>,
    /// SHA-256 of the opaque token.
    pub token_hash: TokenHash,
    /// State.
    pub status: RefreshStatus,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Sliding expiry of this token.
    pub expires_at: DateTime<Utc>,
    /// When it was exchanged or revoked.
    pub used_at: Option<DateTime<Utc>>,
}

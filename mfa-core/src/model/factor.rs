//! Second factors, MFA settings and backup codes.

use super::{BackupCodeId, CodeHash, FactorId, SealedSecret, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The kinds of second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FactorKind {
    /// Authenticator app (RFC 6238).
    Totp,
    /// Code sent by email.
    Email,
    /// Code sent by SMS.
    Sms,
    /// Single-use backup codes.
    BackupCodes,
    /// A WebAuthn credential: a passkey or a security key. Its public key
    /// (the relying party's credential record) is kept sealed in
    /// [`Factor::secret`] and its signature counter in
    /// [`Factor::last_totp_step`].
    Webauthn,
    /// A phone app that approves sign-ins (push approval with number
    /// matching). Its device key, push address and description are kept
    /// sealed in [`Factor::secret`].
    Push,
}

impl FactorKind {
    /// Every kind, in a stable order.
    pub const ALL: [Self; 6] = [
        Self::Totp,
        Self::Email,
        Self::Sms,
        Self::BackupCodes,
        Self::Webauthn,
        Self::Push,
    ];
}

storage_names! {
    FactorKind {
        Totp => "totp",
        Email => "email",
        Sms => "sms",
        BackupCodes => "backup_codes",
        Webauthn => "webauthn",
        Push => "push",
    }
}

/// Life cycle of a factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FactorStatus {
    /// Enrolment started, not yet confirmed with a code.
    Pending,
    /// Confirmed and usable.
    Active,
    /// Turned off (by the user, an administrator, or compromise).
    Disabled,
}

storage_names! {
    FactorStatus {
        Pending => "pending",
        Active => "active",
        Disabled => "disabled",
    }
}

/// HMAC algorithm of a TOTP factor (RFC 6238 §1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TotpAlgorithm {
    /// HMAC-SHA1, what every authenticator app supports.
    #[default]
    Sha1,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

impl TotpAlgorithm {
    /// Length of the HMAC output, which is also the recommended secret length
    /// (RFC 6238 §5.1).
    #[must_use]
    pub const fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }
}

storage_names! {
    TotpAlgorithm {
        Sha1 => "sha1",
        Sha256 => "sha256",
        Sha512 => "sha512",
    }
}

/// Parameters of one TOTP factor. Defaults: SHA-1, 6 digits, 30 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TotpParams {
    /// HMAC algorithm.
    pub algorithm: TotpAlgorithm,
    /// Code length: 6, 7 or 8 (RFC 4226 §5.3).
    pub digits: u8,
    /// Time step in seconds: 1 to 120 (NIST SP 800-63B §5.1.4.1: the nonce
    /// changes at least every 2 minutes).
    pub period: u32,
}

impl Default for TotpParams {
    fn default() -> Self {
        Self {
            algorithm: TotpAlgorithm::Sha1,
            digits: 6,
            period: 30,
        }
    }
}

impl TotpParams {
    /// Longest allowed time step, in seconds.
    pub const MAX_PERIOD: u32 = 120;

    /// Checks digits and period.
    ///
    /// # Errors
    /// A static description of the first parameter out of range.
    pub fn validate(&self) -> Result<(), &'static str> {
        if !(6..=8).contains(&self.digits) {
            return Err("TOTP digits must be 6, 7 or 8");
        }
        if self.period == 0 || self.period > Self::MAX_PERIOD {
            return Err("TOTP period must be between 1 and 120 seconds");
        }
        Ok(())
    }
}

/// One enrolled (or pending) second factor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Factor {
    /// Identifier.
    pub id: FactorId,
    /// Owner.
    pub user_id: UserId,
    /// What kind of factor.
    pub kind: FactorKind,
    /// Life-cycle state.
    pub status: FactorStatus,
    /// A name the user chose ("work phone").
    pub label: Option<String>,
    /// TOTP seed, or a WebAuthn factor's credential record, sealed with the
    /// key ring; the AAD binds user and factor id.
    pub secret: Option<SealedSecret>,
    /// TOTP parameters (TOTP factors only).
    pub totp: Option<TotpParams>,
    /// Email address or E.164 phone number (email and SMS factors).
    pub destination: Option<String>,
    /// Highest TOTP time step accepted so far: the replay guard. For a
    /// WebAuthn factor, the highest signature counter its authenticator has
    /// reported (the clone detector, WebAuthn Level 3 §7.2 step 21); both
    /// only move forward, through [`crate::store::FactorRepository::advance_totp_step`].
    pub last_totp_step: Option<i64>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When enrolment was confirmed.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// Last successful use.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Soft-deletion time.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Factor {
    /// A new pending factor with nothing filled in but its kind.
    #[must_use]
    pub fn pending(user_id: UserId, kind: FactorKind, now: DateTime<Utc>) -> Self {
        Self {
            id: FactorId::new(),
            user_id,
            kind,
            status: FactorStatus::Pending,
            label: None,
            secret: None,
            totp: None,
            destination: None,
            last_totp_step: None,
            created_at: now,
            confirmed_at: None,
            last_used_at: None,
            deleted_at: None,
        }
    }

    /// Whether the factor can be used to sign in.
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.status == FactorStatus::Active && self.deleted_at.is_none()
    }
}

/// A user's MFA settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaSettings {
    /// Owner.
    pub user_id: UserId,
    /// MFA is required for this user.
    pub enforced: bool,
    /// Until when a user who must enrol may still sign in without MFA.
    pub grace_deadline: Option<DateTime<Utc>>,
    /// The method offered first.
    pub preferred: Option<FactorKind>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl MfaSettings {
    /// Settings with nothing enforced.
    #[must_use]
    pub const fn new(user_id: UserId, now: DateTime<Utc>) -> Self {
        Self {
            user_id,
            enforced: false,
            grace_deadline: None,
            preferred: None,
            updated_at: now,
        }
    }
}

/// One stored backup code: its keyed digest, never the code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupCodeRecord {
    /// Identifier.
    pub id: BackupCodeId,
    /// Owner.
    pub user_id: UserId,
    /// HMAC-SHA256(pepper, user id ‖ normalised code).
    pub code_hash: CodeHash,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When it was used; a used code never verifies again.
    pub used_at: Option<DateTime<Utc>>,
}

impl BackupCodeRecord {
    /// A new unused record.
    #[must_use]
    pub fn new(user_id: UserId, code_hash: CodeHash, now: DateTime<Utc>) -> Self {
        Self {
            id: BackupCodeId::new(),
            user_id,
            code_hash,
            created_at: now,
            used_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r6_totp_params_reject_out_of_range_digits_and_period() {
        assert!(TotpParams::default().validate().is_ok());
        for digits in [0, 5, 9, 10] {
            let p = TotpParams {
                digits,
                ..TotpParams::default()
            };
            assert!(p.validate().is_err(), "digits {digits}");
        }
        for period in [0, 121, 3600] {
            let p = TotpParams {
                period,
                ..TotpParams::default()
            };
            assert!(p.validate().is_err(), "period {period}");
        }
    }

    #[test]
    fn storage_names_round_trip() {
        for k in FactorKind::ALL {
            assert_eq!(FactorKind::parse(k.as_str()), Some(k));
        }
        for s in [
            FactorStatus::Pending,
            FactorStatus::Active,
            FactorStatus::Disabled,
        ] {
            assert_eq!(FactorStatus::parse(s.as_str()), Some(s));
        }
        for a in [
            TotpAlgorithm::Sha1,
            TotpAlgorithm::Sha256,
            TotpAlgorithm::Sha512,
        ] {
            assert_eq!(TotpAlgorithm::parse(a.as_str()), Some(a));
        }
    }
}

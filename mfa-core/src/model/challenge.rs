//! Out-of-band OTP challenges and login tickets.

use super::{
    AuthMethod, ChallengeId, CodeHash, DeviceId, FactorId, SessionId, TicketId, TokenHash, UserId,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A channel that carries a one-time code to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OtpChannel {
    /// Email.
    Email,
    /// SMS.
    Sms,
}

storage_names! {
    OtpChannel {
        Email => "email",
        Sms => "sms",
    }
}

/// What a challenge proves once answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChallengePurpose {
    /// Second factor of a sign-in.
    Login,
    /// Confirming a newly enrolled email or phone factor.
    Enrollment,
    /// Re-authentication of an existing session (step-up).
    StepUp,
}

impl ChallengePurpose {
    /// Every purpose, in declaration order.
    pub const ALL: [Self; 3] = [Self::Login, Self::Enrollment, Self::StepUp];
}

storage_names! {
    ChallengePurpose {
        Login => "login",
        Enrollment => "enrollment",
        StepUp => "step_up",
    }
}

/// A code sent by email or SMS, kept as a keyed digest.
///
/// A challenge is answered at most once (`consumed_at`), only before
/// `expires_at`, and only while `attempts < max_attempts`. Issuing a new
/// challenge for the same factor and purpose supersedes the old one, so an
/// earlier code stops working the moment a new one is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtpChallenge {
    /// Identifier (part of the code's digest input, binding code to challenge).
    pub id: ChallengeId,
    /// Whose challenge.
    pub user_id: UserId,
    /// The factor (email address or phone) the code went to.
    pub factor_id: FactorId,
    /// The login ticket this challenge belongs to, for sign-ins.
    pub ticket_id: Option<TicketId>,
    /// What the challenge proves.
    pub purpose: ChallengePurpose,
    /// Email or SMS.
    pub channel: OtpChannel,
    /// HMAC-SHA256(pepper, challenge id ‖ code).
    pub code_hash: CodeHash,
    /// Attempts made so far (carried over from a superseded challenge).
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Creation (send) time.
    pub created_at: DateTime<Utc>,
    /// The code is refused from this time on.
    pub expires_at: DateTime<Utc>,
    /// When it was answered correctly or superseded.
    pub consumed_at: Option<DateTime<Utc>>,
}

impl OtpChallenge {
    /// Whether a correct code could still be accepted at `now`.
    #[must_use]
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.consumed_at.is_none() && now < self.expires_at && self.attempts < self.max_attempts
    }
}

/// What a login ticket allows its holder to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TicketKind {
    /// Complete a second factor.
    Mfa,
    /// Enrol a first second factor (grace period or enforcement).
    Enrollment,
    /// Set a new password: the link of a password reset
    /// ([`crate::Mfa::reset_password`]).
    PasswordReset,
    /// Prove the account's email address receives mail
    /// ([`crate::Mfa::verify_email`]).
    EmailVerification,
}

storage_names! {
    TicketKind {
        Mfa => "mfa",
        Enrollment => "enrollment",
        PasswordReset => "password_reset",
        EmailVerification => "email_verification",
    }
}

/// State between a successful first factor and the second: the client holds
/// an opaque ticket token, the store holds its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginTicket {
    /// Identifier.
    pub id: TicketId,
    /// SHA-256 of the ticket token.
    pub token_hash: TokenHash,
    /// Who passed the first factor.
    pub user_id: UserId,
    /// For a step-up: the session the verified one replaces.
    pub session_id: Option<SessionId>,
    /// The device the sign-in came from.
    pub device_id: Option<DeviceId>,
    /// What the holder may do next.
    pub kind: TicketKind,
    /// Methods already passed (the first factor).
    pub amr: Vec<AuthMethod>,
    /// Risk score assessed at the first factor.
    pub risk_score: u8,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// The ticket is refused from this time on.
    pub expires_at: DateTime<Utc>,
    /// When the ticket was used up.
    pub consumed_at: Option<DateTime<Utc>>,
}

impl LoginTicket {
    /// Whether the ticket may still be used at `now`.
    #[must_use]
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.consumed_at.is_none() && now < self.expires_at
    }
}

/// What a WebAuthn ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CeremonyPurpose {
    /// Registering a new credential (`navigator.credentials.create`).
    Registration,
    /// An assertion answering a login or step-up ticket (second factor).
    Login,
    /// A passwordless sign-in with a discoverable credential: no user is
    /// known until the assertion names one.
    Passwordless,
    /// Enrolling a push approval app: the challenge its device key signs.
    PushEnrolment,
}

storage_names! {
    CeremonyPurpose {
        Registration => "registration",
        Login => "login",
        Passwordless => "passwordless",
        PushEnrolment => "push_enrolment",
    }
}

/// The server side of one WebAuthn ceremony: the relying party's state
/// between the options sent to the browser and its answer.
///
/// Single use: [`crate::store::ChallengeRepository::take_ceremony`] hands
/// it out once, atomically, and only before `expires_at`. The state (the
/// challenge, the credentials allowed or excluded, the policy) is sealed
/// with the key ring, bound to the ceremony id and purpose, so a row edited
/// in the database does not open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebauthnCeremony {
    /// Identifier, handed to the client with the options.
    pub id: ChallengeId,
    /// Whose ceremony; `None` for a passwordless sign-in.
    pub user_id: Option<UserId>,
    /// The login ticket an assertion answers.
    pub ticket_id: Option<TicketId>,
    /// The session that started a registration.
    pub session_id: Option<SessionId>,
    /// What the ceremony is for.
    pub purpose: CeremonyPurpose,
    /// The relying party's state, sealed.
    pub state: super::SealedSecret,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Refused from this time on.
    pub expires_at: DateTime<Utc>,
    /// When it was taken.
    pub consumed_at: Option<DateTime<Utc>>,
}

impl WebauthnCeremony {
    /// Whether it could still be taken at `now`.
    #[must_use]
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.consumed_at.is_none() && now < self.expires_at
    }
}

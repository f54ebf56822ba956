//! The engine: [`Mfa`], one object a host calls for the whole sign-in flow.
//!
//! One file per step: [`login`](Mfa::login), [`send_challenge`](Mfa::send_challenge),
//! [`verify`](Mfa::verify), enrolment, devices, sessions and tokens, and
//! administration. Every outcome is a value and every failure an
//! [`MfaError`](crate::MfaError) with a stable code.

mod admin;
mod builder;
mod challenge;
mod client;
mod devices;
mod enroll;
mod hashing;
mod keys;
mod login;
#[cfg(feature = "passkeys")]
mod passkey;
mod push;
mod sessions;
mod support;
pub(crate) mod unit;
mod users;
mod verify;

pub use admin::UserSecurity;
pub use builder::MfaBuilder;
pub use challenge::{ChallengeSent, TicketInfo};
pub use client::ClientInfo;
pub use enroll::{Actor, BackupCodes, DestinationPending, Enrolled, TotpEnrollment};
pub use keys::KeysChecked;
pub use login::{LoginOutcome, LoginRequest};
#[cfg(feature = "passkeys")]
pub use passkey::{PasskeyChallenge, PasskeySignInRequest, PasskeyVerifyRequest};
pub use push::{
    MAX_PUSH_ADDRESS_LEN, PushAnswered, PushDeviceView, PushEnrolment, PushEnrolmentChallenge,
    PushPending, PushPrompt, PushState,
};
pub use sessions::SessionView;
pub use users::NewUser;
pub use verify::{Verified, VerifyRequest};

use crate::clock::Clock;
use crate::crypto::{KeyRing, PasswordHasher, TokenService};
use crate::delivery::DeliveryChannel;
use crate::model::{Aal, AuthMethod, SessionId};
use crate::policy::Policy;
use crate::risk::{GeoLocator, RiskEngine};
use crate::store::{AuditRepository, Store, UserRepository};
use chrono::{DateTime, Utc};
use std::fmt;
use std::sync::Arc;

/// The MFA engine. Cheap to clone (an `Arc` inside); share one per process.
///
/// Build it with [`Mfa::builder`]; see the crate documentation for a complete
/// example.
#[derive(Clone)]
pub struct Mfa {
    inner: Arc<Inner>,
}

impl fmt::Debug for Mfa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mfa")
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

impl Mfa {
    /// Starts configuring an engine.
    #[must_use]
    pub fn builder() -> MfaBuilder {
        MfaBuilder::default()
    }

    /// The policy in force.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// The public JSON Web Key Set of the access-token signing keys, for
    /// `/.well-known/jwks.json`.
    #[must_use]
    pub fn jwks(&self) -> serde_json::Value {
        self.inner.tokens.jwks()
    }
}

pub(crate) struct Inner {
    /// Every repository, and the units of work the steps run in.
    pub store: Arc<dyn Store>,
    /// The host's own user table, used outside the units (see
    /// [`MfaBuilder::users`]).
    pub host_users: Option<Arc<dyn UserRepository>>,
    /// The host's own audit log, written outside the units (see
    /// [`MfaBuilder::audit_log`]).
    pub host_audit: Option<Arc<dyn AuditRepository>>,
    pub email: Option<Arc<dyn DeliveryChannel>>,
    pub sms: Option<Arc<dyn DeliveryChannel>>,
    pub keys: Arc<KeyRing>,
    pub tokens: TokenService,
    pub passwords: PasswordHasher,
    pub policy: Policy,
    pub risk: Arc<dyn RiskEngine>,
    pub geo: Option<Arc<dyn GeoLocator>>,
    pub clock: Arc<dyn Clock>,
    /// The WebAuthn relying party, when passkeys are configured.
    #[cfg(feature = "passkeys")]
    pub passkeys: Option<Arc<crate::passkey::RelyingParty>>,
    /// The push sender, when push approval is configured.
    pub push: Option<Arc<dyn crate::delivery::PushSender>>,
}

impl Inner {
    /// Whether passkeys are configured (feature `passkeys` and
    /// [`MfaBuilder::passkeys`]).
    pub(crate) fn passkeys_enabled(&self) -> bool {
        #[cfg(feature = "passkeys")]
        {
            self.passkeys.is_some()
        }
        #[cfg(not(feature = "passkeys"))]
        {
            false
        }
    }
}

/// Tokens handed to a client after a complete sign-in or a refresh.
///
/// `Debug` hides every token.
#[derive(Clone, PartialEq, Eq)]
pub struct Tokens {
    /// JWT access token (send as `Authorization: Bearer …`).
    pub access_token: String,
    /// When the access token expires.
    pub access_expires_at: DateTime<Utc>,
    /// Opaque refresh token; single use, rotated by [`Mfa::refresh`].
    pub refresh_token: String,
    /// When the refresh token expires unless rotated first.
    pub refresh_expires_at: DateTime<Utc>,
    /// The session.
    pub session_id: SessionId,
    /// Assurance level of the session.
    pub aal: Aal,
    /// Methods used.
    pub amr: Vec<AuthMethod>,
    /// A device-trust token, when the device was remembered (or its trust
    /// rotated). Store it on the client (an `HttpOnly`, `Secure` cookie) and
    /// send it back as [`ClientInfo::trust_token`].
    pub trust_token: Option<String>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &"[redacted]")
            .field("access_expires_at", &self.access_expires_at)
            .field("refresh_token", &"[redacted]")
            .field("refresh_expires_at", &self.refresh_expires_at)
            .field("session_id", &self.session_id)
            .field("aal", &self.aal)
            .field("amr", &self.amr)
            .field(
                "trust_token",
                &self.trust_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

//! The engine: [`Mfa`], one object a host calls for the whole sign-in flow.
//!
//! One file per step: [`login`](Mfa::login), [`send_challenge`](Mfa::send_challenge),
//! [`verify`](Mfa::verify), enrolment, devices, sessions and tokens, and
//! administration. Every outcome is a value and every failure an
//! [`MfaError`](crate::MfaError) with a stable code.

mod admin;
mod builder;
mod chains;
mod challenge;
mod client;
mod devices;
mod enroll;
mod export;
mod hashing;
mod keys;
mod login;
#[cfg(feature = "passkeys")]
mod passkey;
mod push;
mod recovery;
mod rotation;
mod sessions;
mod support;
pub(crate) mod unit;
mod users;
mod verify;

pub use admin::{AsOperator, LockedAccount, MAX_LOCKED_PAGE, MAX_OPERATOR_LEN, UserSecurity};
pub use builder::MfaBuilder;
pub use challenge::{ChallengeSent, TicketInfo};
pub use client::{ClientInfo, MAX_DEVICE_FIELD_LEN, MAX_FINGERPRINT_LEN, MAX_USER_AGENT_LEN};
pub use enroll::{Actor, BackupCodes, DestinationPending, Enrolled, TotpEnrollment};
pub use export::{
    AccountExport, DeviceExport, FactorExport, SessionExport, SettingsExport, UserExport,
};
pub use keys::KeysChecked;
pub use login::{LoginOutcome, LoginRequest};
#[cfg(feature = "passkeys")]
pub use passkey::{PasskeyChallenge, PasskeySignInRequest, PasskeyVerifyRequest};
pub use push::{
    MAX_PUSH_ADDRESS_LEN, PushAnswered, PushDeviceView, PushEnrolment, PushEnrolmentChallenge,
    PushPending, PushPrompt, PushState,
};
pub use recovery::LinkUrls;
pub use rotation::{MAX_RESEAL_BATCH, ResealProgress};
pub use sessions::SessionView;
pub use users::NewUser;
pub use verify::{Verified, VerifyRequest};

use crate::clock::Clock;
use crate::crypto::{KeyRing, PasswordHasher, TokenService};
use crate::delivery::DeliveryChannel;
use crate::error::{MfaError, MfaResult};
use crate::model::{Aal, AuthMethod, SessionId};
use crate::observability::step;
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

    /// Writes a signed checkpoint of this instance's audit chains now, if
    /// any moved since the last one (see [`crate::audit`]). The engine
    /// writes one by itself with a step's events once
    /// [`AuditPolicy::checkpoint_interval`](crate::policy::AuditPolicy)
    /// has passed; call this on a timer, so that an idle instance's
    /// newest events are covered too, and before the process exits.
    /// Returns whether a checkpoint was written.
    ///
    /// # Errors
    /// A store error; the heads stay due for the next checkpoint.
    pub async fn checkpoint_audit(&self) -> MfaResult<bool> {
        step!("mfa.checkpoint_audit", async {
            self.inner.write_audit_with(Vec::new(), true).await
        })
    }

    /// Archives every audit event before `before` into `out` (a gzip JSON
    /// Lines file that verifies on its own with
    /// [`crate::audit::archive::verify_archive`]), records the cut in the
    /// log, then removes the archived events; see
    /// [`crate::audit::archive`]. Run it from one place at a time (a
    /// scheduled job), never concurrently with itself.
    ///
    /// Nothing is removed unless the file was written completely and the
    /// cut recorded; the events to archive must verify first.
    ///
    /// # Errors
    /// [`ArchiveError`](crate::audit::archive::ArchiveError): the store,
    /// the file, or events that do not verify (nothing removed). A store
    /// error while removing leaves events that are both archived and
    /// still stored; running the archive again writes them again.
    pub async fn archive_audit<W: std::io::Write>(
        &self,
        before: DateTime<Utc>,
        out: W,
    ) -> Result<crate::audit::archive::ArchiveSummary, crate::audit::archive::ArchiveError> {
        step!("mfa.archive_audit", async {
            let inner = &*self.inner;
            let exported = crate::audit::archive::export(
                inner.audit_log(),
                &inner.keys,
                before,
                inner.clock.now(),
                out,
            )
            .await?;
            inner
                .write_audit(vec![exported.cut])
                .await
                .map_err(|e| match e {
                    MfaError::Store(s) => crate::audit::archive::ArchiveError::Store(s),
                    other => crate::audit::archive::ArchiveError::Io(std::io::Error::other(other)),
                })?;
            inner
                .audit_log()
                .delete_audit_prefix(&exported.remove, Some(before))
                .await?;
            Ok(exported.summary)
        })
    }

    /// Verifies an archive written by [`Mfa::archive_audit`] with this
    /// engine's keys (see [`crate::audit::archive::verify_archive`]).
    ///
    /// # Errors
    /// Only `open`'s own error.
    pub fn verify_audit_archive<R: std::io::Read>(
        &self,
        open: impl FnMut() -> std::io::Result<R>,
    ) -> std::io::Result<crate::audit::AuditReport> {
        crate::audit::archive::verify_archive(&self.inner.keys, open)
    }

    /// Verifies the whole audit log: every chain link, every checkpoint
    /// and the events written around the engine (see
    /// [`crate::audit::verify_store`]). Reads everything; for an operator's
    /// command or a scheduled job, not for a request path.
    ///
    /// # Errors
    /// A store error.
    pub async fn verify_audit(&self) -> MfaResult<crate::audit::AuditReport> {
        step!("mfa.verify_audit", async {
            let inner = &*self.inner;
            Ok(crate::audit::verify_store(inner.audit_log(), &inner.keys).await?)
        })
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
    /// The host's own list of passwords to refuse (see
    /// [`MfaBuilder::password_blocklist`]).
    pub password_blocklist: Option<crate::blocklist::PasswordBlocklist>,
    /// Where recovery and verification links point (see
    /// [`MfaBuilder::links`]).
    pub links: recovery::LinkUrls,
    /// The wording of the texts the engine writes (see
    /// [`MfaBuilder::templates`]).
    pub templates: crate::template::Templates,
    /// The audit chains this instance writes.
    pub chains: chains::Chains,
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

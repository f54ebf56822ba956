//! Passkeys and security keys (WebAuthn), feature `passkeys`.
//!
//! The relying party is [`webauthn-rs`](https://docs.rs/webauthn-rs): it
//! builds the options of each ceremony and verifies the browser's answer
//! (client data, origin, relying-party id hash, challenge, user presence
//! and verification, signature, signature counter). This module holds the
//! configuration ([`PasskeyConfig`], validated by
//! [`crate::MfaBuilder::build`]), the parsing of the browser's JSON and the
//! mapping of the relying party's refusals to [`PasskeyError`]; the
//! ceremonies themselves are methods of [`crate::Mfa`]
//! ([`crate::Mfa::start_passkey_registration`],
//! [`crate::Mfa::passkey_options`], [`crate::Mfa::verify_passkey`]).
//!
//! What the store keeps:
//!
//! - a credential is a factor of kind [`FactorKind::Webauthn`], its
//!   credential record (public key, flags, transports) sealed with the key
//!   ring in [`crate::model::Factor::secret`], bound to the user and the
//!   factor; its signature counter in
//!   [`crate::model::Factor::last_totp_step`], moved only forward by
//!   [`crate::store::FactorRepository::advance_totp_step`];
//! - the state of each ceremony is a sealed, single-use, expiring
//!   [`crate::model::WebauthnCeremony`].
//!
//! [`FactorKind::Webauthn`]: crate::model::FactorKind::Webauthn

use crate::crypto::{Aad, KeyRing};
use crate::error::{MfaError, MfaResult, PasskeyError};
use crate::model::{AuthMethod, Factor, UserId, WebauthnCeremony};
use chrono::TimeDelta;
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    AuthenticationResult, Credential, CredentialID, DiscoverableAuthentication, Passkey,
    PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    Url, Webauthn, WebauthnBuilder, WebauthnError,
};

/// The longest browser answer accepted, in bytes. Real ones are below
/// 4 KiB; the bound keeps a hostile body from costing more than parsing.
pub const MAX_RESPONSE_LEN: usize = 64 * 1024;

/// The relying party: who the credentials belong to and which web origins
/// may use them.
///
/// ```
/// use mfa_core::passkey::PasskeyConfig;
/// let config = PasskeyConfig::new("example.com", "Example", "https://example.com")
///     .allow_origin("https://app.example.com");
/// assert_eq!(config.rp_id(), "example.com");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyConfig {
    rp_id: String,
    rp_name: String,
    origins: Vec<String>,
    ceremony_ttl: TimeDelta,
    aaguids: Option<Vec<uuid::Uuid>>,
}

impl PasskeyConfig {
    /// Longest lifetime of a ceremony (the options' timeout).
    pub const MAX_CEREMONY_TTL: TimeDelta = TimeDelta::minutes(10);
    /// Shortest lifetime of a ceremony.
    pub const MIN_CEREMONY_TTL: TimeDelta = TimeDelta::seconds(30);

    /// A relying party with id `rp_id` (a registrable domain, e.g.
    /// `example.com`), display name `rp_name`, and one allowed origin
    /// (`https://…`, or `http://localhost…` for development). Ceremonies
    /// last 5 minutes.
    #[must_use]
    pub fn new(
        rp_id: impl Into<String>,
        rp_name: impl Into<String>,
        origin: impl Into<String>,
    ) -> Self {
        Self {
            rp_id: rp_id.into(),
            rp_name: rp_name.into(),
            origins: vec![origin.into()],
            ceremony_ttl: TimeDelta::minutes(5),
            aaguids: None,
        }
    }

    /// Registers only authenticators whose model (AAGUID) is in `aaguids`
    /// (for instance the security keys an organisation hands out).
    ///
    /// Attestation stays `none`, so the AAGUID is what the authenticator
    /// says of itself, unverified: this steers users to the intended
    /// devices, it does not prove what a device is. Some browsers report a
    /// zero AAGUID for security keys under attestation `none`; include
    /// [`uuid::Uuid::nil`] to accept those.
    #[must_use]
    pub fn allow_authenticators(mut self, aaguids: impl IntoIterator<Item = uuid::Uuid>) -> Self {
        self.aaguids = Some(aaguids.into_iter().collect());
        self
    }

    /// Allows one more origin; its host must be the relying-party id or a
    /// subdomain of it.
    #[must_use]
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.origins.push(origin.into());
        self
    }

    /// How long the browser has to answer a ceremony (30 s to 10 min).
    #[must_use]
    pub const fn ceremony_ttl(mut self, ttl: TimeDelta) -> Self {
        self.ceremony_ttl = ttl;
        self
    }

    /// The relying-party id.
    #[must_use]
    pub fn rp_id(&self) -> &str {
        &self.rp_id
    }

    /// The allowed origins.
    #[must_use]
    pub fn origins(&self) -> &[String] {
        &self.origins
    }
}

/// A configured relying party.
pub(crate) struct RelyingParty {
    webauthn: Webauthn,
    pub ttl: TimeDelta,
    aaguids: Option<Vec<uuid::Uuid>>,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingParty")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// Whether `host` is `rp_id` or one of its subdomains.
fn within(host: &str, rp_id: &str) -> bool {
    host == rp_id
        || host
            .strip_suffix(rp_id)
            .is_some_and(|head| head.ends_with('.'))
}

impl RelyingParty {
    /// Validates `config` and builds the relying party.
    pub fn new(config: &PasskeyConfig) -> Result<Self, String> {
        let rp_id = config.rp_id.as_str();
        if rp_id.is_empty()
            || rp_id.len() > 253
            || !rp_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        {
            return Err(format!("passkeys: {rp_id:?} is not a domain name"));
        }
        let name = config.rp_name.as_str();
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err(
                "passkeys: the relying-party name needs 1 to 64 printable characters".into(),
            );
        }
        if !(PasskeyConfig::MIN_CEREMONY_TTL..=PasskeyConfig::MAX_CEREMONY_TTL)
            .contains(&config.ceremony_ttl)
        {
            return Err("passkeys: the ceremony lifetime must be 30 s to 10 min".into());
        }
        let mut origins = Vec::with_capacity(config.origins.len());
        for origin in &config.origins {
            let url = Url::parse(origin)
                .map_err(|e| format!("passkeys: origin {origin:?} is not a URL: {e}"))?;
            let host = url.host_str().unwrap_or_default();
            // WebAuthn needs a secure context: https, or http on the local
            // machine.
            let local = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
            if url.scheme() != "https" && !(url.scheme() == "http" && local) {
                return Err(format!(
                    "passkeys: origin {origin:?} must use https (http only for localhost)"
                ));
            }
            if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
                return Err(format!(
                    "passkeys: origin {origin:?} must be scheme, host and port only"
                ));
            }
            if !within(host, rp_id) {
                return Err(format!(
                    "passkeys: origin {origin:?} is not {rp_id} or a subdomain of it"
                ));
            }
            origins.push(url);
        }
        let (first, more) = origins
            .split_first()
            .ok_or("passkeys: at least one origin is needed")?;
        let timeout = config
            .ceremony_ttl
            .to_std()
            .map_err(|_| "passkeys: the ceremony lifetime must be positive")?;
        let mut builder = WebauthnBuilder::new(rp_id, first)
            .map_err(|e| format!("passkeys: {e}"))?
            .rp_name(name)
            .timeout(timeout);
        for origin in more {
            builder = builder.append_allowed_origin(origin);
        }
        let webauthn = builder.build().map_err(|e| format!("passkeys: {e}"))?;
        if config.aaguids.as_ref().is_some_and(Vec::is_empty) {
            return Err("passkeys: the authenticator allow-list is empty".into());
        }
        Ok(Self {
            webauthn,
            ttl: config.ceremony_ttl,
            aaguids: config.aaguids.clone(),
        })
    }

    /// Options and state of a registration for `user`, excluding the
    /// credentials in `exclude`. The options ask for a discoverable
    /// credential where the authenticator can make one (so the passkey can
    /// also sign in without a user name), and for user verification.
    pub fn start_registration(
        &self,
        user: UserId,
        name: &str,
        exclude: Vec<CredentialID>,
    ) -> MfaResult<(serde_json::Value, PasskeyRegistration)> {
        let (options, state) = self
            .webauthn
            .start_passkey_registration(*user.as_uuid(), name, name, Some(exclude))
            .map_err(|_| MfaError::invalid_input("user", "not usable as a WebAuthn user name"))?;
        let mut options = to_json(&options)?;
        if let Some(selection) = options
            .pointer_mut("/publicKey/authenticatorSelection")
            .and_then(serde_json::Value::as_object_mut)
        {
            selection.insert("residentKey".into(), "preferred".into());
            selection.insert("requireResidentKey".into(), false.into());
        }
        Ok((options, state))
    }

    /// Verifies a registration answer against its state, and its
    /// authenticator model against the allow-list; the credential and the
    /// model (AAGUID) it named.
    pub fn finish_registration(
        &self,
        response: &AttestationResponse,
        state: &PasskeyRegistration,
    ) -> Result<(Passkey, Option<uuid::Uuid>), PasskeyError> {
        let passkey = self
            .webauthn
            .finish_passkey_registration(&response.0, state)
            .map_err(refusal)?;
        let aaguid = aaguid_of(&response.0.response.attestation_object);
        if let Some(allowed) = &self.aaguids
            && !aaguid.is_some_and(|a| allowed.contains(&a))
        {
            return Err(PasskeyError::NotAllowed);
        }
        Ok((passkey, aaguid))
    }

    /// Options and state of an assertion by one of `credentials`.
    pub fn start_authentication(
        &self,
        credentials: &[Passkey],
    ) -> MfaResult<(serde_json::Value, PasskeyAuthentication)> {
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(credentials)
            .map_err(|_| MfaError::MethodUnavailable)?;
        Ok((to_json(&options)?, state))
    }

    /// Options and state of a passwordless sign-in: no credential is
    /// named, the browser offers the discoverable ones it holds for this
    /// relying party (`mediation: conditional` for autofill).
    pub fn start_discoverable(&self) -> MfaResult<(serde_json::Value, DiscoverableAuthentication)> {
        let (options, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(|_| MfaError::MethodUnavailable)?;
        Ok((to_json(&options)?, state))
    }

    /// Verifies a passwordless assertion by `credential` against its state.
    pub fn finish_discoverable(
        &self,
        response: &AssertionResponse,
        state: DiscoverableAuthentication,
        credential: &Passkey,
    ) -> Result<AuthenticationResult, PasskeyError> {
        self.webauthn
            .finish_discoverable_authentication_v2(&response.0, state, credential)
            .map_err(refusal)
    }

    /// Verifies an assertion against its state (signature, challenge,
    /// origin, relying party, user verification, and the counter against
    /// the one the state holds).
    pub fn finish_authentication(
        &self,
        response: &AssertionResponse,
        state: &PasskeyAuthentication,
    ) -> Result<AuthenticationResult, PasskeyError> {
        self.webauthn
            .finish_passkey_authentication(&response.0, state)
            .map_err(refusal)
    }
}

/// The AAGUID (authenticator model) in the authenticator data of an
/// attestation object: after the relying-party id hash (32 bytes), the
/// flags (1) and the signature counter (4), when the AT flag says attested
/// credential data follows (WebAuthn Level 3 §6.1, §6.5.1).
fn aaguid_of(attestation_object: &[u8]) -> Option<uuid::Uuid> {
    const AT: u8 = 0x40;
    let object: std::collections::BTreeMap<String, serde_cbor_2::Value> =
        serde_cbor_2::from_slice(attestation_object).ok()?;
    let serde_cbor_2::Value::Bytes(auth_data) = object.get("authData")? else {
        return None;
    };
    if auth_data.get(32)? & AT == 0 {
        return None;
    }
    uuid::Uuid::from_slice(auth_data.get(37..53)?).ok()
}

fn to_json(value: &impl Serialize) -> MfaResult<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| MfaError::Config(format!("passkey options: {e}")))
}

/// The browser's answer to a registration (`navigator.credentials.create`),
/// parsed from its JSON form.
#[derive(Debug)]
pub(crate) struct AttestationResponse(RegisterPublicKeyCredential);

/// The browser's answer to an authentication (`navigator.credentials.get`),
/// parsed from its JSON form.
#[derive(Debug)]
pub(crate) struct AssertionResponse(PublicKeyCredential);

fn parse<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, PasskeyError> {
    if json.len() > MAX_RESPONSE_LEN {
        return Err(PasskeyError::Malformed);
    }
    serde_json::from_str(json).map_err(|_| PasskeyError::Malformed)
}

impl AttestationResponse {
    /// Parses the JSON of a `PublicKeyCredential` from `create()`.
    pub fn from_json(json: &str) -> Result<Self, PasskeyError> {
        parse(json).map(Self)
    }

    /// The transports the browser reported (`getTransports()`): hints for
    /// later `allowCredentials`, not verified by anything.
    pub fn transports(&self) -> Vec<String> {
        self.0
            .response
            .transports
            .iter()
            .flatten()
            .filter_map(|t| serde_json::to_value(t).ok())
            .filter_map(|v| v.as_str().map(str::to_owned))
            .take(8)
            .collect()
    }
}

impl AssertionResponse {
    /// Parses the JSON of a `PublicKeyCredential` from `get()`.
    pub fn from_json(json: &str) -> Result<Self, PasskeyError> {
        parse(json).map(Self)
    }

    /// The id of the credential that signed.
    pub fn credential_id(&self) -> &[u8] {
        self.0.get_credential_id()
    }

    /// The user handle a discoverable credential returned: the user id it
    /// was registered for, if it is one.
    pub fn user_handle(&self) -> Option<UserId> {
        self.0
            .get_user_unique_id()
            .and_then(|bytes| uuid::Uuid::from_slice(bytes).ok())
            .map(UserId::from_uuid)
    }
}

/// What a refusal of the relying party means to the caller.
pub(crate) fn refusal(e: WebauthnError) -> PasskeyError {
    use WebauthnError as W;
    match e {
        W::InvalidRPOrigin | W::CredentialCrossOrigin => PasskeyError::WrongOrigin,
        W::InvalidRPIDHash => PasskeyError::WrongRelyingParty,
        W::MismatchedChallenge | W::ChallengeNotFound | W::InvalidClientDataType => {
            PasskeyError::WrongChallenge
        }
        W::UserNotPresent => PasskeyError::UserNotPresent,
        W::UserNotVerified => PasskeyError::UserNotVerified,
        W::CredentialNotFound => PasskeyError::UnknownCredential,
        W::CredentialPossibleCompromise => PasskeyError::CounterRegression,
        W::CredentialExcludedFromRequest | W::CredentialAlreadyExists => {
            PasskeyError::AlreadyRegistered
        }
        W::AuthenticationFailure
        | W::SignatureInvalid
        | W::AttestationStatementSigInvalid
        | W::TrustFailure => PasskeyError::BadSignature,
        W::CredentialInsecureCryptography
        | W::CredentialAlteredAlgFromRequest
        | W::CredentialMayNotBeHardwareBound
        | W::AttestationNotSupported
        | W::AttestationNotVerifiable
        | W::AttestationUntrustedAaguid
        | W::AttestationTrustFailure
        | W::COSEKeyInvalidAlgorithm
        | W::COSEKeyEDUnsupported => PasskeyError::NotAllowed,
        // Everything else is a structure the relying party could not read:
        // base64url, JSON, CBOR, authenticator data, attestation statement,
        // COSE key.
        _ => PasskeyError::Malformed,
    }
}

/// The relying party's state of one ceremony, sealed into
/// [`WebauthnCeremony::state`].
#[derive(Serialize, Deserialize)]
pub(crate) enum CeremonyState {
    /// A registration, with the label the user chose.
    Registration {
        state: PasskeyRegistration,
        label: Option<String>,
    },
    /// A second-factor assertion.
    Login { state: PasskeyAuthentication },
    /// A passwordless sign-in.
    Passwordless { state: DiscoverableAuthentication },
}

fn ceremony_aad(ceremony: &WebauthnCeremony) -> Aad {
    let mut context = ceremony.id.as_uuid().as_bytes().to_vec();
    context.extend_from_slice(ceremony.purpose.as_str().as_bytes());
    if let Some(user) = ceremony.user_id {
        context.extend_from_slice(user.as_uuid().as_bytes());
    }
    Aad::custom("webauthn-ceremony", &context)
}

impl CeremonyState {
    /// Seals the state into `ceremony` (whose id, purpose and user bind it).
    pub fn seal_into(&self, keys: &KeyRing, ceremony: &mut WebauthnCeremony) -> MfaResult<()> {
        let json = serde_json::to_vec(self)
            .map_err(|e| MfaError::Config(format!("passkey state: {e}")))?;
        ceremony.state = keys
            .seal(&json, &ceremony_aad(ceremony))
            .map_err(MfaError::Crypto)?;
        Ok(())
    }

    /// Opens the state of a taken ceremony.
    pub fn open(keys: &KeyRing, ceremony: &WebauthnCeremony) -> MfaResult<Self> {
        let json = keys
            .open(&ceremony.state, &ceremony_aad(ceremony))
            .map_err(MfaError::Crypto)?;
        serde_json::from_slice(json.expose())
            .map_err(|e| MfaError::Config(format!("passkey state: {e}")))
    }
}

/// What a WebAuthn factor keeps sealed: the relying party's credential
/// (public key, algorithm, flags) and the transports the browser reported.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CredentialRecord {
    pub passkey: Passkey,
    #[serde(default)]
    pub transports: Vec<String>,
    /// The authenticator model it named at registration.
    #[serde(default)]
    pub aaguid: Option<uuid::Uuid>,
}

/// Seals a credential record into a factor (bound to its user and id).
pub(crate) fn seal_credential(
    keys: &KeyRing,
    factor: &mut Factor,
    record: &CredentialRecord,
) -> MfaResult<()> {
    let json =
        serde_json::to_vec(record).map_err(|e| MfaError::Config(format!("passkey record: {e}")))?;
    factor.secret = Some(
        keys.seal(&json, &Aad::factor(factor.user_id, factor.id))
            .map_err(MfaError::Crypto)?,
    );
    Ok(())
}

/// Opens the credential record of a WebAuthn factor, with the signature
/// counter the store holds for it (the one that only moves forward).
pub(crate) fn open_credential(keys: &KeyRing, factor: &Factor) -> MfaResult<CredentialRecord> {
    let sealed = factor.secret.as_ref().ok_or(MfaError::MethodUnavailable)?;
    let json = keys
        .open(sealed, &Aad::factor(factor.user_id, factor.id))
        .map_err(MfaError::Crypto)?;
    let mut record: CredentialRecord = serde_json::from_slice(json.expose())
        .map_err(|e| MfaError::Config(format!("passkey record: {e}")))?;
    let mut credential = Credential::from(record.passkey);
    credential.counter = factor
        .last_totp_step
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or(0);
    record.passkey = Passkey::from(credential);
    Ok(record)
}

/// The registration-time facts of a credential.
pub(crate) fn credential_facts(passkey: &Passkey) -> Credential {
    Credential::from(passkey.clone())
}

/// The `amr` values an accepted assertion proves (RFC 8176): `swk` for a
/// credential its authenticator may back up or synchronise, `hwk`
/// otherwise, and `user` when the authenticator verified the user.
pub(crate) fn amr_of(backup_eligible: bool, user_verified: bool) -> Vec<AuthMethod> {
    let mut amr = vec![if backup_eligible {
        AuthMethod::Swk
    } else {
        AuthMethod::Hwk
    }];
    if user_verified {
        amr.push(AuthMethod::User);
    }
    amr
}

/// A registered passkey as a user's security page lists it. Nothing in it
/// is secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PasskeyInfo {
    /// The factor.
    pub factor_id: crate::model::FactorId,
    /// The name the user gave it.
    pub label: Option<String>,
    /// Active, or disabled (for instance after a counter regression).
    pub status: crate::model::FactorStatus,
    /// The credential id, base64url without padding.
    pub credential_id: String,
    /// The authenticator may back the credential up (a synced passkey).
    pub backup_eligible: bool,
    /// The credential was backed up when last seen.
    pub backup_state: bool,
    /// How the browser can reach the authenticator (`internal`, `usb`,
    /// `hybrid`…), as the browser reported at registration.
    pub transports: Vec<String>,
    /// The authenticator model (AAGUID) it reported at registration,
    /// unverified (attestation `none`).
    pub aaguid: Option<uuid::Uuid>,
    /// Registration time.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Last successful use.
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl PasskeyInfo {
    pub(crate) fn of(factor: &Factor, record: &CredentialRecord) -> Self {
        let passkey = &record.passkey;
        let facts = credential_facts(passkey);
        Self {
            factor_id: factor.id,
            label: factor.label.clone(),
            status: factor.status,
            credential_id: data_encoding::BASE64URL_NOPAD.encode(passkey.cred_id().as_ref()),
            backup_eligible: facts.backup_eligible,
            backup_state: facts.backup_state,
            transports: record.transports.clone(),
            aaguid: record.aaguid,
            created_at: factor.created_at,
            last_used_at: factor.last_used_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_must_be_secure_and_within_the_relying_party() {
        let ok = PasskeyConfig::new("example.com", "Example", "https://example.com")
            .allow_origin("https://app.example.com:8443");
        assert!(RelyingParty::new(&ok).is_ok());
        let local = PasskeyConfig::new("localhost", "Dev", "http://localhost:8080");
        assert!(RelyingParty::new(&local).is_ok());
        for (rp, origin) in [
            ("example.com", "http://example.com"),
            ("example.com", "https://evil-example.com"),
            ("example.com", "https://example.org"),
            ("example.com", "https://example.com/login"),
            ("example.com", "not a url"),
            ("", "https://example.com"),
        ] {
            let config = PasskeyConfig::new(rp, "Example", origin);
            assert!(RelyingParty::new(&config).is_err(), "{rp} {origin}");
        }
        let short = PasskeyConfig::new("example.com", "Example", "https://example.com")
            .ceremony_ttl(TimeDelta::seconds(5));
        assert!(RelyingParty::new(&short).is_err());
        let nameless = PasskeyConfig::new("example.com", "", "https://example.com");
        assert!(RelyingParty::new(&nameless).is_err());
    }

    #[test]
    fn oversized_and_broken_answers_are_malformed() {
        let huge = format!("\"{}\"", "a".repeat(MAX_RESPONSE_LEN));
        assert_eq!(
            AssertionResponse::from_json(&huge).err(),
            Some(PasskeyError::Malformed)
        );
        for body in ["", "{", "[]", "{\"id\": 1}", "null"] {
            assert_eq!(
                AttestationResponse::from_json(body).err(),
                Some(PasskeyError::Malformed),
                "{body}"
            );
        }
    }

    #[test]
    fn amr_names_the_key_kind_and_user_verification() {
        assert_eq!(amr_of(false, true), vec![AuthMethod::Hwk, AuthMethod::User]);
        assert_eq!(amr_of(true, false), vec![AuthMethod::Swk]);
    }
}

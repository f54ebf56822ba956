//! A software passkey authenticator and the browser around it, for tests.
//!
//! [`SoftAuthenticator`] plays the user's side of a `WebAuthn` ceremony: it is
//! the client (what `navigator.credentials.create` / `.get` do in a browser)
//! and the authenticator behind it, with its keys held in memory. It is
//! built on 1Password's `passkey` crates: [`passkey::client::Client`] checks
//! the relying party id against the origin and builds the client data, and
//! [`passkey::authenticator::Authenticator`] makes and uses the keys
//! (ES256 when the relying party offers it), with attestation `none`.
//!
//! Its boundary is JSON only, so that a relying party under test goes
//! through its real parsing path:
//!
//! * in: the options a server sends to the page, in the shape of the
//!   browser's `PublicKeyCredentialCreationOptionsJSON` /
//!   `...RequestOptionsJSON` wrapped in `{"publicKey": {...}}` (what
//!   `webauthn-rs` serialises `CreationChallengeResponse` /
//!   `RequestChallengeResponse` to), binary fields base64url;
//! * out: what the page posts back, the browser's
//!   `PublicKeyCredential.toJSON()`: binary fields as unpadded base64url
//!   strings, `clientExtensionResults` holding `credProps` (`{"rk": bool}`)
//!   when asked for, `userHandle` only when the authenticator returned one.
//!
//! Switches for negative tests: [`SoftAuthenticator::user_verification`]
//! (responses with the UV flag clear), [`SoftAuthenticator::with_counter`]
//! (signature counter always 0), [`SoftAuthenticator::set_origin`] (another
//! origin in the client data), and [`Clone`] (a cloned authenticator, whose
//! counter falls behind the original's).
//!
//! This is test code: it keeps private keys in plain memory, trusts every
//! request and asks no one for consent.

use std::fmt;

use passkey::authenticator::{
    Authenticator, CredentialStore, DiscoverabilitySupport, StoreInfo, UiHint, UserCheck,
    UserValidationMethod,
};
use passkey::client::{Client, DefaultClientData, DefaultClientDataWithCustomHash, WebauthnError};
use passkey::crypto::{AvailableBackend, AvailableSha2, hash::Sha256Backend};
use passkey::types::{
    Passkey,
    ctap2::{
        Aaguid, Ctap2Error, StatusCode,
        make_credential::{Options, PublicKeyCredentialRpEntity, PublicKeyCredentialUserEntity},
    },
    encoding::base64url,
    webauthn::{
        ClientDataType, CollectedClientData, CredentialCreationOptions, CredentialRequestOptions,
        PublicKeyCredentialDescriptor, UserVerificationRequirement,
    },
};
use serde_json::{Map, Value, json};
use url::Url;

/// A software passkey authenticator and the browser around it.
///
/// Cloning gives a *cloned authenticator*: the same keys and signature
/// counters as the original at the time of the clone, independent of it
/// afterwards. A relying party that tracks counters sees the clone's
/// counter fall behind once the original has been used.
#[derive(Clone)]
pub struct SoftAuthenticator {
    /// The page the browser is on; the relying party id is checked against it.
    page: Url,
    /// The origin written into `clientDataJSON`.
    origin: String,
    /// Whether the authenticator verifies the user (sets the UV flag).
    verify_user: bool,
    /// Whether credentials keep a signature counter.
    counter: bool,
    /// The credentials, oldest first.
    vault: Vault,
}

impl SoftAuthenticator {
    /// A browser on the page `origin` (such as `https://app.example.com` or
    /// `http://localhost:8080`), with an empty authenticator that verifies
    /// the user and keeps a signature counter.
    ///
    /// Only the origin of the URL counts (a path is dropped). The client
    /// refuses, as a browser does, a relying party id that is not this
    /// origin's host or a registrable suffix of it, an origin other than
    /// `https` unless the relying party id is `localhost`, and an IP address
    /// as the host.
    ///
    /// # Panics
    ///
    /// If `origin` is not an absolute URL with a host (test-only helper).
    #[must_use]
    pub fn new(origin: &str) -> Self {
        let parsed = Url::parse(origin)
            .unwrap_or_else(|e| panic!("SoftAuthenticator::new: bad origin {origin:?}: {e}"));
        let serialized = parsed.origin().ascii_serialization();
        let page = Url::parse(&serialized)
            .unwrap_or_else(|e| panic!("SoftAuthenticator::new: {origin:?} has no origin: {e}"));
        Self {
            page,
            origin: serialized,
            verify_user: true,
            counter: true,
            vault: Vault::default(),
        }
    }

    /// Whether the authenticator performs user verification (default
    /// `true`). When off, it only tests user presence: whatever the relying
    /// party asks for, responses carry the UP flag and not the UV flag, so a
    /// relying party that requires verification must refuse them.
    #[must_use]
    pub const fn user_verification(mut self, on: bool) -> Self {
        self.verify_user = on;
        self
    }

    /// Whether credentials keep a signature counter (default `true`: 0 at
    /// registration, one more at each assertion) or report 0 forever. Applies
    /// to the credentials already held as well (turning it on starts their
    /// counters at 0).
    #[must_use]
    pub fn with_counter(mut self, on: bool) -> Self {
        self.counter = on;
        for key in &mut self.vault.keys {
            key.counter = on.then(|| key.counter.unwrap_or(0));
        }
        self
    }

    /// Put `origin` into the client data of later ceremonies instead of the
    /// page's origin, to test the relying party's origin check.
    ///
    /// The relying party id is still checked against the page given to
    /// [`SoftAuthenticator::new`], so any string gets through to the relying
    /// party (like a client that lies about where it is). Setting the page's
    /// own origin again returns to normal.
    pub fn set_origin(&mut self, origin: &str) {
        origin.trim_end_matches('/').clone_into(&mut self.origin);
    }

    /// `navigator.credentials.create`: make a credential from creation
    /// options JSON (`{"publicKey": {...}}`) and return the credential JSON
    /// to post back to the relying party.
    ///
    /// Honours `excludeCredentials` (an error if this authenticator holds
    /// one of them for the relying party) and `residentKey` /
    /// `requireResidentKey`: a discoverable credential (`required`, or
    /// `preferred`) is stored with the user handle and reported as
    /// `credProps.rk = true` when `credProps` is asked for.
    ///
    /// # Errors
    ///
    /// A message if the options do not parse, the client refuses the origin
    /// or relying party id, or the authenticator refuses (excluded
    /// credential, no supported algorithm).
    pub async fn register(&mut self, options: &Value) -> Result<Value, String> {
        let mut request: CredentialCreationOptions = serde_json::from_value(options.clone())
            .map_err(|e| format!("creation options do not parse: {e}"))?;
        if !self.verify_user {
            request
                .public_key
                .authenticator_selection
                .get_or_insert_with(Default::default)
                .user_verification = UserVerificationRequirement::Discouraged;
        }
        let spoofed =
            self.spoofed_client_data(ClientDataType::Create, &request.public_key.challenge)?;

        let mut client = Client::new(authenticator(
            &mut self.vault,
            self.verify_user,
            self.counter,
        ))
        .allows_insecure_localhost(true)
        .user_verification_when_preferred(self.verify_user);
        let created = match &spoofed {
            Some((_, hash)) => {
                let data = DefaultClientDataWithCustomHash(hash.clone());
                client.register(&self.page, request, data).await
            }
            None => {
                client
                    .register(&self.page, request, DefaultClientData)
                    .await
            }
        }
        .map_err(|e| describe("navigator.credentials.create", e))?;

        let client_data_json = spoofed.map_or_else(
            || created.response.client_data_json.to_vec(),
            |(json, _)| json.into_bytes(),
        );
        let mut extensions = Map::new();
        if let Some(props) = created.client_extension_results.cred_props {
            extensions.insert("credProps".into(), json!({ "rk": props.discoverable }));
        }
        let response = json!({
            "clientDataJSON": base64url(&client_data_json),
            "attestationObject": base64url(&created.response.attestation_object),
            "authenticatorData": base64url(&created.response.authenticator_data),
            "publicKey": created.response.public_key.as_deref().map(|key| base64url(key)),
            "publicKeyAlgorithm": created.response.public_key_algorithm,
            "transports": to_json(serde_json::to_value(created.response.transports.unwrap_or_default()))?,
        });
        Ok(json!({
            "id": created.id,
            "rawId": base64url(&created.raw_id),
            "type": "public-key",
            "authenticatorAttachment": to_json(serde_json::to_value(created.authenticator_attachment))?,
            "response": response,
            "clientExtensionResults": extensions,
        }))
    }

    /// `navigator.credentials.get`: sign the challenge of request options
    /// JSON (`{"publicKey": {...}}`) and return the assertion JSON to post
    /// back to the relying party.
    ///
    /// With `allowCredentials` listed, uses the newest of those it holds for
    /// the relying party id. With it empty or absent, uses the newest
    /// discoverable credential for the relying party id, and the response
    /// carries its `userHandle`. `mediation` is ignored.
    ///
    /// # Errors
    ///
    /// A message if the options do not parse, the client refuses the origin
    /// or relying party id, or no usable credential is held.
    pub async fn authenticate(&mut self, options: &Value) -> Result<Value, String> {
        let mut request: CredentialRequestOptions = serde_json::from_value(options.clone())
            .map_err(|e| format!("request options do not parse: {e}"))?;
        if !self.verify_user {
            request.public_key.user_verification = UserVerificationRequirement::Discouraged;
        }
        let spoofed =
            self.spoofed_client_data(ClientDataType::Get, &request.public_key.challenge)?;

        let mut client = Client::new(authenticator(
            &mut self.vault,
            self.verify_user,
            self.counter,
        ))
        .allows_insecure_localhost(true)
        .user_verification_when_preferred(self.verify_user);
        let asserted = match &spoofed {
            Some((_, hash)) => {
                let data = DefaultClientDataWithCustomHash(hash.clone());
                client.authenticate(&self.page, request, data).await
            }
            None => {
                client
                    .authenticate(&self.page, request, DefaultClientData)
                    .await
            }
        }
        .map_err(|e| describe("navigator.credentials.get", e))?;

        let client_data_json = spoofed.map_or_else(
            || asserted.response.client_data_json.to_vec(),
            |(json, _)| json.into_bytes(),
        );
        let mut response = Map::new();
        response.insert("clientDataJSON".into(), base64url(&client_data_json).into());
        let auth_data = base64url(&asserted.response.authenticator_data);
        response.insert("authenticatorData".into(), auth_data.into());
        response.insert(
            "signature".into(),
            base64url(&asserted.response.signature).into(),
        );
        if let Some(handle) = &asserted.response.user_handle {
            response.insert("userHandle".into(), base64url(handle).into());
        }
        Ok(json!({
            "id": asserted.id,
            "rawId": base64url(&asserted.raw_id),
            "type": "public-key",
            "authenticatorAttachment": to_json(serde_json::to_value(asserted.authenticator_attachment))?,
            "response": response,
            "clientExtensionResults": {},
        }))
    }

    /// The ids of the credentials this authenticator holds, oldest first.
    #[must_use]
    pub fn credential_ids(&self) -> Vec<Vec<u8>> {
        self.vault
            .keys
            .iter()
            .map(|key| key.credential_id.to_vec())
            .collect()
    }

    /// When [`SoftAuthenticator::set_origin`] has moved the origin away from
    /// the page's: the client data JSON naming that origin, and its SHA-256
    /// for the authenticator to sign in place of the client's own.
    fn spoofed_client_data(
        &self,
        ty: ClientDataType,
        challenge: &[u8],
    ) -> Result<Option<(String, Vec<u8>)>, String> {
        if self.origin == self.page.origin().ascii_serialization() {
            return Ok(None);
        }
        // Written like the client's own; `IndexMap` is not a dependency here.
        #[allow(clippy::default_trait_access)]
        let data = CollectedClientData::<()> {
            ty,
            challenge: base64url(challenge),
            origin: self.origin.clone(),
            cross_origin: None,
            extra_data: (),
            unknown_keys: Default::default(),
        };
        let json = serde_json::to_string(&data).map_err(|e| format!("client data: {e}"))?;
        let hash = AvailableSha2::sha256(json.as_bytes()).to_vec();
        Ok(Some((json, hash)))
    }
}

impl fmt::Debug for SoftAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let discoverable = self
            .vault
            .keys
            .iter()
            .filter(|k| k.user_handle.is_some())
            .count();
        f.debug_struct("SoftAuthenticator")
            .field("origin", &self.origin)
            .field("user_verification", &self.verify_user)
            .field("counter", &self.counter)
            .field("credentials", &self.vault.keys.len())
            .field("discoverable", &discoverable)
            .finish_non_exhaustive()
    }
}

/// The authenticator for one ceremony, over the credentials in `vault`.
fn authenticator(
    vault: &mut Vault,
    verify_user: bool,
    counter: bool,
) -> Authenticator<&mut Vault, Presence, AvailableBackend> {
    let mut authenticator = Authenticator::new(
        Aaguid::new_empty(),
        vault,
        Presence { verify_user },
        AvailableBackend,
    );
    authenticator.set_make_credentials_with_signature_counter(counter);
    authenticator
}

/// A client error as a message; authenticator errors by their CTAP2 name.
fn describe(call: &str, error: WebauthnError) -> String {
    match error {
        WebauthnError::AuthenticatorError(code) => {
            format!("{call}: authenticator error {:?}", StatusCode::from(code))
        }
        other => format!("{call}: {other:?}"),
    }
}

/// A serialisation result with the error as a message.
fn to_json(value: serde_json::Result<Value>) -> Result<Value, String> {
    value.map_err(|e| format!("response: {e}"))
}

/// The in-memory credential store: plain data, so cloning it clones the
/// keys and counters.
#[derive(Clone, Default)]
struct Vault {
    /// Oldest first.
    keys: Vec<Passkey>,
}

#[async_trait::async_trait]
impl CredentialStore for &mut Vault {
    type PasskeyItem = Passkey;

    /// Newest first: the authenticator uses the first one.
    async fn find_credentials(
        &self,
        ids: Option<&[PublicKeyCredentialDescriptor]>,
        rp_id: &str,
        _user_handle: Option<&[u8]>,
    ) -> Result<Vec<Passkey>, StatusCode> {
        let found: Vec<Passkey> = self
            .keys
            .iter()
            .rev()
            .filter(|key| key.rp_id == rp_id)
            .filter(|key| match ids {
                Some(ids) => ids.iter().any(|d| d.id == key.credential_id),
                None => key.user_handle.is_some(),
            })
            .cloned()
            .collect();
        if found.is_empty() {
            Err(Ctap2Error::NoCredentials.into())
        } else {
            Ok(found)
        }
    }

    async fn save_credential(
        &mut self,
        cred: Passkey,
        _user: PublicKeyCredentialUserEntity,
        _rp: PublicKeyCredentialRpEntity,
        _options: Options,
    ) -> Result<(), StatusCode> {
        // A discoverable credential replaces the one of the same account.
        if cred.user_handle.is_some() {
            self.keys
                .retain(|key| key.rp_id != cred.rp_id || key.user_handle != cred.user_handle);
        }
        self.keys.push(cred);
        Ok(())
    }

    async fn update_credential(&mut self, cred: &Passkey) -> Result<(), StatusCode> {
        let stored = self
            .keys
            .iter_mut()
            .find(|key| key.credential_id == cred.credential_id)
            .ok_or(Ctap2Error::NoCredentials)?;
        stored.clone_from(cred);
        Ok(())
    }

    async fn get_info(&self) -> StoreInfo {
        StoreInfo {
            discoverability: DiscoverabilitySupport::Full,
        }
    }
}

/// The user at the authenticator: always present, verified only when the
/// switch is on and verification is asked for; declines to go on when an
/// excluded credential is found (how the authenticator ends a registration
/// with `CTAP2_ERR_CREDENTIAL_EXCLUDED`).
struct Presence {
    verify_user: bool,
}

#[async_trait::async_trait]
impl UserValidationMethod for Presence {
    type PasskeyItem = Passkey;

    async fn check_user<'a>(
        &self,
        hint: UiHint<'a, Passkey>,
        _presence: bool,
        verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        if let UiHint::InformExcludedCredentialFound(_) = hint {
            return Err(Ctap2Error::CredentialExcluded);
        }
        Ok(UserCheck {
            presence: true,
            verification: verification && self.verify_user,
        })
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        self.verify_user.then_some(true)
    }
}

//! Signed access tokens (JWT, RFC 9068 profile).
//!
//! * Algorithms: EdDSA (Ed25519) by default, HS256 on request. Each key has a
//!   `kid` and is bound to exactly one algorithm; a token verifies only with
//!   the key its `kid` names and only under that key's algorithm (R30). `none`
//!   and every other algorithm are refused.
//! * Headers: `typ` is `at+jwt` and is checked; `kid` is required and only
//!   selects among configured keys, with no I/O. Tokens carrying `jwk`,
//!   `jku`, `x5u`, `x5c` or `crit` are refused outright (R31).
//! * Time comes from the caller (`now`), never from the system clock:
//!   `exp`, `nbf` and `iat` are checked here against `now` with a bounded
//!   leeway; `jsonwebtoken` still verifies the signature and requires
//!   `iss`, `aud`, `exp` and `sub`.
//! * Tokens longer than 8 KiB are refused before any parsing.
//!
//! Verification failures are [`TokenError`] values: coarse, stable, and free
//! of token content.

use super::key_file;
use super::secret::{ExposeSecret, SecretBytes, SecretString};
use super::{CryptoError, Result, TokenError};
use crate::model::{Aal, AuthMethod, DeviceId, SessionId, UserId};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use chrono::{DateTime, TimeDelta, Utc};
use data_encoding::{BASE64, BASE64URL_NOPAD};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use uuid::Uuid;
use zeroize::Zeroizing;

/// The `typ` header of access tokens (RFC 9068).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// Longest token accepted by [`TokenService::verify`], in bytes.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Default lifetime of an access token.
pub const DEFAULT_TTL: TimeDelta = TimeDelta::minutes(15);

/// Longest lifetime [`JwtConfig::validate`] accepts.
pub const MAX_TTL: TimeDelta = TimeDelta::hours(24);

/// Default clock leeway in seconds.
pub const DEFAULT_LEEWAY_SECS: u32 = 30;

/// Largest clock leeway in seconds.
pub const MAX_LEEWAY_SECS: u32 = 60;

/// Minimum HS256 secret length (the SHA-256 output size, R34).
pub const MIN_HS256_SECRET_LEN: usize = 32;

/// Longest `kid` accepted when configuring keys.
pub const MAX_KID_LEN: usize = 64;

/// Claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user.
    pub sub: UserId,
    /// The session the token belongs to.
    pub sid: SessionId,
    /// Assurance level, serialized as the integer 1 or 2.
    #[serde(with = "aal_as_level")]
    pub aal: Aal,
    /// Authentication methods used (RFC 8176 names where they exist).
    pub amr: Vec<AuthMethod>,
    /// The device, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<DeviceId>,
    /// Unix time of the last primary or MFA authentication (for step-up).
    pub auth_time: i64,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Not before (Unix seconds).
    pub nbf: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Unique token id (random UUID v4), for deny lists.
    pub jti: Uuid,
}

mod aal_as_level {
    use crate::model::Aal;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(aal: &Aal, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(aal.level())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Aal, D::Error> {
        let level = u8::deserialize(d)?;
        Aal::from_level(level).ok_or_else(|| D::Error::custom("aal must be 1 or 2"))
    }
}

/// What the caller supplies to [`TokenService::issue`]; the service adds
/// the registered claims (`iat`, `nbf`, `exp`, `iss`, `aud`, `jti`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenInput {
    /// The user.
    pub sub: UserId,
    /// The session.
    pub sid: SessionId,
    /// Assurance level reached.
    pub aal: Aal,
    /// Methods used.
    pub amr: Vec<AuthMethod>,
    /// The device, when known.
    pub dev: Option<DeviceId>,
    /// Time of the last primary or MFA authentication.
    pub auth_time: DateTime<Utc>,
}

/// Issuer, audience and timing of access tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    /// `iss` written and required.
    pub issuer: String,
    /// `aud` written and required.
    pub audience: String,
    /// Token lifetime (default 15 minutes, at most 24 hours).
    pub ttl: TimeDelta,
    /// Clock leeway for `exp`/`nbf`/`iat` (default 30 s, at most 60 s).
    pub leeway_secs: u32,
}

impl JwtConfig {
    /// A configuration with the default lifetime and leeway.
    #[must_use]
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            ttl: DEFAULT_TTL,
            leeway_secs: DEFAULT_LEEWAY_SECS,
        }
    }

    /// Checks the configuration.
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] for an empty issuer or audience, a
    /// lifetime outside (0, 24 h], or a leeway above 60 s.
    pub fn validate(&self) -> Result<()> {
        if self.issuer.is_empty() {
            return Err(CryptoError::InvalidParameter("JWT issuer is empty"));
        }
        if self.audience.is_empty() {
            return Err(CryptoError::InvalidParameter("JWT audience is empty"));
        }
        if self.ttl <= TimeDelta::zero() || self.ttl > MAX_TTL {
            return Err(CryptoError::InvalidParameter(
                "JWT lifetime must be positive and at most 24 hours",
            ));
        }
        if self.leeway_secs > MAX_LEEWAY_SECS {
            return Err(CryptoError::InvalidParameter("JWT leeway above 60 seconds"));
        }
        Ok(())
    }
}

/// Signature algorithm bound to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwtAlgorithm {
    /// Ed25519 signatures (`EdDSA`), the default.
    EdDsa,
    /// HMAC-SHA-256 with a shared secret (`HS256`).
    Hs256,
}

impl JwtAlgorithm {
    const fn to_jsonwebtoken(self) -> Algorithm {
        match self {
            Self::EdDsa => Algorithm::EdDSA,
            Self::Hs256 => Algorithm::HS256,
        }
    }
}

struct JwtKey {
    algorithm: JwtAlgorithm,
    /// `None` for verification-only (retired or foreign) keys.
    signing: Option<EncodingKey>,
    verifying: DecodingKey,
    /// Raw Ed25519 public key, for the JWKS.
    ed25519_public: Option<[u8; 32]>,
}

/// The token keys: one signing key and any number of verification keys, each
/// under its `kid` and bound to one algorithm. `Debug` shows kids and
/// algorithms only.
pub struct JwtKeys {
    signing_kid: String,
    keys: BTreeMap<String, JwtKey>,
}

fn check_kid(kid: &str) -> Result<()> {
    let ok = !kid.is_empty()
        && kid.len() <= MAX_KID_LEN
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(CryptoError::InvalidParameter(
            "kid must be 1-64 characters of A-Z a-z 0-9 - _ .",
        ))
    }
}

fn ed25519_key(der: &[u8]) -> Result<JwtKey> {
    let pair = Ed25519KeyPair::from_pkcs8(der)
        .map_err(|_| CryptoError::InvalidKey("not an Ed25519 PKCS#8 private key"))?;
    let public: [u8; 32] = pair
        .public_key()
        .as_ref()
        .try_into()
        .map_err(|_| CryptoError::InvalidKey("Ed25519 public key length"))?;
    Ok(JwtKey {
        algorithm: JwtAlgorithm::EdDsa,
        signing: Some(EncodingKey::from_ed_der(der)),
        verifying: DecodingKey::from_ed_der(&public),
        ed25519_public: Some(public),
    })
}

fn hs256_key(secret: &[u8], signing: bool) -> Result<JwtKey> {
    if secret.len() < MIN_HS256_SECRET_LEN {
        return Err(CryptoError::KeyTooShort {
            what: "HS256 secret",
            min: MIN_HS256_SECRET_LEN,
            actual: secret.len(),
        });
    }
    Ok(JwtKey {
        algorithm: JwtAlgorithm::Hs256,
        signing: signing.then(|| EncodingKey::from_secret(secret)),
        verifying: DecodingKey::from_secret(secret),
        ed25519_public: None,
    })
}

impl JwtKeys {
    fn single(kid: &str, key: JwtKey) -> Result<Self> {
        check_kid(kid)?;
        Ok(Self {
            signing_kid: kid.to_owned(),
            keys: BTreeMap::from([(kid.to_owned(), key)]),
        })
    }

    fn with_key(mut self, kid: &str, key: JwtKey) -> Result<Self> {
        check_kid(kid)?;
        if self.keys.contains_key(kid) {
            return Err(CryptoError::InvalidParameter("duplicate kid"));
        }
        self.keys.insert(kid.to_owned(), key);
        Ok(self)
    }

    /// A fresh Ed25519 signing key (from aws-lc-rs), for development, tests,
    /// or when the host persists it itself via its own key management.
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] for an invalid kid,
    /// [`CryptoError::InvalidKey`] if key generation fails.
    pub fn generate_ed25519(kid: &str) -> Result<Self> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| CryptoError::InvalidKey("Ed25519 key generation failed"))?;
        Self::single(kid, ed25519_key(pkcs8.as_ref())?)
    }

    /// A fresh Ed25519 private key as PKCS#8 DER, for hosts that persist
    /// their signing key (load it back with [`JwtKeys::ed25519_from_pkcs8_der`]).
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] if key generation fails.
    pub fn generate_ed25519_pkcs8() -> Result<SecretBytes> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| CryptoError::InvalidKey("Ed25519 key generation failed"))?;
        Ok(SecretBytes::from_slice(pkcs8.as_ref()))
    }

    /// A fresh Ed25519 private key as a PKCS#8 PEM document
    /// (`-----BEGIN PRIVATE KEY-----`, lines of 64 base64 characters), for
    /// a key file or an environment variable; load it back with
    /// [`JwtKeys::ed25519_from_pkcs8_pem`].
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] if key generation fails.
    pub fn generate_ed25519_pkcs8_pem() -> Result<SecretString> {
        let der = Self::generate_ed25519_pkcs8()?;
        let body = Zeroizing::new(BASE64.encode(der.expose()));
        let mut pem = String::with_capacity(body.len() + body.len() / 64 + 64);
        pem.push_str("-----BEGIN PRIVATE KEY-----\n");
        for line in body.as_bytes().chunks(64) {
            // Base64 is ASCII, so every chunk is UTF-8.
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        Ok(SecretString::from(pem))
    }

    /// The Ed25519 signing key of the PKCS#8 PEM file at `path`, under
    /// `kid`; when there is no file, it is created with a fresh key
    /// ([`JwtKeys::generate_ed25519_pkcs8_pem`]). For development: tokens
    /// issued before a restart still verify after it. Production loads its
    /// signing key from a secret store or the environment
    /// ([`JwtKeys::ed25519_from_pkcs8_pem`]).
    ///
    /// A new file is created whole or not at all, readable by its owner
    /// only (mode 0600 on Unix) and flushed to disk; of two processes
    /// starting at once, one creates it and both use its key. The
    /// directory must exist.
    ///
    /// ```
    /// use mfa_core::crypto::JwtKeys;
    /// # let dir = std::env::temp_dir().join(format!("mfa-doc-{}", uuid::Uuid::new_v4()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let first = JwtKeys::load_or_generate_ed25519(dir.join("jwt-ed25519.pem"), "dev-1")?;
    /// let again = JwtKeys::load_or_generate_ed25519(dir.join("jwt-ed25519.pem"), "dev-1")?;
    /// assert_eq!(first.jwks(), again.jwks());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] for an invalid kid (before any
    /// file is touched); [`CryptoError::KeyFile`] naming the file and what
    /// failed (it cannot be read or created, or holds no Ed25519 PKCS#8
    /// private key), never the key.
    pub fn load_or_generate_ed25519(path: impl AsRef<Path>, kid: &str) -> Result<Self> {
        check_kid(kid)?;
        let path = path.as_ref();
        let pem = key_file::read_or_create(path, Self::generate_ed25519_pkcs8_pem)?;
        Self::ed25519_from_pkcs8_pem(kid, pem.expose_secret())
            .map_err(|e| key_file::error(path, e.to_string()))
    }

    /// An Ed25519 signing key from a PKCS#8 PEM document
    /// (`-----BEGIN PRIVATE KEY-----`, as written by `openssl genpkey -algorithm ed25519`).
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] when the PEM is not an Ed25519 private key.
    pub fn ed25519_from_pkcs8_pem(kid: &str, pem: &str) -> Result<Self> {
        let encoding = EncodingKey::from_ed_pem(pem.as_bytes())
            .map_err(|_| CryptoError::InvalidKey("not an Ed25519 PKCS#8 PEM private key"))?;
        Self::single(kid, ed25519_key(encoding.as_bytes())?)
    }

    /// An Ed25519 signing key from PKCS#8 DER bytes (v1 or v2).
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] when the bytes are not an Ed25519 private key.
    pub fn ed25519_from_pkcs8_der(kid: &str, der: &[u8]) -> Result<Self> {
        Self::single(kid, ed25519_key(der)?)
    }

    /// An HS256 signing key (shared secret, at least 32 bytes). Opt-in: only
    /// for deployments where the verifier is the issuer.
    ///
    /// # Errors
    /// [`CryptoError::KeyTooShort`] under 32 bytes.
    pub fn hs256(kid: &str, secret: &[u8]) -> Result<Self> {
        Self::single(kid, hs256_key(secret, true)?)
    }

    /// Adds a verification-only Ed25519 public key (raw 32 bytes), for
    /// example the key of another instance during a rotation.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKeyLength`] unless 32 bytes,
    /// [`CryptoError::InvalidParameter`] for an invalid or duplicate kid.
    pub fn with_ed25519_public_key(self, kid: &str, public_key: &[u8]) -> Result<Self> {
        let public: [u8; 32] =
            public_key
                .try_into()
                .map_err(|_| CryptoError::InvalidKeyLength {
                    what: "Ed25519 public key",
                    expected: 32,
                    actual: public_key.len(),
                })?;
        let key = JwtKey {
            algorithm: JwtAlgorithm::EdDsa,
            signing: None,
            verifying: DecodingKey::from_ed_der(&public),
            ed25519_public: Some(public),
        };
        self.with_key(kid, key)
    }

    /// Adds a verification-only HS256 secret.
    ///
    /// # Errors
    /// As [`JwtKeys::hs256`], plus [`CryptoError::InvalidParameter`] for a
    /// duplicate kid.
    pub fn with_hs256_verification_key(self, kid: &str, secret: &[u8]) -> Result<Self> {
        self.with_key(kid, hs256_key(secret, false)?)
    }

    /// Rotation: `next`'s signing key signs from now on; every key of `self`
    /// is kept for verification only, so tokens already issued stay valid
    /// until they expire. Drop the old keys later with
    /// [`JwtKeys::without_key`].
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] when a kid appears in both sets.
    pub fn rotate_to(self, next: JwtKeys) -> Result<Self> {
        let JwtKeys { keys: old, .. } = self;
        let JwtKeys {
            signing_kid,
            keys: mut merged,
        } = next;
        for (kid, mut key) in old {
            if merged.contains_key(&kid) {
                return Err(CryptoError::InvalidParameter("duplicate kid"));
            }
            key.signing = None;
            merged.insert(kid, key);
        }
        Ok(Self {
            signing_kid,
            keys: merged,
        })
    }

    /// Removes a verification key (after a rotation, once old tokens have
    /// expired).
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] for the signing kid, or
    /// [`CryptoError::UnknownKeyId`] for a kid not held.
    pub fn without_key(mut self, kid: &str) -> Result<Self> {
        if kid == self.signing_kid {
            return Err(CryptoError::InvalidParameter(
                "cannot remove the signing key",
            ));
        }
        self.keys
            .remove(kid)
            .map(|_| self)
            .ok_or(CryptoError::UnknownKeyId)
    }

    /// The kid of the signing key.
    #[must_use]
    pub fn signing_kid(&self) -> &str {
        &self.signing_kid
    }

    /// Every kid held, ascending.
    #[must_use]
    pub fn kids(&self) -> Vec<&str> {
        self.keys.keys().map(String::as_str).collect()
    }

    /// The raw Ed25519 public key under `kid`, if it is an Ed25519 key.
    #[must_use]
    pub fn ed25519_public_key(&self, kid: &str) -> Option<[u8; 32]> {
        self.keys.get(kid).and_then(|k| k.ed25519_public)
    }

    /// The public keys as a JWK Set (`{"keys": [...]}`): Ed25519 keys as
    /// `OKP` JWKs. HS256 secrets are never exported.
    #[must_use]
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .filter_map(|(kid, key)| {
                key.ed25519_public.map(|public| {
                    serde_json::json!({
                        "kty": "OKP",
                        "crv": "Ed25519",
                        "x": BASE64URL_NOPAD.encode(&public),
                        "kid": kid,
                        "alg": "EdDSA",
                        "use": "sig",
                    })
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    fn signing_key(&self) -> Result<(&JwtKey, &EncodingKey)> {
        let key = self
            .keys
            .get(&self.signing_kid)
            .ok_or(CryptoError::UnknownKeyId)?;
        let signing = key
            .signing
            .as_ref()
            .ok_or(CryptoError::InvalidKey("signing key has no private part"))?;
        Ok((key, signing))
    }
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<(&str, JwtAlgorithm, bool)> = self
            .keys
            .iter()
            .map(|(kid, k)| (kid.as_str(), k.algorithm, k.signing.is_some()))
            .collect();
        f.debug_struct("JwtKeys")
            .field("signing_kid", &self.signing_kid)
            .field("keys (kid, algorithm, can_sign)", &keys)
            .finish()
    }
}

/// Issues and verifies access tokens.
#[derive(Debug)]
pub struct TokenService {
    config: JwtConfig,
    keys: JwtKeys,
}

fn map_jwt_error(e: &jsonwebtoken::errors::Error) -> TokenError {
    match e.kind() {
        ErrorKind::InvalidSignature => TokenError::InvalidSignature,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::UnsupportedAlgorithm => TokenError::DisallowedAlgorithm,
        ErrorKind::InvalidIssuer => TokenError::InvalidIssuer,
        ErrorKind::InvalidAudience => TokenError::InvalidAudience,
        ErrorKind::MissingRequiredClaim(_) => TokenError::MissingClaim,
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        _ => TokenError::Malformed,
    }
}

impl TokenService {
    /// A service with a validated configuration.
    ///
    /// # Errors
    /// As [`JwtConfig::validate`]; [`CryptoError::InvalidKey`] if the
    /// signing key cannot sign.
    pub fn new(config: JwtConfig, keys: JwtKeys) -> Result<Self> {
        config.validate()?;
        keys.signing_key()?;
        Ok(Self { config, keys })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &JwtConfig {
        &self.config
    }

    /// The keys.
    #[must_use]
    pub fn keys(&self) -> &JwtKeys {
        &self.keys
    }

    /// The public JWK Set of the keys (see [`JwtKeys::jwks`]), for
    /// `/.well-known/jwks.json`.
    #[must_use]
    pub fn jwks(&self) -> serde_json::Value {
        self.keys.jwks()
    }

    /// Issues a token valid from `now` for the configured lifetime, signed
    /// with the signing key (`kid` and `typ: at+jwt` in the header, fresh
    /// random `jti`). Returns the compact token and its claims.
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] if `now + ttl` overflows;
    /// [`CryptoError::InvalidKey`] if signing fails.
    pub fn issue(
        &self,
        input: &AccessTokenInput,
        now: DateTime<Utc>,
    ) -> Result<(String, AccessClaims)> {
        let iat = now.timestamp();
        let exp = iat
            .checked_add(self.config.ttl.num_seconds())
            .ok_or(CryptoError::InvalidParameter("token expiry out of range"))?;
        let claims = AccessClaims {
            sub: input.sub,
            sid: input.sid,
            aal: input.aal,
            amr: input.amr.clone(),
            dev: input.dev,
            auth_time: input.auth_time.timestamp(),
            iat,
            nbf: iat,
            exp,
            iss: self.config.issuer.clone(),
            aud: self.config.audience.clone(),
            jti: Uuid::new_v4(),
        };
        let (key, signing) = self.keys.signing_key()?;
        let mut header = Header::new(key.algorithm.to_jsonwebtoken());
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        header.kid = Some(self.keys.signing_kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, signing)
            .map_err(|_| CryptoError::InvalidKey("JWT signing failed"))?;
        Ok((token, claims))
    }

    /// Verifies a token presented at time `now` and returns its claims.
    ///
    /// Checks, in order: size (≤ 8 KiB), header shape, no embedded key
    /// material (`jwk`, `jku`, `x5u`, `x5c`) and no `crit`, `kid` names a held
    /// key, `alg` is that key's algorithm, `typ` is `at+jwt`, signature,
    /// `iss`, `aud`, required claims, then `exp`/`nbf`/`iat` against `now`
    /// with the configured leeway.
    ///
    /// # Errors
    /// The [`TokenError`] of the first failed check.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.jwk.is_some()
            || header.jku.is_some()
            || header.x5u.is_some()
            || header.x5c.is_some()
            || header.crit.is_some()
        {
            return Err(TokenError::Malformed);
        }
        let kid = header.kid.as_deref().ok_or(TokenError::UnknownKeyId)?;
        let key = self.keys.keys.get(kid).ok_or(TokenError::UnknownKeyId)?;
        let algorithm = key.algorithm.to_jsonwebtoken();
        if header.alg != algorithm {
            return Err(TokenError::DisallowedAlgorithm);
        }
        if header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return Err(TokenError::InvalidType);
        }

        let mut validation = Validation::new(algorithm);
        // Time is checked below against the caller's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[self.config.issuer.as_str()]);
        validation.set_audience(&[self.config.audience.as_str()]);
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &key.verifying, &validation)
            .map_err(|e| map_jwt_error(&e))?
            .claims;

        let now = now.timestamp();
        let leeway = i64::from(self.config.leeway_secs);
        if now >= claims.exp.saturating_add(leeway) {
            return Err(TokenError::Expired);
        }
        if claims.nbf > now.saturating_add(leeway) || claims.iat > now.saturating_add(leeway) {
            return Err(TokenError::NotYetValid);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::Sha256;

    const ISS: &str = "https://auth.example.com";
    const AUD: &str = "api.example.com";
    const HS_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000, 0).unwrap()
    }

    fn input() -> AccessTokenInput {
        AccessTokenInput {
            sub: UserId::new(),
            sid: SessionId::new(),
            aal: Aal::Aal2,
            amr: vec![AuthMethod::Pwd, AuthMethod::Otp],
            dev: Some(DeviceId::new()),
            auth_time: now() - TimeDelta::seconds(5),
        }
    }

    fn ed_service() -> TokenService {
        TokenService::new(
            JwtConfig::new(ISS, AUD),
            JwtKeys::generate_ed25519("k1").unwrap(),
        )
        .unwrap()
    }

    fn hs_service() -> TokenService {
        TokenService::new(
            JwtConfig::new(ISS, AUD),
            JwtKeys::hs256("h1", HS_SECRET).unwrap(),
        )
        .unwrap()
    }

    fn b64(v: &[u8]) -> String {
        BASE64URL_NOPAD.encode(v)
    }

    fn b64_json(v: &serde_json::Value) -> String {
        b64(&serde_json::to_vec(v).unwrap())
    }

    fn payload_json(claims: &AccessClaims) -> serde_json::Value {
        serde_json::to_value(claims).unwrap()
    }

    /// Signs `header.payload` with HMAC-SHA256 under `key`, as an attacker
    /// holding `key` would.
    fn hs256_forge(header: &serde_json::Value, payload: &serde_json::Value, key: &[u8]) -> String {
        let signing_input = format!("{}.{}", b64_json(header), b64_json(payload));
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(signing_input.as_bytes());
        format!("{signing_input}.{}", b64(&mac.finalize().into_bytes()))
    }

    /// Guards the jsonwebtoken backend trap: a plain encode/decode works.
    #[test]
    fn jsonwebtoken_backend_encodes_and_decodes() {
        let key = EncodingKey::from_secret(HS_SECRET);
        let claims = serde_json::json!({"sub": "x", "exp": 4_000_000_000u64});
        let token = jsonwebtoken::encode(&Header::default(), &claims, &key).unwrap();
        let data = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &DecodingKey::from_secret(HS_SECRET),
            &Validation::new(Algorithm::HS256),
        )
        .unwrap();
        assert_eq!(data.claims["sub"], "x");
    }

    #[test]
    fn eddsa_token_round_trips() {
        let svc = ed_service();
        let inp = input();
        let (token, issued) = svc.issue(&inp, now()).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), Some("k1"));
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        let claims = svc.verify(&token, now()).unwrap();
        assert_eq!(claims, issued);
        assert_eq!(claims.sub, inp.sub);
        assert_eq!(claims.sid, inp.sid);
        assert_eq!(claims.amr, inp.amr);
        assert_eq!(claims.dev, inp.dev);
        assert_eq!(claims.exp - claims.iat, 15 * 60);
        assert_eq!(claims.auth_time, inp.auth_time.timestamp());
    }

    #[test]
    fn hs256_token_round_trips() {
        let svc = hs_service();
        let (token, issued) = svc.issue(&input(), now()).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&token).unwrap().alg,
            Algorithm::HS256
        );
        assert_eq!(svc.verify(&token, now()).unwrap(), issued);
    }

    #[test]
    fn aal_is_serialized_as_integer_and_claims_are_named() {
        let svc = ed_service();
        let (_, claims) = svc.issue(&input(), now()).unwrap();
        let v = payload_json(&claims);
        assert_eq!(v["aal"], 2);
        assert_eq!(v["amr"], serde_json::json!(["pwd", "otp"]));
        for name in [
            "sub",
            "sid",
            "dev",
            "auth_time",
            "iat",
            "nbf",
            "exp",
            "iss",
            "aud",
            "jti",
        ] {
            assert!(v.get(name).is_some(), "{name}");
        }
    }

    #[test]
    fn each_token_gets_a_fresh_jti() {
        let svc = ed_service();
        let (_, a) = svc.issue(&input(), now()).unwrap();
        let (_, b) = svc.issue(&input(), now()).unwrap();
        assert_ne!(a.jti, b.jti);
    }

    /// R30: `alg: none` with an empty signature is rejected.
    #[test]
    fn persisted_ed25519_key_round_trips_through_pkcs8_der() {
        let der = JwtKeys::generate_ed25519_pkcs8().unwrap();
        let now = DateTime::from_timestamp(1_900_000_000, 0).unwrap();
        let first = TokenService::new(
            JwtConfig::new("https://issuer.test", "aud"),
            JwtKeys::ed25519_from_pkcs8_der("k1", der.expose()).unwrap(),
        )
        .unwrap();
        let second = TokenService::new(
            JwtConfig::new("https://issuer.test", "aud"),
            JwtKeys::ed25519_from_pkcs8_der("k1", der.expose()).unwrap(),
        )
        .unwrap();
        let input = AccessTokenInput {
            sub: UserId::new(),
            sid: SessionId::new(),
            aal: Aal::Aal1,
            amr: vec![AuthMethod::Pwd],
            dev: None,
            auth_time: now,
        };
        let (token, _) = first.issue(&input, now).unwrap();
        assert!(second.verify(&token, now).is_ok());
    }

    #[test]
    fn r30_alg_none_is_rejected() {
        let svc = ed_service();
        let (_, claims) = svc.issue(&input(), now()).unwrap();
        let header = serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": "k1"});
        let token = format!(
            "{}.{}.",
            b64_json(&header),
            b64_json(&payload_json(&claims))
        );
        let err = svc.verify(&token, now()).unwrap_err();
        assert!(
            matches!(err, TokenError::Malformed | TokenError::DisallowedAlgorithm),
            "{err:?}"
        );
    }

    /// R30: an HS256 token (any secret) under the EdDSA key's kid is refused.
    #[test]
    fn r30_hs256_token_for_eddsa_key_is_rejected() {
        let svc = ed_service();
        let (_, claims) = svc.issue(&input(), now()).unwrap();
        let header = serde_json::json!({"alg": "HS256", "typ": "at+jwt", "kid": "k1"});
        let token = hs256_forge(
            &header,
            &payload_json(&claims),
            b"some secret the attacker chose!!",
        );
        assert_eq!(
            svc.verify(&token, now()).unwrap_err(),
            TokenError::DisallowedAlgorithm
        );
    }

    /// R30: key confusion: HS256 MAC'd with the Ed25519 public key bytes.
    #[test]
    fn r30_hs256_signed_with_public_key_bytes_is_rejected() {
        let svc = ed_service();
        let public = svc.keys().ed25519_public_key("k1").unwrap();
        let (_, claims) = svc.issue(&input(), now()).unwrap();
        let header = serde_json::json!({"alg": "HS256", "typ": "at+jwt", "kid": "k1"});
        let token = hs256_forge(&header, &payload_json(&claims), &public);
        assert_eq!(
            svc.verify(&token, now()).unwrap_err(),
            TokenError::DisallowedAlgorithm
        );
        // Also with the JWKS text form of the key.
        let x = svc.keys().jwks()["keys"][0]["x"]
            .as_str()
            .unwrap()
            .to_owned();
        let token = hs256_forge(&header, &payload_json(&claims), x.as_bytes());
        assert!(svc.verify(&token, now()).is_err());
    }

    /// R30: an EdDSA token presented under an HS256 kid is refused.
    #[test]
    fn r30_eddsa_token_for_hs256_key_is_rejected() {
        let ed = TokenService::new(
            JwtConfig::new(ISS, AUD),
            JwtKeys::generate_ed25519("h1").unwrap(),
        )
        .unwrap();
        let (token, _) = ed.issue(&input(), now()).unwrap();
        assert_eq!(
            hs_service().verify(&token, now()).unwrap_err(),
            TokenError::DisallowedAlgorithm
        );
    }

    /// R30: a token signed by a different Ed25519 key with the same kid fails.
    #[test]
    fn r30_token_from_other_key_with_same_kid_is_rejected() {
        let (token, _) = ed_service().issue(&input(), now()).unwrap();
        assert_eq!(
            ed_service().verify(&token, now()).unwrap_err(),
            TokenError::InvalidSignature
        );
    }

    /// R31: unknown, traversal-like, injection-like, huge and missing kids.
    #[test]
    fn r31_bad_kids_are_rejected_without_panic() {
        let svc = ed_service();
        let (_, claims) = svc.issue(&input(), now()).unwrap();
        let payload = payload_json(&claims);
        let huge = "k".repeat(10 * 1024);
        for kid in ["k2", "../../dev/null", "' OR '1'='1", "", huge.as_str()] {
            let header = serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid});
            let token = format!("{}.{}.AAAA", b64_json(&header), b64_json(&payload));
            let err = svc.verify(&token, now()).unwrap_err();
            assert!(
                matches!(err, TokenError::UnknownKeyId | TokenError::Malformed),
                "{err:?}"
            );
        }
        let header = serde_json::json!({"alg": "EdDSA", "typ": "at+jwt"});
        let token = format!("{}.{}.AAAA", b64_json(&header), b64_json(&payload));
        assert_eq!(
            svc.verify(&token, now()).unwrap_err(),
            TokenError::UnknownKeyId
        );
    }

    /// R31: an attacker key embedded in `jwk` is never used; such tokens are
    /// refused.
    #[test]
    fn r31_embedded_jwk_is_not_trusted() {
        let svc = ed_service();
        let attacker = JwtKeys::generate_ed25519("k1").unwrap();
        let x = attacker.jwks()["keys"][0]["x"].clone();
        let (token, _) = TokenService::new(JwtConfig::new(ISS, AUD), attacker)
            .unwrap()
            .issue(&input(), now())
            .unwrap();
        // Without the header field the signature check fails…
        assert_eq!(
            svc.verify(&token, now()).unwrap_err(),
            TokenError::InvalidSignature
        );
        // …and with it, the token is refused before any key is consulted.
        let mut parts = token.split('.');
        let (h, p, s) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let mut header: serde_json::Value =
            serde_json::from_slice(&BASE64URL_NOPAD.decode(h.as_bytes()).unwrap()).unwrap();
        header["jwk"] = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x});
        let token = format!("{}.{p}.{s}", b64_json(&header));
        assert!(svc.verify(&token, now()).is_err());
        for field in ["jku", "x5u"] {
            let mut h2: serde_json::Value =
                serde_json::from_slice(&BASE64URL_NOPAD.decode(h.as_bytes()).unwrap()).unwrap();
            h2[field] = serde_json::json!("https://attacker.example/keys");
            let token = format!("{}.{p}.{s}", b64_json(&h2));
            assert_eq!(
                svc.verify(&token, now()).unwrap_err(),
                TokenError::Malformed
            );
        }
    }

    /// R33: expired beyond the leeway is rejected; within it, accepted.
    #[test]
    fn r33_expired_token_is_rejected() {
        let svc = ed_service();
        let (token, claims) = svc.issue(&input(), now()).unwrap();
        let at = |secs| DateTime::from_timestamp(secs, 0).unwrap();
        assert!(svc.verify(&token, at(claims.exp + 29)).is_ok());
        assert_eq!(
            svc.verify(&token, at(claims.exp + 30)).unwrap_err(),
            TokenError::Expired
        );
        assert_eq!(
            svc.verify(&token, now() + TimeDelta::hours(1)).unwrap_err(),
            TokenError::Expired
        );
    }

    /// R33: a token used before `nbf`/`iat` (beyond the leeway) is rejected.
    #[test]
    fn r33_not_yet_valid_token_is_rejected() {
        let svc = ed_service();
        let (token, _) = svc.issue(&input(), now()).unwrap();
        assert!(svc.verify(&token, now() - TimeDelta::seconds(30)).is_ok());
        assert_eq!(
            svc.verify(&token, now() - TimeDelta::seconds(31))
                .unwrap_err(),
            TokenError::NotYetValid
        );
    }

    /// R33: wrong issuer.
    #[test]
    fn r33_wrong_issuer_is_rejected() {
        let keys = JwtKeys::hs256("h1", HS_SECRET).unwrap();
        let other = TokenService::new(JwtConfig::new("https://evil.example", AUD), keys).unwrap();
        let (token, _) = other.issue(&input(), now()).unwrap();
        assert_eq!(
            hs_service().verify(&token, now()).unwrap_err(),
            TokenError::InvalidIssuer
        );
    }

    /// R33: wrong audience.
    #[test]
    fn r33_wrong_audience_is_rejected() {
        let keys = JwtKeys::hs256("h1", HS_SECRET).unwrap();
        let other = TokenService::new(JwtConfig::new(ISS, "other-api"), keys).unwrap();
        let (token, _) = other.issue(&input(), now()).unwrap();
        assert_eq!(
            hs_service().verify(&token, now()).unwrap_err(),
            TokenError::InvalidAudience
        );
    }

    /// R33: a correctly signed token with another `typ` (e.g. a plain JWT or
    /// a refresh token) is rejected.
    #[test]
    fn r33_wrong_typ_is_rejected() {
        let svc = hs_service();
        let (_, claims) = svc.issue(&input(), now()).unwrap();
        for typ in [Some("JWT"), Some("refresh+jwt"), None] {
            let mut header = serde_json::json!({"alg": "HS256", "kid": "h1"});
            if let Some(t) = typ {
                header["typ"] = serde_json::json!(t);
            }
            let token = hs256_forge(&header, &payload_json(&claims), HS_SECRET);
            assert_eq!(
                svc.verify(&token, now()).unwrap_err(),
                TokenError::InvalidType
            );
        }
    }

    /// R33: a signed token missing a required claim is rejected.
    #[test]
    fn r33_missing_claim_is_rejected() {
        let svc = hs_service();
        let (_, claims) = svc.issue(&input(), now()).unwrap();
        let header = serde_json::json!({"alg": "HS256", "typ": "at+jwt", "kid": "h1"});
        for claim in ["exp", "iss", "aud", "sub", "sid"] {
            let mut payload = payload_json(&claims);
            payload.as_object_mut().unwrap().remove(claim);
            let token = hs256_forge(&header, &payload, HS_SECRET);
            let err = svc.verify(&token, now()).unwrap_err();
            assert!(
                matches!(err, TokenError::MissingClaim | TokenError::Malformed),
                "{claim}: {err:?}"
            );
        }
    }

    /// R32: flipping any bit of header, payload or signature is rejected.
    #[test]
    fn r32_bit_flips_anywhere_are_rejected() {
        let svc = ed_service();
        let (token, _) = svc.issue(&input(), now()).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            let raw = BASE64URL_NOPAD.decode(part.as_bytes()).unwrap();
            for byte in 0..raw.len() {
                for bit in [0u8, 3, 7] {
                    let mut flipped = raw.clone();
                    flipped[byte] ^= 1 << bit;
                    let mut p: Vec<String> = parts.iter().map(|s| (*s).to_owned()).collect();
                    p[i] = b64(&flipped);
                    assert!(
                        svc.verify(&p.join("."), now()).is_err(),
                        "part {i} byte {byte}"
                    );
                }
            }
        }
    }

    /// R32: a signature flip on an otherwise valid token is InvalidSignature.
    #[test]
    fn r32_signature_flip_is_invalid_signature() {
        let svc = ed_service();
        let (token, _) = svc.issue(&input(), now()).unwrap();
        let (msg, sig) = token.rsplit_once('.').unwrap();
        let mut raw = BASE64URL_NOPAD.decode(sig.as_bytes()).unwrap();
        raw[10] ^= 0x40;
        let forged = format!("{msg}.{}", b64(&raw));
        assert_eq!(
            svc.verify(&forged, now()).unwrap_err(),
            TokenError::InvalidSignature
        );
        let truncated = format!("{msg}.{}", b64(&raw[..32]));
        assert!(svc.verify(&truncated, now()).is_err());
    }

    /// R32: structural garbage is Malformed, never a panic.
    #[test]
    fn r32_malformed_tokens_are_rejected() {
        let svc = ed_service();
        let (token, _) = svc.issue(&input(), now()).unwrap();
        let big = "a".repeat(MAX_TOKEN_LEN + 1);
        for bad in [
            "",
            ".",
            "..",
            "a.b.c",
            "a.b",
            &format!("{token}.extra"),
            &format!("{token}="),
            "eyJhbGciOiJFZERTQSJ9",
            big.as_str(),
        ] {
            assert!(
                svc.verify(bad, now()).is_err(),
                "{:?}",
                &bad[..bad.len().min(30)]
            );
        }
        assert_eq!(svc.verify(&big, now()).unwrap_err(), TokenError::Malformed);
    }

    /// Rotation: after rotating to k2, old k1 tokens still verify and new
    /// tokens carry k2.
    #[test]
    fn rotated_key_still_verifies_old_tokens() {
        let config = JwtConfig::new(ISS, AUD);
        let old =
            TokenService::new(config.clone(), JwtKeys::generate_ed25519("k1").unwrap()).unwrap();
        let (old_token, _) = old.issue(&input(), now()).unwrap();
        let TokenService { keys, .. } = old;
        let keys = keys
            .rotate_to(JwtKeys::generate_ed25519("k2").unwrap())
            .unwrap();
        assert_eq!(keys.signing_kid(), "k2");
        assert_eq!(keys.kids(), vec!["k1", "k2"]);
        let svc = TokenService::new(config, keys).unwrap();
        assert!(svc.verify(&old_token, now()).is_ok());
        let (new_token, _) = svc.issue(&input(), now()).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&new_token)
                .unwrap()
                .kid
                .as_deref(),
            Some("k2")
        );
        assert!(svc.verify(&new_token, now()).is_ok());
        // Retiring k1 makes old tokens fail.
        let TokenService { config, keys } = svc;
        let svc = TokenService::new(config, keys.without_key("k1").unwrap()).unwrap();
        assert_eq!(
            svc.verify(&old_token, now()).unwrap_err(),
            TokenError::UnknownKeyId
        );
    }

    #[test]
    fn rotation_with_duplicate_kid_is_refused() {
        let a = JwtKeys::generate_ed25519("k1").unwrap();
        let b = JwtKeys::generate_ed25519("k1").unwrap();
        assert!(a.rotate_to(b).is_err());
    }

    #[test]
    fn verification_only_public_key_verifies_foreign_tokens() {
        let issuer = ed_service();
        let (token, _) = issuer.issue(&input(), now()).unwrap();
        let public = issuer.keys().ed25519_public_key("k1").unwrap();
        let keys = JwtKeys::hs256("h1", HS_SECRET)
            .unwrap()
            .with_ed25519_public_key("k1", &public)
            .unwrap();
        let verifier = TokenService::new(JwtConfig::new(ISS, AUD), keys).unwrap();
        assert!(verifier.verify(&token, now()).is_ok());
    }

    /// R34: HS256 secrets under 32 bytes are refused.
    #[test]
    fn r34_short_hs256_secret_is_rejected() {
        assert!(matches!(
            JwtKeys::hs256("h1", &[7u8; 31]),
            Err(CryptoError::KeyTooShort {
                min: 32,
                actual: 31,
                ..
            })
        ));
        assert!(JwtKeys::hs256("h1", &[7u8; 32]).is_ok());
        assert!(
            JwtKeys::generate_ed25519("k1")
                .unwrap()
                .with_hs256_verification_key("h1", &[7u8; 16])
                .is_err()
        );
    }

    #[test]
    fn generated_pem_loads_as_an_ed25519_key() {
        let pem = JwtKeys::generate_ed25519_pkcs8_pem().unwrap();
        let text = pem.expose_secret();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(text.ends_with("-----END PRIVATE KEY-----\n"));
        assert!(text.lines().all(|l| l.len() <= 64));
        let keys = JwtKeys::ed25519_from_pkcs8_pem("k1", text).unwrap();
        assert!(keys.ed25519_public_key("k1").is_some());
        assert_ne!(
            JwtKeys::generate_ed25519_pkcs8_pem()
                .unwrap()
                .expose_secret(),
            text
        );
    }

    #[test]
    fn load_or_generate_ed25519_keeps_one_key_in_its_file() {
        let dir = std::env::temp_dir().join(format!("mfa-core-jwt-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("jwt-ed25519.pem");
        assert!(matches!(
            JwtKeys::load_or_generate_ed25519(&path, "bad kid"),
            Err(CryptoError::InvalidParameter(_))
        ));
        assert!(!path.exists(), "an invalid kid creates no file");
        let first = JwtKeys::load_or_generate_ed25519(&path, "dev-1").unwrap();
        let second = JwtKeys::load_or_generate_ed25519(&path, "dev-1").unwrap();
        assert_eq!(first.signing_kid(), "dev-1");
        assert_eq!(first.jwks(), second.jwks());
        std::fs::write(dir.join("bad.pem"), "-----BEGIN PRIVATE KEY-----\nAAAA\n").unwrap();
        let err = JwtKeys::load_or_generate_ed25519(dir.join("bad.pem"), "dev-1").unwrap_err();
        assert!(matches!(err, CryptoError::KeyFile { .. }), "{err:?}");
        assert!(err.to_string().contains("bad.pem"), "{err}");
    }

    #[test]
    fn ed25519_keys_load_from_pem_and_der() {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let der = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let from_der = JwtKeys::ed25519_from_pkcs8_der("k1", der.as_ref()).unwrap();
        let body = data_encoding::BASE64.encode(der.as_ref());
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
        let from_pem = JwtKeys::ed25519_from_pkcs8_pem("k1", &pem).unwrap();
        assert_eq!(
            from_der.ed25519_public_key("k1"),
            from_pem.ed25519_public_key("k1")
        );
        let signer = TokenService::new(JwtConfig::new(ISS, AUD), from_pem).unwrap();
        let verifier = TokenService::new(JwtConfig::new(ISS, AUD), from_der).unwrap();
        let (token, _) = signer.issue(&input(), now()).unwrap();
        assert!(verifier.verify(&token, now()).is_ok());
        assert!(JwtKeys::ed25519_from_pkcs8_der("k1", b"not a key").is_err());
        assert!(JwtKeys::ed25519_from_pkcs8_pem("k1", "not a pem").is_err());
    }

    #[test]
    fn invalid_kids_are_refused_at_configuration() {
        for kid in ["", "../../dev/null", "a b", &"k".repeat(65)] {
            assert!(JwtKeys::hs256(kid, HS_SECRET).is_err(), "{kid:?}");
        }
    }

    #[test]
    fn jwks_exports_ed25519_public_keys_only() {
        let keys = JwtKeys::generate_ed25519("k1")
            .unwrap()
            .with_hs256_verification_key("h1", HS_SECRET)
            .unwrap();
        let jwks = keys.jwks();
        let list = jwks["keys"].as_array().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["kty"], "OKP");
        assert_eq!(list[0]["crv"], "Ed25519");
        assert_eq!(list[0]["kid"], "k1");
        let x = BASE64URL_NOPAD
            .decode(list[0]["x"].as_str().unwrap().as_bytes())
            .unwrap();
        assert_eq!(x, keys.ed25519_public_key("k1").unwrap());
        assert!(!jwks.to_string().contains("0123456789abcdef"));
        // The exported JWK verifies tokens through jsonwebtoken's own JWK path.
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(list[0].clone()).unwrap();
        assert!(DecodingKey::from_jwk(&jwk).is_ok());
    }

    #[test]
    fn config_is_validated() {
        let keys = || JwtKeys::hs256("h1", HS_SECRET).unwrap();
        let mut c = JwtConfig::new(ISS, AUD);
        c.leeway_secs = 61;
        assert!(TokenService::new(c, keys()).is_err());
        let mut c = JwtConfig::new(ISS, AUD);
        c.ttl = TimeDelta::zero();
        assert!(TokenService::new(c, keys()).is_err());
        assert!(TokenService::new(JwtConfig::new("", AUD), keys()).is_err());
        assert!(TokenService::new(JwtConfig::new(ISS, ""), keys()).is_err());
        let c = JwtConfig::new(ISS, AUD);
        assert_eq!(c.ttl, TimeDelta::minutes(15));
        assert_eq!(c.leeway_secs, 30);
    }

    /// R45: key `Debug` shows kids and algorithms, no key material.
    #[test]
    fn r45_jwt_keys_debug_has_no_key_material() {
        let keys = JwtKeys::hs256("h1", HS_SECRET).unwrap();
        let shown = format!("{keys:?}");
        assert!(shown.contains("h1"));
        assert!(!shown.contains("0123456789abcdef"));
        let svc = TokenService::new(JwtConfig::new(ISS, AUD), keys).unwrap();
        assert!(!format!("{svc:?}").contains("0123456789abcdef"));
    }
}

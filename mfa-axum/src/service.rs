//! Service credentials: the static API keys that let another service (the
//! API gateway, an operator's tool) call the admin routes and the gateway
//! sign-in.
//!
//! A key is `mfa_sk_` followed by 43 characters of base64url: 256 bits
//! from the CSPRNG ([`OpaqueToken`]). The service keeps only its digest,
//! `SHA-256("mfa-rs/v1/token/service-key" ‖ 0 ‖ bytes)`, with a name and
//! the scopes it grants; a key is shown once, when it is made
//! ([`ServiceKey::generate`]). The digest is a plain hash on purpose: the
//! input has 256 bits of entropy, so it cannot be reversed by guessing,
//! and a check costs one hash (no password hashing on every admin call).
//! A presented key is compared with every configured digest in constant
//! time, whichever matches.
//!
//! The caller sends it as `Authorization: Bearer mfa_sk_…`. Without a key,
//! or with one that matches nothing, the answer is `invalid_token` (401);
//! with a key that lacks the route's scope, `forbidden` (403). Every
//! refusal is logged with the caller's address, never the key.

use crate::{ApiError, MfaState, bearer_token};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use mfa_core::MfaError;
use mfa_core::crypto::{OpaqueToken, TokenPurpose};
use mfa_core::model::TokenHash;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// The text every service key starts with, so a leaked key is recognisable
/// (secret scanners, logs).
pub const SERVICE_KEY_PREFIX: &str = "mfa_sk_";

/// Longest accepted key name.
pub const MAX_KEY_NAME: usize = 64;

/// What a service key allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// The admin routes (`/admin/…`): support and operations.
    Admin,
    /// The gateway sign-in (`POST /admin/gateway/sign-in`): the caller has
    /// checked the user's password and vouches for it.
    Gateway,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Self; 2] = [Self::Admin, Self::Gateway];

    /// The scope's name in configuration: `admin`, `gateway`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Gateway => "gateway",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A configuration entry or key the service cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceKeyError {
    /// The entry is not `name:scope[+scope…]:digest`.
    #[error("a service key entry is `name:scope[+scope]:sha256-hex`, got {0} parts")]
    Shape(usize),
    /// The name is empty, longer than [`MAX_KEY_NAME`] or not made of
    /// letters, digits, `-`, `_` and `.`.
    #[error("a service key name is 1 to 64 of a-z A-Z 0-9 - _ .")]
    Name,
    /// A scope that does not exist, or none.
    #[error("unknown service key scope `{0}` (known: admin, gateway)")]
    Scope(String),
    /// The digest is not 64 hexadecimal digits.
    #[error("a service key digest is 64 hexadecimal digits")]
    Digest,
    /// Two entries share a name or a digest.
    #[error("two service keys share the name or key `{0}`")]
    Duplicate(String),
}

/// One configured service key: its name, scopes and digest (never the key).
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceKey {
    name: String,
    scopes: Vec<Scope>,
    digest: TokenHash,
}

impl fmt::Debug for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceKey")
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

fn check_name(name: &str) -> Result<(), ServiceKeyError> {
    let fine = !name.is_empty()
        && name.len() <= MAX_KEY_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if fine {
        Ok(())
    } else {
        Err(ServiceKeyError::Name)
    }
}

fn digest_of(presented: &str) -> Option<TokenHash> {
    let token = presented.strip_prefix(SERVICE_KEY_PREFIX)?;
    OpaqueToken::parse(token)
        .ok()
        .map(|t| t.hash(TokenPurpose::ServiceKey))
}

impl ServiceKey {
    /// A new key named `name` granting `scopes`: the secret to hand to the
    /// calling service (shown once, never stored) and the entry to
    /// configure.
    ///
    /// # Errors
    /// [`ServiceKeyError::Name`] or [`ServiceKeyError::Scope`] (no scope).
    pub fn generate(name: &str, scopes: &[Scope]) -> Result<(String, Self), ServiceKeyError> {
        check_name(name)?;
        if scopes.is_empty() {
            return Err(ServiceKeyError::Scope(String::new()));
        }
        let token = OpaqueToken::generate();
        let mut scopes = scopes.to_vec();
        scopes.sort_unstable();
        scopes.dedup();
        let key = Self {
            name: name.to_owned(),
            scopes,
            digest: token.hash(TokenPurpose::ServiceKey),
        };
        Ok((format!("{SERVICE_KEY_PREFIX}{}", token.expose()), key))
    }

    /// The key's name, recorded as the operator of what it does.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The scopes it grants.
    #[must_use]
    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// Whether it grants `scope`.
    #[must_use]
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// Whether `presented` is this key (constant time in the digests).
    #[must_use]
    pub fn matches(&self, presented: &str) -> bool {
        digest_of(presented).is_some_and(|d| d == self.digest)
    }
}

/// The configuration form, `name:scope[+scope…]:sha256-hex`, which
/// [`FromStr`] reads back.
impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scopes: Vec<&str> = self.scopes.iter().map(|s| s.as_str()).collect();
        write!(f, "{}:{}:", self.name, scopes.join("+"))?;
        self.digest
            .as_bytes()
            .iter()
            .try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl FromStr for ServiceKey {
    type Err = ServiceKeyError;

    fn from_str(entry: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = entry.trim().split(':').collect();
        let [name, scopes, digest] = parts[..] else {
            return Err(ServiceKeyError::Shape(parts.len()));
        };
        check_name(name)?;
        let mut parsed = Vec::new();
        for scope in scopes.split('+') {
            let found = Scope::ALL
                .into_iter()
                .find(|s| s.as_str() == scope)
                .ok_or_else(|| ServiceKeyError::Scope(scope.to_owned()))?;
            parsed.push(found);
        }
        parsed.sort_unstable();
        parsed.dedup();
        if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ServiceKeyError::Digest);
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&digest[2 * i..2 * i + 2], 16)
                .map_err(|_| ServiceKeyError::Digest)?;
        }
        Ok(Self {
            name: name.to_owned(),
            scopes: parsed,
            digest: TokenHash::from_array(bytes),
        })
    }
}

/// The service keys a server accepts. Empty by default: then every admin
/// and gateway route refuses.
#[derive(Debug, Clone, Default)]
pub struct ServiceKeys(Arc<[ServiceKey]>);

impl ServiceKeys {
    /// The keys, checked for duplicate names and digests.
    ///
    /// # Errors
    /// [`ServiceKeyError::Duplicate`].
    pub fn new(keys: Vec<ServiceKey>) -> Result<Self, ServiceKeyError> {
        for (i, key) in keys.iter().enumerate() {
            if keys[..i]
                .iter()
                .any(|k| k.name == key.name || k.digest == key.digest)
            {
                return Err(ServiceKeyError::Duplicate(key.name.clone()));
            }
        }
        Ok(Self(keys.into()))
    }

    /// Reads a list of entries separated by commas or whitespace (the form
    /// of an environment variable); an empty list is no key.
    ///
    /// # Errors
    /// The first entry's [`ServiceKeyError`], or a duplicate.
    pub fn parse(list: &str) -> Result<Self, ServiceKeyError> {
        let keys = list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
            .map(str::parse)
            .collect::<Result<Vec<ServiceKey>, _>>()?;
        Self::new(keys)
    }

    /// Whether no key is configured.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The configured key `presented` is, if any. Hashes once and compares
    /// with every digest, without stopping at a match.
    #[must_use]
    pub fn find(&self, presented: &str) -> Option<&ServiceKey> {
        let digest = digest_of(presented)?;
        let mut found = None;
        for key in self.0.iter() {
            if key.digest == digest {
                found = Some(key);
            }
        }
        found
    }
}

/// The service key that authenticated a request, as an extractor:
/// refuses unless the request carries a configured key granting
/// [`Scope::Admin`] (see [`require_scope`]).
#[derive(Debug, Clone)]
pub struct AdminKey(pub ServiceKey);

/// Like [`AdminKey`], for [`Scope::Gateway`].
#[derive(Debug, Clone)]
pub struct GatewayKey(pub ServiceKey);

/// Checks the request's service key for `scope`.
///
/// # Errors
/// `invalid_token` (401) without a configured key, `forbidden` (403) when
/// the key lacks `scope`.
pub fn require_scope(parts: &Parts, scope: Scope) -> Result<ServiceKey, ApiError> {
    let state = MfaState::of(parts)?;
    let presented = bearer_token(&parts.headers).unwrap_or_default();
    let Some(key) = state.service_keys.find(presented) else {
        tracing::warn!(
            path = %parts.uri.path(),
            presented = !presented.is_empty(),
            "service call refused: no valid service key"
        );
        return Err(ApiError(MfaError::InvalidToken));
    };
    if !key.allows(scope) {
        tracing::warn!(
            path = %parts.uri.path(),
            key = key.name(),
            %scope,
            "service call refused: the key lacks the scope"
        );
        return Err(ApiError(MfaError::Forbidden));
    }
    Ok(key.clone())
}

impl<S: Send + Sync> FromRequestParts<S> for AdminKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        require_scope(parts, Scope::Admin).map(Self)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for GatewayKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        require_scope(parts, Scope::Gateway).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_round_trips_through_its_entry_and_matches_only_itself() {
        let (secret, key) = ServiceKey::generate("gateway-1", &[Scope::Gateway]).unwrap();
        assert!(secret.starts_with(SERVICE_KEY_PREFIX));
        assert_eq!(secret.len(), SERVICE_KEY_PREFIX.len() + 43);
        let entry = key.to_string();
        assert!(entry.starts_with("gateway-1:gateway:"));
        assert!(!entry.contains(&secret[SERVICE_KEY_PREFIX.len()..]));
        let read: ServiceKey = entry.parse().unwrap();
        assert_eq!(read, key);
        assert!(read.matches(&secret));
        let (other, _) = ServiceKey::generate("other", &[Scope::Admin]).unwrap();
        assert!(!read.matches(&other));
        // The bare token without the prefix, a truncated key, a bearer of
        // another kind: none matches.
        assert!(!read.matches(&secret[SERVICE_KEY_PREFIX.len()..]));
        assert!(!read.matches(&secret[..secret.len() - 1]));
        assert!(!read.matches(""));
        assert!(!format!("{read:?}").contains(&entry[entry.len() - 64..]));
    }

    #[test]
    fn bad_entries_are_refused_with_their_reason() {
        let digest = "ab".repeat(32);
        assert_eq!(
            "ops:admin".parse::<ServiceKey>(),
            Err(ServiceKeyError::Shape(2))
        );
        assert_eq!(
            format!(":admin:{digest}").parse::<ServiceKey>(),
            Err(ServiceKeyError::Name)
        );
        assert_eq!(
            format!("o p:admin:{digest}").parse::<ServiceKey>(),
            Err(ServiceKeyError::Name)
        );
        assert_eq!(
            format!("ops:root:{digest}").parse::<ServiceKey>(),
            Err(ServiceKeyError::Scope("root".into()))
        );
        assert_eq!(
            "ops:admin:abc".parse::<ServiceKey>(),
            Err(ServiceKeyError::Digest)
        );
        assert_eq!(
            format!("ops:admin:{}", "zz".repeat(32)).parse::<ServiceKey>(),
            Err(ServiceKeyError::Digest)
        );
        let both: ServiceKey = format!("ops:gateway+admin+admin:{digest}").parse().unwrap();
        assert_eq!(both.scopes(), [Scope::Admin, Scope::Gateway]);
        assert_eq!(
            ServiceKeys::parse(&format!(
                "ops:admin:{digest}, ops:gateway:{}",
                "cd".repeat(32)
            ))
            .unwrap_err(),
            ServiceKeyError::Duplicate("ops".into())
        );
        assert_eq!(
            ServiceKeys::parse(&format!("a:admin:{digest} b:gateway:{digest}")).unwrap_err(),
            ServiceKeyError::Duplicate("b".into())
        );
        assert!(ServiceKeys::parse(" ").unwrap().is_empty());
        assert!(ServiceKey::generate("x", &[]).is_err());
    }

    #[test]
    fn the_list_finds_the_key_presented() {
        let (a_secret, a) = ServiceKey::generate("a", &[Scope::Admin]).unwrap();
        let (b_secret, b) = ServiceKey::generate("b", &[Scope::Gateway]).unwrap();
        let keys = ServiceKeys::parse(&format!("{a}\n{b}")).unwrap();
        assert_eq!(keys.find(&a_secret).map(ServiceKey::name), Some("a"));
        assert_eq!(keys.find(&b_secret).map(ServiceKey::name), Some("b"));
        assert!(keys.find("mfa_sk_nope").is_none());
        assert!(ServiceKeys::default().find(&a_secret).is_none());
    }
}

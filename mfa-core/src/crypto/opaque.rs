//! Opaque bearer tokens: refresh tokens, device-trust tokens, login tickets.
//!
//! A token is 32 bytes (256 bits) from the CSPRNG, written as unpadded
//! base64url: exactly 43 characters. Only a digest is stored:
//! `SHA-256(purpose label ‖ raw bytes)`. The label makes the digest depend on
//! the purpose, so a refresh token presented as a device-trust token (or the
//! reverse) never matches a stored digest.
//!
//! A plain SHA-256 is enough here (no key, no salt): the input has 256 bits of
//! entropy, so the digest cannot be reversed by guessing.

use super::{CryptoError, Result};
use crate::model::TokenHash;
use data_encoding::BASE64URL_NOPAD;
use rand::Rng;
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Random bytes in a token.
pub const TOKEN_BYTES: usize = 32;

/// Length of a token's text form.
pub const TOKEN_LEN: usize = 43;

/// What an opaque token is for. Part of its stored digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenPurpose {
    /// Rotating refresh token of a session.
    Refresh,
    /// "Remember this device" token.
    DeviceTrust,
    /// Ticket linking the first factor to the MFA step of one login.
    LoginTicket,
    /// A service's static API key (the admin and gateway routes of
    /// `mfa-axum`); only its digest is configured.
    ServiceKey,
    /// The link of a password reset, bound to the account's password and
    /// email ([`OpaqueToken::hash_bound`]).
    PasswordReset,
    /// The link proving an email address, bound to that address.
    EmailVerification,
}

impl TokenPurpose {
    /// The domain-separation label hashed in front of the token bytes.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Refresh => "mfa-rs/v1/token/refresh",
            Self::DeviceTrust => "mfa-rs/v1/token/device-trust",
            Self::LoginTicket => "mfa-rs/v1/token/login-ticket",
            Self::ServiceKey => "mfa-rs/v1/token/service-key",
            Self::PasswordReset => "mfa-rs/v1/token/password-reset",
            Self::EmailVerification => "mfa-rs/v1/token/email-verification",
        }
    }
}

/// A 256-bit opaque bearer token. Redacted in `Debug`, zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct OpaqueToken {
    raw: [u8; TOKEN_BYTES],
    text: String,
}

impl OpaqueToken {
    /// A fresh token from the CSPRNG.
    #[must_use]
    pub fn generate() -> Self {
        let mut raw = [0u8; TOKEN_BYTES];
        rand::rng().fill_bytes(&mut raw);
        let text = BASE64URL_NOPAD.encode(&raw);
        Self { raw, text }
    }

    /// Parses a token presented by a client: exactly 43 characters of the
    /// base64url alphabet, unpadded, with canonical trailing bits.
    ///
    /// # Errors
    /// [`CryptoError::MalformedToken`] for anything else (checked by length
    /// first, so oversized input costs nothing).
    pub fn parse(input: &str) -> Result<Self> {
        if input.len() != TOKEN_LEN {
            return Err(CryptoError::MalformedToken);
        }
        let mut raw = [0u8; TOKEN_BYTES];
        match BASE64URL_NOPAD.decode_mut(input.as_bytes(), &mut raw) {
            Ok(TOKEN_BYTES) => Ok(Self {
                raw,
                text: input.to_owned(),
            }),
            _ => {
                raw.zeroize();
                Err(CryptoError::MalformedToken)
            }
        }
    }

    /// The text form to hand to the client. Never log it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The digest to store and look up, bound to `purpose`.
    #[must_use]
    pub fn hash(&self, purpose: TokenPurpose) -> TokenHash {
        let mut h = Sha256::new();
        h.update(purpose.label().as_bytes());
        h.update([0u8]);
        h.update(self.raw);
        TokenHash::from_array(h.finalize().into())
    }
}

impl OpaqueToken {
    /// The digest to store and look up, bound to `purpose` and to
    /// `binding`: state the token must not outlive (the password hash and
    /// email a reset link was issued for, the address a verification link
    /// went to). When that state changes, the token no longer matches its
    /// stored digest. Each binding part is length-prefixed, so no two
    /// different bindings hash alike.
    #[must_use]
    pub fn hash_bound(&self, purpose: TokenPurpose, binding: &[&[u8]]) -> TokenHash {
        let mut h = Sha256::new();
        h.update(purpose.label().as_bytes());
        h.update([0u8]);
        h.update(self.raw);
        for part in binding {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        TokenHash::from_array(h.finalize().into())
    }
}

impl fmt::Debug for OpaqueToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpaqueToken([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// R41/R26: 43 characters of base64url encoding 256 random bits.
    #[test]
    fn r41_generated_token_is_43_base64url_chars() {
        let t = OpaqueToken::generate();
        assert_eq!(t.expose().len(), TOKEN_LEN);
        assert!(
            t.expose()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(OpaqueToken::parse(t.expose()).unwrap().expose(), t.expose());
    }

    /// R41: two tokens differ.
    #[test]
    fn r41_two_tokens_differ() {
        let a = OpaqueToken::generate();
        let b = OpaqueToken::generate();
        assert_ne!(a.expose(), b.expose());
        assert_ne!(a.hash(TokenPurpose::Refresh), b.hash(TokenPurpose::Refresh));
    }

    /// Parsing keeps the bytes: the hash of a parsed token equals the hash
    /// of the generated one.
    #[test]
    fn parsed_token_hashes_like_the_original() {
        let t = OpaqueToken::generate();
        let p = OpaqueToken::parse(t.expose()).unwrap();
        assert_eq!(p.hash(TokenPurpose::Refresh), t.hash(TokenPurpose::Refresh));
    }

    /// R26: the digest depends on the purpose.
    #[test]
    fn r26_hash_differs_per_purpose() {
        let t = OpaqueToken::generate();
        let r = t.hash(TokenPurpose::Refresh);
        let d = t.hash(TokenPurpose::DeviceTrust);
        let l = t.hash(TokenPurpose::LoginTicket);
        assert_ne!(r, d);
        assert_ne!(r, l);
        assert_ne!(d, l);
    }

    /// R41: wrong length, alphabet, padding and trailing bits are rejected.
    #[test]
    fn r41_parse_rejects_malformed_tokens() {
        let good = OpaqueToken::generate();
        let g = good.expose();
        let mut bad: Vec<String> = vec![
            String::new(),
            g[..42].to_owned(),
            format!("{g}A"),
            format!("{}=", &g[..42]),
            format!("{}+", &g[..42]),
            format!("{}/", &g[..42]),
            format!("{} ", &g[..42]),
            format!("{}é", &g[..41]),
            "A".repeat(1 << 20),
        ];
        // Last character: 43 × 6 = 258 bits, so its two low bits must be zero.
        bad.push(format!("{}B", &g[..42]));
        for input in &bad {
            assert_eq!(
                OpaqueToken::parse(input).map(|_| ()),
                Err(CryptoError::MalformedToken),
                "{:?}",
                &input[..input.len().min(50)]
            );
        }
    }

    /// R26: a one-character change gives a different digest.
    #[test]
    fn r26_modified_token_has_other_hash() {
        let t = OpaqueToken::parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
        let u = OpaqueToken::parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE").unwrap();
        assert_ne!(t.hash(TokenPurpose::Refresh), u.hash(TokenPurpose::Refresh));
    }

    /// R45: `Debug` is redacted.
    #[test]
    fn r45_opaque_token_debug_is_redacted() {
        let t = OpaqueToken::generate();
        let shown = format!("{t:?}");
        assert!(!shown.contains(t.expose()));
        assert!(!shown.contains(&t.expose()[..8]));
    }
}

//! Cryptographic primitives: every secret the engine creates, checks or stores
//! passes through this module.
//!
//! | file | concept |
//! |---|---|
//! | [`secret`] | wrappers that redact `Debug` and zeroize on drop |
//! | [`totp`] | RFC 6238 time-based codes (authenticator apps), enrolment URI and QR code |
//! | [`otp`] | numeric one-time codes sent by email or SMS |
//! | [`backup`] | single-use backup codes (80 bits, Crockford base32) |
//! | [`keyring`] | AES-256-GCM sealing of stored secrets with key rotation, keyed (HMAC) digests of codes, and the key checks a store keeps |
//! | [`password`] | argon2id password hashing |
//! | [`jwt`] | signed access tokens (EdDSA by default, HS256 opt-in) |
//! | [`opaque`] | random bearer tokens (refresh, device trust, login ticket) and their stored digests |
//!
//! Nothing here is hand-rolled: HMAC and SHA-2 come from `hmac`/`sha2`, AEAD
//! from `aes-gcm`, key derivation from `hkdf`, TOTP from `totp-rs`, JWT from
//! `jsonwebtoken`, password hashing from `argon2`, and every comparison of a
//! secret value goes through `subtle`.
//!
//! Every secret-bearing type prints `[redacted]` under `Debug`, implements
//! neither `Display` nor `Serialize`, and wipes its memory when dropped. Error
//! values never carry secret material.
//!
//! ```
//! use mfa_core::crypto::{Aad, KeyRing, Totp, TotpCode, TotpParams, TotpSecret, TotpAlgorithm};
//! use mfa_core::model::{FactorId, UserId};
//!
//! # fn main() -> Result<(), mfa_core::crypto::CryptoError> {
//! let keys = KeyRing::generate(); // production: KeyRing::from_env()?
//! let (user, factor) = (UserId::new(), FactorId::new());
//!
//! // Enrolment: a fresh seed, sealed for storage and bound to its record.
//! let secret = TotpSecret::generate(TotpAlgorithm::Sha1);
//! let sealed = keys.seal(secret.expose(), &Aad::factor(user, factor))?;
//!
//! // Verification: open the seed, parse the user's input strictly, check the
//! // window; the matched step is what the store records as used.
//! let seed = keys.open(&sealed, &Aad::factor(user, factor))?;
//! let totp = Totp::new(
//!     TotpSecret::from_bytes(seed.expose().to_vec())?,
//!     TotpParams::default(),
//!     "Example",
//!     "alice@example.com",
//! )?;
//! let now = 1_750_000_000;
//! let typed = totp.generate_at(now)?; // stands in for what the user types
//! let code = TotpCode::parse(typed.expose(), 6)?;
//! assert_eq!(totp.verify_at(&code, now, 1)?, Some(totp.step_at(now)?));
//! # Ok(())
//! # }
//! ```

pub mod backup;
pub mod jwt;
mod key_file;
pub mod keyring;
pub mod opaque;
pub mod otp;
pub mod password;
pub mod push;
pub mod secret;
pub mod totp;

pub use backup::BackupCode;
pub use jwt::{AccessClaims, AccessTokenInput, JwtAlgorithm, JwtConfig, JwtKeys, TokenService};
pub use keyring::{Aad, KeyRing, KeyRingBuilder};
pub use opaque::{OpaqueToken, TokenPurpose};
pub use otp::OtpCode;
pub use password::{Argon2Params, PasswordCheck, PasswordHasher};
pub use secret::{ExposeSecret, SecretBytes, SecretString};
pub use totp::{Totp, TotpAlgorithm, TotpCode, TotpParams, TotpSecret};

/// Why an access token was rejected.
///
/// The variants are deliberately coarse: they tell the caller (and the audit
/// log) what kind of check failed, never which byte or key was involved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a well-formed compact JWS (shape, base64url, JSON, size, header fields).
    #[error("malformed token")]
    Malformed,
    /// The signature or MAC does not verify.
    #[error("invalid token signature")]
    InvalidSignature,
    /// The header names an algorithm that is not the one bound to its key (or `none`).
    #[error("token algorithm not allowed")]
    DisallowedAlgorithm,
    /// The header has no `kid`, or names a key this verifier does not hold.
    #[error("unknown token key id")]
    UnknownKeyId,
    /// `exp` is in the past (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` or `iat` is in the future (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// `iss` is not the configured issuer.
    #[error("invalid token issuer")]
    InvalidIssuer,
    /// `aud` is not the configured audience.
    #[error("invalid token audience")]
    InvalidAudience,
    /// The header `typ` is not `at+jwt`.
    #[error("invalid token type")]
    InvalidType,
    /// A required registered claim is missing.
    #[error("token claim missing")]
    MissingClaim,
}

/// The one error type of the [`crypto`](self) module.
///
/// Messages name what was wrong (a length, a parameter, a variable name) and
/// never include the secret value that was being processed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A key has the wrong exact length.
    #[error("{what} must be {expected} bytes, got {actual}")]
    InvalidKeyLength {
        /// Which key.
        what: &'static str,
        /// Required length in bytes.
        expected: usize,
        /// Length supplied.
        actual: usize,
    },
    /// A key or secret is shorter than its minimum length.
    #[error("{what} must be at least {min} bytes, got {actual}")]
    KeyTooShort {
        /// Which key or secret.
        what: &'static str,
        /// Minimum length in bytes.
        min: usize,
        /// Length supplied.
        actual: usize,
    },
    /// A key could not be parsed or used.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// A configuration value or argument is out of its allowed range.
    #[error("invalid parameter: {0}")]
    InvalidParameter(&'static str),
    /// A code typed by a user does not match the required grammar
    /// (length, alphabet).
    #[error("malformed code")]
    MalformedCode,
    /// An imported secret (base32 TOTP seed, base64 key) could not be decoded.
    #[error("malformed secret: {0}")]
    MalformedSecret(&'static str),
    /// An opaque bearer token does not have the required format.
    #[error("malformed token")]
    MalformedToken,
    /// A sealed blob names a key id the key ring does not hold.
    #[error("unknown key id")]
    UnknownKeyId,
    /// A sealed blob is truncated or has an unknown format version.
    #[error("malformed sealed secret")]
    MalformedSealedSecret,
    /// Authenticated decryption failed: the blob was altered, or it is opened
    /// with other associated data (for example another user's record).
    #[error("sealed secret could not be opened")]
    OpenFailed,
    /// An empty password was supplied.
    #[error("password is empty")]
    PasswordEmpty,
    /// A password longer than the accepted maximum was supplied.
    #[error("password longer than {max_bytes} bytes")]
    PasswordTooLong {
        /// Maximum accepted length in bytes.
        max_bytes: usize,
    },
    /// Password hashing failed or a stored PHC string is unusable.
    #[error("password hash: {0}")]
    PasswordHash(&'static str),
    /// A configuration variable is missing or invalid. Only its name is
    /// reported, never its value.
    #[error("environment variable {variable}: {reason}")]
    Environment {
        /// Name of the variable.
        variable: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An access token was rejected.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A key file could not be read, created or understood. Names the file
    /// and what is wrong, never its content.
    #[error("key file {}: {reason}", path.display())]
    KeyFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Result alias for this module.
pub type Result<T, E = CryptoError> = std::result::Result<T, E>;

#[cfg(test)]
mod totality_tests {
    //! R51: every parser and verifier returns `Err` (never panics) on
    //! arbitrary input.

    use super::*;
    use crate::model::{FactorId, SealedSecret, UserId};
    use proptest::prelude::*;
    use std::sync::OnceLock;

    fn service() -> &'static TokenService {
        static SVC: OnceLock<TokenService> = OnceLock::new();
        SVC.get_or_init(|| {
            TokenService::new(
                JwtConfig::new("iss", "aud"),
                JwtKeys::hs256("h1", &[9u8; 32]).expect("key"),
            )
            .expect("service")
        })
    }

    proptest! {
        #[test]
        fn r51_code_parsers_never_panic(s in any::<String>(), digits in any::<u8>()) {
            let _ = OtpCode::parse(&s, digits);
            let _ = TotpCode::parse(&s, digits);
            let _ = BackupCode::parse(&s);
            let _ = OpaqueToken::parse(&s);
            let _ = TotpSecret::from_base32(&s);
        }

        #[test]
        fn r51_numeric_parsers_accept_only_ascii_digits(s in "[0-9]{6}|.{0,12}") {
            let ok = s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit());
            prop_assert_eq!(OtpCode::parse(&s, 6).is_ok(), ok);
            prop_assert_eq!(TotpCode::parse(&s, 6).is_ok(), ok);
        }

        #[test]
        fn r51_jwt_verify_never_panics(s in any::<String>()) {
            prop_assert!(service().verify(&s, chrono::Utc::now()).is_err());
        }

        #[test]
        fn r51_jwt_verify_rejects_dotted_garbage(a in "[A-Za-z0-9_-]{0,40}", b in "[A-Za-z0-9_-]{0,40}", c in "[A-Za-z0-9_-]{0,90}") {
            let token = format!("{a}.{b}.{c}");
            prop_assert!(service().verify(&token, chrono::Utc::now()).is_err());
        }

        #[test]
        fn r51_open_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let keys = KeyRing::builder()
                .aead_key(1, &[1u8; 32])
                .current(1)
                .root_secret(&[2u8; 32])
                .build()
                .expect("ring");
            let aad = Aad::factor(UserId::new(), FactorId::new());
            prop_assert!(keys.open(&SealedSecret::from_bytes(bytes), &aad).is_err());
        }
    }
}

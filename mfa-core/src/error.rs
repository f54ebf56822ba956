//! The error every public operation returns, with stable machine-readable
//! codes.

use crate::store::StoreError;
use std::time::Duration;

/// Why an operation failed.
///
/// [`MfaError::code`] is a stable string an HTTP layer may return as it is.
/// Variants that could reveal whether an account exists (unknown user, wrong
/// password, user without the factor) all collapse into
/// [`MfaError::InvalidCredentials`] or [`MfaError::InvalidCode`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MfaError {
    /// Identifier or password wrong, or the account cannot sign in.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The code is wrong, malformed, already used, or not for this factor.
    #[error("invalid code")]
    InvalidCode,
    /// The challenge or ticket expired.
    #[error("challenge expired")]
    ChallengeExpired,
    /// The ticket is unknown, used up or of the wrong kind.
    #[error("invalid ticket")]
    InvalidTicket,
    /// Too many requests; retry after the given time.
    #[error("rate limited")]
    RateLimited {
        /// When to try again.
        retry_after: Duration,
    },
    /// Too many failed attempts; the account is locked.
    #[error("account locked")]
    AccountLocked {
        /// When the lock ends; `None` until an administrator or recovery
        /// resets it.
        retry_after: Option<Duration>,
    },
    /// The user must enrol a second factor first.
    #[error("enrollment required")]
    EnrollmentRequired,
    /// A second factor is required for this operation.
    #[error("mfa required")]
    MfaRequired,
    /// A recent second-factor verification is required (step-up).
    #[error("recent authentication required")]
    StepUpRequired,
    /// A rotated refresh token was presented again; its family was revoked.
    #[error("token reused")]
    TokenReused,
    /// The token is invalid, expired or revoked.
    #[error("invalid token")]
    InvalidToken,
    /// The sign-in was refused because its risk is too high.
    #[error("sign-in blocked")]
    LoginBlocked,
    /// The caller is authenticated, but its credential does not grant this
    /// operation (a service key without the route's scope).
    #[error("forbidden")]
    Forbidden,
    /// The requested method is not enabled or not enrolled.
    #[error("method not available")]
    MethodUnavailable,
    /// The resource does not exist or does not belong to the caller.
    #[error("not found")]
    NotFound,
    /// The request conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// An input failed validation.
    #[error("invalid input: {field}: {reason}")]
    InvalidInput {
        /// Which input.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// The library was configured wrongly (reported by builders, never at
    /// run time).
    #[error("configuration error: {0}")]
    Config(String),
    /// The key ring is not the one the store's data was written with
    /// (reported at start-up by [`MfaBuilder::open`](crate::MfaBuilder::open)
    /// and [`Mfa::check_keys`](crate::Mfa::check_keys)). Serving with it
    /// would fail every TOTP check and refuse valid backup codes.
    #[error("the key ring does not match this store: {0}")]
    KeyMismatch(KeyMismatch),
    /// A message could not be delivered.
    #[error("delivery failed")]
    Delivery(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A cryptographic operation failed on server-side data (a sealed secret
    /// that does not open, a missing key).
    #[error("cryptographic failure")]
    Crypto(#[source] crate::crypto::CryptoError),
    /// A WebAuthn ceremony was refused: the browser's answer is malformed,
    /// for another origin, relying party or challenge, without user
    /// presence or verification, for an unknown credential, or from an
    /// authenticator that may have been cloned. Nothing was registered and
    /// no session was created.
    #[error("passkey refused: {0}")]
    Passkey(PasskeyError),
    /// A push approval step was refused: a malformed key, answer or
    /// address, a signature that does not verify, a request that is closed
    /// or not approved, a wrong number, a risky sign-in. Nothing was
    /// registered and no session was created.
    #[error("push refused: {0}")]
    Push(crate::crypto::push::PushError),
    /// The store failed.
    #[error("store error")]
    Store(#[from] StoreError),
}

/// How a key ring fails to match a store (the detail of
/// [`MfaError::KeyMismatch`]). Its message says what to do and names no key
/// material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum KeyMismatch {
    /// The ring's key with this id does not open the check value written
    /// when that key id was first used with the store: it is another key.
    #[error(
        "key {key_id} does not open the check value written when key {key_id} was first used \
         with this store; start with the keys the data was written with \
         (MFA_AEAD_KEYS / MFA_ROOT_SECRET)"
    )]
    WrongKey {
        /// The AEAD key id.
        key_id: u32,
    },
    /// The store holds a check value for a key the ring does not have:
    /// data may be sealed under it.
    #[error(
        "the store has a check value for key {key_id}, which the key ring lacks, so data may \
         be sealed under it; start with the keys the data was written with \
         (MFA_AEAD_KEYS / MFA_ROOT_SECRET). If key {key_id} was retired on purpose, after \
         every secret was re-sealed under a newer key, delete its check row (kind \
         'aead_key', key_id {key_id} in the table <prefix>key_checks)"
    )]
    MissingKey {
        /// The AEAD key id.
        key_id: u32,
    },
    /// The root secret of this version is not the one the stored digests
    /// of backup codes, one-time codes and device fingerprints were made
    /// with.
    #[error(
        "the root secret (version {version}) does not match the check value written when it \
         was first used with this store, so no stored backup code or device would match; \
         start with the keys the data was written with (MFA_AEAD_KEYS / MFA_ROOT_SECRET / \
         MFA_ROOT_SECRETS)"
    )]
    RootSecret {
        /// The root version (0: `MFA_ROOT_SECRET`).
        version: u32,
    },
    /// The store has a check value for a root version the ring lacks:
    /// backup codes, trusted devices and audit links may depend on it.
    #[error(
        "the store has a check value for root secret version {version}, which the key ring \
         lacks, so backup codes, trusted devices and audit links may depend on it; start with \
         the root secrets the data was written with (MFA_ROOT_SECRET / MFA_ROOT_SECRETS). If \
         version {version} was retired on purpose, delete its check row (kind 'root_secret', \
         key_id {version} in the table <prefix>key_checks)"
    )]
    MissingRoot {
        /// The root version.
        version: u32,
    },
}

/// Why a WebAuthn ceremony was refused (the detail of
/// [`MfaError::Passkey`]); its [`code`](PasskeyError::code) is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum PasskeyError {
    /// The response is not a WebAuthn response: bad JSON, base64url,
    /// `clientDataJSON`, `authenticatorData` or CBOR.
    #[error("malformed response")]
    Malformed,
    /// The ceremony is unknown, expired, already answered, or not this
    /// caller's: start a new one.
    #[error("ceremony closed")]
    CeremonyClosed,
    /// `clientDataJSON` names an origin the relying party does not allow.
    #[error("wrong origin")]
    WrongOrigin,
    /// The authenticator signed for another relying party id.
    #[error("wrong relying party")]
    WrongRelyingParty,
    /// The response answers another challenge, or another ceremony type.
    #[error("wrong challenge")]
    WrongChallenge,
    /// The authenticator did not report user presence.
    #[error("user not present")]
    UserNotPresent,
    /// The authenticator did not verify the user (PIN or biometrics).
    #[error("user not verified")]
    UserNotVerified,
    /// No active credential of this user has that id.
    #[error("unknown credential")]
    UnknownCredential,
    /// The signature or attestation does not verify.
    #[error("signature invalid")]
    BadSignature,
    /// The signature counter did not move forward: the authenticator may
    /// have been cloned. The credential was disabled.
    #[error("possibly cloned authenticator")]
    CounterRegression,
    /// The credential is already registered to this account.
    #[error("credential already registered")]
    AlreadyRegistered,
    /// The authenticator or algorithm is not accepted by policy.
    #[error("authenticator not allowed")]
    NotAllowed,
}

impl PasskeyError {
    /// The stable, machine-readable code (`passkey_…`).
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::Malformed => "passkey_malformed",
            Self::CeremonyClosed => "passkey_ceremony_closed",
            Self::WrongOrigin => "passkey_wrong_origin",
            Self::WrongRelyingParty => "passkey_wrong_relying_party",
            Self::WrongChallenge => "passkey_wrong_challenge",
            Self::UserNotPresent => "passkey_user_not_present",
            Self::UserNotVerified => "passkey_user_not_verified",
            Self::UnknownCredential => "passkey_unknown_credential",
            Self::BadSignature => "passkey_bad_signature",
            Self::CounterRegression => "passkey_counter_regression",
            Self::AlreadyRegistered => "passkey_already_registered",
            Self::NotAllowed => "passkey_not_allowed",
        }
    }
}

impl MfaError {
    /// The stable, machine-readable code of this error.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::InvalidCredentials => "invalid_credentials",
            Self::InvalidCode => "invalid_code",
            Self::ChallengeExpired => "challenge_expired",
            Self::InvalidTicket => "invalid_ticket",
            Self::RateLimited { .. } => "rate_limited",
            Self::AccountLocked { .. } => "account_locked",
            Self::EnrollmentRequired => "enrollment_required",
            Self::MfaRequired => "mfa_required",
            Self::StepUpRequired => "step_up_required",
            Self::TokenReused => "token_reused",
            Self::InvalidToken => "invalid_token",
            Self::LoginBlocked => "login_blocked",
            Self::Forbidden => "forbidden",
            Self::MethodUnavailable => "method_unavailable",
            Self::NotFound => "not_found",
            Self::Conflict(_) => "conflict",
            Self::InvalidInput { .. } => "invalid_input",
            Self::Config(_) => "configuration",
            Self::KeyMismatch(_) => "key_mismatch",
            Self::Delivery(_) => "delivery_failed",
            Self::Passkey(e) => e.code(),
            Self::Push(e) => e.code(),
            Self::Crypto(_) => "internal",
            // Contention reaches the caller only once the bounded retries
            // of the step are spent: transient, like a lost connection.
            Self::Store(StoreError::Unavailable(_) | StoreError::Contention(_)) => "unavailable",
            Self::Store(_) => "internal",
        }
    }

    /// The HTTP status an API answers this error with, as a number, so any
    /// framework maps errors the same way: 400 for malformed input, 401
    /// for a credential, code, ticket, token or passkey answer that does
    /// not verify, 403 for a session that lacks what the route needs, 404,
    /// 409 for a conflict or an already registered passkey, 422 for a
    /// method that is off, 423 for a locked account, 429 for a rate limit,
    /// 502 for a failed delivery, 503 for an unavailable store, and 500 for
    /// everything internal (configuration, keys, crypto, store).
    #[must_use]
    pub const fn http_status(&self) -> u16 {
        match self {
            Self::InvalidInput { .. } | Self::Passkey(PasskeyError::Malformed) => 400,
            Self::Push(e) => e.http_status(),
            Self::Passkey(PasskeyError::AlreadyRegistered) | Self::Conflict(_) => 409,
            // Every other refused WebAuthn answer: wrong origin, challenge,
            // signature, user verification, closed ceremony, suspect
            // authenticator.
            Self::Passkey(_)
            | Self::InvalidCredentials
            | Self::InvalidCode
            | Self::InvalidTicket
            | Self::InvalidToken
            | Self::ChallengeExpired => 401,
            Self::MfaRequired
            | Self::StepUpRequired
            | Self::EnrollmentRequired
            | Self::LoginBlocked
            | Self::Forbidden
            | Self::TokenReused => 403,
            Self::NotFound => 404,
            Self::MethodUnavailable => 422,
            Self::AccountLocked { .. } => 423,
            Self::RateLimited { .. } => 429,
            Self::Delivery(_) => 502,
            Self::Store(StoreError::Unavailable(_) | StoreError::Contention(_)) => 503,
            Self::Config(_) | Self::KeyMismatch(_) | Self::Crypto(_) | Self::Store(_) => 500,
        }
    }

    /// How long the caller should wait before retrying, where that is known.
    #[must_use]
    pub const fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } => Some(*retry_after),
            Self::AccountLocked { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// Shorthand for [`MfaError::InvalidInput`].
    #[must_use]
    pub const fn invalid_input(field: &'static str, reason: &'static str) -> Self {
        Self::InvalidInput { field, reason }
    }
}

/// Result of a public operation.
pub type MfaResult<T> = Result<T, MfaError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_one_status() {
        use std::collections::HashMap;
        let errors = [
            MfaError::InvalidInput {
                field: "f",
                reason: "r",
            },
            MfaError::Passkey(PasskeyError::Malformed),
            MfaError::Passkey(PasskeyError::AlreadyRegistered),
            MfaError::Passkey(PasskeyError::BadSignature),
            MfaError::Push(crate::crypto::push::PushError::Malformed),
            MfaError::Push(crate::crypto::push::PushError::WrongNumber),
            MfaError::Push(crate::crypto::push::PushError::Pending),
            MfaError::Conflict("x"),
            MfaError::InvalidCode,
            MfaError::InvalidToken,
            MfaError::MfaRequired,
            MfaError::Forbidden,
            MfaError::NotFound,
            MfaError::MethodUnavailable,
            MfaError::AccountLocked { retry_after: None },
            MfaError::RateLimited {
                retry_after: Duration::from_secs(1),
            },
            MfaError::Config("c".into()),
            MfaError::Store(StoreError::unavailable(std::io::Error::other("down"))),
        ];
        let statuses: Vec<u16> = errors.iter().map(MfaError::http_status).collect();
        assert_eq!(
            statuses,
            [
                400, 400, 409, 401, 400, 401, 409, 409, 401, 401, 403, 403, 404, 422, 423, 429,
                500, 503
            ]
        );
        // A code never answers two statuses.
        let mut seen = HashMap::new();
        for e in &errors {
            assert_eq!(
                *seen.entry(e.code()).or_insert(e.http_status()),
                e.http_status()
            );
        }
    }

    #[test]
    fn codes_are_stable_snake_case_strings() {
        let samples = [
            MfaError::InvalidCredentials,
            MfaError::InvalidCode,
            MfaError::ChallengeExpired,
            MfaError::RateLimited {
                retry_after: Duration::from_secs(30),
            },
            MfaError::AccountLocked { retry_after: None },
            MfaError::EnrollmentRequired,
            MfaError::TokenReused,
            MfaError::invalid_input("code", "too long"),
            MfaError::Store(StoreError::Conflict("identifier")),
            MfaError::KeyMismatch(KeyMismatch::RootSecret { version: 0 }),
        ];
        for e in &samples {
            let code = e.code();
            assert!(code.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        }
        assert_eq!(samples[3].retry_after(), Some(Duration::from_secs(30)));
        assert_eq!(samples[0].retry_after(), None);
    }

    #[test]
    fn key_mismatch_says_what_is_wrong_and_what_to_do() {
        let wrong = MfaError::KeyMismatch(KeyMismatch::WrongKey { key_id: 1 });
        assert_eq!(wrong.code(), "key_mismatch");
        assert_eq!(
            wrong.to_string(),
            "the key ring does not match this store: key 1 does not open the check value \
             written when key 1 was first used with this store; start with the keys the data \
             was written with (MFA_AEAD_KEYS / MFA_ROOT_SECRET)"
        );
        let missing = MfaError::KeyMismatch(KeyMismatch::MissingKey { key_id: 2 }).to_string();
        assert!(missing.contains("lacks"), "{missing}");
        assert!(missing.contains("retired on purpose"), "{missing}");
        assert!(missing.contains("key_checks"), "{missing}");
        let root = MfaError::KeyMismatch(KeyMismatch::RootSecret { version: 0 }).to_string();
        assert!(root.contains("root secret (version 0)"), "{root}");
        assert!(root.contains("MFA_ROOT_SECRET"), "{root}");
        let gone = MfaError::KeyMismatch(KeyMismatch::MissingRoot { version: 1 }).to_string();
        assert!(gone.contains("version 1"), "{gone}");
        assert!(gone.contains("MFA_ROOT_SECRETS"), "{gone}");
        assert!(gone.contains("key_checks"), "{gone}");
    }
}

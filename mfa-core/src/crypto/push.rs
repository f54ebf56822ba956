//! Push approval: the phone app's device key, the answer it signs, and the
//! number the user matches.
//!
//! A phone app enrols a key pair made on the device (Ed25519, or ECDSA
//! P-256 where the platform keystore offers only that) and proves that it
//! holds the private key by signing [`enrolment_message`]. When a sign-in
//! asks for a push, the waiting browser shows a two-digit number and the
//! app three ([`NumberMatch`]); the user picks the one shown, and the app
//! answers with a [`SignedPushAnswer`]: the request, the number chosen, the
//! decision, the time and whether the user unlocked the key with a
//! biometric or PIN, signed by the device key over [`PushAnswer::signed_message`].
//!
//! Everything an app sends is parsed strictly (size limits, no unknown
//! fields, canonical encodings) before any signature is checked, and the
//! signature is checked with `aws-lc-rs` against the key enrolled for that
//! device: never against a key the answer carries.

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ED25519, ParsedPublicKey};
use data_encoding::BASE64URL_NOPAD;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Longest answer accepted, in bytes of JSON.
pub const MAX_ANSWER_LEN: usize = 1024;
/// Longest signature accepted, in bytes (a DER ECDSA P-256 signature is at
/// most 72; an Ed25519 one is 64).
pub const MAX_SIGNATURE_LEN: usize = 72;
/// The smallest and largest number shown for matching.
pub const NUMBER_RANGE: std::ops::RangeInclusive<u8> = 10..=99;

/// Why a push key, answer or enrolment proof was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The public key is not a valid key of its algorithm.
    #[error("malformed device key")]
    MalformedKey,
    /// The answer or proof is not the documented JSON.
    #[error("malformed push answer")]
    Malformed,
    /// The signature does not verify with the device's key.
    #[error("bad push signature")]
    BadSignature,
    /// The push address is malformed, or no transport serves its kind.
    #[error("unusable push address")]
    BadAddress,
    /// The device key is enrolled already.
    #[error("device key already enrolled")]
    AlreadyRegistered,
    /// The user has as many push devices as the policy allows.
    #[error("too many push devices")]
    TooManyDevices,
    /// The enrolment challenge or the request is unknown, expired,
    /// answered already, or not this caller's.
    #[error("push request closed")]
    Closed,
    /// The answer was signed too long before or after now.
    #[error("push answer out of time")]
    Stale,
    /// An approval picked a number other than the one shown: the request
    /// is refused and the failure counted.
    #[error("wrong number picked")]
    WrongNumber,
    /// The policy requires the app to unlock its key with a biometric or
    /// PIN, and it did not.
    #[error("user verification required")]
    UserVerificationRequired,
    /// The request was denied (or reported) by the app.
    #[error("push denied")]
    Denied,
    /// The app has not answered yet.
    #[error("push not answered yet")]
    Pending,
    /// The sign-in is too risky to ask for a push; use another method.
    #[error("push refused for a risky sign-in")]
    RiskTooHigh,
}

impl PushError {
    /// The stable, machine-readable code (`push_…`).
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::MalformedKey => "push_malformed_key",
            Self::Malformed => "push_malformed",
            Self::BadSignature => "push_bad_signature",
            Self::BadAddress => "push_bad_address",
            Self::AlreadyRegistered => "push_already_registered",
            Self::TooManyDevices => "push_too_many_devices",
            Self::Closed => "push_closed",
            Self::Stale => "push_stale",
            Self::WrongNumber => "push_wrong_number",
            Self::UserVerificationRequired => "push_user_verification_required",
            Self::Denied => "push_denied",
            Self::Pending => "push_pending",
            Self::RiskTooHigh => "push_risk_too_high",
        }
    }

    /// The HTTP status an API answers it with: 400 for malformed input,
    /// 409 for a conflict with what is stored or not answered yet, 403 for
    /// a sign-in the policy refuses a push, 401 for an answer that does not
    /// verify or a request that cannot complete.
    #[must_use]
    pub const fn http_status(self) -> u16 {
        match self {
            Self::MalformedKey | Self::Malformed | Self::BadAddress => 400,
            Self::AlreadyRegistered | Self::TooManyDevices | Self::Pending => 409,
            Self::RiskTooHigh => 403,
            Self::BadSignature
            | Self::Closed
            | Self::Stale
            | Self::WrongNumber
            | Self::UserVerificationRequired
            | Self::Denied => 401,
        }
    }
}

/// The signature algorithm of a device key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeviceKeyAlgorithm {
    /// Ed25519 (RFC 8032): a 32-byte public key, 64-byte signatures.
    Ed25519,
    /// ECDSA on P-256 with SHA-256: an uncompressed SEC1 point (65 bytes,
    /// `04 ‖ X ‖ Y`), ASN.1 DER signatures (what iOS and Android keystores
    /// produce).
    P256,
}

impl DeviceKeyAlgorithm {
    /// The wire name: `ed25519` or `p256`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::P256 => "p256",
        }
    }
}

/// A device's public key, validated: its bytes are a point of the curve.
#[derive(Clone, PartialEq, Eq)]
pub struct DevicePublicKey {
    algorithm: DeviceKeyAlgorithm,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for DevicePublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DevicePublicKey({}, {})",
            self.algorithm.as_str(),
            BASE64URL_NOPAD.encode(&self.thumbprint()[..8])
        )
    }
}

impl DevicePublicKey {
    /// A key from its raw bytes.
    ///
    /// # Errors
    /// [`PushError::MalformedKey`] for a wrong length, a compressed or
    /// otherwise encoded P-256 point, or bytes that are not a curve point.
    pub fn new(algorithm: DeviceKeyAlgorithm, bytes: &[u8]) -> Result<Self, PushError> {
        let well_formed = match algorithm {
            DeviceKeyAlgorithm::Ed25519 => bytes.len() == 32,
            DeviceKeyAlgorithm::P256 => bytes.len() == 65 && bytes[0] == 0x04,
        };
        if !well_formed {
            return Err(PushError::MalformedKey);
        }
        ParsedPublicKey::new(Self::verifier(algorithm), bytes)
            .map_err(|_| PushError::MalformedKey)?;
        Ok(Self {
            algorithm,
            bytes: bytes.to_vec(),
        })
    }

    /// A key from its base64url text (no padding), as an app sends it.
    ///
    /// # Errors
    /// As [`DevicePublicKey::new`], and for text that is not base64url.
    pub fn from_base64url(algorithm: DeviceKeyAlgorithm, text: &str) -> Result<Self, PushError> {
        if text.len() > 128 {
            return Err(PushError::MalformedKey);
        }
        let bytes = BASE64URL_NOPAD
            .decode(text.as_bytes())
            .map_err(|_| PushError::MalformedKey)?;
        Self::new(algorithm, &bytes)
    }

    fn verifier(
        algorithm: DeviceKeyAlgorithm,
    ) -> &'static dyn aws_lc_rs::signature::VerificationAlgorithm {
        match algorithm {
            DeviceKeyAlgorithm::Ed25519 => &ED25519,
            DeviceKeyAlgorithm::P256 => &ECDSA_P256_SHA256_ASN1,
        }
    }

    /// The key's algorithm.
    #[must_use]
    pub const fn algorithm(&self) -> DeviceKeyAlgorithm {
        self.algorithm
    }

    /// The raw key bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The key as base64url text (no padding).
    #[must_use]
    pub fn to_base64url(&self) -> String {
        BASE64URL_NOPAD.encode(&self.bytes)
    }

    /// SHA-256 over the algorithm name and the key: one value per key, to
    /// refuse enrolling the same key twice without comparing whole keys.
    #[must_use]
    pub fn thumbprint(&self) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update(self.algorithm.as_str().as_bytes());
        hash.update([0]);
        hash.update(&self.bytes);
        hash.finalize().into()
    }

    /// Checks `signature` over `message` with this key.
    ///
    /// # Errors
    /// [`PushError::BadSignature`] when it does not verify.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), PushError> {
        let key = ParsedPublicKey::new(Self::verifier(self.algorithm), &self.bytes)
            .map_err(|_| PushError::MalformedKey)?;
        key.verify_sig(message, signature)
            .map_err(|_| PushError::BadSignature)
    }
}

/// What the device signs to prove it holds the private key of `key` at
/// enrolment: the engine's single-use enrolment challenge and the key's
/// thumbprint, so a proof for one key or one enrolment never serves
/// another.
#[must_use]
pub fn enrolment_message(challenge: &str, key: &DevicePublicKey) -> Vec<u8> {
    format!(
        "mfa-rs push enrolment v1\nchallenge={challenge}\nkey={}\n",
        BASE64URL_NOPAD.encode(&key.thumbprint())
    )
    .into_bytes()
}

/// The user's answer to a push request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PushDecision {
    /// It is me: sign in.
    Approve,
    /// Refuse this sign-in.
    Deny,
    /// "This wasn't me": refuse, lock the second factor and tell the user
    /// through another channel.
    NotMe,
}

impl PushDecision {
    /// The wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Deny => "deny",
            Self::NotMe => "not_me",
        }
    }
}

/// What the app signs when it answers a push request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushAnswer {
    /// The request answered.
    pub request: Uuid,
    /// The number the user picked.
    pub number: u8,
    /// Approve, deny or "this wasn't me".
    pub decision: PushDecision,
    /// When the app signed, Unix seconds.
    pub at: i64,
    /// Whether the key was unlocked by the user's biometric or PIN.
    pub user_verified: bool,
}

impl PushAnswer {
    /// The exact bytes the device signs: a fixed header and one
    /// `name=value` line per field, each value in one canonical form.
    #[must_use]
    pub fn signed_message(&self) -> Vec<u8> {
        format!(
            "mfa-rs push answer v1\nrequest={}\nnumber={}\ndecision={}\nat={}\nuser_verified={}\n",
            self.request.as_hyphenated(),
            self.number,
            self.decision.as_str(),
            self.at,
            self.user_verified
        )
        .into_bytes()
    }
}

/// The JSON an app sends with its answer.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerJson {
    request: Uuid,
    number: u8,
    decision: PushDecision,
    at: i64,
    user_verified: bool,
    signature: String,
}

/// An answer with its signature, parsed but not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPushAnswer {
    /// The answer.
    pub answer: PushAnswer,
    signature: Vec<u8>,
}

impl SignedPushAnswer {
    /// Signs `answer` with `sign` (the device's signing function): what an
    /// app does, for clients written in Rust and for tests.
    pub fn sign(answer: PushAnswer, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> Self {
        let signature = sign(&answer.signed_message());
        Self { answer, signature }
    }

    /// The answer as the JSON an app sends.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "request": self.answer.request,
            "number": self.answer.number,
            "decision": self.answer.decision,
            "at": self.answer.at,
            "user_verified": self.answer.user_verified,
            "signature": BASE64URL_NOPAD.encode(&self.signature),
        })
        .to_string()
    }

    /// Parses an app's answer: at most [`MAX_ANSWER_LEN`] bytes, exactly
    /// the documented fields, a number in [`NUMBER_RANGE`] and a base64url
    /// signature of at most [`MAX_SIGNATURE_LEN`] bytes.
    ///
    /// # Errors
    /// [`PushError::Malformed`] for anything else.
    pub fn from_json(text: &str) -> Result<Self, PushError> {
        if text.len() > MAX_ANSWER_LEN {
            return Err(PushError::Malformed);
        }
        let json: AnswerJson = serde_json::from_str(text).map_err(|_| PushError::Malformed)?;
        if !NUMBER_RANGE.contains(&json.number) || json.signature.len() > 100 {
            return Err(PushError::Malformed);
        }
        let signature = BASE64URL_NOPAD
            .decode(json.signature.as_bytes())
            .map_err(|_| PushError::Malformed)?;
        if signature.is_empty() || signature.len() > MAX_SIGNATURE_LEN {
            return Err(PushError::Malformed);
        }
        Ok(Self {
            answer: PushAnswer {
                request: json.request,
                number: json.number,
                decision: json.decision,
                at: json.at,
                user_verified: json.user_verified,
            },
            signature,
        })
    }

    /// The answer, if `key` signed it.
    ///
    /// # Errors
    /// [`PushError::BadSignature`] otherwise.
    pub fn verify(&self, key: &DevicePublicKey) -> Result<&PushAnswer, PushError> {
        key.verify(&self.answer.signed_message(), &self.signature)?;
        Ok(&self.answer)
    }
}

/// The number the waiting browser shows, and the three the app offers
/// (the right one among two others, in random order, all distinct).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberMatch {
    /// The number to pick, shown by the browser.
    pub number: u8,
    /// The numbers the app offers.
    pub choices: [u8; 3],
}

impl NumberMatch {
    /// A fresh draw from the operating system's generator.
    #[must_use]
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let mut choices = [0u8; 3];
        let mut drawn = 0;
        while drawn < choices.len() {
            let n = rng.random_range(NUMBER_RANGE);
            if !choices[..drawn].contains(&n) {
                choices[drawn] = n;
                drawn += 1;
            }
        }
        let number = choices[rng.random_range(0..choices.len())];
        Self { number, choices }
    }

    /// Whether `picked` is the number to match. Not secret once answered,
    /// and a wrong pick is refused and counted as a failure either way.
    #[must_use]
    pub fn matches(&self, picked: u8) -> bool {
        picked == self.number
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
    };

    fn ed25519() -> (Ed25519KeyPair, DevicePublicKey) {
        let pair = Ed25519KeyPair::generate().unwrap();
        let key =
            DevicePublicKey::new(DeviceKeyAlgorithm::Ed25519, pair.public_key().as_ref()).unwrap();
        (pair, key)
    }

    fn p256() -> (EcdsaKeyPair, DevicePublicKey) {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
        let key =
            DevicePublicKey::new(DeviceKeyAlgorithm::P256, pair.public_key().as_ref()).unwrap();
        (pair, key)
    }

    fn answer(decision: PushDecision) -> PushAnswer {
        PushAnswer {
            request: Uuid::new_v4(),
            number: 42,
            decision,
            at: 1_765_000_000,
            user_verified: true,
        }
    }

    #[test]
    fn answers_signed_by_the_device_key_verify_for_both_algorithms() {
        let (ed, ed_key) = ed25519();
        let signed = SignedPushAnswer::sign(answer(PushDecision::Approve), |m| {
            ed.sign(m).as_ref().to_vec()
        });
        let parsed = SignedPushAnswer::from_json(&signed.to_json()).unwrap();
        assert_eq!(parsed, signed);
        assert_eq!(parsed.verify(&ed_key).unwrap(), &signed.answer);

        let (ec, ec_key) = p256();
        let rng = SystemRandom::new();
        let signed = SignedPushAnswer::sign(answer(PushDecision::NotMe), |m| {
            ec.sign(&rng, m).unwrap().as_ref().to_vec()
        });
        let parsed = SignedPushAnswer::from_json(&signed.to_json()).unwrap();
        assert_eq!(
            parsed.verify(&ec_key).unwrap().decision,
            PushDecision::NotMe
        );
    }

    #[test]
    fn another_devices_key_or_any_changed_field_does_not_verify() {
        let (ed, key) = ed25519();
        let (_, other) = ed25519();
        let original = answer(PushDecision::Deny);
        let signed = SignedPushAnswer::sign(original, |m| ed.sign(m).as_ref().to_vec());
        assert_eq!(signed.verify(&other), Err(PushError::BadSignature));
        let changes: [fn(&mut PushAnswer); 5] = [
            |a| a.request = Uuid::new_v4(),
            |a| a.number = 43,
            |a| a.decision = PushDecision::Approve,
            |a| a.at += 1,
            |a| a.user_verified = false,
        ];
        for change in changes {
            let mut forged = signed.clone();
            change(&mut forged.answer);
            assert_eq!(forged.verify(&key), Err(PushError::BadSignature));
        }
    }

    #[test]
    fn malformed_answers_are_refused_before_any_signature_check() {
        let (ed, _) = ed25519();
        let good: serde_json::Value = serde_json::from_str(
            &SignedPushAnswer::sign(answer(PushDecision::Approve), |m| {
                ed.sign(m).as_ref().to_vec()
            })
            .to_json(),
        )
        .unwrap();
        let with = |field: &str, value: serde_json::Value| {
            let mut v = good.clone();
            v[field] = value;
            v.to_string()
        };
        for bad in [
            String::new(),
            "{}".to_owned(),
            "[]".to_owned(),
            with("number", 9.into()),
            with("number", 100.into()),
            with("number", 256.into()),
            with("decision", "maybe".into()),
            with("request", "not-a-uuid".into()),
            with("signature", "".into()),
            with("signature", "!!!".into()),
            with("signature", BASE64URL_NOPAD.encode(&[7; 73]).into()),
            with("extra", true.into()),
            " ".repeat(MAX_ANSWER_LEN + 1),
        ] {
            assert_eq!(
                SignedPushAnswer::from_json(&bad),
                Err(PushError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn keys_are_validated_and_never_printed_whole() {
        let (_, key) = p256();
        let round = DevicePublicKey::from_base64url(DeviceKeyAlgorithm::P256, &key.to_base64url());
        assert_eq!(round.as_ref(), Ok(&key));
        // Not a point of the curve; compressed; wrong lengths; wrong algorithm.
        let mut off_curve = key.as_bytes().to_vec();
        off_curve[64] ^= 1;
        let compressed = [&[0x02][..], &key.as_bytes()[1..33]].concat();
        for (alg, bytes) in [
            (DeviceKeyAlgorithm::P256, off_curve.as_slice()),
            (DeviceKeyAlgorithm::P256, compressed.as_slice()),
            (DeviceKeyAlgorithm::P256, &[4u8; 64][..]),
            (DeviceKeyAlgorithm::Ed25519, &key.as_bytes()[..33]),
            (DeviceKeyAlgorithm::Ed25519, &[][..]),
        ] {
            assert_eq!(
                DevicePublicKey::new(alg, bytes),
                Err(PushError::MalformedKey)
            );
        }
        assert!(DevicePublicKey::from_base64url(DeviceKeyAlgorithm::Ed25519, "***").is_err());
        let shown = format!("{key:?}");
        assert!(!shown.contains(&key.to_base64url()), "{shown}");
        assert_ne!(key.thumbprint(), p256().1.thumbprint());
    }

    #[test]
    fn an_enrolment_proof_binds_the_challenge_and_the_key() {
        let (ed, key) = ed25519();
        let (_, other) = ed25519();
        let proof = ed.sign(&enrolment_message("challenge-1", &key));
        assert!(
            key.verify(&enrolment_message("challenge-1", &key), proof.as_ref())
                .is_ok()
        );
        assert!(
            key.verify(&enrolment_message("challenge-2", &key), proof.as_ref())
                .is_err()
        );
        assert_ne!(
            enrolment_message("challenge-1", &key),
            enrolment_message("challenge-1", &other)
        );
    }

    #[test]
    fn number_matching_offers_three_distinct_two_digit_numbers_one_of_them_right() {
        let mut positions = [0u32; 3];
        for _ in 0..3000 {
            let m = NumberMatch::generate();
            assert!(m.choices.iter().all(|n| NUMBER_RANGE.contains(n)));
            assert!(m.choices[0] != m.choices[1] && m.choices[1] != m.choices[2]);
            assert!(m.choices[0] != m.choices[2]);
            let at = m.choices.iter().position(|n| *n == m.number).unwrap();
            positions[at] += 1;
            assert!(m.matches(m.number));
            assert!(!m.matches(m.choices[(at + 1) % 3]));
        }
        // The right number is not always in the same place (each place
        // expects 1000; a fair draw falls below 800 with odds under 1e-10).
        assert!(positions.iter().all(|p| *p > 800), "{positions:?}");
    }
}

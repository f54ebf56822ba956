//! The key ring: sealing of stored secrets and keyed digests of codes.
//!
//! # Sealing (AES-256-GCM)
//!
//! Secrets that must be read back (TOTP seeds) are sealed into a
//! [`SealedSecret`] blob:
//!
//! ```text
//! version (1 byte, 0x01) ‖ key id (4 bytes, big endian) ‖ nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)
//! ```
//!
//! The nonce is fresh from the CSPRNG for every seal. The AEAD associated
//! data is the 5-byte header followed by an [`Aad`] that names the record the
//! blob belongs to (for a TOTP seed: user id and factor id). A blob copied
//! into another user's record, or whose header was edited, fails to open.
//!
//! Several keys can be loaded; one is current and used for sealing, the others
//! only open old blobs. [`KeyRing::reseal`] moves a blob to the current key
//! (rotation, R43).
//!
//! # Keyed digests (HMAC-SHA256)
//!
//! One-time codes, backup codes and device fingerprints are stored as
//! HMAC-SHA256 digests. Each purpose has its own sub-key, derived from the
//! root secret with HKDF-SHA256 and a distinct `info` label, so a digest for
//! one purpose is useless for another, and the root secret itself is never
//! kept in memory after construction.
//!
//! # Configuration from the environment
//!
//! [`KeyRing::from_env`] reads:
//!
//! | variable | format |
//! |---|---|
//! | `MFA_AEAD_KEYS` | `id:base64[,id:base64…]`: decimal `u32` ids, standard base64 of 32-byte keys |
//! | `MFA_AEAD_CURRENT_KEY` | decimal id of the key used for sealing |
//! | `MFA_ROOT_SECRET` | standard base64 of at least 32 random bytes |

use super::backup::BackupCode;
use super::otp::OtpCode;
use super::secret::SecretBytes;
use super::{CryptoError, Result};
use crate::model::{ChallengeId, CodeHash, FactorId, FingerprintHash, SealedSecret, UserId};
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use data_encoding::BASE64;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::fmt;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Format version written as the first byte of every sealed blob.
pub const SEALED_VERSION: u8 = 1;

/// AES-256 key length.
pub const AEAD_KEY_LEN: usize = 32;

/// Minimum root secret length.
pub const MIN_ROOT_SECRET_LEN: usize = 32;

const HEADER_LEN: usize = 1 + 4;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Environment variable holding the AEAD keys.
pub const ENV_AEAD_KEYS: &str = "MFA_AEAD_KEYS";
/// Environment variable naming the current AEAD key id.
pub const ENV_AEAD_CURRENT_KEY: &str = "MFA_AEAD_CURRENT_KEY";
/// Environment variable holding the root secret.
pub const ENV_ROOT_SECRET: &str = "MFA_ROOT_SECRET";

// HKDF `info` labels: one per purpose, never reused.
const INFO_OTP: &[u8] = b"mfa-rs/v1/otp-code";
const INFO_BACKUP: &[u8] = b"mfa-rs/v1/backup-code";
const INFO_FINGERPRINT: &[u8] = b"mfa-rs/v1/fingerprint";
const HKDF_SALT: &[u8] = b"mfa-rs/v1/key-ring";

type HmacSha256 = Hmac<Sha256>;

/// Associated data naming the record a sealed secret belongs to.
///
/// Built from a domain label and fixed-length ids, so two different records
/// can never produce the same bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Aad(Vec<u8>);

impl Aad {
    /// Associated data for a factor's secret (the TOTP seed): binds the user
    /// and the factor.
    #[must_use]
    pub fn factor(user: UserId, factor: FactorId) -> Self {
        let mut v = Vec::with_capacity(32 + 32);
        v.extend_from_slice(b"mfa-rs/v1/aad/factor\0");
        v.extend_from_slice(user.as_bytes());
        v.extend_from_slice(factor.as_bytes());
        Self(v)
    }

    /// Associated data for another kind of record: a label naming the kind
    /// (for example `"webhook-secret"`) and the record's identifying bytes.
    /// The label is length-prefixed so label/context boundaries are
    /// unambiguous.
    #[must_use]
    pub fn custom(label: &str, context: &[u8]) -> Self {
        let mut v = Vec::with_capacity(32 + label.len() + context.len());
        v.extend_from_slice(b"mfa-rs/v1/aad/custom\0");
        v.extend_from_slice(&(label.len() as u64).to_be_bytes());
        v.extend_from_slice(label.as_bytes());
        v.extend_from_slice(context);
        Self(v)
    }

    /// The bytes authenticated with the ciphertext.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Aad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Aad({} bytes)", self.0.len())
    }
}

/// Sealing keys and derived HMAC sub-keys. `Debug` shows key ids only.
pub struct KeyRing {
    aead: BTreeMap<u32, Aes256Gcm>,
    current: u32,
    otp_key: Zeroizing<[u8; 32]>,
    backup_key: Zeroizing<[u8; 32]>,
    fingerprint_key: Zeroizing<[u8; 32]>,
}

/// Builder for [`KeyRing`]; every check happens in [`KeyRingBuilder::build`].
#[derive(Default)]
pub struct KeyRingBuilder {
    aead: Vec<(u32, SecretBytes)>,
    current: Option<u32>,
    root: Option<SecretBytes>,
}

impl fmt::Debug for KeyRingBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRingBuilder")
            .field(
                "aead_key_ids",
                &self.aead.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            )
            .field("current", &self.current)
            .field("root_secret", &self.root.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl KeyRingBuilder {
    /// Adds an AES-256-GCM key under `id` (must be 32 bytes).
    #[must_use]
    pub fn aead_key(mut self, id: u32, key: &[u8]) -> Self {
        self.aead.push((id, SecretBytes::from_slice(key)));
        self
    }

    /// Chooses the key used for sealing.
    #[must_use]
    pub fn current(mut self, id: u32) -> Self {
        self.current = Some(id);
        self
    }

    /// Sets the root secret (at least 32 bytes) from which the HMAC
    /// sub-keys are derived.
    #[must_use]
    pub fn root_secret(mut self, secret: &[u8]) -> Self {
        self.root = Some(SecretBytes::from_slice(secret));
        self
    }

    /// Validates and builds the key ring.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKeyLength`] for an AES key that is not 32 bytes,
    /// [`CryptoError::KeyTooShort`] for a root secret under 32 bytes,
    /// [`CryptoError::InvalidParameter`] for no key, a duplicate id, or a
    /// missing root secret, and [`CryptoError::UnknownKeyId`] when the
    /// current id names no loaded key.
    pub fn build(self) -> Result<KeyRing> {
        if self.aead.is_empty() {
            return Err(CryptoError::InvalidParameter("no AEAD key configured"));
        }
        let mut aead = BTreeMap::new();
        for (id, key) in &self.aead {
            if key.len() != AEAD_KEY_LEN {
                return Err(CryptoError::InvalidKeyLength {
                    what: "AES-256-GCM key",
                    expected: AEAD_KEY_LEN,
                    actual: key.len(),
                });
            }
            let cipher = Aes256Gcm::new_from_slice(key.expose())
                .map_err(|_| CryptoError::InvalidKey("AES-256-GCM key"))?;
            if aead.insert(*id, cipher).is_some() {
                return Err(CryptoError::InvalidParameter("duplicate AEAD key id"));
            }
        }
        let current = self
            .current
            .ok_or(CryptoError::InvalidParameter("no current AEAD key chosen"))?;
        if !aead.contains_key(&current) {
            return Err(CryptoError::UnknownKeyId);
        }
        let root = self
            .root
            .ok_or(CryptoError::InvalidParameter("no root secret configured"))?;
        if root.len() < MIN_ROOT_SECRET_LEN {
            return Err(CryptoError::KeyTooShort {
                what: "root secret",
                min: MIN_ROOT_SECRET_LEN,
                actual: root.len(),
            });
        }
        let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), root.expose());
        let derive = |info: &[u8]| -> Result<Zeroizing<[u8; 32]>> {
            let mut okm = Zeroizing::new([0u8; 32]);
            hk.expand(info, okm.as_mut())
                .map_err(|_| CryptoError::InvalidKey("HKDF expansion"))?;
            Ok(okm)
        };
        Ok(KeyRing {
            otp_key: derive(INFO_OTP)?,
            backup_key: derive(INFO_BACKUP)?,
            fingerprint_key: derive(INFO_FINGERPRINT)?,
            aead,
            current,
        })
    }
}

fn parse_env_keys(value: &str) -> Result<Vec<(u32, SecretBytes)>> {
    let bad = |reason| CryptoError::Environment {
        variable: ENV_AEAD_KEYS,
        reason,
    };
    let mut keys = Vec::new();
    for entry in value.split(',') {
        let (id, b64) = entry
            .trim()
            .split_once(':')
            .ok_or(bad("each entry must be id:base64"))?;
        let id = id.parse::<u32>().map_err(|_| bad("key id is not a u32"))?;
        let key = BASE64
            .decode(b64.as_bytes())
            .map_err(|_| bad("key is not valid base64"))?;
        keys.push((id, SecretBytes::new(key)));
    }
    Ok(keys)
}

impl KeyRing {
    /// Starts a builder.
    #[must_use]
    pub fn builder() -> KeyRingBuilder {
        KeyRingBuilder::default()
    }

    /// A key ring with one random AES key (id 1) and a random root secret.
    /// For development and tests: everything sealed or hashed with it is
    /// lost when the process exits.
    #[must_use]
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let mut key = Zeroizing::new([0u8; AEAD_KEY_LEN]);
        let mut root = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(key.as_mut());
        rng.fill_bytes(root.as_mut());
        let built = Self::builder()
            .aead_key(1, key.as_ref())
            .current(1)
            .root_secret(root.as_ref())
            .build();
        match built {
            Ok(ring) => ring,
            // Sizes above are fixed and valid; this arm cannot be reached.
            Err(e) => unreachable!("fixed-size random keys were rejected: {e}"),
        }
    }

    /// Loads the key ring from the process environment (see the module docs
    /// for the variables and formats).
    ///
    /// # Errors
    /// [`CryptoError::Environment`] naming the missing or invalid variable
    /// (never its value), or the errors of [`KeyRingBuilder::build`].
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`KeyRing::from_env`], reading variables through `lookup` (a
    /// configuration map, a secrets manager, a test fixture).
    ///
    /// # Errors
    /// As [`KeyRing::from_env`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |variable: &'static str| {
            lookup(variable)
                .map(Zeroizing::new)
                .ok_or(CryptoError::Environment {
                    variable,
                    reason: "not set",
                })
        };
        let keys = parse_env_keys(&get(ENV_AEAD_KEYS)?)?;
        let current = get(ENV_AEAD_CURRENT_KEY)?
            .trim()
            .parse::<u32>()
            .map_err(|_| CryptoError::Environment {
                variable: ENV_AEAD_CURRENT_KEY,
                reason: "not a u32 key id",
            })?;
        let root = get(ENV_ROOT_SECRET)?;
        let root = SecretBytes::new(BASE64.decode(root.trim().as_bytes()).map_err(|_| {
            CryptoError::Environment {
                variable: ENV_ROOT_SECRET,
                reason: "not valid base64",
            }
        })?);
        let mut builder = Self::builder().current(current).root_secret(root.expose());
        for (id, key) in &keys {
            builder = builder.aead_key(*id, key.expose());
        }
        builder.build().map_err(|e| match e {
            CryptoError::InvalidKeyLength { .. } => CryptoError::Environment {
                variable: ENV_AEAD_KEYS,
                reason: "every key must be 32 bytes",
            },
            CryptoError::UnknownKeyId => CryptoError::Environment {
                variable: ENV_AEAD_CURRENT_KEY,
                reason: "names no key in MFA_AEAD_KEYS",
            },
            CryptoError::KeyTooShort { .. } => CryptoError::Environment {
                variable: ENV_ROOT_SECRET,
                reason: "must decode to at least 32 bytes",
            },
            other => other,
        })
    }

    /// The id of the key used for sealing.
    #[must_use]
    pub fn current_key_id(&self) -> u32 {
        self.current
    }

    /// Ids of every loaded AEAD key, ascending.
    #[must_use]
    pub fn key_ids(&self) -> Vec<u32> {
        self.aead.keys().copied().collect()
    }

    fn header(key_id: u32) -> [u8; HEADER_LEN] {
        let id = key_id.to_be_bytes();
        [SEALED_VERSION, id[0], id[1], id[2], id[3]]
    }

    fn full_aad(header: &[u8], aad: &Aad) -> Vec<u8> {
        let mut v = Vec::with_capacity(header.len() + aad.0.len());
        v.extend_from_slice(header);
        v.extend_from_slice(&aad.0);
        v
    }

    /// Seals `plaintext` under the current key, bound to `aad`.
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] if the plaintext is too long for
    /// AES-GCM (over 64 GiB).
    pub fn seal(&self, plaintext: &[u8], aad: &Aad) -> Result<SealedSecret> {
        let cipher = self
            .aead
            .get(&self.current)
            .ok_or(CryptoError::UnknownKeyId)?;
        let header = Self::header(self.current);
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ad = Self::full_aad(&header, aad);
        let ciphertext = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &ad,
                },
            )
            .map_err(|_| CryptoError::InvalidParameter("plaintext too long to seal"))?;
        let mut blob = Vec::with_capacity(HEADER_LEN + NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&header);
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        Ok(SealedSecret::from_bytes(blob))
    }

    /// The key id a blob was sealed under, without opening it.
    ///
    /// # Errors
    /// [`CryptoError::MalformedSealedSecret`] for a truncated blob or an
    /// unknown format version.
    pub fn sealed_key_id(sealed: &SealedSecret) -> Result<u32> {
        let b = sealed.as_bytes();
        if b.len() < HEADER_LEN + NONCE_LEN + TAG_LEN || b[0] != SEALED_VERSION {
            return Err(CryptoError::MalformedSealedSecret);
        }
        Ok(u32::from_be_bytes([b[1], b[2], b[3], b[4]]))
    }

    /// Opens a blob sealed under any loaded key, checking `aad`.
    ///
    /// # Errors
    /// [`CryptoError::MalformedSealedSecret`] (truncated, unknown version),
    /// [`CryptoError::UnknownKeyId`] (key not loaded), or
    /// [`CryptoError::OpenFailed`] (altered blob or other associated data).
    pub fn open(&self, sealed: &SealedSecret, aad: &Aad) -> Result<SecretBytes> {
        let key_id = Self::sealed_key_id(sealed)?;
        let cipher = self.aead.get(&key_id).ok_or(CryptoError::UnknownKeyId)?;
        let b = sealed.as_bytes();
        let (header, rest) = b.split_at(HEADER_LEN);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).map_err(|_| CryptoError::MalformedSealedSecret)?;
        let ad = Self::full_aad(header, aad);
        cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: &ad,
                },
            )
            .map(SecretBytes::new)
            .map_err(|_| CryptoError::OpenFailed)
    }

    /// Re-seals a blob under the current key when it was sealed under an
    /// older one: `Some(new blob)` to write back, `None` when it is already
    /// current. The blob is opened (and so authenticated) either way.
    ///
    /// # Errors
    /// As [`KeyRing::open`].
    pub fn reseal(&self, sealed: &SealedSecret, aad: &Aad) -> Result<Option<SealedSecret>> {
        let plaintext = self.open(sealed, aad)?;
        if Self::sealed_key_id(sealed)? == self.current {
            return Ok(None);
        }
        self.seal(plaintext.expose(), aad).map(Some)
    }

    fn mac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
        // HMAC accepts keys of any length; a 32-byte key cannot fail.
        let mut mac = match <HmacSha256 as hmac::KeyInit>::new_from_slice(key) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC-SHA256 accepts any key length"),
        };
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    /// Stored digest of an out-of-band code:
    /// `HMAC-SHA256(otp sub-key, challenge id ‖ code)`. The challenge id binds
    /// the digest to one challenge.
    #[must_use]
    pub fn hash_otp(&self, challenge: ChallengeId, code: &OtpCode) -> CodeHash {
        CodeHash::from_array(Self::mac(
            &self.otp_key,
            &[challenge.as_bytes(), code.expose().as_bytes()],
        ))
    }

    /// Checks `code` against a stored digest in constant time.
    #[must_use]
    pub fn verify_otp(&self, challenge: ChallengeId, code: &OtpCode, stored: &CodeHash) -> bool {
        let computed = self.hash_otp(challenge, code);
        computed.as_bytes().ct_eq(stored.as_bytes()).into()
    }

    /// Stored digest of a backup code:
    /// `HMAC-SHA256(backup sub-key, user id ‖ normalised code)`. Scoping by
    /// user means the same code for two users gives two digests, and a digest
    /// can be looked up directly (no per-code password hash in a loop).
    #[must_use]
    pub fn hash_backup_code(&self, user: UserId, code: &BackupCode) -> CodeHash {
        CodeHash::from_array(Self::mac(
            &self.backup_key,
            &[user.as_bytes(), code.expose().as_bytes()],
        ))
    }

    /// Stored digest of a device fingerprint, scoped to one user.
    #[must_use]
    pub fn hash_fingerprint(&self, user: UserId, fingerprint: &str) -> FingerprintHash {
        FingerprintHash::from_array(Self::mac(
            &self.fingerprint_key,
            &[user.as_bytes(), fingerprint.as_bytes()],
        ))
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("aead_key_ids", &self.key_ids())
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const K1: [u8; 32] = [0x11; 32];
    const K2: [u8; 32] = [0x22; 32];
    const ROOT: [u8; 32] = [0x33; 32];

    fn ring(keys: &[(u32, [u8; 32])], current: u32) -> KeyRing {
        let mut b = KeyRing::builder().current(current).root_secret(&ROOT);
        for (id, k) in keys {
            b = b.aead_key(*id, k);
        }
        b.build().unwrap()
    }

    fn aad() -> (UserId, FactorId, Aad) {
        let u = UserId::new();
        let f = FactorId::new();
        (u, f, Aad::factor(u, f))
    }

    #[test]
    fn r43_seal_then_open_round_trips() {
        let kr = ring(&[(1, K1)], 1);
        let (_, _, a) = aad();
        let sealed = kr.seal(b"totp seed bytes!", &a).unwrap();
        assert_eq!(kr.open(&sealed, &a).unwrap().expose(), b"totp seed bytes!");
    }

    #[test]
    fn r43_blob_layout_is_version_key_id_nonce_ciphertext_tag() {
        let kr = ring(&[(7, K1)], 7);
        let (_, _, a) = aad();
        let sealed = kr.seal(b"0123456789", &a).unwrap();
        let b = sealed.as_bytes();
        assert_eq!(b[0], SEALED_VERSION);
        assert_eq!(&b[1..5], &7u32.to_be_bytes());
        assert_eq!(b.len(), 1 + 4 + 12 + 10 + 16);
        assert_eq!(KeyRing::sealed_key_id(&sealed).unwrap(), 7);
    }

    /// R43: a fresh nonce per seal ⇒ different blobs for the same input.
    #[test]
    fn r43_same_plaintext_sealed_twice_differs() {
        let kr = ring(&[(1, K1)], 1);
        let (_, _, a) = aad();
        let x = kr.seal(b"same", &a).unwrap();
        let y = kr.seal(b"same", &a).unwrap();
        assert_ne!(x.as_bytes(), y.as_bytes());
        assert_ne!(&x.as_bytes()[5..17], &y.as_bytes()[5..17]);
    }

    fn flipped(sealed: &SealedSecret, index: usize) -> SealedSecret {
        let mut b = sealed.as_bytes().to_vec();
        b[index] ^= 0x01;
        SealedSecret::from_bytes(b)
    }

    #[test]
    fn r43_tampered_ciphertext_fails_to_open() {
        let kr = ring(&[(1, K1)], 1);
        let (_, _, a) = aad();
        let s = kr.seal(b"secret", &a).unwrap();
        assert_eq!(
            kr.open(&flipped(&s, 17), &a).unwrap_err(),
            CryptoError::OpenFailed
        );
        let last = s.as_bytes().len() - 1;
        assert_eq!(
            kr.open(&flipped(&s, last), &a).unwrap_err(),
            CryptoError::OpenFailed
        );
    }

    #[test]
    fn r43_tampered_nonce_fails_to_open() {
        let kr = ring(&[(1, K1)], 1);
        let (_, _, a) = aad();
        let s = kr.seal(b"secret", &a).unwrap();
        assert_eq!(
            kr.open(&flipped(&s, 5), &a).unwrap_err(),
            CryptoError::OpenFailed
        );
    }

    /// The key id is authenticated: re-labelling a blob with another loaded
    /// key's id fails (and would fail even if the key were the same).
    #[test]
    fn r43_tampered_header_fails_to_open() {
        let kr = ring(&[(1, K1), (0x0100_0001, K1)], 1);
        let (_, _, a) = aad();
        let s = kr.seal(b"secret", &a).unwrap();
        // id 1 → 0x01000001: same key bytes, different header.
        assert_eq!(
            kr.open(&flipped(&s, 1), &a).unwrap_err(),
            CryptoError::OpenFailed
        );
    }

    #[test]
    fn r43_wrong_version_is_malformed() {
        let kr = ring(&[(1, K1)], 1);
        let (_, _, a) = aad();
        let s = kr.seal(b"secret", &a).unwrap();
        let mut b = s.as_bytes().to_vec();
        b[0] = 2;
        assert_eq!(
            kr.open(&SealedSecret::from_bytes(b), &a).unwrap_err(),
            CryptoError::MalformedSealedSecret
        );
    }

    /// R43: user A's blob opened as user B's record fails.
    #[test]
    fn r43_blob_moved_to_other_user_fails_to_open() {
        let kr = ring(&[(1, K1)], 1);
        let (_, f, a) = aad();
        let s = kr.seal(b"secret", &a).unwrap();
        let other_user = Aad::factor(UserId::new(), f);
        assert_eq!(
            kr.open(&s, &other_user).unwrap_err(),
            CryptoError::OpenFailed
        );
    }

    #[test]
    fn r43_blob_moved_to_other_factor_fails_to_open() {
        let kr = ring(&[(1, K1)], 1);
        let (u, _, a) = aad();
        let s = kr.seal(b"secret", &a).unwrap();
        let other_factor = Aad::factor(u, FactorId::new());
        assert_eq!(
            kr.open(&s, &other_factor).unwrap_err(),
            CryptoError::OpenFailed
        );
    }

    #[test]
    fn custom_aad_is_not_confusable_with_factor_aad() {
        let kr = ring(&[(1, K1)], 1);
        let (u, f, a) = aad();
        let s = kr.seal(b"secret", &a).unwrap();
        let mut ctx = u.as_bytes().to_vec();
        ctx.extend_from_slice(f.as_bytes());
        assert_eq!(
            kr.open(&s, &Aad::custom("factor", &ctx)).unwrap_err(),
            CryptoError::OpenFailed
        );
    }

    #[test]
    fn r43_unknown_key_id_is_reported() {
        let kr1 = ring(&[(1, K1)], 1);
        let kr2 = ring(&[(2, K2)], 2);
        let (_, _, a) = aad();
        let s = kr1.seal(b"secret", &a).unwrap();
        assert_eq!(kr2.open(&s, &a).unwrap_err(), CryptoError::UnknownKeyId);
    }

    #[test]
    fn r43_truncated_or_empty_blob_is_malformed() {
        let kr = ring(&[(1, K1)], 1);
        let (_, _, a) = aad();
        let s = kr.seal(b"", &a).unwrap();
        assert_eq!(s.as_bytes().len(), 33);
        assert!(kr.open(&s, &a).unwrap().is_empty());
        for len in [0, 1, 5, 17, 32] {
            let cut = SealedSecret::from_bytes(s.as_bytes()[..len].to_vec());
            assert_eq!(
                kr.open(&cut, &a).unwrap_err(),
                CryptoError::MalformedSealedSecret,
                "len {len}"
            );
        }
    }

    /// R43: rotation. Sealed under key 1; a ring {1, 2} with 2 current opens
    /// it and re-seals it under 2; a ring without key 1 cannot open it.
    #[test]
    fn r43_rotation_reseals_under_current_key() {
        let old = ring(&[(1, K1)], 1);
        let (_, _, a) = aad();
        let s1 = old.seal(b"seed", &a).unwrap();

        let rotated = ring(&[(1, K1), (2, K2)], 2);
        assert_eq!(rotated.open(&s1, &a).unwrap().expose(), b"seed");
        let s2 = rotated.reseal(&s1, &a).unwrap().expect("needs reseal");
        assert_eq!(KeyRing::sealed_key_id(&s2).unwrap(), 2);
        assert_eq!(rotated.open(&s2, &a).unwrap().expose(), b"seed");
        assert_eq!(rotated.reseal(&s2, &a).unwrap(), None);

        let retired = ring(&[(2, K2)], 2);
        assert_eq!(
            retired.open(&s1, &a).unwrap_err(),
            CryptoError::UnknownKeyId
        );
        assert_eq!(retired.open(&s2, &a).unwrap().expose(), b"seed");
    }

    #[test]
    fn aead_key_of_wrong_length_is_rejected() {
        for len in [0usize, 31, 33] {
            let err = KeyRing::builder()
                .aead_key(1, &vec![0u8; len])
                .current(1)
                .root_secret(&ROOT)
                .build()
                .unwrap_err();
            assert_eq!(
                err,
                CryptoError::InvalidKeyLength {
                    what: "AES-256-GCM key",
                    expected: 32,
                    actual: len
                }
            );
        }
    }

    #[test]
    fn short_root_secret_is_rejected() {
        let err = KeyRing::builder()
            .aead_key(1, &K1)
            .current(1)
            .root_secret(&[1u8; 31])
            .build()
            .unwrap_err();
        assert!(matches!(
            err,
            CryptoError::KeyTooShort {
                min: 32,
                actual: 31,
                ..
            }
        ));
    }

    #[test]
    fn builder_rejects_unknown_current_missing_parts_and_duplicates() {
        let base = || KeyRing::builder().aead_key(1, &K1).root_secret(&ROOT);
        assert_eq!(
            base().current(9).build().unwrap_err(),
            CryptoError::UnknownKeyId
        );
        assert!(matches!(
            base().build(),
            Err(CryptoError::InvalidParameter(_))
        ));
        assert!(matches!(
            KeyRing::builder().aead_key(1, &K1).current(1).build(),
            Err(CryptoError::InvalidParameter(_))
        ));
        assert!(matches!(
            KeyRing::builder().current(1).root_secret(&ROOT).build(),
            Err(CryptoError::InvalidParameter(_))
        ));
        assert!(matches!(
            base().aead_key(1, &K2).current(1).build(),
            Err(CryptoError::InvalidParameter(_))
        ));
    }

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn from_lookup_reads_documented_variables() {
        let keys = format!("1:{},2:{}", BASE64.encode(&K1), BASE64.encode(&K2));
        let root = BASE64.encode(&ROOT);
        let kr = KeyRing::from_lookup(env(&[
            (ENV_AEAD_KEYS, &keys),
            (ENV_AEAD_CURRENT_KEY, "2"),
            (ENV_ROOT_SECRET, &root),
        ]))
        .unwrap();
        assert_eq!(kr.key_ids(), vec![1, 2]);
        assert_eq!(kr.current_key_id(), 2);
        // Same root ⇒ same derived keys as the builder.
        let built = ring(&[(1, K1)], 1);
        let c = ChallengeId::new();
        let code = OtpCode::parse("123456", 6).unwrap();
        assert_eq!(kr.hash_otp(c, &code), built.hash_otp(c, &code));
    }

    #[test]
    fn from_lookup_names_the_missing_or_invalid_variable_not_its_value() {
        let keys = format!("1:{}", BASE64.encode(&K1));
        let root = BASE64.encode(&ROOT);
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (
                vec![(ENV_AEAD_CURRENT_KEY, "1"), (ENV_ROOT_SECRET, &root)],
                ENV_AEAD_KEYS,
            ),
            (
                vec![(ENV_AEAD_KEYS, &keys), (ENV_ROOT_SECRET, &root)],
                ENV_AEAD_CURRENT_KEY,
            ),
            (
                vec![(ENV_AEAD_KEYS, &keys), (ENV_AEAD_CURRENT_KEY, "1")],
                ENV_ROOT_SECRET,
            ),
            (
                vec![
                    (ENV_AEAD_KEYS, "1:not*base64"),
                    (ENV_AEAD_CURRENT_KEY, "1"),
                    (ENV_ROOT_SECRET, &root),
                ],
                ENV_AEAD_KEYS,
            ),
            (
                vec![
                    (ENV_AEAD_KEYS, "1:AAAA"),
                    (ENV_AEAD_CURRENT_KEY, "1"),
                    (ENV_ROOT_SECRET, &root),
                ],
                ENV_AEAD_KEYS,
            ),
            (
                vec![
                    (ENV_AEAD_KEYS, &keys),
                    (ENV_AEAD_CURRENT_KEY, "x"),
                    (ENV_ROOT_SECRET, &root),
                ],
                ENV_AEAD_CURRENT_KEY,
            ),
            (
                vec![
                    (ENV_AEAD_KEYS, &keys),
                    (ENV_AEAD_CURRENT_KEY, "5"),
                    (ENV_ROOT_SECRET, &root),
                ],
                ENV_AEAD_CURRENT_KEY,
            ),
            (
                vec![
                    (ENV_AEAD_KEYS, &keys),
                    (ENV_AEAD_CURRENT_KEY, "1"),
                    (ENV_ROOT_SECRET, "c2hvcnQ="),
                ],
                ENV_ROOT_SECRET,
            ),
        ];
        for (vars, expected_var) in cases {
            let err = KeyRing::from_lookup(env(&vars)).unwrap_err();
            match &err {
                CryptoError::Environment { variable, .. } => assert_eq!(*variable, expected_var),
                other => panic!("expected Environment error, got {other:?}"),
            }
            let msg = err.to_string();
            assert!(msg.contains(expected_var));
            assert!(!msg.contains(&keys[2..10]));
            assert!(!msg.contains(&root[..10]));
        }
    }

    /// R45: `Debug` shows key ids only.
    #[test]
    fn r45_key_ring_debug_shows_ids_only() {
        let kr = ring(&[(1, K1), (2, K2)], 2);
        let shown = format!("{kr:?}");
        assert!(shown.contains("[1, 2]"));
        assert!(!shown.contains("17")); // 0x11
        assert!(!shown.contains("0x11"));
        assert!(!shown.contains("ERER")); // base64 of 0x11…
        let b = KeyRing::builder().aead_key(1, &K1).root_secret(&ROOT);
        assert!(!format!("{b:?}").contains("17"));
    }

    #[test]
    fn generated_key_ring_works() {
        let kr = KeyRing::generate();
        let (_, _, a) = aad();
        let s = kr.seal(b"x", &a).unwrap();
        assert_eq!(kr.open(&s, &a).unwrap().expose(), b"x");
    }

    /// R10/R12: the OTP digest is bound to its challenge.
    #[test]
    fn hash_otp_binds_the_challenge_id() {
        let kr = ring(&[(1, K1)], 1);
        let code = OtpCode::parse("123456", 6).unwrap();
        let a = ChallengeId::new();
        let b = ChallengeId::new();
        assert_ne!(kr.hash_otp(a, &code), kr.hash_otp(b, &code));
        assert_eq!(kr.hash_otp(a, &code), kr.hash_otp(a, &code));
    }

    #[test]
    fn verify_otp_accepts_right_code_and_rejects_wrong_code() {
        let kr = ring(&[(1, K1)], 1);
        let c = ChallengeId::new();
        let code = OtpCode::generate(6).unwrap();
        let stored = kr.hash_otp(c, &code);
        assert!(kr.verify_otp(c, &code, &stored));
        let other = OtpCode::parse(
            if code.expose() == "000000" {
                "000001"
            } else {
                "000000"
            },
            6,
        )
        .unwrap();
        assert!(!kr.verify_otp(c, &other, &stored));
        assert!(!kr.verify_otp(ChallengeId::new(), &code, &stored));
    }

    #[test]
    fn different_root_secrets_give_different_hashes() {
        let a = ring(&[(1, K1)], 1);
        let b = KeyRing::builder()
            .aead_key(1, &K1)
            .current(1)
            .root_secret(&[0x44; 32])
            .build()
            .unwrap();
        let c = ChallengeId::new();
        let u = UserId::new();
        let code = OtpCode::parse("123456", 6).unwrap();
        let bc = BackupCode::parse("ABCDEFGH23456789").unwrap();
        assert_ne!(a.hash_otp(c, &code), b.hash_otp(c, &code));
        assert_ne!(a.hash_backup_code(u, &bc), b.hash_backup_code(u, &bc));
        assert_ne!(a.hash_fingerprint(u, "fp"), b.hash_fingerprint(u, "fp"));
    }

    /// The per-purpose sub-keys differ: the same bytes hashed for two
    /// purposes give two digests.
    #[test]
    fn sub_keys_are_separated_by_purpose() {
        let kr = ring(&[(1, K1)], 1);
        let u = UserId::new();
        let bc = BackupCode::parse("ABCDEFGH23456789").unwrap();
        assert_ne!(
            kr.hash_backup_code(u, &bc).as_bytes(),
            kr.hash_fingerprint(u, "ABCDEFGH23456789").as_bytes()
        );
    }

    #[test]
    fn backup_hash_is_scoped_to_user_and_uses_normalised_form() {
        let kr = ring(&[(1, K1)], 1);
        let u = UserId::new();
        let typed = BackupCode::parse("abcd-efgh-2345-6789").unwrap();
        let shown = BackupCode::parse("ABCDEFGH23456789").unwrap();
        assert_eq!(
            kr.hash_backup_code(u, &typed),
            kr.hash_backup_code(u, &shown)
        );
        assert_ne!(
            kr.hash_backup_code(u, &shown),
            kr.hash_backup_code(UserId::new(), &shown)
        );
    }

    #[test]
    fn fingerprint_hash_is_scoped_to_user() {
        let kr = ring(&[(1, K1)], 1);
        let u = UserId::new();
        assert_eq!(kr.hash_fingerprint(u, "fp"), kr.hash_fingerprint(u, "fp"));
        assert_ne!(
            kr.hash_fingerprint(u, "fp"),
            kr.hash_fingerprint(UserId::new(), "fp")
        );
        assert_ne!(kr.hash_fingerprint(u, "fp"), kr.hash_fingerprint(u, "fq"));
    }
}

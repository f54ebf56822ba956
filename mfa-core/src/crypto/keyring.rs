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
//! The audit log's chain links and checkpoint signatures (see
//! [`crate::audit`]) are HMAC-SHA256 under two more sub-keys of the root
//! secret, so whoever can write the database but does not hold the root
//! secret cannot forge them; a third digests an event's personal fields,
//! which the link covers in their place (so they can be erased).
//!
//! # Configuration from the environment
//!
//! [`KeyRing::from_env`] reads:
//!
//! | variable | format |
//! |---|---|
//! | `MFA_AEAD_KEYS` | `id:base64[,id:base64…]`: decimal `u32` ids, standard base64 of 32-byte keys |
//! | `MFA_AEAD_CURRENT_KEY` | decimal id of the key used for sealing |
//! | `MFA_ROOT_SECRET` | standard base64 of at least 32 random bytes (root version 0) |
//! | `MFA_ROOT_SECRETS` | optional, `version:base64[,version:base64…]`: decimal `u32` versions from 1, more root secrets |
//! | `MFA_ROOT_CURRENT` | optional, the root version new digests are made under (default: the highest) |
//!
//! [`KeyRing::generate_env`] makes fresh values in this format, and
//! [`KeyRing::load_or_generate`] keeps them in a file, for development.
//!
//! # Key checks
//!
//! A store opened with another key ring than the one its data was written
//! with cannot open its TOTP seeds and matches none of its code digests.
//! So that this shows at start-up rather than as failed sign-ins, the
//! engine keeps a check value per key in the store ([`KeyRing::key_check`];
//! [`MfaBuilder::open`](crate::MfaBuilder::open) writes and compares them):
//! for each AEAD key a fixed text sealed under it (associated data
//! `Aad::custom("key-check", <key id, 4 bytes big endian>)`), and for the
//! root secret an HMAC-SHA256 of a fixed input under a sub-key of its own.
//! Neither reveals a key.
//!
//! # Rotation
//!
//! Add the new key to every instance first, then make it current
//! (`MFA_AEAD_CURRENT_KEY`) everywhere; [`KeyRing::reseal`] moves a blob
//! to it, and [`Mfa::reseal_all`](crate::Mfa::reseal_all) does so for
//! every stored factor secret, in resumable batches. The first start with
//! the new key writes its check. A key is retired by removing it from the
//! ring once nothing is sealed under it any more; its check stays in the
//! store, and the start-up check refuses a ring without that key (the data
//! may still need it) until the check is deleted:
//! [`Mfa::retire_key`](crate::Mfa::retire_key) checks that no factor
//! secret needs the key and deletes it (by hand: `DELETE FROM
//! <prefix>key_checks WHERE kind = 'aead_key' AND key_id = <id>` on a SQL
//! store, or
//! [`KeyCheckRepository::remove_key_check`](crate::store::KeyCheckRepository::remove_key_check)).
//!
//! # Rotating the root secret
//!
//! Root secrets are versioned. `MFA_ROOT_SECRET` is version 0;
//! `MFA_ROOT_SECRETS=1:<base64>[,2:<base64>…]` adds more, and
//! `MFA_ROOT_CURRENT` names the one new digests, audit links and
//! signatures are made under (default: the highest loaded;
//! [`KeyRingBuilder::versioned_root_secret`],
//! [`KeyRingBuilder::current_root`]). Every loaded root verifies: a backup
//! code, a trusted device's fingerprint, a pending one-time code, an audit
//! link or checkpoint made under an older root still matches, so a
//! rotation voids nothing. Lookups try one digest per loaded root, the
//! current first (a backup code made under an older root costs one more
//! store call per root tried before its own).
//!
//! Stored digests cannot be moved to the new root (the codes behind them
//! are not kept): an older root stays loaded until nothing needs it, that
//! is once every user has regenerated their backup codes, the trusted
//! devices of its time have expired, and the audit events linked under it
//! are archived (an archive verifies with the ring that holds its roots).
//! Each root version has its key check; a ring that lacks a version the
//! store has a check for is refused at start-up
//! ([`KeyMismatch::MissingRoot`](crate::KeyMismatch::MissingRoot)) until
//! that check is deleted (`DELETE FROM <prefix>key_checks WHERE kind =
//! 'root_secret' AND key_id = <version>`).

use super::backup::BackupCode;
use super::key_file;
use super::otp::OtpCode;
use super::secret::{SecretBytes, SecretString};
use super::{CryptoError, Result};
use crate::model::{
    AuditMac, ChallengeId, CodeHash, FactorId, FingerprintHash, KeyCheckSubject, SealedSecret,
    UserId,
};
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use data_encoding::BASE64;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Format version written as the first byte of every sealed blob.
pub const SEALED_VERSION: u8 = 1;

/// AES-256 key length.
pub const AEAD_KEY_LEN: usize = 32;

/// Minimum root secret length.
pub const MIN_ROOT_SECRET_LEN: usize = 32;

const HEADER_LEN: usize = 1 + 4;
/// The build errors that [`KeyRing::from_lookup`] names a variable for.
const DUPLICATE_ROOT_VERSION: &str = "duplicate root secret version";
const UNLOADED_CURRENT_ROOT: &str = "the current root version names no loaded root secret";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Environment variable holding the AEAD keys.
pub const ENV_AEAD_KEYS: &str = "MFA_AEAD_KEYS";
/// Environment variable naming the current AEAD key id.
pub const ENV_AEAD_CURRENT_KEY: &str = "MFA_AEAD_CURRENT_KEY";
/// Environment variable holding the root secret (root version 0).
pub const ENV_ROOT_SECRET: &str = "MFA_ROOT_SECRET";
/// Environment variable holding versioned root secrets,
/// `version:base64[,version:base64…]` (versions from 1).
pub const ENV_ROOT_SECRETS: &str = "MFA_ROOT_SECRETS";
/// Environment variable naming the root version new digests are made
/// under (default: the highest loaded).
pub const ENV_ROOT_CURRENT: &str = "MFA_ROOT_CURRENT";

// HKDF `info` labels: one per purpose, never reused.
const INFO_OTP: &[u8] = b"mfa-rs/v1/otp-code";
const INFO_BACKUP: &[u8] = b"mfa-rs/v1/backup-code";
const INFO_FINGERPRINT: &[u8] = b"mfa-rs/v1/fingerprint";
const INFO_KEY_CHECK: &[u8] = b"mfa-rs/v1/key-check";
const INFO_AUDIT_LINK: &[u8] = b"mfa-rs/v1/audit-link";
const INFO_AUDIT_CHECKPOINT: &[u8] = b"mfa-rs/v1/audit-checkpoint";
const INFO_AUDIT_PERSONAL: &[u8] = b"mfa-rs/v1/audit-personal";
const HKDF_SALT: &[u8] = b"mfa-rs/v1/key-ring";

/// The text an AEAD key check seals.
const KEY_CHECK_PLAINTEXT: &[u8] = b"mfa-rs/v1/key-check";
/// The label of the associated data of an AEAD key check.
const KEY_CHECK_AAD_LABEL: &str = "key-check";
/// The input of the root secret's check digest.
const ROOT_CHECK_INPUT: &[u8] = b"mfa-rs/v1/key-check/root-secret";

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

/// Sealing keys and derived HMAC sub-keys. `Debug` shows key ids and root
/// versions only.
pub struct KeyRing {
    aead: BTreeMap<u32, Aes256Gcm>,
    current: u32,
    /// The sub-keys of every loaded root secret, by version.
    roots: BTreeMap<u32, RootKeys>,
    /// The version new digests, links and signatures are made under.
    current_root: u32,
}

/// The HMAC sub-keys derived from one root secret, and its check value.
struct RootKeys {
    otp: Zeroizing<[u8; 32]>,
    backup: Zeroizing<[u8; 32]>,
    fingerprint: Zeroizing<[u8; 32]>,
    audit_link: Zeroizing<[u8; 32]>,
    audit_checkpoint: Zeroizing<[u8; 32]>,
    audit_personal: Zeroizing<[u8; 32]>,
    /// The root secret's check value (see the module docs); it reveals no
    /// key, but is kept out of `Debug` all the same.
    check: [u8; 32],
}

impl RootKeys {
    /// Derives the sub-keys of `root` (already checked for length).
    fn derive(root: &[u8]) -> Result<Self> {
        let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), root);
        let derive = |info: &[u8]| -> Result<Zeroizing<[u8; 32]>> {
            let mut okm = Zeroizing::new([0u8; 32]);
            hk.expand(info, okm.as_mut())
                .map_err(|_| CryptoError::InvalidKey("HKDF expansion"))?;
            Ok(okm)
        };
        Ok(Self {
            otp: derive(INFO_OTP)?,
            backup: derive(INFO_BACKUP)?,
            fingerprint: derive(INFO_FINGERPRINT)?,
            audit_link: derive(INFO_AUDIT_LINK)?,
            audit_checkpoint: derive(INFO_AUDIT_CHECKPOINT)?,
            audit_personal: derive(INFO_AUDIT_PERSONAL)?,
            check: KeyRing::mac(&*derive(INFO_KEY_CHECK)?, &[ROOT_CHECK_INPUT]),
        })
    }
}

/// Builder for [`KeyRing`]; every check happens in [`KeyRingBuilder::build`].
#[derive(Default)]
pub struct KeyRingBuilder {
    aead: Vec<(u32, SecretBytes)>,
    current: Option<u32>,
    roots: Vec<(u32, SecretBytes)>,
    current_root: Option<u32>,
}

impl fmt::Debug for KeyRingBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRingBuilder")
            .field(
                "aead_key_ids",
                &self.aead.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            )
            .field("current", &self.current)
            .field(
                "root_versions",
                &self.roots.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
            )
            .field("current_root", &self.current_root)
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
    /// sub-keys are derived: root version 0, the one a ring without
    /// versions has.
    #[must_use]
    pub fn root_secret(self, secret: &[u8]) -> Self {
        self.versioned_root_secret(0, secret)
    }

    /// Adds a root secret (at least 32 bytes) under `version` (see
    /// [root rotation](self#rotating-the-root-secret)).
    #[must_use]
    pub fn versioned_root_secret(mut self, version: u32, secret: &[u8]) -> Self {
        self.roots.push((version, SecretBytes::from_slice(secret)));
        self
    }

    /// Chooses the root version new digests, links and signatures are made
    /// under (default: the highest loaded).
    #[must_use]
    pub fn current_root(mut self, version: u32) -> Self {
        self.current_root = Some(version);
        self
    }

    /// Validates and builds the key ring.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKeyLength`] for an AES key that is not 32 bytes,
    /// [`CryptoError::KeyTooShort`] for a root secret under 32 bytes,
    /// [`CryptoError::InvalidParameter`] for no key, a duplicate id or root
    /// version, a missing root secret, or a current root version that
    /// names no loaded root, and [`CryptoError::UnknownKeyId`] when the
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
        let mut roots = BTreeMap::new();
        for (version, root) in &self.roots {
            if root.len() < MIN_ROOT_SECRET_LEN {
                return Err(CryptoError::KeyTooShort {
                    what: "root secret",
                    min: MIN_ROOT_SECRET_LEN,
                    actual: root.len(),
                });
            }
            if roots
                .insert(*version, RootKeys::derive(root.expose())?)
                .is_some()
            {
                return Err(CryptoError::InvalidParameter(DUPLICATE_ROOT_VERSION));
            }
        }
        let current_root = match self.current_root {
            Some(version) if roots.contains_key(&version) => version,
            Some(_) => {
                return Err(CryptoError::InvalidParameter(UNLOADED_CURRENT_ROOT));
            }
            None => *roots
                .keys()
                .next_back()
                .ok_or(CryptoError::InvalidParameter("no root secret configured"))?,
        };
        Ok(KeyRing {
            aead,
            current,
            roots,
            current_root,
        })
    }
}

/// Parses `id:base64[,id:base64…]`, the format of `variable`.
fn parse_env_keys(variable: &'static str, value: &str) -> Result<Vec<(u32, SecretBytes)>> {
    let bad = |reason| CryptoError::Environment { variable, reason };
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
        let keys = parse_env_keys(ENV_AEAD_KEYS, &get(ENV_AEAD_KEYS)?)?;
        let current = get(ENV_AEAD_CURRENT_KEY)?
            .trim()
            .parse::<u32>()
            .map_err(|_| CryptoError::Environment {
                variable: ENV_AEAD_CURRENT_KEY,
                reason: "not a u32 key id",
            })?;
        let mut roots = match lookup(ENV_ROOT_SECRETS).map(Zeroizing::new) {
            Some(list) => parse_env_keys(ENV_ROOT_SECRETS, &list)?,
            None => Vec::new(),
        };
        match lookup(ENV_ROOT_SECRET).map(Zeroizing::new) {
            Some(root) => {
                let root = BASE64.decode(root.trim().as_bytes()).map_err(|_| {
                    CryptoError::Environment {
                        variable: ENV_ROOT_SECRET,
                        reason: "not valid base64",
                    }
                })?;
                if roots.iter().any(|(version, _)| *version == 0) {
                    return Err(CryptoError::Environment {
                        variable: ENV_ROOT_SECRETS,
                        reason: "version 0 is MFA_ROOT_SECRET's; number the others from 1",
                    });
                }
                roots.insert(0, (0, SecretBytes::new(root)));
            }
            None if roots.is_empty() => {
                return Err(CryptoError::Environment {
                    variable: ENV_ROOT_SECRET,
                    reason: "not set (nor MFA_ROOT_SECRETS)",
                });
            }
            None => {}
        }
        let mut builder = Self::builder().current(current);
        if let Some(version) = lookup(ENV_ROOT_CURRENT) {
            builder = builder.current_root(version.trim().parse::<u32>().map_err(|_| {
                CryptoError::Environment {
                    variable: ENV_ROOT_CURRENT,
                    reason: "not a u32 root version",
                }
            })?);
        }
        for (version, root) in &roots {
            builder = builder.versioned_root_secret(*version, root.expose());
        }
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
                reason: "every root secret must decode to at least 32 bytes",
            },
            CryptoError::InvalidParameter(DUPLICATE_ROOT_VERSION) => CryptoError::Environment {
                variable: ENV_ROOT_SECRETS,
                reason: "a root version is given twice",
            },
            CryptoError::InvalidParameter(UNLOADED_CURRENT_ROOT) => CryptoError::Environment {
                variable: ENV_ROOT_CURRENT,
                reason: "names no loaded root secret",
            },
            other => other,
        })
    }

    /// Fresh random keys as the lines of an environment file: one AES-256
    /// key with id 1, current, and a 32-byte root secret.
    ///
    /// ```text
    /// MFA_AEAD_KEYS=1:<base64>
    /// MFA_AEAD_CURRENT_KEY=1
    /// MFA_ROOT_SECRET=<base64>
    /// ```
    ///
    /// What [`KeyRing::from_env`] and [`KeyRing::load_or_generate`] read.
    /// Keep the text as secret as the keys themselves.
    #[must_use]
    pub fn generate_env() -> SecretString {
        let mut rng = rand::rng();
        let mut key = Zeroizing::new([0u8; AEAD_KEY_LEN]);
        let mut root = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(key.as_mut());
        rng.fill_bytes(root.as_mut());
        let key = Zeroizing::new(BASE64.encode(key.as_ref()));
        let root = Zeroizing::new(BASE64.encode(root.as_ref()));
        SecretString::from(format!(
            "{ENV_AEAD_KEYS}=1:{}\n{ENV_AEAD_CURRENT_KEY}=1\n{ENV_ROOT_SECRET}={}\n",
            key.as_str(),
            root.as_str()
        ))
    }

    /// The key ring of the key file at `path`, created with fresh keys
    /// ([`KeyRing::generate_env`]) when there is none. For development:
    /// the keys outlive the process, so a file or database store still
    /// opens its secrets after a restart. Production loads its keys from a
    /// secret store or the environment ([`KeyRing::from_env`]).
    ///
    /// The file holds `NAME=value` lines with the variables of
    /// [`KeyRing::from_env`] (blank lines and `#` comments are skipped). A
    /// new file is created whole or not at all, readable by its owner only
    /// (mode 0600 on Unix) and flushed to disk; of two processes starting
    /// at once, one creates it and both use its keys. The directory must
    /// exist.
    ///
    /// ```
    /// use mfa_core::crypto::KeyRing;
    /// # let dir = std::env::temp_dir().join(format!("mfa-doc-{}", uuid::Uuid::new_v4()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let first = KeyRing::load_or_generate(dir.join("keys.env"))?; // creates the file
    /// let again = KeyRing::load_or_generate(dir.join("keys.env"))?; // reads it back
    /// assert_eq!(first.key_ids(), again.key_ids());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`CryptoError::KeyFile`] naming the file and what failed (it cannot
    /// be read or created, a line is not `NAME=value`, a variable is
    /// missing or invalid), never a key.
    pub fn load_or_generate(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = key_file::read_or_create(path, || Ok(Self::generate_env()))?;
        let vars = key_file::parse_env(path, &text)?;
        Self::from_lookup(|name| vars.get(name).map(|v| v.as_str().to_owned())).map_err(|e| match e
        {
            CryptoError::Environment { variable, reason } => {
                key_file::error(path, format!("{variable}: {reason}"))
            }
            other => key_file::error(path, other.to_string()),
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
        self.seal_with(self.current, plaintext, aad)
    }

    /// [`KeyRing::seal`] under the key `key_id` rather than the current one.
    fn seal_with(&self, key_id: u32, plaintext: &[u8], aad: &Aad) -> Result<SealedSecret> {
        let cipher = self.aead.get(&key_id).ok_or(CryptoError::UnknownKeyId)?;
        let header = Self::header(key_id);
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

    /// The loaded root versions, ascending.
    #[must_use]
    pub fn root_versions(&self) -> Vec<u32> {
        self.roots.keys().copied().collect()
    }

    /// The root version new digests, links and signatures are made under.
    #[must_use]
    pub fn current_root_version(&self) -> u32 {
        self.current_root
    }

    /// The current root's sub-keys.
    fn root(&self) -> &RootKeys {
        match self.roots.get(&self.current_root) {
            Some(root) => root,
            // `build` checks that the current version is loaded.
            None => unreachable!("the current root version is loaded"),
        }
    }

    /// The sub-keys of every root but the current one, from the newest.
    fn older_roots(&self) -> impl Iterator<Item = &RootKeys> {
        self.roots
            .iter()
            .rev()
            .filter(|(version, _)| **version != self.current_root)
            .map(|(_, root)| root)
    }

    /// Whether `expected` is the HMAC of `parts` under the sub-key `key`
    /// of any loaded root; every root is tried (constant time each).
    fn any_root_macs(
        &self,
        key: fn(&RootKeys) -> &[u8; 32],
        parts: &[&[u8]],
        expected: &[u8; 32],
    ) -> bool {
        let mut found = subtle::Choice::from(0);
        for root in self.roots.values() {
            found |= Self::mac(key(root), parts).ct_eq(expected);
        }
        found.into()
    }

    /// What this ring has key checks for: each AEAD key, then each root
    /// version, ascending.
    #[must_use]
    pub fn key_check_subjects(&self) -> Vec<KeyCheckSubject> {
        self.aead
            .keys()
            .map(|id| KeyCheckSubject::AeadKey(*id))
            .chain(self.roots.keys().map(|v| KeyCheckSubject::RootSecret(*v)))
            .collect()
    }

    fn key_check_aad(key_id: u32) -> Aad {
        Aad::custom(KEY_CHECK_AAD_LABEL, &key_id.to_be_bytes())
    }

    /// A check value of `subject` made with this ring, to store once (see
    /// the module docs): for an AEAD key, a fixed text sealed under that
    /// key; for the root secret, its check digest. Sealing uses a fresh
    /// nonce, so two values for one key differ; both verify.
    ///
    /// # Errors
    /// [`CryptoError::UnknownKeyId`] for an AEAD key or root version the
    /// ring does not hold.
    pub fn key_check(&self, subject: KeyCheckSubject) -> Result<Vec<u8>> {
        match subject {
            KeyCheckSubject::AeadKey(id) => self
                .seal_with(id, KEY_CHECK_PLAINTEXT, &Self::key_check_aad(id))
                .map(SealedSecret::into_bytes),
            KeyCheckSubject::RootSecret(version) => self
                .roots
                .get(&version)
                .map(|root| root.check.to_vec())
                .ok_or(CryptoError::UnknownKeyId),
        }
    }

    /// Whether `value`, a stored check value of `subject`, was made with
    /// the same key as this ring's (compared in constant time). A value
    /// that is malformed, sealed under another key id, or altered does not
    /// verify.
    ///
    /// # Errors
    /// [`CryptoError::UnknownKeyId`] for an AEAD key or root version the
    /// ring does not hold: whether the value verifies cannot be known.
    pub fn verify_key_check(&self, subject: KeyCheckSubject, value: &[u8]) -> Result<bool> {
        match subject {
            KeyCheckSubject::AeadKey(id) => {
                if !self.aead.contains_key(&id) {
                    return Err(CryptoError::UnknownKeyId);
                }
                let sealed = SealedSecret::from_bytes(value.to_vec());
                if Self::sealed_key_id(&sealed).ok() != Some(id) {
                    return Ok(false);
                }
                Ok(self
                    .open(&sealed, &Self::key_check_aad(id))
                    .is_ok_and(|text| text.expose().ct_eq(KEY_CHECK_PLAINTEXT).into()))
            }
            KeyCheckSubject::RootSecret(version) => self
                .roots
                .get(&version)
                .map(|root| root.check.as_slice().ct_eq(value).into())
                .ok_or(CryptoError::UnknownKeyId),
        }
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

    /// Stored digest of an out-of-band code, under the current root:
    /// `HMAC-SHA256(otp sub-key, challenge id ‖ code)`. The challenge id binds
    /// the digest to one challenge.
    #[must_use]
    pub fn hash_otp(&self, challenge: ChallengeId, code: &OtpCode) -> CodeHash {
        CodeHash::from_array(Self::mac(
            &self.root().otp,
            &[challenge.as_bytes(), code.expose().as_bytes()],
        ))
    }

    /// Checks `code` against a stored digest made under any loaded root,
    /// in constant time.
    #[must_use]
    pub fn verify_otp(&self, challenge: ChallengeId, code: &OtpCode, stored: &CodeHash) -> bool {
        self.any_root_macs(
            |root| &root.otp,
            &[challenge.as_bytes(), code.expose().as_bytes()],
            stored.as_bytes(),
        )
    }

    /// Stored digest of a backup code, under the current root:
    /// `HMAC-SHA256(backup sub-key, user id ‖ normalised code)`. Scoping by
    /// user means the same code for two users gives two digests, and a digest
    /// can be looked up directly (no per-code password hash in a loop).
    #[must_use]
    pub fn hash_backup_code(&self, user: UserId, code: &BackupCode) -> CodeHash {
        Self::backup_mac(self.root(), user, code)
    }

    /// The other digests a stored backup code may have: under every loaded
    /// root but the current one, from the newest (codes made before a root
    /// rotation are stored under an older root). Computed as they are
    /// asked for; empty while one root is loaded.
    pub fn older_backup_code_digests<'a>(
        &'a self,
        user: UserId,
        code: &'a BackupCode,
    ) -> impl Iterator<Item = CodeHash> + 'a {
        self.older_roots()
            .map(move |root| Self::backup_mac(root, user, code))
    }

    fn backup_mac(root: &RootKeys, user: UserId, code: &BackupCode) -> CodeHash {
        CodeHash::from_array(Self::mac(
            &root.backup,
            &[user.as_bytes(), code.expose().as_bytes()],
        ))
    }

    /// The link of an audit event in its chain (see [`crate::audit`]),
    /// under the current root: `HMAC-SHA256(audit-link sub-key, parts…)`.
    #[must_use]
    pub fn audit_link(&self, parts: &[&[u8]]) -> AuditMac {
        AuditMac::from_array(Self::mac(&self.root().audit_link, parts))
    }

    /// Whether `mac` is the link of `parts` under any loaded root.
    #[must_use]
    pub fn audit_link_verifies(&self, parts: &[&[u8]], mac: &AuditMac) -> bool {
        self.any_root_macs(|root| &root.audit_link, parts, mac.as_bytes())
    }

    /// The signature of an audit checkpoint's body (see [`crate::audit`]),
    /// under the current root: `HMAC-SHA256(audit-checkpoint sub-key, body)`.
    #[must_use]
    pub fn audit_checkpoint_signature(&self, body: &[u8]) -> AuditMac {
        AuditMac::from_array(Self::mac(&self.root().audit_checkpoint, &[body]))
    }

    /// Whether `signature` signs `body` under any loaded root.
    #[must_use]
    pub fn audit_checkpoint_verifies(&self, body: &[u8], signature: &AuditMac) -> bool {
        self.any_root_macs(|root| &root.audit_checkpoint, &[body], signature.as_bytes())
    }

    /// The digest of an audit event's personal fields (see
    /// [`crate::audit`]), under the current root:
    /// `HMAC-SHA256(audit-personal sub-key, parts…)`. Keyed, so that once
    /// the fields are erased nobody without the root secret can test a
    /// guess of them against it.
    #[must_use]
    pub fn audit_personal(&self, parts: &[&[u8]]) -> AuditMac {
        AuditMac::from_array(Self::mac(&self.root().audit_personal, parts))
    }

    /// Whether `digest` is the personal digest of `parts` under any loaded
    /// root.
    #[must_use]
    pub fn audit_personal_verifies(&self, parts: &[&[u8]], digest: &AuditMac) -> bool {
        self.any_root_macs(|root| &root.audit_personal, parts, digest.as_bytes())
    }

    /// Stored digest of a device fingerprint, scoped to one user, under the
    /// current root.
    #[must_use]
    pub fn hash_fingerprint(&self, user: UserId, fingerprint: &str) -> FingerprintHash {
        Self::fingerprint_mac(self.root(), user, fingerprint)
    }

    /// The other digests a stored device fingerprint may have: under every
    /// loaded root but the current one, from the newest. Computed as they
    /// are asked for; empty while one root is loaded.
    pub fn older_fingerprint_digests<'a>(
        &'a self,
        user: UserId,
        fingerprint: &'a str,
    ) -> impl Iterator<Item = FingerprintHash> + 'a {
        self.older_roots()
            .map(move |root| Self::fingerprint_mac(root, user, fingerprint))
    }

    fn fingerprint_mac(root: &RootKeys, user: UserId, fingerprint: &str) -> FingerprintHash {
        FingerprintHash::from_array(Self::mac(
            &root.fingerprint,
            &[user.as_bytes(), fingerprint.as_bytes()],
        ))
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("aead_key_ids", &self.key_ids())
            .field("current", &self.current)
            .field("root_versions", &self.root_versions())
            .field("current_root", &self.current_root)
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
    fn key_checks_verify_with_the_same_keys_only() {
        let kr = ring(&[(1, K1), (2, K2)], 2);
        assert_eq!(
            kr.key_check_subjects(),
            [
                KeyCheckSubject::AeadKey(1),
                KeyCheckSubject::AeadKey(2),
                KeyCheckSubject::RootSecret(0)
            ]
        );
        let same = ring(&[(1, K1), (2, K2)], 1);
        let other_key_1 = ring(&[(1, K2), (2, K2)], 2);
        for subject in kr.key_check_subjects() {
            let value = kr.key_check(subject).unwrap();
            assert!(kr.verify_key_check(subject, &value).unwrap(), "{subject}");
            assert!(same.verify_key_check(subject, &value).unwrap(), "{subject}");
        }
        let check_1 = kr.key_check(KeyCheckSubject::AeadKey(1)).unwrap();
        assert!(
            !other_key_1
                .verify_key_check(KeyCheckSubject::AeadKey(1), &check_1)
                .unwrap()
        );
        // Sealed under key 1 itself, not under the current key 2.
        let sealed = SealedSecret::from_bytes(check_1.clone());
        assert_eq!(KeyRing::sealed_key_id(&sealed).unwrap(), 1);
    }

    #[test]
    fn a_key_check_of_one_key_does_not_verify_for_another() {
        let kr = ring(&[(1, K1), (2, K1)], 1);
        let check_1 = kr.key_check(KeyCheckSubject::AeadKey(1)).unwrap();
        assert!(
            !kr.verify_key_check(KeyCheckSubject::AeadKey(2), &check_1)
                .unwrap(),
            "same key bytes, other id"
        );
        let root = kr.key_check(KeyCheckSubject::RootSecret(0)).unwrap();
        assert!(
            !kr.verify_key_check(KeyCheckSubject::AeadKey(1), &root)
                .unwrap()
        );
    }

    #[test]
    fn altered_or_malformed_key_checks_do_not_verify() {
        let kr = ring(&[(1, K1)], 1);
        for subject in kr.key_check_subjects() {
            let mut value = kr.key_check(subject).unwrap();
            let last = value.len() - 1;
            value[last] ^= 1;
            assert!(!kr.verify_key_check(subject, &value).unwrap(), "{subject}");
            assert!(!kr.verify_key_check(subject, &[]).unwrap(), "{subject}");
            assert!(
                !kr.verify_key_check(subject, &value[..last]).unwrap(),
                "{subject}"
            );
        }
    }

    #[test]
    fn a_key_check_for_a_key_the_ring_lacks_is_unknown() {
        let kr = ring(&[(1, K1)], 1);
        let other = ring(&[(2, K2)], 2);
        let check_2 = other.key_check(KeyCheckSubject::AeadKey(2)).unwrap();
        assert_eq!(
            kr.verify_key_check(KeyCheckSubject::AeadKey(2), &check_2),
            Err(CryptoError::UnknownKeyId)
        );
        assert_eq!(
            kr.key_check(KeyCheckSubject::AeadKey(2)),
            Err(CryptoError::UnknownKeyId)
        );
    }

    #[test]
    fn the_root_check_follows_the_root_secret_only() {
        let a = ring(&[(1, K1)], 1);
        let b = ring(&[(7, K2)], 7);
        let other_root = KeyRing::builder()
            .aead_key(1, &K1)
            .current(1)
            .root_secret(&[0x44; 32])
            .build()
            .unwrap();
        let value = a.key_check(KeyCheckSubject::RootSecret(0)).unwrap();
        assert!(
            b.verify_key_check(KeyCheckSubject::RootSecret(0), &value)
                .unwrap()
        );
        assert!(
            !other_root
                .verify_key_check(KeyCheckSubject::RootSecret(0), &value)
                .unwrap()
        );
        // The check value is none of the digest sub-keys' outputs.
        let u = UserId::from_uuid(uuid::Uuid::nil());
        assert_ne!(value, a.hash_fingerprint(u, "").as_bytes().to_vec());
    }

    /// A ring with root versions 0 (`ROOT`) and 1 (`0x44…`), `current`.
    fn rotated(current: u32) -> KeyRing {
        KeyRing::builder()
            .aead_key(1, &K1)
            .current(1)
            .root_secret(&ROOT)
            .versioned_root_secret(1, &[0x44; 32])
            .current_root(current)
            .build()
            .unwrap()
    }

    #[test]
    fn a_rotated_root_makes_new_digests_and_still_verifies_the_old_ones() {
        let old = ring(&[(1, K1)], 1);
        let new = rotated(1);
        assert_eq!(
            (new.root_versions(), new.current_root_version()),
            (vec![0, 1], 1)
        );
        let user = UserId::new();
        let code = BackupCode::parse("ABCDEFGH23456789").unwrap();
        let before = old.hash_backup_code(user, &code);
        let after = new.hash_backup_code(user, &code);
        assert_ne!(before, after, "new digests are made under the new root");
        assert_eq!(
            new.older_backup_code_digests(user, &code)
                .collect::<Vec<_>>(),
            vec![before],
            "lookups try the current root first, then the older"
        );
        assert_eq!(old.older_backup_code_digests(user, &code).count(), 0);
        assert_ne!(
            new.hash_fingerprint(user, "fp"),
            old.hash_fingerprint(user, "fp")
        );
        assert_eq!(
            new.older_fingerprint_digests(user, "fp")
                .collect::<Vec<_>>(),
            vec![old.hash_fingerprint(user, "fp")]
        );
        let challenge = ChallengeId::new();
        let otp = OtpCode::parse("123456", 6).unwrap();
        assert!(new.verify_otp(challenge, &otp, &old.hash_otp(challenge, &otp)));
        assert!(!old.verify_otp(challenge, &otp, &new.hash_otp(challenge, &otp)));
        let wrong = OtpCode::parse("654321", 6).unwrap();
        assert!(!new.verify_otp(challenge, &wrong, &old.hash_otp(challenge, &otp)));
        let link = old.audit_link(&[b"event"]);
        assert_ne!(link, new.audit_link(&[b"event"]));
        assert!(new.audit_link_verifies(&[b"event"], &link));
        assert!(!new.audit_link_verifies(&[b"other"], &link));
        assert!(!old.audit_link_verifies(&[b"event"], &new.audit_link(&[b"event"])));
        let signature = old.audit_checkpoint_signature(b"body");
        assert!(new.audit_checkpoint_verifies(b"body", &signature));
        let personal = old.audit_personal(&[b"p"]);
        assert!(new.audit_personal_verifies(&[b"p"], &personal));
        // Version 0 stays what a ring without versions derives, and the
        // current root can be the older one.
        let back = rotated(0);
        assert_eq!(back.hash_backup_code(user, &code), before);
        assert_eq!(
            back.older_backup_code_digests(user, &code)
                .collect::<Vec<_>>(),
            vec![after]
        );
    }

    #[test]
    fn every_root_version_has_its_own_key_check() {
        let new = rotated(1);
        assert_eq!(
            new.key_check_subjects(),
            vec![
                KeyCheckSubject::AeadKey(1),
                KeyCheckSubject::RootSecret(0),
                KeyCheckSubject::RootSecret(1)
            ]
        );
        let zero = new.key_check(KeyCheckSubject::RootSecret(0)).unwrap();
        let one = new.key_check(KeyCheckSubject::RootSecret(1)).unwrap();
        assert_ne!(zero, one);
        let old = ring(&[(1, K1)], 1);
        assert_eq!(old.key_check(KeyCheckSubject::RootSecret(0)).unwrap(), zero);
        assert!(
            !new.verify_key_check(KeyCheckSubject::RootSecret(1), &zero)
                .unwrap()
        );
        assert!(matches!(
            old.verify_key_check(KeyCheckSubject::RootSecret(1), &one),
            Err(CryptoError::UnknownKeyId)
        ));
        assert!(matches!(
            old.key_check(KeyCheckSubject::RootSecret(1)),
            Err(CryptoError::UnknownKeyId)
        ));
    }

    #[test]
    fn root_versions_are_checked_when_the_ring_is_built() {
        let base = || KeyRing::builder().aead_key(1, &K1).current(1);
        assert!(matches!(
            base()
                .root_secret(&ROOT)
                .versioned_root_secret(0, &ROOT)
                .build(),
            Err(CryptoError::InvalidParameter(_))
        ));
        assert!(matches!(
            base().root_secret(&ROOT).current_root(2).build(),
            Err(CryptoError::InvalidParameter(_))
        ));
        assert!(matches!(
            base().versioned_root_secret(3, &[1; 31]).build(),
            Err(CryptoError::KeyTooShort { .. })
        ));
        // Without version 0, and with the highest version current by default.
        let ring = base()
            .versioned_root_secret(2, &[0x55; 32])
            .versioned_root_secret(5, &[0x66; 32])
            .build()
            .unwrap();
        assert_eq!(
            (ring.root_versions(), ring.current_root_version()),
            (vec![2, 5], 5)
        );
    }

    #[test]
    fn from_lookup_reads_versioned_root_secrets() {
        let keys = format!("1:{}", BASE64.encode(&K1));
        let root = BASE64.encode(&ROOT);
        let more = format!("1:{}", BASE64.encode(&[0x44; 32]));
        let base = [(ENV_AEAD_KEYS, keys.as_str()), (ENV_AEAD_CURRENT_KEY, "1")];
        let with = |extra: &[(&'static str, &str)]| {
            let mut vars = base.to_vec();
            vars.extend_from_slice(extra);
            KeyRing::from_lookup(env(&vars))
        };
        let kr = with(&[(ENV_ROOT_SECRET, &root), (ENV_ROOT_SECRETS, &more)]).unwrap();
        assert_eq!(
            (kr.root_versions(), kr.current_root_version()),
            (vec![0, 1], 1)
        );
        let user = UserId::new();
        let digests = |kr: &KeyRing| {
            std::iter::once(kr.hash_fingerprint(user, "fp"))
                .chain(kr.older_fingerprint_digests(user, "fp"))
                .collect::<Vec<_>>()
        };
        assert_eq!(digests(&kr), digests(&rotated(1)));
        let kr = with(&[
            (ENV_ROOT_SECRET, &root),
            (ENV_ROOT_SECRETS, &more),
            (ENV_ROOT_CURRENT, "0"),
        ])
        .unwrap();
        assert_eq!(kr.current_root_version(), 0);
        let only = with(&[(ENV_ROOT_SECRETS, &more)]).unwrap();
        assert_eq!(only.root_versions(), vec![1]);
        let zero = format!("0:{}", BASE64.encode(&[0x44; 32]));
        for (vars, variable) in [
            (
                vec![
                    (ENV_ROOT_SECRET, root.as_str()),
                    (ENV_ROOT_SECRETS, zero.as_str()),
                ],
                ENV_ROOT_SECRETS,
            ),
            (vec![(ENV_ROOT_SECRETS, "1:AAAA")], ENV_ROOT_SECRET),
            (vec![(ENV_ROOT_SECRETS, "x:AAAA")], ENV_ROOT_SECRETS),
            (
                vec![(ENV_ROOT_SECRETS, more.as_str()), (ENV_ROOT_CURRENT, "7")],
                ENV_ROOT_CURRENT,
            ),
            (
                vec![(ENV_ROOT_SECRETS, more.as_str()), (ENV_ROOT_CURRENT, "one")],
                ENV_ROOT_CURRENT,
            ),
        ] {
            match with(&vars) {
                Err(CryptoError::Environment { variable: v, .. }) => assert_eq!(v, variable),
                other => panic!("expected an error naming {variable}, got {other:?}"),
            }
        }
    }

    #[test]
    fn generated_env_lines_load_as_a_key_ring() {
        use secrecy::ExposeSecret;
        let text = KeyRing::generate_env();
        let lines: Vec<&str> = text.expose_secret().lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("MFA_AEAD_KEYS=1:"));
        assert_eq!(lines[1], "MFA_AEAD_CURRENT_KEY=1");
        assert!(lines[2].starts_with("MFA_ROOT_SECRET="));
        let lookup = |name: &str| {
            lines
                .iter()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
                .map(str::to_owned)
        };
        let kr = KeyRing::from_lookup(lookup).unwrap();
        assert_eq!(kr.key_ids(), [1]);
        assert_ne!(
            KeyRing::generate_env().expose_secret(),
            text.expose_secret(),
            "fresh keys every call"
        );
    }

    fn scratch_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "mfa-core-keyring-{name}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn load_or_generate_creates_the_file_once_and_reads_it_back() {
        let path = scratch_dir("load").join("keys.env");
        let first = KeyRing::load_or_generate(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let second = KeyRing::load_or_generate(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        let subject = KeyCheckSubject::AeadKey(1);
        let check = first.key_check(subject).unwrap();
        assert!(second.verify_key_check(subject, &check).unwrap());
        let root = first.key_check(KeyCheckSubject::RootSecret(0)).unwrap();
        assert!(
            second
                .verify_key_check(KeyCheckSubject::RootSecret(0), &root)
                .unwrap()
        );
    }

    #[test]
    fn load_or_generate_reads_a_written_file() {
        let path = scratch_dir("written").join("keys.env");
        let keys = format!("1:{},2:{}", BASE64.encode(&K1), BASE64.encode(&K2));
        std::fs::write(
            &path,
            format!(
                "# rotated\nexport MFA_AEAD_KEYS=\"{keys}\"\nMFA_AEAD_CURRENT_KEY=2\nMFA_ROOT_SECRET={}\n",
                BASE64.encode(&ROOT)
            ),
        )
        .unwrap();
        let loaded = KeyRing::load_or_generate(&path).unwrap();
        assert_eq!(loaded.key_ids(), [1, 2]);
        assert_eq!(loaded.current_key_id(), 2);
        let built = ring(&[(1, K1), (2, K2)], 2);
        let check = built.key_check(KeyCheckSubject::AeadKey(1)).unwrap();
        assert!(
            loaded
                .verify_key_check(KeyCheckSubject::AeadKey(1), &check)
                .unwrap()
        );
    }

    #[test]
    fn a_bad_key_file_is_named_without_its_content() {
        let dir = scratch_dir("bad");
        let path = dir.join("keys.env");
        let root = BASE64.encode(&ROOT);
        std::fs::write(
            &path,
            format!("MFA_AEAD_KEYS=1:AAAA\nMFA_AEAD_CURRENT_KEY=1\nMFA_ROOT_SECRET={root}\n"),
        )
        .unwrap();
        let err = KeyRing::load_or_generate(&path).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, CryptoError::KeyFile { .. }), "{err:?}");
        assert!(message.contains("keys.env"), "{message}");
        assert!(message.contains("MFA_AEAD_KEYS"), "{message}");
        assert!(!message.contains(&root[..12]), "{message}");
        let missing_root = dir.join("partial.env");
        std::fs::write(&missing_root, "MFA_AEAD_KEYS=1:x\n").unwrap();
        let message = KeyRing::load_or_generate(&missing_root)
            .unwrap_err()
            .to_string();
        assert!(message.contains("partial.env"), "{message}");
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

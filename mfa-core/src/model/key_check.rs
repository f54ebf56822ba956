//! Key checks: values kept with the data that tell, when an engine starts,
//! whether its key ring is the one the data was written with.

use chrono::{DateTime, Utc};
use std::fmt;

/// What a [`KeyCheck`] vouches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyCheckSubject {
    /// The AES-256-GCM key with this id: secrets sealed under it open only
    /// with the same key.
    AeadKey(u32),
    /// The root secret of this version (0 for a ring without versions):
    /// the keys of the stored digests of backup codes, one-time codes and
    /// device fingerprints, and of the audit chains, are derived from it.
    RootSecret(u32),
}

impl KeyCheckSubject {
    /// Stable storage name of the kind of subject: `aead_key` or
    /// `root_secret`.
    #[must_use]
    pub const fn kind(self) -> &'static str {
        match self {
            Self::AeadKey(_) => "aead_key",
            Self::RootSecret(_) => "root_secret",
        }
    }

    /// The key id stored beside the kind: the AEAD key's id, or the root
    /// secret's version.
    #[must_use]
    pub const fn key_id(self) -> u32 {
        match self {
            Self::AeadKey(id) => id,
            Self::RootSecret(version) => version,
        }
    }

    /// The subject stored as `kind` and `key_id`; `None` for a kind this
    /// version does not know.
    #[must_use]
    pub fn from_parts(kind: &str, key_id: u32) -> Option<Self> {
        match (kind, key_id) {
            ("aead_key", id) => Some(Self::AeadKey(id)),
            ("root_secret", version) => Some(Self::RootSecret(version)),
            _ => None,
        }
    }
}

impl fmt::Display for KeyCheckSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AeadKey(id) => write!(f, "AEAD key {id}"),
            Self::RootSecret(0) => f.write_str("the root secret"),
            Self::RootSecret(version) => write!(f, "root secret version {version}"),
        }
    }
}

/// A check value, written once per subject when the subject is first used
/// with a store, and compared with the key ring at every start
/// (`MfaBuilder::open`).
///
/// The value reveals no key: for an AEAD key it is a fixed text sealed
/// under that key, for the root secret a keyed digest of a fixed input
/// (both made by [`KeyRing`](crate::crypto::KeyRing)). `Debug` shows its
/// length only.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyCheck {
    /// What the value vouches for.
    pub subject: KeyCheckSubject,
    /// The check value.
    pub value: Vec<u8>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for KeyCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCheck")
            .field("subject", &self.subject)
            .field("value", &format_args!("{} bytes", self.value.len()))
            .field("created_at", &self.created_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_round_trip_through_their_stored_parts() {
        for subject in [
            KeyCheckSubject::AeadKey(0),
            KeyCheckSubject::AeadKey(7),
            KeyCheckSubject::AeadKey(u32::MAX),
            KeyCheckSubject::RootSecret(0),
            KeyCheckSubject::RootSecret(3),
        ] {
            assert_eq!(
                KeyCheckSubject::from_parts(subject.kind(), subject.key_id()),
                Some(subject)
            );
        }
    }

    #[test]
    fn unknown_stored_parts_are_no_subject() {
        assert_eq!(KeyCheckSubject::from_parts("jwt_key", 1), None);
    }
}

//! Stored forms of secrets: digests and sealed blobs.
//!
//! The engine never stores a code, token or TOTP seed as such. What reaches a
//! store is one of these types: a keyed digest of a code, a SHA-256 digest of a
//! token, or an AES-GCM sealed blob. They are produced by [`crate::crypto`].

use serde::{Deserialize, Serialize};
use std::fmt;
use subtle::ConstantTimeEq;

/// Error for a stored digest that does not have 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a digest must be 32 bytes, got {0}")]
pub struct DigestLengthError(pub usize);

macro_rules! digest_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Equality is constant time. `Debug` shows only the first four bytes.
        #[derive(Clone, Copy, Serialize, Deserialize)]
        pub struct $name([u8; 32]);

        impl $name {
            /// Wraps 32 digest bytes.
            #[must_use]
            pub const fn from_array(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// Wraps digest bytes read back from a store.
            ///
            /// # Errors
            /// [`DigestLengthError`] unless `bytes` has exactly 32 bytes.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, DigestLengthError> {
                <[u8; 32]>::try_from(bytes)
                    .map(Self)
                    .map_err(|_| DigestLengthError(bytes.len()))
            }

            /// The 32 digest bytes.
            #[must_use]
            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.0.ct_eq(&other.0).into()
            }
        }

        impl Eq for $name {}

        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.0.hash(state);
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    concat!(stringify!($name), "({:02x}{:02x}{:02x}{:02x}…)"),
                    self.0[0], self.0[1], self.0[2], self.0[3]
                )
            }
        }
    };
}

digest_type!(
    /// Keyed digest (HMAC-SHA256 with a pepper) of a one-time or backup code.
    CodeHash
);
digest_type!(
    /// SHA-256 digest of an opaque token (refresh, device trust, login ticket).
    TokenHash
);
digest_type!(
    /// Keyed digest of a device fingerprint, scoped to one user.
    FingerprintHash
);
digest_type!(
    /// Keyed digest (HMAC-SHA256) linking an audit event to its chain (see
    /// [`crate::audit`]).
    AuditMac
);

/// A secret sealed with AES-256-GCM: key id, nonce and ciphertext in one blob.
///
/// Opaque to stores: they keep the bytes as they are. `Debug` prints only the
/// length.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SealedSecret(Vec<u8>);

impl SealedSecret {
    /// Wraps a blob read back from a store.
    #[must_use]
    pub const fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The blob bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Consumes the wrapper, giving the blob bytes.
    #[must_use]
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedSecret({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_reject_wrong_length() {
        assert_eq!(CodeHash::from_slice(&[0; 31]), Err(DigestLengthError(31)));
        assert!(TokenHash::from_slice(&[0; 33]).is_err());
        assert!(FingerprintHash::from_slice(&[7; 32]).is_ok());
    }

    #[test]
    fn digest_debug_shows_only_a_prefix() {
        let h = CodeHash::from_array([0xab; 32]);
        let shown = format!("{h:?}");
        assert_eq!(shown, "CodeHash(abababab…)");
    }
}

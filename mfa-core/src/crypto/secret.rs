//! Wrappers for secret values.
//!
//! [`SecretBytes`] holds raw secret bytes (a decrypted TOTP seed, key
//! material). For secret text, [`SecretString`] from the `secrecy` crate is
//! re-exported. Both redact `Debug`, have no `Display` or `Serialize`, and
//! zeroize their memory on drop; reading the value is always an explicit call
//! (`expose` / `expose_secret`) that is easy to find in review.

use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

pub use secrecy::{ExposeSecret, SecretString};

/// Secret bytes: zeroized on drop, redacted in `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of `bytes`; the buffer is wiped when this value drops.
    #[must_use]
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Copies `bytes` into a new secret buffer. The caller remains responsible
    /// for the original.
    #[must_use]
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// The secret bytes. Keep the borrow short and never log it.
    #[must_use]
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Number of bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// R45: `Debug` never prints the bytes.
    #[test]
    fn r45_secret_bytes_debug_is_redacted() {
        let s = SecretBytes::new(b"hunter2-hunter2".to_vec());
        let shown = format!("{s:?}");
        assert_eq!(shown, "SecretBytes([redacted])");
        assert!(!shown.contains("hunter2"));
        assert!(!shown.contains("104")); // no byte values either ('h' = 104)
    }

    /// R45: the re-exported `SecretString` is redacted too.
    #[test]
    fn r45_secret_string_debug_is_redacted() {
        let s = SecretString::from("correct horse battery staple");
        assert!(!format!("{s:?}").contains("horse"));
        assert_eq!(s.expose_secret(), "correct horse battery staple");
    }

    #[test]
    fn secret_bytes_expose_returns_the_bytes() {
        let s = SecretBytes::from_slice(&[1, 2, 3]);
        assert_eq!(s.expose(), &[1, 2, 3]);
        assert_eq!(s.len(), 3);
        assert!(!s.is_empty());
    }
}

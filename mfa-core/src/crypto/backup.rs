//! Single-use backup (look-up) codes.
//!
//! A code is 16 characters of Crockford base32
//! (`0123456789ABCDEFGHJKMNPQRSTVWXYZ`): 16 × 5 = 80 bits from the CSPRNG,
//! each character drawn uniformly (no modulo bias). It is shown to the user
//! once, grouped by four (`K7QD-2M9X-…`), and stored only as a keyed digest
//! ([`KeyRing::hash_backup_code`](super::KeyRing::hash_backup_code)).
//!
//! Typed input is forgiving in the Crockford way: case is ignored, ASCII
//! spaces and dashes are dropped, `I` and `L` read as `1`, `O` reads as `0`.
//! Anything else (including `U`, which Crockford excludes) is rejected.

use super::secret::SecretString;
use super::{CryptoError, Result};
use rand::RngExt;
use std::collections::HashSet;
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The Crockford base32 alphabet.
pub const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Characters in a code (without separators).
pub const CODE_LEN: usize = 16;

/// Entropy of one code in bits: 16 characters × 5 bits.
pub const ENTROPY_BITS: u32 = 80;

/// Raw input longer than this is rejected before it is looked at.
pub const MAX_INPUT_LEN: usize = 64;

/// Largest set [`BackupCode::generate_set`] produces.
pub const MAX_SET_SIZE: usize = 100;

/// A backup code: 16 normalised Crockford base32 characters. Redacted in
/// `Debug`, zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct BackupCode(String);

impl BackupCode {
    /// A fresh code from the CSPRNG.
    #[must_use]
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let code = (0..CODE_LEN)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect();
        Self(code)
    }

    /// `count` fresh codes, pairwise distinct.
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] unless 1 ≤ `count` ≤ 100.
    pub fn generate_set(count: usize) -> Result<Vec<Self>> {
        if count == 0 || count > MAX_SET_SIZE {
            return Err(CryptoError::InvalidParameter(
                "backup code count must be between 1 and 100",
            ));
        }
        let mut codes = Vec::with_capacity(count);
        let mut seen = HashSet::with_capacity(count);
        while codes.len() < count {
            let code = Self::generate();
            // A repeat among 80-bit codes is practically impossible; the check
            // makes "pairwise distinct" a guarantee rather than a likelihood.
            if seen.insert(code.0.clone()) {
                codes.push(code);
            }
        }
        for mut s in seen {
            s.zeroize();
        }
        Ok(codes)
    }

    /// Parses a code typed by a user (see the module docs for the
    /// normalisation).
    ///
    /// # Errors
    /// [`CryptoError::MalformedCode`] for input longer than 64 bytes, with a
    /// character outside the alphabet, or not exactly 16 characters once
    /// normalised.
    pub fn parse(input: &str) -> Result<Self> {
        if input.len() > MAX_INPUT_LEN {
            return Err(CryptoError::MalformedCode);
        }
        let mut out = String::with_capacity(CODE_LEN);
        for b in input.bytes() {
            let c = match b.to_ascii_uppercase() {
                b' ' | b'-' => continue,
                b'I' | b'L' => b'1',
                b'O' => b'0',
                c if ALPHABET.contains(&c) => c,
                _ => {
                    out.zeroize();
                    return Err(CryptoError::MalformedCode);
                }
            };
            if out.len() == CODE_LEN {
                out.zeroize();
                return Err(CryptoError::MalformedCode);
            }
            out.push(char::from(c));
        }
        if out.len() != CODE_LEN {
            out.zeroize();
            return Err(CryptoError::MalformedCode);
        }
        Ok(Self(out))
    }

    /// The normalised 16 characters (what gets hashed). Never log them.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The code as shown to the user: `XXXX-XXXX-XXXX-XXXX`.
    #[must_use]
    pub fn display(&self) -> SecretString {
        let mut s = String::with_capacity(CODE_LEN + 3);
        for (i, c) in self.0.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                s.push('-');
            }
            s.push(c);
        }
        SecretString::from(s)
    }
}

impl fmt::Debug for BackupCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackupCode([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::secret::ExposeSecret;

    /// R16: 16 characters of the Crockford alphabet.
    #[test]
    fn r16_generated_code_has_16_alphabet_characters() {
        for _ in 0..100 {
            let c = BackupCode::generate();
            assert_eq!(c.expose().len(), CODE_LEN);
            assert!(c.expose().bytes().all(|b| ALPHABET.contains(&b)));
        }
    }

    /// R16: the entropy claim is length × log2(32) = 80 bits (≥ 64).
    #[test]
    fn r16_entropy_is_80_bits() {
        assert_eq!(ALPHABET.len(), 32);
        let bits_per_char = ALPHABET.len().ilog2();
        assert_eq!(CODE_LEN as u32 * bits_per_char, ENTROPY_BITS);
        const { assert!(ENTROPY_BITS >= 64) };
    }

    /// R16: the alphabet has no duplicate and none of I, L, O, U.
    #[test]
    fn r16_alphabet_is_crockford() {
        let set: HashSet<u8> = ALPHABET.iter().copied().collect();
        assert_eq!(set.len(), 32);
        for c in b"ILOU" {
            assert!(!set.contains(c));
        }
    }

    /// Every alphabet character shows up in generated codes (no dead symbol).
    #[test]
    fn r16_every_character_is_reachable() {
        let mut seen = HashSet::new();
        for _ in 0..200 {
            seen.extend(BackupCode::generate().expose().bytes());
        }
        assert_eq!(seen.len(), 32);
    }

    /// The display form is grouped by four.
    #[test]
    fn display_is_grouped_by_four() {
        let c = BackupCode::parse("ABCDEFGH23456789").unwrap();
        assert_eq!(c.display().expose_secret(), "ABCD-EFGH-2345-6789");
    }

    /// The display form parses back to the same code.
    #[test]
    fn display_form_parses_back() {
        let c = BackupCode::generate();
        let again = BackupCode::parse(c.display().expose_secret()).unwrap();
        assert_eq!(again.expose(), c.expose());
    }

    /// Lowercase, spaces and dashes are normalised; i/l → 1, o → 0.
    #[test]
    fn parse_normalises_case_separators_and_lookalikes() {
        let c = BackupCode::parse("abcd efgh-ijkl mnop").unwrap();
        assert_eq!(c.expose(), "ABCDEFGH1JK1MN0P");
        let c = BackupCode::parse(" 0o1i-lL23 4567 89ab ").unwrap();
        assert_eq!(c.expose(), "00111123456789AB");
    }

    /// `U` and characters outside the alphabet are rejected.
    #[test]
    fn parse_rejects_wrong_alphabet() {
        for bad in [
            "ABCDEFGH1JK1MNUP",
            "ABCDEFGH1JK1MN*P",
            "ABCDEFGH1JK1MN_P",
            "ABCDEFGH1JK1MN\tP",
            "ABCDEFGH1JK1MNéP",
            "ＡBCDEFGH1JK1MNOP",
        ] {
            assert_eq!(
                BackupCode::parse(bad).map(|_| ()),
                Err(CryptoError::MalformedCode),
                "{bad:?}"
            );
        }
    }

    /// Empty, short and long inputs are rejected.
    #[test]
    fn parse_rejects_wrong_length() {
        for bad in ["", "   ", "----", "ABCDEFGH1JK1MNP", "ABCDEFGH1JK1MNPQR"] {
            assert_eq!(
                BackupCode::parse(bad).map(|_| ()),
                Err(CryptoError::MalformedCode),
                "{bad:?}"
            );
        }
    }

    /// Input over 64 bytes is rejected before normalisation, even if it would
    /// normalise to a valid code.
    #[test]
    fn parse_rejects_oversized_input() {
        let padded = format!("{}ABCDEFGH1JK1MNPQ", " ".repeat(60));
        assert!(BackupCode::parse(&padded).is_err());
        assert!(BackupCode::parse(&"A".repeat(1 << 20)).is_err());
    }

    /// A set of 10 is pairwise distinct; bad counts are refused.
    #[test]
    fn generate_set_is_pairwise_distinct() {
        let set = BackupCode::generate_set(10).unwrap();
        assert_eq!(set.len(), 10);
        let distinct: HashSet<&str> = set.iter().map(BackupCode::expose).collect();
        assert_eq!(distinct.len(), 10);
        assert!(BackupCode::generate_set(0).is_err());
        assert!(BackupCode::generate_set(MAX_SET_SIZE + 1).is_err());
    }

    /// R45: `Debug` is redacted; the display form is a secret string.
    #[test]
    fn r45_backup_code_debug_is_redacted() {
        let c = BackupCode::parse("ABCDEFGH23456789").unwrap();
        assert!(!format!("{c:?}").contains("ABCD"));
        assert!(!format!("{:?}", c.display()).contains("ABCD"));
    }
}

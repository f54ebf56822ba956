//! Numeric one-time codes for out-of-band delivery (email, SMS).
//!
//! A code is generated digit by digit from the thread-local CSPRNG with an
//! unbiased range sampler, so every digit is uniform on `0..=9` and leading
//! zeros are kept. The stored form is a keyed digest bound to the challenge:
//! see [`KeyRing::hash_otp`](super::KeyRing::hash_otp).
//!
//! The input grammar shared with TOTP codes lives here, once: exactly
//! `digits` ASCII characters `0`–`9`, nothing else (no spaces, signs,
//! full-width or other Unicode digits). The length is checked before any
//! character is looked at, so a megabyte of input costs nothing.

use super::{CryptoError, Result};
use rand::RngExt;
use std::fmt;
use std::ops::RangeInclusive;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Digit counts accepted for out-of-band codes.
pub const OTP_DIGITS: RangeInclusive<u8> = 6..=10;

/// Checks `input` against the numeric code grammar and returns an owned copy.
///
/// `allowed` is the digit range of the caller's code type; `digits` outside it
/// is a configuration error, not a user error.
pub(crate) fn parse_numeric_code(
    input: &str,
    digits: u8,
    allowed: RangeInclusive<u8>,
) -> Result<Zeroizing<String>> {
    if !allowed.contains(&digits) {
        return Err(CryptoError::InvalidParameter("code digits out of range"));
    }
    // Length first (in bytes): anything longer or shorter is rejected before a
    // single character is inspected.
    if input.len() != usize::from(digits) {
        return Err(CryptoError::MalformedCode);
    }
    // Bytes, not chars: a multi-byte UTF-8 digit has a non-ASCII byte and fails here.
    if !input.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CryptoError::MalformedCode);
    }
    Ok(Zeroizing::new(input.to_owned()))
}

/// A numeric one-time code (email / SMS). Secret: redacted in `Debug`,
/// zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct OtpCode(String);

impl OtpCode {
    /// Generates a fresh code of `digits` digits (6 to 10) from the CSPRNG.
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] when `digits` is outside 6..=10.
    pub fn generate(digits: u8) -> Result<Self> {
        if !OTP_DIGITS.contains(&digits) {
            return Err(CryptoError::InvalidParameter("code digits out of range"));
        }
        let mut rng = rand::rng();
        let code = (0..digits)
            .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
            .collect();
        Ok(Self(code))
    }

    /// Parses a code typed by a user, expecting exactly `digits` ASCII digits.
    ///
    /// # Errors
    /// [`CryptoError::MalformedCode`] for any input outside the grammar;
    /// [`CryptoError::InvalidParameter`] when `digits` is outside 6..=10.
    pub fn parse(input: &str, digits: u8) -> Result<Self> {
        let mut parsed = parse_numeric_code(input, digits, OTP_DIGITS)?;
        Ok(Self(std::mem::take(&mut *parsed)))
    }

    /// The code's digits, e.g. to put into a message. Never log it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Number of digits.
    #[must_use]
    pub fn digits(&self) -> u8 {
        // At most 10 by construction.
        u8::try_from(self.0.len()).unwrap_or(u8::MAX)
    }
}

impl fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpCode([redacted])")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The R49 list of inputs that must never parse as a 6-digit code.
    pub(crate) const R49_BAD_INPUTS: &[&str] = &[
        "",
        "12345",
        "1234567",
        " 123456",
        "123456 ",
        "123 456",
        "+123456",
        "-12345",
        "１２３４５６",
        "١٢٣٤٥٦",
        "12345\0",
        "12345a",
        "0x1234",
    ];

    /// R8: every length in 6..=10 is produced exactly, all ASCII digits.
    #[test]
    fn r8_generate_supports_6_to_10_digits() {
        for d in 6..=10u8 {
            let c = OtpCode::generate(d).unwrap();
            assert_eq!(c.expose().len(), usize::from(d));
            assert_eq!(c.digits(), d);
            assert!(c.expose().bytes().all(|b| b.is_ascii_digit()));
        }
    }

    /// R8: lengths outside 6..=10 are a typed error.
    #[test]
    fn r8_generate_rejects_5_and_11_digits() {
        assert!(matches!(
            OtpCode::generate(5),
            Err(CryptoError::InvalidParameter(_))
        ));
        assert!(matches!(
            OtpCode::generate(11),
            Err(CryptoError::InvalidParameter(_))
        ));
    }

    /// R8: each digit position is uniform on 0..=9 (chi-square, 9 degrees of
    /// freedom, 300 000 samples). The critical value 60 has a tail
    /// probability of about 1.3e-9, so a correct generator practically never
    /// fails; a digit taken as `byte % 10` (bias 26/256 against 25/256)
    /// scores about 110 at this sample size and fails every time.
    #[test]
    fn r8_digits_are_uniform_per_position_chi_square() {
        const N: usize = 300_000;
        const DIGITS: usize = 6;
        let mut counts = [[0u32; 10]; DIGITS];
        for _ in 0..N {
            let c = OtpCode::generate(6).unwrap();
            for (pos, b) in c.expose().bytes().enumerate() {
                counts[pos][usize::from(b - b'0')] += 1;
            }
        }
        let expected = N as f64 / 10.0;
        for (pos, row) in counts.iter().enumerate() {
            let chi2: f64 = row
                .iter()
                .map(|&o| {
                    let d = f64::from(o) - expected;
                    d * d / expected
                })
                .sum();
            assert!(chi2 < 60.0, "position {pos}: chi-square {chi2:.2}");
        }
    }

    /// R8: codes with leading zeros are generated (a sign that digits are not
    /// produced from a number formatted without padding).
    #[test]
    fn r8_leading_zeros_are_generated_and_kept() {
        let found = (0..2_000).any(|_| OtpCode::generate(6).unwrap().expose().starts_with('0'));
        assert!(found);
    }

    /// R49: the strict grammar rejects every listed input.
    #[test]
    fn r49_parse_rejects_malformed_inputs() {
        for bad in R49_BAD_INPUTS {
            assert_eq!(
                OtpCode::parse(bad, 6).map(|_| ()),
                Err(CryptoError::MalformedCode),
                "{bad:?}"
            );
        }
    }

    /// R49: a 1 MB input is rejected by the length check.
    #[test]
    fn r49_parse_rejects_oversized_input() {
        let big = "1".repeat(1 << 20);
        assert_eq!(
            OtpCode::parse(&big, 6).map(|_| ()),
            Err(CryptoError::MalformedCode)
        );
    }

    /// R49: leading zeros survive parsing.
    #[test]
    fn r49_parse_keeps_leading_zero() {
        assert_eq!(OtpCode::parse("081804", 6).unwrap().expose(), "081804");
        assert_eq!(
            OtpCode::parse("0000000001", 10).unwrap().expose(),
            "0000000001"
        );
    }

    #[test]
    fn parse_rejects_digit_count_outside_range() {
        assert!(matches!(
            OtpCode::parse("12345", 5),
            Err(CryptoError::InvalidParameter(_))
        ));
    }

    /// R45: `Debug` is redacted.
    #[test]
    fn r45_otp_code_debug_is_redacted() {
        let c = OtpCode::parse("493817", 6).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("493817"));
        assert_eq!(shown, "OtpCode([redacted])");
    }
}

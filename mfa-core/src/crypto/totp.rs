//! Time-based one-time passwords (RFC 6238) for authenticator apps.
//!
//! Code generation is delegated to `totp-rs`; this module adds what the engine
//! needs around it:
//!
//! * validated parameters ([`TotpParams`]: SHA-1/256/512, 6–8 digits,
//!   1–120 s period) and a hard cap on the drift window ([`MAX_SKEW`]);
//! * secrets of the HMAC output length from the CSPRNG, strict base32 import;
//! * a window check that evaluates **every** candidate step in constant time
//!   and returns the matched step, so the caller can enforce single use by
//!   recording it (`advance_totp_step`);
//! * 64-bit time: a negative time is an error, never a panic;
//! * the `otpauth://` enrolment URI and its QR code as SVG.
//!
//! Time always comes from the caller (the engine's clock); there is no
//! "current time" entry point here.

use super::otp::parse_numeric_code;
use super::secret::{ExposeSecret, SecretBytes, SecretString};
use super::{CryptoError, Result};
use data_encoding::{BASE32, BASE32_NOPAD};
use rand::Rng;
use std::fmt;
use std::fmt::Write as _;
use std::ops::RangeInclusive;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Largest drift window accepted by [`Totp::verify_at`], in steps each way
/// (RFC 6238 §6's example: two steps back, about 89 seconds).
pub const MAX_SKEW: u8 = 2;

/// Drift window the engine uses unless configured otherwise: one step each way
/// (RFC 6238 §5.2).
pub const DEFAULT_SKEW: u8 = 1;

/// Shortest TOTP secret accepted on import: 128 bits (RFC 4226 §4 R6).
pub const MIN_SECRET_LEN: usize = 16;

/// Digit counts allowed for TOTP (RFC 4226 §5.3).
pub const TOTP_DIGITS: RangeInclusive<u8> = 6..=8;

/// Longest base32 text accepted by [`TotpSecret::from_base32`] before any
/// decoding (a 64-byte seed is 104 characters with padding).
const MAX_BASE32_INPUT: usize = 256;

/// Longest issuer or account name accepted, in bytes.
const MAX_LABEL_LEN: usize = 128;

/// Longest `otpauth://` URI [`Totp::from_otpauth_uri`] reads.
const MAX_OTPAUTH_URI_LEN: usize = 2048;

pub use crate::model::{TotpAlgorithm, TotpParams};

/// Name as written in `otpauth://` URIs.
const fn uri_name(algorithm: TotpAlgorithm) -> &'static str {
    match algorithm {
        TotpAlgorithm::Sha1 => "SHA1",
        TotpAlgorithm::Sha256 => "SHA256",
        TotpAlgorithm::Sha512 => "SHA512",
    }
}

const fn to_totp_rs(algorithm: TotpAlgorithm) -> totp_rs::Algorithm {
    match algorithm {
        TotpAlgorithm::Sha1 => totp_rs::Algorithm::SHA1,
        TotpAlgorithm::Sha256 => totp_rs::Algorithm::SHA256,
        TotpAlgorithm::Sha512 => totp_rs::Algorithm::SHA512,
    }
}

/// A TOTP shared secret (seed). Redacted in `Debug`, zeroized on drop.
#[derive(Clone)]
pub struct TotpSecret(SecretBytes);

impl TotpSecret {
    /// A fresh secret from the CSPRNG, as long as the HMAC output of
    /// `algorithm` (20, 32 or 64 bytes).
    #[must_use]
    pub fn generate(algorithm: TotpAlgorithm) -> Self {
        let mut bytes = vec![0u8; algorithm.output_len()];
        rand::rng().fill_bytes(&mut bytes);
        Self(SecretBytes::new(bytes))
    }

    /// Wraps existing secret bytes (for example a decrypted stored seed).
    ///
    /// # Errors
    /// [`CryptoError::KeyTooShort`] below 16 bytes (128 bits).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        let secret = SecretBytes::new(bytes);
        if secret.len() < MIN_SECRET_LEN {
            return Err(CryptoError::KeyTooShort {
                what: "TOTP secret",
                min: MIN_SECRET_LEN,
                actual: secret.len(),
            });
        }
        Ok(Self(secret))
    }

    /// Imports a base32 secret (RFC 4648 alphabet `A–Z 2–7`).
    ///
    /// The one normalisation applied: ASCII space characters are removed and
    /// ASCII lowercase letters are uppercased (apps often display the secret
    /// in groups of four, in lowercase). Padding with `=` is optional but, if
    /// present, must be exactly right. Any other character (tabs, newlines,
    /// `0`, `1`, `8`, `9`, non-ASCII), a length that is not a valid base32
    /// length, or non-zero trailing bits are rejected.
    ///
    /// # Errors
    /// [`CryptoError::MalformedSecret`] for bad text, [`CryptoError::KeyTooShort`]
    /// when the decoded secret is under 16 bytes.
    pub fn from_base32(input: &str) -> Result<Self> {
        if input.len() > MAX_BASE32_INPUT {
            return Err(CryptoError::MalformedSecret("base32 secret too long"));
        }
        let mut normalised = Zeroizing::new(String::with_capacity(input.len()));
        for b in input.bytes() {
            match b {
                b' ' => {}
                b'a'..=b'z' => normalised.push(char::from(b.to_ascii_uppercase())),
                b'A'..=b'Z' | b'2'..=b'7' | b'=' => normalised.push(char::from(b)),
                _ => {
                    return Err(CryptoError::MalformedSecret(
                        "base32 secret contains a character outside the RFC 4648 alphabet",
                    ));
                }
            }
        }
        let encoding = if normalised.contains('=') {
            &BASE32
        } else {
            &BASE32_NOPAD
        };
        let decoded = encoding.decode(normalised.as_bytes()).map_err(|_| {
            CryptoError::MalformedSecret("base32 secret has a bad length, padding or trailing bits")
        })?;
        Self::from_bytes(decoded)
    }

    /// The secret as unpadded base32, as shown to users and put in
    /// `otpauth://` URIs.
    #[must_use]
    pub fn to_base32(&self) -> SecretString {
        SecretString::from(BASE32_NOPAD.encode(self.0.expose()))
    }

    /// The raw secret bytes (to seal them for storage). Never log them.
    #[must_use]
    pub fn expose(&self) -> &[u8] {
        self.0.expose()
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

/// A TOTP code, either typed by a user ([`TotpCode::parse`]) or generated
/// ([`Totp::generate_at`]). Redacted in `Debug`, zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct TotpCode(String);

impl TotpCode {
    /// Parses user input: exactly `digits` ASCII digits, nothing else (R49).
    ///
    /// # Errors
    /// [`CryptoError::MalformedCode`] for input outside the grammar;
    /// [`CryptoError::InvalidParameter`] when `digits` is not 6, 7 or 8.
    pub fn parse(input: &str, digits: u8) -> Result<Self> {
        let mut parsed = parse_numeric_code(input, digits, TOTP_DIGITS)?;
        Ok(Self(std::mem::take(&mut *parsed)))
    }

    /// The digits. Never log them.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TotpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpCode([redacted])")
    }
}

/// One enrolled TOTP factor: secret, parameters and the labels shown in the
/// authenticator app. The secret is zeroized on drop; `Debug` omits it.
pub struct Totp {
    inner: totp_rs::Totp,
    params: TotpParams,
    issuer: String,
    account_name: String,
}

fn check_label(label: &str, what: &'static str) -> Result<()> {
    if label.is_empty() || label.len() > MAX_LABEL_LEN {
        return Err(CryptoError::InvalidParameter(what));
    }
    // ':' separates issuer and account in the URI label; control characters
    // have no business in a label shown to users.
    if label.chars().any(|c| c == ':' || c.is_control()) {
        return Err(CryptoError::InvalidParameter(what));
    }
    Ok(())
}

fn build_inner(
    secret: &[u8],
    algorithm: TotpAlgorithm,
    digits: u8,
    period: u32,
    labels: Option<(&str, &str)>,
) -> Result<totp_rs::Totp> {
    let mut builder = totp_rs::Builder::new()
        .with_algorithm(to_totp_rs(algorithm))
        .with_digits(digits)
        .with_secret(secret)
        // The window is evaluated here, in constant time; totp-rs's own
        // `check` stops at the first match.
        .with_skew(0)
        .with_step_duration(u64::from(period));
    if let Some((issuer, account)) = labels {
        builder = builder.with_issuer(Some(issuer)).with_account_name(account);
    }
    builder
        .build()
        .map_err(|_| CryptoError::InvalidParameter("TOTP parameters rejected"))
}

impl Totp {
    /// Builds a factor. `issuer` (your service) and `account_name` (the
    /// user's login) are shown in the authenticator app; both must be
    /// non-empty, at most 128 bytes, without `:` or control characters.
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] for invalid parameters or labels.
    pub fn new(
        secret: TotpSecret,
        params: TotpParams,
        issuer: &str,
        account_name: &str,
    ) -> Result<Self> {
        params.validate().map_err(CryptoError::InvalidParameter)?;
        check_label(issuer, "TOTP issuer must be 1-128 bytes without ':'")?;
        check_label(
            account_name,
            "TOTP account name must be 1-128 bytes without ':'",
        )?;
        let inner = build_inner(
            secret.expose(),
            params.algorithm,
            params.digits,
            params.period,
            Some((issuer, account_name)),
        )?;
        Ok(Self {
            inner,
            params,
            issuer: issuer.to_owned(),
            account_name: account_name.to_owned(),
        })
    }

    /// The factor's parameters.
    #[must_use]
    pub fn params(&self) -> TotpParams {
        self.params
    }

    /// The issuer label.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The account label.
    #[must_use]
    pub fn account_name(&self) -> &str {
        &self.account_name
    }

    /// The time step `T = floor(t / period)` for Unix time `unix_secs`
    /// (T0 = 0). 64-bit throughout: times past 2038 work.
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] when `unix_secs` is negative.
    pub fn step_at(&self, unix_secs: i64) -> Result<u64> {
        let t = u64::try_from(unix_secs)
            .map_err(|_| CryptoError::InvalidParameter("time before the Unix epoch"))?;
        Ok(t / u64::from(self.params.period))
    }

    /// The code for Unix time `unix_secs`, zero-padded to the configured
    /// number of digits.
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] when `unix_secs` is negative.
    pub fn generate_at(&self, unix_secs: i64) -> Result<TotpCode> {
        let step = self.step_at(unix_secs)?;
        self.code_for_step(step)
            .ok_or(CryptoError::InvalidParameter("time out of range"))
    }

    fn code_for_step(&self, step: u64) -> Option<TotpCode> {
        let time = step.checked_mul(u64::from(self.params.period))?;
        Some(TotpCode(self.inner.generate(time).to_string()))
    }

    /// Checks `code` against the steps `T - skew ..= T + skew` around Unix
    /// time `unix_secs` and returns the matched step, or `None`.
    ///
    /// Every candidate step is computed and compared in constant time; the
    /// loop never exits early, so timing does not reveal which step (if any)
    /// matched. If two steps in the window happen to share a code, the latest
    /// one is returned, which is the conservative choice for replay tracking.
    ///
    /// The caller MUST reject the code unless the returned step is greater
    /// than the last step accepted for this factor, and record it atomically
    /// (RFC 6238 §5.2: a code is accepted once).
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] when `skew` exceeds [`MAX_SKEW`] or
    /// `unix_secs` is negative.
    pub fn verify_at(&self, code: &TotpCode, unix_secs: i64, skew: u8) -> Result<Option<u64>> {
        if skew > MAX_SKEW {
            return Err(CryptoError::InvalidParameter("TOTP skew above the maximum"));
        }
        let current = self.step_at(unix_secs)?;
        let presented = code.expose().as_bytes();
        let mut matched = Choice::from(0);
        let mut matched_step = 0u64;
        for offset in -i64::from(skew)..=i64::from(skew) {
            // Steps before the epoch or past u64 do not exist; skipping them
            // depends only on public values (time and skew).
            let Some(candidate) = current.checked_add_signed(offset) else {
                continue;
            };
            let Some(expected) = self.code_for_step(candidate) else {
                continue;
            };
            // Lengths are public (the configured digit count); the bytes are
            // compared in constant time.
            let equal = expected.expose().as_bytes().ct_eq(presented);
            matched_step.conditional_assign(&candidate, equal);
            matched |= equal;
        }
        Ok(bool::from(matched).then_some(matched_step))
    }

    /// Imports a factor from an `otpauth://totp/…` URI (as exported by
    /// another system or shown in its QR code), e.g. when moving users'
    /// authenticator apps over without re-enrolment.
    ///
    /// Strict (R50): the scheme must be `otpauth` and the type `totp`; the
    /// algorithm one of SHA1, SHA256, SHA512; digits 6, 7 or 8; the period 1
    /// to 120 seconds; the secret valid base32 of at least 16 bytes; an
    /// issuer (in the label or as a parameter; both must agree) and an
    /// account name that [`Totp::new`] accepts. Missing parameters take the
    /// RFC 6238 defaults (SHA1, 6 digits, 30 s). The URI holds the secret:
    /// keep it out of logs.
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] naming what is wrong,
    /// [`CryptoError::KeyTooShort`] for a secret under 16 bytes.
    pub fn from_otpauth_uri(uri: &str) -> Result<Self> {
        if uri.len() > MAX_OTPAUTH_URI_LEN {
            return Err(CryptoError::InvalidParameter("otpauth URI too long"));
        }
        // Parsed without totp-rs's own compliance rules so that every
        // bound below is ours and reported precisely.
        let parsed = totp_rs::Totp::from_url_unchecked(uri).map_err(|e| {
            CryptoError::InvalidParameter(match e {
                totp_rs::TotpError::InvalidAlgorithm { .. } => {
                    "otpauth algorithm must be SHA1, SHA256 or SHA512"
                }
                totp_rs::TotpError::DigitsParse { .. } => "otpauth digits must be 6, 7 or 8",
                totp_rs::TotpError::StepParse { .. } => {
                    "otpauth period must be between 1 and 120 seconds"
                }
                totp_rs::TotpError::InvalidSecret | totp_rs::TotpError::SecretNotSet => {
                    "otpauth secret missing or not base32"
                }
                totp_rs::TotpError::IssuerMismatch { .. } => {
                    "otpauth issuer in the label and the parameter differ"
                }
                totp_rs::TotpError::InvalidScheme { .. }
                | totp_rs::TotpError::InvalidHost { .. } => "not an otpauth://totp/ URI",
                _ => "malformed otpauth URI",
            })
        })?;
        let algorithm = match parsed.algorithm() {
            totp_rs::Algorithm::SHA1 => TotpAlgorithm::Sha1,
            totp_rs::Algorithm::SHA256 => TotpAlgorithm::Sha256,
            totp_rs::Algorithm::SHA512 => TotpAlgorithm::Sha512,
            _ => {
                return Err(CryptoError::InvalidParameter(
                    "otpauth algorithm must be SHA1, SHA256 or SHA512",
                ));
            }
        };
        let period = u32::try_from(parsed.step()).map_err(|_| {
            CryptoError::InvalidParameter("otpauth period must be between 1 and 120 seconds")
        })?;
        let params = TotpParams {
            algorithm,
            digits: parsed.digits(),
            period,
        };
        params.validate().map_err(CryptoError::InvalidParameter)?;
        let secret = TotpSecret::from_bytes(parsed.secret().as_bytes().to_vec())?;
        let issuer = parsed.issuer().ok_or(CryptoError::InvalidParameter(
            "otpauth URI without an issuer",
        ))?;
        Self::new(secret, params, issuer, parsed.account_name())
    }

    /// The `otpauth://totp/…` enrolment URI with every parameter explicit.
    /// It contains the secret, hence the secret wrapper.
    #[must_use]
    pub fn otpauth_uri(&self) -> SecretString {
        let secret = Zeroizing::new(BASE32_NOPAD.encode(self.inner.secret().as_bytes()));
        let issuer = percent_encode(&self.issuer);
        let mut uri = String::with_capacity(128 + secret.len());
        // Writing into a String cannot fail.
        let _ = write!(
            uri,
            "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm={alg}&digits={digits}&period={period}",
            account = percent_encode(&self.account_name),
            secret = secret.as_str(),
            alg = uri_name(self.params.algorithm),
            digits = self.params.digits,
            period = self.params.period,
        );
        SecretString::from(uri)
    }

    /// The enrolment URI as a QR code, rendered as an SVG document. It
    /// encodes the secret, hence the secret wrapper.
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] if the URI does not fit in a QR code
    /// (not possible with the label limits enforced by [`Totp::new`]).
    pub fn qr_svg(&self) -> Result<SecretString> {
        let uri = self.otpauth_uri();
        let code = qrcode::QrCode::new(uri.expose_secret().as_bytes())
            .map_err(|_| CryptoError::InvalidParameter("URI too long for a QR code"))?;
        let svg = code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .build();
        Ok(SecretString::from(svg))
    }
}

impl fmt::Debug for Totp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Totp")
            .field("params", &self.params)
            .field("issuer", &self.issuer)
            .field("account_name", &self.account_name)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// HOTP (RFC 4226): the code for `counter`, computed by `totp-rs` with a
/// one-second step so that the step equals the counter.
///
/// # Errors
/// [`CryptoError::InvalidParameter`] when `digits` is not 6, 7 or 8.
pub fn hotp(
    secret: &TotpSecret,
    algorithm: TotpAlgorithm,
    counter: u64,
    digits: u8,
) -> Result<TotpCode> {
    if !TOTP_DIGITS.contains(&digits) {
        return Err(CryptoError::InvalidParameter(
            "HOTP digits must be 6, 7 or 8",
        ));
    }
    let inner = build_inner(secret.expose(), algorithm, digits, 1, None)?;
    Ok(TotpCode(inner.generate(counter).to_string()))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for b in input.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::otp::tests::R49_BAD_INPUTS;
    use hmac::{Hmac, KeyInit, Mac};
    use std::collections::HashSet;

    const SEED_SHA1: &[u8] = b"12345678901234567890";
    const SEED_SHA256: &[u8] = b"12345678901234567890123456789012";
    const SEED_SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    /// RFC 6238 Appendix B: (time, expected T, SHA1, SHA256, SHA512).
    const RFC6238: &[(i64, u64, &str, &str, &str)] = &[
        (59, 0x1, "94287082", "46119246", "90693936"),
        (
            1_111_111_109,
            0x0235_23EC,
            "07081804",
            "68084774",
            "25091201",
        ),
        (
            1_111_111_111,
            0x0235_23ED,
            "14050471",
            "67062674",
            "99943326",
        ),
        (
            1_234_567_890,
            0x0273_EF07,
            "89005924",
            "91819424",
            "93441116",
        ),
        (
            2_000_000_000,
            0x03F9_40AA,
            "69279037",
            "90698825",
            "38618901",
        ),
        (
            20_000_000_000,
            0x27BC_86AA,
            "65353130",
            "77737706",
            "47863826",
        ),
    ];

    fn rfc_totp(alg: TotpAlgorithm, digits: u8) -> Totp {
        let seed = match alg {
            TotpAlgorithm::Sha1 => SEED_SHA1,
            TotpAlgorithm::Sha256 => SEED_SHA256,
            TotpAlgorithm::Sha512 => SEED_SHA512,
        };
        let params = TotpParams {
            algorithm: alg,
            digits,
            period: 30,
        };
        Totp::new(
            TotpSecret::from_bytes(seed.to_vec()).unwrap(),
            params,
            "Example",
            "alice@example.com",
        )
        .unwrap()
    }

    fn default_totp() -> Totp {
        rfc_totp(TotpAlgorithm::Sha1, 6)
    }

    fn modes() -> [(TotpAlgorithm, usize); 3] {
        [
            (TotpAlgorithm::Sha1, 0),
            (TotpAlgorithm::Sha256, 1),
            (TotpAlgorithm::Sha512, 2),
        ]
    }

    fn expected(
        row: &(i64, u64, &'static str, &'static str, &'static str),
        i: usize,
    ) -> &'static str {
        [row.2, row.3, row.4][i]
    }

    /// R1: all 18 rows of RFC 6238 Appendix B, 8 digits, zero-padded.
    #[test]
    fn r1_rfc6238_appendix_b_vectors_generate() {
        for (alg, i) in modes() {
            let totp = rfc_totp(alg, 8);
            for row in RFC6238 {
                let code = totp.generate_at(row.0).unwrap();
                assert_eq!(code.expose(), expected(row, i), "{alg:?} t={}", row.0);
            }
        }
    }

    /// R1: each RFC 6238 code verifies at its own time, at step T.
    #[test]
    fn r1_rfc6238_appendix_b_vectors_verify() {
        for (alg, i) in modes() {
            let totp = rfc_totp(alg, 8);
            for row in RFC6238 {
                let code = TotpCode::parse(expected(row, i), 8).unwrap();
                assert_eq!(totp.verify_at(&code, row.0, 0).unwrap(), Some(row.1));
                assert_eq!(totp.verify_at(&code, row.0, 1).unwrap(), Some(row.1));
            }
        }
    }

    /// R1: the 6-digit values (the 8-digit code mod 10^6), e.g. "081804".
    #[test]
    fn r1_rfc6238_six_digit_values_match() {
        for (alg, i) in modes() {
            let totp = rfc_totp(alg, 6);
            for row in RFC6238 {
                let want = &expected(row, i)[2..];
                assert_eq!(totp.generate_at(row.0).unwrap().expose(), want);
                let code = TotpCode::parse(want, 6).unwrap();
                assert_eq!(totp.verify_at(&code, row.0, 1).unwrap(), Some(row.1));
            }
        }
    }

    /// R2: RFC 4226 Appendix D, counters 0..=9, 6 digits.
    #[test]
    fn r2_rfc4226_hotp_values_match() {
        const HOTP: [&str; 10] = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        let secret = TotpSecret::from_bytes(SEED_SHA1.to_vec()).unwrap();
        for (counter, want) in (0u64..).zip(HOTP) {
            let code = hotp(&secret, TotpAlgorithm::Sha1, counter, 6).unwrap();
            assert_eq!(code.expose(), want, "counter {counter}");
        }
    }

    /// R2: the intermediate HMAC-SHA-1 values of RFC 4226 Appendix D Table 1.
    #[test]
    fn r2_rfc4226_intermediate_hmac_values_match() {
        const TABLE1: [&str; 10] = [
            "cc93cf18508d94934c64b65d8ba7667fb7cde4b0",
            "75a48a19d4cbe100644e8ac1397eea747a2d33ab",
            "0bacb7fa082fef30782211938bc1c5e70416ff44",
            "66c28227d03a2d5529262ff016a1e6ef76557ece",
            "a904c900a64b35909874b33e61c5938a8e15ed1c",
            "a37e783d7b7233c083d4f62926c7a25f238d0316",
            "bc9cd28561042c83f219324d3c607256c03272ae",
            "a4fb960c0bc06e1eabb804e5b397cdc4b45596fa",
            "1b3c89f65e6c9e883012052823443f048b4332db",
            "1637409809a679dc698207310c8c7fc07290d9e5",
        ];
        for (counter, want) in (0u64..).zip(TABLE1) {
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(SEED_SHA1).unwrap();
            mac.update(&counter.to_be_bytes());
            let out = mac.finalize().into_bytes();
            assert_eq!(
                data_encoding::HEXLOWER.encode(&out),
                want,
                "counter {counter}"
            );
        }
    }

    /// R2: a SHA-256 seed mixed up with the SHA-1 seed would give 32247374 at
    /// t=59; the per-mode seeds give the RFC value.
    #[test]
    fn r2_per_mode_seed_is_used_not_the_sha1_seed() {
        let wrong = Totp::new(
            TotpSecret::from_bytes(SEED_SHA1.to_vec()).unwrap(),
            TotpParams {
                algorithm: TotpAlgorithm::Sha256,
                digits: 8,
                period: 30,
            },
            "Example",
            "alice",
        )
        .unwrap();
        assert_eq!(wrong.generate_at(59).unwrap().expose(), "32247374");
        let right = rfc_totp(TotpAlgorithm::Sha256, 8);
        assert_eq!(right.generate_at(59).unwrap().expose(), "46119246");
    }

    /// R3: T = floor(t / 30): t=59 ⇒ 1, t=60 ⇒ 2.
    #[test]
    fn r3_step_boundaries() {
        let totp = default_totp();
        assert_eq!(totp.step_at(0).unwrap(), 0);
        assert_eq!(totp.step_at(59).unwrap(), 1);
        assert_eq!(totp.step_at(60).unwrap(), 2);
    }

    /// R3: 64-bit time past 2038.
    #[test]
    fn r3_time_past_2038_uses_64_bits() {
        assert_eq!(default_totp().step_at(20_000_000_000).unwrap(), 0x27BC_86AA);
    }

    /// R3: a negative time is an error, not a panic.
    #[test]
    fn r3_negative_time_is_an_error() {
        let totp = default_totp();
        assert!(matches!(
            totp.step_at(-1),
            Err(CryptoError::InvalidParameter(_))
        ));
        assert!(totp.generate_at(i64::MIN).is_err());
        let code = TotpCode::parse("123456", 6).unwrap();
        assert!(totp.verify_at(&code, -30, 1).is_err());
    }

    /// R3: the largest representable time works without overflow.
    #[test]
    fn r3_max_time_does_not_overflow() {
        let totp = default_totp();
        let code = totp.generate_at(i64::MAX).unwrap();
        let step = totp.step_at(i64::MAX).unwrap();
        assert_eq!(totp.verify_at(&code, i64::MAX, 2).unwrap(), Some(step));
    }

    // SHA-1 seed, t = 59 (T = 1): T-1 → 755224, T → 287082, T+1 → 359152,
    // T+2 → 969429; for T-2 we use t = 89 (T = 2) and code 755224 (step 0).

    /// R5: at skew 1, codes for T-1, T and T+1 are accepted, with their step.
    #[test]
    fn r5_skew_one_accepts_adjacent_steps() {
        let totp = default_totp();
        for (code, step) in [("755224", 0), ("287082", 1), ("359152", 2)] {
            let code = TotpCode::parse(code, 6).unwrap();
            assert_eq!(totp.verify_at(&code, 59, 1).unwrap(), Some(step));
        }
    }

    /// R5: T+2 and T-2 are rejected at skew 1.
    #[test]
    fn r5_skew_one_rejects_two_steps_away() {
        let totp = default_totp();
        let ahead = TotpCode::parse("969429", 6).unwrap();
        assert_eq!(totp.verify_at(&ahead, 59, 1).unwrap(), None);
        let behind = TotpCode::parse("755224", 6).unwrap();
        assert_eq!(totp.verify_at(&behind, 89, 1).unwrap(), None);
    }

    /// R5: T-2 is accepted when skew 2 is configured.
    #[test]
    fn r5_skew_two_accepts_two_steps_back() {
        let totp = default_totp();
        let behind = TotpCode::parse("755224", 6).unwrap();
        assert_eq!(totp.verify_at(&behind, 89, 2).unwrap(), Some(0));
    }

    /// R5: skew above MAX_SKEW is refused.
    #[test]
    fn r5_skew_above_maximum_is_rejected() {
        let totp = default_totp();
        let code = TotpCode::parse("287082", 6).unwrap();
        assert!(matches!(
            totp.verify_at(&code, 59, MAX_SKEW + 1),
            Err(CryptoError::InvalidParameter(_))
        ));
    }

    /// R5: skew 0 accepts only the current step.
    #[test]
    fn r5_skew_zero_accepts_only_current_step() {
        let totp = default_totp();
        let prev = TotpCode::parse("755224", 6).unwrap();
        assert_eq!(totp.verify_at(&prev, 59, 0).unwrap(), None);
    }

    /// A wrong code is not accepted.
    #[test]
    fn wrong_code_is_rejected() {
        let totp = default_totp();
        let code = TotpCode::parse("000000", 6).unwrap();
        assert_eq!(totp.verify_at(&code, 59, 2).unwrap(), None);
    }

    /// A code with another digit count than the factor's never matches.
    #[test]
    fn code_of_other_length_is_rejected() {
        let totp = rfc_totp(TotpAlgorithm::Sha1, 8);
        let code = TotpCode::parse("287082", 6).unwrap();
        assert_eq!(totp.verify_at(&code, 59, 1).unwrap(), None);
    }

    /// R6: out-of-range digits and periods are rejected; the default is valid.
    #[test]
    fn r6_bad_params_are_rejected() {
        assert_eq!(
            TotpParams::default(),
            TotpParams {
                algorithm: TotpAlgorithm::Sha1,
                digits: 6,
                period: 30
            }
        );
        assert!(TotpParams::default().validate().is_ok());
        for (digits, period) in [
            (5, 30),
            (9, 30),
            (0, 30),
            (10, 30),
            (6, 0),
            (6, 121),
            (6, u32::MAX),
        ] {
            let p = TotpParams {
                algorithm: TotpAlgorithm::Sha1,
                digits,
                period,
            };
            assert!(p.validate().is_err(), "{digits}/{period}");
            let secret = TotpSecret::generate(TotpAlgorithm::Sha1);
            assert!(Totp::new(secret, p, "Example", "alice").is_err());
        }
        for (digits, period) in [(6, 1), (7, 60), (8, 120)] {
            let p = TotpParams {
                algorithm: TotpAlgorithm::Sha512,
                digits,
                period,
            };
            assert!(p.validate().is_ok());
        }
    }

    /// R6: only the three RFC algorithms exist on the wire.
    #[test]
    fn r6_unknown_algorithm_does_not_deserialize() {
        assert!(serde_json::from_str::<TotpAlgorithm>("\"md5\"").is_err());
        assert_eq!(
            serde_json::from_str::<TotpAlgorithm>("\"sha256\"").unwrap(),
            TotpAlgorithm::Sha256
        );
    }

    /// R7: generated secrets have the HMAC output length (≥ 20 bytes).
    #[test]
    fn r7_generated_secret_has_hmac_output_length() {
        assert_eq!(TotpSecret::generate(TotpAlgorithm::Sha1).expose().len(), 20);
        assert_eq!(
            TotpSecret::generate(TotpAlgorithm::Sha256).expose().len(),
            32
        );
        assert_eq!(
            TotpSecret::generate(TotpAlgorithm::Sha512).expose().len(),
            64
        );
    }

    /// R7: 10 000 generated secrets are pairwise distinct.
    #[test]
    fn r7_ten_thousand_secrets_are_distinct() {
        let set: HashSet<Vec<u8>> = (0..10_000)
            .map(|_| TotpSecret::generate(TotpAlgorithm::Sha1).expose().to_vec())
            .collect();
        assert_eq!(set.len(), 10_000);
    }

    /// R7: imports under 16 bytes are rejected.
    #[test]
    fn r7_short_secret_is_rejected() {
        assert!(matches!(
            TotpSecret::from_bytes(vec![7; 15]),
            Err(CryptoError::KeyTooShort {
                min: 16,
                actual: 15,
                ..
            })
        ));
        assert!(TotpSecret::from_bytes(vec![7; 16]).is_ok());
    }

    /// R50: the RFC seeds import from base32 (with and without padding,
    /// lowercase, grouped with spaces).
    #[test]
    fn r50_base32_import_accepts_documented_normalisation() {
        let plain = TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap();
        assert_eq!(plain.expose(), SEED_SHA1);
        let grouped = TotpSecret::from_base32("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").unwrap();
        assert_eq!(grouped.expose(), SEED_SHA1);
        let padded =
            TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA====")
                .unwrap();
        assert_eq!(padded.expose(), SEED_SHA256);
        let unpadded =
            TotpSecret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA")
                .unwrap();
        assert_eq!(unpadded.expose(), SEED_SHA256);
    }

    /// R50: everything outside the rule is rejected with a typed error.
    #[test]
    fn r50_base32_import_rejects_bad_text() {
        let bad = [
            "",                                          // empty ⇒ too short
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1",          // '1' not in alphabet
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ8",          // '8' not in alphabet
            "GEZDGNBVGY3TQOJQ\tGEZDGNBVGY3TQOJQ",        // tab
            "GEZDGNBVGY3TQOJQ\nGEZDGNBVGY3TQOJQ",        // newline
            "GEZDGNBVGY3TQOJQ-GEZDGNBVGY3TQOJQ",         // dash
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA==",    // wrong padding
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA=====", // wrong padding
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQG",         // impossible length
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZB",      // non-zero trailing bits
            "ＧEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",         // full-width letter
        ];
        for input in bad {
            assert!(TotpSecret::from_base32(input).is_err(), "{input:?}");
        }
        assert!(matches!(
            TotpSecret::from_base32("GEZDGNBVGY3TQOJQ"), // 10 bytes
            Err(CryptoError::KeyTooShort { .. })
        ));
        assert!(matches!(
            TotpSecret::from_base32(&"A".repeat(10_000)),
            Err(CryptoError::MalformedSecret(_))
        ));
    }

    /// R50: base32 export round-trips.
    #[test]
    fn r50_base32_export_round_trips() {
        let s = TotpSecret::generate(TotpAlgorithm::Sha256);
        let back = TotpSecret::from_base32(s.to_base32().expose_secret()).unwrap();
        assert_eq!(back.expose(), s.expose());
    }

    /// R49: TOTP codes share the strict grammar.
    #[test]
    fn r49_totp_code_parse_rejects_malformed_inputs() {
        for bad in R49_BAD_INPUTS {
            assert_eq!(
                TotpCode::parse(bad, 6).map(|_| ()),
                Err(CryptoError::MalformedCode),
                "{bad:?}"
            );
        }
        assert!(TotpCode::parse(&"9".repeat(1 << 20), 6).is_err());
        assert_eq!(TotpCode::parse("081804", 6).unwrap().expose(), "081804");
        assert!(matches!(
            TotpCode::parse("123456789", 9),
            Err(CryptoError::InvalidParameter(_))
        ));
    }

    /// The enrolment URI carries every parameter and round-trips through
    /// totp-rs's parser.
    /// A SHA-256, 8-digit, 60-second factor with labels that need encoding.
    fn acme_sha256() -> Totp {
        Totp::new(
            TotpSecret::from_bytes(SEED_SHA256.to_vec()).unwrap(),
            TotpParams {
                algorithm: TotpAlgorithm::Sha256,
                digits: 8,
                period: 60,
            },
            "Acme Corp",
            "alice@example.com",
        )
        .unwrap()
    }

    #[test]
    /// R50: an exported URI imports back to the same factor (codes agree).
    fn r50_otpauth_import_round_trips() {
        let totp = acme_sha256();
        let imported = Totp::from_otpauth_uri(totp.otpauth_uri().expose_secret()).unwrap();
        assert_eq!(imported.params(), totp.params());
        assert_eq!(imported.issuer(), "Acme Corp");
        assert_eq!(imported.account_name(), "alice@example.com");
        for t in [59, 1_111_111_109, 20_000_000_000] {
            assert_eq!(
                imported.generate_at(t).unwrap().expose(),
                totp.generate_at(t).unwrap().expose()
            );
        }
        // Absent parameters take the RFC 6238 defaults.
        let minimal = Totp::from_otpauth_uri(
            "otpauth://totp/Acme:bob?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        )
        .unwrap();
        assert_eq!(minimal.params(), TotpParams::default());
    }

    #[test]
    /// R50: unknown algorithms, digits outside 6..=8, periods outside
    /// 1..=120, short or non-base32 secrets, other schemes and types, and
    /// URIs without an issuer are refused with a typed error.
    fn r50_otpauth_import_rejects_out_of_range_parameters() {
        const SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
        for (uri, why) in [
            (
                format!("otpauth://totp/A:b?secret={SECRET}&algorithm=MD5"),
                "algorithm",
            ),
            (
                format!("otpauth://totp/A:b?secret={SECRET}&digits=5"),
                "digits",
            ),
            (
                format!("otpauth://totp/A:b?secret={SECRET}&digits=9"),
                "digits",
            ),
            (
                format!("otpauth://totp/A:b?secret={SECRET}&digits=x"),
                "digits",
            ),
            (
                format!("otpauth://totp/A:b?secret={SECRET}&period=0"),
                "period",
            ),
            (
                format!("otpauth://totp/A:b?secret={SECRET}&period=121"),
                "period",
            ),
            (
                format!("otpauth://totp/A:b?secret={SECRET}&period=-30"),
                "period",
            ),
            (
                "otpauth://totp/A:b?secret=GEZDGNBVGY3TQOJQ".to_owned(),
                "short",
            ),
            ("otpauth://totp/A:b?secret=0189".to_owned(), "base32"),
            ("otpauth://totp/A:b".to_owned(), "no secret"),
            (
                format!("otpauth://hotp/A:b?secret={SECRET}&counter=1"),
                "hotp",
            ),
            (format!("https://totp/A:b?secret={SECRET}"), "scheme"),
            (format!("otpauth://totp/b?secret={SECRET}"), "no issuer"),
            (
                format!("otpauth://totp/A:b?secret={SECRET}&issuer=B"),
                "issuer mismatch",
            ),
            (
                format!("otpauth://totp/A:b?secret={SECRET}&x={}", "a".repeat(3000)),
                "length",
            ),
        ] {
            let err = Totp::from_otpauth_uri(&uri).err();
            assert!(
                matches!(
                    err,
                    Some(CryptoError::InvalidParameter(_) | CryptoError::KeyTooShort { .. })
                ),
                "{why}: {uri} gave {err:?}"
            );
        }
    }

    #[test]
    fn otpauth_uri_round_trips_with_all_parameters() {
        let totp = acme_sha256();
        let uri = totp.otpauth_uri();
        let uri = uri.expose_secret();
        assert!(uri.starts_with("otpauth://totp/Acme%20Corp:alice%40example.com?"));
        for part in [
            "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA&",
            "issuer=Acme%20Corp",
            "algorithm=SHA256",
            "digits=8",
            "period=60",
        ] {
            assert!(uri.contains(part), "{part} missing from {uri}");
        }
        let parsed = totp_rs::Totp::from_url(uri).unwrap();
        assert_eq!(parsed.issuer(), Some("Acme Corp"));
        assert_eq!(parsed.account_name(), "alice@example.com");
        assert_eq!(parsed.digits(), 8);
        assert_eq!(parsed.step(), 60);
        assert_eq!(parsed.algorithm(), totp_rs::Algorithm::SHA256);
        assert_eq!(parsed.secret().as_bytes(), SEED_SHA256);
    }

    /// Labels with ':' or control characters, or empty, are refused.
    #[test]
    fn labels_are_validated() {
        let p = TotpParams::default();
        let s = || TotpSecret::generate(TotpAlgorithm::Sha1);
        assert!(Totp::new(s(), p, "Ac:me", "alice").is_err());
        assert!(Totp::new(s(), p, "Acme", "ali:ce").is_err());
        assert!(Totp::new(s(), p, "", "alice").is_err());
        assert!(Totp::new(s(), p, "Acme", "").is_err());
        assert!(Totp::new(s(), p, "Acme", "a\nb").is_err());
        assert!(Totp::new(s(), p, "Acme", &"a".repeat(129)).is_err());
    }

    /// The QR code is an SVG document.
    #[test]
    fn qr_svg_is_an_svg_document() {
        let svg = default_totp().qr_svg().unwrap();
        let svg = svg.expose_secret();
        assert!(svg.starts_with("<?xml") || svg.starts_with("<svg"));
        assert!(svg.contains("<svg"));
    }

    /// R45: no secret in the `Debug` of the secret, code or factor.
    #[test]
    fn r45_totp_types_debug_is_redacted() {
        let secret = TotpSecret::from_bytes(SEED_SHA1.to_vec()).unwrap();
        let shown = format!("{secret:?}");
        assert!(!shown.contains("1234567890"));
        assert!(!shown.contains("GEZDGNBV"));
        let totp = default_totp();
        let shown = format!("{totp:?}");
        assert!(!shown.contains("1234567890"));
        assert!(!shown.contains("GEZDGNBV"));
        let code = totp.generate_at(59).unwrap();
        assert!(!format!("{code:?}").contains("287082"));
        let b32 = secret.to_base32();
        assert!(!format!("{b32:?}").contains("GEZDGNBV"));
        let uri = totp.otpauth_uri();
        assert!(!format!("{uri:?}").contains("GEZDGNBV"));
    }
}

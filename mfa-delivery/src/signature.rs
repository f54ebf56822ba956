//! Webhook signatures: how [`crate::webhook`] signs a request and how a
//! receiver checks it.
//!
//! The signature is `hex(HMAC-SHA256(secret, timestamp ‖ "." ‖ body))`,
//! where `timestamp` is the decimal Unix time in seconds sent in the
//! [`TIMESTAMP_HEADER`] and `body` is the exact request body. Signing the
//! timestamp with the body lets a receiver reject replays of old requests.

use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Header carrying the signing time (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "X-MFA-Timestamp";
/// Header carrying the lowercase hex HMAC-SHA256 signature.
pub const SIGNATURE_HEADER: &str = "X-MFA-Signature";
/// Header carrying the idempotency key (the notification id, or a fresh
/// UUID per code message). Retries of one send repeat the same key.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// Why a webhook signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The timestamp header is not a decimal Unix time.
    #[error("malformed webhook timestamp")]
    MalformedTimestamp,
    /// The signature header is not hex of the right length.
    #[error("malformed webhook signature")]
    MalformedSignature,
    /// The timestamp is further from `now` than the tolerance (a replay, or
    /// a badly wrong clock).
    #[error("webhook timestamp outside the tolerance")]
    Stale,
    /// The signature does not match the body, timestamp and secret.
    #[error("webhook signature mismatch")]
    Mismatch,
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Signs `body` at `timestamp` (decimal Unix seconds): the value of the
/// [`SIGNATURE_HEADER`].
#[must_use]
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(&mac(secret, timestamp, body).finalize().into_bytes())
}

/// Checks a webhook received from [`crate::webhook::WebhookChannel`].
///
/// Pass the raw header values and the raw body bytes (before any JSON
/// parsing), the current time and how far the timestamp may be from it (a
/// few minutes). The comparison is constant-time. A receiver SHOULD also
/// remember [`IDEMPOTENCY_HEADER`] values it has processed, inside the
/// tolerance window, to drop retried duplicates.
///
/// # Errors
/// [`SignatureError::MalformedTimestamp`] / [`SignatureError::MalformedSignature`]
/// for unparsable headers, [`SignatureError::Stale`] when the timestamp is
/// outside `now ± tolerance`, [`SignatureError::Mismatch`] when the body,
/// timestamp or secret differ from what was signed.
///
/// # Example
/// ```
/// use chrono::{TimeDelta, Utc};
/// use mfa_delivery::signature::{SignatureError, sign, verify_signature};
///
/// let secret = b"whsec-shared-with-the-sender";
/// let body = br#"{"kind":"otp","to":"+41791234567"}"#;
/// let now = Utc::now();
/// let timestamp = now.timestamp().to_string();
/// // What the sender put in the X-MFA-Signature header:
/// let signature = sign(secret, &timestamp, body);
///
/// let tolerance = TimeDelta::minutes(5);
/// assert_eq!(verify_signature(secret, &timestamp, &signature, body, now, tolerance), Ok(()));
/// assert_eq!(
///     verify_signature(secret, &timestamp, &signature, b"{}", now, tolerance),
///     Err(SignatureError::Mismatch),
/// );
/// ```
pub fn verify_signature(
    secret: &[u8],
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: TimeDelta,
) -> Result<(), SignatureError> {
    let timestamp_header = timestamp_header.trim();
    if timestamp_header.is_empty()
        || timestamp_header.len() > 12
        || !timestamp_header.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(SignatureError::MalformedTimestamp);
    }
    let seconds: i64 = timestamp_header
        .parse()
        .map_err(|_| SignatureError::MalformedTimestamp)?;
    let signed_at =
        DateTime::from_timestamp(seconds, 0).ok_or(SignatureError::MalformedTimestamp)?;
    let given = data_encoding::HEXLOWER_PERMISSIVE
        .decode(signature_header.trim().as_bytes())
        .map_err(|_| SignatureError::MalformedSignature)?;
    if given.len() != 32 {
        return Err(SignatureError::MalformedSignature);
    }
    if (signed_at - now).abs() > tolerance {
        return Err(SignatureError::Stale);
    }
    let expected = mac(secret, timestamp_header, body).finalize().into_bytes();
    if bool::from(expected.as_slice().ct_eq(&given)) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Expected value computed independently with Python's `hmac` module.
        assert_eq!(
            sign(b"key", "1", b"{}"),
            "1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"
        );
    }

    #[test]
    fn malformed_headers_are_typed_errors() {
        let now = Utc::now();
        let t = TimeDelta::minutes(5);
        let ts = now.timestamp().to_string();
        let sig = sign(b"k", &ts, b"x");
        assert_eq!(
            verify_signature(b"k", "abc", &sig, b"x", now, t),
            Err(SignatureError::MalformedTimestamp)
        );
        assert_eq!(
            verify_signature(b"k", "-5", &sig, b"x", now, t),
            Err(SignatureError::MalformedTimestamp)
        );
        assert_eq!(
            verify_signature(b"k", &ts, "zz", b"x", now, t),
            Err(SignatureError::MalformedSignature)
        );
        assert_eq!(
            verify_signature(b"k", &ts, &sig[..62], b"x", now, t),
            Err(SignatureError::MalformedSignature)
        );
        assert_eq!(
            verify_signature(b"k", &ts, &sig.to_uppercase(), b"x", now, t),
            Ok(())
        );
    }
}

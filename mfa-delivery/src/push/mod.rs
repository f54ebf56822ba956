//! Push to a user's device (feature `push`): the transports behind push
//! approval, where a phone app approves a sign-in.
//!
//! A device registers a [`PushAddress`]: a browser's Web Push subscription,
//! an FCM registration token or an APNs device token. Check it with
//! [`PushAddress::validate`] before storing it. A [`PushTransport`] delivers
//! a [`PushMessage`] (title, body, a JSON `data` map such as the approval
//! request id, a time to live, an optional collapse id) to an address:
//!
//! | service | sender | protocol |
//! |---|---|---|
//! | browsers (Web Push) | [`web_push::WebPushSender`] | RFC 8030 delivery, RFC 8291 `aes128gcm` encryption, RFC 8292 VAPID (ES256) |
//! | Android, iOS through Firebase | [`fcm::FcmSender`] | FCM HTTP v1, OAuth 2 token from a service-account key (RS256 JWT bearer grant) |
//! | iOS, iPadOS, macOS | [`apns::ApnsSender`] | APNs provider API over HTTP/2, ES256 provider token |
//!
//! [`PushRouter`] holds the senders you configured and picks one by the
//! kind of address. It is also the engine's
//! [`PushSender`](mfa_core::delivery::PushSender): give it to
//! `MfaBuilder::push(Arc::new(router))` and push approval is on, for the
//! kinds of address the router has a sender for.
//!
//! # What an error means
//!
//! The senders time out, retry temporary failures (timeouts, connection
//! errors, 5xx, 429) with the crate's [`RetryPolicy`](crate::retry::RetryPolicy)
//! and answer with a [`DeliveryError`]:
//!
//! - [`DeliveryError::Gone`]: **the address is gone**; the caller SHOULD
//!   disable the device and stop sending to it ([`address_is_gone`]). The
//!   service said so: Web Push 404 or 410, FCM `UNREGISTERED`, APNs 410
//!   (`Unregistered`, `ExpiredToken`). Never retried. A bare FCM 404
//!   `NOT_FOUND` without `UNREGISTERED`, and APNs 400 `BadDeviceToken`,
//!   are not "gone" but [`DeliveryError::Rejected`]: a wrong project id,
//!   or a token of the other APNs environment, answers the same, and must
//!   not disable every device.
//! - [`DeliveryError::InvalidDestination`]: the address does not pass
//!   [`PushAddress::validate`] (or, for the engine's addresses, is not the
//!   JSON of a [`PushAddress`]); it can never work. Nothing is sent.
//! - [`DeliveryError::Rejected`]: this message was refused (payload, our
//!   credentials, a sender not configured for this kind of address);
//!   retrying it will not help, but the address may still be good.
//! - [`DeliveryError::Transient`]: still failing after the retries; a later
//!   attempt may succeed.
//!
//! Errors and logs never carry keys, access tokens, device tokens or
//! endpoint paths, and `Debug` of every type here leaves them out.
//!
//! ```
//! use std::sync::Arc;
//! use mfa_core::crypto::{JwtConfig, JwtKeys, KeyRing, SecretString};
//! use mfa_core::Mfa;
//! use mfa_delivery::push::web_push::{WebPushConfig, WebPushSender};
//! use mfa_delivery::push::{PushMessage, PushRouter};
//! use mfa_store_memory::MemoryStore;
//!
//! // A P-256 private key, raw and base64url-encoded (or PEM).
//! let vapid = SecretString::from("jbMsGqfyIlPvUBbJDuvZW6xRnNSr1TI8G8R0jlSFv-Y");
//! let web = WebPushSender::new(WebPushConfig::new(vapid, "mailto:security@acme.example"))?;
//! // The browser's `pushManager.subscribe()` needs it as `applicationServerKey`.
//! let _application_server_key = web.vapid_public_key();
//! let push = PushRouter::new().with_web_push(Arc::new(web));
//!
//! // The engine sends its approval notices through the router.
//! let mfa = Mfa::builder()
//!     .store(Arc::new(MemoryStore::new()))
//!     .keys(KeyRing::generate())
//!     .tokens(JwtConfig::new("https://auth.example", "api"), JwtKeys::generate_ed25519("k1")?)
//!     .push(Arc::new(push.clone()))
//!     .build()?;
//!
//! // Or send a message of your own.
//! let message = PushMessage::new("Approve sign-in?", "Firefox on Linux, Zürich")
//!     .with_data("request_id", "4f1c…".into())
//!     .with_collapse_id("sign-in");
//! # let _ = (mfa, push, message);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod address;
pub mod apns;
mod engine;
pub mod fcm;
mod keys;
mod oauth;
mod router;
pub mod web_push;

pub use address::{EndpointPolicy, PushAddress, PushAddressError, PushKind};
pub use engine::{MAX_ADDRESS_LEN, message_of};
pub use router::PushRouter;

use async_trait::async_trait;
use mfa_core::delivery::DeliveryError;
use std::fmt;
use std::time::Duration;

/// Delivers a [`PushMessage`] to a [`PushAddress`].
///
/// Implementations MUST refuse an address they cannot serve with
/// [`DeliveryError::Rejected`], a malformed one with
/// [`DeliveryError::InvalidDestination`], and report an address the service
/// no longer knows as [`DeliveryError::Gone`] (see the
/// [module docs](self)).
#[async_trait]
pub trait PushTransport: Send + Sync {
    /// Sends one message to one device.
    async fn send(&self, to: &PushAddress, message: &PushMessage) -> Result<(), DeliveryError>;
}

/// Whether `error` says the address is gone for good (unsubscribed,
/// unregistered, app removed), that is [`DeliveryError::Gone`]: the caller
/// SHOULD disable the device.
#[must_use]
pub fn address_is_gone(error: &DeliveryError) -> bool {
    matches!(error, DeliveryError::Gone)
}

/// What a push says. `Debug` shows the title and the names of the data
/// keys only.
#[derive(Clone, PartialEq)]
pub struct PushMessage {
    /// The notification's title.
    pub title: String,
    /// The notification's text.
    pub body: String,
    /// Values for the app (the approval request id, the context to show).
    /// FCM carries them as strings: non-string values arrive as JSON text.
    pub data: serde_json::Map<String, serde_json::Value>,
    /// How long the service keeps the message for an offline device; after
    /// that it is dropped. Set it to the life of what the push asks for.
    pub ttl: Duration,
    /// A newer message with the same id replaces an undelivered older one:
    /// 1 to 32 characters of `A–Z a–z 0–9 - _` (the narrowest of the three
    /// services, Web Push's `Topic`).
    pub collapse_id: Option<String>,
}

impl PushMessage {
    /// A message with no data, a 5-minute time to live and no collapse id.
    #[must_use]
    pub fn new(title: impl Into<String>, body: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            body: body.into(),
            data: serde_json::Map::new(),
            ttl: Duration::from_secs(300),
            collapse_id: None,
        }
    }

    /// Adds one data value.
    #[must_use]
    pub fn with_data(mut self, key: impl Into<String>, value: serde_json::Value) -> Self {
        self.data.insert(key.into(), value);
        self
    }

    /// Sets the time to live.
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets the collapse id.
    #[must_use]
    pub fn with_collapse_id(mut self, id: impl Into<String>) -> Self {
        self.collapse_id = Some(id.into());
        self
    }

    /// Refuses a message no service would take, before any request.
    pub(crate) fn check(&self) -> Result<(), DeliveryError> {
        if let Some(id) = &self.collapse_id {
            let ok = (1..=32).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(DeliveryError::Rejected(
                    "collapse id: 1 to 32 characters of A-Z a-z 0-9 - _".into(),
                ));
            }
        }
        Ok(())
    }
}

impl fmt::Debug for PushMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushMessage")
            .field("title", &self.title)
            .field("data_keys", &self.data.keys().collect::<Vec<_>>())
            .field("ttl", &self.ttl)
            .field("collapse_id", &self.collapse_id)
            .finish_non_exhaustive()
    }
}

/// Why a push sender could not be built. The text names the setting, never
/// its value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushConfigError {
    /// A setting is missing or malformed.
    #[error("invalid push configuration: {0}")]
    Invalid(String),
}

/// The "gone" answer, logged with the service's reason (never the address).
fn gone(kind: PushKind, reason: &str) -> DeliveryError {
    tracing::info!(%kind, reason, "push address is gone; the device should be disabled");
    DeliveryError::Gone
}

/// The answer for an address of a kind this sender does not serve.
fn unsupported(sender: PushKind, address: PushKind) -> DeliveryError {
    DeliveryError::Rejected(format!(
        "a {sender} sender cannot deliver to a {address} address"
    ))
}

/// A stored address that fails validation: it can never work.
fn invalid_address(error: &PushAddressError) -> DeliveryError {
    tracing::info!(%error, "push address is malformed; the device should be disabled");
    DeliveryError::InvalidDestination
}

/// A provider's error code, shown only if it looks like one (so nothing a
/// provider echoes ends up in an error).
fn provider_reason(reason: Option<&str>) -> &str {
    match reason {
        Some(r)
            if (1..=64).contains(&r.len())
                && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
        {
            r
        }
        _ => "no reason given",
    }
}

/// A provider base URL from configuration: `https://`, or `http://` to a
/// loopback address (a local test server). Returned without a trailing `/`.
fn base_url(url: &str, what: &str) -> Result<String, PushConfigError> {
    let parsed =
        url::Url::parse(url).map_err(|_| PushConfigError::Invalid(format!("{what}: not a URL")))?;
    let ok = match parsed.scheme() {
        "https" => parsed.host().is_some(),
        "http" => address::is_loopback(&parsed),
        _ => false,
    };
    if !ok || !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(PushConfigError::Invalid(format!(
            "{what}: https:// (or http:// to a loopback address) without credentials"
        )));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapse_ids_outside_the_common_alphabet_are_refused() {
        let m = PushMessage::new("t", "b");
        assert!(m.clone().with_collapse_id("sign-in_1").check().is_ok());
        for bad in ["", "has space", "é", &"x".repeat(33)] {
            assert!(m.clone().with_collapse_id(bad).check().is_err(), "{bad}");
        }
    }

    #[test]
    fn message_debug_leaves_out_body_and_data_values() {
        let m = PushMessage::new("Approve?", "secret context")
            .with_data("request_id", "req-123".into());
        let debug = format!("{m:?}");
        assert!(debug.contains("request_id"));
        assert!(!debug.contains("secret context") && !debug.contains("req-123"));
    }

    #[test]
    fn provider_reasons_are_shown_only_when_they_look_like_codes() {
        assert_eq!(provider_reason(Some("BadDeviceToken")), "BadDeviceToken");
        assert_eq!(provider_reason(Some("<html>")), "no reason given");
        assert_eq!(provider_reason(None), "no reason given");
    }

    #[test]
    fn base_urls_are_https_or_loopback_http() {
        assert_eq!(
            base_url("https://fcm.googleapis.com/", "x").unwrap(),
            "https://fcm.googleapis.com"
        );
        assert!(base_url("http://127.0.0.1:8080", "x").is_ok());
        assert!(base_url("http://fcm.googleapis.com", "x").is_err());
        assert!(base_url("https://user:pw@fcm.googleapis.com", "x").is_err());
        assert!(base_url("ftp://x", "x").is_err());
    }
}

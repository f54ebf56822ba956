//! Web Push to browsers: RFC 8030 delivery, the payload encrypted for the
//! subscription with RFC 8291 `aes128gcm` (by `web-push-native`), the
//! server identified by RFC 8292 VAPID (an ES256 JWT, signed with
//! `jsonwebtoken`).
//!
//! The service worker receives the decrypted payload as JSON:
//! `{"title": …, "body": …, "data": {…}}`.

use super::address::{web_push_endpoint, web_push_keys};
use super::keys::es256_key;
use super::{
    EndpointPolicy, PushAddress, PushConfigError, PushKind, PushMessage, PushTransport, gone,
    invalid_address, unsupported,
};
use crate::http::{HttpSender, status_error, transport_error};
use crate::retry::RetryPolicy;
use async_trait::async_trait;
use chrono::TimeDelta;
use data_encoding::BASE64URL_NOPAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mfa_core::clock::{Clock, SystemClock};
use mfa_core::crypto::{ExposeSecret, SecretString};
use mfa_core::delivery::DeliveryError;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The largest encrypted body every push service must accept (RFC 8030
/// §7.2): 4096 bytes, about 3990 bytes of JSON payload.
pub const MAX_BODY: usize = 4096;

/// How long a VAPID token is valid. RFC 8292 allows at most 24 hours; half
/// of that leaves room for clock skew.
const VAPID_LIFETIME: TimeDelta = TimeDelta::hours(12);

/// Settings of [`WebPushSender`]. `Debug` hides the key.
#[derive(Debug, Clone)]
pub struct WebPushConfig {
    /// The VAPID private key (P-256): PEM (`PRIVATE KEY` or
    /// `EC PRIVATE KEY`) or the 32-byte scalar in base64url.
    pub vapid_key: SecretString,
    /// Who runs this server, for the push service to reach: a `mailto:` or
    /// an `https:` URL.
    pub subject: String,
    /// Which endpoints the sender posts to. Leave it at
    /// [`EndpointPolicy::HttpsOnly`] outside tests.
    pub endpoint_policy: EndpointPolicy,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Retries of temporary failures (the same encrypted body each time).
    pub retry: RetryPolicy,
}

impl WebPushConfig {
    /// Settings with a 10 s timeout, default retries, https endpoints only.
    #[must_use]
    pub fn new(vapid_key: SecretString, subject: impl Into<String>) -> Self {
        Self {
            vapid_key,
            subject: subject.into(),
            endpoint_policy: EndpointPolicy::HttpsOnly,
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
        }
    }
}

/// Sends [`PushAddress::WebPush`] addresses: `POST` to the subscription's
/// endpoint with `TTL`, `Urgency: high`, `Topic` (the collapse id),
/// `Content-Encoding: aes128gcm` and `Authorization: vapid t=…, k=…`.
///
/// A 404 or 410 answer means the subscription is gone
/// ([`DeliveryError::Gone`]); 429 and 5xx are retried.
pub struct WebPushSender {
    key: EncodingKey,
    public_key: String,
    subject: String,
    policy: EndpointPolicy,
    clock: Arc<dyn Clock>,
    http: HttpSender,
}

impl fmt::Debug for WebPushSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebPushSender")
            .field("public_key", &self.public_key)
            .field("subject", &self.subject)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl WebPushSender {
    /// Checks the key and subject and builds the client.
    ///
    /// # Errors
    /// [`PushConfigError::Invalid`] for a key that is not a P-256 private
    /// key or a subject that is not `mailto:` or `https:`.
    pub fn new(config: WebPushConfig) -> Result<Self, PushConfigError> {
        let key = es256_key(config.vapid_key.expose_secret(), "VAPID key")
            .map_err(PushConfigError::Invalid)?;
        let subject = config.subject.trim();
        let subject_ok = match subject.split_once(':') {
            Some(("mailto", rest)) => rest.contains('@'),
            Some(("https", _)) => url::Url::parse(subject).is_ok_and(|u| u.host().is_some()),
            _ => false,
        };
        if !subject_ok {
            return Err(PushConfigError::Invalid(
                "VAPID subject: a mailto: address or an https: URL".into(),
            ));
        }
        let http =
            HttpSender::new(config.timeout, config.retry).map_err(PushConfigError::Invalid)?;
        Ok(Self {
            key: key.encoding,
            public_key: BASE64URL_NOPAD.encode(&key.public),
            subject: subject.to_owned(),
            policy: config.endpoint_policy,
            clock: Arc::new(SystemClock),
            http,
        })
    }

    /// Uses `clock` for the VAPID token's expiry.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The VAPID public key in base64url (an uncompressed P-256 point): the
    /// `applicationServerKey` the browser's `pushManager.subscribe()` needs.
    #[must_use]
    pub fn vapid_public_key(&self) -> &str {
        &self.public_key
    }

    /// `vapid t=<JWT>, k=<public key>` for the endpoint's origin.
    fn authorization(&self, endpoint: &url::Url) -> Result<String, DeliveryError> {
        let claims = serde_json::json!({
            "aud": endpoint.origin().ascii_serialization(),
            "exp": (self.clock.now() + VAPID_LIFETIME).timestamp(),
            "sub": self.subject,
        });
        let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.key)
            .map_err(|_| DeliveryError::Rejected("could not sign the VAPID token".into()))?;
        Ok(format!("vapid t={token}, k={}", self.public_key))
    }
}

#[async_trait]
impl PushTransport for WebPushSender {
    async fn send(&self, to: &PushAddress, message: &PushMessage) -> Result<(), DeliveryError> {
        let PushAddress::WebPush {
            endpoint,
            p256dh,
            auth,
        } = to
        else {
            return Err(unsupported(PushKind::WebPush, to.kind()));
        };
        let url = web_push_endpoint(endpoint, self.policy).map_err(|e| invalid_address(&e))?;
        let (public, secret) = web_push_keys(p256dh, auth).map_err(|e| invalid_address(&e))?;
        message.check()?;

        let payload = serde_json::to_vec(&serde_json::json!({
            "title": message.title,
            "body": message.body,
            "data": message.data,
        }))
        .map_err(|e| DeliveryError::Rejected(format!("payload: {e}")))?;
        let body = web_push_native::encrypt(payload, &public, &secret)
            .map_err(|_| DeliveryError::Rejected("could not encrypt the payload".into()))?;
        if body.len() > MAX_BODY {
            return Err(DeliveryError::Rejected(format!(
                "payload too large for Web Push ({} of {MAX_BODY} bytes encrypted)",
                body.len()
            )));
        }
        let authorization = self.authorization(&url)?;
        let ttl = message.ttl.as_secs().to_string();

        self.http
            .run(|client| {
                let mut request = client
                    .post(url.clone())
                    .header("TTL", &ttl)
                    // A sign-in is waiting: deliver now, even on battery saver.
                    .header("Urgency", "high")
                    .header(CONTENT_ENCODING, "aes128gcm")
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(AUTHORIZATION, &authorization)
                    .body(body.clone());
                if let Some(topic) = &message.collapse_id {
                    request = request.header("Topic", topic);
                }
                async move { judge(request.send().await) }
            })
            .await
    }
}

/// The push service's answer. The body is never read: the endpoint is
/// chosen by the browser, not by us.
fn judge(result: Result<reqwest::Response, reqwest::Error>) -> Result<(), DeliveryError> {
    let status = result.map_err(transport_error)?.status();
    match status {
        s if s.is_success() => Ok(()),
        StatusCode::NOT_FOUND | StatusCode::GONE => Err(gone(PushKind::WebPush, status.as_str())),
        StatusCode::TOO_MANY_REQUESTS => Err(DeliveryError::Transient(format!(
            "push service answered {status}"
        ))),
        _ => Err(status_error(status)),
    }
}

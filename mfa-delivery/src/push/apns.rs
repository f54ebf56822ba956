//! Apple Push Notification service, token-based: an ES256 provider token
//! (reused for 50 minutes), `POST {base}/3/device/{token}` over HTTP/2.

use super::keys::es256_key;
use super::{
    PushAddress, PushConfigError, PushKind, PushMessage, PushTransport, base_url, gone,
    invalid_address, provider_reason, unsupported,
};
use crate::http::{HttpSender, transport_error};
use crate::retry::RetryPolicy;
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mfa_core::clock::{Clock, SystemClock};
use mfa_core::crypto::{ExposeSecret, SecretString};
use mfa_core::delivery::DeliveryError;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// APNs production.
pub const APNS_PRODUCTION: &str = "https://api.push.apple.com";
/// APNs sandbox, for development builds of the app.
pub const APNS_SANDBOX: &str = "https://api.sandbox.push.apple.com";
/// The largest payload APNs takes for an alert.
pub const MAX_PAYLOAD: usize = 4096;
/// Apple refuses tokens older than an hour and renewals more often than
/// every 20 minutes.
const TOKEN_REUSE: TimeDelta = TimeDelta::minutes(50);

/// Settings of [`ApnsSender`]. `Debug` hides the key.
#[derive(Debug, Clone)]
pub struct ApnsConfig {
    /// Your Apple Developer team id (10 characters): the token's `iss`.
    pub team_id: String,
    /// The signing key's id (10 characters): the token's `kid`.
    pub key_id: String,
    /// The signing key: the `.p8` file's PEM text.
    pub private_key: SecretString,
    /// The app's bundle id (`apns-topic`).
    pub topic: String,
    /// [`APNS_PRODUCTION`], [`APNS_SANDBOX`] or a local server in tests.
    pub base_url: String,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Retries of temporary failures.
    pub retry: RetryPolicy,
}

impl ApnsConfig {
    /// Production settings, 10 s timeout, default retries.
    #[must_use]
    pub fn new(
        team_id: impl Into<String>,
        key_id: impl Into<String>,
        private_key: SecretString,
        topic: impl Into<String>,
    ) -> Self {
        Self {
            team_id: team_id.into(),
            key_id: key_id.into(),
            private_key,
            topic: topic.into(),
            base_url: APNS_PRODUCTION.into(),
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
        }
    }
}

/// Sends [`PushAddress::Apns`] addresses as alerts (`apns-push-type:
/// alert`, `apns-priority: 10`, default sound) over one HTTP/2 connection
/// (HTTP/2 only, as APNs requires). The data travels as top-level keys
/// beside `aps`.
///
/// 410 (`Unregistered`, `ExpiredToken`) means the token is gone
/// ([`DeliveryError::Gone`]); 400 `BadDeviceToken` is a rejection, since
/// APNs answers it too for a token of the other environment (sandbox or
/// production), and a misconfigured server must not turn off every device;
/// `ExpiredProviderToken` renews the provider token and retries; 429 and
/// 5xx are retried.
pub struct ApnsSender {
    team_id: String,
    key_id: String,
    key: EncodingKey,
    topic: String,
    base: String,
    jwt: Mutex<Option<ProviderToken>>,
    clock: Arc<dyn Clock>,
    http: HttpSender,
}

struct ProviderToken {
    jwt: String,
    issued_at: DateTime<Utc>,
}

impl fmt::Debug for ApnsSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApnsSender")
            .field("team_id", &self.team_id)
            .field("key_id", &self.key_id)
            .field("topic", &self.topic)
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl ApnsSender {
    /// Checks the key, ids and URL and builds the HTTP/2 client.
    ///
    /// # Errors
    /// [`PushConfigError::Invalid`] for a key that is not a P-256 private
    /// key, a team or key id that is not 10 letters or digits, an empty
    /// topic or a URL that is not `https://`.
    pub fn new(config: ApnsConfig) -> Result<Self, PushConfigError> {
        let key = es256_key(config.private_key.expose_secret(), "APNs key")
            .map_err(PushConfigError::Invalid)?;
        for (id, what) in [(&config.team_id, "team id"), (&config.key_id, "key id")] {
            if id.len() != 10 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(PushConfigError::Invalid(format!(
                    "APNs {what}: 10 letters or digits"
                )));
            }
        }
        let topic = config.topic.trim();
        if topic.is_empty() || !topic.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(PushConfigError::Invalid("APNs topic (bundle id)".into()));
        }
        Ok(Self {
            team_id: config.team_id,
            key_id: config.key_id,
            key: key.encoding,
            topic: topic.to_owned(),
            base: base_url(&config.base_url, "APNs base URL")?,
            jwt: Mutex::new(None),
            clock: Arc::new(SystemClock),
            http: HttpSender::http2_only(config.timeout, config.retry)
                .map_err(PushConfigError::Invalid)?,
        })
    }

    /// Uses `clock` for the provider token and the expiration header.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The provider token, renewed after [`TOKEN_REUSE`].
    fn provider_token(&self) -> Result<String, DeliveryError> {
        let mut cached = self.jwt.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.clock.now();
        if let Some(token) = cached.as_ref() {
            let age = now - token.issued_at;
            if age >= TimeDelta::zero() && age < TOKEN_REUSE {
                return Ok(token.jwt.clone());
            }
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        let claims = json!({"iss": self.team_id, "iat": now.timestamp()});
        let jwt = jsonwebtoken::encode(&header, &claims, &self.key).map_err(|_| {
            DeliveryError::Rejected("could not sign the APNs provider token".into())
        })?;
        *cached = Some(ProviderToken {
            jwt: jwt.clone(),
            issued_at: now,
        });
        Ok(jwt)
    }

    /// APNs's answer: the error body is read for its `reason` only.
    async fn judge(&self, response: reqwest::Response) -> Result<(), DeliveryError> {
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let error = response.json::<Value>().await.unwrap_or_default();
        let reason = provider_reason(error["reason"].as_str());
        match (status, reason) {
            (StatusCode::GONE, _) => Err(gone(PushKind::Apns, reason)),
            // Also APNs's answer to a token of the other environment
            // (sandbox against production): a configuration mistake that
            // would otherwise turn off every device.
            (StatusCode::BAD_REQUEST, "BadDeviceToken") => {
                tracing::warn!(
                    "APNs: BadDeviceToken; check that the sender's environment (sandbox or \
                     production) matches the app build"
                );
                Err(DeliveryError::Rejected(
                    "APNs refused the device token (BadDeviceToken): a wrong token, or one of \
                     the other environment"
                        .into(),
                ))
            }
            (StatusCode::FORBIDDEN, "ExpiredProviderToken") => {
                *self.jwt.lock().unwrap_or_else(PoisonError::into_inner) = None;
                Err(DeliveryError::Transient(
                    "APNs: provider token expired".into(),
                ))
            }
            (s, _) if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => Err(
                DeliveryError::Transient(format!("APNs answered {status} {reason}")),
            ),
            _ => Err(DeliveryError::Rejected(format!(
                "APNs refused the message: {status} {reason}"
            ))),
        }
    }
}

/// `{"aps": {"alert": {title, body}, "sound": "default"}, …data}`.
fn payload(message: &PushMessage) -> Result<Vec<u8>, DeliveryError> {
    let mut body = message.data.clone();
    let aps = json!({
        "alert": {"title": message.title, "body": message.body},
        "sound": "default",
    });
    if body.insert("aps".into(), aps).is_some() {
        return Err(DeliveryError::Rejected(
            "data key \"aps\" is reserved by APNs".into(),
        ));
    }
    let bytes =
        serde_json::to_vec(&body).map_err(|e| DeliveryError::Rejected(format!("payload: {e}")))?;
    if bytes.len() > MAX_PAYLOAD {
        return Err(DeliveryError::Rejected(format!(
            "payload too large for APNs ({} of {MAX_PAYLOAD} bytes)",
            bytes.len()
        )));
    }
    Ok(bytes)
}

#[async_trait]
impl PushTransport for ApnsSender {
    async fn send(&self, to: &PushAddress, message: &PushMessage) -> Result<(), DeliveryError> {
        let PushAddress::Apns { device_token } = to else {
            return Err(unsupported(PushKind::Apns, to.kind()));
        };
        to.validate().map_err(|e| invalid_address(&e))?;
        message.check()?;
        let body = payload(message)?;
        let url = format!("{}/3/device/{device_token}", self.base);
        // 0: deliver once, now or never.
        let expiration = match i64::try_from(message.ttl.as_secs()) {
            Ok(0) => 0,
            Ok(ttl) => self.clock.now().timestamp().saturating_add(ttl),
            Err(_) => i64::MAX,
        }
        .to_string();
        self.http
            .run(|client| {
                let (url, body, expiration) = (&url, &body, &expiration);
                async move {
                    let mut request = client
                        .post(url)
                        .header(
                            "authorization",
                            format!("bearer {}", self.provider_token()?),
                        )
                        .header("apns-topic", &self.topic)
                        .header("apns-push-type", "alert")
                        .header("apns-priority", "10")
                        .header("apns-expiration", expiration)
                        .header("content-type", "application/json")
                        .body(body.clone());
                    if let Some(id) = &message.collapse_id {
                        request = request.header("apns-collapse-id", id);
                    }
                    let response = request.send().await.map_err(transport_error)?;
                    self.judge(response).await
                }
            })
            .await
    }
}

//! Firebase Cloud Messaging, HTTP v1 API: an OAuth 2 access token from a
//! Google service-account key (the JWT bearer grant, RS256), kept until
//! shortly before it expires, then
//! `POST {base}/v1/projects/{project}/messages:send`.

use super::oauth::{TokenSource, retryable};
use super::{
    PushAddress, PushConfigError, PushKind, PushMessage, PushTransport, base_url, gone,
    invalid_address, provider_reason, unsupported,
};
use crate::http::{HttpSender, transport_error};
use crate::retry::RetryPolicy;
use async_trait::async_trait;
use mfa_core::clock::{Clock, SystemClock};
use mfa_core::crypto::{ExposeSecret, SecretString};
use mfa_core::delivery::DeliveryError;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The FCM API's base URL.
pub const FCM_BASE: &str = "https://fcm.googleapis.com";
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// The longest FCM keeps a message: 28 days.
const MAX_TTL_SECS: u64 = 28 * 24 * 3600;
/// Data keys FCM refuses (besides the `google.` and `gcm.` prefixes).
const RESERVED_KEYS: [&str; 3] = ["from", "notification", "message_type"];

/// A Google service-account key as downloaded (JSON). `Debug` hides the
/// private key.
#[derive(Debug, Clone, Deserialize)]
pub struct ServiceAccountKey {
    /// The account's email: the token request's issuer.
    pub client_email: String,
    /// The RSA private key in PEM.
    pub private_key: SecretString,
    /// The key's id, sent as the assertion's `kid`.
    #[serde(default)]
    pub private_key_id: Option<String>,
    /// Where access tokens come from (`https://oauth2.googleapis.com/token`).
    pub token_uri: String,
    /// The Firebase project, if the file names it.
    #[serde(default)]
    pub project_id: Option<String>,
}

impl ServiceAccountKey {
    /// Parses the downloaded JSON file.
    ///
    /// # Errors
    /// [`PushConfigError::Invalid`] if a required field is missing (the
    /// text never quotes the file).
    pub fn from_json(json: &str) -> Result<Self, PushConfigError> {
        serde_json::from_str(json).map_err(|_| {
            PushConfigError::Invalid(
                "service-account key: JSON with client_email, private_key and token_uri".into(),
            )
        })
    }
}

/// Settings of [`FcmSender`].
#[derive(Debug, Clone)]
pub struct FcmConfig {
    /// The service account that may send (role "Firebase Cloud Messaging
    /// API Admin" or equivalent).
    pub key: ServiceAccountKey,
    /// The Firebase project id.
    pub project_id: String,
    /// API base URL: [`FCM_BASE`], a local server in tests.
    pub base_url: String,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Retries of temporary failures.
    pub retry: RetryPolicy,
}

impl FcmConfig {
    /// Settings for the key's own project, 10 s timeout, default retries.
    #[must_use]
    pub fn new(key: ServiceAccountKey) -> Self {
        Self {
            project_id: key.project_id.clone().unwrap_or_default(),
            key,
            base_url: FCM_BASE.into(),
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
        }
    }
}

/// Sends [`PushAddress::Fcm`] addresses as a notification with data, high
/// priority on Android and APNs priority 10 on Apple devices.
///
/// `UNREGISTERED` means the token is gone
/// ([`DeliveryError::Gone`]); 401 drops the cached access
/// token and retries; 429 and 5xx are retried.
pub struct FcmSender {
    tokens: TokenSource,
    send_url: String,
    clock: Arc<dyn Clock>,
    http: HttpSender,
}

impl fmt::Debug for FcmSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FcmSender")
            .field("tokens", &self.tokens)
            .field("send_url", &self.send_url)
            .finish_non_exhaustive()
    }
}

impl FcmSender {
    /// Checks the key and URLs and builds the client.
    ///
    /// # Errors
    /// [`PushConfigError::Invalid`] for a key that cannot sign RS256, a
    /// missing project id or email, or a URL that is not `https://`.
    pub fn new(config: FcmConfig) -> Result<Self, PushConfigError> {
        let tokens = TokenSource::new(config.key, SCOPE)?;
        let project = config.project_id.trim();
        if project.is_empty()
            || !project
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b))
        {
            return Err(PushConfigError::Invalid("FCM project id".into()));
        }
        let base = base_url(&config.base_url, "FCM base URL")?;
        Ok(Self {
            tokens,
            send_url: format!("{base}/v1/projects/{project}/messages:send"),
            clock: Arc::new(SystemClock),
            http: HttpSender::new(config.timeout, config.retry)
                .map_err(PushConfigError::Invalid)?,
        })
    }

    /// Uses `clock` for the token request and the token's expiry.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The `messages:send` body.
    fn body(&self, token: &str, message: &PushMessage) -> Result<Value, DeliveryError> {
        let mut data = Map::new();
        for (key, value) in &message.data {
            if RESERVED_KEYS.contains(&key.as_str())
                || key.starts_with("google.")
                || key.starts_with("gcm.")
            {
                return Err(DeliveryError::Rejected(format!(
                    "data key {key:?} is reserved by FCM"
                )));
            }
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            data.insert(key.clone(), Value::String(text));
        }
        let ttl = message.ttl.as_secs().min(MAX_TTL_SECS);
        let expiration = if ttl == 0 {
            0
        } else {
            self.clock.now().timestamp() + i64::try_from(ttl).unwrap_or(0)
        };
        let mut android = json!({"ttl": format!("{ttl}s"), "priority": "high"});
        let mut apns = json!({
            "apns-priority": "10",
            "apns-push-type": "alert",
            "apns-expiration": expiration.to_string(),
        });
        if let Some(id) = &message.collapse_id {
            android["collapse_key"] = json!(id);
            apns["apns-collapse-id"] = json!(id);
        }
        Ok(json!({"message": {
            "token": token,
            "notification": {"title": message.title, "body": message.body},
            "data": data,
            "android": android,
            "apns": {"headers": apns},
        }}))
    }

    /// FCM's answer: the error body is read for its code only.
    async fn judge(&self, response: reqwest::Response) -> Result<(), DeliveryError> {
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let error = response.json::<Value>().await.unwrap_or_default();
        let code = error["error"]["details"]
            .as_array()
            .and_then(|details| details.iter().find_map(|d| d["errorCode"].as_str()))
            .or_else(|| error["error"]["status"].as_str());
        if code == Some("UNREGISTERED") {
            return Err(gone(PushKind::Fcm, "UNREGISTERED"));
        }
        let reason = provider_reason(code);
        if status == StatusCode::UNAUTHORIZED {
            // Revoked or expired early: the next attempt fetches a new one.
            self.tokens.forget().await;
            return Err(DeliveryError::Transient(
                "FCM refused the access token".into(),
            ));
        }
        Err(if retryable(status) {
            DeliveryError::Transient(format!("FCM answered {status} {reason}"))
        } else {
            DeliveryError::Rejected(format!("FCM refused the message: {status} {reason}"))
        })
    }
}

#[async_trait]
impl PushTransport for FcmSender {
    async fn send(&self, to: &PushAddress, message: &PushMessage) -> Result<(), DeliveryError> {
        let PushAddress::Fcm { token } = to else {
            return Err(unsupported(PushKind::Fcm, to.kind()));
        };
        to.validate().map_err(|e| invalid_address(&e))?;
        message.check()?;
        let body = self.body(token, message)?;
        self.http
            .run(|client| {
                let body = &body;
                async move {
                    let bearer = self.tokens.token(&client, self.clock.now()).await?;
                    let response = client
                        .post(&self.send_url)
                        .bearer_auth(bearer.expose_secret())
                        .json(body)
                        .send()
                        .await
                        .map_err(transport_error)?;
                    self.judge(response).await
                }
            })
            .await
    }
}

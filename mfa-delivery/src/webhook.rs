//! Signed webhooks: each message is `POST`ed as JSON to your endpoint, which
//! turns it into a push notification, an in-app message or anything else.
//!
//! Every request carries [`TIMESTAMP_HEADER`], [`SIGNATURE_HEADER`]
//! (see [`crate::signature`]) and an [`IDEMPOTENCY_HEADER`]; the receiver
//! checks them with [`crate::signature::verify_signature`] and parses the
//! body as a [`WebhookPayload`].

use crate::http::HttpSender;
use crate::retry::RetryPolicy;
use crate::signature::{IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mfa_core::clock::{Clock, SystemClock};
use mfa_core::crypto::{ExposeSecret, SecretString};
use mfa_core::delivery::{DeliveryChannel, DeliveryError, Message};
use mfa_core::model::{ChallengePurpose, NotificationKind, OtpChannel};
use mfa_core::template::{Rendered, Templates};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Settings of [`WebhookChannel`]. `Debug` hides the secret.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Endpoint receiving `POST` requests.
    pub url: String,
    /// HMAC key shared with the receiver (at least 16 bytes).
    pub secret: SecretString,
    /// The kind of destination this webhook stands in for: the engine
    /// plugs it in as its email or its SMS channel.
    pub channel: OtpChannel,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Retries of temporary failures (the same idempotency key is sent on
    /// every attempt).
    pub retry: RetryPolicy,
    /// What the messages say (the payload's subject and texts).
    pub templates: Templates,
}

impl WebhookConfig {
    /// Settings with a 10 s timeout, default retries and the shipped
    /// templates.
    #[must_use]
    pub fn new(url: impl Into<String>, secret: SecretString, channel: OtpChannel) -> Self {
        Self {
            url: url.into(),
            secret,
            channel,
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            templates: Templates::shipped(),
        }
    }
}

/// Why a webhook channel could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookConfigError {
    /// A setting is missing or malformed.
    #[error("invalid webhook configuration: {0}")]
    Invalid(String),
}

/// Which kind of message a webhook carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadKind {
    /// A one-time code.
    Otp,
    /// A security notification.
    Notification,
    /// A password reset or email verification link.
    Link,
}

/// The code part of a webhook for a one-time code.
///
/// `Debug` hides the code.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtpPayload {
    /// The digits.
    pub code: String,
    /// Why the code was sent.
    pub purpose: ChallengePurpose,
    /// When the code stops working.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for OtpPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtpPayload")
            .field("code", &"[redacted]")
            .field("purpose", &self.purpose)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The link part of a webhook for a password reset or email verification.
///
/// `Debug` hides the token and the link.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkPayload {
    /// `password_reset` or `email_verification`.
    pub purpose: String,
    /// The token to paste.
    pub token: String,
    /// The link carrying it, when the host configured one.
    pub url: Option<String>,
    /// When the token stops working.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for LinkPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkPayload")
            .field("purpose", &self.purpose)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The notification part of a webhook for a security notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationPayload {
    /// Which event.
    pub kind: NotificationKind,
    /// Non-secret details (device, IP, country, method…).
    pub details: serde_json::Value,
    /// When the event happened.
    pub at: DateTime<Utc>,
}

/// The JSON body of every webhook request.
///
/// `Debug` leaves out the code and the rendered texts (which contain it).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookPayload {
    /// Unique id of this message, equal to the idempotency key (the
    /// notification id for notifications).
    pub id: String,
    /// When the message was sent.
    pub timestamp: DateTime<Utc>,
    /// Code or notification.
    pub kind: PayloadKind,
    /// The channel kind the webhook stands in for.
    pub channel: OtpChannel,
    /// Email address or E.164 number the engine addressed.
    pub to: String,
    /// Recipient's locale, if known.
    pub locale: Option<String>,
    /// Rendered subject.
    pub subject: String,
    /// Rendered plain text.
    pub text: String,
    /// Rendered short text (push / SMS length).
    pub short_text: String,
    /// Set for [`PayloadKind::Otp`].
    pub otp: Option<OtpPayload>,
    /// Set for [`PayloadKind::Notification`].
    pub notification: Option<NotificationPayload>,
    /// Set for [`PayloadKind::Link`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkPayload>,
}

impl std::fmt::Debug for WebhookPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookPayload")
            .field("id", &self.id)
            .field("timestamp", &self.timestamp)
            .field("kind", &self.kind)
            .field("channel", &self.channel)
            .field("to", &self.to)
            .field("otp", &self.otp)
            .field("notification", &self.notification)
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

impl WebhookPayload {
    /// The payload for `message`, rendered as `rendered`, sent at `now`.
    #[must_use]
    pub fn new(
        message: &Message,
        rendered: Rendered,
        channel: OtpChannel,
        now: DateTime<Utc>,
    ) -> Self {
        let link = match message {
            Message::Link(m) => Some(LinkPayload {
                purpose: m.purpose.as_str().to_owned(),
                token: m.token.expose().to_owned(),
                url: m.url.as_ref().map(|u| u.expose().to_owned()),
                expires_at: m.expires_at,
            }),
            _ => None,
        };
        let (id, kind, otp, notification, locale) = match message {
            Message::Otp(m) => (
                uuid::Uuid::new_v4().to_string(),
                PayloadKind::Otp,
                Some(OtpPayload {
                    code: m.code.expose().to_owned(),
                    purpose: m.purpose,
                    expires_at: m.expires_at,
                }),
                None,
                m.locale.clone(),
            ),
            Message::Notification(m) => (
                m.id.as_uuid().to_string(),
                PayloadKind::Notification,
                None,
                Some(NotificationPayload {
                    kind: m.kind,
                    details: m.details.clone(),
                    at: m.at,
                }),
                m.locale.clone(),
            ),
            Message::Link(m) => (
                uuid::Uuid::new_v4().to_string(),
                PayloadKind::Link,
                None,
                None,
                m.locale.clone(),
            ),
        };
        Self {
            id,
            timestamp: now,
            kind,
            channel,
            to: message.to().to_owned(),
            locale,
            subject: rendered.subject,
            text: rendered.text,
            short_text: rendered.short,
            otp,
            notification,
            link,
        }
    }
}

/// A [`DeliveryChannel`] that posts signed JSON to a URL.
///
/// ```
/// use mfa_core::crypto::SecretString;
/// use mfa_core::model::OtpChannel;
/// use mfa_delivery::webhook::{WebhookChannel, WebhookConfig};
///
/// // Stands in for the SMS channel: the host's push service delivers it.
/// let push = WebhookChannel::new(WebhookConfig::new(
///     "https://push.internal.example/mfa",
///     SecretString::from("a-long-random-shared-secret"),
///     OtpChannel::Sms,
/// ))?;
/// # Ok::<(), mfa_delivery::webhook::WebhookConfigError>(())
/// ```
#[derive(Debug)]
pub struct WebhookChannel {
    config: WebhookConfig,
    clock: Arc<dyn Clock>,
    http: HttpSender,
}

impl WebhookChannel {
    /// Validates the settings and builds the client.
    ///
    /// # Errors
    /// [`WebhookConfigError::Invalid`] for a URL that is not `http(s)://`
    /// or a secret shorter than 16 bytes.
    pub fn new(config: WebhookConfig) -> Result<Self, WebhookConfigError> {
        if !(config.url.starts_with("https://") || config.url.starts_with("http://")) {
            return Err(WebhookConfigError::Invalid(format!("URL {:?}", config.url)));
        }
        if config.secret.expose_secret().len() < 16 {
            return Err(WebhookConfigError::Invalid(
                "the secret needs at least 16 bytes".into(),
            ));
        }
        let http =
            HttpSender::new(config.timeout, config.retry).map_err(WebhookConfigError::Invalid)?;
        Ok(Self {
            config,
            clock: Arc::new(SystemClock),
            http,
        })
    }

    /// Uses `clock` for the payload and signature timestamps.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

#[async_trait]
impl DeliveryChannel for WebhookChannel {
    fn channel(&self) -> OtpChannel {
        self.config.channel
    }

    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        if message.to().trim().is_empty() {
            return Err(DeliveryError::InvalidDestination);
        }
        let now = self.clock.now();
        let rendered = self.config.templates.render(message)?;
        let payload = WebhookPayload::new(message, rendered, self.config.channel, now);
        let body = serde_json::to_vec(&payload)
            .map_err(|e| DeliveryError::Rejected(format!("payload: {e}")))?;
        let timestamp = now.timestamp().to_string();
        let signature = sign(
            self.config.secret.expose_secret().as_bytes(),
            &timestamp,
            &body,
        );
        self.http
            .send(|client| {
                client
                    .post(&self.config.url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header(TIMESTAMP_HEADER, &timestamp)
                    .header(SIGNATURE_HEADER, &signature)
                    .header(IDEMPOTENCY_HEADER, &payload.id)
                    .body(body.clone())
            })
            .await
    }
}

//! SMS over HTTP: a Twilio-compatible Messages API client ([`TwilioSms`])
//! and a generic JSON provider ([`JsonSms`]).
//!
//! Both check every destination with an [`SmsGuard`] (strict E.164, allowed
//! region and number type, per-number quota) before any request, send the
//! short rendering of the message
//! ([`Rendered::short`](mfa_core::template::Rendered::short), from the
//! settings' `templates`), time out, retry 5xx / timeouts / connection
//! errors with backoff, and map 4xx answers to [`DeliveryError::Rejected`].

use crate::http::HttpSender;
use crate::phone::SmsGuard;
use crate::retry::RetryPolicy;
use async_trait::async_trait;
use mfa_core::crypto::{ExposeSecret, SecretString};
use mfa_core::delivery::{DeliveryChannel, DeliveryError, Message};
use mfa_core::model::OtpChannel;
use mfa_core::template::Templates;
use std::time::Duration;

/// Why an SMS channel could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SmsConfigError {
    /// A setting is missing or malformed.
    #[error("invalid SMS configuration: {0}")]
    Invalid(String),
}

/// Who a Twilio message is from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TwilioSender {
    /// A phone number or alphanumeric sender id (`From`).
    From(String),
    /// A Messaging Service (`MessagingServiceSid`), which picks the sender.
    MessagingService(String),
}

/// Settings of [`TwilioSms`]. `Debug` hides the auth token.
#[derive(Debug, Clone)]
pub struct TwilioConfig {
    /// API base URL; `https://api.twilio.com` in production, a local mock
    /// server in tests.
    pub base_url: String,
    /// Account SID (the basic-auth user).
    pub account_sid: String,
    /// Auth token (the basic-auth password).
    pub auth_token: SecretString,
    /// Sender.
    pub sender: TwilioSender,
    /// Optional `StatusCallback` URL for delivery receipts.
    pub status_callback: Option<String>,
    /// Timeout of one request (connect + answer).
    pub timeout: Duration,
    /// Retries of temporary failures.
    pub retry: RetryPolicy,
    /// What the messages say (their short text).
    pub templates: Templates,
}

impl TwilioConfig {
    /// Settings for Twilio's production API, 10 s timeout, default retries,
    /// the shipped templates.
    #[must_use]
    pub fn new(
        account_sid: impl Into<String>,
        auth_token: SecretString,
        sender: TwilioSender,
    ) -> Self {
        Self {
            base_url: "https://api.twilio.com".into(),
            account_sid: account_sid.into(),
            auth_token,
            sender,
            status_callback: None,
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            templates: Templates::shipped(),
        }
    }
}

/// SMS through a Twilio-compatible Messages API:
/// `POST {base_url}/2010-04-01/Accounts/{sid}/Messages.json` with basic
/// auth and a form body (`To`, `From` or `MessagingServiceSid`, `Body`,
/// optional `StatusCallback`).
///
/// ```
/// use chrono::TimeDelta;
/// use mfa_core::crypto::SecretString;
/// use mfa_delivery::phone::SmsGuard;
/// use mfa_delivery::sms::{TwilioConfig, TwilioSender, TwilioSms};
///
/// let config = TwilioConfig::new(
///     "AC0123456789abcdef0123456789abcdef",
///     SecretString::from("auth-token"),
///     TwilioSender::MessagingService("MG0123456789abcdef0123456789abcdef".into()),
/// );
/// let guard = SmsGuard::builder()
///     .allow_regions(["CH", "DE", "AT"])
///     .quota(5, TimeDelta::hours(1))
///     .build()?;
/// let sms = TwilioSms::new(config, guard)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TwilioSms {
    config: TwilioConfig,
    url: String,
    guard: SmsGuard,
    http: HttpSender,
}

impl TwilioSms {
    /// Validates the settings and builds the client.
    ///
    /// # Errors
    /// [`SmsConfigError::Invalid`] for an empty SID or sender, or a base URL
    /// that is not `http(s)://`.
    pub fn new(config: TwilioConfig, guard: SmsGuard) -> Result<Self, SmsConfigError> {
        check_url(&config.base_url)?;
        let sid = config.account_sid.trim();
        if sid.is_empty() || !sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(SmsConfigError::Invalid("account SID".into()));
        }
        let sender = match &config.sender {
            TwilioSender::From(s) | TwilioSender::MessagingService(s) => s,
        };
        if sender.trim().is_empty() {
            return Err(SmsConfigError::Invalid("sender".into()));
        }
        let url = format!(
            "{}/2010-04-01/Accounts/{sid}/Messages.json",
            config.base_url.trim_end_matches('/')
        );
        let http =
            HttpSender::new(config.timeout, config.retry).map_err(SmsConfigError::Invalid)?;
        Ok(Self {
            config,
            url,
            guard,
            http,
        })
    }
}

#[async_trait]
impl DeliveryChannel for TwilioSms {
    fn channel(&self) -> OtpChannel {
        OtpChannel::Sms
    }

    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        let to = self.guard.check(message.to())?;
        let body = self.config.templates.render(message)?.short;
        let mut form: Vec<(&str, &str)> = vec![("To", to.as_str())];
        match &self.config.sender {
            TwilioSender::From(from) => form.push(("From", from)),
            TwilioSender::MessagingService(sid) => form.push(("MessagingServiceSid", sid)),
        }
        form.push(("Body", &body));
        if let Some(callback) = &self.config.status_callback {
            form.push(("StatusCallback", callback));
        }
        self.http
            .send(|client| {
                client
                    .post(&self.url)
                    .basic_auth(
                        &self.config.account_sid,
                        Some(self.config.auth_token.expose_secret()),
                    )
                    .form(&form)
            })
            .await
    }
}

/// Settings of [`JsonSms`]. `Debug` hides the auth header value.
#[derive(Debug, Clone)]
pub struct JsonSmsConfig {
    /// Endpoint receiving `POST` requests.
    pub url: String,
    /// Authentication header, e.g. `("Authorization", "Bearer …")`.
    pub auth_header: Option<(String, SecretString)>,
    /// The JSON body. Every string in it has `{{to}}` replaced by the E.164
    /// number and `{{text}}` by the message text, after JSON parsing, so
    /// the values are always correctly escaped.
    pub body_template: serde_json::Value,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Retries of temporary failures.
    pub retry: RetryPolicy,
    /// What the messages say (their short text is `{{text}}`).
    pub templates: Templates,
}

impl JsonSmsConfig {
    /// Settings with no auth header, 10 s timeout, default retries and the
    /// shipped templates.
    #[must_use]
    pub fn new(url: impl Into<String>, body_template: serde_json::Value) -> Self {
        Self {
            url: url.into(),
            auth_header: None,
            body_template,
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            templates: Templates::shipped(),
        }
    }
}

/// SMS through any provider taking a JSON `POST`.
///
/// ```
/// use mfa_core::crypto::SecretString;
/// use mfa_delivery::phone::SmsGuard;
/// use mfa_delivery::sms::{JsonSms, JsonSmsConfig};
///
/// let mut config = JsonSmsConfig::new(
///     "https://sms.example/v1/messages",
///     serde_json::json!({ "recipient": "{{to}}", "message": { "text": "{{text}}" } }),
/// );
/// config.auth_header = Some(("Authorization".into(), SecretString::from("Bearer key")));
/// let sms = JsonSms::new(config, SmsGuard::builder().allow_regions(["CH"]).build()?)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct JsonSms {
    config: JsonSmsConfig,
    auth_name: Option<reqwest::header::HeaderName>,
    guard: SmsGuard,
    http: HttpSender,
}

impl JsonSms {
    /// Validates the settings and builds the client.
    ///
    /// # Errors
    /// [`SmsConfigError::Invalid`] for a URL that is not `http(s)://`, an
    /// invalid header name or a template without `{{to}}` or `{{text}}`.
    pub fn new(config: JsonSmsConfig, guard: SmsGuard) -> Result<Self, SmsConfigError> {
        check_url(&config.url)?;
        let auth_name = match &config.auth_header {
            Some((name, value)) => {
                reqwest::header::HeaderValue::from_str(value.expose_secret())
                    .map_err(|_| SmsConfigError::Invalid("auth header value".into()))?;
                Some(
                    reqwest::header::HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| SmsConfigError::Invalid("auth header name".into()))?,
                )
            }
            None => None,
        };
        let template = config.body_template.to_string();
        if !template.contains("{{to}}") || !template.contains("{{text}}") {
            return Err(SmsConfigError::Invalid(
                "body template needs {{to}} and {{text}}".into(),
            ));
        }
        let http =
            HttpSender::new(config.timeout, config.retry).map_err(SmsConfigError::Invalid)?;
        Ok(Self {
            config,
            auth_name,
            guard,
            http,
        })
    }
}

/// Replaces the placeholders in every string of `value`.
fn fill(value: &serde_json::Value, to: &str, text: &str) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(s.replace("{{to}}", to).replace("{{text}}", text)),
        Value::Array(items) => Value::Array(items.iter().map(|v| fill(v, to, text)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), fill(v, to, text)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[async_trait]
impl DeliveryChannel for JsonSms {
    fn channel(&self) -> OtpChannel {
        OtpChannel::Sms
    }

    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        let to = self.guard.check(message.to())?;
        let text = self.config.templates.render(message)?.short;
        let body = fill(&self.config.body_template, to.as_str(), &text);
        self.http
            .send(|client| {
                let request = client.post(&self.config.url).json(&body);
                match (&self.auth_name, &self.config.auth_header) {
                    (Some(name), Some((_, value))) => {
                        request.header(name.clone(), value.expose_secret())
                    }
                    _ => request,
                }
            })
            .await
    }
}

fn check_url(url: &str) -> Result<(), SmsConfigError> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(())
    } else {
        Err(SmsConfigError::Invalid(format!("URL {url:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_placeholders_are_filled_in_every_string() {
        let t = serde_json::json!({"a": "{{to}}", "b": ["x {{text}}", 1], "c": {"d": "{{text}}"}});
        let v = fill(&t, "+41791234567", "hi \"there\"");
        assert_eq!(
            v,
            serde_json::json!({"a": "+41791234567", "b": ["x hi \"there\"", 1], "c": {"d": "hi \"there\""}})
        );
    }

    #[test]
    fn config_debug_hides_the_token() {
        let c = TwilioConfig::new(
            "AC1",
            SecretString::from("super-secret-token"),
            TwilioSender::From("+15005550006".into()),
        );
        assert!(!format!("{c:?}").contains("super-secret-token"));
        let mut j = JsonSmsConfig::new("https://x", serde_json::json!({}));
        j.auth_header = Some(("Authorization".into(), SecretString::from("Bearer hunter2")));
        assert!(!format!("{j:?}").contains("hunter2"));
    }
}

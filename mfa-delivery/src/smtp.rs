//! Email over SMTP with lettre: STARTTLS, implicit TLS or plain (local
//! relays only), authentication, a connection pool and timeouts.
//!
//! Each message is `multipart/alternative` (plain text + HTML) with `From`,
//! `To`, `Subject`, `Date` and `Message-ID`; for a code, the code leads the
//! subject so it shows in previews. What they say is
//! [`SmtpConfig::templates`] ([`mfa_core::template`]).

use crate::retry::RetryPolicy;
use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::{AsyncSmtpTransport, PoolConfig};
use lettre::{AsyncTransport, Tokio1Executor};
use mfa_core::crypto::{ExposeSecret, SecretString};
use mfa_core::delivery::{DeliveryChannel, DeliveryError, Message};
use mfa_core::model::OtpChannel;
use mfa_core::template::{TemplateError, Templates};
use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with `STARTTLS`, which is required: a
    /// server not offering it fails with [`SmtpError::Tls`]. Port 587.
    #[default]
    StartTls,
    /// TLS from the first byte ("SMTPS"). Port 465.
    ImplicitTls,
    /// No encryption at all. Only for a relay on the same host or a
    /// trusted private network (and for tests). Port 25.
    Plain,
}

impl SmtpSecurity {
    /// The usual port for this mode.
    #[must_use]
    pub const fn default_port(self) -> u16 {
        match self {
            Self::StartTls => 587,
            Self::ImplicitTls => 465,
            Self::Plain => 25,
        }
    }
}

/// Settings of [`SmtpChannel`]. `Debug` hides the password.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// Server host name (also the name its TLS certificate must carry).
    pub host: String,
    /// Server port; `None` picks the usual port of [`SmtpConfig::security`].
    pub port: Option<u16>,
    /// Connection security.
    pub security: SmtpSecurity,
    /// Extra trusted root certificate (PEM) for a private relay, added to
    /// the public roots.
    pub root_certificate_pem: Option<Vec<u8>>,
    /// User name and password for `AUTH`, if the server requires it.
    pub credentials: Option<(String, SecretString)>,
    /// The `From` mailbox, e.g. `Acme Security <security@acme.example>`.
    pub from: String,
    /// Name sent in `EHLO`; `None` uses the machine's host name.
    pub hello_name: Option<String>,
    /// Timeout of each network operation; the whole send is bounded by
    /// three times this.
    pub timeout: Duration,
    /// Most pooled connections.
    pub pool_max_size: u32,
    /// Retries of temporary failures (SMTP 4xx, connection errors,
    /// timeouts).
    pub retry: RetryPolicy,
    /// What the emails say (subject, text and HTML parts).
    pub templates: Templates,
}

impl SmtpConfig {
    /// Settings for `host` with STARTTLS on port 587, no authentication,
    /// a 10 s timeout, a pool of 4 connections, default retries and the
    /// shipped templates.
    #[must_use]
    pub fn new(host: impl Into<String>, from: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port: None,
            security: SmtpSecurity::StartTls,
            root_certificate_pem: None,
            credentials: None,
            from: from.into(),
            hello_name: None,
            timeout: Duration::from_secs(10),
            pool_max_size: 4,
            retry: RetryPolicy::default(),
            templates: Templates::shipped(),
        }
    }
}

/// Why an email was not sent (or the channel not built).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SmtpError {
    /// The configuration is invalid.
    #[error("invalid SMTP configuration: {0}")]
    Config(String),
    /// The recipient is not an email address.
    #[error("invalid recipient address")]
    InvalidRecipient,
    /// TLS could not be established (server without STARTTLS, handshake or
    /// certificate failure).
    #[error("SMTP TLS failure: {0}")]
    Tls(String),
    /// The server refused the credentials or offers no usable mechanism.
    #[error("SMTP authentication failed: {0}")]
    Auth(String),
    /// The server refused the message permanently (SMTP 5xx).
    #[error("SMTP server rejected the message ({code}): {reason}")]
    Rejected {
        /// The SMTP reply code.
        code: u16,
        /// The error as lettre describes it.
        reason: String,
    },
    /// The exchange broke off in an unexpected way.
    #[error("SMTP protocol error: {0}")]
    Protocol(String),
    /// A temporary failure (SMTP 4xx, connection or network error).
    #[error("temporary SMTP failure: {0}")]
    Transient(String),
    /// The server did not answer in time.
    #[error("SMTP timeout")]
    Timeout,
    /// The message's template failed (see [`SmtpConfig::templates`]).
    #[error("message template: {0}")]
    Template(#[from] TemplateError),
}

impl SmtpError {
    /// Whether a later retry may succeed.
    #[must_use]
    pub const fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_) | Self::Timeout)
    }
}

impl From<SmtpError> for DeliveryError {
    fn from(e: SmtpError) -> Self {
        match e {
            SmtpError::InvalidRecipient => Self::InvalidDestination,
            e if e.is_transient() => Self::Transient(e.to_string()),
            e => Self::Rejected(e.to_string()),
        }
    }
}

/// Whether an I/O error with kind `InvalidData` is in the chain: that is
/// how tokio-rustls reports a failed handshake (e.g. a plain-text server
/// answering an implicit-TLS client).
fn has_invalid_data(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::InvalidData
        {
            return true;
        }
        current = err.source();
    }
    false
}

fn classify(e: &lettre::transport::smtp::Error, security: SmtpSecurity) -> SmtpError {
    let text = e.to_string();
    if e.is_timeout() {
        return SmtpError::Timeout;
    }
    if e.is_tls()
        || (security != SmtpSecurity::Plain && e.status().is_none() && has_invalid_data(e))
    {
        return SmtpError::Tls(text);
    }
    if let Some(code) = e.status() {
        let code = u16::from(code);
        return match code {
            // 530 auth required, 534 mechanism too weak, 535 bad
            // credentials, 538 encryption required for the mechanism,
            // 454 temporary auth failure.
            530 | 534 | 535 | 538 | 454 => SmtpError::Auth(text),
            _ if e.is_transient() => SmtpError::Transient(text),
            _ => SmtpError::Rejected { code, reason: text },
        };
    }
    if e.is_client() {
        let lower = text.to_ascii_lowercase();
        if lower.contains("starttls") {
            return SmtpError::Tls(text);
        }
        if lower.contains("authentication") {
            return SmtpError::Auth(text);
        }
        return SmtpError::Protocol(text);
    }
    if e.is_response() {
        return SmtpError::Protocol(text);
    }
    SmtpError::Transient(text)
}

/// Email through an SMTP server.
///
/// The pool is created on the first send, inside the caller's Tokio
/// runtime, so building the channel needs no runtime.
///
/// ```
/// use mfa_core::crypto::SecretString;
/// use mfa_delivery::smtp::{SmtpChannel, SmtpConfig, SmtpSecurity};
///
/// let mut config = SmtpConfig::new("smtp.example.com", "Acme <security@acme.example>");
/// config.security = SmtpSecurity::StartTls;
/// config.credentials = Some(("apikey".into(), SecretString::from("smtp-password")));
/// let email = SmtpChannel::new(config)?;
/// // Mfa::builder().email(std::sync::Arc::new(email))…
/// # Ok::<(), mfa_delivery::smtp::SmtpError>(())
/// ```
pub struct SmtpChannel {
    config: SmtpConfig,
    from: Mailbox,
    tls: Tls,
    transport: OnceLock<AsyncSmtpTransport<Tokio1Executor>>,
}

impl fmt::Debug for SmtpChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpChannel")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SmtpChannel {
    /// Validates the settings.
    ///
    /// # Errors
    /// [`SmtpError::Config`] for an empty host, an unparsable `From`
    /// mailbox or hello name, a bad certificate or a zero pool size.
    pub fn new(config: SmtpConfig) -> Result<Self, SmtpError> {
        if config.host.trim().is_empty() {
            return Err(SmtpError::Config("empty host".into()));
        }
        if config.pool_max_size == 0 {
            return Err(SmtpError::Config("pool size 0".into()));
        }
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| SmtpError::Config(format!("From mailbox: {e}")))?;
        let tls = match config.security {
            SmtpSecurity::Plain => Tls::None,
            SmtpSecurity::StartTls => Tls::Required(tls_parameters(&config)?),
            SmtpSecurity::ImplicitTls => Tls::Wrapper(tls_parameters(&config)?),
        };
        Ok(Self {
            config,
            from,
            tls,
            transport: OnceLock::new(),
        })
    }

    fn transport(&self) -> &AsyncSmtpTransport<Tokio1Executor> {
        self.transport.get_or_init(|| {
            let c = &self.config;
            let mut builder =
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(c.host.clone())
                    .port(c.port.unwrap_or(c.security.default_port()))
                    .tls(self.tls.clone())
                    .timeout(Some(c.timeout))
                    .pool_config(PoolConfig::new().max_size(c.pool_max_size));
            if let Some(name) = &c.hello_name {
                builder = builder.hello_name(ClientId::Domain(name.clone()));
            }
            if let Some((user, password)) = &c.credentials {
                builder = builder.credentials(Credentials::new(
                    user.clone(),
                    password.expose_secret().to_owned(),
                ));
            }
            builder.build()
        })
    }

    /// Builds the email for `message`.
    ///
    /// # Errors
    /// [`SmtpError::InvalidRecipient`] when the destination is not an
    /// email address, [`SmtpError::Template`] when a template fails.
    pub fn build_email(&self, message: &Message) -> Result<lettre::Message, SmtpError> {
        let to: Mailbox = message
            .to()
            .parse()
            .map_err(|_| SmtpError::InvalidRecipient)?;
        let rendered = self.config.templates.render(message)?;
        let message_id = format!("<{}@{}>", uuid::Uuid::new_v4(), self.from.email.domain());
        lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject)
            .date_now()
            .message_id(Some(message_id))
            .multipart(MultiPart::alternative_plain_html(
                rendered.text,
                rendered.html,
            ))
            .map_err(|e| SmtpError::Protocol(format!("building the email: {e}")))
    }

    /// Sends `message` and reports exactly what failed.
    ///
    /// # Errors
    /// See [`SmtpError`]; temporary failures are retried per
    /// [`SmtpConfig::retry`] first.
    pub async fn send_email(&self, message: &Message) -> Result<(), SmtpError> {
        let email = self.build_email(message)?;
        let transport = self.transport();
        let limit = self.config.timeout.saturating_mul(3);
        let max = self.config.retry.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let result = match tokio::time::timeout(limit, transport.send(email.clone())).await {
                Ok(Ok(_response)) => Ok(()),
                Ok(Err(e)) => Err(classify(&e, self.config.security)),
                Err(_elapsed) => Err(SmtpError::Timeout),
            };
            match result {
                Err(e) if e.is_transient() && attempt < max => {
                    tracing::debug!(attempt, error = %e, "SMTP send failed temporarily; retrying");
                    tokio::time::sleep(self.config.retry.backoff(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

fn tls_parameters(config: &SmtpConfig) -> Result<TlsParameters, SmtpError> {
    let mut builder = TlsParameters::builder(config.host.clone());
    if let Some(pem) = &config.root_certificate_pem {
        let cert = Certificate::from_pem(pem)
            .map_err(|e| SmtpError::Config(format!("root certificate: {e}")))?;
        builder = builder.add_root_certificate(cert);
    }
    builder
        .build_rustls()
        .map_err(|e| SmtpError::Config(format!("TLS: {e}")))
}

#[async_trait]
impl DeliveryChannel for SmtpChannel {
    fn channel(&self) -> OtpChannel {
        OtpChannel::Email
    }

    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        self.send_email(message).await.map_err(DeliveryError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_debug_hides_the_password() {
        let mut c = SmtpConfig::new("smtp.example.com", "a@example.com");
        c.credentials = Some(("user".into(), SecretString::from("pa55w0rd-xyz")));
        assert!(!format!("{c:?}").contains("pa55w0rd-xyz"));
        let channel = SmtpChannel::new(c).unwrap();
        assert!(!format!("{channel:?}").contains("pa55w0rd-xyz"));
    }

    #[test]
    fn bad_settings_are_refused_at_construction() {
        assert!(matches!(
            SmtpChannel::new(SmtpConfig::new("", "a@example.com")),
            Err(SmtpError::Config(_))
        ));
        assert!(matches!(
            SmtpChannel::new(SmtpConfig::new("smtp.example.com", "not a mailbox")),
            Err(SmtpError::Config(_))
        ));
    }
}

//! A development channel that prints each message, code included, through
//! `tracing`, and refuses to exist in production.

use async_trait::async_trait;
use mfa_core::delivery::{DeliveryChannel, DeliveryError, Message};
use mfa_core::model::OtpChannel;
use mfa_core::template::Templates;

/// The environment variable naming the deployment environment.
pub const ENV_VAR: &str = "MFA_ENV";

/// Why a [`LogChannel`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LogChannelError {
    /// `MFA_ENV` says production: codes must not reach the logs.
    #[error("the log channel prints one-time codes and is refused when MFA_ENV=production")]
    Production,
}

/// Prints every message, including one-time codes, at `INFO` level on the
/// `mfa_delivery::log` target. For local development only: that is the one
/// place in this crate where a code is logged, and construction fails when
/// `MFA_ENV` is `production` (or `prod`, any case).
///
/// ```
/// use mfa_core::model::OtpChannel;
/// use mfa_delivery::log::{LogChannel, LogChannelError};
///
/// let dev = LogChannel::with_env(OtpChannel::Email, |_| Some("development".into()));
/// assert!(dev.is_ok());
/// let prod = LogChannel::with_env(OtpChannel::Email, |_| Some("production".into()));
/// assert_eq!(prod.unwrap_err(), LogChannelError::Production);
/// ```
#[derive(Debug, Clone)]
pub struct LogChannel {
    channel: OtpChannel,
    templates: Templates,
}

impl LogChannel {
    /// A log channel standing in for `channel`, checking the process
    /// environment.
    ///
    /// # Errors
    /// [`LogChannelError::Production`] when `MFA_ENV` is `production`.
    pub fn new(channel: OtpChannel) -> Result<Self, LogChannelError> {
        Self::with_env(channel, |key| std::env::var(key).ok())
    }

    /// Like [`LogChannel::new`], reading variables through `lookup`.
    ///
    /// # Errors
    /// [`LogChannelError::Production`] when `lookup("MFA_ENV")` is
    /// `production`.
    pub fn with_env<F>(channel: OtpChannel, lookup: F) -> Result<Self, LogChannelError>
    where
        F: Fn(&str) -> Option<String>,
    {
        let env = lookup(ENV_VAR).unwrap_or_default();
        let env = env.trim();
        if env.eq_ignore_ascii_case("production") || env.eq_ignore_ascii_case("prod") {
            return Err(LogChannelError::Production);
        }
        Ok(Self {
            channel,
            templates: Templates::shipped(),
        })
    }

    /// Renders with `templates` instead of the shipped ones.
    #[must_use]
    pub fn with_templates(mut self, templates: Templates) -> Self {
        self.templates = templates;
        self
    }
}

#[async_trait]
impl DeliveryChannel for LogChannel {
    fn channel(&self) -> OtpChannel {
        self.channel
    }

    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        let rendered = self.templates.render(message)?;
        // Printing the code is this channel's purpose (development only).
        let code = match message {
            Message::Otp(m) => Some(m.code.expose()),
            Message::Link(m) => Some(m.token.expose()),
            Message::Notification(_) => None,
        };
        tracing::info!(
            target: "mfa_delivery::log",
            channel = self.channel.as_str(),
            to = message.to(),
            code,
            subject = %rendered.subject,
            text = %rendered.text,
            "message (development log channel)"
        );
        Ok(())
    }
}

//! How messages leave the engine: the [`DeliveryChannel`] trait and the
//! messages it carries. Transports (SMTP, SMS gateways, webhooks) live in
//! other crates; this module only defines the contract. What a message
//! says, in which language, is [`crate::template`]'s.

use crate::crypto::OtpCode;
use crate::model::{ChallengePurpose, NotificationId, NotificationKind, OtpChannel};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::fmt;

/// A one-time code on its way to the user.
///
/// `Debug` never shows the code.
#[derive(Clone)]
pub struct OtpMessage {
    /// Email address or E.164 number.
    pub to: String,
    /// The code. Transports put it in the message and nowhere else (no logs).
    pub code: OtpCodeText,
    /// Why the code was sent.
    pub purpose: ChallengePurpose,
    /// When the code stops working.
    pub expires_at: DateTime<Utc>,
    /// Product name for the message.
    pub product_name: String,
    /// Recipient's locale, if known.
    pub locale: Option<String>,
}

/// The text of a code inside a message: readable by a transport through
/// [`OtpCodeText::expose`], redacted in `Debug`.
#[derive(Clone)]
pub struct OtpCodeText(std::sync::Arc<OtpCode>);

impl OtpCodeText {
    /// Wraps a generated code.
    #[must_use]
    pub fn new(code: OtpCode) -> Self {
        Self(std::sync::Arc::new(code))
    }

    /// The digits.
    #[must_use]
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for OtpCodeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Debug for OtpMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtpMessage")
            .field("to", &self.to)
            .field("code", &self.code)
            .field("purpose", &self.purpose)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What a [`LinkMessage`] lets its reader do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkPurpose {
    /// Set a new password ([`crate::Mfa::request_password_reset`]).
    PasswordReset,
    /// Prove the address receives mail ([`crate::Mfa::send_email_verification`]).
    EmailVerification,
}

impl LinkPurpose {
    /// Every purpose, in declaration order.
    pub const ALL: [Self; 2] = [Self::PasswordReset, Self::EmailVerification];

    /// The purpose's name in templates: `password_reset`,
    /// `email_verification`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::EmailVerification => "email_verification",
        }
    }
}

/// A single-use link (or the token to paste) on its way to an email
/// address: a password reset or an address verification.
///
/// `Debug` never shows the token or the link.
#[derive(Clone)]
pub struct LinkMessage {
    /// Email address.
    pub to: String,
    /// What the link is for.
    pub purpose: LinkPurpose,
    /// The token, for a reader who pastes it; transports put it in the
    /// message and nowhere else.
    pub token: LinkSecret,
    /// The link carrying the token, when the host configured one
    /// ([`crate::MfaBuilder::links`]).
    pub url: Option<LinkSecret>,
    /// When the token stops working.
    pub expires_at: DateTime<Utc>,
    /// Product name for the message.
    pub product_name: String,
    /// Recipient's locale, if known.
    pub locale: Option<String>,
}

/// A secret inside a [`LinkMessage`] (the token, or the link that carries
/// it): readable through [`LinkSecret::expose`], redacted in `Debug`.
#[derive(Clone)]
pub struct LinkSecret(std::sync::Arc<zeroize::Zeroizing<String>>);

impl LinkSecret {
    /// Wraps the text.
    #[must_use]
    pub fn new(text: String) -> Self {
        Self(std::sync::Arc::new(zeroize::Zeroizing::new(text)))
    }

    /// The text.
    #[must_use]
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Debug for LinkSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Debug for LinkMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkMessage")
            .field("to", &self.to)
            .field("purpose", &self.purpose)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A security notification on its way to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationMessage {
    /// Identifier, usable as an idempotency key.
    pub id: NotificationId,
    /// Email address or E.164 number.
    pub to: String,
    /// Which event.
    pub kind: NotificationKind,
    /// Non-secret template values (device, IP, country, method…).
    pub details: serde_json::Value,
    /// When the event happened.
    pub at: DateTime<Utc>,
    /// Product name for the message.
    pub product_name: String,
    /// Recipient's locale, if known.
    pub locale: Option<String>,
}

/// Anything the engine sends.
#[derive(Debug, Clone)]
pub enum Message {
    /// A one-time code.
    Otp(OtpMessage),
    /// A security notification.
    Notification(NotificationMessage),
    /// A password reset or email verification link.
    Link(LinkMessage),
}

impl Message {
    /// The destination.
    #[must_use]
    pub fn to(&self) -> &str {
        match self {
            Self::Otp(m) => &m.to,
            Self::Notification(m) => &m.to,
            Self::Link(m) => &m.to,
        }
    }
}

/// Why a message could not be delivered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The destination is not acceptable to this channel.
    #[error("invalid destination")]
    InvalidDestination,
    /// The destination is gone for good: the push service says the
    /// subscription, registration or device token no longer exists (the
    /// app was removed or the browser unsubscribed). Stop sending to it.
    #[error("destination gone")]
    Gone,
    /// The provider refused the message; retrying will not help.
    #[error("message rejected: {0}")]
    Rejected(String),
    /// A temporary failure (timeout, 5xx, connection); a retry may succeed.
    #[error("temporary delivery failure: {0}")]
    Transient(String),
}

/// A message whose template fails is refused: sending it again renders it
/// the same way.
impl From<crate::template::TemplateError> for DeliveryError {
    fn from(e: crate::template::TemplateError) -> Self {
        Self::Rejected(e.to_string())
    }
}

/// A transport for messages: email, SMS, push or anything else.
///
/// Implementations MUST NOT log the code of an [`OtpMessage`]. They SHOULD
/// time out rather than hang: the engine awaits the send before answering
/// the user.
#[async_trait]
pub trait DeliveryChannel: Send + Sync {
    /// Which kind of destination this channel accepts.
    fn channel(&self) -> OtpChannel;

    /// Sends one message.
    async fn send(&self, message: &Message) -> Result<(), DeliveryError>;
}

/// A push to the phone app: a sign-in waits for its approval.
///
/// It carries no secret and no number: the app fetches what it shows (the
/// sign-in's context and the three numbers) with the request id
/// ([`crate::Mfa::push_request_for_app`]), so nothing sensitive travels
/// through the push service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushNotice {
    /// The request to show and answer.
    pub request: crate::model::PushRequestId,
    /// A title for the notification ("Approve sign-in?").
    pub title: String,
    /// A line of context ("Firefox on Linux, CH").
    pub body: String,
    /// The request cannot be answered from this time on; a push service
    /// may drop the notice after it.
    pub expires_at: DateTime<Utc>,
    /// The product's name.
    pub product_name: String,
}

/// Sends push approval notices to phone apps (implemented for
/// `mfa_delivery::push::PushRouter`).
///
/// A device's push address is kept as the JSON its app sent (for example
/// `{"kind": "fcm", "token": "…"}`), sealed with the factor; the sender
/// decides what is valid.
#[async_trait]
pub trait PushSender: Send + Sync {
    /// Checks a push address before it is stored: its shape, and that a
    /// transport for its kind is configured.
    ///
    /// # Errors
    /// [`DeliveryError::InvalidDestination`] when it is malformed or no
    /// transport serves it.
    fn check_address(&self, address: &serde_json::Value) -> Result<(), DeliveryError>;

    /// Sends one notice to one device.
    ///
    /// # Errors
    /// [`DeliveryError::Gone`] when the service no longer knows the
    /// address (the engine disables that device), or any other
    /// [`DeliveryError`].
    async fn send_push(
        &self,
        address: &serde_json::Value,
        notice: &PushNotice,
    ) -> Result<(), DeliveryError>;
}

/// Masks an email address or phone number for display: `a***@example.com`,
/// `+41 *** ** 67`.
#[must_use]
pub fn mask_destination(destination: &str) -> String {
    if let Some((local, domain)) = destination.split_once('@') {
        let first: String = local.chars().take(1).collect();
        return format!("{first}***@{domain}");
    }
    let digits: Vec<char> = destination.chars().filter(char::is_ascii_digit).collect();
    let shown: String = digits[digits.len().saturating_sub(2)..].iter().collect();
    format!("***{shown}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_masked() {
        assert_eq!(mask_destination("alice@example.com"), "a***@example.com");
        assert_eq!(mask_destination("+41791234567"), "***67");
        assert_eq!(mask_destination(""), "***");
    }

    #[test]
    fn r45_otp_message_debug_hides_the_code() {
        let code = OtpCode::generate(8).unwrap();
        let digits = code.expose().to_owned();
        let msg = OtpMessage {
            to: "a@example.com".into(),
            code: OtpCodeText::new(code),
            purpose: ChallengePurpose::Login,
            expires_at: DateTime::from_timestamp(1_900_000_000, 0).unwrap(),
            product_name: "Test".into(),
            locale: None,
        };
        assert!(!format!("{msg:?}").contains(&digits));
        let rendered = crate::template::Templates::shipped()
            .render(&Message::Otp(msg))
            .unwrap();
        assert!(rendered.short.starts_with(&digits));
    }
}

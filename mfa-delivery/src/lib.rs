//! Transports for [`mfa_core`]: the channels here implement
//! [`DeliveryChannel`](mfa_core::delivery::DeliveryChannel), so the engine
//! sends codes and security notifications through them; the push senders
//! deliver sign-in approvals to devices (see [Push transports](#push-transports)).
//!
//! | channel | module | feature |
//! |---|---|---|
//! | email over SMTP (lettre) | [`smtp`] | `smtp` |
//! | SMS: Twilio-compatible API or any JSON API | [`sms`] | `sms` |
//! | signed JSON webhook (push, in-app, …) | [`webhook`], [`signature`] | `webhook` |
//! | push to devices: Web Push, FCM, APNs | [`push`] | `push` |
//! | development log (prints codes, refused in production) | [`log`] | always |
//! | background queue, fail-over | [`queue`], [`fallback`] | always |
//!
//! Messages are rendered with [`mfa_core::template`] (English and German,
//! text and HTML, chosen by the user's locale); every transport's settings
//! take a [`Templates`](mfa_core::template::Templates), the shipped ones
//! unless the host builds its own (its wording, its languages). SMS destinations pass an
//! [`phone::SmsGuard`] before any request: strict E.164, the number's region
//! and type judged with libphonenumber's metadata (mobile numbers in the
//! host's regions by default, so no premium-rate or shared-cost numbers:
//! SMS pumping), and a per-number quota. HTTP and SMTP transports time out, retry temporary failures
//! with exponential backoff and jitter ([`retry::RetryPolicy`]) and map
//! permanent refusals to
//! [`DeliveryError::Rejected`](mfa_core::delivery::DeliveryError::Rejected).
//! No transport logs a code, except [`log::LogChannel`], whose purpose that
//! is.
//!
//! Nothing is sent until the engine asks for a code, so this runs as is:
//!
//! ```
//! use std::sync::Arc;
//! use chrono::TimeDelta;
//! use mfa_core::crypto::{JwtConfig, JwtKeys, KeyRing, SecretString};
//! use mfa_core::Mfa;
//! use mfa_delivery::phone::SmsGuard;
//! use mfa_delivery::queue::{AuditSink, QueuedChannel};
//! use mfa_delivery::smtp::{SmtpChannel, SmtpConfig};
//! use mfa_delivery::sms::{TwilioConfig, TwilioSender, TwilioSms};
//! use mfa_store_memory::MemoryStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(MemoryStore::new());
//!
//! let mut smtp = SmtpConfig::new("smtp.example.com", "Acme <security@acme.example>");
//! smtp.credentials = Some(("apikey".into(), SecretString::from("smtp-password")));
//! let email = SmtpChannel::new(smtp)?;
//! // Send in the background; failures land in the audit log.
//! let email = QueuedChannel::new(Arc::new(email), 1024, Arc::new(AuditSink(store.clone())));
//!
//! let sms = TwilioSms::new(
//!     TwilioConfig::new(
//!         "AC0123456789abcdef0123456789abcdef",
//!         SecretString::from("twilio-auth-token"),
//!         TwilioSender::From("+15005550006".into()),
//!     ),
//!     SmsGuard::builder()
//!         .allow_regions(["CH", "DE", "US"])
//!         .quota(5, TimeDelta::hours(1))
//!         .build()?,
//! )?;
//!
//! let mut policy = mfa_core::policy::Policy::default();
//! policy.methods.email = true;
//! policy.methods.sms = true;
//! let mfa = Mfa::builder()
//!     .store(store)
//!     .keys(KeyRing::generate())
//!     .tokens(JwtConfig::new("https://auth.example", "api"), JwtKeys::generate_ed25519("k1")?)
//!     .policy(policy)
//!     .email(Arc::new(email))
//!     .sms(Arc::new(sms))
//!     .build()?;
//! # drop(mfa);
//! # Ok(())
//! # }
//! ```
//!
//! # Push transports
//!
//! [`push`] delivers push-approval messages to a device rather than codes
//! to an email address or phone number, so its senders implement
//! [`push::PushTransport`] (`send(address, message)`) instead of
//! `DeliveryChannel`. A device registers a [`push::PushAddress`] (Web Push
//! subscription, FCM token or APNs device token), checked with
//! [`push::PushAddress::validate`] before it is stored;
//! [`push::PushRouter`] sends each address with the configured
//! [`push::web_push`], [`push::fcm`] or [`push::apns`] sender. They share
//! the timeouts and retries above; an address the service no longer knows
//! comes back as
//! [`DeliveryError::Gone`](mfa_core::delivery::DeliveryError::Gone)
//! ([`push::address_is_gone`]), the sign to disable that device.
//!
//! [`push::PushRouter`] is also the engine's
//! [`PushSender`](mfa_core::delivery::PushSender):
//! `MfaBuilder::push(Arc::new(router))` turns push approval on. The router
//! checks the address a device registers (the JSON of a
//! [`push::PushAddress`], of a kind it has a sender for) and turns each
//! [`PushNotice`](mfa_core::delivery::PushNotice) into a message whose data
//! names the request (`type`, `request_id`, `expires_at`) and whose time to
//! live ends with it ([`push::message_of`]).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod fallback;
#[cfg(any(feature = "sms", feature = "webhook", feature = "push"))]
mod http;
pub mod log;
#[cfg(feature = "sms")]
pub mod phone;
#[cfg(feature = "push")]
pub mod push;
pub mod queue;
pub mod retry;
pub mod signature;
#[cfg(feature = "sms")]
pub mod sms;
#[cfg(feature = "smtp")]
pub mod smtp;
#[cfg(feature = "webhook")]
pub mod webhook;

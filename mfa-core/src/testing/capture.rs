//! A delivery channel that records messages instead of sending them, so flow
//! tests can read the code a user would have received.

use crate::delivery::{DeliveryChannel, DeliveryError, Message};
use crate::model::{NotificationKind, OtpChannel};
use async_trait::async_trait;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Records every message; can be told to fail.
#[derive(Debug)]
pub struct CapturingChannel {
    channel: OtpChannel,
    sent: Mutex<Vec<Message>>,
    failing: AtomicBool,
}

impl CapturingChannel {
    /// A channel for `channel` destinations.
    #[must_use]
    pub fn new(channel: OtpChannel) -> Self {
        Self {
            channel,
            sent: Mutex::new(Vec::new()),
            failing: AtomicBool::new(false),
        }
    }

    /// An email channel.
    #[must_use]
    pub fn email() -> Self {
        Self::new(OtpChannel::Email)
    }

    /// An SMS channel.
    #[must_use]
    pub fn sms() -> Self {
        Self::new(OtpChannel::Sms)
    }

    /// Makes every later send fail (or succeed again).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Message>> {
        self.sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every message sent so far.
    #[must_use]
    pub fn messages(&self) -> Vec<Message> {
        self.lock().clone()
    }

    /// The code of the latest one-time-code message to `to`.
    #[must_use]
    pub fn last_code(&self, to: &str) -> Option<String> {
        self.lock().iter().rev().find_map(|m| match m {
            Message::Otp(otp) if otp.to == to => Some(otp.code.expose().to_owned()),
            _ => None,
        })
    }

    /// The token of the latest link message of `purpose` to `to`.
    #[must_use]
    pub fn last_link(&self, to: &str, purpose: crate::delivery::LinkPurpose) -> Option<String> {
        self.lock().iter().rev().find_map(|m| match m {
            Message::Link(link) if link.to == to && link.purpose == purpose => {
                Some(link.token.expose().to_owned())
            }
            _ => None,
        })
    }

    /// Kinds of the notifications sent to `to`, oldest first.
    #[must_use]
    pub fn notifications(&self, to: &str) -> Vec<NotificationKind> {
        self.lock()
            .iter()
            .filter_map(|m| match m {
                Message::Notification(n) if n.to == to => Some(n.kind),
                _ => None,
            })
            .collect()
    }

    /// Number of one-time-code messages sent.
    #[must_use]
    pub fn codes_sent(&self) -> usize {
        self.lock()
            .iter()
            .filter(|m| matches!(m, Message::Otp(_)))
            .count()
    }
}

#[async_trait]
impl DeliveryChannel for CapturingChannel {
    fn channel(&self) -> OtpChannel {
        self.channel
    }

    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(DeliveryError::Transient(
                "capturing channel set to fail".into(),
            ));
        }
        self.lock().push(message.clone());
        Ok(())
    }
}

/// A push sender that records notices instead of sending them, so flow
/// tests can play the phone app. Addresses are `{"kind": "test", "token":
/// "…"}` (1 to 64 characters); a token can be declared gone.
#[derive(Debug, Default)]
pub struct CapturingPush {
    sent: Mutex<Vec<(String, crate::delivery::PushNotice)>>,
    gone: Mutex<Vec<String>>,
    failing: AtomicBool,
}

impl CapturingPush {
    /// A sender with nothing sent.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The address of a test device with `token`.
    #[must_use]
    pub fn address(token: &str) -> serde_json::Value {
        serde_json::json!({ "kind": "test", "token": token })
    }

    /// Makes the service answer "gone" for `token` from now on.
    pub fn set_gone(&self, token: &str) {
        self.gone
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(token.to_owned());
    }

    /// Makes every later send fail temporarily (or succeed again).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    fn sent(&self) -> std::sync::MutexGuard<'_, Vec<(String, crate::delivery::PushNotice)>> {
        self.sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The notices delivered to `token`, oldest first.
    #[must_use]
    pub fn notices_to(&self, token: &str) -> Vec<crate::delivery::PushNotice> {
        self.sent()
            .iter()
            .filter(|(to, _)| to == token)
            .map(|(_, n)| n.clone())
            .collect()
    }

    /// Every notice delivered, to any device.
    #[must_use]
    pub fn count(&self) -> usize {
        self.sent().len()
    }

    fn token(address: &serde_json::Value) -> Result<String, DeliveryError> {
        let object = address
            .as_object()
            .ok_or(DeliveryError::InvalidDestination)?;
        let token = object
            .get("token")
            .and_then(serde_json::Value::as_str)
            .filter(|t| (1..=64).contains(&t.len()))
            .ok_or(DeliveryError::InvalidDestination)?;
        if object.len() != 2
            || object.get("kind").and_then(serde_json::Value::as_str) != Some("test")
        {
            return Err(DeliveryError::InvalidDestination);
        }
        Ok(token.to_owned())
    }
}

#[async_trait]
impl crate::delivery::PushSender for CapturingPush {
    fn check_address(&self, address: &serde_json::Value) -> Result<(), DeliveryError> {
        Self::token(address).map(|_| ())
    }

    async fn send_push(
        &self,
        address: &serde_json::Value,
        notice: &crate::delivery::PushNotice,
    ) -> Result<(), DeliveryError> {
        let token = Self::token(address)?;
        if self
            .gone
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&token)
        {
            return Err(DeliveryError::Gone);
        }
        if self.failing.load(Ordering::SeqCst) {
            return Err(DeliveryError::Transient(
                "capturing push set to fail".into(),
            ));
        }
        self.sent().push((token, notice.clone()));
        Ok(())
    }
}

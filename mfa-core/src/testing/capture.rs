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

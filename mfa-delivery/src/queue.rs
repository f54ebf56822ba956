//! Background delivery: [`QueuedChannel`] answers as soon as a message is
//! queued and reports later failures to a [`FailureSink`].

use async_trait::async_trait;
use chrono::Utc;
use mfa_core::delivery::{DeliveryChannel, DeliveryError, Message, mask_destination};
use mfa_core::model::{AuditEvent, AuditKind, AuditOutcome, NotificationKind, OtpChannel};
use mfa_core::store::AuditRepository;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A message the background worker could not deliver. Carries no code.
#[derive(Debug)]
pub struct DeliveryFailure {
    /// The channel kind of the wrapped transport.
    pub channel: OtpChannel,
    /// The destination, masked (`a***@example.com`, `***67`).
    pub masked_to: String,
    /// The notification kind, or `None` for a one-time code.
    pub notification: Option<NotificationKind>,
    /// What went wrong.
    pub error: DeliveryError,
}

/// Where [`QueuedChannel`] reports failed background deliveries.
///
/// Two ready-made sinks: [`AuditSink`] appends to the engine's audit log,
/// [`FnSink`] calls a closure.
#[async_trait]
pub trait FailureSink: Send + Sync {
    /// Records one failure. Must not panic; errors are the sink's to handle.
    async fn report(&self, failure: DeliveryFailure);
}

/// Appends each failure to an [`AuditRepository`] (usually the engine's
/// store) as an `otp_sent` or `notification_sent` event with outcome
/// `failure` and metadata `{channel, to (masked), notification, error,
/// queued: true}`. The user is not known to a transport, so `user_id` is
/// empty; correlate through the masked destination and time.
#[derive(Clone)]
pub struct AuditSink(pub Arc<dyn AuditRepository>);

impl fmt::Debug for AuditSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditSink")
    }
}

#[async_trait]
impl FailureSink for AuditSink {
    async fn report(&self, failure: DeliveryFailure) {
        let kind = if failure.notification.is_some() {
            AuditKind::NotificationSent
        } else {
            AuditKind::OtpSent
        };
        let mut event = AuditEvent::new(kind, AuditOutcome::Failure, Utc::now());
        event.metadata = serde_json::json!({
            "channel": failure.channel.as_str(),
            "to": failure.masked_to,
            "notification": failure.notification.map(NotificationKind::as_str),
            "error": failure.error.to_string(),
            "queued": true,
        });
        if let Err(e) = self.0.append_audit(&event).await {
            tracing::warn!(error = %e, "could not audit a failed queued delivery");
        }
    }
}

/// Calls a closure with each failure.
pub struct FnSink<F>(pub F);

impl<F> fmt::Debug for FnSink<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnSink")
    }
}

#[async_trait]
impl<F> FailureSink for FnSink<F>
where
    F: Fn(DeliveryFailure) + Send + Sync,
{
    async fn report(&self, failure: DeliveryFailure) {
        (self.0)(failure);
    }
}

/// Delivers through another channel from a bounded queue in a background
/// Tokio task.
///
/// [`DeliveryChannel::send`] returns `Ok` as soon as the message is queued,
/// so the engine's own audit records the hand-over, not the delivery; the
/// outcome of the delivery goes to the [`FailureSink`] (pass an
/// [`AuditSink`] over the engine's store to audit it). A full queue answers
/// [`DeliveryError::Transient`] at once. Messages are delivered one at a
/// time, in order; the wrapped channel's retries apply.
///
/// ```
/// use std::sync::Arc;
/// use mfa_core::model::OtpChannel;
/// use mfa_delivery::log::LogChannel;
/// use mfa_delivery::queue::{FnSink, QueuedChannel};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let inner = Arc::new(LogChannel::with_env(OtpChannel::Email, |_| None)?);
/// let queued = QueuedChannel::new(
///     inner,
///     1024,
///     Arc::new(FnSink(|failure| tracing::warn!(?failure, "delivery failed"))),
/// );
/// // … hand `Arc::new(queued)` to `Mfa::builder().email(…)` …
/// queued.shutdown().await; // on exit: deliver what is queued, then stop
/// # Ok(())
/// # }
/// ```
pub struct QueuedChannel {
    channel: OtpChannel,
    sender: Mutex<Option<mpsc::Sender<Message>>>,
    worker: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for QueuedChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueuedChannel")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl QueuedChannel {
    /// Wraps `inner` with a queue of `capacity` messages (at least 1) and
    /// starts the worker.
    ///
    /// # Panics
    /// Outside a Tokio runtime (the worker is spawned at once).
    #[must_use]
    pub fn new(
        inner: Arc<dyn DeliveryChannel>,
        capacity: usize,
        sink: Arc<dyn FailureSink>,
    ) -> Self {
        let channel = inner.channel();
        let (tx, mut rx) = mpsc::channel::<Message>(capacity.max(1));
        let worker = tokio::spawn(async move {
            while let Some(message) = rx.recv().await {
                if let Err(error) = inner.send(&message).await {
                    let notification = match &message {
                        Message::Notification(n) => Some(n.kind),
                        Message::Otp(_) | Message::Link(_) => None,
                    };
                    sink.report(DeliveryFailure {
                        channel,
                        masked_to: mask_destination(message.to()),
                        notification,
                        error,
                    })
                    .await;
                }
            }
        });
        Self {
            channel,
            sender: Mutex::new(Some(tx)),
            worker: tokio::sync::Mutex::new(Some(worker)),
        }
    }

    /// Stops accepting messages, delivers those already queued and waits
    /// for the worker to finish. Later sends fail with
    /// [`DeliveryError::Transient`].
    pub async fn shutdown(&self) {
        drop(
            self.sender
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        if let Some(worker) = self.worker.lock().await.take()
            && let Err(e) = worker.await
        {
            tracing::warn!(error = %e, "delivery worker ended abnormally");
        }
    }
}

#[async_trait]
impl DeliveryChannel for QueuedChannel {
    fn channel(&self) -> OtpChannel {
        self.channel
    }

    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        let sender = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(sender) = sender.as_ref() else {
            return Err(DeliveryError::Transient(
                "delivery queue is shut down".into(),
            ));
        };
        sender.try_send(message.clone()).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                DeliveryError::Transient("delivery queue is full".into())
            }
            mpsc::error::TrySendError::Closed(_) => {
                DeliveryError::Transient("delivery queue is shut down".into())
            }
        })
    }
}

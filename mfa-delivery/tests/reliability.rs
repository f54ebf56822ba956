//! Queue, fail-over and the development log channel.

use async_trait::async_trait;
use chrono::Utc;
use mfa_core::delivery::{DeliveryChannel, DeliveryError, Message, NotificationMessage};
use mfa_core::model::{AuditKind, AuditOutcome, NotificationId, NotificationKind, OtpChannel};
use mfa_core::store::{AuditFilter, AuditRepository, PageRequest};
use mfa_delivery::fallback::{FallbackChannel, Route};
use mfa_delivery::log::{LogChannel, LogChannelError};
use mfa_delivery::queue::{AuditSink, DeliveryFailure, FnSink, QueuedChannel};
use mfa_store_memory::MemoryStore;
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, mpsc};

/// Records what it is asked to send; fails when told to.
struct Recorder {
    kind: OtpChannel,
    fail: Option<fn() -> DeliveryError>,
    sent: Mutex<Vec<String>>,
    /// When set, each send reports it started and waits for a permit.
    gate: Option<(mpsc::UnboundedSender<()>, Arc<Semaphore>)>,
}

impl Recorder {
    fn ok(kind: OtpChannel) -> Arc<Self> {
        Arc::new(Self {
            kind,
            fail: None,
            sent: Mutex::default(),
            gate: None,
        })
    }
    fn failing(kind: OtpChannel, fail: fn() -> DeliveryError) -> Arc<Self> {
        Arc::new(Self {
            kind,
            fail: Some(fail),
            sent: Mutex::default(),
            gate: None,
        })
    }
    fn sent(&self) -> Vec<String> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait]
impl DeliveryChannel for Recorder {
    fn channel(&self) -> OtpChannel {
        self.kind
    }
    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        if let Some((started, permits)) = &self.gate {
            started.send(()).unwrap();
            permits.acquire().await.unwrap().forget();
        }
        self.sent.lock().unwrap().push(message.to().to_owned());
        match self.fail {
            Some(f) => Err(f()),
            None => Ok(()),
        }
    }
}

fn note(to: &str) -> Message {
    Message::Notification(NotificationMessage {
        id: NotificationId::new(),
        to: to.into(),
        kind: NotificationKind::PasswordChanged,
        details: serde_json::Value::Null,
        at: Utc::now(),
        product_name: "Acme".into(),
        locale: None,
    })
}

fn no_sink() -> Arc<FnSink<fn(DeliveryFailure)>> {
    Arc::new(FnSink(|f: DeliveryFailure| {
        panic!("unexpected failure {f:?}")
    }))
}

#[tokio::test]
async fn queued_channel_delivers_in_the_background() {
    let inner = Recorder::ok(OtpChannel::Email);
    let queued = QueuedChannel::new(inner.clone(), 8, no_sink());
    assert_eq!(queued.channel(), OtpChannel::Email);
    for to in ["a@example.com", "b@example.com"] {
        queued.send(&note(to)).await.unwrap();
    }
    queued.shutdown().await;
    assert_eq!(inner.sent(), ["a@example.com", "b@example.com"]);
    assert!(matches!(
        queued.send(&note("c@example.com")).await,
        Err(DeliveryError::Transient(_))
    ));
}

#[tokio::test]
async fn full_queue_is_transient() {
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let permits = Arc::new(Semaphore::new(0));
    let inner = Arc::new(Recorder {
        kind: OtpChannel::Sms,
        fail: None,
        sent: Mutex::default(),
        gate: Some((started_tx, permits.clone())),
    });
    let queued = QueuedChannel::new(inner.clone(), 1, no_sink());
    queued.send(&note("+41790000001")).await.unwrap();
    started.recv().await.unwrap(); // the worker holds message 1
    queued.send(&note("+41790000002")).await.unwrap(); // fills the queue
    let r = queued.send(&note("+41790000003")).await;
    assert!(matches!(r, Err(DeliveryError::Transient(_))), "{r:?}");
    permits.add_permits(2);
    queued.shutdown().await;
    assert_eq!(inner.sent(), ["+41790000001", "+41790000002"]);
}

#[tokio::test]
async fn background_failures_reach_the_sink_without_the_message() {
    let inner = Recorder::failing(OtpChannel::Email, || DeliveryError::Rejected("550".into()));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sink = Arc::new(FnSink(move |f: DeliveryFailure| tx.send(f).unwrap()));
    let queued = QueuedChannel::new(inner, 4, sink);
    queued.send(&note("alice@example.com")).await.unwrap();
    let failure = rx.recv().await.unwrap();
    assert_eq!(failure.masked_to, "a***@example.com");
    assert_eq!(
        failure.notification,
        Some(NotificationKind::PasswordChanged)
    );
    assert!(matches!(failure.error, DeliveryError::Rejected(_)));
    queued.shutdown().await;
}

#[tokio::test]
async fn audit_sink_records_background_failures() {
    let store = Arc::new(MemoryStore::new());
    let inner = Recorder::failing(OtpChannel::Sms, || DeliveryError::Transient("503".into()));
    let queued = QueuedChannel::new(inner, 4, Arc::new(AuditSink(store.clone())));
    queued.send(&note("+41791234567")).await.unwrap();
    queued.shutdown().await;
    let page = store
        .query_audit(
            &AuditFilter::default(),
            &PageRequest {
                limit: 10,
                after: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    let event = &page.items[0];
    assert_eq!(event.kind, AuditKind::NotificationSent);
    assert_eq!(event.outcome, AuditOutcome::Failure);
    assert_eq!(event.metadata["to"], "***67");
    assert_eq!(event.metadata["channel"], "sms");
}

#[tokio::test]
async fn fallback_returns_the_first_success() {
    let sms = Recorder::failing(OtpChannel::Sms, || DeliveryError::Transient("down".into()));
    let email = Recorder::ok(OtpChannel::Email);
    let third = Recorder::ok(OtpChannel::Email);
    let fallback = FallbackChannel::from_routes(vec![
        Route::new(sms.clone()),
        Route::with_destination(email.clone(), |_| Some("alice@example.com".into())),
        Route::new(third.clone()),
    ]);
    assert_eq!(fallback.channel(), OtpChannel::Sms);
    fallback.send(&note("+41791234567")).await.unwrap();
    assert_eq!(sms.sent(), ["+41791234567"]);
    assert_eq!(email.sent(), ["alice@example.com"]);
    assert!(third.sent().is_empty());
}

#[tokio::test]
async fn fallback_reports_the_last_error_when_all_fail() {
    let a = Recorder::failing(OtpChannel::Sms, || DeliveryError::Transient("a".into()));
    let b = Recorder::failing(OtpChannel::Sms, || DeliveryError::Rejected("b".into()));
    let fallback = FallbackChannel::new(vec![a.clone(), b.clone()]);
    let r = fallback.send(&note("+41791234567")).await;
    assert!(
        matches!(r, Err(DeliveryError::Rejected(ref m)) if m == "b"),
        "{r:?}"
    );
    assert_eq!(a.sent().len(), 1);
    assert_eq!(b.sent().len(), 1);
}

#[test]
fn log_channel_is_refused_in_production() {
    for value in ["production", "PRODUCTION", " prod "] {
        let r = LogChannel::with_env(OtpChannel::Email, |k| {
            (k == "MFA_ENV").then(|| value.to_owned())
        });
        assert_eq!(r.unwrap_err(), LogChannelError::Production, "{value}");
    }
    for value in [None, Some("development"), Some("staging")] {
        assert!(LogChannel::with_env(OtpChannel::Sms, |_| value.map(str::to_owned)).is_ok());
    }
}

#[tokio::test]
async fn log_channel_sends_in_development() {
    let log = LogChannel::with_env(OtpChannel::Sms, |_| Some("development".into())).unwrap();
    assert_eq!(log.channel(), OtpChannel::Sms);
    log.send(&note("+41791234567")).await.unwrap();
}

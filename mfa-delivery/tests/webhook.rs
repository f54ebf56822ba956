//! Signed webhooks against wiremock, and the receiver's check.
#![cfg(feature = "webhook")]

use chrono::{TimeDelta, Utc};
use mfa_core::crypto::{OtpCode, SecretString};
use mfa_core::delivery::{
    DeliveryChannel, DeliveryError, Message, NotificationMessage, OtpCodeText, OtpMessage,
};
use mfa_core::model::{ChallengePurpose, NotificationId, NotificationKind, OtpChannel};
use mfa_delivery::retry::RetryPolicy;
use mfa_delivery::signature::{SignatureError, verify_signature};
use mfa_delivery::webhook::{PayloadKind, WebhookChannel, WebhookConfig, WebhookPayload};
use std::time::Duration;
use wiremock::matchers::{header, header_exists, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "a-long-shared-webhook-secret";

fn channel(server: &MockServer, kind: OtpChannel) -> WebhookChannel {
    let mut c = WebhookConfig::new(
        format!("{}/hooks/mfa", server.uri()),
        SecretString::from(SECRET),
        kind,
    );
    c.timeout = Duration::from_millis(500);
    c.retry = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
    };
    WebhookChannel::new(c).unwrap()
}

fn otp() -> (String, Message) {
    let code = OtpCode::generate(6).unwrap();
    let digits = code.expose().to_owned();
    let m = Message::Otp(OtpMessage {
        to: "+41791234567".into(),
        code: OtpCodeText::new(code),
        purpose: ChallengePurpose::Login,
        expires_at: Utc::now() + TimeDelta::minutes(5),
        product_name: "Acme".into(),
        locale: None,
    });
    (digits, m)
}

fn notification() -> (NotificationId, Message) {
    let id = NotificationId::new();
    let m = Message::Notification(NotificationMessage {
        id,
        to: "alice@example.com".into(),
        kind: NotificationKind::FactorAdded,
        details: serde_json::json!({"method": "totp"}),
        at: Utc::now(),
        product_name: "Acme".into(),
        locale: Some("de".into()),
    });
    (id, m)
}

fn header_of<'a>(request: &'a wiremock::Request, name: &str) -> &'a str {
    request.headers.get(name).unwrap().to_str().unwrap()
}

async fn accepting(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/hooks/mfa"))
        .and(header("content-type", "application/json"))
        .and(header_exists("x-mfa-timestamp"))
        .and(header_exists("x-mfa-signature"))
        .and(header_exists("idempotency-key"))
        .respond_with(ResponseTemplate::new(204))
        .mount(server)
        .await;
}

#[tokio::test]
async fn otp_webhook_is_signed_and_carries_the_code() {
    let server = MockServer::start().await;
    accepting(&server).await;
    let (code, message) = otp();
    channel(&server, OtpChannel::Sms)
        .send(&message)
        .await
        .unwrap();

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    verify_signature(
        SECRET.as_bytes(),
        header_of(r, "x-mfa-timestamp"),
        header_of(r, "x-mfa-signature"),
        &r.body,
        Utc::now(),
        TimeDelta::minutes(5),
    )
    .unwrap();
    let payload: WebhookPayload = r.body_json().unwrap();
    assert_eq!(payload.kind, PayloadKind::Otp);
    assert_eq!(payload.channel, OtpChannel::Sms);
    assert_eq!(payload.to, "+41791234567");
    assert_eq!(payload.otp.as_ref().unwrap().code, code);
    assert_eq!(
        payload.otp.as_ref().unwrap().purpose,
        ChallengePurpose::Login
    );
    assert!(payload.notification.is_none());
    assert!(payload.text.contains(&code));
    assert_eq!(header_of(r, "idempotency-key"), payload.id);
    assert!(uuid::Uuid::parse_str(&payload.id).is_ok());
    let raw: serde_json::Value = r.body_json().unwrap();
    assert_eq!(raw["kind"], "otp");
    assert_eq!(raw["otp"]["code"], code.as_str());
    assert!(!format!("{payload:?}").contains(&code));
}

#[tokio::test]
async fn notification_webhook_uses_the_notification_id_as_idempotency_key() {
    let server = MockServer::start().await;
    accepting(&server).await;
    let (id, message) = notification();
    let webhook = channel(&server, OtpChannel::Email);
    assert_eq!(webhook.channel(), OtpChannel::Email);
    webhook.send(&message).await.unwrap();
    let r = &server.received_requests().await.unwrap()[0];
    assert_eq!(header_of(r, "idempotency-key"), id.as_uuid().to_string());
    let payload: WebhookPayload = r.body_json().unwrap();
    assert_eq!(payload.kind, PayloadKind::Notification);
    let n = payload.notification.unwrap();
    assert_eq!(n.kind, NotificationKind::FactorAdded);
    assert_eq!(n.details["method"], "totp");
    assert!(payload.otp.is_none());
    assert_eq!(payload.subject, "Acme: Anmeldemethode hinzugefügt");
}

#[tokio::test]
async fn retries_after_500_repeat_the_idempotency_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    accepting(&server).await;
    channel(&server, OtpChannel::Sms)
        .send(&otp().1)
        .await
        .unwrap();
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        header_of(&requests[0], "idempotency-key"),
        header_of(&requests[1], "idempotency-key")
    );
    assert_eq!(requests[0].body, requests[1].body);
}

#[tokio::test]
async fn client_error_is_rejected_without_retry() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400))
        .mount(&server)
        .await;
    let r = channel(&server, OtpChannel::Sms).send(&otp().1).await;
    assert!(matches!(r, Err(DeliveryError::Rejected(_))), "{r:?}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn slow_receiver_times_out_as_transient() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let mut c = WebhookConfig::new(server.uri(), SecretString::from(SECRET), OtpChannel::Sms);
    c.timeout = Duration::from_millis(200);
    c.retry = RetryPolicy::none();
    let r = WebhookChannel::new(c).unwrap().send(&otp().1).await;
    assert!(matches!(r, Err(DeliveryError::Transient(_))), "{r:?}");
}

#[test]
fn short_secret_is_refused() {
    let c = WebhookConfig::new(
        "https://x.example",
        SecretString::from("short"),
        OtpChannel::Sms,
    );
    assert!(WebhookChannel::new(c).is_err());
}

/// The receiver's side, on a request the channel really sent.
#[tokio::test]
async fn receiver_accepts_genuine_and_rejects_tampered_wrong_key_and_stale() {
    let server = MockServer::start().await;
    accepting(&server).await;
    channel(&server, OtpChannel::Sms)
        .send(&otp().1)
        .await
        .unwrap();
    let r = &server.received_requests().await.unwrap()[0];
    let ts = header_of(r, "x-mfa-timestamp");
    let sig = header_of(r, "x-mfa-signature");
    let now = Utc::now();
    let tolerance = TimeDelta::minutes(5);

    assert_eq!(
        verify_signature(SECRET.as_bytes(), ts, sig, &r.body, now, tolerance),
        Ok(())
    );
    let mut modified = r.body.clone();
    let last = modified.len() - 2;
    modified[last] ^= 1;
    assert_eq!(
        verify_signature(SECRET.as_bytes(), ts, sig, &modified, now, tolerance),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify_signature(b"another-secret-entirely", ts, sig, &r.body, now, tolerance),
        Err(SignatureError::Mismatch)
    );
    let later = now + TimeDelta::minutes(6);
    assert_eq!(
        verify_signature(SECRET.as_bytes(), ts, sig, &r.body, later, tolerance),
        Err(SignatureError::Stale)
    );
    // A fresh timestamp on the old signature does not help a replayer.
    let fresh = later.timestamp().to_string();
    assert_eq!(
        verify_signature(SECRET.as_bytes(), &fresh, sig, &r.body, later, tolerance),
        Err(SignatureError::Mismatch)
    );
}

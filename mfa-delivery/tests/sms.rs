//! SMS providers against wiremock.
#![cfg(feature = "sms")]

use chrono::{TimeDelta, Utc};
use mfa_core::crypto::{OtpCode, SecretString};
use mfa_core::delivery::{DeliveryChannel, DeliveryError, Message, OtpCodeText, OtpMessage};
use mfa_core::model::ChallengePurpose;
use mfa_delivery::phone::SmsGuard;
use mfa_delivery::retry::RetryPolicy;
use mfa_delivery::sms::{JsonSms, JsonSmsConfig, TwilioConfig, TwilioSender, TwilioSms};
use std::time::Duration;
use wiremock::matchers::{basic_auth, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SID: &str = "AC0123456789abcdef";
const MESSAGES: &str = "/2010-04-01/Accounts/AC0123456789abcdef/Messages.json";

fn otp(to: &str) -> (String, Message) {
    let code = OtpCode::generate(6).unwrap();
    let digits = code.expose().to_owned();
    let m = Message::Otp(OtpMessage {
        to: to.into(),
        code: OtpCodeText::new(code),
        purpose: ChallengePurpose::Login,
        expires_at: Utc::now() + TimeDelta::minutes(5),
        product_name: "Acme".into(),
        locale: None,
    });
    (digits, m)
}

fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
    }
}

fn twilio(server: &MockServer, guard: SmsGuard) -> TwilioSms {
    let mut c = TwilioConfig::new(
        SID,
        SecretString::from("auth-token"),
        TwilioSender::MessagingService("MG42".into()),
    );
    c.base_url = server.uri();
    c.status_callback = Some("https://app.example/sms-status".into());
    c.timeout = Duration::from_millis(500);
    c.retry = fast_retry(3);
    TwilioSms::new(c, guard).unwrap()
}

fn swiss() -> SmsGuard {
    swiss_with_quota(5)
}

fn swiss_with_quota(max: usize) -> SmsGuard {
    SmsGuard::builder()
        .allow_regions(["CH"])
        .quota(max, TimeDelta::hours(1))
        .build()
        .unwrap()
}

/// Decodes an `application/x-www-form-urlencoded` body.
fn form(body: &[u8]) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).unwrap()
    }
    std::str::from_utf8(body)
        .unwrap()
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap();
            (decode(k), decode(v))
        })
        .collect()
}

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

#[tokio::test]
async fn twilio_request_has_basic_auth_and_form_fields() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(MESSAGES))
        .and(basic_auth(SID, "auth-token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    let (code, message) = otp("+41791234567");
    twilio(&server, swiss()).send(&message).await.unwrap();

    let received = server.received_requests().await.unwrap();
    let fields = form(&received[0].body);
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["To", "MessagingServiceSid", "Body", "StatusCallback"]
    );
    assert_eq!(fields[0].1, "+41791234567");
    assert_eq!(fields[1].1, "MG42");
    assert!(fields[2].1.starts_with(&code), "{}", fields[2].1);
    assert_eq!(fields[3].1, "https://app.example/sms-status");
}

#[tokio::test]
async fn twilio_from_number_is_sent_as_from() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(MESSAGES))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    let mut c = TwilioConfig::new(
        SID,
        SecretString::from("auth-token"),
        TwilioSender::From("+15005550006".into()),
    );
    c.base_url = server.uri();
    TwilioSms::new(c, swiss())
        .unwrap()
        .send(&otp("+41791234567").1)
        .await
        .unwrap();
    let fields = form(&server.received_requests().await.unwrap()[0].body);
    assert_eq!(fields[1], ("From".to_owned(), "+15005550006".to_owned()));
    assert_eq!(fields.len(), 3);
}

#[tokio::test]
async fn server_errors_are_retried_until_success() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    twilio(&server, swiss())
        .send(&otp("+41791234567").1)
        .await
        .unwrap();
    assert_eq!(requests(&server).await, 3);
}

#[tokio::test]
async fn server_errors_beyond_the_attempts_are_transient() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let r = twilio(&server, swiss()).send(&otp("+41791234567").1).await;
    assert!(matches!(r, Err(DeliveryError::Transient(_))), "{r:?}");
    assert_eq!(requests(&server).await, 3);
}

#[tokio::test]
async fn client_errors_are_rejected_without_retry() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_string("{\"message\":\"bad To\"}"))
        .mount(&server)
        .await;
    let (code, message) = otp("+41791234567");
    let r = twilio(&server, swiss()).send(&message).await;
    let Err(DeliveryError::Rejected(reason)) = r else {
        panic!("expected a rejection, got {r:?}");
    };
    assert!(!reason.contains(&code));
    assert_eq!(requests(&server).await, 1);
}

#[tokio::test]
async fn slow_provider_times_out_as_transient() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let mut c = TwilioConfig::new(
        SID,
        SecretString::from("auth-token"),
        TwilioSender::From("+15005550006".into()),
    );
    c.base_url = server.uri();
    c.timeout = Duration::from_millis(200);
    c.retry = fast_retry(2);
    let started = std::time::Instant::now();
    let r = TwilioSms::new(c, swiss())
        .unwrap()
        .send(&otp("+41791234567").1)
        .await;
    assert!(matches!(r, Err(DeliveryError::Transient(_))), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(requests(&server).await, 2);
}

#[tokio::test]
async fn invalid_number_is_rejected_before_any_request() {
    let server = MockServer::start().await;
    let channel = twilio(&server, swiss());
    // Malformed, and well-formed but no valid number (unassigned code).
    for bad in [
        "0791234567",
        "+41 79 123 45 67",
        "alice@example.com",
        "",
        "+99912345678",
    ] {
        assert!(matches!(
            channel.send(&otp(bad).1).await,
            Err(DeliveryError::InvalidDestination)
        ));
    }
    assert_eq!(requests(&server).await, 0);
}

#[tokio::test]
async fn region_not_on_the_allow_list_is_rejected_before_any_request() {
    let server = MockServer::start().await;
    // A German mobile, while only Switzerland is allowed.
    let r = twilio(&server, swiss())
        .send(&otp("+4915123456789").1)
        .await;
    let Err(DeliveryError::Rejected(reason)) = r else {
        panic!("expected a rejection, got {r:?}");
    };
    assert_eq!(reason, "destination region DE not allowed");
    assert_eq!(requests(&server).await, 0);
}

#[tokio::test]
async fn premium_rate_number_is_rejected_before_any_request() {
    let server = MockServer::start().await;
    let r = twilio(&server, swiss()).send(&otp("+41900123456").1).await;
    let Err(DeliveryError::Rejected(reason)) = r else {
        panic!("expected a rejection, got {r:?}");
    };
    assert_eq!(reason, "destination number type premium-rate not allowed");
    assert_eq!(requests(&server).await, 0);
}

#[tokio::test]
async fn destination_quota_stops_further_sends() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    let guard = swiss_with_quota(2);
    let channel = twilio(&server, guard);
    channel.send(&otp("+41791234567").1).await.unwrap();
    channel.send(&otp("+41791234567").1).await.unwrap();
    let r = channel.send(&otp("+41791234567").1).await;
    let Err(DeliveryError::Rejected(reason)) = r else {
        panic!("expected a rejection, got {r:?}");
    };
    assert!(reason.contains("too many"), "{reason}");
    // Another number still goes through.
    channel.send(&otp("+41791234500").1).await.unwrap();
    assert_eq!(requests(&server).await, 3);
}

#[tokio::test]
async fn json_provider_gets_the_filled_template_and_auth_header() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/sms"))
        .and(header("authorization", "Bearer k-123"))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&server)
        .await;
    let mut c = JsonSmsConfig::new(
        format!("{}/v1/sms", server.uri()),
        serde_json::json!({"recipient": "{{to}}", "message": {"text": "{{text}}"}, "priority": 1}),
    );
    c.auth_header = Some(("Authorization".into(), SecretString::from("Bearer k-123")));
    c.retry = fast_retry(3);
    let (code, message) = otp("+41791234567");
    JsonSms::new(c, swiss())
        .unwrap()
        .send(&message)
        .await
        .unwrap();
    let body: serde_json::Value = server.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    assert_eq!(body["recipient"], "+41791234567");
    assert_eq!(body["priority"], 1);
    assert!(body["message"]["text"].as_str().unwrap().starts_with(&code));
}

#[tokio::test]
async fn json_provider_rejects_invalid_numbers_before_any_request() {
    let server = MockServer::start().await;
    let c = JsonSmsConfig::new(
        format!("{}/v1/sms", server.uri()),
        serde_json::json!({"to": "{{to}}", "text": "{{text}}"}),
    );
    let channel = JsonSms::new(c, swiss()).unwrap();
    assert!(matches!(
        channel.send(&otp("12345").1).await,
        Err(DeliveryError::InvalidDestination)
    ));
    assert_eq!(requests(&server).await, 0);
}

#[test]
fn json_template_without_placeholders_is_refused() {
    let c = JsonSmsConfig::new("https://sms.example", serde_json::json!({"to": "{{to}}"}));
    assert!(JsonSms::new(c, swiss()).is_err());
}

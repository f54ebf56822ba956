//! Every transport sends what the host's templates say, in the message's
//! language, and a template failing at send time refuses the message
//! without naming the code.
#![cfg(all(feature = "smtp", feature = "sms", feature = "webhook"))]

use chrono::{TimeDelta, Utc};
use mfa_core::crypto::{OtpCode, SecretString};
use mfa_core::delivery::{DeliveryChannel, DeliveryError, Message, OtpCodeText, OtpMessage};
use mfa_core::model::{ChallengePurpose, OtpChannel};
use mfa_core::template::Templates;
use mfa_delivery::log::LogChannel;
use mfa_delivery::phone::SmsGuard;
use mfa_delivery::retry::RetryPolicy;
use mfa_delivery::sms::{JsonSms, JsonSmsConfig};
use mfa_delivery::smtp::{SmtpChannel, SmtpConfig, SmtpError};
use mfa_delivery::webhook::{WebhookChannel, WebhookConfig, WebhookPayload};
use std::time::Duration;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn otp(to: &str, locale: &str) -> Message {
    Message::Otp(OtpMessage {
        to: to.into(),
        code: OtpCodeText::new(OtpCode::parse("042917", 6).unwrap()),
        purpose: ChallengePurpose::Login,
        expires_at: Utc::now() + TimeDelta::minutes(5),
        product_name: "Acme".into(),
        locale: Some(locale.into()),
    })
}

/// English as shipped but for the subject and the short text; French
/// added with a subject only (the rest falls back to English).
fn host_templates() -> Templates {
    Templates::builder()
        .template("en", "otp.subject", "Acme sign-in code {{ code }}")
        .template("en", "otp.short", "Acme: {{ code }}")
        .template("fr", "otp.subject", "Code Acme {{ code }}")
        .build()
        .unwrap()
}

fn swiss() -> SmsGuard {
    SmsGuard::builder().allow_regions(["CH"]).build().unwrap()
}

async fn accepting() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

async fn only_request_body(server: &MockServer) -> Vec<u8> {
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    requests[0].body.clone()
}

#[test]
fn smtp_sends_the_hosts_subject_in_the_messages_language() {
    let mut config = SmtpConfig::new("smtp.example.com", "Acme <security@acme.example>");
    config.templates = host_templates();
    let channel = SmtpChannel::new(config).unwrap();
    let english = channel
        .build_email(&otp("alice@example.com", "en-GB"))
        .unwrap();
    let english = String::from_utf8(english.formatted()).unwrap();
    assert!(
        english.contains("Subject: Acme sign-in code 042917\r\n"),
        "{english}"
    );
    assert!(english.contains("Use this code to finish signing in at Acme:"));
    let french = channel
        .build_email(&otp("alice@example.com", "fr"))
        .unwrap();
    let french = String::from_utf8(french.formatted()).unwrap();
    assert!(french.contains("Subject: Code Acme 042917\r\n"), "{french}");
    // No French words: the body is English.
    assert!(french.contains("Use this code to finish signing in at Acme:"));
}

#[tokio::test]
async fn sms_sends_the_hosts_short_text() {
    let server = accepting().await;
    let mut config = JsonSmsConfig::new(
        format!("{}/sms", server.uri()),
        serde_json::json!({ "to": "{{to}}", "text": "{{text}}" }),
    );
    config.templates = host_templates();
    config.retry = RetryPolicy::none();
    let sms = JsonSms::new(config, swiss()).unwrap();
    sms.send(&otp("+41791234567", "en")).await.unwrap();
    let body: serde_json::Value =
        serde_json::from_slice(&only_request_body(&server).await).unwrap();
    assert_eq!(body["text"], "Acme: 042917");
}

#[tokio::test]
async fn webhook_payload_carries_the_hosts_texts() {
    let server = accepting().await;
    let mut config = WebhookConfig::new(
        format!("{}/hook", server.uri()),
        SecretString::from("a-long-shared-webhook-secret"),
        OtpChannel::Sms,
    );
    config.templates = host_templates();
    config.retry = RetryPolicy::none();
    config.timeout = Duration::from_secs(5);
    let webhook = WebhookChannel::new(config).unwrap();
    webhook.send(&otp("+41791234567", "en")).await.unwrap();
    let payload: WebhookPayload =
        serde_json::from_slice(&only_request_body(&server).await).unwrap();
    assert_eq!(payload.subject, "Acme sign-in code 042917");
    assert_eq!(payload.short_text, "Acme: 042917");
    assert!(
        payload
            .text
            .contains("Use this code to finish signing in at Acme:")
    );
}

/// Passes the build's checks (its sample code is another), fails on this
/// message.
fn failing_templates() -> Templates {
    Templates::builder()
        .template(
            "en",
            "otp.subject",
            "{% if code == \"042917\" %}{{ missing }}{% endif %}{{ code }}",
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_template_failing_at_send_time_refuses_the_message_without_the_code() {
    let mut config = SmtpConfig::new("smtp.example.com", "security@acme.example");
    config.templates = failing_templates();
    let smtp = SmtpChannel::new(config).unwrap();
    let Err(error) = smtp.build_email(&otp("alice@example.com", "en")) else {
        panic!("the template should fail");
    };
    assert!(matches!(error, SmtpError::Template(_)));
    assert!(!error.to_string().contains("042917"), "{error}");

    let log = LogChannel::with_env(OtpChannel::Email, |_| None)
        .unwrap()
        .with_templates(failing_templates());
    let error = log.send(&otp("alice@example.com", "en")).await.unwrap_err();
    assert!(matches!(&error, DeliveryError::Rejected(reason) if !reason.contains("042917")));
}

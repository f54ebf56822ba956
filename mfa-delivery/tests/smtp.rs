//! SMTP against a real SMTP server (aiosmtpd) on loopback.
#![cfg(feature = "smtp")]

mod support;

use chrono::{DateTime, TimeDelta, Utc};
use mfa_core::crypto::{OtpCode, SecretString};
use mfa_core::delivery::{
    DeliveryChannel, DeliveryError, Message, NotificationMessage, OtpCodeText, OtpMessage,
};
use mfa_core::model::{ChallengePurpose, NotificationId, NotificationKind};
use mfa_delivery::retry::RetryPolicy;
use mfa_delivery::smtp::{SmtpChannel, SmtpConfig, SmtpError, SmtpSecurity};
use std::time::Duration;
use support::SmtpServer;

fn config(server: &SmtpServer, security: SmtpSecurity) -> SmtpConfig {
    let mut c = SmtpConfig::new("127.0.0.1", "Acme Security <security@acme.example>");
    c.port = Some(server.port);
    c.security = security;
    c.timeout = Duration::from_secs(5);
    c.retry = RetryPolicy::none();
    c.hello_name = Some("mfa-delivery.test".into());
    c
}

fn otp(to: &str, locale: Option<&str>) -> (String, Message) {
    let code = OtpCode::generate(6).unwrap();
    let digits = code.expose().to_owned();
    let message = Message::Otp(OtpMessage {
        to: to.into(),
        code: OtpCodeText::new(code),
        purpose: ChallengePurpose::Login,
        expires_at: Utc::now() + TimeDelta::minutes(10),
        product_name: "Acme".into(),
        locale: locale.map(str::to_owned),
    });
    (digits, message)
}

#[tokio::test]
async fn otp_email_arrives_multipart_with_headers_and_code() {
    let Some(server) = SmtpServer::start("otp_email_arrives_multipart_with_headers_and_code", None)
    else {
        return;
    };
    let channel = SmtpChannel::new(config(&server, SmtpSecurity::Plain)).unwrap();
    let (code, message) = otp("alice@example.com", None);
    channel.send(&message).await.unwrap();

    let received = server.messages();
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    assert_eq!(mail.mail_from, "security@acme.example");
    assert_eq!(mail.rcpt_tos, ["alice@example.com"]);
    assert_eq!(mail.header("From"), "Acme Security <security@acme.example>");
    assert_eq!(mail.header("To"), "alice@example.com");
    assert!(mail.header("Subject").starts_with(&code));
    assert_eq!(mail.code(), code);
    let date = DateTime::parse_from_rfc2822(mail.header("Date")).expect("RFC 2822 date");
    assert!((Utc::now() - date.with_timezone(&Utc)).abs() < TimeDelta::minutes(5));
    let id = mail.header("Message-ID");
    assert!(
        id.starts_with('<') && id.ends_with("@acme.example>"),
        "{id}"
    );
    assert_eq!(mail.content_type, "multipart/alternative");
    let text = mail.part("text/plain");
    let html = mail.part("text/html");
    assert!(text.contains(&code));
    assert!(html.contains(&code));
    assert!(html.contains("<html lang=\"en\">"));
    assert!(text.contains("a***@example.com"));
}

#[tokio::test]
async fn german_notification_email_is_rendered_in_german() {
    let Some(server) = SmtpServer::start("german_notification_email_is_rendered_in_german", None)
    else {
        return;
    };
    let channel = SmtpChannel::new(config(&server, SmtpSecurity::Plain)).unwrap();
    let message = Message::Notification(NotificationMessage {
        id: NotificationId::new(),
        to: "bob@example.com".into(),
        kind: NotificationKind::NewDeviceLogin,
        details: serde_json::json!({"device": "Firefox <Linux>", "ip": "192.0.2.1"}),
        at: Utc::now(),
        product_name: "Acme".into(),
        locale: Some("de-CH".into()),
    });
    channel.send(&message).await.unwrap();
    let mail = &server.messages()[0];
    assert_eq!(mail.header("Subject"), "Acme: Neue Anmeldung");
    assert!(mail.part("text/plain").contains("Firefox <Linux>"));
    assert!(mail.part("text/html").contains("Firefox &lt;Linux&gt;"));
}

#[tokio::test]
async fn pooled_connection_sends_several_messages() {
    let Some(server) = SmtpServer::start("pooled_connection_sends_several_messages", None) else {
        return;
    };
    let channel = SmtpChannel::new(config(&server, SmtpSecurity::Plain)).unwrap();
    for _ in 0..3 {
        let (_, message) = otp("alice@example.com", None);
        channel.send(&message).await.unwrap();
    }
    assert_eq!(server.messages().len(), 3);
}

#[tokio::test]
async fn starttls_required_but_not_offered_is_a_tls_error() {
    let Some(server) = SmtpServer::start("starttls_required_but_not_offered_is_a_tls_error", None)
    else {
        return;
    };
    let channel = SmtpChannel::new(config(&server, SmtpSecurity::StartTls)).unwrap();
    let (_, message) = otp("alice@example.com", None);
    let err = channel.send_email(&message).await.unwrap_err();
    assert!(matches!(err, SmtpError::Tls(_)), "{err:?}");
    assert!(matches!(
        DeliveryError::from(err),
        DeliveryError::Rejected(_)
    ));
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn implicit_tls_against_a_plain_server_is_a_tls_error() {
    let Some(server) =
        SmtpServer::start("implicit_tls_against_a_plain_server_is_a_tls_error", None)
    else {
        return;
    };
    let mut c = config(&server, SmtpSecurity::ImplicitTls);
    c.timeout = Duration::from_secs(2);
    let channel = SmtpChannel::new(c).unwrap();
    let (_, message) = otp("alice@example.com", None);
    let err = channel.send_email(&message).await.unwrap_err();
    assert!(matches!(err, SmtpError::Tls(_)), "{err:?}");
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn wrong_credentials_are_an_auth_error() {
    let Some(server) = SmtpServer::start(
        "wrong_credentials_are_an_auth_error",
        Some(("mailer", "right-password")),
    ) else {
        return;
    };
    let mut c = config(&server, SmtpSecurity::Plain);
    c.credentials = Some(("mailer".into(), SecretString::from("wrong-password")));
    let channel = SmtpChannel::new(c).unwrap();
    let (_, message) = otp("alice@example.com", None);
    let err = channel.send_email(&message).await.unwrap_err();
    assert!(matches!(err, SmtpError::Auth(_)), "{err:?}");
    assert!(!err.to_string().contains("wrong-password"));
    assert!(matches!(
        channel.send(&message).await,
        Err(DeliveryError::Rejected(_))
    ));
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn right_credentials_authenticate() {
    let Some(server) = SmtpServer::start(
        "right_credentials_authenticate",
        Some(("mailer", "right-password")),
    ) else {
        return;
    };
    let mut c = config(&server, SmtpSecurity::Plain);
    c.credentials = Some(("mailer".into(), SecretString::from("right-password")));
    let channel = SmtpChannel::new(c).unwrap();
    let (code, message) = otp("alice@example.com", Some("de"));
    channel.send(&message).await.unwrap();
    let mail = &server.messages()[0];
    assert_eq!(mail.code(), code);
    assert!(mail.header("Subject").contains("Bestätigungscode"));
}

#[tokio::test]
async fn invalid_recipient_is_rejected_before_connecting() {
    let Some(server) = SmtpServer::start("invalid_recipient_is_rejected_before_connecting", None)
    else {
        return;
    };
    let channel = SmtpChannel::new(config(&server, SmtpSecurity::Plain)).unwrap();
    let (_, message) = otp("+41791234567", None);
    assert!(matches!(
        channel.send(&message).await,
        Err(DeliveryError::InvalidDestination)
    ));
}

#[tokio::test]
async fn unreachable_server_is_transient() {
    let port = {
        let Some(server) = SmtpServer::start("unreachable_server_is_transient", None) else {
            return;
        };
        server.port
    }; // the server is gone now
    let mut c = SmtpConfig::new("127.0.0.1", "security@acme.example");
    c.port = Some(port);
    c.security = SmtpSecurity::Plain;
    c.timeout = Duration::from_secs(2);
    c.retry = RetryPolicy {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(10),
    };
    let channel = SmtpChannel::new(c).unwrap();
    let (_, message) = otp("alice@example.com", None);
    assert!(matches!(
        channel.send(&message).await,
        Err(DeliveryError::Transient(_))
    ));
}

//! FCM HTTP v1: a stand-in Google token endpoint that verifies the RS256
//! assertion, and a `messages:send` endpoint that checks the bearer token
//! and the body.
//!
//! The service-account key is a fixed test key, committed as
//! `tests/fixtures/fcm-test-key.pem` (generated once with
//! `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`; its
//! public part, `fcm-test-key.pub.pem`, with `openssl pkey -pubout`). It
//! protects nothing.

use super::server::{Protocol, Recorded, Reply, Script, TestServer};
use super::{approval, fast_retry};
use chrono::{TimeDelta, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use mfa_core::clock::ManualClock;
use mfa_core::crypto::SecretString;
use mfa_core::delivery::DeliveryError;
use mfa_delivery::push::fcm::{FcmConfig, FcmSender, ServiceAccountKey};
use mfa_delivery::push::{PushAddress, PushTransport, address_is_gone};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub const KEY: &str = include_str!("../fixtures/fcm-test-key.pem");
const PUBLIC_KEY: &str = include_str!("../fixtures/fcm-test-key.pub.pem");
const EMAIL: &str = "push@test-project.iam.gserviceaccount.com";
const SEND_PATH: &str = "/v1/projects/test-project/messages:send";
const UNREGISTERED: &str = r#"{"error": {"code": 404, "message": "Requested entity was not found.",
    "status": "NOT_FOUND", "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
    "errorCode": "UNREGISTERED"}]}}"#;

fn device() -> PushAddress {
    PushAddress::Fcm {
        token: "fcm-device-token:APA91bHun4MxP5egoKMwt2KZFBaFUH".into(),
    }
}

fn sender(server: &TestServer) -> FcmSender {
    let key = ServiceAccountKey::from_json(
        &json!({
            "type": "service_account",
            "project_id": "test-project",
            "private_key_id": "key-1",
            "private_key": KEY,
            "client_email": EMAIL,
            "token_uri": format!("{}/token", server.url),
        })
        .to_string(),
    )
    .unwrap();
    let mut config = FcmConfig::new(key);
    config.base_url = server.url.clone();
    config.timeout = Duration::from_secs(2);
    config.retry = fast_retry();
    FcmSender::new(config).unwrap()
}

/// Google's token endpoint: a JWT bearer grant signed by the service
/// account; answers access token number `n`.
fn token_endpoint(request: &Recorded, n: usize) -> Reply {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .ok_or(format!("no {name}"))
    };
    if field("grant_type")? != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
        return Err("grant_type".into());
    }
    let assertion = field("assertion")?;
    let header = jsonwebtoken::decode_header(&assertion).map_err(|e| e.to_string())?;
    if header.kid.as_deref() != Some("key-1") {
        return Err("kid".into());
    }
    let mut validation = Validation::new(Algorithm::RS256);
    let host = request.header("host")?;
    validation.set_audience(&[format!("http://{host}/token")]);
    validation.set_issuer(&[EMAIL]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    let public = DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes()).unwrap();
    let claims = jsonwebtoken::decode::<Value>(&assertion, &public, &validation)
        .map_err(|e| format!("assertion: {e}"))?
        .claims;
    if claims["scope"] != "https://www.googleapis.com/auth/firebase.messaging" {
        return Err("scope".into());
    }
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap_or(0),
        claims["exp"].as_i64().unwrap_or(0),
    );
    if exp - iat > 3600 || exp <= iat {
        return Err("exp at most 1 h after iat".into());
    }
    Ok((200, json!({"access_token": format!("ya29.token-{n}"), "expires_in": 3599, "token_type": "Bearer"}).to_string()))
}

/// `messages:send`: the bearer token and the message.
fn send_endpoint(request: &Recorded, bearer: &str) -> Result<(), String> {
    if request.header("authorization")? != format!("Bearer {bearer}") {
        return Err("bearer".into());
    }
    let body: Value = serde_json::from_slice(&request.body).map_err(|e| e.to_string())?;
    let expected = json!({"message": {
        "token": "fcm-device-token:APA91bHun4MxP5egoKMwt2KZFBaFUH",
        "notification": {"title": "Approve sign-in?", "body": "Firefox on Linux, Zürich. Pick 42."},
        "data": {"request_id": "req_01HZX", "numbers": "[17,42,88]"},
        "android": {"ttl": "300s", "priority": "high", "collapse_key": "sign-in"},
    }});
    for key in ["token", "notification", "data", "android"] {
        if body["message"][key] != expected["message"][key] {
            return Err(format!("message.{key}: {}", body["message"][key]));
        }
    }
    let apns = &body["message"]["apns"]["headers"];
    if apns["apns-priority"] != "10" || apns["apns-collapse-id"] != "sign-in" {
        return Err(format!("message.apns: {apns}"));
    }
    Ok(())
}

/// A Google stand-in: token `n` for the n-th token request; `send` answers
/// `messages:send` once the bearer and body pass.
async fn google<F>(send: F) -> TestServer
where
    F: Fn() -> (u16, String) + Send + Sync + 'static,
{
    let tokens = AtomicUsize::new(0);
    TestServer::start(Protocol::Http1, move |r| match r.path.as_str() {
        "/token" => token_endpoint(r, tokens.fetch_add(1, Ordering::SeqCst) + 1),
        SEND_PATH => {
            let latest = format!("ya29.token-{}", tokens.load(Ordering::SeqCst));
            send_endpoint(r, &latest).map(|()| send())
        }
        other => Err(format!("unexpected path {other}")),
    })
    .await
}

fn ok() -> (u16, String) {
    (
        200,
        json!({"name": "projects/test-project/messages/0:1"}).to_string(),
    )
}

#[tokio::test]
async fn fcm_message_is_sent_with_a_token_from_the_signed_grant() {
    let server = google(ok).await;
    let r = sender(&server).send(&device(), &approval()).await;
    assert!(r.is_ok(), "{r:?} {:?}", server.problems());
    assert_eq!((server.count("/token"), server.count(SEND_PATH)), (1, 1));
}

#[tokio::test]
async fn the_access_token_is_cached_across_sends() {
    let server = google(ok).await;
    let fcm = sender(&server);
    fcm.send(&device(), &approval()).await.unwrap();
    fcm.send(&device(), &approval()).await.unwrap();
    assert!(server.problems().is_empty(), "{:?}", server.problems());
    assert_eq!((server.count("/token"), server.count(SEND_PATH)), (1, 2));
}

#[tokio::test]
async fn the_access_token_is_renewed_shortly_before_it_expires() {
    let server = google(ok).await;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let fcm = sender(&server).with_clock(clock.clone());
    fcm.send(&device(), &approval()).await.unwrap();
    clock.advance(TimeDelta::minutes(50));
    fcm.send(&device(), &approval()).await.unwrap();
    assert_eq!(server.count("/token"), 1, "still fresh after 50 min");
    clock.advance(TimeDelta::minutes(6)); // 4 min before expiry
    fcm.send(&device(), &approval()).await.unwrap();
    assert_eq!(server.count("/token"), 2);
    assert!(server.problems().is_empty(), "{:?}", server.problems());
}

#[tokio::test]
async fn unregistered_tokens_are_reported_gone() {
    let server = google(|| (404, UNREGISTERED.into())).await;
    let r = sender(&server).send(&device(), &approval()).await;
    assert!(
        matches!(r, Err(DeliveryError::Gone)),
        "{r:?} {:?}",
        server.problems()
    );
    assert!(r.as_ref().is_err_and(address_is_gone));
    assert_eq!(server.count(SEND_PATH), 1);
}

#[tokio::test]
async fn a_plain_404_is_not_gone() {
    // A wrong project id answers 404 too: that must not disable devices.
    let body = r#"{"error": {"code": 404, "status": "NOT_FOUND"}}"#;
    let server = google(move || (404, body.into())).await;
    let r = sender(&server).send(&device(), &approval()).await;
    assert!(
        matches!(r, Err(DeliveryError::Rejected(ref m)) if m.contains("NOT_FOUND")),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_refused_access_token_is_replaced_and_the_send_retried() {
    let script = Script::new(&[
        (401, r#"{"error": {"status": "UNAUTHENTICATED"}}"#),
        (200, "{}"),
    ]);
    let server = google(move || script.next()).await;
    sender(&server).send(&device(), &approval()).await.unwrap();
    assert!(server.problems().is_empty(), "{:?}", server.problems());
    assert_eq!((server.count("/token"), server.count(SEND_PATH)), (2, 2));
}

#[tokio::test]
async fn quota_and_server_errors_are_retried() {
    let script = Script::new(&[
        (429, r#"{"error": {"status": "RESOURCE_EXHAUSTED"}}"#),
        (503, "{}"),
        (200, "{}"),
    ]);
    let server = google(move || script.next()).await;
    sender(&server).send(&device(), &approval()).await.unwrap();
    assert_eq!((server.count("/token"), server.count(SEND_PATH)), (1, 3));
}

#[tokio::test]
async fn a_refused_service_account_is_a_rejection() {
    let server = TestServer::start(Protocol::Http1, |_| {
        Ok((
            400,
            json!({"error": "invalid_grant", "error_description": "Invalid JWT"}).to_string(),
        ))
    })
    .await;
    let r = sender(&server).send(&device(), &approval()).await;
    assert!(
        matches!(r, Err(DeliveryError::Rejected(ref m)) if m.contains("invalid_grant")),
        "{r:?}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn reserved_data_keys_are_refused_before_sending() {
    let server = google(ok).await;
    let message = approval().with_data("google.c.a.e", "1".into());
    let r = sender(&server).send(&device(), &message).await;
    assert!(matches!(r, Err(DeliveryError::Rejected(_))), "{r:?}");
    assert!(server.requests().is_empty());
}

#[test]
fn a_bad_service_account_fails_when_the_sender_is_built() {
    assert!(ServiceAccountKey::from_json(r#"{"client_email": "x@y"}"#).is_err());
    let key = ServiceAccountKey {
        client_email: EMAIL.into(),
        private_key: SecretString::from(
            "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----",
        ),
        private_key_id: None,
        token_uri: "https://oauth2.googleapis.com/token".into(),
        project_id: Some("test-project".into()),
    };
    let e = FcmSender::new(FcmConfig::new(key.clone()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("service-account key") && !e.contains("MIIB"),
        "{e}"
    );
    let no_project = ServiceAccountKey {
        private_key: SecretString::from(KEY),
        project_id: None,
        ..key
    };
    assert!(FcmSender::new(FcmConfig::new(no_project.clone())).is_err());
    let mut config = FcmConfig::new(no_project);
    config.project_id = "test-project".into();
    assert!(FcmSender::new(config).is_ok());
}

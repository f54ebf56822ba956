//! APNs: a stand-in that speaks HTTP/2 only (as APNs does) and checks the
//! path, every header, the provider token and the JSON body.

use super::server::{Protocol, Recorded, Script, TestServer};
use super::{approval, es256_decoding_key, fast_retry, p256_signing_key};
use chrono::{DateTime, TimeDelta, Utc};
use hyper::Version;
use jsonwebtoken::{Algorithm, Validation};
use mfa_core::clock::{Clock, ManualClock};
use mfa_core::crypto::SecretString;
use mfa_core::delivery::DeliveryError;
use mfa_delivery::push::apns::{ApnsConfig, ApnsSender};
use mfa_delivery::push::{PushAddress, PushTransport, address_is_gone};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const TEAM: &str = "TEAM123456";
const KEY_ID: &str = "KEY1234567";
const TOPIC: &str = "com.acme.authenticator";

fn token() -> String {
    "a1".repeat(32)
}

fn device() -> PushAddress {
    PushAddress::Apns {
        device_token: token(),
    }
}

fn config(server: &TestServer, key: SecretString) -> ApnsConfig {
    let mut config = ApnsConfig::new(TEAM, KEY_ID, key, TOPIC);
    config.base_url = server.url.clone();
    config.timeout = Duration::from_secs(2);
    config.retry = fast_retry();
    config
}

/// What APNs checks; returns the provider token.
fn check(request: &Recorded, public: &[u8], now: DateTime<Utc>) -> Result<String, String> {
    let expect = |ok: bool, what: String| ok.then_some(()).ok_or(what);
    expect(
        request.version == Version::HTTP_2,
        format!("version {:?}", request.version),
    )?;
    expect(request.method == "POST", "method".into())?;
    expect(
        request.path == format!("/3/device/{}", token()),
        format!("path {}", request.path),
    )?;
    for (name, value) in [
        ("apns-topic", TOPIC.to_owned()),
        ("apns-push-type", "alert".into()),
        ("apns-priority", "10".into()),
        ("apns-expiration", (now.timestamp() + 300).to_string()),
        ("apns-collapse-id", "sign-in".into()),
    ] {
        let got = request.header(name)?;
        expect(got == value, format!("{name}: {got}"))?;
    }
    let jwt = request
        .header("authorization")?
        .strip_prefix("bearer ")
        .ok_or("authorization: bearer <jwt>")?
        .to_owned();
    let header = jsonwebtoken::decode_header(&jwt).map_err(|e| e.to_string())?;
    expect(header.kid.as_deref() == Some(KEY_ID), "kid".into())?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[TEAM]);
    validation.set_required_spec_claims(&["iss"]);
    validation.validate_exp = false; // provider tokens carry iat only
    let claims = jsonwebtoken::decode::<Value>(&jwt, &es256_decoding_key(public), &validation)
        .map_err(|e| format!("provider token: {e}"))?
        .claims;
    let iat = claims["iat"].as_i64().ok_or("iat")?;
    // APNs refuses tokens older than an hour.
    expect(
        iat <= now.timestamp() && now.timestamp() - iat < 3600,
        format!("iat {iat}"),
    )?;

    let body: Value = serde_json::from_slice(&request.body).map_err(|e| e.to_string())?;
    let expected = json!({
        "aps": {"alert": {"title": "Approve sign-in?", "body": "Firefox on Linux, Zürich. Pick 42."}, "sound": "default"},
        "request_id": "req_01HZX",
        "numbers": [17, 42, 88],
    });
    expect(body == expected, format!("body {body}"))?;
    Ok(jwt)
}

/// An APNs stand-in checking against `clock`'s time; `reply` answers the
/// requests that pass.
async fn apple(
    public: Vec<u8>,
    clock: Arc<ManualClock>,
    reply: impl Fn() -> (u16, String) + Send + Sync + 'static,
) -> TestServer {
    TestServer::start(Protocol::Http2Only, move |r| {
        check(r, &public, clock.now()).map(|_| reply())
    })
    .await
}

fn ok() -> (u16, String) {
    (200, String::new())
}

fn jwts(server: &TestServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|r| r.header("authorization").unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn apns_alert_goes_over_http2_with_a_signed_provider_token() {
    let (key, public) = p256_signing_key();
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let server = apple(public, clock.clone(), ok).await;
    let apns = ApnsSender::new(config(&server, key))
        .unwrap()
        .with_clock(clock);
    let r = apns.send(&device(), &approval()).await;
    assert!(r.is_ok(), "{r:?} {:?}", server.problems());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn the_provider_token_is_reused_then_renewed_after_50_minutes() {
    let (key, public) = p256_signing_key();
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let server = apple(public, clock.clone(), ok).await;
    let apns = ApnsSender::new(config(&server, key))
        .unwrap()
        .with_clock(clock.clone());
    apns.send(&device(), &approval()).await.unwrap();
    clock.advance(TimeDelta::minutes(49));
    apns.send(&device(), &approval()).await.unwrap();
    clock.advance(TimeDelta::minutes(2));
    apns.send(&device(), &approval()).await.unwrap();
    assert!(server.problems().is_empty(), "{:?}", server.problems());
    let jwts = jwts(&server);
    assert_eq!(jwts[0], jwts[1]);
    assert_ne!(jwts[1], jwts[2]);
}

#[tokio::test]
async fn unregistered_and_expired_tokens_are_reported_gone() {
    for (status, reason) in [(410, "Unregistered"), (410, "ExpiredToken")] {
        let (key, public) = p256_signing_key();
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let body = json!({"reason": reason, "timestamp": 1_700_000_000_000_i64}).to_string();
        let server = apple(public, clock.clone(), move || (status, body.clone())).await;
        let apns = ApnsSender::new(config(&server, key))
            .unwrap()
            .with_clock(clock);
        let r = apns.send(&device(), &approval()).await;
        assert!(
            matches!(r, Err(DeliveryError::Gone)),
            "{reason}: {r:?} {:?}",
            server.problems()
        );
        assert!(r.as_ref().is_err_and(address_is_gone));
        assert_eq!(server.requests().len(), 1);
    }
}

#[tokio::test]
async fn other_refusals_are_rejections_naming_the_reason() {
    // BadDeviceToken among them: APNs also answers it to a token of the
    // other environment (sandbox against production), and disabling the
    // device on it would turn off every device of a misconfigured server.
    for reason in ["BadTopic", "BadDeviceToken"] {
        let (key, public) = p256_signing_key();
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let body = json!({ "reason": reason }).to_string();
        let server = apple(public, clock.clone(), move || (400, body.clone())).await;
        let apns = ApnsSender::new(config(&server, key))
            .unwrap()
            .with_clock(clock);
        let r = apns.send(&device(), &approval()).await;
        assert!(
            matches!(&r, Err(DeliveryError::Rejected(m)) if m.contains(reason)),
            "{reason}: {r:?}"
        );
        assert!(!r.as_ref().is_err_and(address_is_gone), "{reason}");
        assert_eq!(server.requests().len(), 1, "{reason}: not retried");
    }
}

#[tokio::test]
async fn an_expired_provider_token_is_renewed_and_the_send_retried() {
    let (key, public) = p256_signing_key();
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let script = Script::new(&[(403, r#"{"reason": "ExpiredProviderToken"}"#), (200, "")]);
    let server = apple(public, clock.clone(), move || script.next()).await;
    let apns = ApnsSender::new(config(&server, key))
        .unwrap()
        .with_clock(clock.clone());
    // Same clock reading, so only the dropped cache can explain a new token;
    // ES256 signatures differ each time.
    apns.send(&device(), &approval()).await.unwrap();
    let jwts = jwts(&server);
    assert_eq!(jwts.len(), 2);
    assert_ne!(jwts[0], jwts[1]);
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried() {
    let (key, public) = p256_signing_key();
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let script = Script::new(&[
        (429, r#"{"reason": "TooManyRequests"}"#),
        (503, "{}"),
        (200, ""),
    ]);
    let server = apple(public, clock.clone(), move || script.next()).await;
    let apns = ApnsSender::new(config(&server, key))
        .unwrap()
        .with_clock(clock);
    apns.send(&device(), &approval()).await.unwrap();
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn the_stand_in_refuses_http1_like_apns() {
    let server = TestServer::start(Protocol::Http2Only, |_| Ok(ok())).await;
    let http1 = reqwest::Client::builder().http1_only().build().unwrap();
    assert!(
        http1
            .post(format!("{}/3/device/x", server.url))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_aps_key_and_oversized_payloads_are_refused_before_sending() {
    let (key, public) = p256_signing_key();
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let server = apple(public, clock.clone(), ok).await;
    let apns = ApnsSender::new(config(&server, key))
        .unwrap()
        .with_clock(clock);
    for message in [
        approval().with_data("aps", json!({"badge": 1})),
        approval().with_data("context", "x".repeat(4096).into()),
    ] {
        let r = apns.send(&device(), &message).await;
        assert!(matches!(r, Err(DeliveryError::Rejected(_))), "{r:?}");
    }
    assert!(server.requests().is_empty());
}

#[test]
fn bad_apns_settings_fail_when_the_sender_is_built() {
    let (key, _) = p256_signing_key();
    let good = ApnsConfig::new(TEAM, KEY_ID, key.clone(), TOPIC);
    assert!(ApnsSender::new(good.clone()).is_ok());
    let bad = [
        ApnsConfig {
            team_id: "short".into(),
            ..good.clone()
        },
        ApnsConfig {
            key_id: "KEY-123456".into(),
            ..good.clone()
        },
        ApnsConfig {
            topic: " ".into(),
            ..good.clone()
        },
        ApnsConfig {
            base_url: "http://api.push.apple.com".into(),
            ..good.clone()
        },
        ApnsConfig {
            private_key: SecretString::from("not a key"),
            ..good
        },
    ];
    for config in bad {
        let e = ApnsSender::new(config).unwrap_err().to_string();
        assert!(!e.contains("not a key"), "{e}");
    }
}

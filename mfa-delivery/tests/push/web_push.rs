//! Web Push: the stand-in push service checks the VAPID token as RFC 8292
//! says, and the test decrypts the body as the browser would (RFC 8291).

use super::server::{Protocol, Recorded, Script, TestServer};
use super::{approval, es256_decoding_key, fast_retry, p256_signing_key, subscription};
use chrono::{TimeDelta, Utc};
use data_encoding::BASE64URL_NOPAD;
use jsonwebtoken::{Algorithm, Validation};
use mfa_core::clock::{Clock, ManualClock};
use mfa_core::crypto::SecretString;
use mfa_core::delivery::{DeliveryError, PushNotice, PushSender};
use mfa_core::model::PushRequestId;
use mfa_delivery::push::web_push::{WebPushConfig, WebPushSender};
use mfa_delivery::push::{
    EndpointPolicy, PushAddress, PushMessage, PushRouter, PushTransport, address_is_gone,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use web_push_native::{Auth, p256};

const SUBJECT: &str = "mailto:security@acme.example";

fn config(key: SecretString) -> WebPushConfig {
    let mut config = WebPushConfig::new(key, SUBJECT);
    config.endpoint_policy = EndpointPolicy::AllowLoopbackHttp;
    config.timeout = Duration::from_secs(2);
    config.retry = fast_retry();
    config
}

/// The browser's half of a subscription.
struct Browser {
    secret: p256::SecretKey,
    auth: [u8; 16],
}

/// What the push service checks, then what the browser does: decrypt.
/// For [`approval`]: a 300 s TTL, Topic `sign-in`.
fn check(request: &Recorded, vapid: &[u8], browser: &Browser) -> Result<Value, String> {
    check_for(request, vapid, browser, "300", "sign-in")
}

/// [`check`] for a message with this TTL and Topic.
fn check_for(
    request: &Recorded,
    vapid: &[u8],
    browser: &Browser,
    ttl: &str,
    topic: &str,
) -> Result<Value, String> {
    let expect = |ok: bool, what: &str| ok.then_some(()).ok_or_else(|| what.to_owned());
    expect(request.method == "POST", "method")?;
    expect(request.header("ttl")? == ttl, "TTL")?;
    expect(
        request.header("content-encoding")? == "aes128gcm",
        "Content-Encoding",
    )?;
    expect(request.header("urgency")? == "high", "Urgency")?;
    expect(request.header("topic")? == topic, "Topic")?;

    // Authorization: vapid t=<JWT>, k=<public key>
    let vapid_header = request.header("authorization")?;
    let params = vapid_header
        .strip_prefix("vapid ")
        .ok_or("not the vapid scheme")?;
    let (t, k) = params.split_once(", ").ok_or("vapid t=…, k=…")?;
    let token = t.strip_prefix("t=").ok_or("t=")?;
    let key = k.strip_prefix("k=").ok_or("k=")?;
    expect(
        BASE64URL_NOPAD.decode(key.as_bytes()).ok().as_deref() == Some(vapid),
        "k",
    )?;
    // The audience is this push service's origin.
    let origin = format!("http://{}", request.header("host")?);
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[&origin]);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(token, &es256_decoding_key(vapid), &validation)
        .map_err(|e| format!("VAPID JWT: {e}"))?
        .claims;
    let exp = claims["exp"].as_i64().ok_or("exp")?;
    expect(
        exp <= Utc::now().timestamp() + 24 * 3600,
        "exp at most 24 h ahead",
    )?;
    expect(claims["sub"] == SUBJECT, "sub")?;

    let plain = web_push_native::decrypt(
        request.body.clone(),
        &browser.secret,
        &Auth::from(browser.auth),
    )
    .map_err(|e| format!("decrypt: {e}"))?;
    serde_json::from_slice(&plain).map_err(|e| format!("payload: {e}"))
}

/// A sender, a push service that checks and answers 201, and a subscription
/// on it.
async fn setup() -> (WebPushSender, TestServer, PushAddress, Arc<Browser>) {
    let (key, public) = p256_signing_key();
    let sender = WebPushSender::new(config(key)).unwrap();
    assert_eq!(sender.vapid_public_key(), BASE64URL_NOPAD.encode(&public));
    // The endpoint is only known once the server listens; the browser's
    // keys are made first and shared with the handler.
    let (_, secret, auth) = subscription("https://placeholder.example/x");
    let browser = Arc::new(Browser { secret, auth });
    let b = browser.clone();
    let server = TestServer::start(Protocol::Http1, move |r| {
        check(r, &public, &b).map(|_| (201, String::new()))
    })
    .await;
    let address = address_for(&server, &browser);
    (sender, server, address, browser)
}

fn address_for(server: &TestServer, browser: &Browser) -> PushAddress {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    PushAddress::WebPush {
        endpoint: format!("{}/push/v1/subscription-id", server.url),
        p256dh: BASE64URL_NOPAD.encode(
            browser
                .secret
                .public_key()
                .to_encoded_point(false)
                .as_bytes(),
        ),
        auth: BASE64URL_NOPAD.encode(&browser.auth),
    }
}

#[tokio::test]
async fn web_push_is_vapid_signed_and_decrypts_to_the_message() {
    let (sender, server, address, _) = setup().await;
    let r = sender.send(&address, &approval()).await;
    assert!(r.is_ok(), "{r:?} {:?}", server.problems());
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/push/v1/subscription-id");
}

#[tokio::test]
async fn the_browser_recovers_the_exact_message() {
    let (key, public) = p256_signing_key();
    let sender = WebPushSender::new(config(key)).unwrap();
    let server = TestServer::start(Protocol::Http1, |_| Ok((201, String::new()))).await;
    let (_, secret, auth) = subscription("https://placeholder.example/x");
    let browser = Browser { secret, auth };
    sender
        .send(&address_for(&server, &browser), &approval())
        .await
        .unwrap();

    let payload = check(&server.requests()[0], &public, &browser).unwrap();
    assert_eq!(
        payload,
        json!({
            "title": "Approve sign-in?",
            "body": "Firefox on Linux, Zürich. Pick 42.",
            "data": {"request_id": "req_01HZX", "numbers": [17, 42, 88]},
        })
    );
}

#[tokio::test]
async fn unsubscribed_endpoints_are_reported_gone_without_retry() {
    for status in [404, 410] {
        let (key, _) = p256_signing_key();
        let sender = WebPushSender::new(config(key)).unwrap();
        let server = TestServer::start(Protocol::Http1, move |_| Ok((status, String::new()))).await;
        let (address, _, _) = subscription(&format!("{}/push/gone", server.url));
        let r = sender.send(&address, &approval()).await;
        assert!(matches!(r, Err(DeliveryError::Gone)), "{status}: {r:?}");
        assert!(r.as_ref().is_err_and(address_is_gone));
        assert_eq!(server.requests().len(), 1);
    }
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried() {
    let (key, _) = p256_signing_key();
    let sender = WebPushSender::new(config(key)).unwrap();
    let script = Script::new(&[(429, ""), (503, ""), (201, "")]);
    let server = TestServer::start(Protocol::Http1, move |_| Ok(script.next())).await;
    let (address, _, _) = subscription(&format!("{}/push/busy", server.url));
    sender.send(&address, &approval()).await.unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    // One encryption per message: every attempt carries the same body.
    assert!(requests.iter().all(|r| r.body == requests[0].body));
}

#[tokio::test]
async fn other_client_errors_are_rejections() {
    let (key, _) = p256_signing_key();
    let sender = WebPushSender::new(config(key)).unwrap();
    let server = TestServer::start(Protocol::Http1, |_| Ok((403, String::new()))).await;
    let (address, _, _) = subscription(&format!("{}/push/x", server.url));
    let r = sender.send(&address, &approval()).await;
    assert!(matches!(r, Err(DeliveryError::Rejected(_))), "{r:?}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn production_sender_refuses_plain_http_endpoints_without_a_request() {
    let (key, _) = p256_signing_key();
    let mut production = config(key);
    production.endpoint_policy = EndpointPolicy::HttpsOnly;
    let sender = WebPushSender::new(production).unwrap();
    let server = TestServer::start(Protocol::Http1, |_| Ok((201, String::new()))).await;
    let (address, _, _) = subscription(&format!("{}/push/x", server.url));
    let r = sender.send(&address, &approval()).await;
    assert!(matches!(r, Err(DeliveryError::InvalidDestination)), "{r:?}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn oversized_payloads_and_other_kinds_are_refused_before_sending() {
    let (sender, server, address, _) = setup().await;
    let big = approval().with_data("context", "x".repeat(4000).into());
    let r = sender.send(&address, &big).await;
    assert!(
        matches!(r, Err(DeliveryError::Rejected(ref m)) if m.contains("too large")),
        "{r:?}"
    );
    let r = sender
        .send(
            &PushAddress::Fcm { token: "t".into() },
            &PushMessage::new("a", "b"),
        )
        .await;
    assert!(matches!(r, Err(DeliveryError::Rejected(_))), "{r:?}");
    assert!(server.requests().is_empty());
}

#[test]
fn bad_vapid_settings_fail_when_the_sender_is_built() {
    let bad_key = WebPushSender::new(WebPushConfig::new(SecretString::from("c2VjcmV0"), SUBJECT));
    let e = bad_key.unwrap_err().to_string();
    assert!(e.contains("VAPID key") && !e.contains("c2VjcmV0"), "{e}");
    let (key, _) = p256_signing_key();
    for subject in [
        "security@acme.example",
        "mailto:",
        "http://acme.example",
        "",
    ] {
        let r = WebPushSender::new(WebPushConfig::new(key.clone(), subject));
        assert!(r.is_err(), "{subject}");
    }
    assert!(WebPushSender::new(WebPushConfig::new(key, "https://acme.example/contact")).is_ok());
}

/// The notice the engine sends, expiring 75 s after `clock`'s time.
fn notice(clock: &ManualClock) -> PushNotice {
    PushNotice {
        request: PushRequestId::random(),
        title: "Approve sign-in?".into(),
        body: "Firefox on Linux, CH".into(),
        expires_at: clock.now() + TimeDelta::seconds(75),
        product_name: "Acme".into(),
    }
}

#[tokio::test]
async fn the_router_as_the_engines_push_sender_delivers_a_notice_to_a_browser() {
    let (key, public) = p256_signing_key();
    let sender = Arc::new(WebPushSender::new(config(key)).unwrap());
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let notice = notice(&clock);
    let topic = notice.request.as_uuid().simple().to_string();
    let (_, secret, auth) = subscription("https://placeholder.example/x");
    let browser = Arc::new(Browser { secret, auth });
    let (b, vapid, t) = (browser.clone(), public.clone(), topic.clone());
    let server = TestServer::start(Protocol::Http1, move |r| {
        check_for(r, &vapid, &b, "75", &t).map(|_| (201, String::new()))
    })
    .await;
    // What the engine stored: the JSON the browser's page sent.
    let stored = serde_json::to_value(address_for(&server, &browser)).unwrap();

    let router = PushRouter::new()
        .with_web_push(sender.clone())
        .with_clock(clock.clone())
        .with_endpoint_policy(EndpointPolicy::AllowLoopbackHttp);
    router.check_address(&stored).unwrap();
    // In production the loopback endpoint is refused before it is stored.
    let production = PushRouter::new().with_web_push(sender);
    assert!(matches!(
        production.check_address(&stored),
        Err(DeliveryError::InvalidDestination)
    ));

    let r = router.send_push(&stored, &notice).await;
    assert!(r.is_ok(), "{r:?} {:?}", server.problems());
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let payload = check_for(&requests[0], &public, &browser, "75", &topic).unwrap();
    assert_eq!(
        payload,
        json!({
            "title": "Approve sign-in?",
            "body": "Firefox on Linux, CH",
            "data": {
                "type": "push_approval",
                "request_id": notice.request.to_string(),
                "expires_at": notice.expires_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            },
        })
    );
}

#[tokio::test]
async fn an_unsubscribed_browser_is_gone_through_the_router_too() {
    let (key, _) = p256_signing_key();
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let router = PushRouter::new()
        .with_web_push(Arc::new(WebPushSender::new(config(key)).unwrap()))
        .with_clock(clock.clone())
        .with_endpoint_policy(EndpointPolicy::AllowLoopbackHttp);
    let server = TestServer::start(Protocol::Http1, |_| Ok((410, String::new()))).await;
    let (address, _, _) = subscription(&format!("{}/push/unsubscribed", server.url));
    let stored = serde_json::to_value(address).unwrap();
    let r = router.send_push(&stored, &notice(&clock)).await;
    assert!(matches!(r, Err(DeliveryError::Gone)), "{r:?}");
    assert_eq!(server.requests().len(), 1, "gone is not retried");
}

//! Web Push: the stand-in push service checks the VAPID token as RFC 8292
//! says, and the test decrypts the body as the browser would (RFC 8291).

use super::server::{Protocol, Recorded, Script, TestServer};
use super::{approval, es256_decoding_key, fast_retry, p256_signing_key, subscription};
use chrono::Utc;
use data_encoding::BASE64URL_NOPAD;
use jsonwebtoken::{Algorithm, Validation};
use mfa_core::crypto::SecretString;
use mfa_core::delivery::DeliveryError;
use mfa_delivery::push::web_push::{WebPushConfig, WebPushSender};
use mfa_delivery::push::{
    EndpointPolicy, PushAddress, PushMessage, PushTransport, address_is_gone,
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
fn check(request: &Recorded, vapid: &[u8], browser: &Browser) -> Result<Value, String> {
    let expect = |ok: bool, what: &str| ok.then_some(()).ok_or_else(|| what.to_owned());
    expect(request.method == "POST", "method")?;
    expect(request.header("ttl")? == "300", "TTL")?;
    expect(
        request.header("content-encoding")? == "aes128gcm",
        "Content-Encoding",
    )?;
    expect(request.header("urgency")? == "high", "Urgency")?;
    expect(request.header("topic")? == "sign-in", "Topic")?;

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
        assert!(r.as_ref().is_err_and(address_is_gone), "{status}: {r:?}");
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

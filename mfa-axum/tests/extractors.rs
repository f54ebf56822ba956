//! The extractors and error responses against a real engine on the memory
//! store, driven through the router.

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use axum::{Json, Router};
use http_body_util::BodyExt;
use mfa_axum::{Aal2, ApiError, Authenticated, Client, MfaState, RecentMfa};
use mfa_core::clock::ManualClock;
use mfa_core::crypto::{JwtConfig, JwtKeys, KeyRing, PasswordHasher, SecretString};
use mfa_core::model::Contact;
use mfa_core::{ClientInfo, LoginOutcome, LoginRequest, Mfa, MfaError, NewUser};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

async fn me(Authenticated(claims): Authenticated) -> Json<String> {
    Json(claims.sub.to_string())
}

async fn strong(Aal2(claims): Aal2) -> Json<u8> {
    Json(claims.aal.level())
}

async fn recent(RecentMfa(claims): RecentMfa<600>) -> Json<u8> {
    Json(claims.aal.level())
}

async fn client(Client(info): Client) -> Json<(Option<String>, Option<String>)> {
    let ip = info.ip_text();
    Json((info.fingerprint, ip))
}

async fn limited() -> Result<(), ApiError> {
    Err(MfaError::RateLimited {
        retry_after: Duration::from_secs(42),
    }
    .into())
}

async fn setup() -> (Router, String) {
    let (routes, token) = routes().await;
    let router = routes
        .0
        .clone()
        .layer(routes.1.layer())
        .layer(MockConnectInfo(std::net::SocketAddr::from((
            [192, 0, 2, 7],
            4000,
        ))));
    (router, token)
}

/// The host's routes (not yet layered) and the engine's state.
async fn routes() -> ((Router, MfaState), String) {
    let mfa = Mfa::builder()
        .store(Arc::new(mfa_store_memory::MemoryStore::new()))
        .keys(KeyRing::generate())
        .tokens(
            JwtConfig::new("https://issuer.test", "api"),
            JwtKeys::generate_ed25519("k1").unwrap(),
        )
        .password_hasher(PasswordHasher::insecure_fast_for_tests())
        .clock(Arc::new(ManualClock::default()))
        .build()
        .unwrap();
    let password = SecretString::from("a long enough password");
    mfa.create_user(NewUser {
        identifier: "bob@example.test".into(),
        password: Some(password.clone()),
        contact: Contact::default(),
    })
    .await
    .unwrap();
    let LoginOutcome::Authenticated(tokens) = mfa
        .login(LoginRequest {
            identifier: "bob@example.test".into(),
            password,
            client: ClientInfo {
                ip: Some([192u8, 0, 2, 1].into()),
                ..ClientInfo::default()
            },
        })
        .await
        .unwrap()
    else {
        panic!("a user without factors signs in with the password");
    };
    let router = Router::new()
        .route("/me", get(me))
        .route("/strong", get(strong))
        .route("/recent", get(recent))
        .route("/client", get(client))
        .route("/limited", get(limited));
    ((router, MfaState::new(mfa)), tokens.access_token)
}

async fn call(
    router: &Router,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
    let mut req = Request::builder()
        .uri(path)
        .header("x-device-fingerprint", "fp-9");
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let res = router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, headers, json)
}

#[tokio::test]
async fn missing_or_bad_bearer_is_401_invalid_token() {
    let (router, _) = setup().await;
    let (status, headers, body) = call(&router, "/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_token");
    assert!(headers.contains_key(header::WWW_AUTHENTICATE));
    let (status, _, _) = call(&router, "/me", Some("not.a.jwt")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn valid_bearer_reaches_the_handler() {
    let (router, token) = setup().await;
    let (status, _, body) = call(&router, "/me", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.as_str().is_some());
}

#[tokio::test]
async fn aal1_session_is_refused_where_two_factors_are_required() {
    let (router, token) = setup().await;
    let (status, _, body) = call(&router, "/strong", Some(&token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "mfa_required");
    let (status, _, body) = call(&router, "/recent", Some(&token)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"], "step_up_required");
}

#[tokio::test]
async fn rate_limit_error_carries_retry_after() {
    let (router, _) = setup().await;
    let (status, headers, body) = call(&router, "/limited", None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"], "rate_limited");
    assert_eq!(body["retry_after"], 42);
    assert_eq!(headers[header::RETRY_AFTER], "42");
}

#[tokio::test]
async fn client_extractor_reads_the_fingerprint_header() {
    let (router, _) = setup().await;
    let (status, _, body) = call(&router, "/client", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, serde_json::json!(["fp-9", "192.0.2.7"]));
}

/// A router served without the peer address refuses loudly instead of
/// passing on a client with no IP (which would turn per-IP limits off).
#[tokio::test]
async fn a_missing_peer_address_is_a_configuration_error() {
    let ((router, state), _) = routes().await;
    let router = router.layer(state.layer());
    let (status, _, body) = call(&router, "/client", None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"], "configuration");
}

/// A route without the state layer refuses loudly too.
#[tokio::test]
async fn a_missing_state_layer_is_a_configuration_error() {
    let ((router, _), token) = routes().await;
    let (status, _, body) = call(&router, "/me", Some(&token)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"], "configuration");
}

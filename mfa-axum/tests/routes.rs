//! The ready-made routes: described by the OpenAPI document exactly, and
//! mounted into a host router that has its own state type.

use axum::body::Body;
use axum::extract::State;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use axum::{Json, Router};
use http_body_util::BodyExt;
use mfa_axum::{Aal2, MfaState, openapi, route_list};
use mfa_core::Mfa;
use mfa_core::clock::ManualClock;
use mfa_core::crypto::{JwtConfig, JwtKeys, KeyRing, PasswordHasher};
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

#[test]
fn every_route_is_documented_and_nothing_else() {
    let served: Vec<(String, String)> = route_list()
        .into_iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(served, openapi::documented_routes(&openapi::document()));
    assert!(served.len() >= 31, "{} routes", served.len());
}

/// A host's own state: the MFA routes and extractors need no `FromRef`.
#[derive(Clone)]
struct Host {
    greeting: &'static str,
}

async fn strong(State(host): State<Host>, Aal2(claims): Aal2) -> Json<Value> {
    Json(json!({ "greeting": host.greeting, "aal": claims.aal }))
}

fn app() -> Router {
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
    let mfa = MfaState::new(mfa);
    Router::new()
        .route("/strong", get(strong))
        .with_state(Host { greeting: "hi" })
        .merge(mfa.routes())
        .layer(mfa.layer())
        .layer(MockConnectInfo(std::net::SocketAddr::from((
            [192, 0, 2, 1],
            1,
        ))))
}

async fn call(
    app: &Router,
    method: &str,
    path: &str,
    body: Option<Value>,
    bearer: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(token) = bearer {
        req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let req = match body {
        Some(body) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => req.body(Body::empty()),
    };
    let res = app.clone().oneshot(req.unwrap()).await.unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn the_routes_serve_a_sign_in_beside_the_hosts_own_routes() {
    let app = app();
    let user = json!({ "identifier": "eve@example.test", "password": "a long enough password" });
    let (status, body) = call(&app, "POST", "/api/signup", Some(user.clone()), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, tokens) = call(&app, "POST", "/api/login", Some(user), None).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    let token = tokens["access_token"].as_str().unwrap();
    let (status, body) = call(&app, "GET", "/api/user/profile", None, Some(token)).await;
    assert_eq!(
        (status, &body["identifier"]),
        (StatusCode::OK, &json!("eve@example.test"))
    );
    // The host's route sees its own state and the MFA extractor.
    let (status, body) = call(&app, "GET", "/strong", None, Some(token)).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::FORBIDDEN, &json!("mfa_required"))
    );
    // A bare POST where every field is optional: the empty body reads as {}.
    let (status, body) = call(&app, "POST", "/api/mfa/totp/enroll", None, Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    // A body that is not JSON is refused in the API's error format.
    let req = Request::builder()
        .method("POST")
        .uri("/api/login")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("identifier=eve"))
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["error"], "invalid_input");
}

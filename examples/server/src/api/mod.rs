//! The HTTP API: one module per concern, and the route table that both the
//! router and the OpenAPI test read.

mod account;
mod auth;
mod devices;
mod meta;
mod mfa;
mod passkeys;
mod sessions;

use crate::store::StoreHandles;
use axum::extract::{FromRef, FromRequest, Request};
use axum::handler::Handler;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use axum::{Json, Router};
use mfa_axum::{ApiError, ClientConfig};
use mfa_core::model::{DeviceInfo, DeviceKind};
use mfa_core::{Mfa, MfaError};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// Header carrying a login ticket (alternatively: `?ticket=` or a `ticket`
/// field in the JSON body).
pub const TICKET_HEADER: &str = "x-mfa-ticket";

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub mfa: Mfa,
    /// How client information is read from requests.
    pub client: ClientConfig,
    /// The store, for the readiness probe.
    pub store: StoreHandles,
    /// Set the `Secure` attribute on cookies (production).
    pub secure_cookies: bool,
    /// The OpenAPI document served at `/openapi.json`.
    pub openapi: Arc<serde_json::Value>,
}

impl FromRef<AppState> for Mfa {
    fn from_ref(state: &AppState) -> Self {
        state.mfa.clone()
    }
}

impl FromRef<AppState> for ClientConfig {
    fn from_ref(state: &AppState) -> Self {
        state.client.clone()
    }
}

/// One served route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RouteInfo {
    /// HTTP method, upper case.
    pub method: &'static str,
    /// Path in OpenAPI/axum 0.8 syntax (`/api/sessions/{id}`).
    pub path: &'static str,
}

/// A router that records every route it is given.
pub struct Routes {
    router: Router<AppState>,
    list: Vec<RouteInfo>,
}

impl Routes {
    fn new() -> Self {
        Self {
            router: Router::new(),
            list: Vec::new(),
        }
    }

    fn on<H, T>(mut self, method: &'static str, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = match method {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            "DELETE" => MethodFilter::DELETE,
            "PUT" => MethodFilter::PUT,
            "PATCH" => MethodFilter::PATCH,
            other => panic!("unsupported method {other} in the route table"),
        };
        self.router = self.router.route(path, on(filter, handler));
        self.list.push(RouteInfo { method, path });
        self
    }

    /// Every route, sorted.
    #[must_use]
    pub fn list(&self) -> Vec<RouteInfo> {
        let mut list = self.list.clone();
        list.sort();
        list
    }

    /// The axum router.
    pub fn into_router(self) -> Router<AppState> {
        self.router
    }
}

/// The route table of the service.
#[must_use]
pub fn routes() -> Routes {
    Routes::new()
        .on("GET", "/", meta::index)
        .on("GET", "/app.js", meta::script)
        .on("GET", "/healthz", meta::healthz)
        .on("GET", "/readyz", meta::readyz)
        .on("GET", "/.well-known/jwks.json", meta::jwks)
        .on("GET", "/openapi.json", meta::openapi)
        .on("POST", "/api/signup", auth::signup)
        .on("POST", "/api/login", auth::login)
        .on("POST", "/api/login/skip-mfa", auth::skip_mfa)
        .on("POST", "/api/token/refresh", auth::refresh)
        .on("POST", "/api/logout", auth::logout)
        .on("GET", "/api/mfa/challenge", mfa::methods)
        .on("POST", "/api/mfa/challenge", mfa::send_challenge)
        .on("POST", "/api/mfa/verify", mfa::verify)
        .on("POST", "/api/mfa/step-up", mfa::step_up)
        .on("GET", "/api/mfa/settings", mfa::settings)
        .on("POST", "/api/mfa/totp/enroll", mfa::enroll_totp)
        .on("POST", "/api/mfa/totp/confirm", mfa::confirm)
        .on("POST", "/api/mfa/email/enroll", mfa::enroll_email)
        .on("POST", "/api/mfa/email/confirm", mfa::confirm)
        .on("POST", "/api/mfa/backup-codes", mfa::backup_codes)
        .on(
            "POST",
            "/api/mfa/passkey/register/start",
            passkeys::register_start,
        )
        .on(
            "POST",
            "/api/mfa/passkey/register/finish",
            passkeys::register_finish,
        )
        .on("POST", "/api/mfa/passkey/options", passkeys::options)
        .on("POST", "/api/mfa/passkey/verify", passkeys::verify)
        .on("GET", "/api/mfa/passkeys", passkeys::list)
        .on("DELETE", "/api/mfa/passkeys/{id}", passkeys::remove)
        .on("PATCH", "/api/mfa/passkeys/{id}", passkeys::rename)
        .on(
            "POST",
            "/api/passkey/login/options",
            passkeys::login_options,
        )
        .on("POST", "/api/passkey/login", passkeys::login)
        .on("POST", "/api/device/register", devices::register)
        .on("GET", "/api/device/trusted", devices::trusted)
        .on("DELETE", "/api/device/{id}", devices::revoke)
        .on("GET", "/api/sessions", sessions::list)
        .on("DELETE", "/api/sessions/{id}", sessions::revoke)
        .on("GET", "/api/user/profile", account::profile)
        .on("GET", "/api/audit", account::audit)
}

/// A JSON body whose rejection is an `invalid_input` error in the API's
/// error format. An empty body reads as `{}`, so an endpoint whose fields
/// are all optional takes a bare `POST`; a body that is there must be
/// `application/json`.
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let invalid = |reason| ApiError(MfaError::invalid_input("body", reason)).into_response();
        let json_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                let v = v.trim();
                v.eq_ignore_ascii_case("application/json")
                    || (v.starts_with("application/") && v.ends_with("+json"))
            });
        let bytes = match axum::body::Bytes::from_request(req, state).await {
            Ok(bytes) => bytes,
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err((
                    StatusCode::PAYLOAD_TOO_LARGE,
                    Json(serde_json::json!({
                        "error": "payload_too_large",
                        "message": "request body too large",
                    })),
                )
                    .into_response());
            }
            Err(_) => return Err(invalid("the body could not be read")),
        };
        let text: &[u8] = if bytes.is_empty() {
            b"{}"
        } else if json_type {
            &bytes
        } else {
            return Err(invalid("expected Content-Type: application/json"));
        };
        serde_json::from_slice(text)
            .map(Self)
            .map_err(|_| invalid("expected a JSON object of the documented shape"))
    }
}

/// The ticket of a request: header first, then the given fallback (query
/// parameter or body field).
fn ticket_of(headers: &HeaderMap, fallback: Option<String>) -> Option<String> {
    headers
        .get(TICKET_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .or(fallback.filter(|t| !t.is_empty()))
}

fn bearer_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
}

/// Descriptive device details a client may send with a sign-in.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceInput {
    kind: Option<DeviceKind>,
    name: Option<String>,
    os: Option<String>,
    os_version: Option<String>,
    browser: Option<String>,
    browser_version: Option<String>,
    app_version: Option<String>,
    brand: Option<String>,
    model: Option<String>,
}

impl From<DeviceInput> for DeviceInfo {
    fn from(d: DeviceInput) -> Self {
        Self {
            kind: d.kind.unwrap_or_default(),
            name: d.name,
            os: d.os,
            os_version: d.os_version,
            browser: d.browser,
            browser_version: d.browser_version,
            app_version: d.app_version,
            brand: d.brand,
            model: d.model,
        }
    }
}

/// The `Set-Cookie` value carrying a device-trust token.
fn trust_cookie(state: &AppState, token: &str) -> Option<HeaderValue> {
    let max_age = state.mfa.policy().device_trust.lifetime.num_seconds();
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}={token}; Path=/api; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}",
        state.client.trust_cookie
    ))
    .ok()
}

/// Adds the trust cookie to `response` when `token` is set.
fn with_trust_cookie(state: &AppState, token: Option<&str>, mut response: Response) -> Response {
    if let Some(value) = token.and_then(|t| trust_cookie(state, t)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_core::crypto::{JwtConfig, JwtKeys};
    use mfa_store_memory::MemoryStore;

    fn state(secure: bool) -> AppState {
        let store = Arc::new(MemoryStore::new());
        let mfa = Mfa::builder()
            .store(store.clone())
            .keys(mfa_core::crypto::KeyRing::generate())
            .tokens(
                JwtConfig::new("iss", "aud"),
                JwtKeys::generate_ed25519("k1").unwrap(),
            )
            .build()
            .unwrap();
        AppState {
            mfa,
            client: ClientConfig::default(),
            store: crate::store::StoreHandles {
                backend: "memory",
                users: store.clone(),
            },
            secure_cookies: secure,
            openapi: Arc::new(serde_json::Value::Null),
        }
    }

    #[test]
    fn the_trust_cookie_is_secure_in_production_and_always_http_only() {
        let prod = trust_cookie(&state(true), "tok").unwrap();
        let prod = prod.to_str().unwrap();
        assert!(prod.starts_with("mfa_trust=tok;"));
        assert!(
            prod.contains("; Secure")
                && prod.contains("HttpOnly")
                && prod.contains("SameSite=Strict")
        );
        assert!(prod.contains("Max-Age=2592000"));
        let dev = trust_cookie(&state(false), "tok").unwrap();
        assert!(!dev.to_str().unwrap().contains("Secure"));
    }

    #[test]
    fn the_route_table_has_no_duplicates() {
        let list = routes().list();
        let mut dedup = list.clone();
        dedup.dedup();
        assert_eq!(list, dedup);
    }
}

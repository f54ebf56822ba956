//! The one state the routes and extractors read: the engine, how clients
//! are read from requests, and how the trust cookie is written.

use crate::ApiError;
use crate::client::ClientConfig;
use crate::service::ServiceKeys;
use axum::Extension;
use axum::extract::FromRequestParts;
use axum::http::HeaderValue;
use axum::http::request::Parts;
use mfa_core::{Mfa, MfaError};

/// How the device-trust cookie is written (its name is
/// [`ClientConfig::trust_cookie`]).
#[derive(Debug, Clone)]
pub struct CookieConfig {
    /// The `Path` attribute: the prefix the MFA routes are mounted under
    /// (`/api` for [`MfaState::routes`] mounted at the root).
    pub path: String,
    /// Set the `Secure` attribute (HTTPS only). On by default; browsers
    /// also accept secure cookies from `http://localhost`.
    pub secure: bool,
}

impl Default for CookieConfig {
    fn default() -> Self {
        Self {
            path: "/api".into(),
            secure: true,
        }
    }
}

/// Everything the MFA routes and extractors need, in one cloneable value.
///
/// A host puts it on its router with [`MfaState::layer`] (or mounts
/// [`MfaState::routes`], which carries it), and every extractor of this
/// crate finds it there: no `FromRef` impls, whatever the host's own state
/// type is. An extractor used on a route without the layer answers 500 and
/// logs why.
#[derive(Clone)]
pub struct MfaState {
    /// The engine.
    pub mfa: Mfa,
    /// How client information is read from requests.
    pub client: ClientConfig,
    /// How the trust cookie is written.
    pub cookies: CookieConfig,
    /// The service keys the admin routes and the gateway sign-in accept
    /// (none by default).
    pub service_keys: ServiceKeys,
    /// Turns `true` when the server shuts down: open event streams end
    /// (see [`MfaState::with_shutdown`]).
    closing: Option<tokio::sync::watch::Receiver<bool>>,
}

impl std::fmt::Debug for MfaState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaState")
            .field("client", &self.client)
            .field("cookies", &self.cookies)
            .field("service_keys", &self.service_keys)
            .field("shutdown_signal", &self.closing.is_some())
            .finish_non_exhaustive()
    }
}

impl MfaState {
    /// The engine with default client and cookie settings (no trusted
    /// proxies; secure cookies on `/api`).
    #[must_use]
    pub fn new(mfa: Mfa) -> Self {
        Self {
            mfa,
            client: ClientConfig::default(),
            cookies: CookieConfig::default(),
            service_keys: ServiceKeys::default(),
            closing: None,
        }
    }

    /// Ends the open push status streams when `closing` turns `true`:
    /// send it when the server starts its graceful shutdown, which
    /// otherwise waits for every open stream (a browser reconnects to the
    /// new server by itself, and reads the state from the store).
    #[must_use]
    pub fn with_shutdown(mut self, closing: tokio::sync::watch::Receiver<bool>) -> Self {
        self.closing = Some(closing);
        self
    }

    /// Resolves once the server shuts down (never without
    /// [`MfaState::with_shutdown`]).
    pub(crate) async fn closed(&self) {
        match self.closing.clone() {
            Some(mut closing) => {
                if closing.wait_for(|closed| *closed).await.is_err() {
                    // The sender is gone: the server is gone.
                }
            }
            None => std::future::pending().await,
        }
    }

    /// Replaces how clients are read (trusted proxies, header names).
    #[must_use]
    pub fn with_client(mut self, client: ClientConfig) -> Self {
        self.client = client;
        self
    }

    /// Replaces the service keys the admin routes and the gateway sign-in
    /// accept.
    #[must_use]
    pub fn with_service_keys(mut self, keys: ServiceKeys) -> Self {
        self.service_keys = keys;
        self
    }

    /// Replaces how the trust cookie is written.
    #[must_use]
    pub fn with_cookies(mut self, cookies: CookieConfig) -> Self {
        self.cookies = cookies;
        self
    }

    /// The layer that makes this state available to the extractors of
    /// this crate on every route it wraps: `router.layer(state.layer())`.
    pub fn layer(&self) -> Extension<Self> {
        Extension(self.clone())
    }

    /// The `Set-Cookie` value carrying a device-trust token: `HttpOnly`,
    /// `SameSite=Strict`, limited to [`CookieConfig::path`], living as long
    /// as the policy trusts a device.
    #[must_use]
    pub fn trust_cookie(&self, token: &str) -> Option<HeaderValue> {
        let max_age = self.mfa.policy().device_trust.lifetime.num_seconds();
        let secure = if self.cookies.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{}={token}; Path={}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}",
            self.client.trust_cookie, self.cookies.path
        ))
        .ok()
    }

    /// The state a request carries, or the configuration error of a router
    /// built without [`MfaState::layer`].
    pub(crate) fn of(parts: &Parts) -> Result<Self, ApiError> {
        parts.extensions.get::<Self>().cloned().ok_or_else(|| {
            ApiError(MfaError::Config(
                "mfa-axum: the route has no MfaState; add `.layer(state.layer())` to the router"
                    .into(),
            ))
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for MfaState {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Self::of(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_core::crypto::{JwtConfig, JwtKeys, KeyRing};
    use std::sync::Arc;

    fn state(secure: bool) -> MfaState {
        let mfa = Mfa::builder()
            .store(Arc::new(mfa_store_memory::MemoryStore::new()))
            .keys(KeyRing::generate())
            .tokens(
                JwtConfig::new("iss", "aud"),
                JwtKeys::generate_ed25519("k1").unwrap(),
            )
            .build()
            .unwrap();
        MfaState::new(mfa).with_cookies(CookieConfig {
            path: "/auth".into(),
            secure,
        })
    }

    #[test]
    fn the_trust_cookie_is_http_only_strict_and_secure_unless_turned_off() {
        let prod = state(true).trust_cookie("tok").unwrap();
        let prod = prod.to_str().unwrap();
        assert!(prod.starts_with("mfa_trust=tok;"));
        assert!(
            prod.contains("; Secure")
                && prod.contains("HttpOnly")
                && prod.contains("SameSite=Strict")
                && prod.contains("Path=/auth;")
        );
        // The policy's device-trust lifetime: 30 days by default.
        assert!(prod.contains("Max-Age=2592000"));
        let dev = state(false).trust_cookie("tok").unwrap();
        assert!(!dev.to_str().unwrap().contains("Secure"));
        assert!(CookieConfig::default().secure);
    }
}

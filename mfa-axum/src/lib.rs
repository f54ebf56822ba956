//! axum glue for `mfa-core`: what any host serving the MFA flow over HTTP
//! needs.
//!
//! - [`Authenticated`], [`Aal2`] and [`RecentMfa`]: extractors that verify
//!   the bearer access token (and the session behind it), demand two factors,
//!   or demand a recent second factor (step-up).
//! - [`ApiError`]: any [`mfa_core::MfaError`] as a JSON response
//!   `{"error": code, "message", "retry_after"}` with the right status and a
//!   `Retry-After` header.
//! - [`Client`] and [`ClientConfig`]: the client's IP (honouring only
//!   trusted proxies), user agent, device fingerprint header and trust-token
//!   cookie, as a [`mfa_core::ClientInfo`].
//!
//! ```
//! use axum::extract::FromRef;
//! use axum::routing::get;
//! use axum::{Json, Router};
//! use mfa_axum::{Aal2, ApiError, Authenticated, Client, ClientConfig, RecentMfa};
//! use mfa_core::Mfa;
//!
//! #[derive(Clone)]
//! struct AppState {
//!     mfa: Mfa,
//!     client: ClientConfig,
//! }
//!
//! impl FromRef<AppState> for Mfa {
//!     fn from_ref(state: &AppState) -> Mfa {
//!         state.mfa.clone()
//!     }
//! }
//!
//! impl FromRef<AppState> for ClientConfig {
//!     fn from_ref(state: &AppState) -> ClientConfig {
//!         state.client.clone()
//!     }
//! }
//!
//! async fn me(Authenticated(claims): Authenticated) -> Json<String> {
//!     Json(claims.sub.to_string())
//! }
//!
//! async fn settings(Aal2(claims): Aal2) -> Json<u8> {
//!     Json(claims.aal.level())
//! }
//!
//! // Ten minutes: a factor change needs a fresh second factor.
//! async fn remove_factor(RecentMfa(claims): RecentMfa<600>) -> Result<(), ApiError> {
//!     let _ = claims;
//!     Ok(())
//! }
//!
//! async fn whoami(Client(client): Client) -> Json<Option<String>> {
//!     Json(client.ip)
//! }
//!
//! fn router(state: AppState) -> Router {
//!     Router::new()
//!         .route("/me", get(me))
//!         .route("/settings", get(settings))
//!         .route("/factor", axum::routing::delete(remove_factor))
//!         .route("/whoami", get(whoami))
//!         .with_state(state)
//! }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod auth;
mod client;
mod error;

pub use auth::{Aal2, Authenticated, RecentMfa};
pub use client::{Client, ClientConfig, InvalidIpNet, IpNet};
pub use error::{ApiError, status_for};

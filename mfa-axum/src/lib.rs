//! axum routes and extractors for `mfa-core`: the whole MFA API mounted in
//! one line, and the pieces to write your own handlers.
//!
//! - [`MfaState`]: the engine plus how clients are read and the trust
//!   cookie written. [`MfaState::routes`] is the MFA API (sign-up, sign-in,
//!   second factor, enrolment of every factor, backup codes, refresh and
//!   logout, sessions, devices, the user's audit log; see [`route_list`]
//!   and [`openapi::document`]). [`MfaState::layer`] lets the extractors
//!   below work on the host's own routes, whatever its state type: no
//!   `FromRef` impls.
//! - [`Authenticated`], [`Aal2`] and [`RecentMfa`]: extractors that verify
//!   the bearer access token (and the session behind it), demand two factors,
//!   or demand a recent second factor (step-up).
//! - [`Client`]: the client's IP (honouring only trusted proxies), user
//!   agent, device fingerprint header and trust-token cookie, as a
//!   [`mfa_core::ClientInfo`]. Serve with
//!   `into_make_service_with_connect_info::<SocketAddr>()`; without a peer
//!   address it refuses loudly.
//! - [`ServiceKeys`], [`AdminKey`] and [`GatewayKey`]: static API keys
//!   (stored as digests) for other services, scoped to the admin API or
//!   the gateway sign-in; see [`service`].
//! - [`JsonBody`] and [`Ticket`]: the JSON body and the login ticket, both
//!   refusing in the [`ApiError`] format.
//! - [`ApiError`]: any [`mfa_core::MfaError`] as a JSON response
//!   `{"error": code, "message", "retry_after"}` with the right status and a
//!   `Retry-After` header. [`MfaState::reply`] answers the engine's outcomes
//!   (tokens, login, verification, enrolment) as the routes do, trust
//!   cookie included.
//!
//! ```
//! use axum::routing::get;
//! use axum::{Json, Router};
//! use mfa_axum::{Aal2, ApiError, Authenticated, Client, MfaState, RecentMfa};
//! use mfa_core::Mfa;
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
//!     Json(client.ip_text())
//! }
//!
//! fn app(engine: Mfa) -> Router {
//!     let mfa = MfaState::new(engine);
//!     Router::new()
//!         .route("/me", get(me))
//!         .route("/settings", get(settings))
//!         .route("/factor", axum::routing::delete(remove_factor))
//!         .route("/whoami", get(whoami))
//!         .merge(mfa.routes())
//!         .layer(mfa.layer())
//! }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// The hand-written OpenAPI document is one deep `json!` literal.
#![recursion_limit = "512"]

mod auth;
mod body;
mod client;
mod error;
pub mod openapi;
mod reply;
mod routes;
pub mod service;
mod state;

pub use auth::{Aal2, Authenticated, RecentMfa, bearer_token};
pub use body::{JsonBody, TICKET_HEADER, Ticket, required_ticket, ticket_of};
pub use client::{Client, ClientConfig, InvalidIpNet, IpNet};
pub use error::{ApiError, status_for};
pub use reply::{Reply, TokensView};
pub use routes::{
    MAX_ADMIN_AUDIT_PAGE, MAX_AUDIT_PAGE, MAX_STREAM, MAX_WAIT, RouteInfo, STATUS_POLL, Who,
    route_list,
};
pub use service::{AdminKey, GatewayKey, Scope, ServiceKey, ServiceKeyError, ServiceKeys};
pub use state::{CookieConfig, MfaState};

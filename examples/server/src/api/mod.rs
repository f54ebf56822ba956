//! The HTTP API: the MFA routes of `mfa-axum`, plus the service's own
//! (demo page, probes, keys, the API description), and the route table
//! that both the router and the OpenAPI test read.

mod meta;

use crate::store::StoreHandles;
use axum::Router;
use axum::routing::get;
use mfa_axum::{MfaState, RouteInfo};
use std::sync::Arc;

/// Shared state of the service's own handlers.
#[derive(Clone)]
pub struct AppState {
    /// The engine, client and cookie settings of the MFA routes.
    pub mfa: MfaState,
    /// The store, for the readiness probe.
    pub store: StoreHandles,
    /// The OpenAPI document served at `/openapi.json`.
    pub openapi: Arc<serde_json::Value>,
}

/// The service's own routes (the MFA API comes from `mfa-axum`).
const OWN_ROUTES: &[RouteInfo] = &[
    RouteInfo {
        method: "GET",
        path: "/",
    },
    RouteInfo {
        method: "GET",
        path: "/app.js",
    },
    RouteInfo {
        method: "GET",
        path: "/healthz",
    },
    RouteInfo {
        method: "GET",
        path: "/readyz",
    },
    RouteInfo {
        method: "GET",
        path: "/.well-known/jwks.json",
    },
    RouteInfo {
        method: "GET",
        path: "/openapi.json",
    },
];

/// Every route the service serves, sorted.
#[must_use]
pub fn route_list() -> Vec<RouteInfo> {
    let mut list = mfa_axum::route_list();
    list.extend_from_slice(OWN_ROUTES);
    list.sort();
    list
}

/// The service's router: its own routes and the MFA API.
pub fn router(state: AppState) -> Router {
    let mfa = state.mfa.routes();
    Router::new()
        .route("/", get(meta::index))
        .route("/app.js", get(meta::script))
        .route("/healthz", get(meta::healthz))
        .route("/readyz", get(meta::readyz))
        .route("/.well-known/jwks.json", get(meta::jwks))
        .route("/openapi.json", get(meta::openapi))
        .with_state(state)
        .merge(mfa)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_table_has_no_duplicates() {
        let list = route_list();
        let mut dedup = list.clone();
        dedup.dedup();
        assert_eq!(list, dedup);
    }
}

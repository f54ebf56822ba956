//! Health, keys, the API description and the demo page.

use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// `GET /`: the demo page.
pub async fn index() -> Html<&'static str> {
    Html(crate::web::INDEX_HTML)
}

/// `GET /app.js`: the demo page's script.
pub async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        crate::web::APP_JS,
    )
        .into_response()
}

/// `GET /healthz`: the process is up.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the store answers.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state
        .store
        .users
        .find_user_by_identifier("readyz.probe.invalid")
        .await
    {
        Ok(_) => Json(serde_json::json!({ "status": "ready", "store": state.store.backend }))
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness probe: store unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "unavailable", "store": state.store.backend })),
            )
                .into_response()
        }
    }
}

/// `GET /.well-known/jwks.json`.
pub async fn jwks(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.mfa.mfa.jwks())
}

/// `GET /openapi.json`.
pub async fn openapi(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json((*state.openapi).clone())
}

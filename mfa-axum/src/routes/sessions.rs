//! Sessions: where the user is signed in.

use super::devices::DeviceView;
use crate::MfaState;
use crate::{ApiError, Authenticated};
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use mfa_core::MfaError;
use mfa_core::model::SessionId;

/// `GET /api/sessions`: the user's live sessions, newest first.
pub(crate) async fn list(
    state: MfaState,
    Authenticated(claims): Authenticated,
) -> Result<Json<serde_json::Value>, ApiError> {
    let sessions = state.mfa.sessions(claims.sub).await?;
    let views: Vec<serde_json::Value> = sessions
        .iter()
        .map(|v| {
            let s = &v.session;
            serde_json::json!({
                "id": s.id,
                "current": s.id == claims.sid,
                "session_type": s.session_type,
                "aal": s.aal,
                "amr": s.amr,
                "ip": s.ip,
                "user_agent": s.user_agent,
                "country": s.country,
                "created_at": s.created_at,
                "last_seen_at": s.last_seen_at,
                "expires_at": s.expires_at,
                "device": v.device.as_ref().map(|d| DeviceView::new(d, claims.dev)),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "sessions": views })))
}

/// `DELETE /api/sessions/{id}`: signs one of the user's sessions out.
pub(crate) async fn revoke(
    state: MfaState,
    Authenticated(claims): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: SessionId = id
        .parse()
        .map_err(|_| MfaError::invalid_input("id", "not a UUID"))?;
    state.mfa.revoke_session(claims.sub, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

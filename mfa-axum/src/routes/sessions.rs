//! Sessions: where the user is signed in.

use super::devices::DeviceView;
use crate::MfaState;
use crate::{ApiError, Authenticated};
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use mfa_core::MfaError;
use mfa_core::model::{Aal, AuthMethod, SessionId, SessionType};
use serde::Serialize;
use utoipa::ToSchema;

/// `GET /api/sessions`: the user's live sessions, newest first.
pub(crate) async fn list(
    state: MfaState,
    Authenticated(claims): Authenticated,
) -> Result<Json<SessionList>, ApiError> {
    let sessions = state.mfa.sessions(claims.sub).await?;
    let sessions = sessions
        .iter()
        .map(|v| {
            let s = &v.session;
            SessionView {
                id: s.id,
                current: s.id == claims.sid,
                session_type: s.session_type,
                aal: s.aal,
                amr: s.amr.clone(),
                ip: s.ip.clone(),
                user_agent: s.user_agent.clone(),
                country: s.country.clone(),
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
                expires_at: s.expires_at,
                device: v.device.as_ref().map(|d| DeviceView::new(d, claims.dev)),
            }
        })
        .collect();
    Ok(Json(SessionList { sessions }))
}

/// The user's live sessions.
#[derive(Serialize, ToSchema)]
pub(crate) struct SessionList {
    sessions: Vec<SessionView>,
}

/// A session as the API shows it.
#[derive(Serialize, ToSchema)]
pub(crate) struct SessionView {
    id: SessionId,
    /// The session of the calling token.
    current: bool,
    session_type: SessionType,
    aal: Aal,
    amr: Vec<AuthMethod>,
    ip: Option<String>,
    user_agent: Option<String>,
    country: Option<String>,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    device: Option<DeviceView>,
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

//! The signed-in user's profile and audit trail.

use crate::MfaState;
use crate::{ApiError, Authenticated};
use axum::Json;
use axum::extract::Query;
use chrono::{DateTime, Utc};
use mfa_core::MfaError;
use mfa_core::model::{
    Aal, AuditEvent, AuditEventId, AuthMethod, DeviceId, SessionId, UserId, UserStatus,
};
use mfa_core::store::{AuditCursor, AuditFilter, PageRequest};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Largest audit page the API serves.
pub const MAX_AUDIT_PAGE: u32 = 100;

/// `GET /api/user/profile`.
pub(crate) async fn profile(
    state: MfaState,
    Authenticated(claims): Authenticated,
) -> Result<Json<Profile>, ApiError> {
    let user = state.mfa.user(claims.sub).await?;
    Ok(Json(Profile {
        id: user.id,
        identifier: user.identifier,
        email: user.email,
        email_verified_at: user.email_verified_at,
        phone: user.phone,
        locale: user.locale,
        status: user.status,
        created_at: user.created_at,
        session: ProfileSession {
            id: claims.sid,
            aal: claims.aal,
            amr: claims.amr,
            device_id: claims.dev,
            auth_time: DateTime::<Utc>::from_timestamp(claims.auth_time, 0),
            expires_at: DateTime::<Utc>::from_timestamp(claims.exp, 0),
        },
    }))
}

/// The signed-in user and the session of the calling token.
#[derive(Serialize, ToSchema)]
pub(crate) struct Profile {
    id: UserId,
    identifier: String,
    email: Option<String>,
    email_verified_at: Option<DateTime<Utc>>,
    phone: Option<String>,
    locale: Option<String>,
    status: UserStatus,
    created_at: DateTime<Utc>,
    session: ProfileSession,
}

/// The session of the calling token, as its claims tell it.
#[derive(Serialize, ToSchema)]
pub(crate) struct ProfileSession {
    id: SessionId,
    aal: Aal,
    amr: Vec<AuthMethod>,
    device_id: Option<DeviceId>,
    /// When the user last authenticated.
    auth_time: Option<DateTime<Utc>>,
    /// When the access token expires.
    expires_at: Option<DateTime<Utc>>,
}

/// A page of audit events, newest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct AuditPage {
    pub(crate) items: Vec<AuditEvent>,
    /// Pass as `cursor` for the next page; null on the last.
    pub(crate) next_cursor: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct AuditQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// Reads a cursor written by [`format_cursor`].
pub(crate) fn parse_cursor(cursor: &str) -> Option<AuditCursor> {
    let (at, id) = cursor.split_once('_')?;
    Some(AuditCursor {
        at: DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc),
        id: id.parse::<AuditEventId>().ok()?,
    })
}

/// A listing's position as the `next_cursor` text: time and event id.
pub(crate) fn format_cursor(cursor: AuditCursor) -> String {
    format!(
        "{}_{}",
        cursor
            .at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        cursor.id
    )
}

/// `GET /api/audit?limit=&cursor=`: the user's own audit events, newest
/// first; `next_cursor` continues the listing.
pub(crate) async fn audit(
    state: MfaState,
    Authenticated(claims): Authenticated,
    Query(query): Query<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = match query.limit.as_deref() {
        None => 20,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=MAX_AUDIT_PAGE).contains(l))
            .ok_or(MfaError::invalid_input("limit", "1 to 100"))?,
    };
    let after = match query.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(parse_cursor(c).ok_or(MfaError::invalid_input("cursor", "malformed"))?),
    };
    let filter = AuditFilter {
        user_id: Some(claims.sub),
        ..AuditFilter::default()
    };
    let page = state
        .mfa
        .audit_events(&filter, &PageRequest { limit, after })
        .await?;
    Ok(Json(AuditPage {
        items: page.items,
        next_cursor: page.next.map(format_cursor),
    }))
}

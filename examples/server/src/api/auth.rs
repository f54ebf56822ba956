//! Accounts and sign-in: signup, login, refresh, logout.

use super::{AppState, Body, DeviceInput, ticket_of, with_trust_cookie};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use mfa_axum::{ApiError, Authenticated, Client};
use mfa_core::crypto::SecretString;
use mfa_core::model::{Aal, AuthMethod, Contact, FactorKind, SessionId};
use mfa_core::{LoginOutcome, LoginRequest, MfaError, NewUser, Tokens};
use serde::{Deserialize, Serialize};

/// Tokens as the API returns them.
#[derive(Debug, Serialize)]
pub struct TokensView {
    session_id: SessionId,
    token_type: &'static str,
    access_token: String,
    access_expires_at: DateTime<Utc>,
    refresh_token: String,
    refresh_expires_at: DateTime<Utc>,
    aal: Aal,
    amr: Vec<AuthMethod>,
}

impl From<&Tokens> for TokensView {
    fn from(t: &Tokens) -> Self {
        Self {
            session_id: t.session_id,
            token_type: "Bearer",
            access_token: t.access_token.clone(),
            access_expires_at: t.access_expires_at,
            refresh_token: t.refresh_token.clone(),
            refresh_expires_at: t.refresh_expires_at,
            aal: t.aal,
            amr: t.amr.clone(),
        }
    }
}

/// Answers `tokens` as JSON, setting the trust cookie when the engine issued
/// (or rotated) a device-trust token.
pub(super) fn tokens_response(
    state: &AppState,
    tokens: &Tokens,
    extra: serde_json::Value,
) -> Response {
    let mut body = serde_json::to_value(TokensView::from(tokens)).unwrap_or_default();
    if let (Some(body), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    with_trust_cookie(
        state,
        tokens.trust_token.as_deref(),
        Json(body).into_response(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    identifier: String,
    password: String,
    email: Option<String>,
    phone: Option<String>,
    locale: Option<String>,
}

#[derive(Serialize)]
struct SignupResponse {
    user_id: String,
    identifier: String,
}

pub async fn signup(
    State(state): State<AppState>,
    Body(req): Body<SignupRequest>,
) -> Result<Response, ApiError> {
    let user = state
        .mfa
        .create_user(NewUser {
            identifier: req.identifier,
            password: Some(SecretString::from(req.password)),
            contact: Contact {
                email: req.email,
                phone: req.phone,
                locale: req.locale,
            },
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(SignupResponse {
            user_id: user.id.to_string(),
            identifier: user.identifier,
        }),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    identifier: String,
    password: String,
    #[serde(default)]
    device: Option<DeviceInput>,
}

#[derive(Serialize)]
struct PendingLogin {
    ticket: String,
    mfa_required: bool,
    enrollment_required: bool,
    methods: Vec<FactorKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deadline: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    can_skip: Option<bool>,
}

pub async fn login(
    State(state): State<AppState>,
    Client(mut client): Client,
    Body(req): Body<LoginBody>,
) -> Result<Response, ApiError> {
    if let Some(device) = req.device {
        client.device = device.into();
    }
    let outcome = state
        .mfa
        .login(LoginRequest {
            identifier: req.identifier,
            password: SecretString::from(req.password),
            client,
        })
        .await?;
    Ok(login_response(&state, outcome))
}

pub(super) fn login_response(state: &AppState, outcome: LoginOutcome) -> Response {
    match outcome {
        LoginOutcome::Authenticated(tokens) => tokens_response(
            state,
            &tokens,
            serde_json::json!({ "mfa_required": false, "enrollment_required": false, "methods": [] }),
        ),
        LoginOutcome::MfaRequired {
            ticket,
            methods,
            expires_at,
        } => Json(PendingLogin {
            ticket,
            mfa_required: true,
            enrollment_required: false,
            methods,
            expires_at: Some(expires_at),
            deadline: None,
            can_skip: None,
        })
        .into_response(),
        LoginOutcome::EnrollmentRequired {
            ticket,
            deadline,
            can_skip,
        } => Json(PendingLogin {
            ticket,
            mfa_required: true,
            enrollment_required: true,
            methods: Vec::new(),
            expires_at: None,
            deadline,
            can_skip: Some(can_skip),
        })
        .into_response(),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TicketBody {
    ticket: Option<String>,
}

/// Signs in without a second factor while the enrolment grace period lasts.
pub async fn skip_mfa(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    Body(req): Body<TicketBody>,
) -> Result<Response, ApiError> {
    let ticket = ticket_of(&headers, req.ticket).ok_or(ApiError(MfaError::InvalidTicket))?;
    let tokens = state.mfa.continue_without_mfa(&ticket, client).await?;
    Ok(tokens_response(&state, &tokens, serde_json::json!({})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    refresh_token: String,
}

pub async fn refresh(
    State(state): State<AppState>,
    Client(client): Client,
    Body(req): Body<RefreshBody>,
) -> Result<Response, ApiError> {
    let tokens = state.mfa.refresh(&req.refresh_token, &client).await?;
    Ok(tokens_response(&state, &tokens, serde_json::json!({})))
}

pub async fn logout(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
) -> Result<StatusCode, ApiError> {
    state.mfa.logout(&claims).await?;
    Ok(StatusCode::NO_CONTENT)
}

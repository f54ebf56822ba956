//! Accounts and sign-in: signup, login, refresh, logout.

use super::DeviceInput;
use crate::{ApiError, Authenticated, Client, JsonBody, MfaState, required_ticket};
use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use mfa_core::crypto::SecretString;
use mfa_core::model::Contact;
use mfa_core::{LoginRequest, NewUser};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SignupRequest)]
pub(crate) struct SignupRequest {
    #[schema(max_length = 254)]
    identifier: String,
    #[schema(min_length = 8)]
    password: String,
    email: Option<String>,
    phone: Option<String>,
    locale: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct SignupResponse {
    #[schema(format = Uuid)]
    user_id: String,
    identifier: String,
}

pub(crate) async fn signup(
    state: MfaState,
    JsonBody(req): JsonBody<SignupRequest>,
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = LoginRequest)]
pub(crate) struct LoginBody {
    identifier: String,
    password: String,
    #[serde(default)]
    device: Option<DeviceInput>,
}

pub(crate) async fn login(
    state: MfaState,
    Client(mut client): Client,
    JsonBody(req): JsonBody<LoginBody>,
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
    Ok(state.reply(outcome).into_response())
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TicketRequest)]
pub(crate) struct TicketBody {
    pub(crate) ticket: Option<String>,
}

/// Signs in without a second factor while the enrolment grace period lasts.
pub(crate) async fn skip_mfa(
    state: MfaState,
    Client(client): Client,
    headers: HeaderMap,
    JsonBody(req): JsonBody<TicketBody>,
) -> Result<Response, ApiError> {
    let ticket = required_ticket(&headers, req.ticket)?;
    let tokens = state.mfa.continue_without_mfa(&ticket, client).await?;
    Ok(state.reply(tokens).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RefreshRequest)]
pub(crate) struct RefreshBody {
    refresh_token: String,
}

pub(crate) async fn refresh(
    state: MfaState,
    Client(client): Client,
    JsonBody(req): JsonBody<RefreshBody>,
) -> Result<Response, ApiError> {
    let tokens = state.mfa.refresh(&req.refresh_token, &client).await?;
    Ok(state.reply(tokens).into_response())
}

pub(crate) async fn logout(
    state: MfaState,
    Authenticated(claims): Authenticated,
) -> Result<StatusCode, ApiError> {
    state.mfa.logout(&claims).await?;
    Ok(StatusCode::NO_CONTENT)
}

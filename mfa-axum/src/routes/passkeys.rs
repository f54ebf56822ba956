//! Passkeys and security keys (WebAuthn): registration, the second factor,
//! passwordless sign-in, and the list a security page shows.
//!
//! Options go to the browser as `{"publicKey": …}` with base64url fields
//! (`PublicKeyCredential.parseCreationOptionsFromJSON` /
//! `parseRequestOptionsFromJSON` turn them into what
//! `navigator.credentials` takes); the browser's answer comes back as the
//! JSON of the `PublicKeyCredential` (`credential.toJSON()`), with the
//! ceremony id the options came with.

use super::Who;
use super::auth::TicketBody;
use super::mfa::{EnrollStartBody, RenameBody, factor_id};
use crate::{ApiError, Authenticated, Client, JsonBody, MfaState, required_ticket};
use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use mfa_core::model::{ChallengeId, FactorId, FactorKind};
use mfa_core::passkey::PasskeyInfo;
use mfa_core::{MfaError, PasskeyChallenge, PasskeySignInRequest, PasskeyVerifyRequest};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A WebAuthn ceremony begun: the options for the browser.
#[derive(Serialize, ToSchema)]
#[schema(as = PasskeyChallenge)]
pub(crate) struct ChallengeView<'a> {
    ceremony: ChallengeId,
    /// `{"publicKey": …}` with base64url fields, for
    /// `PublicKeyCredential.parseCreationOptionsFromJSON` /
    /// `parseRequestOptionsFromJSON`.
    #[schema(value_type = Object)]
    options: &'a serde_json::Value,
    expires_at: DateTime<Utc>,
}

/// The user's passkeys.
#[derive(Serialize, ToSchema)]
pub(crate) struct PasskeyList {
    passkeys: Vec<PasskeyInfo>,
}

fn challenge_json(challenge: &PasskeyChallenge) -> Response {
    Json(ChallengeView {
        ceremony: challenge.ceremony,
        options: &challenge.options,
        expires_at: challenge.expires_at,
    })
    .into_response()
}

fn ceremony_of(text: &str) -> Result<ChallengeId, ApiError> {
    text.parse()
        .map_err(|_| ApiError(MfaError::invalid_input("ceremony", "not a UUID")))
}

/// `POST /api/mfa/passkey/register/start`: options for
/// `navigator.credentials.create()`, for a signed-in user with a recent
/// second factor (bearer token) or during sign-in (enrolment ticket).
pub(crate) async fn register_start(
    state: MfaState,
    headers: HeaderMap,
    JsonBody(req): JsonBody<EnrollStartBody>,
) -> Result<Response, ApiError> {
    let who = state.who(&headers, req.ticket).await?;
    let challenge = state
        .mfa
        .start_passkey_registration(who.actor(), req.label.as_deref())
        .await?;
    Ok(challenge_json(&challenge))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PasskeyRegisterFinishRequest)]
pub(crate) struct RegisterFinishBody {
    ticket: Option<String>,
    #[schema(format = Uuid)]
    ceremony: String,
    /// `PublicKeyCredential.toJSON()` of the created credential.
    #[schema(value_type = Object)]
    credential: serde_json::Value,
}

/// `POST /api/mfa/passkey/register/finish`: the browser's answer. The
/// passkey is active at once; a first factor comes with backup codes, and
/// with a ticket the sign-in completes.
pub(crate) async fn register_finish(
    state: MfaState,
    Client(client): Client,
    headers: HeaderMap,
    JsonBody(req): JsonBody<RegisterFinishBody>,
) -> Result<Response, ApiError> {
    let ceremony = ceremony_of(&req.ceremony)?;
    let who = state.who(&headers, req.ticket).await?;
    let enrolled = state
        .mfa
        .finish_passkey_registration(who.actor(), ceremony, &req.credential.to_string(), &client)
        .await?;
    Ok(state.reply(enrolled).into_response())
}

/// `POST /api/mfa/passkey/options`: options for `navigator.credentials
/// .get()` answering a login or step-up ticket.
pub(crate) async fn options(
    state: MfaState,
    headers: HeaderMap,
    JsonBody(req): JsonBody<TicketBody>,
) -> Result<Response, ApiError> {
    let ticket = required_ticket(&headers, req.ticket)?;
    let challenge = state.mfa.passkey_options(&ticket).await?;
    Ok(challenge_json(&challenge))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PasskeyVerifyRequest)]
pub(crate) struct VerifyBody {
    ticket: Option<String>,
    #[schema(format = Uuid)]
    ceremony: String,
    /// `PublicKeyCredential.toJSON()` of the assertion.
    #[schema(value_type = Object)]
    credential: serde_json::Value,
    #[serde(default)]
    remember_device: bool,
}

/// `POST /api/mfa/passkey/verify`: completes a sign-in or step-up with the
/// browser's assertion.
pub(crate) async fn verify(
    state: MfaState,
    Client(client): Client,
    headers: HeaderMap,
    JsonBody(req): JsonBody<VerifyBody>,
) -> Result<Response, ApiError> {
    let ticket = required_ticket(&headers, req.ticket)?;
    let ceremony = ceremony_of(&req.ceremony)?;
    let response = req.credential.to_string();
    let verified = state
        .mfa
        .verify_passkey(PasskeyVerifyRequest {
            ticket: &ticket,
            ceremony,
            response: &response,
            remember_device: req.remember_device,
            client: &client,
        })
        .await?;
    Ok(state.reply(verified).into_response())
}

/// `POST /api/passkey/login/options`: options for a passwordless sign-in
/// (no account named; `mediation: conditional` for autofill).
pub(crate) async fn login_options(
    state: MfaState,
    Client(client): Client,
) -> Result<Response, ApiError> {
    let challenge = state.mfa.passkey_sign_in_options(&client).await?;
    Ok(challenge_json(&challenge))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PasskeyLoginRequest)]
pub(crate) struct LoginBody {
    #[schema(format = Uuid)]
    ceremony: String,
    /// `PublicKeyCredential.toJSON()` of the assertion.
    #[schema(value_type = Object)]
    credential: serde_json::Value,
}

/// `POST /api/passkey/login`: signs in with a passkey alone; answers like
/// `/api/login`.
pub(crate) async fn login(
    state: MfaState,
    Client(client): Client,
    JsonBody(req): JsonBody<LoginBody>,
) -> Result<Response, ApiError> {
    let ceremony = ceremony_of(&req.ceremony)?;
    let response = req.credential.to_string();
    let outcome = state
        .mfa
        .passkey_sign_in(PasskeySignInRequest {
            ceremony,
            response: &response,
            client,
        })
        .await?;
    Ok(state.reply(outcome).into_response())
}

/// `GET /api/mfa/passkeys`: the user's passkeys (label, flags, transports,
/// status, last use).
pub(crate) async fn list(
    state: MfaState,
    Authenticated(claims): Authenticated,
) -> Result<Json<PasskeyList>, ApiError> {
    let passkeys = state.mfa.passkeys(claims.sub).await?;
    Ok(Json(PasskeyList { passkeys }))
}

/// `PATCH /api/mfa/passkeys/{id}`: renames a passkey (`null` clears the
/// name); a recent second factor is needed.
pub(crate) async fn rename(
    state: MfaState,
    Authenticated(claims): Authenticated,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<RenameBody>,
) -> Result<StatusCode, ApiError> {
    let factor = passkey_of(&state, &claims, &id).await?;
    let who = Who::Session(claims);
    state
        .mfa
        .rename_factor(who.actor(), factor, req.label.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The user's passkey `id`, or `not_found`.
async fn passkey_of(
    state: &MfaState,
    claims: &mfa_core::crypto::AccessClaims,
    id: &str,
) -> Result<FactorId, ApiError> {
    let id = factor_id(id)?;
    state
        .mfa
        .factors(claims.sub)
        .await?
        .into_iter()
        .find(|f| f.id == id && f.kind == FactorKind::Webauthn)
        .map(|f| f.id)
        .ok_or(ApiError(MfaError::NotFound))
}

/// `DELETE /api/mfa/passkeys/{id}`: removes a passkey (a recent second
/// factor needed; removing the last factor removes the backup codes).
pub(crate) async fn remove(
    state: MfaState,
    Authenticated(claims): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let factor = passkey_of(&state, &claims, &id).await?;
    let who = Who::Session(claims);
    state.mfa.remove_factor(who.actor(), factor).await?;
    Ok(StatusCode::NO_CONTENT)
}

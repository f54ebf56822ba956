//! Account recovery and email verification: a reset link asked for by
//! identifier, the new password set with its token, and the account's
//! email address proved with a link.

use crate::{ApiError, Authenticated, Client, JsonBody, MfaState};
use axum::Json;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use mfa_core::crypto::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ForgotPasswordRequest)]
pub(crate) struct ForgotBody {
    identifier: String,
}

/// `POST /api/password/forgot`: sends a reset link when the identifier
/// names an active account with a verified email address. Answers 202 in
/// every case (no user enumeration).
pub(crate) async fn forgot(
    state: MfaState,
    Client(client): Client,
    JsonBody(body): JsonBody<ForgotBody>,
) -> Result<StatusCode, ApiError> {
    state
        .mfa
        .request_password_reset(&body.identifier, &client)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ResetPasswordRequest)]
pub(crate) struct ResetBody {
    /// From the reset link: `<user id>.<43 characters>`.
    token: String,
    #[schema(min_length = 8)]
    new_password: String,
}

/// `POST /api/password/reset`: sets the new password with the link's
/// token; every session and device trust end. Signs nobody in.
pub(crate) async fn reset(
    state: MfaState,
    Client(client): Client,
    JsonBody(body): JsonBody<ResetBody>,
) -> Result<StatusCode, ApiError> {
    state
        .mfa
        .reset_password(&body.token, &SecretString::from(body.new_password), &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/user/email/verification`: sends the signed-in user a link
/// proving their email address.
pub(crate) async fn send_verification(
    state: MfaState,
    Authenticated(claims): Authenticated,
) -> Result<Json<VerificationSent>, ApiError> {
    let expires_at = state.mfa.send_email_verification(&claims).await?;
    Ok(Json(VerificationSent { expires_at }))
}

/// A verification link sent.
#[derive(Serialize, ToSchema)]
pub(crate) struct VerificationSent {
    /// When the link stops working.
    expires_at: DateTime<Utc>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = VerifyEmailRequest)]
pub(crate) struct VerifyBody {
    token: String,
}

/// `POST /api/email/verify`: proves the address with the link's token (no
/// session needed: the link may be opened anywhere).
pub(crate) async fn verify(
    state: MfaState,
    JsonBody(body): JsonBody<VerifyBody>,
) -> Result<StatusCode, ApiError> {
    state.mfa.verify_email(&body.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

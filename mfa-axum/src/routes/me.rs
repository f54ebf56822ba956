//! What a signed-in user does to their own account beyond the factors:
//! change the password, see every device, report one as compromised, end
//! every other session or all device trust at once, and download their
//! data.

use super::devices::{device_id, device_list};
use crate::{ApiError, Authenticated, JsonBody, MfaState};
use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mfa_core::MfaError;
use mfa_core::crypto::SecretString;
use mfa_core::model::Aal;
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PasswordChangeRequest)]
pub(crate) struct PasswordChange {
    current_password: String,
    #[schema(min_length = 8)]
    new_password: String,
}

/// `POST /api/user/password`: replaces the password (the current one
/// proves it is the user); every other session and all device trust end.
pub(crate) async fn change_password(
    state: MfaState,
    Authenticated(claims): Authenticated,
    JsonBody(body): JsonBody<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    state
        .mfa
        .change_password(
            &claims,
            &SecretString::from(body.current_password),
            &SecretString::from(body.new_password),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/devices`: every device the user signed in from, trusted or
/// not, most recently seen first.
pub(crate) async fn devices(
    state: MfaState,
    Authenticated(claims): Authenticated,
) -> Result<Json<super::devices::DeviceList>, ApiError> {
    let mut devices = state.mfa.devices(claims.sub).await?;
    devices.sort_by_key(|d| std::cmp::Reverse(d.last_seen_at));
    Ok(device_list(&devices, claims.dev))
}

/// `POST /api/device/{id}/compromised`: the device is lost or stolen: its
/// trust ends for good, its sessions end, and sign-ins from it are
/// refused.
pub(crate) async fn compromised(
    state: MfaState,
    Authenticated(claims): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .mfa
        .mark_device_compromised(claims.sub, device_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/device/revoke-all`: stops trusting every device of the user.
pub(crate) async fn revoke_all_devices(
    state: MfaState,
    Authenticated(claims): Authenticated,
) -> Result<Json<super::Revoked>, ApiError> {
    let revoked = state.mfa.revoke_all_devices(claims.sub).await?;
    Ok(Json(super::Revoked { revoked }))
}

/// `POST /api/sessions/revoke-others`: signs out every session of the user
/// but the calling one.
pub(crate) async fn revoke_other_sessions(
    state: MfaState,
    Authenticated(claims): Authenticated,
) -> Result<Json<super::Revoked>, ApiError> {
    let revoked = state
        .mfa
        .revoke_all_sessions(claims.sub, Some(claims.sid))
        .await?;
    Ok(Json(super::Revoked { revoked }))
}

/// `GET /api/user/export`: everything held about the user, as a JSON
/// download (GDPR art. 15 and 20; no secrets). A user with a second factor
/// must have used it in this session (`mfa_required` otherwise): the
/// export holds addresses and devices.
pub(crate) async fn export(
    state: MfaState,
    Authenticated(claims): Authenticated,
) -> Result<Response, ApiError> {
    if claims.aal < Aal::Aal2 {
        let security = state.mfa.settings(claims.sub).await?;
        if security
            .factors
            .iter()
            .any(mfa_core::model::Factor::is_active)
        {
            return Err(ApiError(MfaError::MfaRequired));
        }
    }
    let export = state.mfa.export_user_data(claims.sub).await?;
    Ok(download(&export))
}

/// A JSON attachment.
pub(crate) fn download(export: &mfa_core::UserExport) -> Response {
    let mut response = Json(export).into_response();
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"account-data.json\""),
    );
    response
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DeleteAccountRequest)]
pub(crate) struct DeleteAccount {
    password: String,
}

/// `DELETE /api/user`: deletes the user's own account (the password, and
/// a recent second factor when one is enrolled: `step_up_required`
/// otherwise); every session ends.
pub(crate) async fn delete_account(
    state: MfaState,
    Authenticated(claims): Authenticated,
    JsonBody(body): JsonBody<DeleteAccount>,
) -> Result<StatusCode, ApiError> {
    state
        .mfa
        .delete_account(&claims, &SecretString::from(body.password))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

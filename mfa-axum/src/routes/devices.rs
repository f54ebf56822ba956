//! Devices: registering the current one, listing and revoking trust.

use super::DeviceInput;
use crate::MfaState;
use crate::{ApiError, Authenticated, Client};
use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use mfa_core::MfaError;
use mfa_core::model::{Device, DeviceId, DeviceInfo};
use serde::Serialize;
use utoipa::ToSchema;

/// A device as the API shows it: no digests.
#[derive(Serialize, ToSchema)]
#[schema(as = Device)]
pub(crate) struct DeviceView {
    id: DeviceId,
    info: DeviceInfo,
    last_ip: Option<String>,
    last_country: Option<String>,
    first_seen_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    trusted: bool,
    trusted_until: Option<DateTime<Utc>>,
    compromised: bool,
    current: bool,
}

impl DeviceView {
    pub(crate) fn new(d: &Device, current: Option<DeviceId>) -> Self {
        let now = Utc::now();
        Self {
            id: d.id,
            info: d.info.clone(),
            last_ip: d.last_ip.clone(),
            last_country: d.last_country.clone(),
            first_seen_at: d.first_seen_at,
            last_seen_at: d.last_seen_at,
            trusted: d.is_trusted(now),
            trusted_until: d.trusted_until.filter(|_| d.is_trusted(now)),
            compromised: d.compromised_at.is_some(),
            current: current == Some(d.id),
        }
    }
}

/// `POST /api/device/register`: records the calling device (identified by
/// its `X-Device-Fingerprint` header) for the signed-in user, or updates
/// its description, and returns it (`Mfa::register_device`).
pub(crate) async fn register(
    state: MfaState,
    Authenticated(claims): Authenticated,
    Client(client): Client,
    body: Bytes,
) -> Result<Response, ApiError> {
    let info: DeviceInfo = if body.iter().all(u8::is_ascii_whitespace) {
        DeviceInfo::default()
    } else {
        serde_json::from_slice::<DeviceInput>(&body)
            .map_err(|_| MfaError::invalid_input("body", "expected a JSON device description"))?
            .into()
    };
    let client = mfa_core::ClientInfo {
        device: info,
        ..client
    };
    let up = state.mfa.register_device(&claims, &client).await?;
    let status = if up.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(RegisteredDevice {
            created: up.created,
            // The device that called is, by definition, the current one.
            device: DeviceView::new(&up.device, Some(up.device.id)),
        }),
    )
        .into_response())
}

/// The calling device, recorded or described anew.
#[derive(Serialize, ToSchema)]
pub(crate) struct RegisteredDevice {
    /// Whether this call recorded it first.
    created: bool,
    device: DeviceView,
}

/// A list of the user's devices.
#[derive(Serialize, ToSchema)]
pub(crate) struct DeviceList {
    devices: Vec<DeviceView>,
}

/// `GET /api/device/trusted`.
pub(crate) async fn trusted(
    state: MfaState,
    Authenticated(claims): Authenticated,
) -> Result<Json<DeviceList>, ApiError> {
    let devices = state.mfa.trusted_devices(claims.sub).await?;
    Ok(device_list(&devices, claims.dev))
}

/// `{"devices": [...]}`, `current` marked.
pub(crate) fn device_list(devices: &[Device], current: Option<DeviceId>) -> Json<DeviceList> {
    let devices = devices
        .iter()
        .map(|d| DeviceView::new(d, current))
        .collect();
    Json(DeviceList { devices })
}

/// A device id from the path.
pub(crate) fn device_id(id: &str) -> Result<DeviceId, MfaError> {
    id.parse()
        .map_err(|_| MfaError::invalid_input("id", "not a UUID"))
}

/// `DELETE /api/device/{id}`: stops trusting one of the user's devices.
pub(crate) async fn revoke(
    state: MfaState,
    Authenticated(claims): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.mfa.revoke_device(claims.sub, device_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

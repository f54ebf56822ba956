//! `MfaError` as an HTTP response.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mfa_core::MfaError;
use serde::Serialize;

/// An [`MfaError`] answered as JSON: `{"error": code, "message": …,
/// "retry_after": seconds}` with the matching status and, where it applies,
/// a `Retry-After` header. Internal details (store and crypto failures) are
/// never put in the body.
#[derive(Debug)]
pub struct ApiError(pub MfaError);

impl From<MfaError> for ApiError {
    fn from(e: MfaError) -> Self {
        Self(e)
    }
}

/// Every error answer.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub(crate) struct Body<'a> {
    /// Stable machine-readable code.
    error: &'a str,
    message: String,
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after: Option<u64>,
}

/// The HTTP status of an error ([`MfaError::http_status`]).
#[must_use]
pub fn status_for(error: &MfaError) -> StatusCode {
    StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_for(&self.0);
        let retry_after = self.0.retry_after().map(|d| d.as_secs());
        let message = if status.is_server_error() {
            // The client gets no detail; the operator must. Error texts name
            // the failing part and driver codes, never secrets or SQL values.
            let mut cause = self.0.to_string();
            let mut source = std::error::Error::source(&self.0);
            while let Some(s) = source {
                cause.push_str(": ");
                cause.push_str(&s.to_string());
                source = s.source();
            }
            tracing::error!(code = self.0.code(), status = status.as_u16(), %cause, "request failed");
            "the request could not be completed".to_owned()
        } else {
            self.0.to_string()
        };
        let mut response = (
            status,
            Json(Body {
                error: self.0.code(),
                message,
                retry_after,
            }),
        )
            .into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if matches!(self.0, MfaError::InvalidToken) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_core::PasskeyError;

    #[test]
    fn refused_passkeys_are_client_errors() {
        let status = |e| status_for(&MfaError::Passkey(e));
        assert_eq!(status(PasskeyError::Malformed), StatusCode::BAD_REQUEST);
        assert_eq!(
            status(PasskeyError::AlreadyRegistered),
            StatusCode::CONFLICT
        );
        for e in [
            PasskeyError::WrongOrigin,
            PasskeyError::CeremonyClosed,
            PasskeyError::CounterRegression,
            PasskeyError::UserNotVerified,
        ] {
            assert_eq!(status(e), StatusCode::UNAUTHORIZED, "{e:?}");
        }
    }
}

//! Request extractors for the sign-in flow: the JSON body and the login
//! ticket, both refusing in the [`ApiError`] format.

use crate::ApiError;
use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mfa_core::MfaError;
use serde::de::DeserializeOwned;

/// Header carrying a login ticket (alternatively: `?ticket=`, or a `ticket`
/// field in the JSON body).
pub const TICKET_HEADER: &str = "x-mfa-ticket";

/// A JSON body whose refusal is an `invalid_input` error in the
/// [`ApiError`] format (axum's own `Json` answers plain-text 415/422).
///
/// An empty body reads as `{}`, so an endpoint whose fields are all
/// optional takes a bare `POST`; a body that is there must be
/// `application/json` (or `application/*+json`). A body over the router's
/// limit answers 413 `payload_too_large`.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let invalid = |reason| ApiError(MfaError::invalid_input("body", reason)).into_response();
        let json_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                let v = v.trim();
                v.eq_ignore_ascii_case("application/json")
                    || (v.starts_with("application/") && v.ends_with("+json"))
            });
        let bytes = match axum::body::Bytes::from_request(req, state).await {
            Ok(bytes) => bytes,
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err((
                    StatusCode::PAYLOAD_TOO_LARGE,
                    Json(serde_json::json!({
                        "error": "payload_too_large",
                        "message": "request body too large",
                    })),
                )
                    .into_response());
            }
            Err(_) => return Err(invalid("the body could not be read")),
        };
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else if json_type {
            &bytes
        } else {
            return Err(invalid("expected Content-Type: application/json"));
        };
        serde_json::from_slice(text)
            .map(Self)
            .map_err(|_| invalid("expected a JSON object of the documented shape"))
    }
}

/// The ticket of a request: the [`TICKET_HEADER`] header first, then
/// `fallback` (a body field or query parameter), ignoring empty values.
#[must_use]
pub fn ticket_of(headers: &HeaderMap, fallback: Option<String>) -> Option<String> {
    headers
        .get(TICKET_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .or(fallback.filter(|t| !t.is_empty()))
}

/// Like [`ticket_of`], refusing a request without a ticket with
/// `invalid_ticket` (401).
///
/// # Errors
/// `invalid_ticket` when neither the header nor `fallback` has one.
pub fn required_ticket(headers: &HeaderMap, fallback: Option<String>) -> Result<String, ApiError> {
    ticket_of(headers, fallback).ok_or(ApiError(MfaError::InvalidTicket))
}

/// The login ticket of a request, from the [`TICKET_HEADER`] header or the
/// `ticket` query parameter; `invalid_ticket` (401) when there is none.
/// Handlers that also take it from the JSON body use [`ticket_of`].
#[derive(Clone)]
pub struct Ticket(pub String);

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ticket([redacted])")
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ticket {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        #[derive(serde::Deserialize)]
        struct TicketQuery {
            ticket: Option<String>,
        }
        let query = Query::<TicketQuery>::try_from_uri(&parts.uri)
            .ok()
            .and_then(|Query(q)| q.ticket);
        required_ticket(&parts.headers, query).map(Self)
    }
}

//! Extractors that authenticate a request by its bearer token.

use crate::ApiError;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use chrono::TimeDelta;
use mfa_core::crypto::AccessClaims;
use mfa_core::model::Aal;
use mfa_core::{Mfa, MfaError};

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or(ApiError(MfaError::InvalidToken))
}

/// A request carrying a valid access token of an active session
/// (`Authorization: Bearer …`), checked with [`Mfa::authenticate`].
///
/// Needs `Mfa: FromRef<S>` for the router state `S`.
#[derive(Debug, Clone)]
pub struct Authenticated(pub AccessClaims);

impl<S> FromRequestParts<S> for Authenticated
where
    Mfa: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        let mfa = Mfa::from_ref(state);
        Ok(Self(mfa.authenticate(token).await?))
    }
}

/// Like [`Authenticated`], and the session reached AAL2 (two factors).
/// Otherwise the request is refused with `mfa_required` (403).
#[derive(Debug, Clone)]
pub struct Aal2(pub AccessClaims);

impl<S> FromRequestParts<S> for Aal2
where
    Mfa: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Authenticated(claims) = Authenticated::from_request_parts(parts, state).await?;
        if claims.aal < Aal::Aal2 {
            return Err(ApiError(MfaError::MfaRequired));
        }
        Ok(Self(claims))
    }
}

/// Like [`Aal2`], and the second factor was verified within `MAX_AGE_SECS`
/// seconds (step-up for sensitive operations). Otherwise the request is
/// refused with `step_up_required` (403); the client then runs
/// [`Mfa::begin_step_up`].
#[derive(Debug, Clone)]
pub struct RecentMfa<const MAX_AGE_SECS: i64>(pub AccessClaims);

impl<S, const MAX_AGE_SECS: i64> FromRequestParts<S> for RecentMfa<MAX_AGE_SECS>
where
    Mfa: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Authenticated(claims) = Authenticated::from_request_parts(parts, state).await?;
        Mfa::from_ref(state).require_recent_mfa(&claims, TimeDelta::seconds(MAX_AGE_SECS))?;
        Ok(Self(claims))
    }
}

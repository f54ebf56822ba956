//! Extractors that authenticate a request by its bearer token.

use crate::ApiError;
use crate::MfaState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use chrono::TimeDelta;
use mfa_core::MfaError;
use mfa_core::crypto::AccessClaims;
use mfa_core::model::Aal;

/// The token of an `Authorization: Bearer …` header (scheme matched without
/// regard to case), if there is one.
#[must_use]
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
}

/// A request carrying a valid access token of an active session
/// (`Authorization: Bearer …`), checked with [`Mfa::authenticate`].
///
/// Needs [`MfaState::layer`] on the route.
///
/// [`Mfa::authenticate`]: mfa_core::Mfa::authenticate
#[derive(Debug, Clone)]
pub struct Authenticated(pub AccessClaims);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let state = MfaState::of(parts)?;
        let token = bearer_token(&parts.headers).ok_or(ApiError(MfaError::InvalidToken))?;
        Ok(Self(state.mfa.authenticate(token).await?))
    }
}

/// Like [`Authenticated`], and the session reached AAL2 (two factors).
/// Otherwise the request is refused with `mfa_required` (403).
#[derive(Debug, Clone)]
pub struct Aal2(pub AccessClaims);

impl<S: Send + Sync> FromRequestParts<S> for Aal2 {
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
///
/// [`Mfa::begin_step_up`]: mfa_core::Mfa::begin_step_up
#[derive(Debug, Clone)]
pub struct RecentMfa<const MAX_AGE_SECS: i64>(pub AccessClaims);

impl<S: Send + Sync, const MAX_AGE_SECS: i64> FromRequestParts<S> for RecentMfa<MAX_AGE_SECS> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Authenticated(claims) = Authenticated::from_request_parts(parts, state).await?;
        MfaState::of(parts)?
            .mfa
            .require_recent_mfa(&claims, TimeDelta::seconds(MAX_AGE_SECS))?;
        Ok(Self(claims))
    }
}

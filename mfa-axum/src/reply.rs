//! The engine's outcomes as HTTP answers: the JSON views the routes send
//! (the same shapes the OpenAPI document describes) and the trust cookie.

use crate::MfaState;
use axum::Json;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use mfa_core::crypto::ExposeSecret;
use mfa_core::model::{Aal, AuthMethod, FactorKind, SessionId};
use mfa_core::{Enrolled, LoginOutcome, Tokens, Verified};
use serde::Serialize;

/// Tokens as the API returns them (`token_type` is always `Bearer`; `aal`
/// is `"aal1"`/`"aal2"` here, while the JWT's `aal` claim is the number).
#[derive(Debug, Serialize)]
pub struct TokensView {
    /// The session the tokens belong to.
    pub session_id: SessionId,
    /// `Bearer`.
    pub token_type: &'static str,
    /// The access token (a JWT).
    pub access_token: String,
    /// When the access token expires.
    pub access_expires_at: DateTime<Utc>,
    /// The refresh token (single use: each refresh rotates it).
    pub refresh_token: String,
    /// When the refresh token expires.
    pub refresh_expires_at: DateTime<Utc>,
    /// The assurance level reached.
    pub aal: Aal,
    /// How the user authenticated (RFC 8176 values).
    pub amr: Vec<AuthMethod>,
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

/// A sign-in that needs a second factor (or its enrolment) first.
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

/// An engine outcome answered as the MFA routes answer it: `state.reply(x)`
/// is an [`IntoResponse`] for [`Tokens`], [`LoginOutcome`], [`Verified`]
/// and [`Enrolled`]. Tokens carrying a device-trust token set the trust
/// cookie ([`MfaState::trust_cookie`]).
#[must_use = "a reply does nothing until it is returned"]
pub struct Reply<T> {
    state: MfaState,
    value: T,
    extra: serde_json::Map<String, serde_json::Value>,
}

impl MfaState {
    /// `value` as the MFA routes answer it.
    pub fn reply<T>(&self, value: T) -> Reply<T> {
        Reply {
            state: self.clone(),
            value,
            extra: serde_json::Map::new(),
        }
    }
}

impl<T> Reply<T> {
    /// Adds a field to the JSON object answered.
    pub fn with(mut self, name: &str, value: impl Serialize) -> Self {
        self.extra.insert(
            name.to_owned(),
            serde_json::to_value(value).unwrap_or_default(),
        );
        self
    }
}

fn tokens_response(
    state: &MfaState,
    tokens: &Tokens,
    extra: serde_json::Map<String, serde_json::Value>,
) -> Response {
    let mut body = serde_json::to_value(TokensView::from(tokens)).unwrap_or_default();
    if let Some(body) = body.as_object_mut() {
        body.extend(extra);
    }
    let mut response = Json(body).into_response();
    if let Some(cookie) = tokens
        .trust_token
        .as_deref()
        .and_then(|t| state.trust_cookie(t))
    {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

impl IntoResponse for Reply<Tokens> {
    fn into_response(self) -> Response {
        tokens_response(&self.state, &self.value, self.extra)
    }
}

impl IntoResponse for Reply<LoginOutcome> {
    fn into_response(self) -> Response {
        let pending = match self.value {
            LoginOutcome::Authenticated(tokens) => {
                let mut extra = self.extra;
                extra.insert("mfa_required".into(), false.into());
                extra.insert("enrollment_required".into(), false.into());
                extra.insert("methods".into(), serde_json::Value::Array(Vec::new()));
                return tokens_response(&self.state, &tokens, extra);
            }
            LoginOutcome::MfaRequired {
                ticket,
                methods,
                expires_at,
            } => PendingLogin {
                ticket,
                mfa_required: true,
                enrollment_required: false,
                methods,
                expires_at: Some(expires_at),
                deadline: None,
                can_skip: None,
            },
            LoginOutcome::EnrollmentRequired {
                ticket,
                deadline,
                can_skip,
            } => PendingLogin {
                ticket,
                mfa_required: true,
                enrollment_required: true,
                methods: Vec::new(),
                expires_at: None,
                deadline,
                can_skip: Some(can_skip),
            },
        };
        let mut body = serde_json::to_value(pending).unwrap_or_default();
        if let Some(body) = body.as_object_mut() {
            body.extend(self.extra);
        }
        Json(body).into_response()
    }
}

impl IntoResponse for Reply<Verified> {
    fn into_response(self) -> Response {
        let mut extra = self.extra;
        extra.insert(
            "backup_codes_remaining".into(),
            self.value.backup_codes_remaining.into(),
        );
        extra.insert(
            "device_remembered".into(),
            self.value.tokens.trust_token.is_some().into(),
        );
        tokens_response(&self.state, &self.value.tokens, extra)
    }
}

impl IntoResponse for Reply<Enrolled> {
    /// The confirmed factor's id, the backup codes (shown once) when it was
    /// the first, and tokens when it completed a sign-in.
    fn into_response(self) -> Response {
        let enrolled = self.value;
        let codes: Option<Vec<&str>> = enrolled
            .backup_codes
            .as_ref()
            .map(|b| b.codes.iter().map(|c| c.expose_secret()).collect());
        let mut extra = self.extra;
        extra.insert(
            "factor_id".into(),
            serde_json::to_value(enrolled.factor_id).unwrap_or_default(),
        );
        extra.insert(
            "backup_codes".into(),
            serde_json::to_value(codes).unwrap_or_default(),
        );
        match &enrolled.tokens {
            Some(tokens) => tokens_response(&self.state, tokens, extra),
            None => Json(serde_json::Value::Object(extra)).into_response(),
        }
    }
}

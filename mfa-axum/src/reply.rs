//! The engine's outcomes as HTTP answers: the JSON views the routes send
//! (the same shapes the OpenAPI document describes) and the trust cookie.

use crate::MfaState;
use axum::Json;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use mfa_core::crypto::ExposeSecret;
use mfa_core::model::{Aal, AuthMethod, FactorId, FactorKind, SessionId};
use mfa_core::{Enrolled, LoginOutcome, Tokens, Verified};
use serde::Serialize;

/// Tokens as the API returns them (`token_type` is always `Bearer`; `aal`
/// is `"aal1"`/`"aal2"` here, while the JWT's `aal` claim is the number).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokensView {
    /// The session the tokens belong to.
    pub session_id: SessionId,
    /// `Bearer`.
    #[schema(schema_with = bearer)]
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

/// The schema of [`TokensView::token_type`]: the one string `Bearer`.
fn bearer() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["Bearer"]))
        .build()
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
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PendingLogin {
    /// The ticket to answer (or to enrol a factor with).
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

/// The answer of a route that signs in (`Tokens` in the OpenAPI
/// document): the tokens, and after a second factor what it left.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Tokens)]
pub(crate) struct TokensAnswer {
    #[serde(flatten)]
    tokens: TokensView,
    /// After a second factor: the backup codes left (`null` when the user
    /// has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    backup_codes_remaining: Option<Option<u32>>,
    /// After a second factor: whether the device is now trusted (the
    /// trust cookie is set).
    #[serde(skip_serializing_if = "Option::is_none")]
    device_remembered: Option<bool>,
}

/// A sign-in answered at once with tokens.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SignedIn {
    #[serde(flatten)]
    tokens: TokensView,
    /// `false`.
    mfa_required: bool,
    /// `false`.
    enrollment_required: bool,
    /// Empty.
    methods: Vec<FactorKind>,
}

/// The answer of a sign-in (`LoginResponse`): tokens, or a ticket.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[schema(as = LoginResponse)]
pub(crate) enum LoginAnswer {
    /// Signed in.
    SignedIn(SignedIn),
    /// A second factor, or its enrolment, first.
    Pending(PendingLogin),
}

/// A confirmed factor (`Confirmed`): its id, the backup codes (shown once)
/// when it was the first, and the tokens when it completed a sign-in.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[schema(as = Confirmed)]
pub(crate) enum ConfirmedAnswer<'a> {
    /// Enrolled by a signed-in user.
    Enrolled(ConfirmedFactor<'a>),
    /// Enrolled during a sign-in, which it completed.
    SignedIn(ConfirmedSignIn<'a>),
}

/// A confirmed factor.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ConfirmedFactor<'a> {
    factor_id: FactorId,
    /// The backup codes, shown once, when this was the first factor.
    backup_codes: Option<Vec<&'a str>>,
}

/// A confirmed factor that completed a sign-in.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ConfirmedSignIn<'a> {
    #[serde(flatten)]
    factor: ConfirmedFactor<'a>,
    #[serde(flatten)]
    tokens: TokensView,
}

/// `body` as JSON with the fields a route added ([`Reply::with`]), and the
/// trust cookie when `tokens` carry a device-trust token.
fn answer(
    state: &MfaState,
    body: &impl Serialize,
    extra: serde_json::Map<String, serde_json::Value>,
    tokens: Option<&Tokens>,
) -> Response {
    let mut body = serde_json::to_value(body).unwrap_or_default();
    if let Some(body) = body.as_object_mut() {
        body.extend(extra);
    }
    let mut response = Json(body).into_response();
    if let Some(cookie) = tokens
        .and_then(|t| t.trust_token.as_deref())
        .and_then(|t| state.trust_cookie(t))
    {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

impl IntoResponse for Reply<Tokens> {
    fn into_response(self) -> Response {
        let body = TokensAnswer {
            tokens: TokensView::from(&self.value),
            backup_codes_remaining: None,
            device_remembered: None,
        };
        answer(&self.state, &body, self.extra, Some(&self.value))
    }
}

impl IntoResponse for Reply<LoginOutcome> {
    fn into_response(self) -> Response {
        let pending = match self.value {
            LoginOutcome::Authenticated(tokens) => {
                let body = LoginAnswer::SignedIn(SignedIn {
                    tokens: TokensView::from(&*tokens),
                    mfa_required: false,
                    enrollment_required: false,
                    methods: Vec::new(),
                });
                return answer(&self.state, &body, self.extra, Some(&tokens));
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
        answer(
            &self.state,
            &LoginAnswer::Pending(pending),
            self.extra,
            None,
        )
    }
}

impl IntoResponse for Reply<Verified> {
    fn into_response(self) -> Response {
        let tokens = &self.value.tokens;
        let body = TokensAnswer {
            tokens: TokensView::from(tokens),
            backup_codes_remaining: Some(self.value.backup_codes_remaining),
            device_remembered: Some(tokens.trust_token.is_some()),
        };
        answer(&self.state, &body, self.extra, Some(tokens))
    }
}

impl IntoResponse for Reply<Enrolled> {
    /// The confirmed factor's id, the backup codes (shown once) when it was
    /// the first, and tokens when it completed a sign-in.
    fn into_response(self) -> Response {
        let enrolled = &self.value;
        let factor = ConfirmedFactor {
            factor_id: enrolled.factor_id,
            backup_codes: enrolled
                .backup_codes
                .as_ref()
                .map(|b| b.codes.iter().map(|c| c.expose_secret()).collect()),
        };
        let tokens = enrolled.tokens.as_ref();
        let body = match tokens {
            Some(t) => ConfirmedAnswer::SignedIn(ConfirmedSignIn {
                factor,
                tokens: TokensView::from(t),
            }),
            None => ConfirmedAnswer::Enrolled(factor),
        };
        answer(&self.state, &body, self.extra, tokens)
    }
}

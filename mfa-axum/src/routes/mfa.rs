//! The second factor: challenges, verification, step-up, enrolment and
//! backup codes.

use crate::{ApiError, Authenticated, Client, JsonBody, MfaState, Ticket, required_ticket};
use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use mfa_core::crypto::ExposeSecret;
use mfa_core::delivery::mask_destination;
use mfa_core::model::{FactorId, FactorKind, OtpChannel, TicketKind};
use mfa_core::policy::{Enforcement, Methods};
use mfa_core::{Actor, ChallengeSent, DestinationPending, MfaError, VerifyRequest};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub(crate) struct TicketMethods {
    ticket_kind: TicketKind,
    methods: Vec<FactorKind>,
    expires_at: DateTime<Utc>,
}

/// `GET /api/mfa/challenge`: what a ticket can be answered with.
pub(crate) async fn methods(
    state: MfaState,
    Ticket(ticket): Ticket,
) -> Result<Json<TicketMethods>, ApiError> {
    let info = state.mfa.ticket_info(&ticket).await?;
    Ok(Json(TicketMethods {
        ticket_kind: info.kind,
        methods: info.methods,
        expires_at: info.expires_at,
    }))
}

#[derive(Serialize, ToSchema)]
#[schema(as = ChallengeSent)]
pub(crate) struct SentView {
    masked_destination: String,
    expires_at: DateTime<Utc>,
    resend_after: DateTime<Utc>,
}

impl From<ChallengeSent> for SentView {
    fn from(s: ChallengeSent) -> Self {
        Self {
            masked_destination: s.masked_destination,
            expires_at: s.expires_at,
            resend_after: s.resend_after,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SendChallengeRequest)]
pub(crate) struct SendBody {
    ticket: Option<String>,
    method: OtpChannel,
}

/// `POST /api/mfa/challenge`: sends an email or SMS code for a ticket.
pub(crate) async fn send_challenge(
    state: MfaState,
    headers: HeaderMap,
    JsonBody(req): JsonBody<SendBody>,
) -> Result<Json<SentView>, ApiError> {
    let ticket = required_ticket(&headers, req.ticket)?;
    let sent = state.mfa.send_challenge(&ticket, req.method).await?;
    Ok(Json(SentView::from(sent)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = VerifyRequest)]
pub(crate) struct VerifyBody {
    ticket: Option<String>,
    method: FactorKind,
    code: String,
    #[serde(default)]
    remember_device: bool,
}

/// `POST /api/mfa/verify`: completes a sign-in or step-up.
pub(crate) async fn verify(
    state: MfaState,
    Client(client): Client,
    headers: HeaderMap,
    JsonBody(req): JsonBody<VerifyBody>,
) -> Result<Response, ApiError> {
    let ticket = required_ticket(&headers, req.ticket)?;
    let verified = state
        .mfa
        .verify(VerifyRequest {
            ticket: &ticket,
            method: req.method,
            code: &req.code,
            remember_device: req.remember_device,
            client: &client,
        })
        .await?;
    Ok(state.reply(verified).into_response())
}

/// `POST /api/mfa/step-up`: a ticket to re-verify a second factor.
pub(crate) async fn step_up(
    state: MfaState,
    Authenticated(claims): Authenticated,
) -> Result<Response, ApiError> {
    let outcome = state.mfa.begin_step_up(&claims).await?;
    Ok(state.reply(outcome).into_response())
}

/// One of the user's factors, as the API shows it (the destination
/// masked).
#[derive(Serialize, ToSchema)]
pub(crate) struct FactorView {
    id: FactorId,
    kind: FactorKind,
    status: mfa_core::model::FactorStatus,
    label: Option<String>,
    destination: Option<String>,
    created_at: DateTime<Utc>,
    confirmed_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
}

/// `GET /api/mfa/settings`.
pub(crate) async fn settings(
    state: MfaState,
    Authenticated(claims): Authenticated,
) -> Result<Json<Settings>, ApiError> {
    let security = state.mfa.settings(claims.sub).await?;
    let factors: Vec<FactorView> = security
        .factors
        .into_iter()
        .map(|f| FactorView {
            id: f.id,
            kind: f.kind,
            status: f.status,
            label: f.label,
            destination: f.destination.as_deref().map(mask_destination),
            created_at: f.created_at,
            confirmed_at: f.confirmed_at,
            last_used_at: f.last_used_at,
        })
        .collect();
    Ok(Json(Settings {
        enforced: security.settings.enforced,
        grace_deadline: security.settings.grace_deadline,
        preferred: security.settings.preferred,
        factors,
        backup_codes_remaining: security.backup_codes_remaining,
        methods_enabled: state.mfa.policy().methods,
        enforcement: state.mfa.policy().enforcement,
    }))
}

/// The user's factors and MFA settings, with the methods the service
/// offers.
#[derive(Serialize, ToSchema)]
pub(crate) struct Settings {
    enforced: bool,
    grace_deadline: Option<DateTime<Utc>>,
    preferred: Option<FactorKind>,
    factors: Vec<FactorView>,
    backup_codes_remaining: u32,
    methods_enabled: Methods,
    enforcement: Enforcement,
}

/// The body of an enrolment start: the ticket during sign-in, and a name
/// for the new factor.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = EnrollStartRequest)]
pub(crate) struct EnrollStartBody {
    pub(crate) ticket: Option<String>,
    #[schema(max_length = 64)]
    pub(crate) label: Option<String>,
}

/// `POST /api/mfa/totp/enroll`: starts enrolling an authenticator app, for
/// a signed-in user (bearer token) or during sign-in (enrolment ticket).
pub(crate) async fn enroll_totp(
    state: MfaState,
    headers: HeaderMap,
    JsonBody(req): JsonBody<EnrollStartBody>,
) -> Result<Response, ApiError> {
    let who = state.who(&headers, req.ticket).await?;
    let enrollment = state
        .mfa
        .enroll_totp(who.actor(), req.label.as_deref())
        .await?;
    Ok(Json(TotpEnrollment {
        factor_id: enrollment.factor_id,
        secret: enrollment.secret.expose_secret(),
        otpauth_uri: enrollment.otpauth_uri.expose_secret(),
        qr_svg: enrollment.qr_svg.expose_secret(),
    })
    .into_response())
}

/// A started authenticator-app enrolment (the secret is shown once).
#[derive(Serialize, ToSchema)]
pub(crate) struct TotpEnrollment<'a> {
    factor_id: FactorId,
    /// base32.
    secret: &'a str,
    otpauth_uri: &'a str,
    qr_svg: &'a str,
}

/// A pending email or phone factor: its id and where the code went.
#[derive(Serialize, ToSchema)]
#[schema(as = DestinationEnrollment)]
pub(crate) struct PendingView {
    factor_id: FactorId,
    sent: SentView,
}

fn pending_json(pending: DestinationPending) -> Json<PendingView> {
    Json(PendingView {
        factor_id: pending.factor_id,
        sent: SentView::from(pending.sent),
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = EnrollEmailRequest)]
pub(crate) struct EnrollEmailBody {
    ticket: Option<String>,
    email: String,
}

/// `POST /api/mfa/email/enroll`: starts enrolling an email address (a code
/// is sent to it).
pub(crate) async fn enroll_email(
    state: MfaState,
    headers: HeaderMap,
    JsonBody(req): JsonBody<EnrollEmailBody>,
) -> Result<Json<PendingView>, ApiError> {
    let who = state.who(&headers, req.ticket).await?;
    let pending = state.mfa.enroll_email(who.actor(), &req.email).await?;
    Ok(pending_json(pending))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = EnrollSmsRequest)]
pub(crate) struct EnrollSmsBody {
    ticket: Option<String>,
    /// E.164, e.g. +41791234567.
    phone: String,
}

/// `POST /api/mfa/sms/enroll`: starts enrolling a phone number (E.164; a
/// code is sent to it by SMS).
pub(crate) async fn enroll_sms(
    state: MfaState,
    headers: HeaderMap,
    JsonBody(req): JsonBody<EnrollSmsBody>,
) -> Result<Json<PendingView>, ApiError> {
    let who = state.who(&headers, req.ticket).await?;
    let pending = state.mfa.enroll_sms(who.actor(), &req.phone).await?;
    Ok(pending_json(pending))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ConfirmRequest)]
pub(crate) struct ConfirmBody {
    ticket: Option<String>,
    #[schema(format = Uuid)]
    factor_id: String,
    code: String,
}

/// `POST /api/mfa/{totp,email,sms}/confirm`: confirms a pending factor. The
/// first factor comes with backup codes (shown once); with a ticket the
/// sign-in completes and tokens are returned.
pub(crate) async fn confirm(
    state: MfaState,
    Client(client): Client,
    headers: HeaderMap,
    JsonBody(req): JsonBody<ConfirmBody>,
) -> Result<Response, ApiError> {
    let factor_id: FactorId = req
        .factor_id
        .parse()
        .map_err(|_| MfaError::invalid_input("factor_id", "not a UUID"))?;
    let who = state.who(&headers, req.ticket).await?;
    let enrolled = state
        .mfa
        .confirm_factor(who.actor(), factor_id, &req.code, &client)
        .await?;
    Ok(state.reply(enrolled).into_response())
}

/// `POST /api/mfa/backup-codes`: a new set of backup codes, shown once.
/// Needs a second factor verified within the re-authentication window
/// (`step_up_required` otherwise).
pub(crate) async fn backup_codes(
    state: MfaState,
    Authenticated(claims): Authenticated,
) -> Result<Response, ApiError> {
    let codes = state
        .mfa
        .regenerate_backup_codes(Actor::Session(&claims))
        .await?;
    let backup_codes = codes.codes.iter().map(|c| c.expose_secret()).collect();
    Ok(Json(BackupCodes { backup_codes }).into_response())
}

/// A new set of backup codes, shown once.
#[derive(Serialize, ToSchema)]
pub(crate) struct BackupCodes<'a> {
    backup_codes: Vec<&'a str>,
}

/// A factor id from the path.
pub(crate) fn factor_id(id: &str) -> Result<FactorId, ApiError> {
    id.parse()
        .map_err(|_| ApiError(MfaError::invalid_input("id", "not a UUID")))
}

/// `DELETE /api/mfa/factors/{id}`: removes one of the user's factors (a
/// recent second factor needed; removing the last one removes the backup
/// codes, and ends device trust and the other sessions).
pub(crate) async fn remove_factor(
    state: MfaState,
    Authenticated(claims): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = factor_id(&id)?;
    state.mfa.remove_factor(Actor::Session(&claims), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RenameRequest)]
pub(crate) struct RenameBody {
    /// The new name; `null` clears it.
    #[schema(max_length = 64)]
    pub(crate) label: Option<String>,
}

/// `PATCH /api/mfa/factors/{id}`: renames one of the user's factors
/// (`null` clears the name); a recent second factor is needed.
pub(crate) async fn rename_factor(
    state: MfaState,
    Authenticated(claims): Authenticated,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<RenameBody>,
) -> Result<StatusCode, ApiError> {
    let id = factor_id(&id)?;
    state
        .mfa
        .rename_factor(Actor::Session(&claims), id, req.label.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

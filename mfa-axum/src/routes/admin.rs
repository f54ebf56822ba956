//! The admin API (`/admin/…`) and the gateway sign-in, for other services:
//! each route needs a service key ([`crate::service`]) with its scope, and
//! each change is recorded in the audit log as made by the key's name
//! ([`mfa_core::Mfa::as_operator`]).

use super::DeviceInput;
use super::account::{format_cursor, parse_cursor};
use crate::service::{AdminKey, GatewayKey};
use crate::{ApiError, JsonBody, MfaState};
use axum::Json;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};
use mfa_core::model::{
    AuditKind, AuditOutcome, FactorId, FactorKind, FactorStatus, Lock, SessionType, UserId,
    UserStatus,
};
use mfa_core::store::{AuditFilter, PageRequest};
use mfa_core::{ClientInfo, MfaError};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use utoipa::ToSchema;

/// Largest audit page the admin API serves.
pub const MAX_ADMIN_AUDIT_PAGE: u32 = 500;

/// Longest grace period an operator may give, in seconds (one year).
const MAX_GRACE_SECS: i64 = 366 * 24 * 3600;

fn user_id(id: &str) -> Result<UserId, ApiError> {
    id.parse()
        .map_err(|_| ApiError(MfaError::invalid_input("id", "not a UUID")))
}

/// An optional user id from the query parameter `field`: none when absent
/// or empty.
fn optional_user_id(field: &'static str, value: Option<&str>) -> Result<Option<UserId>, MfaError> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<UserId>()
                .map_err(|_| MfaError::invalid_input(field, "not a UUID"))
        })
        .transpose()
}

/// A failure counter as the admin API shows it.
#[derive(Serialize, ToSchema)]
pub(crate) struct LockState {
    failures: u32,
    /// `null`, the time the lock ends, or `"until_reset"`.
    #[schema(value_type = Option<String>)]
    locked: serde_json::Value,
}

fn lock_state(failures: u32, lock: Option<Lock>) -> LockState {
    let locked = match lock {
        None => serde_json::Value::Null,
        Some(Lock::Until(until)) => serde_json::json!(until),
        Some(Lock::UntilReset) => serde_json::json!("until_reset"),
    };
    LockState { failures, locked }
}

/// An account as the admin API shows it (no secrets).
#[derive(Serialize, ToSchema)]
pub(crate) struct AdminUser {
    id: UserId,
    identifier: String,
    email: Option<String>,
    phone: Option<String>,
    status: UserStatus,
    created_at: DateTime<Utc>,
    password_lock: LockState,
    mfa_lock: LockState,
    enforced: bool,
    grace_deadline: Option<DateTime<Utc>>,
    factors: Vec<AdminFactor>,
    backup_codes_remaining: u32,
}

/// One of an account's factors, as the admin API shows it.
#[derive(Serialize, ToSchema)]
pub(crate) struct AdminFactor {
    id: FactorId,
    kind: FactorKind,
    status: FactorStatus,
    label: Option<String>,
    created_at: DateTime<Utc>,
    confirmed_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
}

/// `GET /admin/users/{id}`: the account, its locks, MFA settings and
/// factors (no secrets).
pub(crate) async fn user(
    state: MfaState,
    AdminKey(_): AdminKey,
    Path(id): Path<String>,
) -> Result<Json<AdminUser>, ApiError> {
    let security = state.mfa.settings(user_id(&id)?).await?;
    let user = &security.user;
    let policy = state.mfa.policy();
    let now = Utc::now();
    let lock = |counter: &mfa_core::model::FailureCounter, rule| {
        lock_state(counter.failures, counter.lock_at(rule, now))
    };
    let factors = security
        .factors
        .iter()
        .map(|f| AdminFactor {
            id: f.id,
            kind: f.kind,
            status: f.status,
            label: f.label.clone(),
            created_at: f.created_at,
            confirmed_at: f.confirmed_at,
            last_used_at: f.last_used_at,
        })
        .collect();
    Ok(Json(AdminUser {
        id: user.id,
        identifier: user.identifier.clone(),
        email: user.email.clone(),
        phone: user.phone.clone(),
        status: user.status,
        created_at: user.created_at,
        password_lock: lock(&user.password_failures, &policy.password_lockout),
        mfa_lock: lock(&user.mfa_failures, &policy.mfa_lockout),
        enforced: security.settings.enforced,
        grace_deadline: security.settings.grace_deadline,
        factors,
        backup_codes_remaining: security.backup_codes_remaining,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = EnforcementRequest)]
pub(crate) struct EnforcementBody {
    required: bool,
    /// Seconds to enrol from now; the policy's grace period when absent.
    #[schema(minimum = 0, maximum = 31_622_400)]
    grace_seconds: Option<i64>,
}

/// `PUT /admin/users/{id}/enforcement`: starts or stops MFA enforcement.
pub(crate) async fn enforcement(
    state: MfaState,
    AdminKey(key): AdminKey,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<EnforcementBody>,
) -> Result<Json<Enforcement>, ApiError> {
    let id = user_id(&id)?;
    let grace = match body.grace_seconds {
        None => None,
        Some(s) if (0..=MAX_GRACE_SECS).contains(&s) => Some(TimeDelta::seconds(s)),
        Some(_) => {
            return Err(ApiError(MfaError::invalid_input(
                "grace_seconds",
                "0 to one year",
            )));
        }
    };
    let settings = state
        .mfa
        .as_operator(key.name())?
        .set_enforcement(id, body.required, grace)
        .await?;
    Ok(Json(Enforcement {
        enforced: settings.enforced,
        grace_deadline: settings.grace_deadline,
    }))
}

/// An account's MFA enforcement.
#[derive(Serialize, ToSchema)]
pub(crate) struct Enforcement {
    enforced: bool,
    grace_deadline: Option<DateTime<Utc>>,
}

/// An administrative change of one account.
#[derive(Clone, Copy)]
enum Change {
    ResetMfa,
    Unlock,
    Status(UserStatus),
    Delete,
    RevokeSessions,
    RevokeDevices,
}

/// Applies `change` to the account `id` as the key's operator; the
/// revocations return how many sessions or devices they ended.
async fn apply(
    state: &MfaState,
    key: &crate::ServiceKey,
    id: &str,
    change: Change,
) -> Result<u64, ApiError> {
    let id = user_id(id)?;
    let ops = state.mfa.as_operator(key.name())?;
    match change {
        Change::ResetMfa => ops.reset_mfa(id).await?,
        Change::Unlock => ops.unlock(id).await?,
        Change::Status(status) => ops.set_user_status(id, status).await?,
        Change::Delete => ops.delete_user(id).await?,
        Change::RevokeSessions | Change::RevokeDevices => {
            // An unknown account is `not_found`, not zero revocations.
            state.mfa.user(id).await?;
            return Ok(match change {
                Change::RevokeSessions => ops.revoke_all_sessions(id).await?,
                _ => ops.revoke_all_devices(id).await?,
            });
        }
    }
    Ok(0)
}

async fn changed(
    state: &MfaState,
    key: &crate::ServiceKey,
    id: &str,
    change: Change,
) -> Result<StatusCode, ApiError> {
    apply(state, key, id, change).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn revoked(
    state: &MfaState,
    key: &crate::ServiceKey,
    id: &str,
    change: Change,
) -> Result<Json<super::Revoked>, ApiError> {
    let revoked = apply(state, key, id, change).await?;
    Ok(Json(super::Revoked { revoked }))
}

/// `POST /admin/users/{id}/reset-mfa`: removes every factor, backup code,
/// device trust and session.
pub(crate) async fn reset_mfa(
    state: MfaState,
    AdminKey(key): AdminKey,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    changed(&state, &key, &id, Change::ResetMfa).await
}

/// `POST /admin/users/{id}/unlock`: lifts the password and second-factor
/// locks.
pub(crate) async fn unlock(
    state: MfaState,
    AdminKey(key): AdminKey,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    changed(&state, &key, &id, Change::Unlock).await
}

/// `POST /admin/users/{id}/disable`: no sign-in; sessions and device trust
/// end at once.
pub(crate) async fn disable(
    state: MfaState,
    AdminKey(key): AdminKey,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    changed(&state, &key, &id, Change::Status(UserStatus::Disabled)).await
}

/// `POST /admin/users/{id}/enable`: sign-in allowed again.
pub(crate) async fn enable(
    state: MfaState,
    AdminKey(key): AdminKey,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    changed(&state, &key, &id, Change::Status(UserStatus::Active)).await
}

/// `DELETE /admin/users/{id}`: soft-deletes the account and ends its
/// sessions.
pub(crate) async fn delete(
    state: MfaState,
    AdminKey(key): AdminKey,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    changed(&state, &key, &id, Change::Delete).await
}

/// `POST /admin/users/{id}/erase`: erases what the audit log holds about
/// a deleted account (GDPR): the personal fields of its events are
/// emptied, the chains stay verifiable. `409` for an account not deleted.
pub(crate) async fn erase(
    state: MfaState,
    AdminKey(key): AdminKey,
    Path(id): Path<String>,
) -> Result<Json<Erasure>, ApiError> {
    let id = user_id(&id)?;
    let done = state
        .mfa
        .as_operator(key.name())?
        .erase_user_data(id)
        .await?;
    Ok(Json(Erasure {
        erased: done.erased,
        kept: done.kept,
    }))
}

/// What an erasure did to the account's audit events.
#[derive(Serialize, ToSchema)]
pub(crate) struct Erasure {
    /// Events whose personal fields were emptied.
    erased: u64,
    /// Events kept as they were.
    kept: u64,
}

/// `POST /admin/users/{id}/sessions/revoke`: ends every session.
pub(crate) async fn revoke_sessions(
    state: MfaState,
    AdminKey(key): AdminKey,
    Path(id): Path<String>,
) -> Result<Json<super::Revoked>, ApiError> {
    revoked(&state, &key, &id, Change::RevokeSessions).await
}

/// `POST /admin/users/{id}/devices/revoke`: stops trusting every device.
pub(crate) async fn revoke_devices(
    state: MfaState,
    AdminKey(key): AdminKey,
    Path(id): Path<String>,
) -> Result<Json<super::Revoked>, ApiError> {
    revoked(&state, &key, &id, Change::RevokeDevices).await
}

/// A page size from a query (50 when absent), 1 to `max`.
fn page_limit(limit: Option<&str>, max: u32) -> Result<u32, MfaError> {
    match limit {
        None => Ok(50),
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=max).contains(l))
            .ok_or(MfaError::invalid_input("limit", "out of range")),
    }
}

#[derive(Deserialize)]
pub(crate) struct LockedQuery {
    limit: Option<String>,
    after: Option<String>,
}

/// `GET /admin/locked?limit=&after=`: accounts locked now, by password or
/// second factor, in id order; `next_after` (the last id of a full page)
/// asks for the next page.
pub(crate) async fn locked(
    state: MfaState,
    AdminKey(_): AdminKey,
    Query(query): Query<LockedQuery>,
) -> Result<Json<LockedPage>, ApiError> {
    let limit = page_limit(query.limit.as_deref(), mfa_core::MAX_LOCKED_PAGE)?;
    let after = optional_user_id("after", query.after.as_deref())?;
    let accounts = state.mfa.locked_users(after, limit).await?;
    let next_after = (accounts.len() == limit as usize)
        .then(|| accounts.last().map(|a| a.user.id))
        .flatten();
    let items = accounts
        .iter()
        .map(|a| LockedAccount {
            id: a.user.id,
            identifier: a.user.identifier.clone(),
            status: a.user.status,
            password_lock: lock_state(a.user.password_failures.failures, a.password_lock),
            mfa_lock: lock_state(a.user.mfa_failures.failures, a.mfa_lock),
        })
        .collect();
    Ok(Json(LockedPage { items, next_after }))
}

/// A page of locked accounts.
#[derive(Serialize, ToSchema)]
pub(crate) struct LockedPage {
    items: Vec<LockedAccount>,
    /// Pass as `after` for the next page; null on the last.
    next_after: Option<UserId>,
}

/// A locked account.
#[derive(Serialize, ToSchema)]
pub(crate) struct LockedAccount {
    id: UserId,
    identifier: String,
    status: UserStatus,
    password_lock: LockState,
    mfa_lock: LockState,
}

#[derive(Deserialize)]
pub(crate) struct AdminAuditQuery {
    user: Option<String>,
    kind: Option<String>,
    outcome: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

fn time(field: &'static str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| ApiError(MfaError::invalid_input(field, "not an RFC 3339 time")))
        })
        .transpose()
}

/// `GET /admin/audit?user=&kind=&outcome=&from=&to=&limit=&cursor=`: the
/// audit log of every user, newest first; `kind` may list several kinds
/// separated by commas.
pub(crate) async fn audit(
    state: MfaState,
    AdminKey(_): AdminKey,
    Query(query): Query<AdminAuditQuery>,
) -> Result<Json<super::account::AuditPage>, ApiError> {
    let limit = page_limit(query.limit.as_deref(), MAX_ADMIN_AUDIT_PAGE)?;
    let after = match query.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(parse_cursor(c).ok_or(MfaError::invalid_input("cursor", "malformed"))?),
    };
    let user_id = optional_user_id("user", query.user.as_deref())?;
    let kinds = query
        .kind
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter(|k| !k.is_empty())
        .map(|k| {
            k.parse::<AuditKind>()
                .map_err(|_| MfaError::invalid_input("kind", "unknown audit kind"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let outcome = query
        .outcome
        .as_deref()
        .filter(|o| !o.is_empty())
        .map(|o| {
            o.parse::<AuditOutcome>()
                .map_err(|_| MfaError::invalid_input("outcome", "unknown outcome"))
        })
        .transpose()?;
    let from = time("from", query.from.as_deref())?;
    let to = time("to", query.to.as_deref())?;
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        return Err(ApiError(MfaError::invalid_input("to", "not after from")));
    }
    let filter = AuditFilter {
        user_id,
        kinds,
        outcome,
        from,
        to,
        ..AuditFilter::default()
    };
    let page = state
        .mfa
        .audit_events(&filter, &PageRequest { limit, after })
        .await?;
    Ok(Json(super::account::AuditPage {
        items: page.items,
        next_cursor: page.next.map(format_cursor),
    }))
}

/// What the gateway knows of the end user's client: the engine records and
/// judges it as if the user had called directly.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = GatewayClient)]
pub(crate) struct GatewayClient {
    #[schema(value_type = Option<String>)]
    ip: Option<IpAddr>,
    user_agent: Option<String>,
    fingerprint: Option<String>,
    trust_token: Option<String>,
    session_type: Option<SessionType>,
    device: Option<DeviceInput>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = GatewaySignInRequest)]
pub(crate) struct GatewaySignInBody {
    #[schema(format = Uuid)]
    user_id: String,
    #[serde(default)]
    client: Option<GatewayClient>,
}

/// `POST /admin/gateway/sign-in`: the gateway checked the user's password
/// and vouches for it; the answer is the sign-in's, as for
/// `POST /api/login` (tokens, or a ticket for the second factor or for
/// enrolment).
pub(crate) async fn gateway_sign_in(
    state: MfaState,
    GatewayKey(key): GatewayKey,
    JsonBody(body): JsonBody<GatewaySignInBody>,
) -> Result<Response, ApiError> {
    let user = user_id(&body.user_id)
        .map_err(|_| ApiError(MfaError::invalid_input("user_id", "not a UUID")))?;
    let given = body.client.unwrap_or_default();
    let client = ClientInfo {
        ip: given.ip,
        user_agent: given.user_agent,
        fingerprint: given.fingerprint,
        trust_token: given.trust_token,
        session_type: given.session_type.unwrap_or_default(),
        device: given.device.map(Into::into).unwrap_or_default(),
        ..ClientInfo::default()
    };
    tracing::info!(gateway = key.name(), user = %user, "gateway sign-in");
    let outcome = state.mfa.begin_after_primary_auth(user, client).await?;
    Ok(state.reply(outcome).into_response())
}

/// `GET /admin/users/{id}/export`: everything held about the user (no
/// secrets), as [`Mfa::export_user_data`](mfa_core::Mfa::export_user_data)
/// gives it, audited with the key's name.
pub(crate) async fn export(
    state: MfaState,
    AdminKey(key): AdminKey,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = user_id(&id)?;
    let export = state
        .mfa
        .as_operator(key.name())?
        .export_user_data(id)
        .await?;
    Ok(super::me::download(&export))
}

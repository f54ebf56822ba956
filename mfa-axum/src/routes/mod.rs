//! The MFA API as ready-made routes: sign-up and sign-in, the second
//! factor, enrolment of every factor, backup codes, refresh and logout,
//! sessions, devices and the user's own audit log; and, for other services
//! holding a service key ([`crate::service`]), the admin API and the
//! gateway sign-in under `/admin`. The JSON shapes are the ones
//! [`crate::openapi::document`] describes.

mod account;
mod admin;
mod auth;
mod devices;
mod me;
mod mfa;
#[cfg(feature = "passkeys")]
mod passkeys;
mod push;
mod recovery;
mod sessions;

use crate::{ApiError, MfaState, bearer_token, ticket_of};
use axum::Router;
use axum::handler::Handler;
use axum::http::HeaderMap;
use axum::routing::{MethodFilter, MethodRouter, on};
use mfa_core::crypto::AccessClaims;
use mfa_core::model::{DeviceInfo, DeviceKind};
use mfa_core::{Actor, MfaError};
use serde::Deserialize;

pub use account::MAX_AUDIT_PAGE;
pub use admin::MAX_ADMIN_AUDIT_PAGE;
pub use push::{MAX_STREAM, MAX_WAIT, STATUS_POLL};

/// One route of the table: method (upper case) and path (axum 0.8 /
/// OpenAPI syntax, `/api/sessions/{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RouteInfo {
    /// HTTP method, upper case.
    pub method: &'static str,
    /// Path, with `{name}` for a path parameter.
    pub path: &'static str,
}

/// The route table, built once for the router and once for the listing.
struct Table<S> {
    routes: Vec<(RouteInfo, MethodRouter<S>)>,
}

impl<S: Clone + Send + Sync + 'static> Table<S> {
    fn on<H, T>(mut self, method: &'static str, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        let filter = match method {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            "DELETE" => MethodFilter::DELETE,
            "PATCH" => MethodFilter::PATCH,
            "PUT" => MethodFilter::PUT,
            other => unreachable!("no {other} route in the table"),
        };
        self.routes
            .push((RouteInfo { method, path }, on(filter, handler)));
        self
    }
}

fn table<S: Clone + Send + Sync + 'static>() -> Table<S> {
    let table = Table { routes: Vec::new() }
        .on("POST", "/api/signup", auth::signup)
        .on("POST", "/api/login", auth::login)
        .on("POST", "/api/login/skip-mfa", auth::skip_mfa)
        .on("POST", "/api/token/refresh", auth::refresh)
        .on("POST", "/api/logout", auth::logout)
        .on("GET", "/api/mfa/challenge", mfa::methods)
        .on("POST", "/api/mfa/challenge", mfa::send_challenge)
        .on("POST", "/api/mfa/verify", mfa::verify)
        .on("POST", "/api/mfa/step-up", mfa::step_up)
        .on("GET", "/api/mfa/settings", mfa::settings)
        .on("POST", "/api/mfa/totp/enroll", mfa::enroll_totp)
        .on("POST", "/api/mfa/totp/confirm", mfa::confirm)
        .on("POST", "/api/mfa/email/enroll", mfa::enroll_email)
        .on("POST", "/api/mfa/email/confirm", mfa::confirm)
        .on("POST", "/api/mfa/sms/enroll", mfa::enroll_sms)
        .on("POST", "/api/mfa/sms/confirm", mfa::confirm)
        .on("DELETE", "/api/mfa/factors/{id}", mfa::remove_factor)
        .on("PATCH", "/api/mfa/factors/{id}", mfa::rename_factor)
        .on("POST", "/api/mfa/backup-codes", mfa::backup_codes)
        .on("POST", "/api/device/register", devices::register)
        .on("GET", "/api/device/trusted", devices::trusted)
        .on("DELETE", "/api/device/{id}", devices::revoke)
        .on("GET", "/api/sessions", sessions::list)
        .on("DELETE", "/api/sessions/{id}", sessions::revoke)
        .on("GET", "/api/user/profile", account::profile)
        .on("POST", "/api/user/password", me::change_password)
        .on("POST", "/api/password/forgot", recovery::forgot)
        .on("POST", "/api/password/reset", recovery::reset)
        .on(
            "POST",
            "/api/user/email/verification",
            recovery::send_verification,
        )
        .on("POST", "/api/email/verify", recovery::verify)
        .on("GET", "/api/user/export", me::export)
        .on("DELETE", "/api/user", me::delete_account)
        .on("GET", "/api/devices", me::devices)
        .on("POST", "/api/device/{id}/compromised", me::compromised)
        .on("POST", "/api/device/revoke-all", me::revoke_all_devices)
        .on(
            "POST",
            "/api/sessions/revoke-others",
            me::revoke_other_sessions,
        )
        .on("GET", "/api/audit", account::audit)
        .on("POST", "/api/mfa/push/enroll/start", push::enrol_start)
        .on("POST", "/api/mfa/push/enroll/finish", push::enrol_finish)
        .on("POST", "/api/mfa/push", push::request)
        .on("GET", "/api/mfa/push/devices", push::devices)
        .on("GET", "/api/mfa/push/requests/{id}", push::prompt)
        .on("POST", "/api/mfa/push/answer", push::answer)
        .on("GET", "/api/mfa/push/{id}/status", push::status)
        .on("GET", "/api/mfa/push/{id}/events", push::events)
        .on("POST", "/api/mfa/push/{id}/complete", push::complete)
        .on("GET", "/admin/users/{id}", admin::user)
        .on("GET", "/admin/users/{id}/export", admin::export)
        .on("DELETE", "/admin/users/{id}", admin::delete)
        .on("POST", "/admin/users/{id}/erase", admin::erase)
        .on("POST", "/admin/users/{id}/reset-mfa", admin::reset_mfa)
        .on("POST", "/admin/users/{id}/unlock", admin::unlock)
        .on("PUT", "/admin/users/{id}/enforcement", admin::enforcement)
        .on("POST", "/admin/users/{id}/disable", admin::disable)
        .on("POST", "/admin/users/{id}/enable", admin::enable)
        .on(
            "POST",
            "/admin/users/{id}/sessions/revoke",
            admin::revoke_sessions,
        )
        .on(
            "POST",
            "/admin/users/{id}/devices/revoke",
            admin::revoke_devices,
        )
        .on("GET", "/admin/locked", admin::locked)
        .on("GET", "/admin/audit", admin::audit)
        .on("POST", "/admin/gateway/sign-in", admin::gateway_sign_in);
    #[cfg(feature = "passkeys")]
    let table = table
        .on(
            "POST",
            "/api/mfa/passkey/register/start",
            passkeys::register_start,
        )
        .on(
            "POST",
            "/api/mfa/passkey/register/finish",
            passkeys::register_finish,
        )
        .on("POST", "/api/mfa/passkey/options", passkeys::options)
        .on("POST", "/api/mfa/passkey/verify", passkeys::verify)
        .on("GET", "/api/mfa/passkeys", passkeys::list)
        .on("DELETE", "/api/mfa/passkeys/{id}", passkeys::remove)
        .on("PATCH", "/api/mfa/passkeys/{id}", passkeys::rename)
        .on(
            "POST",
            "/api/passkey/login/options",
            passkeys::login_options,
        )
        .on("POST", "/api/passkey/login", passkeys::login);
    table
}

/// Every route [`MfaState::routes`] serves, sorted.
#[must_use]
pub fn route_list() -> Vec<RouteInfo> {
    let mut list: Vec<RouteInfo> = table::<()>().routes.into_iter().map(|(r, _)| r).collect();
    list.sort();
    list
}

impl MfaState {
    /// The whole MFA API under `/api`, and the admin API under `/admin`
    /// (see [`route_list`]), carrying this state. The admin routes answer
    /// `invalid_token` (401) to every call until service keys are
    /// configured ([`MfaState::with_service_keys`]). Merge it into the host's router:
    /// `Router::new().merge(state.routes())`. Serve with
    /// `into_make_service_with_connect_info::<SocketAddr>()`: the routes
    /// read the client's IP from the connection.
    pub fn routes<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        table::<S>()
            .routes
            .into_iter()
            .fold(Router::new(), |router, (info, method)| {
                router.route(info.path, method)
            })
            .layer(self.layer())
    }

    /// Who asks for a factor change: the ticket of the request (header, or
    /// `body_ticket`) during sign-in, or else the session of its bearer
    /// token.
    ///
    /// # Errors
    /// `invalid_token` without either, and the errors of
    /// [`mfa_core::Mfa::authenticate`].
    pub async fn who(
        &self,
        headers: &HeaderMap,
        body_ticket: Option<String>,
    ) -> Result<Who, ApiError> {
        if let Some(ticket) = ticket_of(headers, body_ticket) {
            return Ok(Who::Ticket(ticket));
        }
        let token = bearer_token(headers).ok_or(ApiError(MfaError::InvalidToken))?;
        Ok(Who::Session(self.mfa.authenticate(token).await?))
    }
}

/// Who asks for a factor change: a sign-in ticket or a signed-in session
/// (see [`MfaState::who`]).
#[derive(Clone)]
pub enum Who {
    /// A login or enrolment ticket.
    Ticket(String),
    /// The claims of a verified access token.
    Session(AccessClaims),
}

impl std::fmt::Debug for Who {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ticket(_) => f.write_str("Who::Ticket([redacted])"),
            Self::Session(c) => f.debug_tuple("Who::Session").field(&c.sub).finish(),
        }
    }
}

impl Who {
    /// The engine's actor for this caller.
    #[must_use]
    pub fn actor(&self) -> Actor<'_> {
        match self {
            Self::Ticket(t) => Actor::Ticket(t),
            Self::Session(c) => Actor::Session(c),
        }
    }
}

/// Descriptive device details a client may send with a sign-in.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeviceInput {
    kind: Option<DeviceKind>,
    name: Option<String>,
    os: Option<String>,
    os_version: Option<String>,
    browser: Option<String>,
    browser_version: Option<String>,
    app_version: Option<String>,
    brand: Option<String>,
    model: Option<String>,
}

impl From<DeviceInput> for DeviceInfo {
    fn from(d: DeviceInput) -> Self {
        Self {
            kind: d.kind.unwrap_or_default(),
            name: d.name,
            os: d.os,
            os_version: d.os_version,
            browser: d.browser,
            browser_version: d.browser_version,
            app_version: d.app_version,
            brand: d.brand,
            model: d.model,
        }
    }
}

/// How many sessions or devices a revocation ended.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Revoked {
    revoked: u64,
}

/// The JSON schemas derived from the types the routes read request bodies
/// into and write answers from (with every schema those refer to), by
/// name: what `crate::openapi::document` puts in its components beside
/// the ones it writes.
pub(crate) fn derived_schemas() -> serde_json::Map<String, serde_json::Value> {
    derived_schema_list().into_iter().collect()
}

/// [`derived_schemas`] as collected, a name once per type that refers to
/// it: two types answering to one name show here.
pub(crate) fn derived_schema_list() -> Vec<(String, serde_json::Value)> {
    use utoipa::ToSchema;
    use utoipa::openapi::{RefOr, schema::Schema};

    fn add<T: ToSchema>(all: &mut Vec<(String, RefOr<Schema>)>) {
        all.push((T::name().into_owned(), T::schema()));
        T::schemas(all);
    }
    let mut all = Vec::new();
    add::<auth::SignupRequest>(&mut all);
    add::<auth::LoginBody>(&mut all);
    add::<auth::TicketBody>(&mut all);
    add::<auth::RefreshBody>(&mut all);
    add::<me::PasswordChange>(&mut all);
    add::<me::DeleteAccount>(&mut all);
    add::<mfa::SendBody>(&mut all);
    add::<mfa::VerifyBody>(&mut all);
    add::<mfa::EnrollStartBody>(&mut all);
    add::<mfa::EnrollEmailBody>(&mut all);
    add::<mfa::EnrollSmsBody>(&mut all);
    add::<mfa::ConfirmBody>(&mut all);
    add::<mfa::RenameBody>(&mut all);
    #[cfg(feature = "passkeys")]
    {
        add::<passkeys::RegisterFinishBody>(&mut all);
        add::<passkeys::VerifyBody>(&mut all);
        add::<passkeys::LoginBody>(&mut all);
        add::<passkeys::ChallengeView<'_>>(&mut all);
        add::<passkeys::PasskeyList>(&mut all);
    }
    add::<push::EnrolFinishBody>(&mut all);
    add::<push::CompleteBody>(&mut all);
    add::<recovery::ForgotBody>(&mut all);
    add::<recovery::ResetBody>(&mut all);
    add::<recovery::VerifyBody>(&mut all);
    add::<admin::EnforcementBody>(&mut all);
    add::<admin::GatewaySignInBody>(&mut all);
    add::<DeviceInput>(&mut all);
    // Answers.
    add::<crate::error::Body<'_>>(&mut all);
    add::<auth::SignupResponse>(&mut all);
    add::<mfa::TicketMethods>(&mut all);
    add::<mfa::SentView>(&mut all);
    add::<mfa::TotpEnrollment<'_>>(&mut all);
    add::<mfa::PendingView>(&mut all);
    add::<mfa::BackupCodes<'_>>(&mut all);
    add::<Revoked>(&mut all);
    add::<admin::AdminUser>(&mut all);
    add::<admin::Enforcement>(&mut all);
    add::<admin::Erasure>(&mut all);
    add::<admin::LockedPage>(&mut all);
    add::<devices::RegisteredDevice>(&mut all);
    add::<devices::DeviceList>(&mut all);
    add::<sessions::SessionList>(&mut all);
    add::<account::Profile>(&mut all);
    add::<account::AuditPage>(&mut all);
    add::<mfa::Settings>(&mut all);
    add::<recovery::VerificationSent>(&mut all);
    add::<push::EnrolmentChallenge>(&mut all);
    add::<push::PushPending>(&mut all);
    add::<push::PushStatus>(&mut all);
    add::<push::PushDeviceList>(&mut all);
    add::<mfa_core::PushPrompt>(&mut all);
    add::<mfa_core::UserExport>(&mut all);
    add::<crate::reply::TokensAnswer>(&mut all);
    add::<crate::reply::LoginAnswer>(&mut all);
    add::<crate::reply::ConfirmedAnswer<'_>>(&mut all);
    // Held by the push answer written in `openapi`.
    add::<mfa_core::crypto::push::PushDecision>(&mut all);
    all.into_iter()
        .map(|(name, schema)| {
            let schema = serde_json::to_value(schema).unwrap_or_default();
            (name, schema)
        })
        .collect()
}

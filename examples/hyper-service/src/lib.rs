//! The mfa-rs sign-in flow on plain hyper 1.x: no web framework and no
//! `mfa-axum`, only [`Mfa`] and a `match` on method and path.
//!
//! | route | JSON body | answer |
//! |---|---|---|
//! | `POST /signup` | `identifier`, `password` | `201`, the user's id |
//! | `POST /login` | `identifier`, `password` | tokens, or a `ticket` |
//! | `POST /totp/enroll` | `ticket`?, `label`? | `factor_id`, `secret`, `otpauth_uri`, `qr_svg` |
//! | `POST /totp/confirm` | `ticket`?, `factor_id`, `code` | `backup_codes`, and `tokens` after a ticket |
//! | `POST /verify` | `ticket`, `method`, `code` | tokens |
//! | `GET /secret` | none | `200` at AAL2 only |
//!
//! The enrolment routes act for the sign-in `ticket` when the body has one,
//! otherwise for the session of the `Authorization: Bearer` token. Errors
//! answer `{"error": code, "message": text}`, `code` being
//! [`MfaError::code`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use mfa_core::crypto::{AccessClaims, ExposeSecret, SecretString};
use mfa_core::model::{Aal, Contact, FactorId, FactorKind};
use mfa_core::{Actor, ClientInfo, LoginOutcome, LoginRequest, Mfa, MfaError, MfaResult};
use mfa_core::{NewUser, Tokens, VerifyRequest};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// Largest request body read; a longer one is refused unread.
const MAX_BODY: usize = 16 * 1024;

/// What a route answers: a status and a JSON body, or an error.
type Reply = MfaResult<(StatusCode, Value)>;

/// Serves `mfa` on every connection `listener` accepts, one task each.
///
/// # Errors
/// Returns when accepting a connection fails.
pub async fn serve(listener: TcpListener, mfa: Mfa) -> std::io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        let mfa = mfa.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let mfa = mfa.clone();
                async move {
                    Ok::<_, Infallible>(match route(&mfa, peer, request).await {
                        Ok((status, body)) => json_response(status, &body),
                        Err(error) => error_response(&error),
                    })
                }
            });
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

async fn route(mfa: &Mfa, peer: SocketAddr, request: Request<Incoming>) -> Reply {
    let (parts, body) = request.into_parts();
    let client = client_info(peer, &parts.headers);
    let bearer = bearer(&parts.headers);
    match (&parts.method, parts.uri.path()) {
        (&Method::POST, "/signup") => signup(mfa, read(body).await?).await,
        (&Method::POST, "/login") => login(mfa, read(body).await?, client).await,
        (&Method::POST, "/totp/enroll") => enroll(mfa, read(body).await?, bearer).await,
        (&Method::POST, "/totp/confirm") => confirm(mfa, read(body).await?, bearer, &client).await,
        (&Method::POST, "/verify") => verify(mfa, read(body).await?, &client).await,
        (&Method::GET, "/secret") => secret(mfa, bearer).await,
        _ => Err(MfaError::NotFound),
    }
}

/// The client as this server sees it. Nothing stands in front of it, so the
/// peer address is the client's; behind a proxy, believe its forwarding
/// header only when the peer is that proxy.
fn client_info(peer: SocketAddr, headers: &HeaderMap) -> ClientInfo {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    ClientInfo {
        ip: Some(peer.ip().to_canonical()),
        user_agent: user_agent.filter(|ua| !ua.is_empty()).map(str::to_owned),
        ..ClientInfo::default()
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// Reads a JSON body; an empty one reads as `{}`.
async fn read<T: DeserializeOwned>(body: Incoming) -> MfaResult<T> {
    let bytes = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|_| MfaError::invalid_input("body", "unreadable or too large"))?
        .to_bytes();
    let json: &[u8] = if bytes.is_empty() { b"{}" } else { &bytes };
    serde_json::from_slice(json)
        .map_err(|_| MfaError::invalid_input("body", "not the expected JSON"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    identifier: String,
    password: String,
}

async fn signup(mfa: &Mfa, body: Credentials) -> Reply {
    let new = NewUser {
        identifier: body.identifier,
        password: Some(SecretString::from(body.password)),
        contact: Contact::default(),
    };
    let user = mfa.create_user(new).await?;
    Ok((
        StatusCode::CREATED,
        json!({ "user_id": user.id, "identifier": user.identifier }),
    ))
}

async fn login(mfa: &Mfa, body: Credentials, client: ClientInfo) -> Reply {
    let request = LoginRequest {
        identifier: body.identifier,
        password: SecretString::from(body.password),
        client,
    };
    let answer = match mfa.login(request).await? {
        LoginOutcome::Authenticated(tokens) => tokens_json(&tokens),
        LoginOutcome::MfaRequired {
            ticket,
            methods,
            expires_at,
        } => json!({
            "status": "mfa_required",
            "ticket": ticket,
            "methods": methods,
            "expires_at": expires_at,
        }),
        LoginOutcome::EnrollmentRequired {
            ticket,
            deadline,
            can_skip,
        } => json!({
            "status": "enrollment_required",
            "ticket": ticket,
            "deadline": deadline,
            "can_skip": can_skip,
        }),
    };
    ok(answer)
}

/// Who changes a factor: a user signing in (with the ticket) or signed in
/// (with an access token).
enum Caller {
    Ticket(String),
    Session(Box<AccessClaims>),
}

impl Caller {
    async fn of(mfa: &Mfa, ticket: Option<String>, bearer: Option<&str>) -> MfaResult<Self> {
        match (ticket, bearer) {
            (Some(ticket), _) => Ok(Self::Ticket(ticket)),
            (None, Some(token)) => Ok(Self::Session(Box::new(mfa.authenticate(token).await?))),
            (None, None) => Err(MfaError::InvalidToken),
        }
    }

    fn actor(&self) -> Actor<'_> {
        match self {
            Self::Ticket(ticket) => Actor::Ticket(ticket),
            Self::Session(claims) => Actor::Session(claims),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrollBody {
    ticket: Option<String>,
    label: Option<String>,
}

async fn enroll(mfa: &Mfa, body: EnrollBody, bearer: Option<&str>) -> Reply {
    let caller = Caller::of(mfa, body.ticket, bearer).await?;
    let enrollment = mfa
        .enroll_totp(caller.actor(), body.label.as_deref())
        .await?;
    // The seed goes to the user enrolling, once; it is never logged.
    ok(json!({
        "factor_id": enrollment.factor_id,
        "secret": enrollment.secret.expose_secret(),
        "otpauth_uri": enrollment.otpauth_uri.expose_secret(),
        "qr_svg": enrollment.qr_svg.expose_secret(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmBody {
    ticket: Option<String>,
    factor_id: FactorId,
    code: String,
}

async fn confirm(mfa: &Mfa, body: ConfirmBody, bearer: Option<&str>, client: &ClientInfo) -> Reply {
    let caller = Caller::of(mfa, body.ticket, bearer).await?;
    let enrolled = mfa
        .confirm_factor(caller.actor(), body.factor_id, &body.code, client)
        .await?;
    let backup_codes = enrolled.backup_codes.map(|backup| {
        backup
            .codes
            .iter()
            .map(|c| c.expose_secret().to_owned())
            .collect::<Vec<_>>()
    });
    ok(json!({
        "factor_id": enrolled.factor_id,
        "backup_codes": backup_codes,
        "tokens": enrolled.tokens.as_ref().map(tokens_json),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    ticket: String,
    method: FactorKind,
    code: String,
}

async fn verify(mfa: &Mfa, body: VerifyBody, client: &ClientInfo) -> Reply {
    let request = VerifyRequest {
        ticket: &body.ticket,
        method: body.method,
        code: &body.code,
        remember_device: false,
        client,
    };
    let verified = mfa.verify(request).await?;
    let mut answer = tokens_json(&verified.tokens);
    answer["backup_codes_remaining"] = json!(verified.backup_codes_remaining);
    ok(answer)
}

/// A route for signed-in users who proved two factors.
async fn secret(mfa: &Mfa, bearer: Option<&str>) -> Reply {
    let claims = mfa
        .authenticate(bearer.ok_or(MfaError::InvalidToken)?)
        .await?;
    if claims.aal < Aal::Aal2 {
        return Err(MfaError::MfaRequired);
    }
    ok(json!({ "user_id": claims.sub, "aal": claims.aal }))
}

fn ok(body: Value) -> Reply {
    Ok((StatusCode::OK, body))
}

fn tokens_json(tokens: &Tokens) -> Value {
    json!({
        "status": "authenticated",
        "access_token": tokens.access_token,
        "access_expires_at": tokens.access_expires_at,
        "refresh_token": tokens.refresh_token,
        "refresh_expires_at": tokens.refresh_expires_at,
        "session_id": tokens.session_id,
        "aal": tokens.aal,
        "amr": tokens.amr,
    })
}

fn error_response(error: &MfaError) -> Response<Full<Bytes>> {
    let code = error.code();
    let status =
        StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = if status.is_server_error() {
        // The client learns nothing of the cause; the operator reads it,
        // with its sources, in the log (install a `tracing` subscriber).
        tracing::error!(
            code,
            error = error as &dyn std::error::Error,
            "request failed"
        );
        "the request could not be completed".to_owned()
    } else {
        error.to_string()
    };
    let mut response = json_response(status, &json!({ "error": code, "message": message }));
    let headers = response.headers_mut();
    if let Some(wait) = error.retry_after() {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs()));
    }
    if code == "invalid_token" {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

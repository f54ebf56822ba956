//! Push approval: enrolment of a phone app, the request a waiting browser
//! makes, the app's view and answer, the status (streamed as Server-Sent
//! Events, or long-polled) and the completion.
//!
//! The status comes from the store on every poll, never from this
//! process's memory: a browser may watch through one instance while the
//! app answers through another, and a restart loses nothing.

use super::auth::TicketBody;
use super::mfa::EnrollStartBody;
use crate::{ApiError, Authenticated, Client, JsonBody, MfaState, Ticket, required_ticket};
use axum::Json;
use axum::extract::{Path, Query};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures::Stream;
use mfa_core::crypto::push::DeviceKeyAlgorithm;
use mfa_core::model::{ChallengeId, PushRequestId};
use mfa_core::{Mfa, MfaError, PushDeviceView, PushEnrolment, PushPrompt, PushState};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::time::Duration;
use utoipa::ToSchema;

/// How often a waiting status reads the store.
pub const STATUS_POLL: Duration = Duration::from_millis(250);
/// The longest a long-poll waits (under a 30-second request timeout).
pub const MAX_WAIT: Duration = Duration::from_secs(25);
/// The longest an event stream stays open.
pub const MAX_STREAM: Duration = Duration::from_secs(6 * 60);

fn request_of(text: &str) -> Result<PushRequestId, ApiError> {
    text.parse()
        .map_err(|_| ApiError(MfaError::invalid_input("id", "not a UUID")))
}

/// `POST /api/mfa/push/enroll/start`: a challenge for the app to sign with
/// its new device key; for a signed-in user with a recent second factor
/// (bearer token) or during sign-in (enrolment ticket).
pub(crate) async fn enrol_start(
    state: MfaState,
    headers: HeaderMap,
    JsonBody(req): JsonBody<EnrollStartBody>,
) -> Result<Json<EnrolmentChallenge>, ApiError> {
    let who = state.who(&headers, req.ticket).await?;
    let started = state
        .mfa
        .start_push_enrolment(who.actor(), req.label.as_deref())
        .await?;
    Ok(Json(EnrolmentChallenge {
        id: started.id,
        challenge: started.challenge,
        expires_at: started.expires_at,
    }))
}

/// A push enrolment started: what the app signs with its new key.
#[derive(Serialize, ToSchema)]
#[schema(as = PushEnrolmentChallenge)]
pub(crate) struct EnrolmentChallenge {
    id: ChallengeId,
    /// 32 random bytes, base64url: sign the "mfa-rs push enrolment v1"
    /// lines of challenge and key thumbprint.
    challenge: String,
    expires_at: DateTime<Utc>,
}

/// A push request made: show `number` in the browser.
#[derive(Serialize, ToSchema)]
pub(crate) struct PushPending {
    request: PushRequestId,
    #[schema(minimum = 10, maximum = 99)]
    number: u8,
    expires_at: DateTime<Utc>,
    /// How many apps the push went to.
    devices: u32,
}

/// Where a push request stands.
#[derive(Serialize, ToSchema)]
pub(crate) struct PushStatus {
    request: PushRequestId,
    state: PushState,
}

/// The user's push apps.
#[derive(Serialize, ToSchema)]
pub(crate) struct PushDeviceList {
    devices: Vec<PushDeviceView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PushEnrolRequest)]
pub(crate) struct EnrolFinishBody {
    ticket: Option<String>,
    /// The enrolment's id, from its start.
    #[schema(format = Uuid)]
    id: String,
    algorithm: DeviceKeyAlgorithm,
    /// base64url: 32 bytes (Ed25519) or the 65-byte uncompressed point (P-256).
    public_key: String,
    /// `{"kind": "web_push", "endpoint", "p256dh", "auth"}`,
    /// `{"kind": "fcm", "token"}` or `{"kind": "apns", "device_token"}`; at
    /// most 4 KiB.
    #[schema(value_type = Object)]
    address: serde_json::Value,
    /// base64url; DER for P-256.
    signature: String,
    device: Option<super::DeviceInput>,
}

/// `POST /api/mfa/push/enroll/finish`: the app's key, push address and
/// proof. The app is active at once; a first factor comes with backup
/// codes, and with a ticket the sign-in completes.
pub(crate) async fn enrol_finish(
    state: MfaState,
    Client(mut client): Client,
    headers: HeaderMap,
    JsonBody(req): JsonBody<EnrolFinishBody>,
) -> Result<Response, ApiError> {
    let id: ChallengeId = req
        .id
        .parse()
        .map_err(|_| ApiError(MfaError::invalid_input("id", "not a UUID")))?;
    if let Some(device) = req.device {
        client.device = device.into();
    }
    let who = state.who(&headers, req.ticket).await?;
    let enrolled = state
        .mfa
        .finish_push_enrolment(
            who.actor(),
            PushEnrolment {
                id,
                algorithm: req.algorithm,
                public_key: &req.public_key,
                address: &req.address,
                signature: &req.signature,
            },
            &client,
        )
        .await?;
    Ok(state.reply(enrolled).into_response())
}

/// `POST /api/mfa/push`: asks the user's apps to approve the sign-in (or
/// step-up) of a ticket; the browser shows `number`.
pub(crate) async fn request(
    state: MfaState,
    Client(client): Client,
    headers: HeaderMap,
    JsonBody(req): JsonBody<TicketBody>,
) -> Result<Json<PushPending>, ApiError> {
    let ticket = required_ticket(&headers, req.ticket)?;
    let pending = state.mfa.request_push(&ticket, &client).await?;
    Ok(Json(PushPending {
        request: pending.request,
        number: pending.number,
        expires_at: pending.expires_at,
        devices: pending.devices,
    }))
}

/// `GET /api/mfa/push/requests/{id}`: what the app shows (the sign-in's
/// context and three numbers). The id is the capability: it reached the
/// app through its push.
pub(crate) async fn prompt(
    state: MfaState,
    Path(id): Path<String>,
) -> Result<Json<PushPrompt>, ApiError> {
    let prompt = state.mfa.push_request_for_app(request_of(&id)?).await?;
    Ok(Json(prompt))
}

/// `POST /api/mfa/push/answer`: the app's signed answer (the JSON of
/// `SignedPushAnswer`).
pub(crate) async fn answer(
    state: MfaState,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> Result<Json<PushStatus>, ApiError> {
    let answered = state.mfa.answer_push(&body.to_string()).await?;
    Ok(Json(PushStatus {
        request: answered.request,
        state: answered.state,
    }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusQuery {
    /// Seconds to wait for a state other than `since` (at most 30).
    wait: Option<u64>,
    /// The state the caller knows.
    since: Option<PushState>,
    /// The ticket may come in the query (as for every ticket route); the
    /// `Ticket` extractor reads it.
    #[serde(default, rename = "ticket")]
    _ticket: Option<String>,
}

/// Reads the state until it differs from `since`, or `wait` passes.
async fn wait_for(
    mfa: &Mfa,
    ticket: &str,
    id: PushRequestId,
    since: Option<PushState>,
    wait: Duration,
) -> Result<PushState, MfaError> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let state = mfa.push_status(ticket, id).await?;
        if Some(state) != since || state.is_final() || tokio::time::Instant::now() >= deadline {
            return Ok(state);
        }
        tokio::time::sleep(STATUS_POLL).await;
    }
}

/// `GET /api/mfa/push/{id}/status`: the request's state, for the ticket's
/// browser. With `?wait=N&since=pending` it answers as soon as the state
/// is another (a long-poll, for clients without event streams), or after
/// `N` seconds with the same.
pub(crate) async fn status(
    state: MfaState,
    Ticket(ticket): Ticket,
    Path(id): Path<String>,
    Query(query): Query<StatusQuery>,
) -> Result<Json<PushStatus>, ApiError> {
    let id = request_of(&id)?;
    let wait = Duration::from_secs(query.wait.unwrap_or(0)).min(MAX_WAIT);
    let current = tokio::select! {
        current = wait_for(&state.mfa, &ticket, id, query.since, wait) => current?,
        () = state.closed() => state.mfa.push_status(&ticket, id).await?,
    };
    Ok(Json(PushStatus {
        request: id,
        state: current,
    }))
}

fn event_of(request: PushRequestId, state: PushState) -> Event {
    let status = serde_json::to_string(&PushStatus { request, state }).unwrap_or_default();
    Event::default().event("status").data(status)
}

fn error_event(e: &MfaError) -> Event {
    Event::default()
        .event("error")
        .data(serde_json::json!({ "error": e.code() }).to_string())
}

/// The stream of a request's states: the current one at once, then each
/// change, closed after a final state (or an error event, or
/// [`MAX_STREAM`]).
fn status_stream(
    state: MfaState,
    ticket: String,
    id: PushRequestId,
) -> impl Stream<Item = Result<Event, Infallible>> {
    struct Watch {
        state: MfaState,
        ticket: String,
        last: Option<PushState>,
        done: bool,
        until: tokio::time::Instant,
    }
    let watch = Watch {
        state,
        ticket,
        last: None,
        done: false,
        until: tokio::time::Instant::now() + MAX_STREAM,
    };
    futures::stream::unfold(watch, move |mut w| async move {
        loop {
            if w.done || tokio::time::Instant::now() >= w.until {
                return None;
            }
            if w.last.is_some() {
                tokio::select! {
                    () = tokio::time::sleep(STATUS_POLL) => {}
                    () = w.state.closed() => return None,
                }
            }
            match w.state.mfa.push_status(&w.ticket, id).await {
                Ok(state) if Some(state) == w.last => {}
                Ok(state) => {
                    w.last = Some(state);
                    w.done = state.is_final();
                    return Some((Ok(event_of(id, state)), w));
                }
                Err(e) => {
                    w.done = true;
                    return Some((Ok(error_event(&e)), w));
                }
            }
        }
    })
}

/// `GET /api/mfa/push/{id}/events`: the request's states as Server-Sent
/// Events (`event: status`, `data: {"request": …, "state": …}`), the
/// current one at once and each change after it; an `error` event (with
/// the error code) ends it, as does a final state. The ticket comes in
/// the `x-mfa-ticket` header or, for `EventSource`, the `ticket` query
/// parameter.
pub(crate) async fn events(
    state: MfaState,
    Ticket(ticket): Ticket,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = request_of(&id)?;
    // A ticket or request that is wrong from the start is a plain error,
    // not a stream.
    state.mfa.push_status(&ticket, id).await?;
    let stream = status_stream(state.clone(), ticket, id);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PushCompleteRequest)]
pub(crate) struct CompleteBody {
    ticket: Option<String>,
    #[serde(default)]
    remember_device: bool,
}

/// `POST /api/mfa/push/{id}/complete`: completes the ticket with its
/// approved request.
pub(crate) async fn complete(
    state: MfaState,
    Client(client): Client,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<CompleteBody>,
) -> Result<Response, ApiError> {
    let id = request_of(&id)?;
    let ticket = required_ticket(&headers, req.ticket)?;
    let verified = state
        .mfa
        .complete_push(&ticket, id, req.remember_device, &client)
        .await?;
    Ok(state.reply(verified).into_response())
}

/// `GET /api/mfa/push/devices`: the user's push apps.
pub(crate) async fn devices(
    state: MfaState,
    Authenticated(claims): Authenticated,
) -> Result<Json<PushDeviceList>, ApiError> {
    let devices = state.mfa.push_devices(claims.sub).await?;
    Ok(Json(PushDeviceList { devices }))
}

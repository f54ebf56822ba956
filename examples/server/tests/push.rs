//! Push approval over real HTTP, on every backend: a Rust test app (the
//! device key of `TestPushApp`, devices of the development kind `dev`
//! whose notices the outbox records) enrols, is pushed, reads the request
//! and answers; the waiting client follows the status by event stream and
//! by long-poll, across two instances and a restart.

#[macro_use]
mod common;

use common::{Db, PASSWORD, Req, Resp, TestServer, config, data_dir, unique};
use data_encoding::BASE64URL_NOPAD;
use mfa_core::crypto::push::PushDecision;
use mfa_core::testing::push_app::TestPushApp;
use serde_json::{Value, json};
use std::time::Duration;

on_every_backend!(
    "push";
    push_approval_signs_in_over_http,
    push_denial_and_status_by_long_poll,
    push_endpoints_refuse_bad_input_and_store_nothing,
    push_status_crosses_instances_and_survives_a_restart,
);

/// A signed-up user signed in with the password alone (no factor yet):
/// (identifier, access token).
async fn signed_in(s: &TestServer) -> (String, String) {
    let id = unique("push");
    s.signup(&id, PASSWORD).await.expect(201, None);
    let login = s.login(&id, PASSWORD, &[]).await;
    login.expect(200, None);
    (id, login.str("access_token"))
}

fn address(token: &str) -> Value {
    json!({ "kind": "dev", "token": token })
}

/// Enrols `app` as a push device with `token`: the enrolment answer.
async fn enrol(s: &TestServer, bearer: &str, app: &TestPushApp, token: &str) -> Resp {
    let start = s
        .call(
            Req::post("/api/mfa/push/enroll/start")
                .bearer(bearer)
                .json(json!({ "label": "test phone" })),
        )
        .await;
    start.expect(200, None);
    let challenge = start.str("challenge");
    s.call(
        Req::post("/api/mfa/push/enroll/finish")
            .bearer(bearer)
            .json(json!({
                "id": start.str("id"),
                "algorithm": app.public_key().algorithm(),
                "public_key": app.public_key().to_base64url(),
                "address": address(token),
                "signature": BASE64URL_NOPAD.encode(&app.prove(&challenge)),
                "device": { "kind": "mobile", "brand": "Test", "model": "Phone 1", "os": "TestOS", "app_version": "1.0" },
            })),
    )
    .await
}

/// The id of the latest push the outbox recorded for `token`.
fn pushed_request(s: &TestServer, token: &str) -> Option<String> {
    let text = std::fs::read_to_string(s.dir.join("outbox.jsonl")).ok()?;
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["kind"] == "push" && l["to"] == token)
        .filter_map(|l| l["request"].as_str().map(str::to_owned))
        .next_back()
}

/// The app's signed answer to `request`.
fn answer(app: &TestPushApp, request: &str, number: u8, decision: PushDecision) -> Value {
    let signed = app.answer(
        request.parse().expect("a UUID"),
        number,
        decision,
        chrono::Utc::now().timestamp(),
        true,
    );
    serde_json::from_str(&signed.to_json()).expect("JSON")
}

/// Signs in with the password and asks for a push: (ticket, request,
/// number).
async fn ask(s: &TestServer, id: &str) -> (String, String, u8) {
    let login = s.login(id, PASSWORD, &[]).await;
    login.expect(200, None);
    assert_eq!(login.json["mfa_required"], true, "{}", login.text);
    assert!(
        login.json["methods"]
            .as_array()
            .is_some_and(|m| m.contains(&json!("push"))),
        "{}",
        login.text
    );
    let ticket = login.str("ticket");
    let pending = s
        .call(Req::post("/api/mfa/push").json(json!({ "ticket": ticket })))
        .await;
    pending.expect(200, None);
    let number = u8::try_from(pending.json["number"].as_u64().expect("number")).expect("u8");
    (ticket, pending.str("request"), number)
}

/// The long-poll of a waiting client: the request's state once it is no
/// longer pending (or after 20 s).
async fn long_poll(s: &TestServer, request: &str, ticket: &str) -> Resp {
    s.call(
        Req::get(&format!(
            "/api/mfa/push/{request}/status?wait=20&since=pending"
        ))
        .header("x-mfa-ticket", ticket.to_owned()),
    )
    .await
}

/// The app's `answer`, posted a moment later: after a watcher beside it
/// has started waiting.
async fn answer_soon(s: &TestServer, answer: Value) -> Resp {
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.call(Req::post("/api/mfa/push/answer").json(answer)).await
}

/// Reads the `status` events of a push request's stream until `until`
/// arrives (or the stream ends): the states, in order.
async fn stream_until(s: &TestServer, request: &str, ticket: &str, until: &str) -> Vec<String> {
    let mut response = s
        .http
        .get(s.url(&format!("/api/mfa/push/{request}/events?ticket={ticket}")))
        .send()
        .await
        .expect("the stream opens");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let mut text = String::new();
    let mut states = Vec::new();
    let read = async {
        while let Some(chunk) = response.chunk().await.expect("a chunk") {
            text.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = text.find("\n\n") {
                let event: String = text.drain(..end + 2).collect();
                if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) {
                    let data: Value = serde_json::from_str(data).expect("event data");
                    let state = data["state"].as_str().expect("state").to_owned();
                    let done = state == until;
                    states.push(state);
                    if done {
                        return;
                    }
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("the awaited state arrives within 20 s");
    states
}

async fn push_approval_signs_in_over_http(db: Db) {
    let s = TestServer::on(&db, "push-approve").await;
    let (id, bearer) = signed_in(&s).await;
    let app = TestPushApp::ed25519();
    let token = format!("phone-{}", uuid::Uuid::new_v4().simple());
    let enrolled = enrol(&s, &bearer, &app, &token).await;
    enrolled.expect(200, None);
    assert!(
        enrolled.json["backup_codes"].is_array(),
        "the first factor comes with backup codes"
    );
    let devices = s
        .call(Req::get("/api/mfa/push/devices").bearer(&bearer))
        .await;
    devices.expect(200, None);
    assert_eq!(devices.json["devices"][0]["label"], "test phone");
    assert_eq!(devices.json["devices"][0]["device"]["model"], "Phone 1");
    assert_eq!(devices.json["devices"][0]["algorithm"], "ed25519");

    let (ticket, request, number) = ask(&s, &id).await;
    assert_eq!(
        pushed_request(&s, &token).as_deref(),
        Some(request.as_str())
    );
    let prompt = s
        .call(Req::get(&format!("/api/mfa/push/requests/{request}")))
        .await;
    prompt.expect(200, None);
    assert!(
        prompt.json["choices"]
            .as_array()
            .unwrap()
            .contains(&json!(number))
    );
    assert_eq!(prompt.json["context"]["ip"], "127.0.0.1");

    // The browser's stream says pending at once, then approved once the
    // app answers.
    let (states, answered) = tokio::join!(
        stream_until(&s, &request, &ticket, "approved"),
        answer_soon(&s, answer(&app, &request, number, PushDecision::Approve)),
    );
    answered.expect(200, None);
    assert_eq!(answered.json["state"], "approved");
    assert_eq!(states, ["pending", "approved"]);

    let done = s
        .call(
            Req::post(&format!("/api/mfa/push/{request}/complete"))
                .json(json!({ "ticket": ticket })),
        )
        .await;
    done.expect(200, None);
    assert_eq!(done.json["aal"], "aal2");
    let amr = done.json["amr"].as_array().unwrap();
    for method in ["pwd", "swk", "user"] {
        assert!(amr.contains(&json!(method)), "{amr:?}");
    }
    // Completed once: the ticket is spent.
    s.call(
        Req::post(&format!("/api/mfa/push/{request}/complete")).json(json!({ "ticket": ticket })),
    )
    .await
    .expect(401, Some("invalid_ticket"));
    // Removed like any factor, with the fresh second factor just verified.
    let fresh = done.str("access_token");
    let factor = devices.json["devices"][0]["factor_id"]
        .as_str()
        .expect("factor id")
        .to_owned();
    s.call(Req::delete(&format!("/api/mfa/factors/{factor}")).bearer(&fresh))
        .await
        .expect(204, None);
    let devices = s
        .call(Req::get("/api/mfa/push/devices").bearer(&fresh))
        .await;
    assert_eq!(devices.json["devices"], json!([]));
    s.stop().await;
}

async fn push_denial_and_status_by_long_poll(db: Db) {
    let s = TestServer::on(&db, "push-deny").await;
    let (id, bearer) = signed_in(&s).await;
    let app = TestPushApp::p256();
    let token = format!("phone-{}", uuid::Uuid::new_v4().simple());
    enrol(&s, &bearer, &app, &token).await.expect(200, None);
    let (ticket, request, number) = ask(&s, &id).await;
    let status_path = format!("/api/mfa/push/{request}/status");
    let early = s
        .call(Req::get(&status_path).header("x-mfa-ticket", ticket.clone()))
        .await;
    early.expect(200, None);
    assert_eq!(early.json["state"], "pending");
    // Too early to complete: not counted, not spent.
    s.call(
        Req::post(&format!("/api/mfa/push/{request}/complete")).json(json!({ "ticket": ticket })),
    )
    .await
    .expect(409, Some("push_pending"));
    let (polled, denied) = tokio::join!(
        long_poll(&s, &request, &ticket),
        answer_soon(&s, answer(&app, &request, number, PushDecision::Deny)),
    );
    denied.expect(200, None);
    polled.expect(200, None);
    let polled = polled.json;
    assert_eq!(polled["state"], "denied");
    assert_eq!(
        stream_until(&s, &request, &ticket, "denied").await,
        ["denied"]
    );
    s.call(
        Req::post(&format!("/api/mfa/push/{request}/complete")).json(json!({ "ticket": ticket })),
    )
    .await
    .expect(401, Some("push_denied"));
    s.stop().await;
}

async fn push_endpoints_refuse_bad_input_and_store_nothing(db: Db) {
    let s = TestServer::on(&db, "push-bad").await;
    let (id, bearer) = signed_in(&s).await;
    let app = TestPushApp::ed25519();
    let start = s
        .call(
            Req::post("/api/mfa/push/enroll/start")
                .bearer(&bearer)
                .json(json!({})),
        )
        .await;
    start.expect(200, None);
    let good = json!({
        "id": start.str("id"),
        "algorithm": "ed25519",
        "public_key": app.public_key().to_base64url(),
        "address": address("phone-bad-input"),
        "signature": BASE64URL_NOPAD.encode(&app.prove(&start.str("challenge"))),
    });
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    for (body, status, code) in [
        (with("public_key", json!("AAAA")), 400, "push_malformed_key"),
        (with("algorithm", json!("rsa")), 400, "invalid_input"),
        (with("signature", json!("!!")), 400, "push_malformed"),
        (
            with("signature", json!("A".repeat(200))),
            400,
            "push_malformed",
        ),
        (
            with("address", json!({ "kind": "carrier-pigeon" })),
            400,
            "push_bad_address",
        ),
        (
            with("address", json!({ "kind": "dev", "token": "x".repeat(65) })),
            400,
            "push_bad_address",
        ),
        (with("id", json!("not-a-uuid")), 400, "invalid_input"),
        (with("extra", json!(1)), 400, "invalid_input"),
    ] {
        s.call(
            Req::post("/api/mfa/push/enroll/finish")
                .bearer(&bearer)
                .json(body),
        )
        .await
        .expect(status, Some(code));
    }
    // An oversized body is refused before it is read.
    s.call(
        Req::post("/api/mfa/push/enroll/finish")
            .bearer(&bearer)
            .json(with(
                "address",
                json!({ "kind": "dev", "token": "y".repeat(40_000) }),
            )),
    )
    .await
    .expect(413, Some("payload_too_large"));
    let devices = s
        .call(Req::get("/api/mfa/push/devices").bearer(&bearer))
        .await;
    assert_eq!(devices.json["devices"], json!([]), "nothing was stored");
    // The enrolment is still open for the good answer.
    s.call(
        Req::post("/api/mfa/push/enroll/finish")
            .bearer(&bearer)
            .json(good),
    )
    .await
    .expect(200, None);

    s.call(
        Req::post("/api/mfa/push/enroll/start")
            .bearer(&bearer)
            .json(json!({ "label": "x".repeat(65) })),
    )
    .await
    .expect(400, Some("invalid_input"));
    s.call(Req::get("/api/mfa/push/devices"))
        .await
        .expect(401, Some("invalid_token"));
    let unknown = uuid::Uuid::new_v4();
    s.call(Req::get(&format!("/api/mfa/push/requests/{unknown}")))
        .await
        .expect(401, Some("push_closed"));
    s.call(Req::get("/api/mfa/push/requests/nope"))
        .await
        .expect(400, Some("invalid_input"));
    s.call(Req::post("/api/mfa/push/answer").json(answer(
        &app,
        &unknown.to_string(),
        42,
        PushDecision::Approve,
    )))
    .await
    .expect(401, Some("push_closed"));
    s.call(Req::post("/api/mfa/push/answer").json(json!({ "request": unknown })))
        .await
        .expect(400, Some("push_malformed"));
    let (ticket, request, number) = ask(&s, &id).await;
    let mut forged = answer(
        &TestPushApp::ed25519(),
        &request,
        number,
        PushDecision::Approve,
    );
    s.call(Req::post("/api/mfa/push/answer").json(forged.clone()))
        .await
        .expect(401, Some("push_bad_signature"));
    forged["padding"] = json!("z".repeat(2000));
    s.call(Req::post("/api/mfa/push/answer").json(forged))
        .await
        .expect(400, Some("push_malformed"));
    s.call(
        Req::get(&format!("/api/mfa/push/{unknown}/status")).header("x-mfa-ticket", ticket.clone()),
    )
    .await
    .expect(401, Some("push_closed"));
    s.call(Req::get(&format!("/api/mfa/push/{request}/status")))
        .await
        .expect(401, Some("invalid_ticket"));
    s.call(
        Req::get(&format!("/api/mfa/push/{request}/events")).header("x-mfa-ticket", "not-a-ticket"),
    )
    .await
    .expect(401, Some("invalid_ticket"));
    s.call(Req::post("/api/mfa/push").json(json!({ "ticket": "not-a-ticket" })))
        .await
        .expect(401, Some("invalid_ticket"));
    s.call(Req::post("/api/mfa/push/nope/complete").json(json!({ "ticket": ticket })))
        .await
        .expect(400, Some("invalid_input"));
    s.call(
        Req::post(&format!("/api/mfa/push/{unknown}/complete")).json(json!({ "ticket": ticket })),
    )
    .await
    .expect(401, Some("push_closed"));
    s.stop().await;
}

async fn push_status_crosses_instances_and_survives_a_restart(db: Db) {
    let dir = data_dir("push-instances");
    let a = TestServer::start(config(&db, &dir)).await;
    let b = TestServer::start(config(&db, &dir)).await;
    let (id, bearer) = signed_in(&a).await;
    let app = TestPushApp::ed25519();
    let token = format!("phone-{}", uuid::Uuid::new_v4().simple());
    enrol(&a, &bearer, &app, &token).await.expect(200, None);
    let (ticket, request, number) = ask(&a, &id).await;
    // Watched on A, answered through B.
    let (seen, answered) = tokio::join!(
        long_poll(&a, &request, &ticket),
        answer_soon(&b, answer(&app, &request, number, PushDecision::Approve)),
    );
    answered.expect(200, None);
    seen.expect(200, None);
    let seen = seen.json;
    assert_eq!(seen["state"], "approved");
    // A restarts; the approval waits in the store and completes on the new A.
    a.stop().await;
    let a = TestServer::start(config(&db, &dir)).await;
    assert_eq!(
        stream_until(&a, &request, &ticket, "approved").await,
        ["approved"]
    );
    a.call(
        Req::post(&format!("/api/mfa/push/{request}/complete")).json(json!({ "ticket": ticket })),
    )
    .await
    .expect(200, None);
    a.stop().await;
    b.stop().await;
}

//! Every endpoint over real HTTP, with each error code and status, on SQLite
//! and (with `MFA_TEST_POSTGRES_URL`) on PostgreSQL.

#[macro_use]
mod common;

use common::{
    Db, PASSWORD, Req, TestServer, config, data_dir, login_with_totp, totp, unique, user_with_totp,
    wrong_totp,
};
use mfa_server::config::{Config, Mode};
use serde_json::json;

on_every_backend!(
    "http";
    probes_keys_document_and_demo_page_are_served,
    signup_and_password_login_issue_tokens,
    wrong_or_unknown_credentials_are_401_invalid_credentials,
    malformed_requests_are_400_invalid_input,
    totp_login_needs_a_code_and_verify_issues_aal2_tokens,
    ticket_methods_are_listed_by_header_or_query,
    remembered_device_skips_the_code_until_its_trust_is_revoked,
    trusted_device_session_needs_step_up_for_backup_codes,
    repeated_wrong_codes_lock_the_second_factor_with_423,
    sign_in_attempts_per_identifier_are_rate_limited_with_429,
    refresh_rotates_and_reuse_is_refused,
    logout_ends_the_session,
    sessions_are_listed_and_revoked,
    audit_lists_own_events_in_pages,
    device_register_records_and_describes_the_calling_device,
    enrolment_during_sign_in_uses_the_totp_endpoints_with_the_ticket,
    enrolment_can_be_skipped_during_the_grace_period,
    email_codes_are_sent_resend_limited_and_verified,
    sms_factors_enrol_and_any_factor_is_renamed_and_removed,
    passkeys_register_answer_a_ticket_and_sign_in_alone,
);

async fn probes_keys_document_and_demo_page_are_served(db: Db) {
    let s = TestServer::on(&db, "probes").await;
    let r = s.call(Req::get("/healthz")).await;
    r.expect(200, None);
    assert!(r.headers.contains_key("x-request-id"));
    let r = s.call(Req::get("/readyz")).await;
    r.expect(200, None);
    let expected = match db {
        Db::Sqlite => "sqlite",
        Db::Postgres(_) => "postgres",
        Db::MySql(_) => "mysql",
    };
    assert_eq!(r.json["store"], expected);
    let r = s.call(Req::get("/.well-known/jwks.json")).await;
    r.expect(200, None);
    assert_eq!(r.json["keys"][0]["kty"], "OKP");
    assert_eq!(r.json["keys"][0]["crv"], "Ed25519");
    let r = s.call(Req::get("/openapi.json")).await;
    r.expect(200, None);
    assert_eq!(r.json["openapi"], "3.1.0");
    let r = s.call(Req::get("/")).await;
    r.expect(200, None);
    assert!(r.text.contains("<html"));
    let r = s.call(Req::get("/app.js")).await;
    r.expect(200, None);
    s.call(Req::get("/no/such/route")).await.expect(404, None);
    s.call(Req::delete("/api/signup")).await.expect(405, None);
    s.stop().await;
}

async fn signup_and_password_login_issue_tokens(db: Db) {
    let s = TestServer::on(&db, "signup").await;
    let id = unique("alice");
    let r = s.signup(&id, PASSWORD).await;
    r.expect(201, None);
    assert_eq!(r.json["identifier"], id);
    s.signup(&id, PASSWORD).await.expect(409, Some("conflict"));
    let login = s.login(&id, PASSWORD, &[]).await;
    login.expect(200, None);
    assert_eq!(login.json["mfa_required"], false);
    assert_eq!(login.json["aal"], "aal1");
    assert!(login.json["session_id"].is_string());
    assert!(login.json["refresh_token"].is_string());
    let token = login.str("access_token");
    let me = s.call(Req::get("/api/user/profile").bearer(&token)).await;
    me.expect(200, None);
    assert_eq!(me.json["identifier"], id);
    assert_eq!(me.json["session"]["id"], login.json["session_id"]);
    let r = s.call(Req::get("/api/user/profile")).await;
    r.expect(401, Some("invalid_token"));
    assert!(r.headers.contains_key("www-authenticate"));
    s.call(Req::get("/api/user/profile").bearer("not-a-jwt"))
        .await
        .expect(401, Some("invalid_token"));
    let settings = s.call(Req::get("/api/mfa/settings").bearer(&token)).await;
    settings.expect(200, None);
    assert_eq!(settings.json["factors"], json!([]));
    s.stop().await;
}

async fn wrong_or_unknown_credentials_are_401_invalid_credentials(db: Db) {
    let s = TestServer::on(&db, "creds").await;
    let id = unique("bob");
    s.signup(&id, PASSWORD).await.expect(201, None);
    s.login(&id, "wrong password!", &[])
        .await
        .expect(401, Some("invalid_credentials"));
    s.login(&unique("nobody"), PASSWORD, &[])
        .await
        .expect(401, Some("invalid_credentials"));
    s.stop().await;
}

async fn malformed_requests_are_400_invalid_input(db: Db) {
    let s = TestServer::on(&db, "input").await;
    s.signup(&unique("short"), "short")
        .await
        .expect(400, Some("invalid_input"));
    // NIST SP 800-63B §5.1.1.2: a common password, refused with its reason.
    let common = s.signup(&unique("common"), "Password1").await;
    common.expect(400, Some("invalid_input"));
    assert!(common.text.contains("too common"), "{}", common.text);
    s.signup("", PASSWORD)
        .await
        .expect(400, Some("invalid_input"));
    s.call(Req::post("/api/signup").json(json!({ "identifier": 7 })))
        .await
        .expect(400, Some("invalid_input"));
    s.call(Req::post("/api/login").json(json!({ "identifier": "x", "password": "y", "extra": 1 })))
        .await
        .expect(400, Some("invalid_input"));
    // Not JSON at all.
    let r = s
        .http
        .post(s.url("/api/login"))
        .header("content-type", "text/plain")
        .body("identifier=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // An empty body is `{}`: refused only where a field is required.
    let r = s.http.post(s.url("/api/login")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    // Over the body limit. The server answers before reading the body and
    // closes the connection, so this uses a client of its own.
    let big = "x".repeat(64 * 1024);
    let r = reqwest::Client::new()
        .post(s.url("/api/signup"))
        .json(&json!({ "identifier": "big@example.test", "password": big }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let refusal: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        refusal["error"], "payload_too_large",
        "in the API's error format"
    );
    // A bad client field reaches the engine's validation.
    s.login(
        &unique("ua"),
        PASSWORD,
        &[("x-device-fingerprint", "x".repeat(300))],
    )
    .await
    .expect(400, Some("invalid_input"));
    s.stop().await;
}

async fn totp_login_needs_a_code_and_verify_issues_aal2_tokens(db: Db) {
    let s = TestServer::on(&db, "totp").await;
    let (id, secret, backup) = user_with_totp(&s).await;
    assert_eq!(backup.len(), 10);
    let login = s.login(&id, PASSWORD, &[]).await;
    login.expect(200, None);
    assert_eq!(login.json["mfa_required"], true);
    assert!(login.json["access_token"].is_null());
    let methods = login.json["methods"].as_array().unwrap();
    assert!(methods.contains(&json!("totp")) && methods.contains(&json!("backup_codes")));
    let ticket = login.str("ticket");
    // No email factor: a code cannot be sent.
    s.call(Req::post("/api/mfa/challenge").json(json!({ "ticket": ticket, "method": "email" })))
        .await
        .expect(422, Some("method_unavailable"));
    s.call(Req::post("/api/mfa/verify").json(json!({
        "ticket": ticket, "method": "totp", "code": wrong_totp(&secret),
    })))
    .await
    .expect(401, Some("invalid_code"));
    s.call(Req::post("/api/mfa/verify").json(json!({
        "ticket": ticket, "method": "totp", "code": "12",
    })))
    .await
    .expect(401, Some("invalid_code"));
    let ok = s
        .call(Req::post("/api/mfa/verify").json(json!({
            "ticket": ticket, "method": "totp", "code": totp(&secret, 1),
        })))
        .await;
    ok.expect(200, None);
    assert_eq!(ok.json["aal"], "aal2");
    assert_eq!(ok.json["amr"], json!(["pwd", "otp"]));
    assert!(
        ok.cookie("mfa_trust").is_none(),
        "no trust cookie without remember_device"
    );
    // A ticket is single use.
    s.call(Req::post("/api/mfa/verify").json(json!({
        "ticket": ticket, "method": "backup_codes", "code": backup[0],
    })))
    .await
    .expect(401, Some("invalid_ticket"));
    let token = ok.str("access_token");
    let settings = s.call(Req::get("/api/mfa/settings").bearer(&token)).await;
    settings.expect(200, None);
    assert_eq!(settings.json["factors"][0]["kind"], "totp");
    assert_eq!(settings.json["factors"][0]["status"], "active");
    assert_eq!(settings.json["backup_codes_remaining"], 10);
    s.stop().await;
}

async fn ticket_methods_are_listed_by_header_or_query(db: Db) {
    let s = TestServer::on(&db, "methods").await;
    let (id, _secret, _) = user_with_totp(&s).await;
    let ticket = s.login(&id, PASSWORD, &[]).await.str("ticket");
    let by_header = s
        .call(Req::get("/api/mfa/challenge").header("x-mfa-ticket", ticket.clone()))
        .await;
    by_header.expect(200, None);
    assert_eq!(by_header.json["ticket_kind"], "mfa");
    assert_eq!(by_header.json["methods"], json!(["totp", "backup_codes"]));
    let path = format!("/api/mfa/challenge?ticket={ticket}");
    let by_query = s.call(Req::get(&path)).await;
    by_query.expect(200, None);
    assert_eq!(by_query.json["methods"], by_header.json["methods"]);
    s.call(Req::get("/api/mfa/challenge"))
        .await
        .expect(401, Some("invalid_ticket"));
    s.call(Req::get("/api/mfa/challenge?ticket=not-a-ticket"))
        .await
        .expect(401, Some("invalid_ticket"));
    s.stop().await;
}

async fn remembered_device_skips_the_code_until_its_trust_is_revoked(db: Db) {
    let s = TestServer::on(&db, "remember").await;
    let (id, secret, _) = user_with_totp(&s).await;
    let fp = [("x-device-fingerprint", "laptop-1".to_owned())];
    let verified = login_with_totp(&s, &id, &secret, true, &fp).await;
    verified.expect(200, None);
    assert_eq!(verified.json["device_remembered"], true);
    let set_cookie = verified.set_cookie_header().expect("trust cookie");
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
    assert!(
        !set_cookie.contains("Secure"),
        "development cookies are not Secure"
    );
    let cookie = verified.cookie("mfa_trust").unwrap();

    let again = s
        .login(&id, PASSWORD, &[fp[0].clone(), ("cookie", cookie.clone())])
        .await;
    again.expect(200, None);
    assert_eq!(again.json["mfa_required"], false);
    assert!(
        again.json["amr"]
            .as_array()
            .unwrap()
            .contains(&json!("device"))
    );
    // Trust tokens rotate on use.
    let cookie = again.cookie("mfa_trust").unwrap_or(cookie);
    let token = again.str("access_token");

    let trusted = s.call(Req::get("/api/device/trusted").bearer(&token)).await;
    trusted.expect(200, None);
    let devices = trusted.json["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["trusted"], true);
    assert_eq!(devices[0]["current"], true);
    let device_id = devices[0]["id"].as_str().unwrap().to_owned();

    let missing = format!("/api/device/{}", uuid::Uuid::new_v4());
    s.call(Req::delete(&missing).bearer(&token))
        .await
        .expect(404, Some("not_found"));
    s.call(Req::delete("/api/device/not-a-uuid").bearer(&token))
        .await
        .expect(400, Some("invalid_input"));
    let path = format!("/api/device/{device_id}");
    s.call(Req::delete(&path).bearer(&token))
        .await
        .expect(204, None);
    let after = s.call(Req::get("/api/device/trusted").bearer(&token)).await;
    assert_eq!(after.json["devices"], json!([]));
    let login = s
        .login(&id, PASSWORD, &[fp[0].clone(), ("cookie", cookie)])
        .await;
    login.expect(200, None);
    assert_eq!(
        login.json["mfa_required"], true,
        "revoked trust needs the code again"
    );
    s.stop().await;
}

async fn trusted_device_session_needs_step_up_for_backup_codes(db: Db) {
    let s = TestServer::on(&db, "stepup").await;
    let (id, secret, backup) = user_with_totp(&s).await;
    let fp = [("x-device-fingerprint", "tablet".to_owned())];
    let verified = login_with_totp(&s, &id, &secret, true, &fp).await;
    verified.expect(200, None);
    let cookie = verified.cookie("mfa_trust").unwrap();
    let device_login = s
        .login(&id, PASSWORD, &[fp[0].clone(), ("cookie", cookie)])
        .await;
    device_login.expect(200, None);
    let token = device_login.str("access_token");
    s.call(Req::post("/api/mfa/backup-codes").bearer(&token))
        .await
        .expect(403, Some("step_up_required"));
    let step_up = s.call(Req::post("/api/mfa/step-up").bearer(&token)).await;
    step_up.expect(200, None);
    assert_eq!(step_up.json["mfa_required"], true);
    let stepped = s
        .call(Req::post("/api/mfa/verify").json(json!({
            "ticket": step_up.str("ticket"),
            "method": "backup_codes",
            "code": backup[0],
        })))
        .await;
    stepped.expect(200, None);
    assert_eq!(stepped.json["backup_codes_remaining"], 9);
    let fresh = stepped.str("access_token");
    let codes = s
        .call(Req::post("/api/mfa/backup-codes").bearer(&fresh))
        .await;
    codes.expect(200, None);
    assert_eq!(codes.json["backup_codes"].as_array().unwrap().len(), 10);
    // The old session was replaced by the step-up.
    s.call(Req::get("/api/user/profile").bearer(&token))
        .await
        .expect(401, Some("invalid_token"));
    s.stop().await;
}

async fn repeated_wrong_codes_lock_the_second_factor_with_423(db: Db) {
    let s = TestServer::on(&db, "lock").await;
    let (id, secret, _) = user_with_totp(&s).await;
    let ticket = s.login(&id, PASSWORD, &[]).await.str("ticket");
    let wrong = wrong_totp(&secret);
    let mut statuses = Vec::new();
    let mut locked = None;
    for _ in 0..8 {
        let r = s
            .call(Req::post("/api/mfa/verify").json(json!({
                "ticket": ticket, "method": "totp", "code": wrong,
            })))
            .await;
        statuses.push(r.status.as_u16());
        if r.status == 423 {
            locked = Some(r);
            break;
        }
        r.expect(401, Some("invalid_code"));
    }
    let locked = locked.unwrap_or_else(|| panic!("no lock after {statuses:?}"));
    locked.expect(423, Some("account_locked"));
    assert!(locked.json["retry_after"].as_u64().unwrap() > 0);
    assert!(locked.headers.contains_key("retry-after"));
    // While locked, even the right code is refused.
    s.call(Req::post("/api/mfa/verify").json(json!({
        "ticket": ticket, "method": "totp", "code": totp(&secret, 1),
    })))
    .await
    .expect(423, Some("account_locked"));
    s.stop().await;
}

async fn sign_in_attempts_per_identifier_are_rate_limited_with_429(db: Db) {
    let s = TestServer::on(&db, "ratelimit").await;
    let id = unique("flood");
    s.signup(&id, PASSWORD).await.expect(201, None);
    let mut limited = None;
    for _ in 0..30 {
        let r = s.login(&id, "not the password", &[]).await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
        r.expect(401, Some("invalid_credentials"));
    }
    let r = limited.expect("the engine limits sign-ins per identifier");
    r.expect(429, Some("rate_limited"));
    assert!(r.headers.contains_key("retry-after"));
    assert!(r.json["retry_after"].as_u64().unwrap() > 0);
    s.stop().await;
}

async fn refresh_rotates_and_reuse_is_refused(db: Db) {
    let s = TestServer::on(&db, "refresh").await;
    let id = unique("carol");
    s.signup(&id, PASSWORD).await.expect(201, None);
    let login = s.login(&id, PASSWORD, &[]).await;
    let first = login.str("refresh_token");
    let rotated = s
        .call(Req::post("/api/token/refresh").json(json!({ "refresh_token": first })))
        .await;
    rotated.expect(200, None);
    let second = rotated.str("refresh_token");
    assert_ne!(first, second);
    assert_eq!(rotated.json["session_id"], login.json["session_id"]);
    s.call(Req::post("/api/token/refresh").json(json!({ "refresh_token": first })))
        .await
        .expect(403, Some("token_reused"));
    // Reuse revoked the whole family.
    s.call(Req::post("/api/token/refresh").json(json!({ "refresh_token": second })))
        .await
        .expect(401, Some("invalid_token"));
    s.call(Req::post("/api/token/refresh").json(json!({ "refresh_token": "garbage" })))
        .await
        .expect(401, Some("invalid_token"));
    s.call(Req::post("/api/token/refresh").json(json!({})))
        .await
        .expect(400, Some("invalid_input"));
    s.stop().await;
}

async fn logout_ends_the_session(db: Db) {
    let s = TestServer::on(&db, "logout").await;
    let id = unique("dave");
    s.signup(&id, PASSWORD).await.expect(201, None);
    let token = s.login(&id, PASSWORD, &[]).await.str("access_token");
    s.call(Req::post("/api/logout").bearer(&token))
        .await
        .expect(204, None);
    s.call(Req::get("/api/user/profile").bearer(&token))
        .await
        .expect(401, Some("invalid_token"));
    s.call(Req::post("/api/logout").bearer(&token))
        .await
        .expect(401, Some("invalid_token"));
    s.call(Req::post("/api/logout"))
        .await
        .expect(401, Some("invalid_token"));
    s.stop().await;
}

async fn sessions_are_listed_and_revoked(db: Db) {
    let s = TestServer::on(&db, "sessions").await;
    let id = unique("erin");
    s.signup(&id, PASSWORD).await.expect(201, None);
    let a = s.login(&id, PASSWORD, &[]).await;
    let b = s.login(&id, PASSWORD, &[]).await;
    let token_a = a.str("access_token");
    let list = s.call(Req::get("/api/sessions").bearer(&token_a)).await;
    list.expect(200, None);
    let sessions = list.json["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let current: Vec<_> = sessions.iter().filter(|x| x["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], a.json["session_id"]);
    let path = format!("/api/sessions/{}", b.str("session_id"));
    s.call(Req::delete(&path).bearer(&token_a))
        .await
        .expect(204, None);
    s.call(Req::get("/api/user/profile").bearer(&b.str("access_token")))
        .await
        .expect(401, Some("invalid_token"));
    let missing = format!("/api/sessions/{}", uuid::Uuid::new_v4());
    s.call(Req::delete(&missing).bearer(&token_a))
        .await
        .expect(404, Some("not_found"));
    s.call(Req::delete("/api/sessions/12").bearer(&token_a))
        .await
        .expect(400, Some("invalid_input"));
    let list = s.call(Req::get("/api/sessions").bearer(&token_a)).await;
    assert_eq!(list.json["sessions"].as_array().unwrap().len(), 1);
    s.stop().await;
}

async fn audit_lists_own_events_in_pages(db: Db) {
    let s = TestServer::on(&db, "audit").await;
    let id = unique("frank");
    let user_id = s.signup(&id, PASSWORD).await.str("user_id");
    s.login(&id, "wrong password!", &[]).await.expect(401, None);
    let token = s.login(&id, PASSWORD, &[]).await.str("access_token");
    let first = s.call(Req::get("/api/audit?limit=2").bearer(&token)).await;
    first.expect(200, None);
    let items = first.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let cursor = first.str("next_cursor");
    let path = format!("/api/audit?limit=50&cursor={}", urlencode(&cursor));
    let rest = s.call(Req::get(&path).bearer(&token)).await;
    rest.expect(200, None);
    let more = rest.json["items"].as_array().unwrap();
    assert!(!more.is_empty());
    let all: Vec<_> = items.iter().chain(more).collect();
    assert!(all.iter().all(|e| e["user_id"] == user_id.as_str()));
    let kinds: Vec<&str> = all.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(kinds.contains(&"user_created") && kinds.contains(&"password_login"));
    assert!(items[0]["id"] != more[0]["id"]);
    for bad in [
        "/api/audit?limit=0",
        "/api/audit?limit=abc",
        "/api/audit?cursor=nonsense",
    ] {
        s.call(Req::get(bad).bearer(&token))
            .await
            .expect(400, Some("invalid_input"));
    }
    s.call(Req::get("/api/audit"))
        .await
        .expect(401, Some("invalid_token"));
    s.stop().await;
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

async fn device_register_records_and_describes_the_calling_device(db: Db) {
    let s = TestServer::on(&db, "device").await;
    let id = unique("gina");
    s.signup(&id, PASSWORD).await.expect(201, None);
    let token = s.login(&id, PASSWORD, &[]).await.str("access_token");
    s.call(Req::post("/api/device/register").bearer(&token))
        .await
        .expect(400, Some("invalid_input"));
    let created = s
        .call(
            Req::post("/api/device/register")
                .bearer(&token)
                .header("x-device-fingerprint", "fp-gina")
                .json(json!({ "name": "Gina's laptop", "os": "Linux", "kind": "desktop" })),
        )
        .await;
    created.expect(201, None);
    assert_eq!(created.json["created"], true);
    assert_eq!(created.json["device"]["info"]["name"], "Gina's laptop");
    assert_eq!(created.json["device"]["trusted"], false);
    let again = s
        .call(
            Req::post("/api/device/register")
                .bearer(&token)
                .header("x-device-fingerprint", "fp-gina"),
        )
        .await;
    again.expect(200, None);
    assert_eq!(again.json["created"], false);
    assert_eq!(again.json["device"]["id"], created.json["device"]["id"]);
    assert_eq!(again.json["device"]["info"]["name"], "Gina's laptop");
    s.call(
        Req::post("/api/device/register")
            .bearer(&token)
            .header("x-device-fingerprint", "fp-gina")
            .json(json!({ "colour": "red" })),
    )
    .await
    .expect(400, Some("invalid_input"));
    // A device that says nothing of itself is described by its user agent
    // (the service builds the engine with feature `user-agent`).
    let phone = s
        .call(
            Req::post("/api/device/register")
                .bearer(&token)
                .header("x-device-fingerprint", "fp-gina-phone")
                .header(
                    "user-agent",
                    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 \
                     (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
                ),
        )
        .await;
    phone.expect(201, None);
    assert_eq!(phone.json["device"]["info"]["browser"], "Safari");
    assert_eq!(phone.json["device"]["info"]["os"], "iPhone");
    assert_eq!(phone.json["device"]["info"]["os_version"], "17.1");
    s.call(Req::post("/api/device/register").header("x-device-fingerprint", "fp"))
        .await
        .expect(401, Some("invalid_token"));
    let audit = s
        .call(Req::get("/api/audit?limit=100").bearer(&token))
        .await;
    assert!(
        audit.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "device_registered")
    );
    s.stop().await;
}

fn enforced(db: &Db, name: &str) -> Config {
    let dir = data_dir(name);
    let mut c = config(db, &dir);
    c.policy.enforcement = mfa_core::policy::Enforcement::All;
    c
}

async fn enrolment_during_sign_in_uses_the_totp_endpoints_with_the_ticket(db: Db) {
    let s = TestServer::start(enforced(&db, "enrol-ticket")).await;
    let id = unique("henry");
    s.signup(&id, PASSWORD).await.expect(201, None);
    let login = s.login(&id, PASSWORD, &[]).await;
    login.expect(200, None);
    assert_eq!(login.json["enrollment_required"], true);
    assert_eq!(login.json["mfa_required"], true);
    assert_eq!(login.json["can_skip"], true);
    let ticket = login.str("ticket");
    let path = format!("/api/mfa/challenge?ticket={ticket}");
    let kind = s.call(Req::get(&path)).await;
    kind.expect(200, None);
    assert_eq!(kind.json["ticket_kind"], "enrollment");
    // No bearer and no ticket: refused.
    s.call(Req::post("/api/mfa/totp/enroll").json(json!({})))
        .await
        .expect(401, Some("invalid_token"));
    let enrol = s
        .call(
            Req::post("/api/mfa/totp/enroll")
                .header("x-mfa-ticket", ticket.clone())
                .json(json!({})),
        )
        .await;
    enrol.expect(200, None);
    assert!(enrol.str("otpauth_uri").starts_with("otpauth://totp/"));
    assert!(enrol.str("qr_svg").contains("<svg"));
    let secret = enrol.str("secret");
    s.call(Req::post("/api/mfa/totp/confirm").json(json!({
        "ticket": ticket, "factor_id": enrol.str("factor_id"), "code": wrong_totp(&secret),
    })))
    .await
    .expect(401, Some("invalid_code"));
    s.call(Req::post("/api/mfa/totp/confirm").json(json!({
        "ticket": ticket, "factor_id": uuid::Uuid::new_v4().to_string(), "code": totp(&secret, 0),
    })))
    .await
    .expect(404, Some("not_found"));
    let done = s
        .call(Req::post("/api/mfa/totp/confirm").json(json!({
            "ticket": ticket, "factor_id": enrol.str("factor_id"), "code": totp(&secret, 0),
        })))
        .await;
    done.expect(200, None);
    assert!(
        done.json["access_token"].is_string(),
        "the sign-in completes: {}",
        done.text
    );
    assert_eq!(done.json["backup_codes"].as_array().unwrap().len(), 10);
    let next = s.login(&id, PASSWORD, &[]).await;
    assert_eq!(next.json["mfa_required"], true);
    assert_eq!(next.json["enrollment_required"], false);
    s.stop().await;
}

async fn enrolment_can_be_skipped_during_the_grace_period(db: Db) {
    let s = TestServer::start(enforced(&db, "enrol-skip")).await;
    let id = unique("iris");
    s.signup(&id, PASSWORD).await.expect(201, None);
    let ticket = s.login(&id, PASSWORD, &[]).await.str("ticket");
    let skipped = s
        .call(Req::post("/api/login/skip-mfa").json(json!({ "ticket": ticket })))
        .await;
    skipped.expect(200, None);
    assert_eq!(skipped.json["aal"], "aal1");
    s.call(Req::post("/api/login/skip-mfa").json(json!({ "ticket": ticket })))
        .await
        .expect(401, Some("invalid_ticket"));
    s.call(Req::post("/api/login/skip-mfa").json(json!({})))
        .await
        .expect(401, Some("invalid_ticket"));
    s.stop().await;
}

async fn email_codes_are_sent_resend_limited_and_verified(db: Db) {
    let s = TestServer::on(&db, "email").await;
    let id = unique("jane");
    s.signup(&id, PASSWORD).await.expect(201, None);
    let token = s.login(&id, PASSWORD, &[]).await.str("access_token");
    let address = unique("inbox");
    s.call(
        Req::post("/api/mfa/email/enroll")
            .bearer(&token)
            .json(json!({ "email": "not an address" })),
    )
    .await
    .expect(400, Some("invalid_input"));
    let pending = s
        .call(
            Req::post("/api/mfa/email/enroll")
                .bearer(&token)
                .json(json!({ "email": address })),
        )
        .await;
    pending.expect(200, None);
    let code = s
        .last_code_to(&address)
        .expect("enrolment code in the outbox");
    let confirmed = s
        .call(
            Req::post("/api/mfa/email/confirm")
                .bearer(&token)
                .json(json!({
                    "factor_id": pending.str("factor_id"), "code": code,
                })),
        )
        .await;
    confirmed.expect(200, None);

    let login = s.login(&id, PASSWORD, &[]).await;
    assert!(
        login.json["methods"]
            .as_array()
            .unwrap()
            .contains(&json!("email"))
    );
    let ticket = login.str("ticket");
    let sent = s
        .call(Req::post("/api/mfa/challenge").json(json!({ "ticket": ticket, "method": "email" })))
        .await;
    sent.expect(200, None);
    assert!(sent.str("masked_destination").contains("***@"));
    let resend = s
        .call(Req::post("/api/mfa/challenge").json(json!({ "ticket": ticket, "method": "email" })))
        .await;
    resend.expect(429, Some("rate_limited"));
    assert!(resend.headers.contains_key("retry-after"));
    let code = s
        .last_code_to(&address)
        .expect("sign-in code in the outbox");
    let ok = s
        .call(
            Req::post("/api/mfa/verify")
                .header("x-mfa-ticket", ticket)
                .json(json!({
                    "method": "email", "code": code,
                })),
        )
        .await;
    ok.expect(200, None);
    assert_eq!(ok.json["amr"], json!(["pwd", "email"]));
    // The log never carried the code: the outbox did.
    s.stop().await;
}

async fn sms_factors_enrol_and_any_factor_is_renamed_and_removed(db: Db) {
    let s = TestServer::on(&db, "sms").await;
    let id = unique("kofi");
    s.signup(&id, PASSWORD).await.expect(201, None);
    let token = s.login(&id, PASSWORD, &[]).await.str("access_token");
    s.call(
        Req::post("/api/mfa/sms/enroll")
            .bearer(&token)
            .json(json!({ "phone": "0791234567" })),
    )
    .await
    .expect(400, Some("invalid_input"));
    // A unique E.164 number per run: the outbox is keyed by destination.
    let digits: String = uuid::Uuid::new_v4()
        .as_u128()
        .to_string()
        .chars()
        .take(9)
        .collect();
    let phone = format!("+4179{digits}");
    let pending = s
        .call(
            Req::post("/api/mfa/sms/enroll")
                .bearer(&token)
                .json(json!({ "phone": phone })),
        )
        .await;
    pending.expect(200, None);
    let factor = pending.str("factor_id");
    let code = s
        .last_code_to(&phone)
        .expect("enrolment code in the outbox");
    let confirmed = s
        .call(
            Req::post("/api/mfa/sms/confirm")
                .bearer(&token)
                .json(json!({ "factor_id": factor, "code": code })),
        )
        .await;
    confirmed.expect(200, None);
    assert_eq!(confirmed.json["backup_codes"].as_array().unwrap().len(), 10);

    // Changing a factor needs a second factor verified recently.
    let path = format!("/api/mfa/factors/{factor}");
    s.call(Req::delete(&path).bearer(&token))
        .await
        .expect(403, Some("step_up_required"));
    let ticket = s.login(&id, PASSWORD, &[]).await.str("ticket");
    s.call(Req::post("/api/mfa/challenge").json(json!({ "ticket": ticket, "method": "sms" })))
        .await
        .expect(200, None);
    let code = s.last_code_to(&phone).expect("sign-in code in the outbox");
    let verified = s
        .call(
            Req::post("/api/mfa/verify")
                .json(json!({ "ticket": ticket, "method": "sms", "code": code })),
        )
        .await;
    verified.expect(200, None);
    assert_eq!(verified.json["amr"], json!(["pwd", "sms"]));
    let strong = verified.str("access_token");

    s.call(
        Req::new(reqwest::Method::PATCH, &path)
            .bearer(&strong)
            .json(json!({ "label": "work phone" })),
    )
    .await
    .expect(204, None);
    let settings = s.call(Req::get("/api/mfa/settings").bearer(&strong)).await;
    settings.expect(200, None);
    assert_eq!(settings.json["factors"][0]["label"], "work phone");
    assert_eq!(settings.json["factors"][0]["kind"], "sms");
    let missing = format!("/api/mfa/factors/{}", uuid::Uuid::new_v4());
    s.call(Req::delete(&missing).bearer(&strong))
        .await
        .expect(404, Some("not_found"));
    s.call(Req::delete("/api/mfa/factors/12").bearer(&strong))
        .await
        .expect(400, Some("invalid_input"));
    s.call(Req::delete(&path).bearer(&strong))
        .await
        .expect(204, None);
    let settings = s.call(Req::get("/api/mfa/settings").bearer(&strong)).await;
    assert_eq!(settings.json["factors"], json!([]));
    s.stop().await;
}

#[tokio::test]
async fn the_per_ip_cap_answers_429_with_retry_after() {
    let dir = data_dir("ipcap");
    let mut c = config(&Db::Sqlite, &dir);
    c.rate_limit_per_minute = 5;
    let s = TestServer::start(c).await;
    for _ in 0..5 {
        s.call(Req::get("/api/user/profile"))
            .await
            .expect(401, None);
    }
    let r = s.call(Req::get("/api/user/profile")).await;
    r.expect(429, Some("rate_limited"));
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    // Probes are exempt.
    s.call(Req::get("/healthz")).await.expect(200, None);
    s.stop().await;
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let dir = data_dir("cors");
    let mut c = config(&Db::Sqlite, &dir);
    c.cors_origins = vec!["https://app.example".into()];
    let s = TestServer::start(c).await;
    let allowed = s
        .http
        .request(reqwest::Method::OPTIONS, s.url("/api/login"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let other = s
        .http
        .get(s.url("/healthz"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    s.stop().await;
}

#[tokio::test]
async fn production_mode_refuses_to_start_without_keys() {
    let dir = data_dir("prod-keys");
    let mut c = config(&Db::Sqlite, &dir);
    c.mode = Mode::Production;
    c.dev_delivery = mfa_server::config::DevDelivery::None;
    let err = match mfa_server::start(c).await {
        Ok(_) => panic!("started without keys"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("MFA_AEAD_KEYS"), "{err}");
    assert!(
        !dir.join("keys.env").exists(),
        "production never generates keys"
    );
}

#[tokio::test]
async fn production_mode_refuses_development_delivery() {
    for dev in [
        mfa_server::config::DevDelivery::Log,
        mfa_server::config::DevDelivery::Outbox,
    ] {
        let dir = data_dir("prod-log");
        let mut c = config(&Db::Sqlite, &dir);
        c.mode = Mode::Production;
        c.dev_delivery = dev;
        let err = match mfa_server::start(c).await {
            Ok(_) => panic!("started with a development channel in production"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("MFA_DELIVERY"), "{err}");
    }
}

/// The passkey endpoints end to end, with a software authenticator as the
/// browser (the development relying party: `localhost`, origin
/// `http://localhost:<port>`): register from a fresh session, answer a
/// sign-in ticket, sign in without a password, list and remove; and the
/// typed refusals (a replayed answer, a wrong origin, a malformed body).
async fn passkeys_register_answer_a_ticket_and_sign_in_alone(db: Db) {
    use mfa_core::testing::authenticator::SoftAuthenticator;
    let s = TestServer::on(&db, "passkeys").await;
    let origin = s.base.replace("127.0.0.1", "localhost");
    let mut authenticator = SoftAuthenticator::new(&origin);
    let (id, secret, _) = user_with_totp(&s).await;
    let session = login_with_totp(&s, &id, &secret, false, &[]).await;
    session.expect(200, None);
    let token = session.str("access_token");

    // A bare POST (no body at all) where every field is optional.
    let bare = s
        .http
        .post(s.url("/api/mfa/passkey/register/start"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 200, "an empty body reads as {{}}");
    let start = s
        .call(
            Req::post("/api/mfa/passkey/register/start")
                .bearer(&token)
                .json(json!({ "label": "laptop" })),
        )
        .await;
    start.expect(200, None);
    let created = authenticator
        .register(&start.json["options"])
        .await
        .expect("the authenticator creates a credential");
    let finish = s
        .call(
            Req::post("/api/mfa/passkey/register/finish")
                .bearer(&token)
                .json(json!({ "ceremony": start.json["ceremony"], "credential": created })),
        )
        .await;
    finish.expect(200, None);
    // The same answer again: the ceremony is spent.
    s.call(
        Req::post("/api/mfa/passkey/register/finish")
            .bearer(&token)
            .json(json!({ "ceremony": start.json["ceremony"], "credential": created })),
    )
    .await
    .expect(401, Some("passkey_ceremony_closed"));
    let list = s.call(Req::get("/api/mfa/passkeys").bearer(&token)).await;
    list.expect(200, None);
    assert_eq!(list.json["passkeys"].as_array().map(Vec::len), Some(1));
    assert_eq!(list.json["passkeys"][0]["label"], "laptop");

    // The passkey answers the next sign-in's ticket.
    let login = s.login(&id, PASSWORD, &[]).await;
    let ticket = login.str("ticket");
    assert!(
        login.json["methods"]
            .as_array()
            .unwrap()
            .contains(&json!("webauthn"))
    );
    let options = s
        .call(Req::post("/api/mfa/passkey/options").json(json!({ "ticket": ticket })))
        .await;
    options.expect(200, None);
    s.call(Req::post("/api/mfa/passkey/verify").json(json!({
        "ticket": ticket, "ceremony": options.json["ceremony"], "credential": { "id": 1 },
    })))
    .await
    .expect(400, Some("passkey_malformed"));
    let mut phished = authenticator.clone();
    phished.set_origin("http://localhost:1");
    let wrong = phished
        .authenticate(&options.json["options"])
        .await
        .expect("get");
    s.call(Req::post("/api/mfa/passkey/verify").json(json!({
        "ticket": ticket, "ceremony": options.json["ceremony"], "credential": wrong,
    })))
    .await
    .expect(401, Some("passkey_wrong_origin"));
    let options = s
        .call(Req::post("/api/mfa/passkey/options").json(json!({ "ticket": ticket })))
        .await;
    let assertion = authenticator
        .authenticate(&options.json["options"])
        .await
        .expect("get");
    let verified = s
        .call(Req::post("/api/mfa/passkey/verify").json(json!({
            "ticket": ticket, "ceremony": options.json["ceremony"], "credential": assertion,
        })))
        .await;
    verified.expect(200, None);
    assert_eq!(verified.json["aal"], "aal2");
    assert!(
        verified.json["amr"]
            .as_array()
            .unwrap()
            .contains(&json!("user"))
    );

    // Passwordless: the options name nobody; the passkey names the account.
    let options = s.call(Req::post("/api/passkey/login/options")).await;
    options.expect(200, None);
    assert_eq!(options.json["options"]["mediation"], "conditional");
    let assertion = authenticator
        .authenticate(&options.json["options"])
        .await
        .expect("get");
    let signed_in = s
        .call(Req::post("/api/passkey/login").json(json!({
            "ceremony": options.json["ceremony"], "credential": assertion,
        })))
        .await;
    signed_in.expect(200, None);
    assert_eq!(signed_in.json["aal"], "aal2");
    assert_eq!(signed_in.json["mfa_required"], false);

    // Rename and removal need a recent second factor; this session has one.
    let passwordless = signed_in.str("access_token");
    let factor = list.json["passkeys"][0]["factor_id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.call(
        Req::new(
            reqwest::Method::PATCH,
            &format!("/api/mfa/passkeys/{factor}"),
        )
        .bearer(&passwordless)
        .json(json!({ "label": "work laptop" })),
    )
    .await
    .expect(204, None);
    let renamed = s
        .call(Req::get("/api/mfa/passkeys").bearer(&passwordless))
        .await;
    assert_eq!(renamed.json["passkeys"][0]["label"], "work laptop");
    s.call(Req::delete(&format!("/api/mfa/passkeys/{factor}")).bearer(&passwordless))
        .await
        .expect(204, None);
    let list = s
        .call(Req::get("/api/mfa/passkeys").bearer(&passwordless))
        .await;
    assert_eq!(list.json["passkeys"].as_array().map(Vec::len), Some(0));
    s.stop().await;
}

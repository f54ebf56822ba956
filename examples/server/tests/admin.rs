//! The admin API and the gateway sign-in over real HTTP, on every backend:
//! service keys with their scopes, each admin operation with its audit
//! event naming the key, bad input refused with nothing changed, and the
//! gateway's vouched sign-in running the usual ticket flow.

#[macro_use]
mod common;

use common::{
    Db, PASSWORD, Req, TestServer, config, data_dir, login_with_totp, totp, unique,
    user_with_totp_and_id, wrong_totp,
};
use mfa_axum::{Scope, ServiceKey, ServiceKeys};
use serde_json::json;

on_every_backend!(
    "admin";
    admin_routes_refuse_without_a_service_key_or_its_scope,
    admin_api_unlocks_enforces_revokes_resets_disables_and_deletes,
    admin_audit_filters_every_users_events,
    admin_erases_a_deleted_accounts_audit_data,
    gateway_sign_in_runs_the_ticket_flow_for_a_vouched_user,
);

/// Keys of a test server: one per scope.
struct Keys {
    admin: String,
    gateway: String,
}

async fn server(db: &Db, name: &str) -> (TestServer, Keys) {
    let dir = data_dir(name);
    let mut c = config(db, &dir);
    let (admin, admin_key) = ServiceKey::generate("ops", &[Scope::Admin]).expect("key");
    let (gateway, gateway_key) = ServiceKey::generate("edge-gw", &[Scope::Gateway]).expect("key");
    // Configured as an operator would: the printed entries, never the keys.
    c.service_keys =
        ServiceKeys::parse(&format!("{admin_key}, {gateway_key}")).expect("entries parse");
    (TestServer::start(c).await, Keys { admin, gateway })
}

/// `req` with the admin key.
fn admin<'a>(req: Req<'a>, key: &'a str) -> Req<'a> {
    req.bearer(key)
}

/// Signs up a user (password only) and returns its identifier and id.
async fn plain_user(s: &TestServer) -> (String, String) {
    let id = unique("plain");
    let r = s.signup(&id, PASSWORD).await;
    r.expect(201, None);
    (id, r.str("user_id"))
}

/// The entry of `user` in `GET /admin/locked`, read page by page (a
/// shared database holds other runs' locked accounts too).
async fn locked_entry(s: &TestServer, key: &str, user: &str) -> Option<serde_json::Value> {
    let mut after = String::new();
    loop {
        let page = s
            .call(admin(
                Req::get(&format!("/admin/locked?limit=500&after={after}")),
                key,
            ))
            .await;
        page.expect(200, None);
        let items = page.json["items"].as_array().expect("items").clone();
        if let Some(found) = items.into_iter().find(|i| i["id"] == user) {
            return Some(found);
        }
        match page.json["next_after"].as_str() {
            Some(next) => after = next.to_owned(),
            None => return None,
        }
    }
}

async fn admin_routes_refuse_without_a_service_key_or_its_scope(db: Db) {
    let (s, keys) = server(&db, "admin-refuse").await;
    let (identifier, secret, _, user) = user_with_totp_and_id(&s).await;
    let reset = format!("/admin/users/{user}/reset-mfa");
    let (unknown, _) = ServiceKey::generate("ops", &[Scope::Admin]).expect("key");
    let access = login_with_totp(&s, &identifier, &secret, false, &[])
        .await
        .str("access_token");
    for bearer in [
        None,
        Some(unknown.as_str()),
        Some(access.as_str()),
        Some("mfa_sk_"),
    ] {
        let mut req = Req::post(&reset);
        if let Some(b) = bearer {
            req = req.bearer(b);
        }
        let r = s.call(req).await;
        r.expect(401, Some("invalid_token"));
        assert!(r.headers.contains_key("www-authenticate"));
    }
    // A key of the other scope is known but not allowed.
    s.call(Req::post(&reset).bearer(&keys.gateway))
        .await
        .expect(403, Some("forbidden"));
    s.call(Req::get("/admin/audit").bearer(&keys.gateway))
        .await
        .expect(403, Some("forbidden"));
    s.call(Req::get("/admin/locked").bearer(&keys.gateway))
        .await
        .expect(403, Some("forbidden"));
    s.call(Req::get("/admin/locked"))
        .await
        .expect(401, Some("invalid_token"));
    s.call(
        Req::post("/admin/gateway/sign-in")
            .bearer(&keys.admin)
            .json(json!({ "user_id": user })),
    )
    .await
    .expect(403, Some("forbidden"));
    // Nothing was reset: the user still needs the second factor.
    let login = s.login(&identifier, PASSWORD, &[]).await;
    assert_eq!(login.json["mfa_required"], true, "{}", login.text);
    s.stop().await;

    // A server without service keys refuses every admin call.
    let dir = data_dir("admin-none");
    let s = TestServer::start(config(&db, &dir)).await;
    s.call(Req::get("/admin/audit").bearer(&keys.admin))
        .await
        .expect(401, Some("invalid_token"));
    s.stop().await;
}

async fn admin_api_unlocks_enforces_revokes_resets_disables_and_deletes(db: Db) {
    let (s, keys) = server(&db, "admin-ops").await;
    let (identifier, secret, _, user) = user_with_totp_and_id(&s).await;
    let path = |tail: &str| format!("/admin/users/{user}{tail}");

    // Bad ids: typed errors.
    s.call(admin(Req::get("/admin/users/not-a-uuid"), &keys.admin))
        .await
        .expect(400, Some("invalid_input"));
    let ghost = "00000000-0000-4000-8000-000000000000";
    s.call(admin(
        Req::get(&format!("/admin/users/{ghost}")),
        &keys.admin,
    ))
    .await
    .expect(404, Some("not_found"));
    s.call(admin(
        Req::post(&format!("/admin/users/{ghost}/unlock")),
        &keys.admin,
    ))
    .await
    .expect(404, Some("not_found"));

    // Lock the second factor, see it, lift it.
    let ticket = s.login(&identifier, PASSWORD, &[]).await.str("ticket");
    let wrong = wrong_totp(&secret);
    for _ in 0..8 {
        let r = s
            .call(Req::post("/api/mfa/verify").json(json!({
                "ticket": ticket, "method": "totp", "code": wrong,
            })))
            .await;
        if r.status.as_u16() == 423 {
            break;
        }
    }
    let seen = s.call(admin(Req::get(&path("")), &keys.admin)).await;
    seen.expect(200, None);
    assert_eq!(seen.json["identifier"], identifier.as_str());
    assert!(!seen.json["mfa_lock"]["locked"].is_null(), "{}", seen.text);
    let listed = locked_entry(&s, &keys.admin, &user)
        .await
        .expect("the locked account is listed");
    assert_eq!(listed["identifier"], identifier.as_str());
    assert!(!listed["mfa_lock"]["locked"].is_null(), "{listed}");
    assert!(listed["password_lock"]["locked"].is_null(), "{listed}");
    for bad in ["?limit=0", "?limit=501", "?limit=x", "?after=not-a-uuid"] {
        s.call(admin(Req::get(&format!("/admin/locked{bad}")), &keys.admin))
            .await
            .expect(400, Some("invalid_input"));
    }
    assert_eq!(seen.json["factors"][0]["kind"], "totp");
    assert!(!seen.text.contains("password_hash") && !seen.text.contains("secret"));
    s.call(admin(Req::post(&path("/unlock")), &keys.admin))
        .await
        .expect(204, None);
    let seen = s.call(admin(Req::get(&path("")), &keys.admin)).await;
    assert!(seen.json["mfa_lock"]["locked"].is_null(), "{}", seen.text);
    assert!(
        locked_entry(&s, &keys.admin, &user).await.is_none(),
        "an unlocked account is not listed"
    );
    let tokens = login_with_totp(&s, &identifier, &secret, false, &[]).await;
    tokens.expect(200, None);

    // Enforcement: bad input stores nothing.
    for body in [
        json!({ "required": true, "grace_seconds": -1 }),
        json!({ "required": true, "grace_seconds": 40_000_000 }),
        json!({ "required": "yes" }),
        json!({ "required": true, "extra": 1 }),
    ] {
        s.call(admin(
            Req::put(&path("/enforcement")).json(body),
            &keys.admin,
        ))
        .await
        .expect(400, Some("invalid_input"));
    }
    assert_eq!(
        s.call(admin(Req::get(&path("")), &keys.admin)).await.json["enforced"],
        false
    );
    let r = s
        .call(admin(
            Req::put(&path("/enforcement"))
                .json(json!({ "required": true, "grace_seconds": 3600 })),
            &keys.admin,
        ))
        .await;
    r.expect(200, None);
    assert_eq!(r.json["enforced"], true);
    assert!(r.json["grace_deadline"].is_string());

    // Revoke every session and device trust.
    let r = s
        .call(admin(Req::post(&path("/sessions/revoke")), &keys.admin))
        .await;
    r.expect(200, None);
    assert!(r.json["revoked"].as_u64().unwrap() >= 1, "{}", r.text);
    s.call(Req::get("/api/user/profile").bearer(&tokens.str("access_token")))
        .await
        .expect(401, Some("invalid_token"));
    let r = s
        .call(admin(Req::post(&path("/devices/revoke")), &keys.admin))
        .await;
    r.expect(200, None);
    assert!(r.json["revoked"].is_u64());

    // Reset: no factor is left, so the enforced user is asked to enrol.
    s.call(admin(Req::post(&path("/reset-mfa")), &keys.admin))
        .await
        .expect(204, None);
    let login = s.login(&identifier, PASSWORD, &[]).await;
    login.expect(200, None);
    assert_eq!(login.json["enrollment_required"], true, "{}", login.text);
    assert_eq!(login.json["methods"], json!([]), "{}", login.text);

    // Disable, enable.
    s.call(admin(Req::post(&path("/disable")), &keys.admin))
        .await
        .expect(204, None);
    s.login(&identifier, PASSWORD, &[])
        .await
        .expect(401, Some("invalid_credentials"));
    s.call(admin(Req::post(&path("/enable")), &keys.admin))
        .await
        .expect(204, None);
    s.login(&identifier, PASSWORD, &[]).await.expect(200, None);

    // Every change names the key that made it.
    let r = s
        .call(admin(Req::get(&format!(
            "/admin/audit?user={user}&kind=account_unlocked,enforcement_changed,all_sessions_revoked,mfa_reset,user_status_changed"
        )), &keys.admin))
        .await;
    r.expect(200, None);
    let items = r.json["items"].as_array().expect("items");
    assert_eq!(items.len(), 6, "{}", r.text);
    assert!(
        items.iter().all(|e| e["metadata"]["operator"] == "ops"),
        "{}",
        r.text
    );

    // Export, audited with the key's name.
    s.call(Req::get(&path("/export")).bearer(&keys.gateway))
        .await
        .expect(403, Some("forbidden"));
    let r = s.call(admin(Req::get(&path("/export")), &keys.admin)).await;
    r.expect(200, None);
    assert_eq!(r.json["account"]["id"], user.as_str());
    assert_eq!(r.json["audit_events"][0]["kind"], "data_exported");
    assert_eq!(r.json["audit_events"][0]["metadata"]["operator"], "ops");

    // Delete.
    s.call(admin(Req::delete(&path("")), &keys.admin))
        .await
        .expect(204, None);
    s.call(admin(Req::get(&path("")), &keys.admin))
        .await
        .expect(404, Some("not_found"));
    s.login(&identifier, PASSWORD, &[])
        .await
        .expect(401, Some("invalid_credentials"));
    s.stop().await;
}

async fn admin_audit_filters_every_users_events(db: Db) {
    let (s, keys) = server(&db, "admin-audit").await;
    let (first, first_id) = plain_user(&s).await;
    let (_, second_id) = plain_user(&s).await;
    s.login(&first, PASSWORD, &[]).await.expect(200, None);
    s.login(&first, "wrong password 1", &[])
        .await
        .expect(401, Some("invalid_credentials"));
    let get = |q: &str| format!("/admin/audit{q}");
    let r = s
        .call(Req::get(&get(&format!("?user={first_id}&outcome=failure"))).bearer(&keys.admin))
        .await;
    r.expect(200, None);
    let items = r.json["items"].as_array().expect("items");
    assert!(!items.is_empty());
    assert!(
        items
            .iter()
            .all(|e| e["user_id"] == first_id.as_str() && e["outcome"] == "failure")
    );
    let r = s
        .call(Req::get(&get(&format!("?user={second_id}"))).bearer(&keys.admin))
        .await;
    r.expect(200, None);
    assert!(
        r.json["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|e| e["user_id"] == second_id.as_str())
    );
    // Paging: one event per page, the cursor continues without repeats.
    let first_page = s
        .call(Req::get(&get(&format!("?user={first_id}&limit=1"))).bearer(&keys.admin))
        .await;
    first_page.expect(200, None);
    let cursor = first_page.str("next_cursor");
    let next = s
        .call(
            Req::get(&get(&format!("?user={first_id}&limit=1&cursor={cursor}")))
                .bearer(&keys.admin),
        )
        .await;
    next.expect(200, None);
    assert_ne!(
        next.json["items"][0]["id"],
        first_page.json["items"][0]["id"]
    );
    // A window in the future is empty; bad filters are typed errors.
    let r = s
        .call(Req::get(&get("?from=2999-01-01T00:00:00Z")).bearer(&keys.admin))
        .await;
    r.expect(200, None);
    assert_eq!(r.json["items"], json!([]));
    for bad in [
        "?user=nope",
        "?kind=no_such_kind",
        "?outcome=maybe",
        "?from=yesterday",
        "?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
        "?limit=0",
        "?limit=501",
        "?cursor=garbage",
    ] {
        s.call(Req::get(&get(bad)).bearer(&keys.admin))
            .await
            .expect(400, Some("invalid_input"));
    }
    s.stop().await;
}

/// GDPR erasure: only for a deleted account, only with the admin key; the
/// account's events lose their personal fields, the erasure is audited
/// without naming the account.
async fn admin_erases_a_deleted_accounts_audit_data(db: Db) {
    let (s, keys) = server(&db, "admin-erase").await;
    let (identifier, user) = plain_user(&s).await;
    s.login(&identifier, PASSWORD, &[]).await.expect(200, None);
    let erase = format!("/admin/users/{user}/erase");
    let of_user = format!("/admin/audit?user={user}&limit=500");
    let events = |r: &common::Resp| r.json["items"].as_array().expect("items").clone();
    s.call(Req::post(&erase))
        .await
        .expect(401, Some("invalid_token"));
    s.call(Req::post(&erase).bearer(&keys.gateway))
        .await
        .expect(403, Some("forbidden"));
    s.call(admin(Req::post("/admin/users/nope/erase"), &keys.admin))
        .await
        .expect(400, Some("invalid_input"));
    s.call(admin(Req::post(&erase), &keys.admin))
        .await
        .expect(409, Some("conflict"));
    let before = s.call(admin(Req::get(&of_user), &keys.admin)).await;
    before.expect(200, None);
    assert!(
        events(&before).iter().any(|e| e["ip"].is_string()),
        "a live account keeps its events: {}",
        before.text
    );

    s.call(admin(
        Req::delete(&format!("/admin/users/{user}")),
        &keys.admin,
    ))
    .await
    .expect(204, None);
    let held = events(&s.call(admin(Req::get(&of_user), &keys.admin)).await).len();
    let r = s.call(admin(Req::post(&erase), &keys.admin)).await;
    r.expect(200, None);
    assert_eq!(r.json, json!({ "erased": held, "kept": 0 }), "{}", r.text);
    let after = s.call(admin(Req::get(&of_user), &keys.admin)).await;
    after.expect(200, None);
    assert_eq!(events(&after), Vec::<serde_json::Value>::new());
    let record = s
        .call(admin(
            Req::get("/admin/audit?kind=user_data_erased&limit=500"),
            &keys.admin,
        ))
        .await;
    record.expect(200, None);
    assert!(
        events(&record)
            .iter()
            .any(|e| e["metadata"]["events"] == held
                && e["metadata"]["operator"] == "ops"
                && e["user_id"].is_null()),
        "{}",
        record.text
    );
    s.stop().await;
}

async fn gateway_sign_in_runs_the_ticket_flow_for_a_vouched_user(db: Db) {
    let (s, keys) = server(&db, "gateway").await;
    let (_, secret, _, user) = user_with_totp_and_id(&s).await;
    let gateway = |body| {
        Req::post("/admin/gateway/sign-in")
            .bearer(&keys.gateway)
            .json(body)
    };
    let r = s
        .call(gateway(json!({
            "user_id": user,
            "client": { "ip": "203.0.113.9", "user_agent": "Gateway-Test/1" },
        })))
        .await;
    r.expect(200, None);
    assert_eq!(r.json["mfa_required"], true, "{}", r.text);
    // The next step: the current one confirmed the factor.
    let verified = s
        .call(Req::post("/api/mfa/verify").json(json!({
            "ticket": r.str("ticket"), "method": "totp", "code": totp(&secret, 1),
        })))
        .await;
    verified.expect(200, None);
    assert_eq!(verified.json["aal"], "aal2");
    assert!(
        verified.json["amr"]
            .as_array()
            .expect("amr")
            .contains(&json!("ext")),
        "{}",
        verified.text
    );
    // The end user's address was recorded, not the gateway's.
    let events = s
        .call(
            Req::get(&format!(
                "/admin/audit?user={user}&kind=primary_auth_accepted"
            ))
            .bearer(&keys.admin),
        )
        .await;
    events.expect(200, None);
    assert_eq!(
        events.json["items"][0]["ip"], "203.0.113.9",
        "{}",
        events.text
    );

    // A user without a second factor gets tokens at once.
    let (_, plain) = plain_user(&s).await;
    let r = s.call(gateway(json!({ "user_id": plain }))).await;
    r.expect(200, None);
    assert_eq!(r.json["mfa_required"], false);
    assert_eq!(r.json["aal"], "aal1");

    // Unknown and malformed input.
    s.call(gateway(
        json!({ "user_id": "00000000-0000-4000-8000-000000000000" }),
    ))
    .await
    .expect(401, Some("invalid_credentials"));
    for body in [
        json!({ "user_id": "nope" }),
        json!({}),
        json!({ "user_id": user, "client": { "ip": "not-an-ip" } }),
        json!({ "user_id": user, "password": "x" }),
        json!({ "user_id": user, "client": { "user_agent": "x".repeat(5000) } }),
    ] {
        s.call(gateway(body))
            .await
            .expect(400, Some("invalid_input"));
    }
    s.stop().await;
}

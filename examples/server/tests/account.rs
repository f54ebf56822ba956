//! A signed-in user's own account over real HTTP, on every backend:
//! password change, every device, a device reported compromised, and
//! signing out every other session or all device trust at once.

#[macro_use]
mod common;

use common::{Db, PASSWORD, Req, TestServer, enrol_totp, totp, unique};
use serde_json::json;

on_every_backend!(
    "account";
    password_change_needs_the_current_password_and_keeps_only_this_session,
    devices_are_listed_reported_compromised_and_untrusted_at_once,
    other_sessions_end_and_this_one_stays,
    the_user_downloads_their_data_without_secrets,
    the_user_deletes_their_account_with_the_password,
    wrong_current_passwords_lock_the_account_like_sign_ins,
);

fn on(device: &str) -> [(&'static str, String); 1] {
    [("x-device-fingerprint", device.to_owned())]
}

async fn signed_in(s: &TestServer, id: &str, device: &str) -> String {
    let r = s.login(id, PASSWORD, &on(device)).await;
    r.expect(200, None);
    r.str("access_token")
}

async fn password_change_needs_the_current_password_and_keeps_only_this_session(db: Db) {
    let s = TestServer::on(&db, "password-change").await;
    let id = unique("pw");
    s.signup(&id, PASSWORD).await.expect(201, None);
    let here = signed_in(&s, &id, "laptop").await;
    let there = signed_in(&s, &id, "phone").await;
    let change = |body| Req::post("/api/user/password").bearer(&here).json(body);
    let new = "a new and long enough pass phrase";
    s.call(Req::post("/api/user/password").json(json!({
        "current_password": PASSWORD, "new_password": new,
    })))
    .await
    .expect(401, Some("invalid_token"));
    s.call(change(
        json!({ "current_password": "not it at all", "new_password": new }),
    ))
    .await
    .expect(401, Some("invalid_credentials"));
    for body in [
        json!({ "current_password": PASSWORD, "new_password": "short" }),
        json!({ "current_password": PASSWORD, "new_password": "password1234" }),
        json!({ "current_password": PASSWORD, "new_password": PASSWORD }),
        json!({ "current_password": PASSWORD }),
        json!({ "current_password": PASSWORD, "new_password": new, "extra": true }),
    ] {
        s.call(change(body))
            .await
            .expect(400, Some("invalid_input"));
    }
    // Nothing changed: the old password still signs in.
    signed_in(&s, &id, "laptop").await;
    s.call(change(
        json!({ "current_password": PASSWORD, "new_password": new }),
    ))
    .await
    .expect(204, None);
    s.login(&id, PASSWORD, &[])
        .await
        .expect(401, Some("invalid_credentials"));
    s.login(&id, new, &[]).await.expect(200, None);
    s.call(Req::get("/api/user/profile").bearer(&here))
        .await
        .expect(200, None);
    s.call(Req::get("/api/user/profile").bearer(&there))
        .await
        .expect(401, Some("invalid_token"));
    s.stop().await;
}

/// R56 over HTTP: wrong current passwords at a password change count
/// toward the password lock; at the threshold even the right one is
/// refused with 423 (and a sign-in with it too).
async fn wrong_current_passwords_lock_the_account_like_sign_ins(db: Db) {
    let s = TestServer::on(&db, "password-recheck").await;
    let id = unique("pwlock");
    s.signup(&id, PASSWORD).await.expect(201, None);
    let here = signed_in(&s, &id, "laptop").await;
    let change = |current: &str| {
        Req::post("/api/user/password").bearer(&here).json(json!({
            "current_password": current, "new_password": "a new and long enough pass phrase",
        }))
    };
    let mut refused = 0;
    loop {
        let r = s.call(change("not it at all")).await;
        if r.status.as_u16() == 423 {
            r.expect(423, Some("account_locked"));
            break;
        }
        r.expect(401, Some("invalid_credentials"));
        refused += 1;
        assert!(refused <= 10, "the lock starts at the threshold");
    }
    assert_eq!(
        refused, 10,
        "the default password threshold of wrong passwords, then the lock"
    );
    s.call(change(PASSWORD))
        .await
        .expect(423, Some("account_locked"));
    s.login(&id, PASSWORD, &[])
        .await
        .expect(401, Some("invalid_credentials"));
    s.call(Req::get("/api/user/profile").bearer(&here))
        .await
        .expect(200, None);
    s.stop().await;
}

async fn devices_are_listed_reported_compromised_and_untrusted_at_once(db: Db) {
    let s = TestServer::on(&db, "devices-all").await;
    let id = unique("dev");
    s.signup(&id, PASSWORD).await.expect(201, None);
    let laptop = signed_in(&s, &id, "laptop").await;
    let phone = signed_in(&s, &id, "phone").await;
    s.call(Req::get("/api/devices"))
        .await
        .expect(401, Some("invalid_token"));
    let r = s.call(Req::get("/api/devices").bearer(&laptop)).await;
    r.expect(200, None);
    let devices = r.json["devices"].as_array().expect("devices").clone();
    assert_eq!(devices.len(), 2, "{}", r.text);
    assert!(devices.iter().all(|d| d["compromised"] == false));
    assert!(!r.text.contains("hash"), "no digests: {}", r.text);
    let current: Vec<_> = devices.iter().filter(|d| d["current"] == true).collect();
    assert_eq!(current.len(), 1);
    let other = devices
        .iter()
        .find(|d| d["current"] == false)
        .expect("the phone")["id"]
        .as_str()
        .expect("id")
        .to_owned();

    s.call(Req::post("/api/device/nope/compromised").bearer(&laptop))
        .await
        .expect(400, Some("invalid_input"));
    s.call(
        Req::post("/api/device/00000000-0000-4000-8000-000000000000/compromised").bearer(&laptop),
    )
    .await
    .expect(404, Some("not_found"));
    // Another user cannot report this user's device.
    let stranger = unique("stranger");
    s.signup(&stranger, PASSWORD).await.expect(201, None);
    let stranger = signed_in(&s, &stranger, "elsewhere").await;
    let path = format!("/api/device/{other}/compromised");
    s.call(Req::post(&path).bearer(&stranger))
        .await
        .expect(404, Some("not_found"));
    s.call(Req::post(&path).bearer(&laptop))
        .await
        .expect(204, None);
    // The phone's session ended with it, and the list says so.
    s.call(Req::get("/api/user/profile").bearer(&phone))
        .await
        .expect(401, Some("invalid_token"));
    let r = s.call(Req::get("/api/devices").bearer(&laptop)).await;
    let phone_view = r.json["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .find(|d| d["id"] == other.as_str())
        .cloned()
        .expect("still listed");
    assert_eq!(phone_view["compromised"], true);

    let r = s
        .call(Req::post("/api/device/revoke-all").bearer(&laptop))
        .await;
    r.expect(200, None);
    assert!(r.json["revoked"].is_u64(), "{}", r.text);
    let r = s
        .call(Req::get("/api/device/trusted").bearer(&laptop))
        .await;
    assert_eq!(r.json["devices"], json!([]));
    s.stop().await;
}

async fn other_sessions_end_and_this_one_stays(db: Db) {
    let s = TestServer::on(&db, "revoke-others").await;
    let id = unique("sess");
    s.signup(&id, PASSWORD).await.expect(201, None);
    let here = signed_in(&s, &id, "laptop").await;
    let others = [
        signed_in(&s, &id, "phone").await,
        signed_in(&s, &id, "tablet").await,
    ];
    s.call(Req::post("/api/sessions/revoke-others"))
        .await
        .expect(401, Some("invalid_token"));
    let r = s
        .call(Req::post("/api/sessions/revoke-others").bearer(&here))
        .await;
    r.expect(200, None);
    assert_eq!(r.json["revoked"], 2, "{}", r.text);
    for token in &others {
        s.call(Req::get("/api/user/profile").bearer(token))
            .await
            .expect(401, Some("invalid_token"));
    }
    let r = s.call(Req::get("/api/sessions").bearer(&here)).await;
    r.expect(200, None);
    assert_eq!(r.json["sessions"].as_array().map(Vec::len), Some(1));
    let r = s
        .call(Req::post("/api/sessions/revoke-others").bearer(&here))
        .await;
    assert_eq!(r.json["revoked"], 0);
    s.stop().await;
}

async fn the_user_downloads_their_data_without_secrets(db: Db) {
    let s = TestServer::on(&db, "export").await;
    let id = unique("export");
    s.signup(&id, PASSWORD).await.expect(201, None);
    let token = signed_in(&s, &id, "laptop").await;
    s.call(Req::get("/api/user/export"))
        .await
        .expect(401, Some("invalid_token"));
    let r = s.call(Req::get("/api/user/export").bearer(&token)).await;
    r.expect(200, None);
    let disposition = r
        .headers
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert_eq!(r.json["account"]["identifier"], id.as_str());
    assert_eq!(r.json["account"]["has_password"], true);
    assert_eq!(r.json["devices"].as_array().map(Vec::len), Some(1));
    assert!(!r.json["sessions"].as_array().expect("sessions").is_empty());
    assert_eq!(r.json["audit_events"][0]["kind"], "data_exported");
    assert!(!r.text.contains(PASSWORD) && !r.text.contains(&token));
    assert!(!r.text.contains("password_hash") && !r.text.contains("\"secret\""));

    // Once a second factor is enrolled, a session that has not used it
    // cannot download the data.
    let (secret, _) = enrol_totp(&s, &token).await;
    s.call(Req::get("/api/user/export").bearer(&token))
        .await
        .expect(403, Some("mfa_required"));
    let ticket = s.login(&id, PASSWORD, &[]).await.str("ticket");
    let verified = s
        .call(Req::post("/api/mfa/verify").json(json!({
            "ticket": ticket, "method": "totp", "code": totp(&secret, 1),
        })))
        .await;
    verified.expect(200, None);
    let r = s
        .call(Req::get("/api/user/export").bearer(&verified.str("access_token")))
        .await;
    r.expect(200, None);
    assert_eq!(r.json["factors"][0]["kind"], "totp");
    assert!(!r.text.contains(&secret), "the TOTP seed in the export");
    s.stop().await;
}

async fn the_user_deletes_their_account_with_the_password(db: Db) {
    let s = TestServer::on(&db, "delete-account").await;
    let id = unique("leaving");
    s.signup(&id, PASSWORD).await.expect(201, None);
    let token = signed_in(&s, &id, "laptop").await;
    let delete = |body| Req::delete("/api/user").bearer(&token).json(body);
    s.call(Req::delete("/api/user").json(json!({ "password": PASSWORD })))
        .await
        .expect(401, Some("invalid_token"));
    s.call(delete(json!({ "password": "not the password" })))
        .await
        .expect(401, Some("invalid_credentials"));
    for body in [json!({}), json!({ "password": PASSWORD, "really": true })] {
        s.call(delete(body))
            .await
            .expect(400, Some("invalid_input"));
    }
    s.call(Req::get("/api/user/profile").bearer(&token))
        .await
        .expect(200, None);
    s.call(delete(json!({ "password": PASSWORD })))
        .await
        .expect(204, None);
    s.call(Req::get("/api/user/profile").bearer(&token))
        .await
        .expect(401, Some("invalid_token"));
    s.login(&id, PASSWORD, &[])
        .await
        .expect(401, Some("invalid_credentials"));
    s.stop().await;
}

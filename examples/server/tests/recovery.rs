//! Account recovery and email verification over real HTTP, on every
//! backend: the emailed links (read from the development outbox), no user
//! enumeration, and a reset that never gets around the second factor.

#[macro_use]
mod common;

use common::{Db, PASSWORD, Req, TestServer, enrol_totp, unique};
use serde_json::json;

on_every_backend!(
    "recovery";
    a_forgotten_password_is_reset_by_the_emailed_link_and_the_second_factor_stays,
    only_a_verified_address_gets_a_reset_link,
);

/// Signs up `identifier` with `email`, signs in, and returns the access
/// token.
async fn account(s: &TestServer, identifier: &str, email: &str) -> String {
    s.call(Req::post("/api/signup").json(json!({
        "identifier": identifier, "password": PASSWORD, "email": email,
    })))
    .await
    .expect(201, None);
    let login = s.login(identifier, PASSWORD, &[]).await;
    login.expect(200, None);
    login.str("access_token")
}

async fn a_forgotten_password_is_reset_by_the_emailed_link_and_the_second_factor_stays(db: Db) {
    let s = TestServer::on(&db, "recovery").await;
    let identifier = unique("forgot");
    let email = format!("{identifier}@example.test");
    let token = account(&s, &identifier, &email).await;

    // Verify the address.
    s.call(Req::post("/api/user/email/verification"))
        .await
        .expect(401, Some("invalid_token"));
    let sent = s
        .call(Req::post("/api/user/email/verification").bearer(&token))
        .await;
    sent.expect(200, None);
    assert!(sent.json["expires_at"].is_string());
    let link = s
        .last_link_to(&email, "email_verification")
        .expect("a verification link in the outbox");
    s.call(Req::post("/api/email/verify").json(json!({ "token": "nope" })))
        .await
        .expect(401, Some("invalid_token"));
    s.call(Req::post("/api/email/verify").json(json!({ "token": link })))
        .await
        .expect(204, None);
    s.call(Req::post("/api/email/verify").json(json!({ "token": link })))
        .await
        .expect(401, Some("invalid_token"));
    s.call(Req::post("/api/user/email/verification").bearer(&token))
        .await
        .expect(409, Some("conflict"));

    // A second factor.
    enrol_totp(&s, &token).await;

    // Forgot: the same answer for an unknown identifier.
    for who in [identifier.as_str(), "nobody-at-all"] {
        s.call(Req::post("/api/password/forgot").json(json!({ "identifier": who })))
            .await
            .expect(202, None);
    }
    s.call(Req::post("/api/password/forgot").json(json!({ "email": email })))
        .await
        .expect(400, Some("invalid_input"));
    let reset = s
        .last_link_to(&email, "password_reset")
        .expect("a reset link in the outbox");
    let outbox = std::fs::read_to_string(s.dir.join("outbox.jsonl")).expect("outbox");
    assert!(
        outbox.contains(&format!("/#reset={reset}")),
        "the link points to the page"
    );

    let new = "a brand new pass phrase for this test";
    s.call(
        Req::post("/api/password/reset").json(json!({ "token": reset, "new_password": "short" })),
    )
    .await
    .expect(400, Some("invalid_input"));
    s.call(Req::post("/api/password/reset").json(json!({ "token": "x.y", "new_password": new })))
        .await
        .expect(401, Some("invalid_token"));
    s.call(Req::post("/api/password/reset").json(json!({ "token": reset, "new_password": new })))
        .await
        .expect(204, None);
    s.call(Req::post("/api/password/reset").json(json!({ "token": reset, "new_password": new })))
        .await
        .expect(401, Some("invalid_token"));
    // Sessions ended; the old password is gone; the new one leads to the
    // second factor, not past it.
    s.call(Req::get("/api/user/profile").bearer(&token))
        .await
        .expect(401, Some("invalid_token"));
    s.login(&identifier, PASSWORD, &[])
        .await
        .expect(401, Some("invalid_credentials"));
    let login = s.login(&identifier, new, &[]).await;
    login.expect(200, None);
    assert_eq!(login.json["mfa_required"], true, "{}", login.text);
    assert!(login.json.get("access_token").is_none(), "{}", login.text);
    s.stop().await;
}

async fn only_a_verified_address_gets_a_reset_link(db: Db) {
    let s = TestServer::on(&db, "recovery-unverified").await;
    let identifier = unique("unverified");
    let email = format!("{identifier}@example.test");
    account(&s, &identifier, &email).await;
    s.call(Req::post("/api/password/forgot").json(json!({ "identifier": identifier })))
        .await
        .expect(202, None);
    assert_eq!(s.last_link_to(&email, "password_reset"), None);
    s.stop().await;
}

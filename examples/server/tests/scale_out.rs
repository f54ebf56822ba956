//! Two `mfa-server` processes on one PostgreSQL database, sharing keys and
//! nothing else, behind no proxy: whatever one instance accepts or revokes,
//! the other sees at once, and requests racing across both have exactly one
//! winner. The database is the only shared state (see "Running N instances"
//! in `docs/architecture.md`).
//!
//! Needs `MFA_TEST_POSTGRES_URL`; without it the test records its skip (a
//! failure under `CI=true`).

mod common;

use common::{
    PASSWORD, Req, Resp, TestServer, data_dir, totp, unique, use_shared_database_keys,
    user_with_totp, wrong_totp,
};
use futures::future::join_all;
use futures::stream::{self, StreamExt};
use mfa_core::testing::skip::required_env;
use serde_json::json;

/// Concurrent requests per race, split evenly over the two instances.
const RACERS: usize = 32;
/// Rounds of each race.
const ROUNDS: usize = 20;
/// Tickets per TOTP and backup-code race: one per racer would cost RACERS
/// password hashes a round, and tickets on their own are not what races.
const TICKETS: usize = 8;

/// Instance A and instance B.
struct Pair {
    a: TestServer,
    b: TestServer,
}

impl Pair {
    /// Starts A on a fresh data directory with the shared test key ring
    /// (it generates its signing key), then B on another directory holding
    /// copies of A's two key files: the keys are the only thing the
    /// instances share beside the database.
    async fn start(database_url: &str) -> Self {
        let env = [
            ("DATABASE_URL", database_url.to_owned()),
            // Tables of their own in the shared test database.
            ("MFA_TABLE_PREFIX", "mfa_scale_test_".to_owned()),
            ("MFA_DELIVERY", "outbox".to_owned()),
            // Every request comes from 127.0.0.1.
            ("MFA_RATE_LIMIT_PER_MINUTE", "1000000".to_owned()),
            ("MFA_LOGIN_RATE_PER_IP", "1000000".to_owned()),
            // The TOTP and backup-code races open RACERS tickets per user.
            ("MFA_LOGIN_RATE_PER_IDENTIFIER", "1000".to_owned()),
        ];
        let dir_a = data_dir("scale-a");
        // The tables outlive the run: every run uses the same key ring.
        use_shared_database_keys(&dir_a);
        let a = TestServer::spawn_process(&dir_a, &env).await;
        let dir_b = data_dir("scale-b");
        for file in ["keys.env", "jwt-ed25519.pem"] {
            std::fs::copy(dir_a.join(file), dir_b.join(file)).expect("copy a key file");
        }
        let b = TestServer::spawn_process(&dir_b, &env).await;
        let jwks = Req::get("/.well-known/jwks.json");
        assert_eq!(
            a.call(jwks).await.json,
            b.call(Req::get("/.well-known/jwks.json")).await.json,
            "one signing key"
        );
        Self { a, b }
    }

    /// Instance `i % 2`: racers alternate between the two.
    fn nth(&self, i: usize) -> &TestServer {
        if i.is_multiple_of(2) {
            &self.a
        } else {
            &self.b
        }
    }

    async fn stop(self) {
        self.a.stop().await;
        self.b.stop().await;
    }
}

fn refresh(token: &str) -> Req<'static> {
    Req::post("/api/token/refresh").json(json!({ "refresh_token": token }))
}

fn profile(token: &str) -> Req<'_> {
    Req::get("/api/user/profile").bearer(token)
}

fn verify(ticket: &str, method: &str, code: &str) -> Req<'static> {
    Req::post("/api/mfa/verify").json(json!({
        "ticket": ticket, "method": method, "code": code,
    }))
}

/// A ticket for a password sign-in that needs a second factor.
async fn ticket(s: &TestServer, id: &str) -> String {
    let login = s.login(id, PASSWORD, &[]).await;
    login.expect(200, None);
    assert_eq!(login.json["mfa_required"], true, "{}", login.text);
    login.str("ticket")
}

/// TICKETS tickets of one user, opened on alternating instances, at most
/// eight at a time: the password check reserves a failure before it
/// evaluates (R56), so more concurrent sign-ins than the password lockout
/// threshold (10) would lock the account.
async fn open_tickets(pair: &Pair, id: &str) -> Vec<String> {
    stream::iter(0..TICKETS)
        .map(|i| ticket(pair.nth(i), id))
        .buffered(8)
        .collect()
        .await
}

/// Racer `i`'s instance and ticket: consecutive racers alternate between
/// the instances, and each ticket is raced by RACERS / TICKETS requests,
/// half on each instance.
fn seat<'p>(pair: &'p Pair, tickets: &[String], i: usize) -> (&'p TestServer, String) {
    (pair.nth(i), tickets[(i / 2) % tickets.len()].clone())
}

/// A user with a confirmed email factor, enrolled on `s`: returns the
/// identifier and the address.
async fn user_with_email(s: &TestServer) -> (String, String) {
    let id = unique("mail");
    s.signup(&id, PASSWORD).await.expect(201, None);
    let token = s.login(&id, PASSWORD, &[]).await.str("access_token");
    let address = unique("inbox");
    let pending = s
        .call(
            Req::post("/api/mfa/email/enroll")
                .bearer(&token)
                .json(json!({ "email": address })),
        )
        .await;
    pending.expect(200, None);
    let code = s.last_code_to(&address).expect("enrolment code");
    s.call(
        Req::post("/api/mfa/email/confirm")
            .bearer(&token)
            .json(json!({ "factor_id": pending.str("factor_id"), "code": code })),
    )
    .await
    .expect(200, None);
    (id, address)
}

/// Sends an email code for `ticket` through `s`; returns it from `s`'s outbox.
async fn email_code(s: &TestServer, ticket: &str, address: &str) -> String {
    s.call(Req::post("/api/mfa/challenge").json(json!({ "ticket": ticket, "method": "email" })))
        .await
        .expect(200, None);
    s.last_code_to(address).expect("sign-in code")
}

/// How many responses are 200; every other one must be a typed refusal
/// with one of `refusals` as its error code.
fn winners(results: &[Resp], refusals: &[&str], what: &str) -> usize {
    for r in results.iter().filter(|r| r.status != 200) {
        assert!(
            refusals.contains(&r.json["error"].as_str().unwrap_or("")),
            "{what}: unexpected refusal {} {}",
            r.status,
            r.text
        );
    }
    results.iter().filter(|r| r.status == 200).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_postgres_database_share_every_decision() {
    const TEST: &str = "two_instances_on_one_postgres_database_share_every_decision";
    let Some(url) = required_env("MFA_TEST_POSTGRES_URL", TEST) else {
        return;
    };
    let pair = Pair::start(&url).await;
    let (a, b) = (&pair.a, &pair.b);

    // A TOTP code used on A is refused on B; a backup code used on B is
    // refused on A.
    let (id, secret, backup) = user_with_totp(a).await;
    let code = totp(&secret, 1);
    a.call(verify(&ticket(a, &id).await, "totp", &code))
        .await
        .expect(200, None);
    b.call(verify(&ticket(b, &id).await, "totp", &code))
        .await
        .expect(401, Some("invalid_code"));
    b.call(verify(&ticket(b, &id).await, "backup_codes", &backup[0]))
        .await
        .expect(200, None);
    a.call(verify(&ticket(a, &id).await, "backup_codes", &backup[0]))
        .await
        .expect(401, Some("invalid_code"));

    // An email code sent by A is accepted by B, once; a replay on A fails.
    let (id, address) = user_with_email(a).await;
    let t = ticket(a, &id).await;
    let code = email_code(a, &t, &address).await;
    b.call(verify(&t, "email", &code)).await.expect(200, None);
    a.call(verify(&t, "email", &code))
        .await
        .expect(401, Some("invalid_ticket"));

    // A refresh token rotated on A and reused on B revokes the family, so
    // the token A issued is refused on A too.
    let rid = unique("refresh");
    a.signup(&rid, PASSWORD).await.expect(201, None);
    let first = a.login(&rid, PASSWORD, &[]).await.str("refresh_token");
    let second = a.call(refresh(&first)).await;
    second.expect(200, None);
    let second = second.str("refresh_token");
    b.call(refresh(&first))
        .await
        .expect(403, Some("token_reused"));
    a.call(refresh(&second))
        .await
        .expect(401, Some("invalid_token"));

    // Wrong codes on alternating instances lock the account on both.
    let (id, secret, _) = user_with_totp(a).await;
    let t = ticket(a, &id).await;
    let wrong = wrong_totp(&secret);
    let mut locked = false;
    for i in 0..20 {
        let r = pair.nth(i).call(verify(&t, "totp", &wrong)).await;
        if r.status == 423 {
            locked = true;
            break;
        }
        r.expect(401, Some("invalid_code"));
    }
    assert!(locked, "alternating failures lock the account");
    for s in [a, b] {
        s.call(verify(&t, "totp", &totp(&secret, 1)))
            .await
            .expect(423, Some("account_locked"));
    }

    // A session revoked on A is dead on B; a logout on B ends the session
    // on A.
    let sid = unique("sessions");
    a.signup(&sid, PASSWORD).await.expect(201, None);
    let one = a.login(&sid, PASSWORD, &[]).await;
    let two = b.login(&sid, PASSWORD, &[]).await;
    b.call(profile(&two.str("access_token")))
        .await
        .expect(200, None);
    let path = format!("/api/sessions/{}", two.str("session_id"));
    a.call(Req::delete(&path).bearer(&one.str("access_token")))
        .await
        .expect(204, None);
    b.call(profile(&two.str("access_token")))
        .await
        .expect(401, Some("invalid_token"));
    b.call(refresh(&two.str("refresh_token")))
        .await
        .expect(401, Some("invalid_token"));
    b.call(Req::post("/api/logout").bearer(&one.str("access_token")))
        .await
        .expect(204, None);
    a.call(profile(&one.str("access_token")))
        .await
        .expect(401, Some("invalid_token"));

    pair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_racing_across_two_instances_have_exactly_one_winner() {
    const TEST: &str = "requests_racing_across_two_instances_have_exactly_one_winner";
    let Some(url) = required_env("MFA_TEST_POSTGRES_URL", TEST) else {
        return;
    };
    let pair = Pair::start(&url).await;
    let a = &pair.a;
    for round in 0..ROUNDS {
        // One TOTP code, TICKETS tickets of one user (R54).
        let (id, secret, _) = user_with_totp(a).await;
        let tickets = open_tickets(&pair, &id).await;
        let code = totp(&secret, 1);
        let results = join_all((0..RACERS).map(|i| {
            let (s, t) = seat(&pair, &tickets, i);
            s.call(verify(&t, "totp", &code))
        }))
        .await;
        let won = winners(
            &results,
            &["invalid_code", "invalid_ticket", "account_locked"],
            "totp",
        );
        assert_eq!(won, 1, "round {round}: one TOTP code, {won} winners");

        // One backup code, TICKETS tickets of a fresh user (R55): the TOTP
        // race above may have locked the first.
        let (id, _, fresh) = user_with_totp(a).await;
        let tickets = open_tickets(&pair, &id).await;
        let results = join_all((0..RACERS).map(|i| {
            let (s, t) = seat(&pair, &tickets, i);
            s.call(verify(&t, "backup_codes", &fresh[0]))
        }))
        .await;
        let won = winners(
            &results,
            &["invalid_code", "invalid_ticket", "account_locked"],
            "backup code",
        );
        assert_eq!(won, 1, "round {round}: one backup code, {won} winners");

        // One email code on one ticket (R55).
        let (id, address) = user_with_email(a).await;
        let t = ticket(a, &id).await;
        let code = email_code(pair.nth(round), &t, &address).await;
        let results =
            join_all((0..RACERS).map(|i| pair.nth(i).call(verify(&t, "email", &code)))).await;
        let won = winners(
            &results,
            &[
                "invalid_code",
                "invalid_ticket",
                "challenge_expired",
                "account_locked",
            ],
            "email code",
        );
        assert_eq!(won, 1, "round {round}: one email code, {won} winners");

        // One refresh token (R57): one rotation; the rest are reuse.
        let rid = unique("race-refresh");
        a.signup(&rid, PASSWORD).await.expect(201, None);
        let token = a.login(&rid, PASSWORD, &[]).await.str("refresh_token");
        let results = join_all((0..RACERS).map(|i| pair.nth(i).call(refresh(&token)))).await;
        let won = winners(&results, &["token_reused", "invalid_token"], "refresh");
        assert_eq!(won, 1, "round {round}: one refresh token, {won} rotations");
        // The reuse revoked the family: the winner's new token is dead on
        // both instances.
        let rotated = results
            .iter()
            .find(|r| r.status == 200)
            .expect("the winner")
            .str("refresh_token");
        for s in [&pair.a, &pair.b] {
            s.call(refresh(&rotated))
                .await
                .expect(401, Some("invalid_token"));
        }
    }
    pair.stop().await;
}

//! The service over real HTTP: a listener on 127.0.0.1:0 and hyper-util's
//! client. The engine runs on a manual clock, so a test moves to the next
//! TOTP step instead of waiting 30 seconds for it.

use chrono::TimeDelta;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mfa_core::Mfa;
use mfa_core::clock::{Clock, ManualClock};
use mfa_core::crypto::{JwtConfig, JwtKeys, KeyRing, Totp, TotpSecret};
use mfa_core::model::TotpParams;
use mfa_core::policy::{Enforcement, Policy};
use mfa_store_memory::MemoryStore;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::net::TcpListener;

/// The service under test, its clock, and a client for it.
struct Service {
    base: String,
    http: Client<HttpConnector, Full<Bytes>>,
    clock: Arc<ManualClock>,
}

impl Service {
    async fn start(policy: Policy) -> Self {
        let clock = Arc::new(ManualClock::default());
        let mfa = Mfa::builder()
            .store(Arc::new(MemoryStore::new()))
            .keys(KeyRing::generate())
            .tokens(
                JwtConfig::new("http://127.0.0.1", "hyper-service-test"),
                JwtKeys::generate_ed25519("k1").unwrap(),
            )
            .policy(policy)
            .clock(clock.clone())
            .build()
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(hyper_service::serve(listener, mfa));
        let http = Client::builder(TokioExecutor::new()).build_http();
        Self { base, http, clock }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: &str,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap();
        let response = self.http.request(request).await.unwrap();
        let status = response.status();
        assert_eq!(response.headers()["content-type"], "application/json");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    async fn post(&self, path: &str, bearer: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, bearer, &body.to_string())
            .await
    }

    async fn get_secret(&self, access_token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, "/secret", Some(access_token), "")
            .await
    }

    /// The code an authenticator app shows for `secret` at the clock's time.
    fn app_code(&self, secret: &Value) -> String {
        let seed = TotpSecret::from_base32(secret.as_str().unwrap()).unwrap();
        let totp = Totp::new(seed, TotpParams::default(), "test", "alice").unwrap();
        let now = self.clock.now().timestamp();
        totp.generate_at(now).unwrap().expose().to_owned()
    }

    async fn signup(&self) {
        let (status, body) = self.post("/signup", None, alice()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    async fn login(&self) -> (StatusCode, Value) {
        self.post("/login", None, alice()).await
    }

    /// Signs alice up, in with her password, and enrols an authenticator
    /// app through that session. Returns the app's secret and the backup
    /// codes; the clock still stands in the step whose code confirmed.
    async fn enrolled(&self) -> (Value, Vec<String>) {
        self.signup().await;
        let (_, tokens) = self.login().await;
        let access = tokens["access_token"].as_str().unwrap();
        let (status, enrollment) = self.post("/totp/enroll", Some(access), json!({})).await;
        assert_eq!(status, StatusCode::OK, "{enrollment}");
        let confirm = json!({
            "factor_id": enrollment["factor_id"],
            "code": self.app_code(&enrollment["secret"]),
        });
        let (status, enrolled) = self.post("/totp/confirm", Some(access), confirm).await;
        assert_eq!(status, StatusCode::OK, "{enrolled}");
        let backup = serde_json::from_value(enrolled["backup_codes"].clone()).unwrap();
        (enrollment["secret"].clone(), backup)
    }

    /// A sign-in ticket waiting for the second factor.
    async fn ticket(&self) -> Value {
        let (status, pending) = self.login().await;
        assert_eq!(
            (status, &pending["status"]),
            (StatusCode::OK, &json!("mfa_required"))
        );
        pending["ticket"].clone()
    }
}

fn alice() -> Value {
    json!({ "identifier": "alice@example.com", "password": "correct horse battery staple" })
}

#[tokio::test]
async fn whole_flow_over_http_reaches_the_aal2_route() {
    let service = Service::start(Policy::default()).await;
    let (secret, backup) = service.enrolled().await;
    assert_eq!(backup.len(), 10);

    let (status, pending) = service.login().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(pending["status"], "mfa_required");
    assert_eq!(pending["methods"], json!(["totp", "backup_codes"]));

    // The enrolment spent this step's code: the app's next one signs in.
    service.clock.advance(TimeDelta::seconds(30));
    let verify = json!({
        "ticket": pending["ticket"],
        "method": "totp",
        "code": service.app_code(&secret),
    });
    let (status, tokens) = service.post("/verify", None, verify).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["aal"], "aal2");
    assert_eq!(tokens["amr"], json!(["pwd", "otp"]));

    let (status, answer) = service
        .get_secret(tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["aal"], "aal2");
}

#[tokio::test]
async fn guarded_route_refuses_an_aal1_token() {
    let service = Service::start(Policy::default()).await;
    service.signup().await;
    let (_, tokens) = service.login().await;
    assert_eq!(tokens["aal"], "aal1");

    let (status, error) = service
        .get_secret(tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error["error"], "mfa_required");
    assert!(error["message"].is_string());
}

#[tokio::test]
async fn guarded_route_refuses_a_forged_token() {
    let service = Service::start(Policy::default()).await;
    let (status, error) = service.get_secret("not-a-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error["error"], "invalid_token");
}

#[tokio::test]
async fn backup_code_completes_a_sign_in() {
    let service = Service::start(Policy::default()).await;
    let (_, backup) = service.enrolled().await;
    let verify = json!({
        "ticket": service.ticket().await,
        "method": "backup_codes",
        "code": backup[0],
    });
    let (status, tokens) = service.post("/verify", None, verify).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["aal"], "aal2");
    assert_eq!(tokens["backup_codes_remaining"], 9);
}

#[tokio::test]
async fn totp_code_is_refused_when_replayed_in_the_same_step() {
    let service = Service::start(Policy::default()).await;
    let (secret, _) = service.enrolled().await;
    let verify = json!({
        "ticket": service.ticket().await,
        "method": "totp",
        "code": service.app_code(&secret),
    });
    let (status, error) = service.post("/verify", None, verify).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error["error"], "invalid_code");
}

#[tokio::test]
async fn enrolment_with_the_ticket_completes_the_sign_in() {
    let policy = Policy {
        enforcement: Enforcement::All,
        ..Policy::default()
    };
    let service = Service::start(policy).await;
    service.signup().await;
    let (status, pending) = service.login().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(pending["status"], "enrollment_required");
    let ticket = &pending["ticket"];

    let (_, enrollment) = service
        .post("/totp/enroll", None, json!({ "ticket": ticket }))
        .await;
    let confirm = json!({
        "ticket": ticket,
        "factor_id": enrollment["factor_id"],
        "code": service.app_code(&enrollment["secret"]),
    });
    let (status, enrolled) = service.post("/totp/confirm", None, confirm).await;
    assert_eq!(status, StatusCode::OK, "{enrolled}");
    assert_eq!(enrolled["tokens"]["aal"], "aal2");
    let access = enrolled["tokens"]["access_token"].as_str().unwrap();
    assert_eq!(service.get_secret(access).await.0, StatusCode::OK);
}

#[tokio::test]
async fn wrong_password_answers_401_invalid_credentials() {
    let service = Service::start(Policy::default()).await;
    service.signup().await;
    let wrong = json!({ "identifier": "alice@example.com", "password": "wrong" });
    let (status, error) = service.post("/login", None, wrong).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error["error"], "invalid_credentials");
}

#[tokio::test]
async fn malformed_body_answers_400_invalid_input() {
    let service = Service::start(Policy::default()).await;
    let (status, error) = service
        .call(Method::POST, "/login", None, "{not json")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"], "invalid_input");
}

#[tokio::test]
async fn unknown_route_answers_404_not_found() {
    let service = Service::start(Policy::default()).await;
    let (status, error) = service.call(Method::GET, "/nowhere", None, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["error"], "not_found");
}

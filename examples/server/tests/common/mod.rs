//! Starts the real server on an ephemeral loopback port and drives it with
//! reqwest.
#![allow(dead_code)]

pub mod schema;

use mfa_core::crypto::{Totp, TotpSecret};
use mfa_core::model::TotpParams;
use mfa_core::testing::skip::required_env;
use mfa_server::config::{Config, DevDelivery};
use mfa_server::{Server, StartError, start};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Runs each scenario once per backend: `sqlite::name` always,
/// `postgres::name` when `MFA_TEST_POSTGRES_URL` is set and `mysql::name`
/// when `MFA_TEST_MYSQL_URL` is set (each records its skip otherwise).
#[allow(unused_macros)]
macro_rules! on_every_backend {
    ($file:literal; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Db::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = super::Db::postgres(concat!("mfa-server ", $file, "::postgres::", stringify!($name))) {
                        super::$name(db).await;
                    }
                }
            )*
        }
        mod mysql {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = super::Db::mysql(concat!("mfa-server ", $file, "::mysql::", stringify!($name))) {
                        super::$name(db).await;
                    }
                }
            )*
        }
    };
}

/// Which database a test runs on.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite,
    Postgres(String),
    MySql(String),
}

impl Db {
    /// Postgres from `MFA_TEST_POSTGRES_URL`, or `None` with the skip
    /// recorded (a failure under `CI=true`).
    pub fn postgres(test: &str) -> Option<Self> {
        required_env("MFA_TEST_POSTGRES_URL", test).map(Self::Postgres)
    }

    /// MySQL/MariaDB from `MFA_TEST_MYSQL_URL`, or `None` with the skip
    /// recorded.
    pub fn mysql(test: &str) -> Option<Self> {
        required_env("MFA_TEST_MYSQL_URL", test).map(Self::MySql)
    }
}

/// A fresh, empty data directory under the target directory.
pub fn data_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("mfa-server-tests")
        .join(format!("{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("data dir");
    dir
}

/// The key file of every server on the shared PostgreSQL and MySQL test
/// databases. Their tables (one prefix for all tests and runs) keep the key
/// checks of the first server that used them, and a server with other keys
/// is refused at start-up: so all of them use these fixed test keys.
pub const SHARED_DATABASE_KEYS: &str =
    "MFA_AEAD_KEYS=1:WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=
MFA_AEAD_CURRENT_KEY=1
MFA_ROOT_SECRET=paWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaU=
";

/// Puts [`SHARED_DATABASE_KEYS`] in `dir` as its development key file
/// (`keys.env`), unless it has one.
pub fn use_shared_database_keys(dir: &Path) {
    let path = dir.join("keys.env");
    if !path.exists() {
        std::fs::write(&path, SHARED_DATABASE_KEYS).expect("write the shared test keys");
    }
}

/// The configuration every test starts from: development mode, port 0,
/// the outbox file for email codes, and the engine's per-IP sign-in limit
/// raised (every test connects from 127.0.0.1, and a shared Postgres
/// database keeps the counters between tests). On a shared database the
/// data directory gets [`SHARED_DATABASE_KEYS`].
pub fn config(db: &Db, dir: &Path) -> Config {
    let mut config = Config::development(dir);
    config.listen = "127.0.0.1:0".parse().expect("addr");
    config.dev_delivery = DevDelivery::Outbox;
    config.rate_limit_per_minute = 10_000;
    config.policy.login_rate.per_ip = 100_000;
    // Reset requests are limited per client address too (four times this):
    // every test asks from 127.0.0.1, on a database shared between runs.
    config.policy.recovery.per_window = 10_000;
    config.database_url = match db {
        Db::Sqlite => None,
        Db::Postgres(url) | Db::MySql(url) => {
            use_shared_database_keys(dir);
            Some(url.clone())
        }
    };
    // Our own tables in the shared test database.
    config.table_prefix = Some("mfa_server_test_".into());
    config
}

pub struct TestServer {
    pub server: Option<Server>,
    /// The `mfa-server` process, when the server runs as one.
    pub process: Option<tokio::process::Child>,
    pub base: String,
    pub http: reqwest::Client,
    pub dir: PathBuf,
}

impl TestServer {
    pub async fn start(config: Config) -> Self {
        Self::try_start(config).await.expect("server starts")
    }

    /// [`TestServer::start`], returning why the server did not start
    /// instead of panicking.
    pub async fn try_start(config: Config) -> Result<Self, StartError> {
        let dir = config.data_dir.clone();
        let server = start(config).await?;
        let base = format!("http://{}", server.addr);
        Ok(Self::ready(Some(server), None, base, dir).await)
    }

    /// Runs the `mfa-server` binary like [`TestServer::spawn_process`] when
    /// it is expected not to start: waits (bounded) until it exits and
    /// returns its exit status and its JSON log.
    pub async fn run_process_to_exit(
        dir: &Path,
        env: &[(&str, String)],
    ) -> (std::process::ExitStatus, String) {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_mfa-server"))
            .env("MFA_LISTEN", "127.0.0.1:0")
            .env("MFA_DATA_DIR", dir)
            .env("RUST_LOG", "warn,mfa_server=info")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(30), output)
            .await
            .expect("mfa-server exited within 30 s")
            .expect("mfa-server runs");
        let log = String::from_utf8_lossy(&output.stdout).into_owned();
        (output.status, log)
    }

    /// Runs the `mfa-server` binary as its own process on an ephemeral
    /// loopback port, configured by `env` only (as an operator would), with
    /// `dir` as its data directory. Its JSON log is read until it names the
    /// address it listens on, then drained in the background.
    pub async fn spawn_process(dir: &Path, env: &[(&str, String)]) -> Self {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mfa-server"));
        command
            .env("MFA_LISTEN", "127.0.0.1:0")
            .env("MFA_DATA_DIR", dir)
            .env("RUST_LOG", "warn,mfa_server=info")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("mfa-server starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let find_addr = async {
            while let Some(line) = lines.next_line().await.expect("log line") {
                let entry: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                if entry["fields"]["message"] == "listening" {
                    return entry["fields"]["addr"].as_str().map(str::to_owned);
                }
            }
            None
        };
        let addr = tokio::time::timeout(Duration::from_secs(30), find_addr)
            .await
            .expect("mfa-server logged its address within 30 s")
            .expect("mfa-server exited before listening");
        // Keep reading, so a full pipe never blocks the server's logging.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self::ready(None, Some(child), format!("http://{addr}"), dir.to_owned()).await
    }

    /// Waits (bounded) until the server answers its health probe.
    async fn ready(
        server: Option<Server>,
        process: Option<tokio::process::Child>,
        base: String,
        dir: PathBuf,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(r) = http.get(format!("{base}/healthz")).send().await
                && r.status() == StatusCode::OK
            {
                break;
            }
            assert!(Instant::now() < deadline, "server did not become ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self {
            server,
            process,
            base,
            http,
            dir,
        }
    }

    pub async fn on(db: &Db, name: &str) -> Self {
        let dir = data_dir(name);
        Self::start(config(db, &dir)).await
    }

    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("clean shutdown");
        }
        if let Some(mut process) = self.process.take() {
            process.kill().await.expect("stop mfa-server");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request; returns status, headers and the JSON body (Null
    /// when empty or not JSON).
    pub async fn call(&self, req: Req<'_>) -> Resp {
        let mut r = self.http.request(req.method.clone(), self.url(req.path));
        if let Some(token) = req.bearer {
            r = r.bearer_auth(token);
        }
        for (k, v) in &req.headers {
            r = r.header(*k, v.as_str());
        }
        if let Some(body) = &req.body {
            r = r.json(body);
        }
        let resp = r.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        static DOCUMENT: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
        let document = DOCUMENT.get_or_init(mfa_server::openapi::document);
        let exchange = schema::Exchange {
            method: req.method.as_str(),
            path: req.path,
            request: req.body.as_ref(),
            status: status.as_u16(),
            response: &text,
        };
        if let Err(mismatch) = schema::check_exchange(document, &exchange) {
            panic!("the exchange does not match the OpenAPI document: {mismatch}");
        }
        Resp {
            status,
            headers,
            json,
            text,
        }
    }

    pub async fn signup(&self, identifier: &str, password: &str) -> Resp {
        self.call(
            Req::post("/api/signup")
                .json(json!({ "identifier": identifier, "password": password })),
        )
        .await
    }

    pub async fn login(
        &self,
        identifier: &str,
        password: &str,
        headers: &[(&'static str, String)],
    ) -> Resp {
        let mut req =
            Req::post("/api/login").json(json!({ "identifier": identifier, "password": password }));
        for (k, v) in headers {
            req = req.header(k, v.clone());
        }
        self.call(req).await
    }

    /// The outbox's latest code sent to `to` (a code leads the subject).
    pub fn last_code_to(&self, to: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.dir.join("outbox.jsonl")).ok()?;
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .rfind(|m| m["to"] == to && m["kind"] == "code")
            .and_then(|m| {
                m["subject"]
                    .as_str()
                    .and_then(|t| t.split_whitespace().next())
                    .map(str::to_owned)
            })
    }
}

impl TestServer {
    /// The token of the latest link of `purpose` (`password_reset`,
    /// `email_verification`) the development outbox holds for `to`.
    pub fn last_link_to(&self, to: &str, purpose: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.dir.join("outbox.jsonl")).ok()?;
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .rfind(|m| m["to"] == to && m["kind"] == "link" && m["purpose"] == purpose)
            .and_then(|m| m["token"].as_str().map(str::to_owned))
    }
}

pub struct Req<'a> {
    method: Method,
    path: &'a str,
    bearer: Option<&'a str>,
    headers: Vec<(&'static str, String)>,
    body: Option<Value>,
}

impl<'a> Req<'a> {
    pub fn new(method: Method, path: &'a str) -> Self {
        Self {
            method,
            path,
            bearer: None,
            headers: Vec::new(),
            body: None,
        }
    }
    pub fn get(path: &'a str) -> Self {
        Self::new(Method::GET, path)
    }
    pub fn post(path: &'a str) -> Self {
        Self::new(Method::POST, path)
    }
    pub fn delete(path: &'a str) -> Self {
        Self::new(Method::DELETE, path)
    }
    pub fn put(path: &'a str) -> Self {
        Self::new(Method::PUT, path)
    }
    pub fn bearer(mut self, token: &'a str) -> Self {
        self.bearer = Some(token);
        self
    }
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
    pub text: String,
}

impl Resp {
    /// Asserts the status and, for errors, the stable error code.
    pub fn expect(&self, status: u16, error: Option<&str>) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        if let Some(code) = error {
            assert_eq!(
                self.json["error"], code,
                "unexpected error code; body: {}",
                self.text
            );
            assert!(
                self.json["message"].is_string(),
                "error without message: {}",
                self.text
            );
        }
        self
    }

    pub fn str(&self, field: &str) -> String {
        self.json[field]
            .as_str()
            .unwrap_or_else(|| panic!("no string field {field} in {}", self.text))
            .to_owned()
    }

    /// The `name=value` pair of a `Set-Cookie` header, if one was set.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .find(|pair| pair.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    pub fn set_cookie_header(&self) -> Option<String> {
        self.headers
            .get(reqwest::header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// The TOTP code for `secret`, `offset` steps from now.
pub fn totp(secret: &str, offset: i64) -> String {
    let totp = Totp::new(
        TotpSecret::from_base32(secret).expect("base32"),
        TotpParams::default(),
        "test",
        "user",
    )
    .expect("totp");
    let now = chrono::Utc::now().timestamp() + offset * 30;
    totp.generate_at(now).expect("code").expose().to_owned()
}

/// Sure not to be a valid code for `secret` within ±1 step.
pub fn wrong_totp(secret: &str) -> String {
    let valid: Vec<String> = (-1..=1).map(|o| totp(secret, o)).collect();
    (0..1_000_000u32)
        .map(|n| format!("{n:06}"))
        .find(|c| !valid.contains(c))
        .expect("a wrong code")
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}@example.test", uuid::Uuid::new_v4().simple())
}

pub const PASSWORD: &str = "correct horse battery staple";

/// Enrols and confirms an authenticator app for the session of `token`
/// (the current TOTP step): returns the secret and the backup codes.
pub async fn enrol_totp(s: &TestServer, token: &str) -> (String, Vec<String>) {
    let enrol = s
        .call(
            Req::post("/api/mfa/totp/enroll")
                .bearer(token)
                .json(json!({ "label": "phone" })),
        )
        .await;
    enrol.expect(200, None);
    let secret = enrol.str("secret");
    let confirm = s
        .call(
            Req::post("/api/mfa/totp/confirm")
                .bearer(token)
                .json(json!({
                    "factor_id": enrol.str("factor_id"),
                    "code": totp(&secret, 0),
                })),
        )
        .await;
    confirm.expect(200, None);
    let codes = confirm.json["backup_codes"]
        .as_array()
        .expect("backup codes with the first factor")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    (secret, codes)
}

/// A signed-up user with a confirmed authenticator app: returns
/// (identifier, secret, backup codes). Uses the current TOTP step.
pub async fn user_with_totp(s: &TestServer) -> (String, String, Vec<String>) {
    let (id, secret, codes, _) = user_with_totp_and_id(s).await;
    (id, secret, codes)
}

/// [`user_with_totp`], and the user's id.
pub async fn user_with_totp_and_id(s: &TestServer) -> (String, String, Vec<String>, String) {
    let id = unique("totp");
    let signup = s.signup(&id, PASSWORD).await;
    signup.expect(201, None);
    let user_id = signup.str("user_id");
    let login = s.login(&id, PASSWORD, &[]).await;
    login.expect(200, None);
    let (secret, codes) = enrol_totp(s, &login.str("access_token")).await;
    (id, secret, codes, user_id)
}

/// Signs in with password + TOTP (the next step, +1): returns the verify
/// response.
pub async fn login_with_totp(
    s: &TestServer,
    id: &str,
    secret: &str,
    remember: bool,
    headers: &[(&'static str, String)],
) -> Resp {
    let login = s.login(id, PASSWORD, headers).await;
    login.expect(200, None);
    assert_eq!(login.json["mfa_required"], true, "{}", login.text);
    let mut req = Req::post("/api/mfa/verify").json(json!({
        "ticket": login.str("ticket"),
        "method": "totp",
        "code": totp(secret, 1),
        "remember_device": remember,
    }));
    for (k, v) in headers {
        req = req.header(k, v.clone());
    }
    s.call(req).await
}

//! The service's JSON API as the load generator calls it, and how each
//! answer is classified: a success, a typed error (`{"error": code, …}`),
//! or an untyped failure (no answer, timeout, an error without the JSON
//! shape).

use serde_json::Value;
use std::time::{Duration, Instant};

/// The identity a virtual user presents on every request: its own client
/// address (sent as `X-Forwarded-For`; the service trusts 127.0.0.1 as a
/// proxy) and device fingerprint, so the engine's per-IP limits and device
/// recognition see one client per user, as in real traffic.
#[derive(Debug, Clone)]
pub struct ClientIdentity {
    /// Client IP address.
    pub ip: String,
    /// `X-Device-Fingerprint`.
    pub fingerprint: String,
}

/// How a request ended.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 2xx with a JSON body.
    Ok(Value),
    /// An error in the service's format.
    Typed {
        /// HTTP status.
        status: u16,
        /// The `error` code.
        code: String,
    },
    /// Anything else.
    Untyped(Untyped),
}

/// A failure that is not a typed error.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Untyped {
    /// No answer within the client timeout.
    Timeout,
    /// The connection could not be opened.
    Connect,
    /// The connection broke, or the answer could not be read.
    Transport,
    /// A status without the JSON error shape (or a 2xx without JSON).
    Status(u16),
}

impl Untyped {
    /// A short label (`timeout`, `connect`, `transport`, `http_502`).
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Self::Timeout => "timeout".into(),
            Self::Connect => "connect".into(),
            Self::Transport => "transport".into(),
            Self::Status(s) => format!("http_{s}"),
        }
    }
}

impl Reply {
    /// The label errors are counted under: the error code, or
    /// `untyped:<kind>`; `None` for a success.
    #[must_use]
    pub fn error_label(&self) -> Option<String> {
        match self {
            Self::Ok(_) => None,
            Self::Typed { code, .. } => Some(code.clone()),
            Self::Untyped(u) => Some(format!("untyped:{}", u.label())),
        }
    }
}

/// A client of one running service.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    /// A client for `base` (`http://127.0.0.1:port`) whose every request
    /// gives up after `timeout`.
    ///
    /// # Errors
    /// The HTTP client could not be built.
    pub fn new(base: &str, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent("mfa-load/0.1")
            .pool_max_idle_per_host(1024)
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// POSTs `body` to `path` as `who`, with an optional bearer token;
    /// returns the reply and how long it took.
    pub async fn post(
        &self,
        path: &str,
        who: &ClientIdentity,
        bearer: Option<&str>,
        body: &Value,
    ) -> (Reply, Duration) {
        let started = Instant::now();
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("x-forwarded-for", &who.ip)
            .header("x-device-fingerprint", &who.fingerprint)
            .json(body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let reply = match request.send().await {
            Err(e) => Reply::Untyped(classify(&e)),
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Err(e) => Reply::Untyped(classify(&e)),
                    Ok(bytes) => interpret(status, &bytes),
                }
            }
        };
        (reply, started.elapsed())
    }

    /// `GET path` (with its query string) and a bearer token, as `who`;
    /// returns the reply and how long it took.
    pub async fn get(&self, path: &str, who: &ClientIdentity, bearer: &str) -> (Reply, Duration) {
        let started = Instant::now();
        let request = self
            .http
            .get(format!("{}{path}", self.base))
            .header("x-forwarded-for", &who.ip)
            .header("x-device-fingerprint", &who.fingerprint)
            .bearer_auth(bearer);
        let reply = match request.send().await {
            Err(e) => Reply::Untyped(classify(&e)),
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Err(e) => Reply::Untyped(classify(&e)),
                    Ok(bytes) => interpret(status, &bytes),
                }
            }
        };
        (reply, started.elapsed())
    }

    /// `GET path`: whether it answered 2xx within the timeout.
    pub async fn get_ok(&self, path: &str) -> bool {
        matches!(
            self.http.get(format!("{}{path}", self.base)).send().await,
            Ok(r) if r.status().is_success()
        )
    }
}

fn classify(e: &reqwest::Error) -> Untyped {
    if e.is_timeout() {
        Untyped::Timeout
    } else if e.is_connect() {
        Untyped::Connect
    } else {
        Untyped::Transport
    }
}

/// Classifies a status and body.
#[must_use]
pub fn interpret(status: u16, body: &[u8]) -> Reply {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    if (200..300).contains(&status) {
        return match json {
            Some(v) => Reply::Ok(v),
            None => Reply::Untyped(Untyped::Status(status)),
        };
    }
    match json.as_ref().and_then(|v| {
        let code = v.get("error")?.as_str()?;
        v.get("message")?.as_str()?;
        Some(code.to_owned())
    }) {
        Some(code) => Reply::Typed { status, code },
        None => Reply::Untyped(Untyped::Status(status)),
    }
}

/// The `sub` (user id) and `sid` (session id) claims of an access token.
/// Reads the payload only: the service that issued it is the one under
/// test, the signature is not what is checked here.
#[must_use]
pub fn token_subject(access_token: &str) -> Option<(String, String)> {
    let payload = access_token.split('.').nth(1)?;
    let bytes = data_encoding::BASE64URL_NOPAD
        .decode(payload.trim_end_matches('=').as_bytes())
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    Some((
        claims.get("sub")?.as_str()?.to_owned(),
        claims.get("sid")?.as_str()?.to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_with_code_and_message_is_typed() {
        let r = interpret(503, br#"{"error":"unavailable","message":"x"}"#);
        assert!(matches!(r, Reply::Typed { status: 503, ref code } if code == "unavailable"));
    }

    #[test]
    fn an_error_without_the_json_shape_is_untyped() {
        assert!(matches!(
            interpret(502, b"Bad Gateway"),
            Reply::Untyped(Untyped::Status(502))
        ));
        assert!(matches!(
            interpret(500, br#"{"error":"x"}"#),
            Reply::Untyped(Untyped::Status(500))
        ));
    }

    #[test]
    fn token_claims_are_read_from_the_payload() {
        let payload = data_encoding::BASE64URL_NOPAD.encode(br#"{"sub":"u1","sid":"s1"}"#);
        assert_eq!(
            token_subject(&format!("h.{payload}.sig")),
            Some(("u1".into(), "s1".into()))
        );
    }
}

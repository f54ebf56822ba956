//! A local stand-in for a push service: records every request, lets the
//! test's handler check it like the real service would and answer. A check
//! that fails is answered with 400 and kept for the test to show.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// What the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 (Web Push services and Google's APIs speak both).
    Http1,
    /// HTTP/2 only, cleartext with prior knowledge, like APNs (over TLS).
    Http2Only,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Recorded {
    /// A header's value; an error names the missing header.
    pub fn header(&self, name: &str) -> Result<&str, String> {
        self.headers
            .get(name)
            .ok_or_else(|| format!("no {name} header"))?
            .to_str()
            .map_err(|_| format!("{name} is not text"))
    }
}

/// The handler's answer: a status and a JSON body, or a failed check.
pub type Reply = Result<(u16, String), String>;

type Handler = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

pub struct TestServer {
    pub url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    problems: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn start<F>(protocol: Protocol, handler: F) -> Self
    where
        F: Fn(&Recorded) -> Reply + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let problems = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let (log, issues) = (requests.clone(), problems.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (handler, log, issues) = (handler.clone(), log.clone(), issues.clone());
                let service = service_fn(move |request: Request<Incoming>| {
                    let (handler, log, issues) = (handler.clone(), log.clone(), issues.clone());
                    async move {
                        let recorded = record(request).await;
                        log.lock().unwrap().push(recorded.clone());
                        let (status, body) = handler(&recorded).unwrap_or_else(|problem| {
                            issues.lock().unwrap().push(problem.clone());
                            (
                                400,
                                serde_json::json!({ "check_failed": problem }).to_string(),
                            )
                        });
                        Response::builder()
                            .status(status)
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from(body)))
                    }
                });
                let io = TokioIo::new(stream);
                tokio::spawn(async move {
                    // Errors here are the client going away or, for the
                    // HTTP/2-only server, an HTTP/1 client being refused.
                    let _ = match protocol {
                        Protocol::Http1 => {
                            http1::Builder::new().serve_connection(io, service).await
                        }
                        Protocol::Http2Only => {
                            http2::Builder::new(TokioExecutor::new())
                                .serve_connection(io, service)
                                .await
                        }
                    };
                });
            }
        });
        Self {
            url,
            requests,
            problems,
            task,
        }
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// How many requests went to `path`.
    pub fn count(&self, path: &str) -> usize {
        self.requests().iter().filter(|r| r.path == path).count()
    }

    /// The checks that failed.
    pub fn problems(&self) -> Vec<String> {
        self.problems.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(request: Request<Incoming>) -> Recorded {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        version: parts.version,
        headers: parts.headers,
        body,
    }
}

/// Answers from a script, one entry per request; the last one repeats.
pub struct Script(Mutex<Vec<(u16, String)>>);

impl Script {
    pub fn new(replies: &[(u16, &str)]) -> Self {
        let mut replies: Vec<_> = replies.iter().map(|(s, b)| (*s, (*b).to_owned())).collect();
        replies.reverse();
        Self(Mutex::new(replies))
    }

    pub fn next(&self) -> (u16, String) {
        let mut replies = self.0.lock().unwrap();
        if replies.len() > 1 {
            replies.pop().unwrap()
        } else {
            replies[0].clone()
        }
    }
}

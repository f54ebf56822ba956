//! Test support: a real SMTP server (Python's aiosmtpd) on a loopback port.

#![allow(dead_code)]

use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One message as the server parsed it.
#[derive(Debug, Deserialize)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub headers: BTreeMap<String, String>,
    pub content_type: String,
    pub parts: Vec<Part>,
}

/// A decoded MIME part.
#[derive(Debug, Deserialize)]
pub struct Part {
    pub content_type: String,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map_or_else(
                || panic!("no {name} header in {:?}", self.headers),
                |(_, v)| v,
            )
    }

    pub fn part(&self, content_type: &str) -> &str {
        &self
            .parts
            .iter()
            .find(|p| p.content_type == content_type)
            .unwrap_or_else(|| panic!("no {content_type} part"))
            .body
    }

    /// The code at the start of the subject.
    pub fn code(&self) -> String {
        let subject = self.header("Subject");
        let code = subject.split_whitespace().next().unwrap_or_default();
        assert!(
            !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit()),
            "subject does not start with a code: {subject}"
        );
        code.to_owned()
    }
}

/// The server process; killed (and its folder removed) on drop.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// What keeps the SMTP server from starting, checked once per process.
fn missing_server() -> Option<&'static str> {
    static MISSING: std::sync::OnceLock<Option<&'static str>> = std::sync::OnceLock::new();
    *MISSING.get_or_init(|| {
        let probe = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match probe {
            Err(_) => Some("python3 is not installed"),
            Ok(status) if !status.success() => {
                Some("Python's aiosmtpd is not installed (scripts/test installs it)")
            }
            Ok(_) => None,
        }
    })
}

impl SmtpServer {
    /// Starts a server for `test`; with `auth`, it requires AUTH with
    /// exactly these credentials. `None`, with the skip recorded, when
    /// `python3` with aiosmtpd is not installed (the project's test command
    /// installs it).
    pub fn start(test: &str, auth: Option<(&str, &str)>) -> Option<Self> {
        if let Some(missing) = missing_server() {
            mfa_core::testing::skip::skip(test, missing);
            return None;
        }
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("mfa-delivery-smtp-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("mail folder");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_server.py");
        let mut command = Command::new("python3");
        command
            .arg(script)
            .arg("--port")
            .arg(port.to_string())
            .arg("--out")
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some((user, password)) = auth {
            command.arg("--auth").arg(format!("{user}:{password}"));
        }
        let mut child = command.spawn().expect("python3 runs");
        let stdout = child.stdout.take().expect("stdout");
        let mut server = Self { child, port, dir };
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("server output");
        assert_eq!(line.trim(), "READY", "SMTP test server did not start");
        // Bounded wait until the port accepts connections.
        let mut up = false;
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                up = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(up, "SMTP test server not accepting connections");
        server.port = port;
        Some(server)
    }

    /// Every message received so far, in order.
    pub fn messages(&self) -> Vec<Received> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .expect("mail folder")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).expect("read")).expect("json"))
            .collect()
    }

    /// The raw bytes of message `n` (from 1).
    pub fn raw(&self, n: usize) -> String {
        String::from_utf8(std::fs::read(self.dir.join(format!("{n:04}.eml"))).expect("raw"))
            .expect("utf-8")
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

//! `mfa-server audit verify` and `mfa-server audit archive`, run as an
//! operator would: the binary, configured by the environment, on the data
//! directory a server wrote (SQLite; the tamper and archive suites of
//! `mfa-core` cover every backend).

#[macro_use]
mod common;

use common::*;
use std::path::Path;
use std::process::Output;

fn run(dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_mfa-server"))
        .args(args)
        .env("MFA_DATA_DIR", dir)
        .env("MFA_TABLE_PREFIX", "mfa_server_test_")
        .env_remove("MFA_ENV")
        .env_remove("DATABASE_URL")
        .output()
        .expect("mfa-server runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_commands_verify_archive_and_catch_a_tampered_archive() {
    let dir = data_dir("audit-command");
    let s = TestServer::start(config(&Db::Sqlite, &dir)).await;
    let (id, secret, _) = user_with_totp(&s).await;
    login_with_totp(&s, &id, &secret, false, &[])
        .await
        .expect(200, None);
    s.login(&id, "not the password", &[])
        .await
        .expect(401, None);
    // A graceful stop writes the final checkpoint.
    s.stop().await;

    let verified = run(&dir, &["audit", "verify"]);
    let text = stdout(&verified);
    assert!(verified.status.success(), "{verified:?}");
    assert!(text.trim_end().ends_with("intact"), "{text}");
    let json = run(&dir, &["audit", "verify", "--json"]);
    assert!(json.status.success(), "{json:?}");
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON report");
    assert!(report["events"].as_u64().unwrap_or(0) >= 8, "{report}");
    assert!(report["checkpoints"].as_u64().unwrap_or(0) >= 1, "{report}");
    assert_eq!(report["problems"], serde_json::json!([]));

    let file = dir.join("audit-archive.jsonl.gz");
    let now = chrono::Utc::now().to_rfc3339();
    let path = file.to_str().expect("UTF-8 path");
    let archive_to = || run(&dir, &["audit", "archive", "--before", &now, "--out", path]);
    let archived = archive_to();
    assert!(archived.status.success(), "{archived:?}");
    assert!(stdout(&archived).starts_with("archived "), "{archived:?}");
    let again = archive_to();
    assert!(
        !again.status.success(),
        "an existing file is never overwritten"
    );

    let archive = run(
        &dir,
        &["audit", "verify", "--archive", file.to_str().expect("path")],
    );
    assert!(archive.status.success(), "{archive:?}");
    assert!(stdout(&archive).trim_end().ends_with("intact"));
    let store = run(&dir, &["audit", "verify"]);
    assert!(
        store.status.success(),
        "the store verifies across the cut: {store:?}"
    );

    // One byte of the compressed file changed: the archive is reported.
    let mut bytes = std::fs::read(&file).expect("read the archive");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    let tampered = dir.join("tampered.jsonl.gz");
    std::fs::write(&tampered, bytes).expect("write");
    let report = run(
        &dir,
        &[
            "audit",
            "verify",
            "--archive",
            tampered.to_str().expect("path"),
        ],
    );
    assert_eq!(report.status.code(), Some(1), "{report:?}");
    assert!(stdout(&report).contains("problems:"), "{report:?}");

    let usage = run(
        &dir,
        &["audit", "archive", "--before", "yesterday", "--out", "x"],
    );
    assert_eq!(usage.status.code(), Some(2), "{usage:?}");
}

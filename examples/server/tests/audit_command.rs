//! The operator commands `mfa-server audit verify`, `mfa-server audit
//! archive`, `mfa-server keys rotate` and `mfa-server keys retire`, run as
//! an operator would: the binary, configured by the environment, on the
//! data directory a server wrote (SQLite; the tamper, archive and key
//! rotation suites of `mfa-core` cover every backend).

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

/// The development key file with its `MFA_AEAD_KEYS` and
/// `MFA_AEAD_CURRENT_KEY` lines replaced.
fn set_aead_keys(dir: &Path, keys: &str, current: u32) {
    let file = dir.join("keys.env");
    let text = std::fs::read_to_string(&file).expect("the key file");
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            if line.starts_with("MFA_AEAD_KEYS=") {
                format!("MFA_AEAD_KEYS={keys}")
            } else if line.starts_with("MFA_AEAD_CURRENT_KEY=") {
                format!("MFA_AEAD_CURRENT_KEY={current}")
            } else {
                line.to_owned()
            }
        })
        .collect();
    std::fs::write(&file, lines.join("\n") + "\n").expect("write the key file");
}

/// Key 1 of the development key file, as `1:<base64>`.
fn key_1(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("keys.env")).expect("the key file");
    text.lines()
        .find_map(|line| line.strip_prefix("MFA_AEAD_KEYS="))
        .expect("an MFA_AEAD_KEYS line")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_and_retire_move_every_seed_to_a_new_key() {
    let dir = data_dir("keys-rotate");
    let s = TestServer::start(config(&Db::Sqlite, &dir)).await;
    let (id, secret, _) = user_with_totp(&s).await;
    user_with_totp(&s).await;
    s.stop().await;

    let key_1 = key_1(&dir);
    assert!(key_1.starts_with("1:"), "{key_1}");
    let key_2 = "2:BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY=";
    set_aead_keys(&dir, &format!("{key_1},{key_2}"), 2);

    let early = run(&dir, &["keys", "retire", "1"]);
    assert_eq!(early.status.code(), Some(1), "{early:?}");
    assert!(
        String::from_utf8_lossy(&early.stderr).contains("still sealed"),
        "{early:?}"
    );
    let bad = run(&dir, &["keys", "rotate", "--batch", "0"]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    let bad = run(&dir, &["keys", "rotate", "--after", "not-an-id"]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");

    let rotated = run(&dir, &["keys", "rotate", "--batch", "1"]);
    assert!(rotated.status.success(), "{rotated:?}");
    let text = stdout(&rotated);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 3, "a line per batch: {text}");
    assert!(lines[0].starts_with("scanned 1 (resealed 1, "), "{text}");
    assert!(text.contains("scanned 2 (resealed 2, "), "{text}");
    assert_eq!(
        lines.last().copied(),
        Some("done: every factor secret is under the current key"),
        "{text}"
    );
    let again = run(&dir, &["keys", "rotate"]);
    assert!(again.status.success(), "{again:?}");
    assert!(
        stdout(&again).starts_with("scanned 2 (resealed 0, already current 2,"),
        "{again:?}"
    );

    let retired = run(&dir, &["keys", "retire", "1"]);
    assert!(retired.status.success(), "{retired:?}");
    assert!(stdout(&retired).starts_with("key 1 retired"), "{retired:?}");
    set_aead_keys(&dir, key_2, 2);

    let s = TestServer::start(config(&Db::Sqlite, &dir)).await;
    login_with_totp(&s, &id, &secret, false, &[])
        .await
        .expect(200, None);
    s.stop().await;
}

//! The demo page in headless Chromium, driven by `tests/browser/run.mjs`,
//! `tests/browser/push.mjs` and `tests/browser/recovery.mjs`
//! (playwright-core). When Chromium
//! (`/usr/bin/chromium` or `CHROMIUM`), `node` or `tests/browser/node_modules`
//! is missing the test is recorded as skipped (a failure under `CI=true`);
//! `scripts/test` installs all three.

mod common;

use common::{Db, TestServer};
use mfa_core::testing::skip::skip;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    path.exists().then_some(path)
}

/// `target/browser`, where the screenshots go.
fn screenshot_dir() -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("browser");
    std::fs::create_dir_all(&out).expect("screenshot dir");
    out
}

/// Runs `script` with `args` in node against `s`; `false` when the test is
/// skipped (recorded) because Chromium, playwright-core or node is missing.
async fn run_node(test: &str, s: &TestServer, script: &str, args: &[OsString]) -> bool {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let Some(chromium) = chromium() else {
        skip(test, "no Chromium at /usr/bin/chromium or $CHROMIUM");
        return false;
    };
    if !dir.join("node_modules/playwright-core").exists() {
        skip(
            test,
            &format!(
                "playwright-core is not installed (npm ci in {})",
                dir.display()
            ),
        );
        return false;
    }
    // WebAuthn needs a domain: the development relying party is
    // `localhost`, the page's origin `http://localhost:<port>`.
    let base = s.base.replace("127.0.0.1", "localhost");
    let run = tokio::process::Command::new("node")
        .arg(dir.join(script))
        .arg(&base)
        .args(args)
        .env("CHROMIUM", &chromium)
        .current_dir(&dir)
        .kill_on_drop(true)
        .output();
    let output = match tokio::time::timeout(Duration::from_secs(120), run).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            skip(test, "node is not installed");
            return false;
        }
        Ok(Err(e)) => panic!("node could not run: {e}"),
        Err(_) => panic!("the browser test took over two minutes"),
    };
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the browser run failed");
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_page_enrols_totp_and_a_passkey_in_chromium() {
    let s = TestServer::on(&Db::Sqlite, "browser").await;
    let out = screenshot_dir();
    let screenshot = out.join("enrolment.png");
    let passkeys = out.join("passkeys.png");
    let _ = std::fs::remove_file(&screenshot);
    let _ = std::fs::remove_file(&passkeys);
    let ran = run_node(
        "demo_page_enrols_totp_and_a_passkey_in_chromium",
        &s,
        "run.mjs",
        &[screenshot.clone().into(), passkeys.clone().into()],
    )
    .await;
    if ran {
        for shot in [&screenshot, &passkeys] {
            assert!(shot.exists(), "no screenshot at {}", shot.display());
        }
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_page_signs_in_with_push_approval_in_chromium() {
    // A short cooldown between two pushes of one user: the script signs
    // in twice within seconds.
    let mut config = common::config(&Db::Sqlite, &common::data_dir("browser-push"));
    config.policy.push.cooldown = chrono::TimeDelta::seconds(1);
    let s = TestServer::start(config).await;
    let screenshot = screenshot_dir().join("push.png");
    let _ = std::fs::remove_file(&screenshot);
    let ran = run_node(
        "demo_page_signs_in_with_push_approval_in_chromium",
        &s,
        "push.mjs",
        &[s.dir.join("outbox.jsonl").into(), screenshot.clone().into()],
    )
    .await;
    if ran {
        assert!(
            screenshot.exists(),
            "no screenshot at {}",
            screenshot.display()
        );
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_page_verifies_the_email_and_resets_the_password_in_chromium() {
    let s = TestServer::on(&Db::Sqlite, "browser-recovery").await;
    let screenshot = screenshot_dir().join("reset.png");
    let _ = std::fs::remove_file(&screenshot);
    let ran = run_node(
        "demo_page_verifies_the_email_and_resets_the_password_in_chromium",
        &s,
        "recovery.mjs",
        &[s.dir.join("outbox.jsonl").into(), screenshot.clone().into()],
    )
    .await;
    if ran {
        assert!(
            screenshot.exists(),
            "no screenshot at {}",
            screenshot.display()
        );
    }
    s.stop().await;
}

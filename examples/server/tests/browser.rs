//! The demo page in headless Chromium, driven by `tests/browser/run.mjs`
//! (playwright-core). When Chromium (`/usr/bin/chromium` or `CHROMIUM`), `node`
//! or `tests/browser/node_modules` is missing the test is recorded as skipped
//! (a failure under `CI=true`); `scripts/test` installs all three.

mod common;

use common::{Db, TestServer};
use mfa_core::testing::skip::skip;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    path.exists().then_some(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_page_enrols_totp_and_a_passkey_in_chromium() {
    const TEST: &str = "demo_page_enrols_totp_and_a_passkey_in_chromium";
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let Some(chromium) = chromium() else {
        skip(TEST, "no Chromium at /usr/bin/chromium or $CHROMIUM");
        return;
    };
    if !dir.join("node_modules/playwright-core").exists() {
        skip(
            TEST,
            &format!(
                "playwright-core is not installed (npm ci in {})",
                dir.display()
            ),
        );
        return;
    }
    let s = TestServer::on(&Db::Sqlite, "browser").await;
    // target/browser/enrolment.png
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("browser");
    std::fs::create_dir_all(&out).expect("screenshot dir");
    let screenshot = out.join("enrolment.png");
    let passkeys = out.join("passkeys.png");
    let _ = std::fs::remove_file(&screenshot);
    let _ = std::fs::remove_file(&passkeys);
    // WebAuthn needs a domain: the development relying party is
    // `localhost`, the page's origin `http://localhost:<port>`.
    let base = s.base.replace("127.0.0.1", "localhost");
    let run = tokio::process::Command::new("node")
        .arg(dir.join("run.mjs"))
        .arg(&base)
        .arg(&screenshot)
        .arg(&passkeys)
        .env("CHROMIUM", &chromium)
        .current_dir(&dir)
        .kill_on_drop(true)
        .output();
    let output = match tokio::time::timeout(Duration::from_secs(120), run).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            s.stop().await;
            skip(TEST, "node is not installed");
            return;
        }
        Ok(Err(e)) => panic!("node could not run: {e}"),
        Err(_) => panic!("the browser test took over two minutes"),
    };
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the browser run failed");
    for shot in [&screenshot, &passkeys] {
        assert!(shot.exists(), "no screenshot at {}", shot.display());
    }
    s.stop().await;
}

//! Restarting on the same data directory keeps users and keys; restarting
//! with other keys is refused at start-up, with a message that says what to
//! do.

mod common;

use common::{
    Db, PASSWORD, Req, TestServer, config, data_dir, login_with_totp, unique, user_with_totp,
};
use mfa_core::crypto::{ExposeSecret, KeyRing};
use serde_json::json;
use std::path::Path;

/// Starts a server on `dir` that must be refused; returns its error.
async fn refused_start(dir: &Path) -> String {
    match TestServer::try_start(config(&Db::Sqlite, dir)).await {
        Ok(server) => {
            server.stop().await;
            panic!("the server started with keys that do not match its data")
        }
        Err(e) => e.to_string(),
    }
}

/// A fresh root secret, as the value of `MFA_ROOT_SECRET` (base64).
fn another_root_secret() -> String {
    KeyRing::generate_env()
        .expose_secret()
        .lines()
        .find_map(|l| l.strip_prefix("MFA_ROOT_SECRET="))
        .expect("a root secret line")
        .to_owned()
}

/// The value of `name` in the key file of `dir`.
fn key_file_value(dir: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(dir.join("keys.env")).expect("keys.env");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
        .expect("the variable is in keys.env")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_on_the_same_data_directory_keeps_users_and_keys() {
    let dir = data_dir("restart");
    let first = TestServer::start(config(&Db::Sqlite, &dir)).await;
    let id = unique("kim");
    first.signup(&id, PASSWORD).await.expect(201, None);
    let login = first.login(&id, PASSWORD, &[]).await;
    login.expect(200, None);
    let token = login.str("access_token");
    let refresh = login.str("refresh_token");
    let jwks = first.call(Req::get("/.well-known/jwks.json")).await.json;
    first.stop().await;
    for file in ["keys.env", "jwt-ed25519.pem", "mfa.sqlite3"] {
        assert!(dir.join(file).exists(), "{file} was not created");
    }

    let second = TestServer::start(config(&Db::Sqlite, &dir)).await;
    assert_eq!(
        second.call(Req::get("/.well-known/jwks.json")).await.json,
        jwks
    );
    // A token issued by the first run verifies in the second.
    let me = second
        .call(Req::get("/api/user/profile").bearer(&token))
        .await;
    me.expect(200, None);
    assert_eq!(me.json["identifier"], id);
    second
        .call(Req::post("/api/token/refresh").json(serde_json::json!({ "refresh_token": refresh })))
        .await
        .expect(200, None);
    second.login(&id, PASSWORD, &[]).await.expect(200, None);
    second.stop().await;
}

#[cfg(unix)]
#[tokio::test]
async fn development_keys_are_private_to_the_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = data_dir("key-perms");
    let s = TestServer::start(config(&Db::Sqlite, &dir)).await;
    s.stop().await;
    for file in ["keys.env", "jwt-ed25519.pem"] {
        let mode = std::fs::metadata(dir.join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{file} is readable by others");
    }
}

/// The key file deleted (a new one is generated) or replaced by other keys:
/// the restart is refused, naming the key and the variables to set, and
/// printing no key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_another_key_ring_is_refused_at_start_up() {
    let dir = data_dir("restart-other-keys");
    let first = TestServer::start(config(&Db::Sqlite, &dir)).await;
    first
        .signup(&unique("lee"), PASSWORD)
        .await
        .expect(201, None);
    first.stop().await;

    std::fs::remove_file(dir.join("keys.env")).expect("delete keys.env");
    let err = refused_start(&dir).await;
    assert!(
        err.contains("the key ring does not match this store: key 1 does not open the check value"),
        "{err}"
    );
    assert!(err.contains("MFA_AEAD_KEYS / MFA_ROOT_SECRET"), "{err}");
    for name in ["MFA_AEAD_KEYS", "MFA_ROOT_SECRET"] {
        let value = key_file_value(&dir, name);
        let secret = value.trim_start_matches("1:");
        assert!(
            !err.contains(&secret[..16]),
            "the error shows {name}: {err}"
        );
    }

    std::fs::write(
        dir.join("keys.env"),
        KeyRing::generate_env().expose_secret(),
    )
    .expect("replace keys.env");
    let err = refused_start(&dir).await;
    assert!(err.contains("key 1 does not open"), "{err}");
}

/// The same AEAD key with another root secret: refused, naming the root
/// secret (no stored backup code or device would match).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_another_root_secret_is_refused_at_start_up() {
    let dir = data_dir("restart-other-root");
    TestServer::start(config(&Db::Sqlite, &dir))
        .await
        .stop()
        .await;
    let aead = key_file_value(&dir, "MFA_AEAD_KEYS");
    let other_root = another_root_secret();
    std::fs::write(
        dir.join("keys.env"),
        format!("MFA_AEAD_KEYS={aead}\nMFA_AEAD_CURRENT_KEY=1\nMFA_ROOT_SECRET={other_root}\n"),
    )
    .expect("replace the root secret");
    let err = refused_start(&dir).await;
    assert!(
        err.contains(
            "the key ring does not match this store: the root secret (version 0) does not match"
        ),
        "{err}"
    );
}

/// With the right keys, what was enrolled before a restart works after it:
/// the TOTP seed (sealed) verifies a code, a backup code (keyed digest)
/// verifies, and the remembered device (fingerprint digest and trust
/// token) skips the second factor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_the_same_keys_keeps_totp_backup_codes_and_trusted_devices() {
    secrets_survive_a_restart("restart-secrets", false).await;
}

/// A second root secret added before a restart (`MFA_ROOT_SECRETS`, made
/// current) voids nothing: the backup codes and the trusted device made
/// under the first still work; then a key file without the new root is
/// refused, naming its version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_a_new_root_secret_keeps_backup_codes_and_trusted_devices() {
    let dir = secrets_survive_a_restart("restart-new-root", true).await;
    let text = std::fs::read_to_string(dir.join("keys.env")).expect("keys.env");
    let without: String = text
        .lines()
        .filter(|l| !l.starts_with("MFA_ROOT_SECRETS="))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.join("keys.env"), without).expect("drop the new root");
    let err = refused_start(&dir).await;
    assert!(
        err.contains("root secret version 1, which the key ring lacks"),
        "{err}"
    );
}

/// Enrols TOTP with backup codes and remembers a device, restarts on the
/// same directory (with a new current root secret added to the key file
/// when `new_root`), and signs in with TOTP, a backup code and the
/// device; returns the directory.
async fn secrets_survive_a_restart(name: &str, new_root: bool) -> std::path::PathBuf {
    let dir = data_dir(name);
    let first = TestServer::start(config(&Db::Sqlite, &dir)).await;
    let (id, secret, backup) = user_with_totp(&first).await;
    let fp = [("x-device-fingerprint", "laptop-restart".to_owned())];
    // Remember the device with a backup code, so the next TOTP step is
    // still unused after the restart.
    let login = first.login(&id, PASSWORD, &fp).await;
    login.expect(200, None);
    let remembered = first
        .call(
            Req::post("/api/mfa/verify")
                .header(fp[0].0, fp[0].1.clone())
                .json(json!({
                    "ticket": login.str("ticket"),
                    "method": "backup_codes",
                    "code": backup[0],
                    "remember_device": true,
                })),
        )
        .await;
    remembered.expect(200, None);
    let cookie = remembered.cookie("mfa_trust").expect("a trust cookie");
    first.stop().await;
    if new_root {
        let text = std::fs::read_to_string(dir.join("keys.env")).expect("keys.env");
        let other_root = another_root_secret();
        assert_ne!(key_file_value(&dir, "MFA_ROOT_SECRET"), other_root);
        std::fs::write(
            dir.join("keys.env"),
            format!("{text}MFA_ROOT_SECRETS=1:{other_root}\n"),
        )
        .expect("add a root secret");
    }

    let second = TestServer::start(config(&Db::Sqlite, &dir)).await;
    login_with_totp(&second, &id, &secret, false, &[])
        .await
        .expect(200, None);

    let login = second.login(&id, PASSWORD, &[]).await;
    login.expect(200, None);
    second
        .call(Req::post("/api/mfa/verify").json(json!({
            "ticket": login.str("ticket"),
            "method": "backup_codes",
            "code": backup[1],
        })))
        .await
        .expect(200, None);

    let trusted = second
        .login(&id, PASSWORD, &[fp[0].clone(), ("cookie", cookie)])
        .await;
    trusted.expect(200, None);
    assert_eq!(trusted.json["mfa_required"], false, "{}", trusted.text);
    assert!(
        trusted.json["amr"]
            .as_array()
            .is_some_and(|amr| amr.contains(&json!("device"))),
        "{}",
        trusted.text
    );
    second.stop().await;
    dir
}

/// Keys from the environment (as in production), and the binary as an
/// operator runs it: a restart with other key variables exits with the
/// key error in its log; with the first ones it starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_exits_at_start_up_when_its_key_variables_change() {
    let env_of = |keys: &str| -> Vec<(&'static str, String)> {
        ["MFA_AEAD_KEYS", "MFA_AEAD_CURRENT_KEY", "MFA_ROOT_SECRET"]
            .into_iter()
            .map(|name| {
                let value = keys
                    .lines()
                    .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
                    .expect("a generated variable");
                (name, value.to_owned())
            })
            .chain([("MFA_DELIVERY", "outbox".to_owned())])
            .collect()
    };
    let first_keys = KeyRing::generate_env();
    let first = env_of(first_keys.expose_secret());
    let dir = data_dir("restart-env");
    TestServer::spawn_process(&dir, &first).await.stop().await;
    assert!(
        !dir.join("keys.env").exists(),
        "keys from the environment write no key file"
    );

    let other = env_of(KeyRing::generate_env().expose_secret());
    let (status, log) = TestServer::run_process_to_exit(&dir, &other).await;
    assert!(!status.success(), "exit status {status}");
    assert!(
        log.contains("the key ring does not match this store: key 1 does not open"),
        "{log}"
    );
    for (name, value) in &other[..3] {
        let secret = value.trim_start_matches("1:");
        if secret.len() > 8 {
            assert!(!log.contains(secret), "the log shows {name}");
        }
    }

    TestServer::spawn_process(&dir, &first).await.stop().await;
}

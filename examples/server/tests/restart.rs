//! Restarting on the same data directory keeps users and keys.

mod common;

use common::{Db, PASSWORD, Req, TestServer, config, data_dir, unique};

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

//! `MFA_GEOIP_DB`: the service locates its clients with a MaxMind database
//! (built here by `mfa_core::testing::mmdb`), and refuses to start with one
//! it cannot use. SQLite only: nothing here depends on the store.

#[macro_use]
mod common;

use common::{Db, PASSWORD, Req, TestServer, config, data_dir, unique};
use mfa_core::testing::mmdb::{MmdbWriter, Value, city};
use mfa_server::StartError;
use std::path::{Path, PathBuf};

/// Zurich and Sydney, on documentation networks.
fn write_world(dir: &Path) -> PathBuf {
    let path = dir.join("GeoLite2-City.mmdb");
    MmdbWriter::new("GeoLite2-City")
        .insert(
            "192.0.2.0".parse().unwrap(),
            24,
            city("CH", 47.3769, 8.5417),
        )
        .insert(
            "198.51.100.0".parse().unwrap(),
            24,
            city("AU", -33.8688, 151.2093),
        )
        .write(&path)
        .expect("the test database is written");
    path
}

/// Why the service refused `geoip_db`.
async fn refusal(name: &str, geoip_db: PathBuf) -> String {
    let dir = data_dir(name);
    let mut c = config(&Db::Sqlite, &dir);
    c.geoip_db = Some(geoip_db);
    match TestServer::try_start(c).await {
        Ok(_) => panic!("{name}: started with an unusable geolocation database"),
        Err(StartError::Config(e)) => {
            assert_eq!(e.variable, "MFA_GEOIP_DB", "{name}: {e}");
            e.to_string()
        }
        Err(other) => panic!("{name}: refused for another reason: {other}"),
    }
}

#[tokio::test]
async fn an_unusable_geoip_database_stops_the_service_at_start() {
    let dir = data_dir("geoip-bad");
    let missing = refusal("geoip-missing", dir.join("nowhere.mmdb")).await;
    assert!(missing.contains("cannot read"), "{missing}");
    assert!(missing.contains("nowhere.mmdb"), "{missing}");

    let garbage = dir.join("garbage.mmdb");
    std::fs::write(&garbage, b"<html>not a database</html>").unwrap();
    let invalid = refusal("geoip-garbage", garbage).await;
    assert!(invalid.contains("not a valid MaxMind DB"), "{invalid}");

    let asn = dir.join("GeoLite2-ASN.mmdb");
    MmdbWriter::new("GeoLite2-ASN")
        .insert(
            "192.0.2.0".parse().unwrap(),
            24,
            Value::map([("autonomous_system_number", Value::Uint32(64_496))]),
        )
        .write(&asn)
        .unwrap();
    let wrong_kind = refusal("geoip-asn", asn).await;
    assert!(wrong_kind.contains("City or Country"), "{wrong_kind}");
}

/// The operator's view: the binary exits with a failure and logs the
/// variable and the reason.
#[tokio::test]
async fn the_binary_names_the_variable_when_the_database_is_missing() {
    let dir = data_dir("geoip-process");
    let (status, log) = TestServer::run_process_to_exit(
        &dir,
        &[(
            "MFA_GEOIP_DB",
            dir.join("absent.mmdb").display().to_string(),
        )],
    )
    .await;
    assert!(!status.success(), "exit status {status}");
    assert!(log.contains("MFA_GEOIP_DB: cannot read"), "{log}");
}

/// A sign-in from Zurich (behind a trusted proxy) carries country `CH` on
/// its session, device and audit events; the same laptop in Sydney a
/// moment later is refused as impossible travel to a new country.
#[tokio::test]
async fn sign_ins_are_located_and_impossible_travel_is_refused() {
    let dir = data_dir("geoip-on");
    let mut c = config(&Db::Sqlite, &dir);
    c.geoip_db = Some(write_world(&dir));
    c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let s = TestServer::start(c).await;
    let id = unique("nora");
    s.signup(&id, PASSWORD).await.expect(201, None);
    let from = |ip: &str| {
        [
            ("x-forwarded-for", ip.to_owned()),
            ("x-device-fingerprint", "fp-nora".to_owned()),
        ]
    };
    let login = s.login(&id, PASSWORD, &from("192.0.2.10")).await;
    login.expect(200, None);
    let token = login.str("access_token");

    let sessions = s.call(Req::get("/api/sessions").bearer(&token)).await;
    sessions.expect(200, None);
    assert_eq!(sessions.json["sessions"][0]["country"], "CH");
    let device = s
        .call(
            Req::post("/api/device/register")
                .bearer(&token)
                .header("x-forwarded-for", "192.0.2.10")
                .header("x-device-fingerprint", "fp-nora"),
        )
        .await;
    device.expect(200, None);
    assert_eq!(device.json["device"]["last_country"], "CH");
    let audit = s
        .call(Req::get("/api/audit?limit=100").bearer(&token))
        .await;
    let items = audit.json["items"].as_array().unwrap();
    let password_login = items
        .iter()
        .find(|e| e["kind"] == "password_login")
        .expect("the sign-in is audited");
    assert_eq!(password_login["country"], "CH");

    s.login(&id, PASSWORD, &from("198.51.100.20"))
        .await
        .expect(403, Some("login_blocked"));
    let audit = s
        .call(Req::get("/api/audit?limit=100").bearer(&token))
        .await;
    let refused = audit.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "login_refused")
        .expect("the refusal is audited")
        .clone();
    assert_eq!(refused["country"], "AU");
    let signals = refused["metadata"]["signals"].as_array().unwrap();
    assert!(
        signals.iter().any(|v| v == "impossible_travel"),
        "{refused}"
    );
    assert!(signals.iter().any(|v| v == "new_country"), "{refused}");
    s.stop().await;
}

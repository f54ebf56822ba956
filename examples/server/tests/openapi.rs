//! The OpenAPI document describes exactly the routes the server serves.

mod common;

use common::{Db, TestServer};
use mfa_server::{api, openapi};

#[test]
fn every_served_route_is_documented_and_nothing_else() {
    let served: Vec<(String, String)> = api::route_list()
        .into_iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    let documented = openapi::documented_routes(&openapi::document());
    let undocumented: Vec<_> = served.iter().filter(|r| !documented.contains(r)).collect();
    let unserved: Vec<_> = documented.iter().filter(|r| !served.contains(r)).collect();
    assert!(
        undocumented.is_empty(),
        "served but not documented: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "documented but not served: {unserved:?}"
    );
}

#[test]
fn the_document_is_openapi_3_1_with_resolvable_references() {
    let doc = openapi::document();
    assert_eq!(doc["openapi"], "3.1.0");
    let text = doc.to_string();
    for piece in text.split("\"$ref\":\"").skip(1) {
        let target = piece.split('"').next().unwrap();
        let path = target.trim_start_matches("#/");
        let mut node = &doc;
        for segment in path.split('/') {
            node = &node[segment];
        }
        assert!(!node.is_null(), "unresolved reference {target}");
    }
    let mut ids = std::collections::HashSet::new();
    for (_, item) in doc["paths"].as_object().unwrap() {
        for (_, op) in item.as_object().unwrap() {
            assert!(ids.insert(op["operationId"].as_str().unwrap().to_owned()));
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
        }
    }
}

/// The live server answers every documented operation with something other
/// than "no such route" (404 without an error body, or 405).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_routed_by_the_live_server() {
    let s = TestServer::on(&Db::Sqlite, "openapi").await;
    let served = s.call(common::Req::get("/openapi.json")).await.json;
    assert_eq!(served, openapi::document());
    for (method, path) in openapi::documented_routes(&served) {
        let concrete = path.replace("{id}", &uuid::Uuid::new_v4().to_string());
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = s
            .http
            .request(method.clone(), s.url(&concrete))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        assert_ne!(status, 405, "{method} {path}");
        assert!(
            status != 404 || body["error"] == "not_found",
            "{method} {path} is not routed"
        );
    }
    s.stop().await;
}

/// `openapi-spec-validator` (PyPI; `.ci/run` installs it) accepts the
/// document. Skipped, with a note, when the validator is not installed.
#[test]
fn the_document_passes_openapi_spec_validator() {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("mfa-server-openapi.json");
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&openapi::document()).unwrap(),
    )
    .unwrap();
    let output = match std::process::Command::new("openapi-spec-validator")
        .arg(&path)
        .output()
    {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            mfa_core::testing::skip::skip(
                "the_document_passes_openapi_spec_validator",
                "openapi-spec-validator is not installed (scripts/test installs it)",
            );
            return;
        }
        Err(e) => panic!("openapi-spec-validator could not run: {e}"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "invalid OpenAPI document:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("OK"), "{stdout}");
}

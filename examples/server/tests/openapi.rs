//! The OpenAPI document describes exactly the routes the server serves.

mod common;

use common::schema::{Exchange, check_exchange};
use common::{Db, TestServer};
use mfa_server::{api, openapi};
use serde_json::{Value, json};

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

/// A small document for the checker's own test.
fn doc() -> Value {
    json!({
        "paths": {
            "/api/thing/{id}": { "get": { "responses": {
                "200": { "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Thing" } } } },
                "204": { "description": "none" }
            } } },
            "/api/thing/all": { "get": { "responses": { "200": { "description": "no body" } } } },
            "/api/tagged": { "get": { "responses": {
                "200": { "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Tagged" } } } }
            } } },
            "/api/thing": { "post": {
                "requestBody": { "content": { "application/json": { "schema": {
                    "type": "object", "required": ["kind"], "properties": { "kind": { "type": "string" } }
                } } } },
                "responses": { "204": { "description": "made" }, "400": { "description": "refused" } }
            } }
        },
        "components": { "schemas": {
          "Tagged": { "allOf": [
            { "$ref": "#/components/schemas/Thing" },
            { "type": "object", "required": ["label"], "properties": { "label": { "type": "string" } } }
          ] },
          "Thing": {
            "type": "object", "required": ["id", "at"],
            "properties": {
                "id": { "type": "string", "format": "uuid" },
                "at": { "type": "string", "format": "date-time" },
                "n": { "type": ["integer", "null"], "minimum": 0 },
                "kind": { "type": "string", "enum": ["a", "b"] },
                "tags": { "type": "array", "maxItems": 2, "items": { "type": "string", "maxLength": 3 } },
                "other": { "oneOf": [ { "$ref": "#/components/schemas/Thing" }, { "type": "null" } ] }
            }
        } } }
    })
}

const GOOD: &str = r#"{"id":"6f1c1f4e-2f9b-4c3e-9d2a-0c8b7e6f5a4d","at":"2026-12-05T10:00:00Z","n":null,"kind":"a","tags":["x"],"other":null}"#;

/// The checker every test's calls go through (see `common::schema`)
/// passes what the document says and names each kind of drift.
#[test]
fn a_matching_exchange_passes_and_each_drift_is_named() {
    let doc = doc();
    let get = |path: &str, status: u16, body: &str| {
        check_exchange(
            &doc,
            &Exchange {
                method: "GET",
                path,
                request: None,
                status,
                response: body,
            },
        )
    };
    assert_eq!(get("/api/thing/1?x=y", 200, GOOD), Ok(()));
    assert_eq!(get("/api/thing/1", 204, ""), Ok(()));
    assert_eq!(
        get("/api/thing/all", 200, "<html>"),
        Ok(()),
        "the literal path wins"
    );
    assert_eq!(
        get("/api/nothing", 404, ""),
        Ok(()),
        "not an operation: not judged"
    );
    for (body, drift) in [
        (r#"{"id":"x","at":"2026-12-05T10:00:00Z"}"#, "is not a"),
        (
            r#"{"id":"6f1c1f4e-2f9b-4c3e-9d2a-0c8b7e6f5a4d"}"#,
            "required field \"at\"",
        ),
        (&GOOD.replace(r#""n":null"#, r#""n":-1"#), "outside minimum"),
        (
            &GOOD.replace(r#""kind":"a""#, r#""kind":"c""#),
            "is not one of",
        ),
        (
            &GOOD.replace(r#"["x"]"#, r#"["long"]"#),
            "outside maxLength",
        ),
        (
            &GOOD.replace(r#"["x"]"#, r#"["x","y","z"]"#),
            "outside maxItems",
        ),
        (&GOOD.replace(r#""n":null"#, r#""n":"1""#), "is not of type"),
        (
            &GOOD.replace(r#""other":null"#, r#""other":{}"#),
            "matches 0 of oneOf",
        ),
        (
            &GOOD.replace(r#""n":null"#, r#""extra":1"#),
            "\"extra\" is not documented",
        ),
        ("not json", "the body is not"),
    ] {
        let error = get("/api/thing/1", 200, body).unwrap_err();
        assert!(error.contains(drift), "{drift}: {error}");
    }
    let error = get("/api/thing/1", 500, "").unwrap_err();
    assert!(error.contains("status not documented"), "{error}");

    // The parts of an allOf are one object: their fields together, no
    // other, every part's required ones.
    let tagged = |body: &str| {
        check_exchange(
            &doc,
            &Exchange {
                method: "GET",
                path: "/api/tagged",
                request: None,
                status: 200,
                response: body,
            },
        )
    };
    let with_label = GOOD.replace(r#""n":null"#, r#""label":"l""#);
    assert_eq!(tagged(&with_label), Ok(()));
    assert!(
        tagged(GOOD)
            .unwrap_err()
            .contains("required field \"label\"")
    );
    let extra = with_label.replace(r#""kind":"a""#, r#""extra":1"#);
    assert!(
        tagged(&extra)
            .unwrap_err()
            .contains("\"extra\" is not documented")
    );

    // A request is judged when the service accepted it.
    let post = |request: Option<&Value>, status: u16| {
        check_exchange(
            &doc,
            &Exchange {
                method: "POST",
                path: "/api/thing",
                request,
                status,
                response: "",
            },
        )
    };
    assert_eq!(post(Some(&json!({ "kind": "a" })), 204), Ok(()));
    let extra = json!({ "kind": "a", "colour": "red" });
    assert!(
        post(Some(&extra), 204)
            .unwrap_err()
            .contains("\"colour\" is not documented")
    );
    assert_eq!(post(Some(&extra), 400), Ok(()), "a refusal is not judged");
    assert!(
        post(None, 204)
            .unwrap_err()
            .contains("required field \"kind\""),
        "no body reads as {{}}"
    );
}

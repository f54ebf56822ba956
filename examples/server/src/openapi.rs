//! The OpenAPI 3.1 description of the service: the MFA API's document from
//! `mfa-axum`, plus the service's own routes. A test holds it to the route
//! table: every served route is documented, and nothing else is.

pub use mfa_axum::openapi::documented_routes;
use serde_json::{Value, json};

/// The service's own operations: (path, method, operation).
fn own_operations() -> [(&'static str, &'static str, Value); 6] {
    let ok = |description: &str, schema: Option<&str>| match schema {
        Some(schema) => {
            json!({ "200": { "description": description, "content": { "application/json": {
            "schema": { "$ref": format!("#/components/schemas/{schema}") } } } } })
        }
        None => json!({ "200": { "description": description } }),
    };
    let op = |id: &str, tag: &str, summary: &str, responses: Value| json!({ "operationId": id, "summary": summary, "tags": [tag], "responses": responses });
    let mut ready = ok("Ready", Some("Status"));
    ready["503"] = json!({ "description": "The store does not answer", "content": {
        "application/json": { "schema": { "$ref": "#/components/schemas/Status" } } } });
    [
        (
            "/",
            "get",
            op(
                "demoPage",
                "demo",
                "The demo web page",
                ok("HTML page", None),
            ),
        ),
        (
            "/app.js",
            "get",
            op(
                "demoScript",
                "demo",
                "The demo page's script",
                ok("JavaScript", None),
            ),
        ),
        (
            "/healthz",
            "get",
            op(
                "health",
                "operations",
                "Liveness probe",
                ok("Up", Some("Status")),
            ),
        ),
        (
            "/readyz",
            "get",
            op(
                "ready",
                "operations",
                "Readiness probe (checks the store)",
                ready,
            ),
        ),
        (
            "/.well-known/jwks.json",
            "get",
            op(
                "jwks",
                "operations",
                "Public keys of access tokens",
                ok("JWK set", Some("Jwks")),
            ),
        ),
        (
            "/openapi.json",
            "get",
            op(
                "openapi",
                "operations",
                "This document",
                ok("OpenAPI 3.1 document", None),
            ),
        ),
    ]
}

/// The OpenAPI document of the service.
#[must_use]
pub fn document() -> Value {
    let mut doc = mfa_axum::openapi::document();
    doc["info"]["title"] = json!("mfa-rs example service");
    for (path, method, op) in own_operations() {
        doc["paths"][path][method] = op;
    }
    let schemas = &mut doc["components"]["schemas"];
    schemas["Status"] = json!({ "type": "object", "required": ["status"], "properties": {
        "status": { "type": "string" }, "store": { "type": "string" } } });
    schemas["Jwks"] = json!({ "type": "object", "required": ["keys"], "properties": {
        "keys": { "type": "array", "items": { "type": "object" } } } });
    doc
}

//! Every exchange the service tests make is held to the OpenAPI document
//! the service serves: the response's status must be one the operation
//! documents and a JSON body must match the documented schema, field by
//! field; a request the service accepted must match the documented
//! request body. So the document cannot drift from what the code really
//! sends and takes, on any route a test reaches.
//!
//! The checker knows the part of JSON Schema the document uses: `$ref`,
//! `allOf` (of objects, judged as their merged object), `oneOf`, `type`
//! (one or a list), `enum`, `const`, `format` (`date-time`, `uuid`,
//! `int32`, `int64`), `additionalProperties: false`, `minimum`,
//! `maximum`, `minLength`, `maxLength`, `minItems`, `maxItems`,
//! `required`, `properties` and `items`. It is stricter than JSON Schema
//! in one way: an object whose schema lists `properties` may have no
//! other field (an undocumented field is drift too). Anything else in a
//! schema is an error, so that a schema the checker cannot judge is never
//! passed.

use serde_json::Value;

/// What the document does not describe, in words.
pub type Mismatch = String;

/// One exchange with the service, as a test made it.
pub struct Exchange<'a> {
    /// The method, as sent.
    pub method: &'a str,
    /// The path as requested, with any query.
    pub path: &'a str,
    /// The JSON body sent, if any.
    pub request: Option<&'a Value>,
    /// The status answered.
    pub status: u16,
    /// The body answered.
    pub response: &'a str,
}

/// Checks an exchange against `doc`: the status must be documented for
/// the operation and a JSON response match its schema; and a request the
/// service accepted (2xx) must match the documented request body (no
/// body counts as `{}`, which the service reads an empty body as). A path
/// that names no documented operation is not judged: the router answers
/// it (404 or 405), which the route tests cover.
pub fn check_exchange(doc: &Value, exchange: &Exchange<'_>) -> Result<(), Mismatch> {
    let Exchange {
        method,
        path,
        request,
        status,
        response: body,
    } = *exchange;
    let path = path.split('?').next().unwrap_or_default();
    let Some((template, operation)) = operation(doc, &method.to_ascii_lowercase(), path) else {
        return Ok(());
    };
    let here = format!("{method} {template} → {status}");
    let checker = Checker { doc };
    if (200..300).contains(&status)
        && let Some(schema) = json_schema(&operation["requestBody"])
    {
        let empty = Value::Object(serde_json::Map::new());
        let sent = request.unwrap_or(&empty);
        let mut problems = Vec::new();
        checker.check(schema, sent, "request", &mut problems);
        if !problems.is_empty() {
            return Err(format!(
                "{here}: the service accepted a request the document refuses:\n  {}\nrequest: {sent}",
                problems.join("\n  ")
            ));
        }
    }
    let Some(response) = operation["responses"].get(status.to_string()) else {
        return Err(format!("{here}: status not documented; body: {body}"));
    };
    let Some(schema) = json_schema(response) else {
        return Ok(());
    };
    let value: Value = serde_json::from_str(body)
        .map_err(|e| format!("{here}: documented as JSON, but the body is not ({e}): {body}"))?;
    let mut problems = Vec::new();
    checker.check(schema, &value, "$", &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{here}:\n  {}\nbody: {body}",
            problems.join("\n  ")
        ))
    }
}

/// The JSON schema of a request body or response object, if it has one.
fn json_schema(described: &Value) -> Option<&Value> {
    described
        .get("content")
        .and_then(|c| c.get("application/json"))
        .and_then(|c| c.get("schema"))
}

/// The documented operation `path` falls under: the template whose
/// segments match, the one with the fewest parameters when several do
/// (`/api/device/revoke-all` before `/api/device/{id}`).
fn operation<'d>(doc: &'d Value, method: &str, path: &str) -> Option<(&'d str, &'d Value)> {
    let segments: Vec<&str> = path.split('/').collect();
    doc["paths"]
        .as_object()?
        .iter()
        .filter_map(|(template, item)| {
            let parts: Vec<&str> = template.split('/').collect();
            let matches = parts.len() == segments.len()
                && parts.iter().zip(&segments).all(|(part, segment)| {
                    part == segment || (part.starts_with('{') && !segment.is_empty())
                });
            let op = item.get(method)?;
            matches.then(|| {
                (
                    template.as_str(),
                    op,
                    parts.iter().filter(|p| p.starts_with('{')).count(),
                )
            })
        })
        .min_by_key(|(_, _, params)| *params)
        .map(|(template, op, _)| (template, op))
}

struct Checker<'d> {
    doc: &'d Value,
}

/// The JSON type names a value has (an integer is a `number` too).
fn types_of(value: &Value) -> &'static [&'static str] {
    match value {
        Value::Null => &["null"],
        Value::Bool(_) => &["boolean"],
        Value::Number(n) if n.is_i64() || n.is_u64() => &["integer", "number"],
        Value::Number(_) => &["number"],
        Value::String(_) => &["string"],
        Value::Array(_) => &["array"],
        Value::Object(_) => &["object"],
    }
}

impl<'d> Checker<'d> {
    fn resolve(&self, reference: &str) -> Option<&'d Value> {
        let mut node = self.doc;
        for segment in reference.strip_prefix("#/")?.split('/') {
            node = node.get(segment)?;
        }
        Some(node)
    }

    /// Adds the properties and required fields of every object in `parts`
    /// (references followed, nested `allOf` too) to `whole`.
    fn merge_parts(&self, parts: &Value, whole: &mut Value, at: &str, problems: &mut Vec<String>) {
        for part in parts.as_array().into_iter().flatten() {
            let part = match part.get("$ref").and_then(Value::as_str) {
                Some(reference) => match self.resolve(reference) {
                    Some(target) => target,
                    None => {
                        problems.push(format!("{at}: unresolved reference {reference}"));
                        continue;
                    }
                },
                None => part,
            };
            if let Some(nested) = part.get("allOf") {
                self.merge_parts(nested, whole, at, problems);
                continue;
            }
            if part.get("type").and_then(Value::as_str) != Some("object") {
                problems.push(format!("{at}: an allOf part is not an object: {part}"));
                continue;
            }
            if let (Some(into), Some(from)) = (
                whole["properties"].as_object_mut(),
                part.get("properties").and_then(Value::as_object),
            ) {
                into.extend(from.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            if let (Some(into), Some(from)) = (
                whole["required"].as_array_mut(),
                part.get("required").and_then(Value::as_array),
            ) {
                into.extend(from.iter().cloned());
            }
        }
    }

    fn check(&self, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
        let Some(schema) = schema.as_object() else {
            problems.push(format!("{at}: the schema is not an object"));
            return;
        };
        for (keyword, rule) in schema {
            match keyword.as_str() {
                "$ref" => match rule.as_str().and_then(|r| self.resolve(r)) {
                    Some(target) => self.check(target, value, at, problems),
                    None => problems.push(format!("{at}: unresolved reference {rule}")),
                },
                // Parts of one object (a type with flattened fields):
                // judged as that object, so the strictness about
                // undocumented fields applies to the whole.
                "allOf" => {
                    let mut whole = serde_json::json!({
                        "type": "object", "properties": {}, "required": []
                    });
                    self.merge_parts(rule, &mut whole, at, problems);
                    self.check(&whole, value, at, problems);
                }
                "oneOf" => {
                    let matching = rule
                        .as_array()
                        .map(|options| {
                            options
                                .iter()
                                .filter(|option| {
                                    let mut sub = Vec::new();
                                    self.check(option, value, at, &mut sub);
                                    sub.is_empty()
                                })
                                .count()
                        })
                        .unwrap_or_default();
                    if matching != 1 {
                        problems.push(format!("{at}: matches {matching} of oneOf, not 1: {value}"));
                    }
                }
                "type" => {
                    let allowed: Vec<&str> = match rule {
                        Value::String(t) => vec![t.as_str()],
                        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                        _ => Vec::new(),
                    };
                    if !types_of(value).iter().any(|t| allowed.contains(t)) {
                        problems.push(format!("{at}: {value} is not of type {rule}"));
                    }
                }
                "enum" => {
                    if !rule
                        .as_array()
                        .is_some_and(|options| options.contains(value))
                    {
                        problems.push(format!("{at}: {value} is not one of {rule}"));
                    }
                }
                "const" => {
                    if rule != value {
                        problems.push(format!("{at}: {value} is not {rule}"));
                    }
                }
                "format" if matches!(rule.as_str(), Some("int32" | "int64")) => {
                    let fits = match rule.as_str() {
                        Some("int32") => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
                        _ => value.is_i64(),
                    };
                    if value.is_number() && !fits {
                        problems.push(format!("{at}: {value} is not an {rule}"));
                    }
                }
                "format" => {
                    if let Value::String(text) = value {
                        let ok = match rule.as_str() {
                            Some("date-time") => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
                            Some("uuid") => uuid::Uuid::parse_str(text).is_ok(),
                            _ => {
                                problems.push(format!("{at}: unknown format {rule}"));
                                true
                            }
                        };
                        if !ok {
                            problems.push(format!("{at}: {value} is not a {rule}"));
                        }
                    }
                }
                "minimum" | "maximum" | "minLength" | "maxLength" | "minItems" | "maxItems" => {
                    // The measure each bound applies to: a number, a
                    // string's length, an array's size; other values pass.
                    let measured = match (keyword.as_str(), value) {
                        ("minimum" | "maximum", _) => value.as_f64(),
                        ("minLength" | "maxLength", Value::String(text)) => {
                            Some(text.chars().count() as f64)
                        }
                        ("minItems" | "maxItems", Value::Array(items)) => Some(items.len() as f64),
                        _ => None,
                    };
                    if let (Some(measure), Some(bound)) = (measured, rule.as_f64()) {
                        let ok = if keyword.starts_with("min") {
                            measure >= bound
                        } else {
                            measure <= bound
                        };
                        if !ok {
                            problems.push(format!("{at}: {value} is outside {keyword} {rule}"));
                        }
                    }
                }
                "required" => {
                    if let Value::Object(fields) = value {
                        for name in rule
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                        {
                            if !fields.contains_key(name) {
                                problems.push(format!("{at}: required field {name:?} is missing"));
                            }
                        }
                    }
                }
                "properties" => {
                    if let (Value::Object(fields), Some(properties)) = (value, rule.as_object()) {
                        for (name, field) in fields {
                            match properties.get(name) {
                                Some(schema) => {
                                    self.check(schema, field, &format!("{at}.{name}"), problems);
                                }
                                None => problems.push(format!(
                                    "{at}: field {name:?} is not documented (value {field})"
                                )),
                            }
                        }
                    }
                }
                // The derived schemas say so of every object; the
                // checker refuses an undocumented field anyway.
                "additionalProperties" if rule == &Value::Bool(false) => {}
                "items" => {
                    if let Value::Array(items) = value {
                        for (i, item) in items.iter().enumerate() {
                            self.check(rule, item, &format!("{at}[{i}]"), problems);
                        }
                    }
                }
                "description" | "default" | "example" | "title" => {}
                other => problems.push(format!("{at}: the checker does not know {other:?}")),
            }
        }
    }
}

//! R52: secrets are compared in constant time. Two code-search checks keep
//! it that way: digest types get their equality from `subtle`, and no
//! library source applies `==` or `!=` to exposed secret bytes (the
//! constant-time comparisons go through `ct_eq`).

use std::fs;
use std::path::{Path, PathBuf};

/// Library and service sources (tests and the `testing` module excluded).
const SOURCES: &[&str] = &[
    "mfa-core/src",
    "mfa-store-memory/src",
    "mfa-store-sql/src",
    "mfa-store-sqlx/src",
    "mfa-store-diesel/src",
    "mfa-delivery/src",
    "mfa-axum/src",
    "examples/server/src",
];

/// Calls that hand out secret or digest bytes.
const EXPOSERS: &[&str] = &[".expose()", ".expose_secret()", ".as_bytes()"];

use mfa_checks::workspace_root;

fn rust_files_into(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "testing") {
                rust_files_into(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The lines of `source` before its unit-test module.
fn non_test_lines(source: &str) -> impl Iterator<Item = (usize, &str)> {
    source
        .lines()
        .enumerate()
        .take_while(|(_, line)| !line.trim_start().starts_with("#[cfg(test)]"))
        .map(|(i, line)| (i + 1, line))
}

/// A line that compares exposed bytes with `==` or `!=` (lengths aside).
fn compares_exposed_bytes(line: &str) -> bool {
    let code = line.split("//").next().unwrap_or_default();
    (code.contains("==") || code.contains("!="))
        && EXPOSERS.iter().any(|e| code.contains(e))
        && !code.contains(".len()")
}

#[test]
fn the_search_recognises_what_it_looks_for() {
    assert!(compares_exposed_bytes("if code.expose() == stored {"));
    assert!(compares_exposed_bytes("a.as_bytes() != b.as_bytes()"));
    assert!(!compares_exposed_bytes("a.as_bytes().ct_eq(b.as_bytes())"));
    assert!(!compares_exposed_bytes("x.as_bytes().len() == 32"));
    assert!(!compares_exposed_bytes("// a.expose() == b"));
}

#[test]
fn r52_secret_bytes_are_never_compared_with_eq() {
    let root = workspace_root();
    let mut files = Vec::new();
    for dir in SOURCES {
        rust_files_into(&root.join(dir), &mut files);
    }
    assert!(
        files.len() > 50,
        "source search found only {} files",
        files.len()
    );
    let mut offences = Vec::new();
    for file in &files {
        let source = fs::read_to_string(file).expect("readable source");
        for (n, line) in non_test_lines(&source) {
            if compares_exposed_bytes(line) {
                offences.push(format!("{}:{n}: {}", file.display(), line.trim()));
            }
        }
    }
    assert!(
        offences.is_empty(),
        "compare secrets with subtle's ct_eq, not ==:\n{}",
        offences.join("\n")
    );
}

#[test]
fn r52_digest_equality_is_constant_time() {
    let source = fs::read_to_string(workspace_root().join("mfa-core/src/model/digest.rs"))
        .expect("digest.rs");
    // The macro that defines every digest type (token, code, fingerprint…).
    let start = source
        .find("macro_rules! digest_type")
        .expect("digest types come from one macro");
    let end = start + source[start..].find("\n}\n").expect("end of the macro");
    let code = &source[start..end];
    let derives_eq = code
        .split("derive(")
        .skip(1)
        .filter_map(|d| d.split(')').next())
        .any(|list| list.contains("PartialEq"));
    assert!(
        !derives_eq,
        "digest types must not derive PartialEq (it short-circuits)"
    );
    let eq = code
        .find("impl PartialEq for")
        .expect("digest types implement PartialEq by hand");
    assert!(
        code[eq..].contains("ct_eq("),
        "digest equality must go through subtle's ct_eq"
    );
}

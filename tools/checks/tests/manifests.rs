//! The manifests of the workspace: every member inherits the workspace
//! lints (so `unsafe_code` is forbidden everywhere, with no attribute to
//! forget), and every crate meant for crates.io carries what a registry
//! page and docs.rs need.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

use mfa_checks::workspace_root;

/// `cargo metadata` of the workspace members.
fn packages() -> Vec<Value> {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("metadata is JSON");
    metadata["packages"]
        .as_array()
        .expect("a package list")
        .clone()
}

fn manifest_dir(package: &Value) -> PathBuf {
    Path::new(package["manifest_path"].as_str().expect("a manifest path"))
        .parent()
        .expect("a manifest directory")
        .to_path_buf()
}

fn publishable(package: &Value) -> bool {
    // `publish = false` shows as an empty list of registries.
    package["publish"]
        .as_array()
        .is_none_or(|registries| !registries.is_empty())
}

/// The crates we publish, in dependency order.
const PUBLISHED: &[&str] = &[
    "mfa-core",
    "mfa-store-memory",
    "mfa-store-sql",
    "mfa-store-sqlx",
    "mfa-store-diesel",
    "mfa-delivery",
    "mfa-axum",
    "mfa",
];

#[test]
fn every_member_inherits_the_workspace_lints() {
    let root = std::fs::read_to_string(workspace_root().join("Cargo.toml")).expect("root manifest");
    assert!(
        root.contains("[workspace.lints.rust]\nunsafe_code = \"forbid\""),
        "the workspace forbids unsafe code"
    );
    let mut missing = Vec::new();
    for package in packages() {
        let manifest = std::fs::read_to_string(manifest_dir(&package).join("Cargo.toml"))
            .expect("member manifest");
        if !manifest.contains("[lints]\nworkspace = true") {
            missing.push(package["name"].to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "members without `[lints] workspace = true`: {missing:?}"
    );
}

#[test]
fn published_crates_carry_their_registry_metadata() {
    let packages = packages();
    let published: Vec<&str> = packages
        .iter()
        .filter(|p| publishable(p))
        .filter_map(|p| p["name"].as_str())
        .collect();
    let mut expected = PUBLISHED.to_vec();
    expected.sort_unstable();
    let mut found = published.clone();
    found.sort_unstable();
    assert_eq!(found, expected, "every other member has `publish = false`");
    for package in packages.iter().filter(|p| publishable(p)) {
        let name = package["name"].as_str().unwrap_or_default();
        for field in [
            "description",
            "license",
            "repository",
            "homepage",
            "documentation",
            "rust_version",
        ] {
            assert!(
                package[field].as_str().is_some_and(|v| !v.is_empty()),
                "{name}: no {field}"
            );
        }
        assert!(
            !package["repository"]
                .as_str()
                .unwrap_or_default()
                .contains(".invalid"),
            "{name}: a repository address that resolves"
        );
        let readme = package["readme"].as_str().expect("a readme");
        assert!(
            manifest_dir(package).join(readme).is_file(),
            "{name}: {readme} is missing"
        );
        let keywords = package["keywords"].as_array().expect("keywords");
        assert!(
            (1..=5).contains(&keywords.len()),
            "{name}: 1 to 5 keywords (crates.io's limit)"
        );
        assert!(
            !package["categories"]
                .as_array()
                .expect("categories")
                .is_empty(),
            "{name}: no category"
        );
        let docs_rs = &package["metadata"]["docs"]["rs"];
        assert_eq!(
            docs_rs["all-features"], true,
            "{name}: docs.rs builds every feature"
        );
        assert!(
            docs_rs["rustdoc-args"]
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v == "docsrs")),
            "{name}: docs.rs sets the docsrs cfg"
        );
        let lib = std::fs::read_to_string(manifest_dir(package).join("src/lib.rs"))
            .expect("a library root");
        assert!(
            lib.contains("#![cfg_attr(docsrs, feature(doc_cfg))]"),
            "{name}: feature-gated items are labelled on docs.rs"
        );
    }
}

#[test]
fn the_changelog_has_an_entry_for_the_next_release() {
    let changelog = std::fs::read_to_string(workspace_root().join("CHANGELOG.md"))
        .expect("CHANGELOG.md at the root");
    assert!(changelog.contains("## [Unreleased]") || changelog.contains("## [0."));
}

/// The newest language feature the published crates use: `let` chains in
/// `if` and `while` (edition 2024), stable since Rust 1.88.
const LANGUAGE_FLOOR: (u32, u32, u32) = (1, 88, 0);

fn rust_version(text: &str) -> (u32, u32, u32) {
    let mut parts = text.split('.').map(|p| p.parse::<u32>().expect("a number"));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

/// Each published crate declares as its `rust-version` exactly what it
/// needs: the newest `rust-version` among everything it builds (its normal
/// and build dependencies, with every feature on), or the language floor.
/// Clippy's `incompatible_msrv` lint (part of CI's clippy run) then checks
/// the crate's own use of the standard library against that value; no other
/// toolchain can be installed on this machine to build with it.
#[test]
fn published_crates_declare_the_rust_version_they_need() {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--all-features",
            // Not `--offline`: metadata resolves the packages of every
            // target platform, which a fresh machine has not downloaded.
            "--locked",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("metadata is JSON");
    let packages = metadata["packages"].as_array().expect("packages");
    let by_id = |id: &str| {
        packages
            .iter()
            .find(|p| p["id"] == id)
            .expect("a resolved package is listed")
    };
    let nodes = metadata["resolve"]["nodes"].as_array().expect("a resolve");
    let node = |id: &str| {
        nodes
            .iter()
            .find(|n| n["id"] == id)
            .expect("every package has a node")
    };
    let mut wrong = Vec::new();
    for name in PUBLISHED {
        let crate_ = packages
            .iter()
            .find(|p| p["name"] == *name && p["source"].is_null())
            .expect("a published crate is a member");
        let declared = rust_version(crate_["rust_version"].as_str().expect("a rust-version"));
        let mut needed = (LANGUAGE_FLOOR, "the language floor".to_owned());
        let mut seen = std::collections::BTreeSet::new();
        let mut stack = vec![crate_["id"].as_str().expect("an id").to_owned()];
        while let Some(id) = stack.pop() {
            for dep in node(&id)["deps"].as_array().expect("deps") {
                let built = dep["dep_kinds"]
                    .as_array()
                    .expect("dep kinds")
                    .iter()
                    .any(|k| k["kind"].is_null() || k["kind"] == "build");
                let dep_id = dep["pkg"].as_str().expect("a package id").to_owned();
                if !built || !seen.insert(dep_id.clone()) {
                    continue;
                }
                let package = by_id(&dep_id);
                if let Some(v) = package["rust_version"].as_str()
                    && rust_version(v) > needed.0
                {
                    needed = (rust_version(v), format!("{} {}", package["name"], v));
                }
                stack.push(dep_id);
            }
        }
        if declared != needed.0 {
            wrong.push(format!(
                "{name}: rust-version {declared:?}, needs {:?} ({})",
                needed.0, needed.1
            ));
        }
    }
    assert!(wrong.is_empty(), "rust-version to fix: {wrong:#?}");
}

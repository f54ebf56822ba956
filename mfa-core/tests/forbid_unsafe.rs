//! Every crate of the workspace forbids `unsafe` code at its root
//! (`#![forbid(unsafe_code)]`), so no module can opt back in with `allow`.
//! A new member, binary or example is held to the same rule as soon as it
//! appears in the workspace `members` list.

use std::fs;
use std::path::{Path, PathBuf};

const ATTRIBUTE: &str = "#![forbid(unsafe_code)]";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("mfa-core sits inside the workspace")
        .to_path_buf()
}

/// The `members` of the root manifest (plain paths, no globs).
fn members(root: &Path) -> Vec<PathBuf> {
    let manifest = fs::read_to_string(root.join("Cargo.toml")).expect("root Cargo.toml");
    let start = manifest.find("members").expect("a members list");
    let open = start + manifest[start..].find('[').expect("members [");
    let close = open + manifest[open..].find(']').expect("members ]");
    manifest[open + 1..close]
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
        .map(|m| {
            assert!(!m.contains('*'), "glob member {m}: list members explicitly");
            root.join(m)
        })
        .collect()
}

/// The crate roots of one member: `src/lib.rs`, `src/main.rs` and
/// `src/bin/*.rs`.
fn crate_roots(member: &Path) -> Vec<PathBuf> {
    let src = member.join("src");
    let mut roots: Vec<PathBuf> = ["lib.rs", "main.rs"]
        .iter()
        .map(|f| src.join(f))
        .filter(|p| p.is_file())
        .collect();
    if let Ok(entries) = fs::read_dir(src.join("bin")) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "rs") {
                roots.push(path);
            }
        }
    }
    roots
}

fn forbids_unsafe(path: &Path) -> bool {
    fs::read_to_string(path)
        .expect("readable crate root")
        .lines()
        .any(|line| line.trim() == ATTRIBUTE)
}

#[test]
fn every_crate_root_forbids_unsafe_code() {
    let root = workspace_root();
    let members = members(&root);
    for expected in [
        "mfa-core",
        "mfa-store-memory",
        "mfa-delivery",
        "mfa-axum",
        "benches",
    ] {
        assert!(
            members.contains(&root.join(expected)),
            "{expected} is not a workspace member"
        );
    }
    let mut checked = 0;
    let mut missing = Vec::new();
    for member in &members {
        let roots = crate_roots(member);
        assert!(
            !roots.is_empty(),
            "no crate root in {}",
            member.strip_prefix(&root).unwrap_or(member).display()
        );
        for path in roots {
            checked += 1;
            if !forbids_unsafe(&path) {
                missing.push(
                    path.strip_prefix(&root)
                        .unwrap_or(&path)
                        .display()
                        .to_string(),
                );
            }
        }
    }
    assert!(checked >= members.len());
    assert!(
        missing.is_empty(),
        "crate roots without `{ATTRIBUTE}`: {missing:?}"
    );
}

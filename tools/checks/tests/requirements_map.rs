//! `docs/security.md` maps every requirement R1–R60 of the security brief to
//! the tests that prove it, or to the reason it does not apply. This test
//! keeps the map honest: every requirement has a row, and every test the map
//! names exists somewhere in the workspace.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use mfa_checks::workspace_root;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name == "node_modules" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn defined_functions() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(&workspace_root(), &mut files);
    let mut names = BTreeSet::new();
    for file in files {
        let text = fs::read_to_string(&file).unwrap_or_default();
        for line in text.lines() {
            let line = line.trim_start();
            let rest = line
                .strip_prefix("pub async fn ")
                .or_else(|| line.strip_prefix("async fn "))
                .or_else(|| line.strip_prefix("pub fn "))
                .or_else(|| line.strip_prefix("fn "));
            if let Some(rest) = rest {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                names.insert(name);
            }
        }
    }
    names
}

/// Rows of the map: (requirement number, tests cell, notes cell).
fn map_rows() -> Vec<(u32, String, String)> {
    let doc = fs::read_to_string(workspace_root().join("docs/security.md"))
        .expect("docs/security.md exists");
    doc.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let id = cells
                .get(1)?
                .strip_prefix("**R")
                .or_else(|| cells.get(1)?.strip_prefix('R'))?;
            let id: u32 = id.trim_end_matches("**").parse().ok()?;
            Some((
                id,
                cells.get(3).copied().unwrap_or_default().to_owned(),
                cells.get(4).copied().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

fn named_tests(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(|t| t.rsplit("::").next().unwrap_or(t).to_owned())
        .filter(|t| t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect()
}

#[test]
fn every_requirement_r1_to_r60_has_a_row() {
    let ids: BTreeSet<u32> = map_rows().into_iter().map(|(id, _, _)| id).collect();
    let missing: Vec<u32> = (1..=60).filter(|id| !ids.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "requirements without a row: {missing:?}"
    );
}

#[test]
fn every_test_named_in_the_map_exists() {
    let defined = defined_functions();
    let mut missing = Vec::new();
    for (id, cell, _) in map_rows() {
        for name in named_tests(&cell) {
            if !defined.contains(&name) {
                missing.push(format!("R{id}: {name}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "tests named in docs/security.md but not found: {missing:#?}"
    );
}

#[test]
fn every_row_names_a_test_or_a_reason() {
    for (id, tests, notes) in map_rows() {
        assert!(
            !named_tests(&tests).is_empty() || notes.starts_with("Not applicable"),
            "R{id} names no test and gives no reason"
        );
    }
}

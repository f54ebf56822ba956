//! Checks of the mfa-rs workspace as a whole, run by `cargo test`: they read
//! files across the repository (docs, sources, manifests), so they live here
//! instead of in a published crate, whose package holds its own files only.
//!
//! - `tests/requirements_map.rs`: every security requirement has a row in
//!   `docs/security.md`, and every test named there exists.
//! - `tests/secret_comparisons.rs`: secrets are compared in constant time.
//! - `tests/manifests.rs`: every member inherits the workspace lints (no
//!   `unsafe`), every published crate carries its publishing metadata and
//!   declares the `rust-version` its dependencies need.

use std::path::{Path, PathBuf};

/// The root of the workspace (this crate sits at `tools/checks`).
#[must_use]
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tools/checks sits two levels inside the workspace")
        .to_path_buf()
}

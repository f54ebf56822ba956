//! Checks of the mfa-rs workspace as a whole, run by `cargo test`: they read
//! files across the repository (docs, sources, manifests), so they live here
//! instead of in a published crate, whose package holds its own files only.
//!
//! - `tests/requirements_map.rs`: every security requirement has a row in
//!   `docs/security.md`, and every test named there exists.
//! - `tests/secret_comparisons.rs`: secrets are compared in constant time.
//! - `tests/manifests.rs`: every member inherits the workspace lints (no
//!   `unsafe`), and every published crate carries its publishing metadata.

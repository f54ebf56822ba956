//! Test support of the SQL store crates (feature `testing`; not for
//! production code): what their test suites need from sqlx, which
//! `mfa_store_sql::testing` (the suites themselves) does not depend on.
//! [`cleanup`] drops the tables earlier test runs left in the test
//! databases, [`schema`] reads a migrated schema back for the migration
//! tests. This crate's tests and `mfa-store-diesel`'s use it, so the tests
//! of both run from their published packages.

pub mod cleanup;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub mod schema;

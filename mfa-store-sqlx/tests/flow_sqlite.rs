//! The `mfa-core` engine flow suite on SQLite (a database file per test).
#![cfg(feature = "sqlite")]

mod common;

use common::sqlite_file_store;

mfa_core::flow_tests!(sqlite_file_store);

//! The SQL stores of mfa-rs, written once: schema and migrations, table
//! prefix, statements, and the repository logic of every trait of
//! [`mfa_core::store`], on top of a small [`driver`] interface that
//! `mfa-store-sqlx` and `mfa-store-diesel` implement. Both stores use this
//! one copy, so their schemas and statements cannot drift apart and a host
//! can move between them without migrating data.
//!
//! Every store counts its statements, round trips and writing commits
//! ([`stats`]); the hot paths' counts are pinned by tests on every backend
//! (`testing::counts`).
//!
//! Every repository operation, and the begin, commit and rollback of a unit
//! of work, runs in a `DEBUG` span `mfa.store` (fields `backend`, the
//! [`Dialect::name`](sql::Dialect::name), and `op`, the operation; never a
//! statement or its parameters), with this crate's target whichever driver
//! crate runs it; every round trip counts in the engine step's
//! `store_calls` (see `mfa_core::observability`).
//!
//! A driver crate implements [`driver::Driver`] with its database library
//! (reading and binding values through [`value`]) and declares its public
//! store types with [`store_type!`]; everything else is here.
//!
//! **Internal.** Not meant to be used on its own (it has no database
//! driver), and its API follows the two driver crates' needs: it may change
//! in any release, whatever its version says. Depend on `mfa-store-sqlx` or
//! `mfa-store-diesel` (or the `mfa` facade).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod columns;
pub mod driver;
pub mod error;
mod forward;
pub mod migrate;
pub mod partitions;
pub mod prefix;
mod repo;
mod rows;
pub mod sql;
pub mod stats;
mod store;
mod store_type;
#[cfg(feature = "testing")]
pub mod testing;
pub mod unit;
pub mod value;

pub use prefix::{InvalidPrefix, TablePrefix};
pub use stats::{Instrumented, StatsSnapshot, StoreStats};
pub use store::SqlStore;

/// Re-exports for [`forward_repositories!`]; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use async_trait::async_trait;
    pub use chrono::{DateTime, TimeDelta, Utc};
    pub use mfa_core::model::*;
    pub use mfa_core::store::*;
}

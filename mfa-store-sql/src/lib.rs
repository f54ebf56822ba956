//! The SQL shared by `mfa-store-sqlx` and `mfa-store-diesel`: table prefix,
//! migrations, column lists and statement-template rewriting. Both stores
//! use this one copy, so their schemas and statements cannot drift apart
//! and a host can move between them without migrating data.
//!
//! Not meant to be used on its own; it has no database driver.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod columns;
pub mod migrate;
pub mod prefix;
pub mod sql;

pub use prefix::{InvalidPrefix, TablePrefix};

//! PostgreSQL, SQLite and MySQL/MariaDB stores for
//! [`mfa-core`](mfa_core), built on [sqlx](https://docs.rs/sqlx).
//!
//! One store type per database, each implementing every repository trait
//! of [`mfa_core::store`] (and so [`Store`](mfa_core::store::Store)):
//!
//! | type | feature | the host passes |
//! |---|---|---|
//! | [`SqliteStore`] | `sqlite` (default) | a `SqlitePool` |
//! | [`PgStore`] | `postgres` | a `PgPool` |
//! | [`MySqlStore`] | `mysql` | a `MySqlPool` (MariaDB ≥ 10.6) |
//!
//! The store holds only the pool and a table prefix: no global state, so a
//! process may run several stores side by side.
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "sqlite")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mfa_core::crypto::{JwtConfig, JwtKeys, KeyRing, SecretString};
//! use mfa_core::model::Contact;
//! use mfa_core::{ClientInfo, LoginOutcome, LoginRequest, Mfa, NewUser};
//! use mfa_store_sqlx::SqliteStore;
//! use std::sync::Arc;
//!
//! # let dir = std::env::temp_dir().join(format!("mfa-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! # let path = dir.join("mfa.db");
//! let store = SqliteStore::connect(&format!("sqlite://{}", path.display()), 8).await?;
//! store.migrate().await?; // idempotent: run it at every start
//!
//! let mfa = Mfa::builder()
//!     .store(Arc::new(store))
//!     // Keys that outlive the process (the data is sealed with them):
//!     // KeyRing::from_env()? in production.
//!     .keys(KeyRing::generate())
//!     .tokens(
//!         JwtConfig::new("https://auth.example", "example-api"),
//!         JwtKeys::generate_ed25519("k1")?,
//!     )
//!     .build()?;
//!
//! let password = SecretString::from("correct horse battery staple");
//! mfa.create_user(NewUser {
//!     identifier: "alice@example.com".into(),
//!     password: Some(password.clone()),
//!     contact: Contact::default(),
//! })
//! .await?;
//! let outcome = mfa
//!     .login(LoginRequest {
//!         identifier: "alice@example.com".into(),
//!         password,
//!         client: ClientInfo::default(),
//!     })
//!     .await?;
//! assert!(matches!(outcome, LoginOutcome::Authenticated(_)));
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(()) }
//! # #[cfg(not(feature = "sqlite"))]
//! # fn main() {}
//! ```
//!
//! With PostgreSQL, beside the host's own tables:
//!
//! ```no_run
//! # #[cfg(feature = "postgres")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mfa_store_sqlx::PgStore;
//! use mfa_store_sqlx::sqlx::postgres::PgPoolOptions;
//!
//! let pool = PgPoolOptions::new()
//!     .max_connections(16)
//!     // Each store call is one statement: sqlx's default ping before every
//!     // acquire would double the round trips of a sign-in. Connections are
//!     // still checked when released to the pool.
//!     .test_before_acquire(false)
//!     .connect("postgres://app@localhost/app")
//!     .await?;
//! let store = PgStore::with_prefix(pool, "auth_")?; // tables auth_users, auth_factors, …
//! store.migrate().await?;
//! # Ok(()) }
//! ```
//!
//! # Features and setup
//!
//! - `sqlite` (default), `postgres`, `mysql`: one per database; enable only
//!   those you use (`default-features = false, features = ["postgres"]`).
//!   TLS for PostgreSQL and MySQL is rustls with aws-lc-rs.
//! - **Migrations** are embedded in the binary, one set per database, and
//!   run with `store.migrate().await`. They are idempotent: applied versions
//!   are recorded in `<prefix>schema_migrations`. The tables are documented
//!   in `docs/schema.md` of the repository.
//! - **Table prefix**: `mfa_` by default; [`TablePrefix`] rules apply
//!   (`a-z`, `0-9`, `_`, at most 24 characters).
//! - **SQLite**: build the pool from [`SqliteStore::connect_options`] (WAL,
//!   5 s busy timeout, foreign keys on) or use [`SqliteStore::connect`].
//!   Write transactions begin with `BEGIN IMMEDIATE`. For an in-memory
//!   database shared by a pool use a named shared-cache database
//!   (`sqlite:file:name?mode=memory&cache=shared`) and keep one connection
//!   open (`min_connections(1)`, no idle timeout), or a single connection.
//! - **PostgreSQL**: any isolation level works (the default READ COMMITTED
//!   is assumed); the store never runs DDL outside `migrate`.
//! - **MySQL/MariaDB**: InnoDB; DDL cannot be rolled back there, so a
//!   migration failing half-way must be cleaned up by hand.
//!
//! # Guarantees
//!
//! Every security check-then-act of the traits (consuming a code, challenge
//! or ticket, advancing the TOTP step, rotating a refresh or trust token,
//! counting a failure, a rate-limit hit, upserting a device, issuing a
//! challenge while closing the previous ones) is a single conditional
//! statement or a short transaction with row locks; `docs/architecture.md`
//! lists which. Deadlocks and serialization failures are retried. Errors map
//! into [`StoreError`](mfa_core::store::StoreError) without SQL text or bound
//! values: unique violation → `Conflict`, pool timeout or I/O →
//! `Unavailable`, undecodable row → `Corrupt`. `purge_*` functions delete in
//! batches of 500 rows.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod driver;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod error;

#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use mfa_store_sql::{InvalidPrefix, TablePrefix};
#[cfg(feature = "mysql")]
pub use mysql::MySqlStore;
#[cfg(feature = "postgres")]
pub use postgres::PgStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

/// The sqlx version this crate is built on, re-exported so hosts build their
/// pools with the same one.
pub use sqlx;

//! PostgreSQL, SQLite and MySQL/MariaDB stores for
//! [`mfa-core`](mfa_core), built on [diesel](https://docs.rs/diesel) 2.3 and
//! [diesel-async](https://docs.rs/diesel-async) 0.9.
//!
//! Each store implements every repository trait of [`mfa_core::store`] (so
//! it is a [`mfa_core::store::Store`]) on a diesel-async deadpool pool that
//! the host builds and passes in:
//!
//! | feature | store | pool | connection |
//! |---|---|---|---|
//! | `sqlite` (default) | [`SqliteStore`] | [`SqlitePool`] | diesel's `SqliteConnection` in diesel-async's `SyncConnectionWrapper`, run inline |
//! | `postgres` | `PgStore` | `PgPool` | `AsyncPgConnection` (tokio-postgres, pure Rust) |
//! | `mysql` | `MySqlStore` | `MySqlPool` | `AsyncMysqlConnection` (mysql_async, pure Rust) |
//!
//! (The PostgreSQL and MySQL types exist, and are documented, only with
//! their feature on.)
//!
//! PostgreSQL and MySQL are async drivers. SQLite calls run on the calling
//! thread ([`Inline`]), microseconds each on a local file; no call waits for
//! a lock there (a busy database is waited for asynchronously). The stores
//! need a Tokio runtime.
//!
//! # Same schema as `mfa-store-sqlx`
//!
//! The tables, columns, types, constraints and indexes are exactly those of
//! `mfa-store-sqlx` (its migration files, copied byte for byte and checked
//! equal by a test), and so is the migration record
//! (`<prefix>schema_migrations`). A host can switch between the two crates,
//! or run both on one database, without migrating data; each crate's
//! `migrate()` sees the other's schema as up to date. Values are stored the
//! same way too (SQLite: timestamps as INTEGER microseconds, UUIDs as
//! 16-byte BLOBs; MySQL: `BINARY(16)` UUIDs, `DATETIME(6)` UTC).
//!
//! Statements are `diesel::sql_query` with bound parameters rather than
//! diesel's `table!` DSL, whose table names are fixed at compile time: that
//! is what lets this crate support the table prefix (default `mfa_`,
//! [`TablePrefix`]) like `mfa-store-sqlx` does.
//!
//! # Atomic operations
//!
//! Every security check-then-act is one conditional statement (`UPDATE …
//! WHERE used_at IS NULL`, `… WHERE last_totp_step < $step`, `… RETURNING`)
//! or a short transaction with row locks (`SELECT … FOR UPDATE`; on SQLite
//! `BEGIN IMMEDIATE`), the same strategy per backend as `mfa-store-sqlx`.
//! Transactions that hit a deadlock or a busy database are retried whole.
//!
//! # System requirements
//!
//! No system library: the PostgreSQL and MySQL drivers are pure Rust, and
//! SQLite is compiled from source (`libsqlite3-sys` 0.37 with `bundled`,
//! the version `sqlx` links too), which needs only a C compiler.
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "sqlite")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mfa_core::Mfa;
//! use mfa_core::crypto::{JwtConfig, JwtKeys, KeyRing};
//! use mfa_store_diesel::SqliteStore;
//! use std::sync::Arc;
//!
//! # let dir = std::env::temp_dir().join(format!("mfa-diesel-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! # let path = dir.join("mfa.db");
//! // A pool of four connections with foreign keys and WAL.
//! let pool = SqliteStore::build_pool(&format!("sqlite://{}", path.display()), 4)?;
//! let store = SqliteStore::new(pool);
//! store.migrate().await?; // one call, idempotent
//!
//! // Hand the store to the engine; `open` checks that the keys match the
//! // data already stored (a development key file here; from the
//! // environment in production).
//! let mfa = Mfa::builder()
//!     .store(Arc::new(store))
//!     .keys(KeyRing::load_or_generate(dir.join("keys.env"))?)
//!     .tokens(
//!         JwtConfig::new("https://auth.example", "api"),
//!         JwtKeys::load_or_generate_ed25519(dir.join("jwt.pem"), "k1")?,
//!     )
//!     .open()
//!     .await?;
//! # drop(mfa);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "sqlite"))]
//! # fn main() {}
//! ```
//!
//! With PostgreSQL (feature `postgres`), the host may build the pool itself:
//!
//! ```no_run
//! # #[cfg(feature = "postgres")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use mfa_store_diesel::diesel_async::AsyncPgConnection;
//! use mfa_store_diesel::diesel_async::pooled_connection::AsyncDieselConnectionManager;
//! use mfa_store_diesel::diesel_async::pooled_connection::deadpool::Pool;
//! use mfa_store_diesel::PgStore;
//!
//! let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(
//!     "postgres://mfa@127.0.0.1/mfa",
//! );
//! let pool = Pool::builder(manager).max_size(8).build()?;
//! let store = PgStore::with_prefix(pool, "auth_")?;
//! store.migrate().await?;
//! # Ok(())
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// Without a backend feature there is no store, and the shared code is unused.
#![cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code, unused_macros, unused_imports)
)]

mod driver;
mod error;

#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod pipeline;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use mfa_store_sql::{InvalidPrefix, TablePrefix};
#[cfg(feature = "mysql")]
pub use mysql::{MySqlPool, MySqlStore};
#[cfg(feature = "postgres")]
pub use postgres::{PgPool, PgStore};
#[cfg(feature = "sqlite")]
pub use sqlite::{CONNECTION_PRAGMAS, Inline, SqliteConn, SqlitePool, SqliteStore};

/// The diesel-async version this crate is built on, re-exported so hosts
/// build their pools with the same one.
pub use diesel_async;

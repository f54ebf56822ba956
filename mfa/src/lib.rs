//! Multi-factor sign-in for Rust servers, in one dependency.
//!
//! This crate re-exports the mfa-rs family behind features, so a host adds
//! `mfa` alone and picks its store, transports and web integration:
//!
//! - the engine, [`mfa_core`], at the root: [`Mfa`], [`crypto`], [`model`],
//!   [`store`] (the repository traits), [`delivery`] (the channel traits),
//!   [`policy`], [`audit`], …;
//! - [`stores`]: `memory` (feature `memory`, on by default), `sqlx`
//!   (`sqlx-sqlite`, `sqlx-postgres`, `sqlx-mysql`) and `diesel`
//!   (`diesel-sqlite`, `diesel-postgres`, `diesel-mysql`);
//! - `transports` ([`mfa-delivery`](https://docs.rs/mfa-delivery): `smtp`, `sms`, `webhook`, `push`);
//! - `axum` ([`mfa-axum`](https://docs.rs/mfa-axum): feature `axum`): the routes and extractors;
//! - `passkeys` (WebAuthn factors), `tokio` (argon2 off the async
//!   worker), `geoip` (`mfa::geoip`: the client's country and the
//!   impossible-travel signal from a MaxMind database), `user-agent`
//!   (the device description read from the `User-Agent`) and `openapi`
//!   (JSON schemas of the model enums) switch on the engine's features of
//!   the same name; `full` is everything.
//!
//! ```toml
//! [dependencies]
//! mfa = { version = "0.1", features = ["sqlx-postgres", "smtp", "axum"] }
//! ```
//!
//! With the default features, a password sign-in on the memory store:
//!
//! ```
//! use std::sync::Arc;
//! use mfa::crypto::{JwtConfig, JwtKeys, KeyRing, SecretString};
//! use mfa::model::{AuthMethod, Contact};
//! use mfa::stores::memory::MemoryStore;
//! use mfa::{ClientInfo, LoginOutcome, LoginRequest, Mfa, NewUser};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mfa = Mfa::builder()
//!     .store(Arc::new(MemoryStore::new()))
//!     .keys(KeyRing::generate()) // production: KeyRing::from_env()?
//!     .tokens(JwtConfig::new("https://auth.example", "api"), JwtKeys::generate_ed25519("k1")?)
//!     .build()?;
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
//! let LoginOutcome::Authenticated(tokens) = outcome else {
//!     unreachable!("no second factor enrolled yet")
//! };
//! assert_eq!(tokens.amr, [AuthMethod::Pwd]);
//! # Ok(())
//! # }
//! ```
//!
//! The engine's crate documentation ([`mfa_core`]) walks through the whole
//! flow: TOTP enrolment, the second factor, a remembered device.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use mfa_core;
pub use mfa_core::*;

/// The stores, one module per crate, each behind its features.
pub mod stores {
    /// The in-process store ([`mfa_store_memory`]).
    #[cfg(feature = "memory")]
    pub use mfa_store_memory as memory;

    /// PostgreSQL, SQLite and MySQL/MariaDB stores on sqlx
    /// ([`mfa_store_sqlx`]).
    #[cfg(any(
        feature = "sqlx-sqlite",
        feature = "sqlx-postgres",
        feature = "sqlx-mysql"
    ))]
    pub use mfa_store_sqlx as sqlx;

    /// PostgreSQL, SQLite and MySQL/MariaDB stores on diesel
    /// ([`mfa_store_diesel`]).
    #[cfg(any(
        feature = "diesel-sqlite",
        feature = "diesel-postgres",
        feature = "diesel-mysql"
    ))]
    pub use mfa_store_diesel as diesel;
}

/// Delivery transports: SMTP, SMS, webhooks, push ([`mfa_delivery`]).
#[cfg(any(
    feature = "smtp",
    feature = "sms",
    feature = "webhook",
    feature = "push"
))]
pub use mfa_delivery as transports;

/// The axum routes and extractors ([`mfa_axum`]).
#[cfg(feature = "axum")]
pub use mfa_axum as axum;

//! The complete multi-factor sign-in flow for Rust servers.
//!
//! A host keeps its web framework, user interface and (optionally) its user
//! table, and calls one object, [`Mfa`], which returns typed outcomes:
//! passwords (argon2id), TOTP, email and SMS codes, backup codes, trusted
//! devices, lockout and rate limits, JWT access tokens with rotating refresh
//! tokens, risk scoring, an audit log and security notifications. Storage and
//! delivery are traits ([`store`], [`delivery`]); `mfa-store-memory` is the
//! reference store.
//!
//! ```
//! use std::sync::Arc;
//! use mfa_core::clock::{Clock, ManualClock};
//! use mfa_core::crypto::{
//!     ExposeSecret, JwtConfig, JwtKeys, KeyRing, SecretString, Totp, TotpSecret,
//! };
//! use mfa_core::model::{AuthMethod, Contact, TotpParams};
//! use mfa_core::{Actor, ClientInfo, LoginOutcome, LoginRequest, Mfa, NewUser, VerifyRequest};
//! use mfa_store_memory::MemoryStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let clock = Arc::new(ManualClock::default());
//! let mfa = Mfa::builder()
//!     .store(Arc::new(MemoryStore::new()))
//!     .keys(KeyRing::generate()) // production: KeyRing::from_env()?
//!     .tokens(JwtConfig::new("https://auth.example", "example-api"), JwtKeys::generate_ed25519("k1")?)
//!     .clock(clock.clone())
//!     .build()?;
//!
//! let password = SecretString::from("correct horse battery staple");
//! mfa.create_user(NewUser {
//!     identifier: "alice@example.com".into(),
//!     password: Some(password.clone()),
//!     contact: Contact::default(),
//! })
//! .await?;
//! let client = ClientInfo {
//!     ip: Some([192, 0, 2, 10].into()),
//!     fingerprint: Some("browser-fingerprint".into()),
//!     ..ClientInfo::default()
//! };
//! let login = |client: ClientInfo| LoginRequest {
//!     identifier: "alice@example.com".into(),
//!     password: password.clone(),
//!     client,
//! };
//! // A code from the user's authenticator app, computed here from the secret.
//! let code_now = |secret: &SecretString| -> Result<String, Box<dyn std::error::Error>> {
//!     let totp = Totp::new(
//!         TotpSecret::from_base32(secret.expose_secret())?,
//!         TotpParams::default(),
//!         "app",
//!         "alice",
//!     )?;
//!     Ok(totp.generate_at(clock.now().timestamp())?.expose().to_owned())
//! };
//!
//! // 1. No second factor yet: the password signs in (AAL1).
//! let LoginOutcome::Authenticated(tokens) = mfa.login(login(client.clone())).await? else {
//!     unreachable!()
//! };
//! let claims = mfa.authenticate(&tokens.access_token).await?;
//!
//! // 2. Enrol an authenticator app: show `qr_svg`, confirm with a code.
//! let enrollment = mfa.enroll_totp(Actor::Session(&claims), Some("phone")).await?;
//! let code = code_now(&enrollment.secret)?;
//! let enrolled = mfa
//!     .confirm_factor(Actor::Session(&claims), enrollment.factor_id, &code, &client)
//!     .await?;
//! assert_eq!(enrolled.backup_codes.map(|b| b.codes.len()), Some(10));
//!
//! // 3. Sign in again: now a second factor is required.
//! let LoginOutcome::MfaRequired { ticket, .. } = mfa.login(login(client.clone())).await? else {
//!     unreachable!()
//! };
//! clock.advance(chrono::TimeDelta::seconds(30)); // a fresh TOTP step
//! let verified = mfa
//!     .verify(VerifyRequest {
//!         ticket: &ticket,
//!         method: mfa_core::model::FactorKind::Totp,
//!         code: &code_now(&enrollment.secret)?,
//!         remember_device: true,
//!         client: &client,
//!     })
//!     .await?;
//! assert_eq!(verified.tokens.amr, [AuthMethod::Pwd, AuthMethod::Otp]);
//!
//! // 4. The remembered device skips the second factor next time.
//! let remembered = ClientInfo {
//!     trust_token: verified.tokens.trust_token.clone(),
//!     ..client.clone()
//! };
//! let LoginOutcome::Authenticated(tokens) = mfa.login(login(remembered)).await? else {
//!     unreachable!()
//! };
//! assert!(tokens.amr.contains(&AuthMethod::Device));
//! # Ok(())
//! # }
//! ```
//!
//! # Keys
//!
//! Sealed secrets and code digests are only as durable as the keys they
//! were made with: a store that outlives the process needs the same
//! [`KeyRing`](crypto::KeyRing) and token key at every start. Production
//! loads them with [`KeyRing::from_env`](crypto::KeyRing::from_env) and
//! [`JwtKeys::ed25519_from_pkcs8_pem`](crypto::JwtKeys::ed25519_from_pkcs8_pem)
//! (`mfa-server keys` prints fresh ones); development keeps them in files
//! made on first use ([`KeyRing::load_or_generate`](crypto::KeyRing::load_or_generate),
//! [`JwtKeys::load_or_generate_ed25519`](crypto::JwtKeys::load_or_generate_ed25519)).
//! Start the engine with [`MfaBuilder::open`]: it compares the key ring
//! with check values kept in the store and refuses a ring the data was not
//! written with ([`MfaError::KeyMismatch`]), instead of failing sign-ins
//! later. The example above uses a memory store, which lives and dies with
//! its keys, so `build()` is enough there.
//!
//! # Good to know
//!
//! - **JSON wire names** (`serde`): factor kinds `totp`, `email`, `sms`,
//!   `webauthn`, `push`, `backup_codes`; `amr` values per RFC 8176 (`pwd`, `otp`,
//!   `email`, `sms`, `backup`, `device`, `hwk`, `swk`, `user`, `ext`);
//!   [`Aal`](model::Aal) is `"aal1"`/`"aal2"` in JSON and `1`/`2` in the
//!   access token's `aal` claim.
//! - **A TOTP code works once per 30-s step** (RFC 6238 §5.2): confirming an
//!   enrolment and signing in with the same code is `invalid_code`. The
//!   name authenticator apps show is `policy.totp.issuer` (default
//!   `mfa-rs`); the JWT issuer is [`JwtConfig::new`](crypto::JwtConfig::new)'s.
//! - **Errors carry a stable [`MfaError::code`]** and an HTTP status
//!   ([`MfaError::http_status`]); an internal error's cause is for the
//!   operator only: log it through `tracing` and install a subscriber, or
//!   it is printed nowhere.
//! - **Debug builds hash slowly**: argon2 unoptimised takes about a second
//!   per sign-in. Add `[profile.dev.package.argon2] opt-level = 3` (and
//!   the same for `blake2`) to your workspace.
//!
//! # Modules
//!
//! - [`model`]: plain data. [`store`]: one repository trait per aggregate,
//!   each security check-then-act a single atomic operation.
//! - [`crypto`]: every primitive (TOTP, codes, sealing, passwords, tokens).
//! - [`policy`]: every tunable number, validated once at `build()`.
//! - [`blocklist`]: the common passwords refused as new passwords (NIST SP
//!   800-63B §5.1.1.2), shipped with the crate; a host may add its own.
//! - [`risk`], [`delivery`], [`clock`]: the engine's other seams.
//! - [`observability`]: the `tracing` spans of every step and store
//!   operation, their fields, and how to turn them on.
//! - `geoip` (feature `geoip`): a [`risk::GeoLocator`] on a MaxMind
//!   database (GeoLite2/GeoIP2 City or Country), for the client's country
//!   and the "new country" and "impossible travel" risk signals.
//! - `passkey` (feature `passkeys`): passkeys and security keys (WebAuthn)
//!   as a second factor and for passwordless sign-in.
//! - Push approval: a phone app holding a device key approves a sign-in
//!   with number matching ([`Mfa::request_push`], [`Mfa::answer_push`],
//!   [`Mfa::complete_push`]; the primitives in [`crypto::push`]); turn it
//!   on with [`MfaBuilder::push`].
//! - `user_agent` (feature `user-agent`): the browser, operating system and
//!   kind of client read from a `User-Agent` header, filling the device
//!   fields a client left empty ([`ClientInfo::described_device`]).
//! - feature `openapi`: JSON schemas (`utoipa::ToSchema`) of the model
//!   enums an HTTP API takes, from which `mfa-axum` derives its OpenAPI
//!   request schemas.
//! - `testing` (feature `testing`): the store conformance suite, the engine
//!   flow suite, a capturing delivery channel, a software passkey
//!   authenticator and a MaxMind DB writer, for store authors and tests.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit;
pub mod blocklist;
pub mod clock;
pub mod crypto;
pub mod delivery;
pub mod error;
mod flow;
#[cfg(feature = "geoip")]
pub mod geoip;
pub mod model;
pub mod observability;
#[cfg(feature = "passkeys")]
pub mod passkey;
pub mod policy;
pub mod risk;
pub mod store;
pub mod template;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "user-agent")]
pub mod user_agent;

pub use error::{KeyMismatch, MfaError, MfaResult, PasskeyError};
pub use flow::*;

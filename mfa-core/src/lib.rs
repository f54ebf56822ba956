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
//!     ip: Some("192.0.2.10".into()),
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
//! # Modules
//!
//! - [`model`]: plain data. [`store`]: one repository trait per aggregate,
//!   each security check-then-act a single atomic operation.
//! - [`crypto`]: every primitive (TOTP, codes, sealing, passwords, tokens).
//! - [`policy`]: every tunable number, validated once at `build()`.
//! - [`risk`], [`delivery`], [`clock`]: the engine's other seams.
//! - `passkey` (feature `passkeys`): passkeys and security keys (WebAuthn)
//!   as a second factor and for passwordless sign-in.
//! - `testing` (feature `testing`): the store conformance suite, the engine
//!   flow suite, a capturing delivery channel and a software passkey
//!   authenticator, for store authors.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
pub mod crypto;
pub mod delivery;
pub mod error;
mod flow;
pub mod model;
#[cfg(feature = "passkeys")]
pub mod passkey;
pub mod policy;
pub mod risk;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{MfaError, MfaResult, PasskeyError};
pub use flow::*;

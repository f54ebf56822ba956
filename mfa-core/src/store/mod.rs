//! Repository traits: what a store must offer.
//!
//! One trait per aggregate. Every security check-then-act is a single atomic
//! operation of a trait (consume a code, advance a TOTP step, rotate a
//! refresh token, count a failure), so two concurrent requests can never both
//! win, whatever the backend. `mfa_core::testing` (feature `testing`) holds
//! the conformance suite every store runs.
//!
//! Traits are object safe: the engine holds `Arc<dyn …>` for each, so a host
//! may mix its own user table with a library store for the rest.
//!
//! Timestamps are stored with microsecond precision; callers pass times that
//! survive that round trip.

mod audit;
mod backup_code;
mod challenge;
mod device;
mod error;
mod factor;
mod key_check;
mod push;
mod rate_limit;
mod reads;
mod session;
mod unit;
mod user;

pub use audit::{
    AuditCursor, AuditErasure, AuditFilter, AuditRepository, ChainPosition, Page, PageRequest,
};
pub use backup_code::BackupCodeRepository;
pub use challenge::{ChallengeAttempt, ChallengeRepository};
pub use device::{DeviceRepository, Upserted};
pub use error::{BoxError, StoreError, StoreResult};
pub use factor::FactorRepository;
pub use key_check::KeyCheckRepository;
pub use push::PushRepository;
pub use rate_limit::{RateDecision, RateHit, RateLimiter, hit_one_by_one};
pub use reads::{
    SignInContext, StepReads, TicketContext, sign_in_context_by_calls, ticket_context_by_calls,
};
pub use session::{NewRefreshToken, RefreshGrace, RotateOutcome, SessionRepository};
pub use unit::{Durability, Repositories, Transaction, UnitOfWork};
pub use user::{FailureOutcome, UserRepository};

/// Every repository in one value, and units of work over them: what a
/// library store implements.
///
/// Implemented automatically for any type that implements all the
/// repository traits (see [`Repositories`]) and [`UnitOfWork`]. The engine
/// runs each step in one unit of work of its store.
pub trait Store: Repositories + UnitOfWork + 'static {}

impl<T: Repositories + UnitOfWork + 'static> Store for T {}

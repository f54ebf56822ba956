//! Units of work: one engine step's reads and writes in one store
//! transaction, committed once.
//!
//! A store that implements [`UnitOfWork`] hands out a [`Transaction`]; its
//! [`Transaction::repositories`] are the same repository traits as the
//! store's own, but every call runs inside the transaction. Nothing written
//! through them is visible to other units, or survives a crash, until
//! [`Transaction::commit`] returns; [`Transaction::rollback`] (or dropping
//! the transaction uncommitted) discards all of it.
//!
//! What an implementation must keep:
//!
//! - **Every single-winner operation stays single-winner across units.**
//!   Two units that both try to consume the same code, step, ticket or
//!   refresh token cannot both see it as theirs: a conditional `UPDATE …
//!   WHERE <still valid>` or a row lock makes the second wait for the first
//!   and then lose, or fail with [`StoreError::Contention`].
//! - **Reads see the unit's own writes.**
//! - **Contention is reported, not hidden.** A deadlock or serialization
//!   failure that aborts the transaction is [`StoreError::Contention`]; the
//!   caller rolls back and may run the whole unit again from its start.
//!
//! ```
//! use mfa_core::store::{StoreResult, UnitOfWork, UserRepository};
//! use mfa_core::model::User;
//!
//! async fn sign_up(store: &dyn UnitOfWork, user: &User) -> StoreResult<()> {
//!     let tx = store.begin().await?;
//!     tx.repositories().create_user(user).await?;
//!     tx.commit().await
//! }
//! ```

use super::{
    AuditRepository, BackupCodeRepository, ChallengeRepository, DeviceRepository, FactorRepository,
    KeyCheckRepository, PushRepository, RateLimiter, SessionRepository, StepReads, StoreResult,
    UserRepository,
};
use async_trait::async_trait;

/// Every repository trait in one object-safe bundle: what a
/// [`Transaction`] exposes. Implemented for any type that implements them
/// all.
pub trait Repositories:
    UserRepository
    + FactorRepository
    + BackupCodeRepository
    + ChallengeRepository
    + DeviceRepository
    + SessionRepository
    + AuditRepository
    + RateLimiter
    + StepReads
    + KeyCheckRepository
    + PushRepository
    + Send
    + Sync
{
}

impl<T> Repositories for T where
    T: UserRepository
        + FactorRepository
        + BackupCodeRepository
        + ChallengeRepository
        + DeviceRepository
        + SessionRepository
        + AuditRepository
        + RateLimiter
        + StepReads
        + KeyCheckRepository
        + PushRepository
        + Send
        + Sync
{
}

/// An open unit of work (see the module docs).
#[async_trait]
pub trait Transaction: Send + Sync {
    /// The repositories, every call inside this transaction.
    fn repositories(&self) -> &dyn Repositories;

    /// Makes every write of the unit durable and visible, at once.
    ///
    /// # Errors
    /// [`super::StoreError::Contention`] when the backend aborted the
    /// transaction at commit (nothing was written); any other store error.
    async fn commit(self: Box<Self>) -> StoreResult<()>;

    /// Discards every write of the unit. Dropping an uncommitted
    /// transaction does the same.
    ///
    /// # Errors
    /// A store error; the writes are discarded all the same (the backend
    /// ends a transaction whose connection is lost).
    async fn rollback(self: Box<Self>) -> StoreResult<()>;
}

/// When the commit of a unit of work may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// Once the unit's writes are durable: the backend's ordinary commit
    /// (on PostgreSQL, after the WAL flush).
    #[default]
    Flushed,
    /// Possibly before the writes are flushed, though they are visible to
    /// every other transaction at once. Only for a unit that the same step
    /// follows with a [`Durability::Flushed`] unit on the same database,
    /// and whose own answer reveals nothing that the loss of its writes
    /// would undo: the log is flushed in order, so the later commit makes
    /// these writes durable too, and until then only a crash of the
    /// database server can lose them. The first unit of a password sign-in
    /// is one: it counts the attempt before the hash (R56), and the unit
    /// after the hash, which answers, commits with a flush.
    ///
    /// A store may treat it as [`Durability::Flushed`] (the default of
    /// [`UnitOfWork::begin_with`]).
    Carried,
}

/// A store that can run a unit of work.
#[async_trait]
pub trait UnitOfWork: Send + Sync {
    /// Starts a unit of work whose commit is [`Durability::Flushed`].
    ///
    /// # Errors
    /// [`super::StoreError::Unavailable`] when no connection can be had.
    async fn begin(&self) -> StoreResult<Box<dyn Transaction>>;

    /// Starts a unit of work whose commit has `durability`. The default
    /// ignores it and calls [`UnitOfWork::begin`].
    ///
    /// # Errors
    /// As [`UnitOfWork::begin`].
    async fn begin_with(&self, durability: Durability) -> StoreResult<Box<dyn Transaction>> {
        let _ = durability;
        self.begin().await
    }
}

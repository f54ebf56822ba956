//! Units of work on a SQL store ([`mfa_core::store::UnitOfWork`]): one
//! transaction of the driver, and the same repository code running on it.
//!
//! [`SqlStore::begin`](mfa_core::store::UnitOfWork::begin) opens a
//! transaction (SQLite: `BEGIN IMMEDIATE`) and hands out a
//! `SqlStore<UnitDriver<D>>` whose "pool" is that one transaction. A
//! repository method that opens a transaction of its own gets a
//! [`Nested`] handle on the same transaction instead: its statements join
//! the unit and its commit or rollback is the unit's to make. Inside a unit
//! a deadlock or serialization failure aborts the whole transaction, so it
//! is not retried statement by statement: it comes back as
//! [`StoreError::Contention`] for the caller to run the unit again.
//!
//! What a unit saves over separate calls:
//!
//! - **Audit events are buffered**: `append_audit` inside a unit costs no
//!   statement; the unit's events are written by one multi-row `INSERT`
//!   just before its `COMMIT` (or before an audit query inside the unit,
//!   so the unit reads its own events). A rolled-back unit writes none, and
//!   a duplicate event id fails the commit (the unit is rolled back).
//! - **Resets of clean counters are skipped**: a user row read inside the
//!   unit (`get_user`, `find_user_by_identifier`) tells which failure
//!   counters are already clear; `reset_failures` of such a counter costs
//!   no statement (the reset takes effect at the moment of the read; a
//!   failure counted concurrently after it stays counted, the stricter
//!   outcome). A failure the unit records makes the counter dirty again.
//!
//! The unit's statements, `BEGIN` and `COMMIT`/`ROLLBACK` count into the
//! [`StoreStats`](crate::stats::StoreStats) of the store that began it.

use crate::driver::{Driver, EachRow, Executor, Statement, Transaction};
use crate::error::is_retryable;
use crate::stats::CountedTx;
use crate::store::SqlStore;
use async_trait::async_trait;
use mfa_core::model::{AuditEvent, LockScope, User, UserId};
use mfa_core::store::{Repositories, StoreError, StoreResult, UnitOfWork};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Mutex;

/// The one open transaction of a unit, shared by its repository calls.
type Shared<D> = Arc<Mutex<Option<CountedTx<<D as Driver>::Tx>>>>;

/// What the repositories of one unit remember between their calls.
#[derive(Debug, Default)]
pub(crate) struct UnitState {
    /// Audit events appended in the unit, not yet written.
    audit: std::sync::Mutex<Vec<AuditEvent>>,
    /// Per live user read in the unit: whether its password and MFA failure
    /// counters are clear (nothing to reset).
    clean: std::sync::Mutex<HashMap<UserId, [bool; 2]>>,
}

fn slot(scope: LockScope) -> usize {
    match scope {
        LockScope::Password => 0,
        LockScope::Mfa => 1,
    }
}

impl UnitState {
    /// Buffers an audit event until the unit writes its events.
    pub(crate) fn buffer_audit(&self, event: AuditEvent) {
        lock(&self.audit).push(event);
    }

    /// The buffered audit events, emptying the buffer.
    pub(crate) fn take_audit(&self) -> Vec<AuditEvent> {
        std::mem::take(&mut *lock(&self.audit))
    }

    /// Remembers which counters of a user read in the unit are clear.
    pub(crate) fn saw_user(&self, user: &User) {
        let mut clean = lock(&self.clean);
        if user.deleted_at.is_some() {
            clean.remove(&user.id);
            return;
        }
        let clear =
            |c: &mfa_core::model::FailureCounter| c.failures == 0 && c.locked_until.is_none();
        clean.insert(
            user.id,
            [clear(&user.password_failures), clear(&user.mfa_failures)],
        );
    }

    /// Whether the unit knows the counter of `scope` to be clear on a live
    /// user.
    pub(crate) fn is_clean(&self, id: UserId, scope: LockScope) -> bool {
        lock(&self.clean)
            .get(&id)
            .is_some_and(|flags| flags[slot(scope)])
    }

    /// Records the counter of `scope` as clear (after a reset) or not
    /// (after a counted failure); unknown users stay unknown.
    pub(crate) fn set_clean(&self, id: UserId, scope: LockScope, clear: bool) {
        if let Some(flags) = lock(&self.clean).get_mut(&id) {
            flags[slot(scope)] = clear;
        }
    }

    /// Forgets what the unit knew of a user (deleted, or changed wholesale).
    pub(crate) fn forget_user(&self, id: UserId) {
        lock(&self.clean).remove(&id);
    }
}

/// A poisoned lock only means another call panicked mid-update of plain
/// data; the data is still usable.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A retryable failure inside a unit is contention: the transaction is
/// gone, only running the whole unit again can help.
fn contention(err: StoreError) -> StoreError {
    if is_retryable(&err) {
        match err {
            StoreError::Unavailable(source) => StoreError::Contention(source),
            other => other,
        }
    } else {
        err
    }
}

fn ended() -> StoreError {
    StoreError::Backend("the unit of work has already ended".into())
}

async fn run_on<D: Driver>(tx: &Shared<D>, statement: &Statement) -> StoreResult<u64> {
    let mut guard = tx.lock().await;
    let open = guard.as_mut().ok_or_else(ended)?;
    open.execute(statement).await.map_err(contention)
}

async fn fetch_on<D: Driver>(
    tx: &Shared<D>,
    statement: &Statement,
    each: &mut EachRow<'_>,
) -> StoreResult<()> {
    let mut guard = tx.lock().await;
    let open = guard.as_mut().ok_or_else(ended)?;
    open.fetch(statement, each).await.map_err(contention)
}

/// The driver of an open unit: every statement on the unit's transaction.
pub struct UnitDriver<D: Driver> {
    tx: Shared<D>,
}

/// A repository method's own transaction inside a unit: the unit's
/// transaction, whose end is the unit's.
pub struct Nested<D: Driver> {
    tx: Shared<D>,
}

#[async_trait]
impl<D: Driver> Executor for Nested<D> {
    async fn execute(&mut self, statement: &Statement) -> StoreResult<u64> {
        run_on::<D>(&self.tx, statement).await
    }

    async fn fetch(&mut self, statement: &Statement, each: &mut EachRow<'_>) -> StoreResult<()> {
        fetch_on::<D>(&self.tx, statement, each).await
    }
}

#[async_trait]
impl<D: Driver> Transaction for Nested<D> {
    async fn commit(self) -> StoreResult<()> {
        Ok(())
    }

    // A failed repository method returns its error, and the unit is then
    // rolled back as a whole by its owner.
    async fn rollback(self) -> StoreResult<()> {
        Ok(())
    }
}

#[async_trait]
impl<D: Driver> Driver for UnitDriver<D> {
    const DIALECT: crate::sql::Dialect = D::DIALECT;
    type Tx = Nested<D>;

    async fn execute(&self, statement: &Statement) -> StoreResult<u64> {
        run_on::<D>(&self.tx, statement).await
    }

    async fn fetch(&self, statement: &Statement, each: &mut EachRow<'_>) -> StoreResult<()> {
        fetch_on::<D>(&self.tx, statement, each).await
    }

    async fn begin(&self) -> StoreResult<Nested<D>> {
        Ok(Nested {
            tx: Arc::clone(&self.tx),
        })
    }
}

/// An open unit of work on a [`SqlStore`].
struct SqlUnit<D: Driver> {
    repositories: SqlStore<UnitDriver<D>>,
    tx: Shared<D>,
}

#[async_trait]
impl<D: Driver> mfa_core::store::Transaction for SqlUnit<D> {
    fn repositories(&self) -> &dyn Repositories {
        &self.repositories
    }

    async fn commit(self: Box<Self>) -> StoreResult<()> {
        if let Err(e) = self.repositories.flush_audit().await {
            if let Some(tx) = self.tx.lock().await.take() {
                let _ = tx.rollback().await;
            }
            return Err(e);
        }
        let tx = self.tx.lock().await.take().ok_or_else(ended)?;
        tx.commit().await.map_err(contention)
    }

    async fn rollback(self: Box<Self>) -> StoreResult<()> {
        // Buffered audit events go with the transaction.
        drop(self.repositories.unit().map(|u| u.take_audit()));
        let tx = self.tx.lock().await.take().ok_or_else(ended)?;
        tx.rollback().await
    }
}

#[async_trait]
impl<D: Driver> UnitOfWork for SqlStore<D> {
    async fn begin(&self) -> StoreResult<Box<dyn mfa_core::store::Transaction>> {
        let tx: Shared<D> = Arc::new(Mutex::new(Some(self.pool().begin().await?)));
        let driver = UnitDriver::<D> {
            tx: Arc::clone(&tx),
        };
        Ok(Box::new(SqlUnit {
            repositories: SqlStore::for_unit(
                driver,
                self.prefix().clone(),
                Arc::clone(self.stats_handle()),
                Arc::default(),
            ),
            tx,
        }))
    }
}

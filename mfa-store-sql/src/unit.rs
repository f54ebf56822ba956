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

use crate::driver::{Driver, EachRow, Executor, Statement, Transaction};
use crate::error::is_retryable;
use crate::store::SqlStore;
use async_trait::async_trait;
use mfa_core::store::{Repositories, StoreError, StoreResult, UnitOfWork};
use std::sync::Arc;
use tokio::sync::Mutex;

/// The one open transaction of a unit, shared by its repository calls.
type Shared<D> = Arc<Mutex<Option<<D as Driver>::Tx>>>;

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
        let tx = self.tx.lock().await.take().ok_or_else(ended)?;
        tx.commit().await.map_err(contention)
    }

    async fn rollback(self: Box<Self>) -> StoreResult<()> {
        let tx = self.tx.lock().await.take().ok_or_else(ended)?;
        tx.rollback().await
    }
}

#[async_trait]
impl<D: Driver> UnitOfWork for SqlStore<D> {
    async fn begin(&self) -> StoreResult<Box<dyn mfa_core::store::Transaction>> {
        let tx: Shared<D> = Arc::new(Mutex::new(Some(self.driver().begin().await?)));
        let driver = UnitDriver::<D> {
            tx: Arc::clone(&tx),
        };
        Ok(Box::new(SqlUnit {
            repositories: SqlStore::new(driver, self.prefix().clone()),
            tx,
        }))
    }
}

//! Round-trip and commit counters of a [`SqlStore`](crate::SqlStore).
//!
//! Every store counts, with relaxed atomics (a few nanoseconds per
//! statement), what it asks of the database:
//!
//! - **statements**: every statement executed or fetched;
//! - **round trips**: the statements plus every `BEGIN`, `COMMIT` and
//!   `ROLLBACK` the store sends (a unit of work's nested transactions are
//!   free: they join the unit's);
//! - **write commits**: commits that wrote something, an estimate of the
//!   WAL flushes (fsyncs) of durable commits. A transaction counts when it
//!   commits after at least one write statement touched a row; an
//!   autocommitted write statement that touched a row counts by itself. A
//!   write statement is one that is not a `SELECT` (DDL, `INSERT`,
//!   `UPDATE`, `DELETE`), or a locking `SELECT … FOR UPDATE` (PostgreSQL
//!   logs row locks). A statement that touches no row (an `UPDATE` whose
//!   condition fails) writes nothing. The commit of a unit of
//!   [`Durability::Carried`] does not count where the driver carries it
//!   ([`Driver::CARRIES_COMMITS`]): it does not wait for a flush.
//!
//! Driver-internal traffic (a pool's liveness ping before handing out a
//! connection, prepared-statement bookkeeping) is not seen here.
//!
//! The counters are shared by a store, its clones and the units of work it
//! begins; read them with [`StoreStats::snapshot`] and zero them with
//! [`StoreStats::reset`]. The public stores of `mfa-store-sqlx` and
//! `mfa-store-diesel` expose them as `store.stats()`
//! ([`Instrumented`]). Tests pin the counts of the hot paths so a
//! regression fails CI.

use crate::driver::{Driver, EachRow, Executor, Statement, Transaction};
use crate::sql::Dialect;
use async_trait::async_trait;
use mfa_core::store::{Durability, StoreResult};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The counters of one store (see the [module docs](self)).
#[derive(Debug, Default)]
pub struct StoreStats {
    statements: AtomicU64,
    round_trips: AtomicU64,
    write_commits: AtomicU64,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Statements executed or fetched.
    pub statements: u64,
    /// Statements plus `BEGIN`, `COMMIT` and `ROLLBACK`.
    pub round_trips: u64,
    /// Commits (explicit or autocommits) that wrote something.
    pub write_commits: u64,
}

impl std::ops::Sub for StatsSnapshot {
    type Output = StatsSnapshot;

    /// What happened between two snapshots (`later - earlier`).
    fn sub(self, earlier: StatsSnapshot) -> StatsSnapshot {
        StatsSnapshot {
            statements: self.statements.saturating_sub(earlier.statements),
            round_trips: self.round_trips.saturating_sub(earlier.round_trips),
            write_commits: self.write_commits.saturating_sub(earlier.write_commits),
        }
    }
}

impl StoreStats {
    /// The counters now.
    #[must_use]
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            statements: self.statements.load(Ordering::Relaxed),
            round_trips: self.round_trips.load(Ordering::Relaxed),
            write_commits: self.write_commits.load(Ordering::Relaxed),
        }
    }

    /// Sets every counter to zero and returns what they were.
    pub fn reset(&self) -> StatsSnapshot {
        StatsSnapshot {
            statements: self.statements.swap(0, Ordering::Relaxed),
            round_trips: self.round_trips.swap(0, Ordering::Relaxed),
            write_commits: self.write_commits.swap(0, Ordering::Relaxed),
        }
    }

    fn statement(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
        self.round_trip();
    }

    fn control(&self) {
        self.round_trip();
    }

    /// Every round trip counts for the engine step that makes it too (its
    /// span's `store_calls`, see `mfa_core::observability`).
    fn round_trip(&self) {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        mfa_core::observability::count_store_call();
    }

    fn write_commit(&self) {
        self.write_commits.fetch_add(1, Ordering::Relaxed);
    }
}

/// A store whose database traffic is counted: the public stores of the
/// driver crates (through [`forward_repositories!`](crate::forward_repositories)).
pub trait Instrumented {
    /// The counters of this store, shared with its clones and units.
    fn stats(&self) -> &StoreStats;

    /// The SQL dialect of the store's backend.
    fn dialect(&self) -> &'static Dialect;

    /// Whether the store's driver runs a unit's deferred writes as one
    /// `;`-separated call ([`Driver::JOINS_STATEMENTS`]).
    fn joins_statements(&self) -> bool;

    /// Whether a unit of
    /// [`Durability::Carried`]
    /// commits without waiting for the flush ([`Driver::CARRIES_COMMITS`]).
    fn carries_commits(&self) -> bool;

    /// Whether a transaction's `BEGIN` goes with its first statement and
    /// the `COMMIT` after its deferred writes with them
    /// ([`Driver::PIPELINES`]).
    fn pipelines(&self) -> bool;
}

/// The pool of a driver, counted (`stats: None` for the "pool" of a unit of
/// work, whose statements its transaction counts): every statement is an
/// autocommit.
pub(crate) struct CountedPool<'a, D> {
    pub(crate) driver: &'a D,
    pub(crate) stats: Option<&'a Arc<StoreStats>>,
}

impl<D: Driver> CountedPool<'_, D> {
    /// Begins a counted transaction (one round trip) whose commit has
    /// `durability`.
    pub(crate) async fn begin(&self, durability: Durability) -> StoreResult<CountedTx<D::Tx>> {
        if let Some(stats) = self.stats
            && !D::PIPELINES
        {
            stats.control();
        }
        let carried = durability == Durability::Carried && D::CARRIES_COMMITS;
        let tx = if carried {
            self.driver.begin_carried().await?
        } else {
            self.driver.begin().await?
        };
        Ok(CountedTx {
            tx,
            stats: self.stats.cloned(),
            wrote: false,
            flushes: !carried,
            pipelined: D::PIPELINES,
            sent: false,
        })
    }
}

impl<D: Driver> CountedPool<'_, D> {
    /// [`Executor::fetch`] ahead of a unit's deferred writes (see
    /// [`Driver::fetch_ahead`]).
    pub(crate) async fn fetch_ahead(
        &self,
        statement: &Statement,
        each: &mut EachRow<'_>,
    ) -> StoreResult<()> {
        self.counted_fetch(statement, each, true).await
    }

    /// [`Executor::execute`] ahead of a unit's deferred writes (see
    /// [`Driver::execute_ahead`]).
    pub(crate) async fn execute_ahead(&self, statement: &Statement) -> StoreResult<u64> {
        self.counted_execute(statement, true).await
    }

    /// An execution on the driver (`ahead`: [`Driver::execute_ahead`]),
    /// counted.
    async fn counted_execute(&self, statement: &Statement, ahead: bool) -> StoreResult<u64> {
        let run = if ahead {
            self.driver.execute_ahead(statement)
        } else {
            self.driver.execute(statement)
        };
        let Some(stats) = self.stats else {
            return run.await;
        };
        stats.statement();
        let n = run.await?;
        if n > 0 && statement.writes() {
            stats.write_commit();
        }
        Ok(n)
    }

    /// A fetch on the driver (`ahead`: [`Driver::fetch_ahead`]), counted.
    async fn counted_fetch(
        &self,
        statement: &Statement,
        each: &mut EachRow<'_>,
        ahead: bool,
    ) -> StoreResult<()> {
        let Some(stats) = self.stats else {
            return if ahead {
                self.driver.fetch_ahead(statement, each).await
            } else {
                self.driver.fetch(statement, each).await
            };
        };
        stats.statement();
        let mut rows = 0u64;
        let mut counted = |row: &dyn crate::driver::Row| {
            rows += 1;
            each(row)
        };
        let result = if ahead {
            self.driver.fetch_ahead(statement, &mut counted).await
        } else {
            self.driver.fetch(statement, &mut counted).await
        };
        if rows > 0 && statement.writes() {
            stats.write_commit();
        }
        result
    }
}

#[async_trait]
impl<D: Driver> Executor for CountedPool<'_, D> {
    async fn execute(&mut self, statement: &Statement) -> StoreResult<u64> {
        self.counted_execute(statement, false).await
    }

    async fn fetch(&mut self, statement: &Statement, each: &mut EachRow<'_>) -> StoreResult<()> {
        self.counted_fetch(statement, each, false).await
    }
}

/// A transaction of a driver, counted (unless `stats` is `None`): its
/// statements, its `BEGIN` (counted by [`CountedPool::begin`]), its end,
/// and whether it wrote. A [pipelined](Driver::PIPELINES) transaction's
/// `BEGIN` rides with its first statement and the `COMMIT` of
/// [`Transaction::commit_after`] with its statement: neither is a round
/// trip of its own, and a transaction that sent nothing ends without one.
pub(crate) struct CountedTx<T> {
    tx: T,
    stats: Option<Arc<StoreStats>>,
    wrote: bool,
    /// Its commit waits for the log flush (not a carried commit).
    flushes: bool,
    /// Its driver pipelines.
    pipelined: bool,
    /// A statement was sent.
    sent: bool,
}

impl<T> CountedTx<T> {
    /// Counts a statement, and notes whether it wrote.
    fn count(&mut self, touched: u64, statement: &Statement) {
        self.sent = true;
        if touched > 0 && statement.writes() {
            self.wrote = true;
        }
    }

    /// Counts the end of the transaction (`COMMIT` or `ROLLBACK`), a round
    /// trip unless a pipelined transaction sent nothing.
    fn count_end(&self) {
        if let Some(stats) = &self.stats
            && (self.sent || !self.pipelined)
        {
            stats.control();
        }
    }
}

#[async_trait]
impl<T: Transaction> Executor for CountedTx<T> {
    async fn execute(&mut self, statement: &Statement) -> StoreResult<u64> {
        if let Some(stats) = &self.stats {
            stats.statement();
        }
        let n = self.tx.execute(statement).await?;
        self.count(n, statement);
        Ok(n)
    }

    async fn fetch(&mut self, statement: &Statement, each: &mut EachRow<'_>) -> StoreResult<()> {
        if let Some(stats) = &self.stats {
            stats.statement();
        }
        let mut rows = 0u64;
        let result = self
            .tx
            .fetch(statement, &mut |row| {
                rows += 1;
                each(row)
            })
            .await;
        self.count(rows, statement);
        result
    }
}

#[async_trait]
impl<T: Transaction> Transaction for CountedTx<T> {
    async fn commit(self) -> StoreResult<()> {
        self.count_end();
        let result = self.tx.commit().await;
        if let Some(stats) = &self.stats
            && self.wrote
            && self.flushes
            && result.is_ok()
        {
            stats.write_commit();
        }
        result
    }

    async fn rollback(self) -> StoreResult<()> {
        self.count_end();
        self.tx.rollback().await
    }

    async fn commit_after(self, last: &Statement) -> StoreResult<u64> {
        if let Some(stats) = &self.stats {
            stats.statement();
            if !self.pipelined {
                stats.control();
            }
        }
        let result = self.tx.commit_after(last).await;
        if let (Some(stats), Ok(n)) = (&self.stats, &result) {
            let wrote = self.wrote || (*n > 0 && last.writes());
            if wrote && self.flushes {
                stats.write_commit();
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_selects_do_not_write() {
        let st = |sql: &str| Statement::raw(sql);
        assert!(!st("SELECT 1").writes());
        assert!(!st("  select x FROM t").writes());
        assert!(st("SELECT x FROM t WHERE id = $1 FOR UPDATE").writes());
        assert!(st("INSERT INTO t VALUES (1)").writes());
        assert!(st("UPDATE t SET x = 1").writes());
        assert!(st("CREATE TABLE t (x INT)").writes());
        assert!(!st("WITH a AS (SELECT 1) SELECT * FROM a").writes());
    }

    #[test]
    fn reset_returns_and_zeroes_the_counters() {
        let s = StoreStats::default();
        s.statement();
        s.control();
        s.write_commit();
        let was = s.reset();
        assert_eq!(
            was,
            StatsSnapshot {
                statements: 1,
                round_trips: 2,
                write_commits: 1
            }
        );
        assert_eq!(s.snapshot(), StatsSnapshot::default());
    }
}

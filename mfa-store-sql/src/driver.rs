//! The driver interface: what a database crate (sqlx, diesel) provides so
//! the repositories of this crate run on it.
//!
//! A driver does three things: runs a [`Statement`] and says how many rows
//! it touched, hands each result row to a callback as a [`Row`] read by
//! column name, and opens a [`Transaction`] with the backend's write-lock
//! flavour. The statements, their dialect differences
//! ([`Dialect`]) and all repository logic live here.
//!
//! Repository code is written against [`Executor`], which both "the pool"
//! (every statement on any pooled connection, autocommitted: a `&D` for a
//! driver `D`) and an open transaction implement, so the same code runs
//! either alone or as part of a larger unit of work.

use crate::sql::{Arg, Dialect, highest_placeholder};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mfa_core::store::StoreResult;
use uuid::Uuid;

/// One statement ready to run: text in the backend's syntax and the values
/// to bind, in binding order.
#[derive(Debug, Clone)]
pub struct Statement {
    /// The SQL text, table prefix and placeholders already in place.
    pub sql: String,
    /// The values, one per placeholder in order.
    pub args: Vec<Arg>,
}

impl Statement {
    /// A statement from a template written with `{p}` and `$n` (see
    /// [`Dialect::prepare`]). Numbered placeholders bind exactly the highest
    /// `$n` values (PostgreSQL and SQLite refuse surplus ones); MySQL's `?`
    /// bind the argument each stands for, repeated where it repeats.
    #[must_use]
    pub fn new(dialect: &Dialect, prefix: &str, template: &str, args: Vec<Arg>) -> Self {
        let (sql, order) = dialect.prepare(template, prefix);
        let args = match order {
            None => {
                let used = highest_placeholder(template);
                args.into_iter().take(used).collect()
            }
            Some(order) => order
                .into_iter()
                .filter_map(|i| args.get(i).cloned())
                .collect(),
        };
        Self { sql, args }
    }

    /// Whether the statement writes when it touches a row: anything but a
    /// plain `SELECT` (a `SELECT … FOR UPDATE` locks rows, which
    /// PostgreSQL logs; a `WITH` counts when it holds a data-modifying
    /// statement).
    #[must_use]
    pub fn writes(&self) -> bool {
        let sql = self.sql.trim_start();
        let head: String = sql
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .map(|c| c.to_ascii_uppercase())
            .collect();
        match head.as_str() {
            "SELECT" => sql.contains(" FOR UPDATE"),
            "WITH" => ["INSERT ", "UPDATE ", "DELETE "]
                .iter()
                .any(|kw| sql.contains(kw)),
            _ => true,
        }
    }

    /// A statement without parameters, run as it is (DDL of migrations).
    #[must_use]
    pub fn raw(sql: impl Into<String>) -> Self {
        Self {
            sql: sql.into(),
            args: Vec::new(),
        }
    }
}

/// One result row, its columns read by name as the types the repositories
/// store. A driver converts from its column types (SQLite keeps timestamps
/// as integer microseconds, MySQL UUIDs as `BINARY(16)`, …); a value that
/// does not convert is [`StoreError::Corrupt`](mfa_core::store::StoreError::Corrupt).
#[allow(missing_docs)] // one method per column type; the names say it all
pub trait Row {
    fn uuid(&self, column: &str) -> StoreResult<Uuid>;
    fn opt_uuid(&self, column: &str) -> StoreResult<Option<Uuid>>;
    fn text(&self, column: &str) -> StoreResult<String>;
    fn opt_text(&self, column: &str) -> StoreResult<Option<String>>;
    fn i32(&self, column: &str) -> StoreResult<i32>;
    fn opt_i32(&self, column: &str) -> StoreResult<Option<i32>>;
    fn i64(&self, column: &str) -> StoreResult<i64>;
    fn opt_i64(&self, column: &str) -> StoreResult<Option<i64>>;
    fn bytes(&self, column: &str) -> StoreResult<Vec<u8>>;
    fn opt_bytes(&self, column: &str) -> StoreResult<Option<Vec<u8>>>;
    fn bool(&self, column: &str) -> StoreResult<bool>;
    fn ts(&self, column: &str) -> StoreResult<DateTime<Utc>>;
    fn opt_ts(&self, column: &str) -> StoreResult<Option<DateTime<Utc>>>;
    fn json(&self, column: &str) -> StoreResult<serde_json::Value>;
}

/// What receives the rows of [`Executor::fetch`], one at a time.
pub type EachRow<'a> = dyn FnMut(&dyn Row) -> StoreResult<()> + Send + 'a;

/// Something statements run on: the pool (autocommit) or an open
/// transaction. Errors come back mapped: a unique violation as
/// `StoreError::Conflict` (relabelled by the caller), deadlocks and
/// serialization failures as retryable [`DbFailure`](crate::error::DbFailure)s.
#[async_trait]
pub trait Executor: Send {
    /// Runs a statement; returns the number of rows it affected.
    async fn execute(&mut self, statement: &Statement) -> StoreResult<u64>;

    /// Runs a query and passes every row, in order, to `each`; the first
    /// error `each` returns ends the fetch.
    async fn fetch(&mut self, statement: &Statement, each: &mut EachRow<'_>) -> StoreResult<()>;
}

/// An open transaction on one connection. Dropping it without
/// [`commit`](Transaction::commit) must not commit, and must not hand its
/// connection to anyone else while the transaction is open.
#[async_trait]
pub trait Transaction: Executor + Sized {
    /// Commits.
    async fn commit(self) -> StoreResult<()>;
    /// Rolls back.
    async fn rollback(self) -> StoreResult<()>;

    /// Runs `last`, then commits: how a unit of work ends when it has
    /// deferred writes. A driver that [pipelines](Driver::PIPELINES) sends
    /// both at once. If `last` fails, nothing of the transaction is
    /// committed: the transaction is rolled back and `last`'s error
    /// returned.
    ///
    /// # Errors
    /// `last`'s error, or the commit's.
    async fn commit_after(self, last: &Statement) -> StoreResult<u64> {
        execute_then_commit(self, last).await
    }
}

/// [`Transaction::commit_after`] without pipelining: runs `last`, waits for
/// its answer, then commits; if `last` fails, rolls back.
///
/// # Errors
/// `last`'s error, or the commit's.
pub async fn execute_then_commit<T: Transaction>(mut tx: T, last: &Statement) -> StoreResult<u64> {
    match tx.execute(last).await {
        Ok(n) => tx.commit().await.map(|()| n),
        Err(e) => {
            // The statement's error is the one to report; a failed
            // rollback leaves the connection to the driver, which
            // discards it.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

/// A database: statements on its pool, and transactions.
#[async_trait]
pub trait Driver: Send + Sync + 'static {
    /// The SQL differences of this backend.
    const DIALECT: Dialect;

    /// The driver runs several statements handed over as one
    /// (`;`-separated, placeholders numbered across them, see
    /// [`crate::sql::joined_statement`]) in one call, each in turn: a unit
    /// of work's deferred writes then cost one call where the dialect has
    /// no batch statement of its own (sqlx's SQLite driver; not diesel's,
    /// which prepares one statement per call).
    const JOINS_STATEMENTS: bool = false;

    /// A transaction of this driver.
    type Tx: Transaction;

    /// Runs a statement on a pooled connection, autocommitted.
    async fn execute(&self, statement: &Statement) -> StoreResult<u64>;

    /// Runs a query on a pooled connection (see [`Executor::fetch`]).
    async fn fetch(&self, statement: &Statement, each: &mut EachRow<'_>) -> StoreResult<()>;

    /// [`Driver::fetch`] of a statement that reads and writes only rows no
    /// deferred write of a unit of work touches (the backup codes): inside
    /// a unit it may run ahead of them, leaving them for the unit's next
    /// statement or its commit. Outside a unit it is [`Driver::fetch`].
    async fn fetch_ahead(&self, statement: &Statement, each: &mut EachRow<'_>) -> StoreResult<()> {
        self.fetch(statement, each).await
    }

    /// [`Driver::execute`] ahead of a unit's deferred writes (see
    /// [`Driver::fetch_ahead`]).
    async fn execute_ahead(&self, statement: &Statement) -> StoreResult<u64> {
        self.execute(statement).await
    }

    /// Begins a write transaction on a pooled connection, taking the
    /// backend's write lock up front where it needs that (SQLite:
    /// `BEGIN IMMEDIATE`, so a transaction never fails upgrading a read lock).
    async fn begin(&self) -> StoreResult<Self::Tx>;

    /// [`Driver::begin_carried`] gives a transaction whose commit does not
    /// wait for the log flush (PostgreSQL: `SET LOCAL synchronous_commit
    /// TO off` in the same round trip as its `BEGIN`).
    const CARRIES_COMMITS: bool = false;

    /// Begins a transaction for a unit of
    /// [`Durability::Carried`](mfa_core::store::Durability::Carried); the
    /// default is [`Driver::begin`].
    async fn begin_carried(&self) -> StoreResult<Self::Tx> {
        self.begin().await
    }

    /// The driver's transactions send nothing until their first statement,
    /// and that statement goes out with their `BEGIN` in one round trip;
    /// [`Transaction::commit_after`] sends its statement with the `COMMIT`
    /// in one round trip too (diesel's PostgreSQL connection, which
    /// pipelines requests). A transaction that ran no statement sends no
    /// `BEGIN` and no `COMMIT`.
    ///
    /// The statements of one transaction are still run one after the
    /// other, in the order sent: pipelining saves the wait between them,
    /// not the order. A driver that sets this must send each request only
    /// after the one before it.
    const PIPELINES: bool = false;
}

/// The pool as an [`Executor`]: each statement on any pooled connection.
#[async_trait]
impl<D: Driver> Executor for &D {
    async fn execute(&mut self, statement: &Statement) -> StoreResult<u64> {
        Driver::execute(*self, statement).await
    }

    async fn fetch(&mut self, statement: &Statement, each: &mut EachRow<'_>) -> StoreResult<()> {
        Driver::fetch(*self, statement, each).await
    }
}

/// Every row of a query, read by `read`.
///
/// # Errors
/// The executor's, or `read`'s.
pub async fn fetch_all<T: Send>(
    ex: &mut (dyn Executor + '_),
    statement: &Statement,
    read: fn(&dyn Row) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut out = Vec::new();
    ex.fetch(statement, &mut |row| {
        out.push(read(row)?);
        Ok(())
    })
    .await?;
    Ok(out)
}

/// The first row of a query, if any, read by `read`.
///
/// # Errors
/// The executor's, or `read`'s.
pub async fn fetch_optional<T: Send>(
    ex: &mut (dyn Executor + '_),
    statement: &Statement,
    read: fn(&dyn Row) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    let mut out = None;
    ex.fetch(statement, &mut |row| {
        if out.is_none() {
            out = Some(read(row)?);
        }
        Ok(())
    })
    .await?;
    Ok(out)
}

/// The row a query must return, read by `read`.
///
/// # Errors
/// The executor's, `read`'s, or a backend error "row not found".
pub async fn fetch_one<T: Send>(
    ex: &mut (dyn Executor + '_),
    statement: &Statement,
    read: fn(&dyn Row) -> StoreResult<T>,
) -> StoreResult<T> {
    fetch_optional(ex, statement, read)
        .await?
        .ok_or_else(|| crate::error::backend("row not found", None))
}

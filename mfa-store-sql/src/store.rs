//! [`SqlStore`]: the repositories on a [`Driver`], and the helpers every
//! repository file uses.

use crate::driver::{Driver, Executor, Row, Statement, Transaction, fetch_all, fetch_optional};
use crate::migrate::MigrationLock;
use crate::prefix::TablePrefix;
use crate::rows::FromRow;
use crate::sql::{Arg, Dialect, PURGE_BATCH};
use crate::stats::{CountedPool, StoreStats};
use crate::unit::UnitState;
use chrono::Utc;
use mfa_core::store::{StoreError, StoreResult};
use std::sync::Arc;

/// Retries an `async` block while it fails with a deadlock, serialization
/// failure or busy database. Every block passed here is a whole transaction,
/// so a retry starts from scratch.
macro_rules! retry {
    ($block:expr) => {{
        let mut tries = 0u32;
        loop {
            let result = $block.await;
            match result {
                Err(ref e) if tries < 20 && $crate::error::is_retryable(e) => tries += 1,
                _ => break result,
            }
        }
    }};
}

/// Runs `$body` (a block of type `StoreResult<T>` that may `return`) in a
/// write transaction bound to `$tx: &mut dyn Executor`, committing on `Ok`
/// and rolling back on `Err`, retried as a whole on conflicts.
macro_rules! in_tx {
    ($self:ident, |$tx:ident| $body:block) => {
        $crate::store::retry!(async {
            let mut open = $self
                .pool()
                .begin(mfa_core::store::Durability::Flushed)
                .await?;
            let result: StoreResult<_> = async {
                let $tx: &mut (dyn $crate::driver::Executor + '_) = &mut open;
                $body
            }
            .await;
            $crate::store::finish(open, result).await
        })
    };
}

pub(crate) use {in_tx, retry};

/// Commits on `Ok`, rolls back on `Err` (keeping the first error; a failed
/// rollback leaves the connection for the driver to discard).
pub(crate) async fn finish<T, X: Transaction>(tx: X, result: StoreResult<T>) -> StoreResult<T> {
    match result {
        Ok(value) => {
            tx.commit().await?;
            Ok(value)
        }
        Err(e) => {
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

/// Every repository trait of [`mfa_core::store`] on the database behind a
/// [`Driver`], with tables named `<prefix>users`, `<prefix>factors`, ….
///
/// The public store types of `mfa-store-sqlx` and `mfa-store-diesel` wrap
/// one of these and forward every trait method to it
/// ([`forward_repositories!`](crate::forward_repositories)).
///
/// A store counts its round trips and writing commits
/// ([`stats`](Self::stats)); clones of it, and the units of work it
/// begins, count into the same [`StoreStats`].
#[derive(Debug, Clone)]
pub struct SqlStore<D> {
    driver: D,
    prefix: TablePrefix,
    stats: Arc<StoreStats>,
    /// `Some` for the repositories of an open unit of work.
    unit: Option<Arc<UnitState>>,
}

impl<D: Driver> SqlStore<D> {
    /// The repositories on `driver`, tables starting with `prefix`, with
    /// fresh counters.
    #[must_use]
    pub fn new(driver: D, prefix: TablePrefix) -> Self {
        Self {
            driver,
            prefix,
            stats: Arc::default(),
            unit: None,
        }
    }

    /// The repositories of a unit of work: `driver` runs every statement
    /// on the unit's transaction, which counts them into `stats`.
    pub(crate) fn for_unit(
        driver: D,
        prefix: TablePrefix,
        stats: Arc<StoreStats>,
        unit: Arc<UnitState>,
    ) -> Self {
        Self {
            driver,
            prefix,
            stats,
            unit: Some(unit),
        }
    }

    /// The round-trip and commit counters of this store (see
    /// [`crate::stats`]).
    #[must_use]
    pub fn stats(&self) -> &StoreStats {
        &self.stats
    }

    /// The shared counters, for the units this store begins.
    pub(crate) fn stats_handle(&self) -> &Arc<StoreStats> {
        &self.stats
    }

    /// The state of the open unit of work these repositories run in, if any.
    pub(crate) fn unit(&self) -> Option<&UnitState> {
        self.unit.as_deref()
    }

    /// The pool as a counted executor (inside a unit: the unit's
    /// transaction, counted there). Its `begin` opens a counted
    /// transaction.
    pub(crate) fn pool(&self) -> CountedPool<'_, D> {
        CountedPool {
            driver: &self.driver,
            stats: self.unit.is_none().then_some(&self.stats),
        }
    }

    /// The driver.
    #[must_use]
    pub fn driver(&self) -> &D {
        &self.driver
    }

    /// The SQL dialect of the driver's backend.
    #[must_use]
    pub fn sql_dialect(&self) -> &'static Dialect {
        &D::DIALECT
    }

    /// Whether the driver runs several statements as one call
    /// ([`Driver::JOINS_STATEMENTS`]).
    #[must_use]
    pub fn joins_statements(&self) -> bool {
        D::JOINS_STATEMENTS
    }

    /// Whether a carried unit's commit skips the flush wait
    /// ([`Driver::CARRIES_COMMITS`]).
    #[must_use]
    pub fn carries_commits(&self) -> bool {
        D::CARRIES_COMMITS
    }

    /// Whether the driver sends a transaction's `BEGIN` and `COMMIT` with
    /// its statements ([`Driver::PIPELINES`]).
    #[must_use]
    pub fn pipelines(&self) -> bool {
        D::PIPELINES
    }

    /// The table prefix.
    #[must_use]
    pub fn prefix(&self) -> &TablePrefix {
        &self.prefix
    }

    /// Creates or upgrades the tables. Idempotent: applied versions are
    /// recorded in `<prefix>schema_migrations` (one table for both stores,
    /// so a schema migrated by one is up to date for the other). Migrators
    /// of one prefix are serialised ([`MigrationLock`]); on SQLite and
    /// PostgreSQL every migration runs in one transaction with its record.
    ///
    /// # Errors
    /// Any database failure; on MySQL/MariaDB, where DDL cannot be rolled
    /// back, a migration failing half-way must be cleaned up by hand.
    pub async fn migrate(&self) -> StoreResult<()> {
        self.migrate_to(i64::MAX).await
    }

    /// [`SqlStore::migrate`], applying the migrations up to version `last`
    /// only: for tests of an upgrade from an earlier schema.
    ///
    /// # Errors
    /// As [`SqlStore::migrate`].
    #[doc(hidden)]
    pub async fn migrate_to(&self, last: i64) -> StoreResult<()> {
        let dialect = &D::DIALECT;
        let lock_name = || vec![Arg::Text(format!("mfa-store-sqlx:{}", self.prefix))];
        let mut open = self
            .pool()
            .begin(mfa_core::store::Durability::Flushed)
            .await?;
        let tx: &mut (dyn Executor + '_) = &mut open;
        let locked = match dialect.migration_lock {
            MigrationLock::None => Ok(()),
            MigrationLock::Transaction(lock) => {
                tx.execute(&self.st(lock, lock_name())).await.map(drop)
            }
            MigrationLock::Session { acquire, .. } => {
                let st = self.st(acquire, lock_name());
                match fetch_optional(tx, &st, |r| r.opt_i64("v")).await {
                    Ok(Some(Some(1))) => Ok(()),
                    Ok(_) => Err(StoreError::Unavailable(
                        "timed out waiting for the migration lock".into(),
                    )),
                    Err(e) => Err(e),
                }
            }
        };
        if let Err(e) = locked {
            return finish(open, Err(e)).await;
        }
        let mut result = self.apply_migrations(tx, last).await;
        if let MigrationLock::Session { release, .. } = dialect.migration_lock {
            let released = fetch_all(tx, &self.st(release, lock_name()), |_| Ok(())).await;
            result = released.and(result);
        }
        finish(open, result).await?;
        if last >= 7 {
            self.maintain_audit_partitions(Utc::now()).await?;
        }
        Ok(())
    }

    async fn apply_migrations(&self, tx: &mut (dyn Executor + '_), last: i64) -> StoreResult<()> {
        let dialect = &D::DIALECT;
        let prefix = self.prefix.as_str();
        let tracking = crate::migrate::tracking_table(prefix, dialect.applied_at);
        tx.execute(&Statement::raw(tracking)).await?;
        let applied = crate::migrate::applied_sql(prefix);
        let applied = fetch_all(tx, &Statement::raw(applied), |r| r.i64("version")).await?;
        for migration in dialect
            .migrations
            .iter()
            .filter(|m| m.version <= last && !applied.contains(&m.version))
        {
            for statement in migration.statements(prefix) {
                tx.execute(&Statement::raw(statement)).await?;
            }
            let mut args = vec![
                Arg::I64(migration.version),
                Arg::Text(migration.name.to_owned()),
            ];
            let record = if dialect.records_applied_at {
                args.push(Arg::Ts(Utc::now()));
                "INSERT INTO {p}schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)"
            } else {
                "INSERT INTO {p}schema_migrations (version, name) VALUES ($1, $2)"
            };
            tx.execute(&self.st(record, args)).await?;
        }
        Ok(())
    }

    /// A statement of this store from a template (`{p}`, `$n`).
    pub(crate) fn st(&self, template: &str, args: Vec<Arg>) -> Statement {
        Statement::new(&D::DIALECT, self.prefix.as_str(), template, args)
    }

    /// The dialect of the driver.
    pub(crate) fn dialect(&self) -> &'static Dialect {
        &D::DIALECT
    }

    /// Runs a statement on `ex`; returns the affected row count.
    pub(crate) async fn run(
        &self,
        ex: &mut (dyn Executor + '_),
        template: &str,
        args: Vec<Arg>,
    ) -> StoreResult<u64> {
        ex.execute(&self.st(template, args)).await
    }

    /// [`Self::run`] for inserts: a unique violation is `Conflict(conflict)`.
    pub(crate) async fn run_as(
        &self,
        ex: &mut (dyn Executor + '_),
        template: &str,
        args: Vec<Arg>,
        conflict: &'static str,
    ) -> StoreResult<u64> {
        self.run(ex, template, args)
            .await
            .map_err(crate::error::conflict_as(conflict))
    }

    /// Every row of a query on `ex`.
    pub(crate) async fn rows_on<T: Send>(
        &self,
        ex: &mut (dyn Executor + '_),
        template: &str,
        args: Vec<Arg>,
        read: fn(&dyn Row) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        fetch_all(ex, &self.st(template, args), read).await
    }

    /// The first row of a query on `ex`, if any.
    pub(crate) async fn row_on<T: Send>(
        &self,
        ex: &mut (dyn Executor + '_),
        template: &str,
        args: Vec<Arg>,
        read: fn(&dyn Row) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        fetch_optional(ex, &self.st(template, args), read).await
    }

    /// The row a query must return on `ex`.
    pub(crate) async fn one_on<T: Send>(
        &self,
        ex: &mut (dyn Executor + '_),
        template: &str,
        args: Vec<Arg>,
        read: fn(&dyn Row) -> StoreResult<T>,
    ) -> StoreResult<T> {
        crate::driver::fetch_one(ex, &self.st(template, args), read).await
    }

    /// [`Self::run`] on the pool.
    pub(crate) async fn affected(&self, template: &str, args: Vec<Arg>) -> StoreResult<u64> {
        self.pool().execute(&self.st(template, args)).await
    }

    /// An insert on the pool; a unique violation is `Conflict(conflict)`.
    pub(crate) async fn insert(
        &self,
        template: &str,
        args: Vec<Arg>,
        conflict: &'static str,
    ) -> StoreResult<()> {
        self.affected(template, args)
            .await
            .map_err(crate::error::conflict_as(conflict))?;
        Ok(())
    }

    /// [`Self::insert`], or inside a unit of work a write deferred to the
    /// unit's next flush (for rows with fresh ids; the unit's next
    /// statement flushes it first, so the unit reads its own rows, and a
    /// duplicate id fails that flush, and the unit).
    pub(crate) async fn insert_or_defer(
        &self,
        template: &str,
        args: Vec<Arg>,
        conflict: &'static str,
    ) -> StoreResult<()> {
        match self.unit() {
            Some(unit) => {
                unit.defer(None, self.st(template, args));
                Ok(())
            }
            None => self.insert(template, args, conflict).await,
        }
    }

    /// The first model row of a query on the pool, if any.
    pub(crate) async fn row<T: FromRow>(
        &self,
        template: &str,
        args: Vec<Arg>,
    ) -> StoreResult<Option<T>> {
        self.row_on(&mut self.pool(), template, args, T::from_row)
            .await
    }

    /// Every model row of a query on the pool.
    pub(crate) async fn rows<T: FromRow>(
        &self,
        template: &str,
        args: Vec<Arg>,
    ) -> StoreResult<Vec<T>> {
        self.rows_on(&mut self.pool(), template, args, T::from_row)
            .await
    }

    /// Deletes rows matching `condition` in batches of [`PURGE_BATCH`], so
    /// a purge never holds long locks; returns how many went.
    pub(crate) async fn purge_in_batches(
        &self,
        table: &str,
        condition: &str,
        args: Vec<Arg>,
    ) -> StoreResult<u64> {
        let template = D::DIALECT.batch_delete(table, condition, PURGE_BATCH);
        let mut total = 0u64;
        loop {
            let n = self.affected(&template, args.clone()).await?;
            total += n;
            if n < u64::from(PURGE_BATCH) {
                return Ok(total);
            }
        }
    }
}

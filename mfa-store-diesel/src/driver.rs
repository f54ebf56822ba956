//! The diesel-async [`Driver`](mfa_store_sql::driver::Driver) of each
//! backend, stamped out by one macro: the backends differ in their
//! connection type, how a transaction begins (the `begin` function of each
//! backend module), and the forms in which UUIDs, timestamps and JSON are
//! stored ([`Storage`](mfa_store_sql::value::Storage)).
//!
//! Every statement is a `diesel::sql_query` with bound parameters: diesel's
//! `table!` needs static table names, and the prefix is chosen at run time.

use mfa_core::store::{StoreError, StoreResult};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Longest a statement or `BEGIN` waits for a database lock held by
/// another process (SQLite's usual busy timeout).
const PATIENCE: Duration = Duration::from_secs(5);

/// First and longest pause between two tries of a busy statement.
const FIRST_PAUSE: Duration = Duration::from_micros(500);
const LONGEST_PAUSE: Duration = Duration::from_millis(50);

/// How writers of a store wait for the database's write lock.
///
/// PostgreSQL and MySQL lock rows and wait in the server: their gate is
/// open. SQLite has one write lock per database and its calls run on the
/// calling thread ([`crate::sqlite::Inline`]), so a connection must never
/// sit in SQLite's busy handler while the unit holding the lock waits for
/// that very thread. Its gate is a queue of one: the store's writers (units
/// and autocommitted writes) take turns asynchronously, and a lock held
/// by another process (SQLite answers "busy" at once: the connections
/// have no busy timeout) is waited for with asynchronous pauses, up to
/// [`PATIENCE`].
#[derive(Clone, Default)]
pub(crate) struct WriteGate(Option<Arc<Semaphore>>);

impl WriteGate {
    /// The gate of a database with a single write lock.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn single_writer() -> Self {
        Self(Some(Arc::new(Semaphore::new(1))))
    }

    /// Waits for this store's turn to write, when the gate is a queue and
    /// `writes()` (asked only then); the turn lasts as long as the permit.
    /// A turn not had within [`PATIENCE`] is [`StoreError::Contention`], as
    /// a busy timeout is.
    pub(crate) async fn enter(
        &self,
        writes: impl FnOnce() -> bool,
    ) -> StoreResult<Option<OwnedSemaphorePermit>> {
        match &self.0 {
            Some(queue) if writes() => {
                match tokio::time::timeout(PATIENCE, queue.clone().acquire_owned()).await {
                    Ok(Ok(permit)) => Ok(Some(permit)),
                    Ok(Err(_closed)) => Err(StoreError::Unavailable("write queue closed".into())),
                    Err(_elapsed) => Err(StoreError::Contention(
                        "waited too long for the database write lock".into(),
                    )),
                }
            }
            _ => Ok(None),
        }
    }

    /// A budget of tries for one statement or `BEGIN`.
    pub(crate) fn patience(&self) -> Patience {
        Patience {
            waits: self.0.is_some(),
            deadline: Instant::now() + PATIENCE,
            pause: FIRST_PAUSE,
        }
    }
}

/// The tries left to one statement of a [`WriteGate`].
pub(crate) struct Patience {
    waits: bool,
    deadline: Instant,
    pause: Duration,
}

impl Patience {
    /// After `err`: pauses and answers `true` when the statement should be
    /// tried again (the database was busy, and the deadline is not past).
    pub(crate) async fn again(&mut self, err: &StoreError) -> bool {
        let busy = err.is_contention() || mfa_store_sql::error::is_retryable(err);
        if !self.waits || !busy || Instant::now() >= self.deadline {
            return false;
        }
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(LONGEST_PAUSE);
        true
    }
}

/// Implements `Bind` of each Rust type, as its SQL type, for the `Binding`
/// of the backend `$db`, and `Decode` for its `Raw` rows; the `Option` of
/// each as the nullable SQL type.
macro_rules! sql_types {
    ($db:ty; $($rust:ty => $sql:ty),*) => {$(
        impl Bind<$rust> for Binding {
            fn bind(self, value: $rust) -> Self {
                Self(self.0.bind::<$sql, _>(value))
            }
        }
        impl Bind<Option<$rust>> for Binding {
            fn bind(self, value: Option<$rust>) -> Self {
                Self(self.0.bind::<Nullable<$sql>, _>(value))
            }
        }
        impl<'r, R: diesel::row::Row<'r, $db>> Decode<$rust> for Raw<'_, 'r, R> {
            fn decode(&self, c: &str) -> StoreResult<$rust> {
                diesel::row::NamedRow::get::<$sql, _>(self.0, c).map_err(|_| mfa_store_sql::error::corrupt(c))
            }
        }
        impl<'r, R: diesel::row::Row<'r, $db>> Decode<Option<$rust>> for Raw<'_, 'r, R> {
            fn decode(&self, c: &str) -> StoreResult<Option<$rust>> {
                diesel::row::NamedRow::get::<Nullable<$sql>, _>(self.0, c).map_err(|_| mfa_store_sql::error::corrupt(c))
            }
        }
    )*};
}

/// Implements the driver traits for `$driver` (a struct holding a deadpool
/// `Pool<$conn>` as `pool`), whose transactions are `$tx`. `uuid`, `ts`
/// and `json` are the Rust types in which the backend stores those values;
/// `types` gives the diesel SQL type of each Rust type bound or read
/// beyond text, integers, bytes and booleans. The backend module provides
/// `gate()` (its [`WriteGate`]), `CARRIES_COMMITS` (see
/// `mfa_store_sql::driver::Driver`) and either `begin(conn, carried)`
/// (`carried`: for a unit of `Durability::Carried`, which it may begin as
/// any other), or, with `transactions: pipelined` (a connection whose
/// shared reference runs queries, i.e. pipelines them: PostgreSQL),
/// `begin_sql(carried)`, the text sent with a transaction's first
/// statement.
macro_rules! diesel_driver {
    ($driver:ident, $tx:ident, $conn:ty, $db:ty, $dialect:expr,
     uuid: $uuid:ty, ts: $ts:ty, json: $json:ty, types: [$($t:ty => $st:ty),* $(,)?]) => {
        crate::driver::diesel_driver!($driver, $tx, $conn, $db, $dialect,
            uuid: $uuid, ts: $ts, json: $json, types: [$($t => $st),*], transactions: sequential);
    };
    ($driver:ident, $tx:ident, $conn:ty, $db:ty, $dialect:expr,
     uuid: $uuid:ty, ts: $ts:ty, json: $json:ty, types: [$($t:ty => $st:ty),* $(,)?],
     transactions: $mode:ident) => {
        use diesel::sql_types::{BigInt, Binary, Bool, Integer, Nullable, Text};
        use diesel_async::pooled_connection::deadpool::Object;
        use diesel_async::{AsyncConnection, AsyncConnectionCore, RunQueryDsl, TransactionManager};
        use futures::TryStreamExt;
        use mfa_store_sql::driver::{EachRow, Executor, Statement};
        use mfa_store_sql::value::{Bind, Columns, Decode, Storage, bind_args};
        use std::marker::PhantomData;

        type Tm = <$conn as AsyncConnection>::TransactionManager;
        type Query = diesel::query_builder::BoxedSqlQuery<'static, $db, diesel::query_builder::SqlQuery>;

        /// The forms of the stored values on this backend.
        struct Forms;

        impl Storage for Forms {
            type Uuid = $uuid;
            type Ts = $ts;
            type Json = $json;
        }

        /// A query being bound.
        struct Binding(Query);

        /// A result row, its columns read by name.
        struct Raw<'b, 'r, R>(&'b R, PhantomData<&'r ()>);

        crate::driver::sql_types!($db; String => Text, i32 => Integer, i64 => BigInt,
            Vec<u8> => Binary, bool => Bool $(, $t => $st)*);

        /// A statement as diesel runs it: the text and its bound values,
        /// its prepared form kept by the connection for the next run.
        ///
        /// Diesel never reuses the prepared form of a `sql_query`, since it
        /// cannot know whether its text was built from values. Ours is
        /// fixed text from the repository templates (every value is a
        /// bound parameter), so it can be: on SQLite, compiling a statement
        /// cost more than running it. The connection's cache is keyed by
        /// the text and the bound types; the templates give a bounded set
        /// of texts (multi-row inserts add one per row count).
        struct Prepared(Query);

        impl diesel::query_builder::QueryFragment<$db> for Prepared {
            fn walk_ast<'b>(
                &'b self,
                pass: diesel::query_builder::AstPass<'_, 'b, $db>,
            ) -> diesel::QueryResult<()> {
                self.0.walk_ast(pass)
            }

            fn is_safe_to_cache_prepared(&self, _backend: &$db) -> diesel::QueryResult<bool> {
                Ok(true)
            }
        }

        impl diesel::query_builder::QueryId for Prepared {
            type QueryId = ();
            const HAS_STATIC_QUERY_ID: bool = false;
        }

        impl diesel::query_builder::Query for Prepared {
            type SqlType = diesel::sql_types::Untyped;
        }

        fn query(statement: &Statement) -> Prepared {
            let sql = diesel::sql_query(statement.sql.clone()).into_boxed::<$db>();
            Prepared(bind_args::<Forms, _>(Binding(sql), &statement.args).0)
        }

        async fn execute_on(conn: &mut $conn, statement: &Statement) -> StoreResult<u64> {
            let n = query(statement).execute(conn).await.map_err(map_err)?;
            Ok(n as u64)
        }

        async fn fetch_on(
            conn: &mut $conn,
            statement: &Statement,
            each: &mut EachRow<'_>,
        ) -> StoreResult<()> {
            // The row-by-row API: a row is read by name while it is borrowed
            // from the stream, so no typed result struct is needed.
            let rows = AsyncConnectionCore::load(conn, query(statement))
                .await
                .map_err(map_err)?;
            let mut rows = std::pin::pin!(rows);
            while let Some(row) = rows.try_next().await.map_err(map_err)? {
                each(&Columns::<_, Forms>::new(&Raw(&row, PhantomData)))?;
            }
            Ok(())
        }

        /// The diesel driver of this backend.
        #[derive(Clone)]
        pub(crate) struct $driver {
            pub(crate) pool: diesel_async::pooled_connection::deadpool::Pool<$conn>,
            gate: crate::driver::WriteGate,
        }

        impl $driver {
            /// Opens a transaction on a pooled connection in this store's
            /// turn to write (a busy database waited for by the gate).
            async fn open(&self, carried: bool) -> StoreResult<$tx> {
                let turn = self.gate.enter(|| true).await?;
                let conn = self.pool.get().await.map_err(mfa_core::store::StoreError::unavailable)?;
                crate::driver::diesel_driver!(@open $mode, $tx, conn, turn, self.gate.patience(), carried)
            }
        }

        impl From<diesel_async::pooled_connection::deadpool::Pool<$conn>> for $driver {
            fn from(pool: diesel_async::pooled_connection::deadpool::Pool<$conn>) -> Self {
                Self { pool, gate: gate() }
            }
        }

        crate::driver::diesel_driver!(@struct $mode, $driver, $tx, $conn);

        impl Drop for $tx {
            /// A transaction dropped while open (its unit's future was
            /// cancelled, or its end failed) must not go back to the pool
            /// with the transaction still open: the connection is marked
            /// broken, and the pool discards it.
            fn drop(&mut self) {
                if self.open {
                    <Tm as TransactionManager<$conn>>::transaction_manager_status_mut(&mut self.conn)
                        .set_in_error();
                }
            }
        }

        crate::driver::diesel_driver!(@transactions $mode, $tx, $conn);

        #[async_trait::async_trait]
        impl mfa_store_sql::driver::Driver for $driver {
            const DIALECT: mfa_store_sql::sql::Dialect = $dialect;
            type Tx = $tx;

            async fn execute(&self, statement: &Statement) -> StoreResult<u64> {
                let _turn = self.gate.enter(|| statement.writes()).await?;
                let mut conn = self.pool.get().await.map_err(mfa_core::store::StoreError::unavailable)?;
                let mut patience = self.gate.patience();
                loop {
                    match execute_on(&mut conn, statement).await {
                        Err(e) if patience.again(&e).await => {}
                        done => return done,
                    }
                }
            }

            async fn fetch(
                &self,
                statement: &Statement,
                each: &mut EachRow<'_>,
            ) -> StoreResult<()> {
                let _turn = self.gate.enter(|| statement.writes()).await?;
                let mut conn = self.pool.get().await.map_err(mfa_core::store::StoreError::unavailable)?;
                let mut patience = self.gate.patience();
                loop {
                    // Tried again only if no row was handed out yet.
                    let mut rows = 0_usize;
                    let mut counted = |row: &dyn mfa_store_sql::driver::Row| {
                        rows += 1;
                        each(row)
                    };
                    match fetch_on(&mut conn, statement, &mut counted).await {
                        Err(e) if rows == 0 && patience.again(&e).await => {}
                        done => return done,
                    }
                }
            }

            async fn begin(&self) -> StoreResult<$tx> {
                self.open(false).await
            }

            const CARRIES_COMMITS: bool = CARRIES_COMMITS;

            async fn begin_carried(&self) -> StoreResult<$tx> {
                self.open(true).await
            }

            const PIPELINES: bool = crate::driver::diesel_driver!(@pipelines $mode);
        }
    };

    // ---- sequential transactions: BEGIN, each statement, COMMIT, each
    // waiting for the one before (diesel's transaction manager).
    (@pipelines sequential) => { false };
    (@struct sequential, $driver:ident, $tx:ident, $conn:ty) => {
        /// A write transaction of [`$driver`] on one pooled connection,
        /// holding its store's turn to write while it lasts.
        pub(crate) struct $tx {
            conn: Object<$conn>,
            _turn: Option<tokio::sync::OwnedSemaphorePermit>,
            /// Begun on the server, and not yet committed or rolled back.
            open: bool,
        }
    };
    (@open sequential, $tx:ident, $conn:ident, $turn:ident, $patience:expr, $carried:ident) => {{
        let mut tx = $tx { conn: $conn, _turn: $turn, open: false };
        let mut patience = $patience;
        loop {
            match begin(&mut tx.conn, $carried).await {
                Err(e) if patience.again(&e).await => {}
                done => break done?,
            }
        }
        tx.open = true;
        Ok(tx)
    }};
    (@transactions sequential, $tx:ident, $conn:ty) => {
        #[async_trait::async_trait]
        impl Executor for $tx {
            async fn execute(&mut self, statement: &Statement) -> StoreResult<u64> {
                execute_on(&mut self.conn, statement).await
            }

            async fn fetch(
                &mut self,
                statement: &Statement,
                each: &mut EachRow<'_>,
            ) -> StoreResult<()> {
                fetch_on(&mut self.conn, statement, each).await
            }
        }

        impl $tx {
            /// Commits (`commit`) or rolls back through diesel's
            /// transaction manager. A failed end leaves the manager in
            /// error, and the pool discards the connection.
            async fn end(&mut self, commit: bool) -> StoreResult<()> {
                let done = if commit {
                    <Tm as TransactionManager<$conn>>::commit_transaction(&mut self.conn).await
                } else {
                    <Tm as TransactionManager<$conn>>::rollback_transaction(&mut self.conn).await
                };
                self.open = false;
                done.map_err(map_err)
            }
        }

        #[async_trait::async_trait]
        impl mfa_store_sql::driver::Transaction for $tx {
            async fn commit(mut self) -> StoreResult<()> {
                self.end(true).await
            }

            async fn rollback(mut self) -> StoreResult<()> {
                self.end(false).await
            }
        }
    };

    // ---- pipelined transactions (see `crate::pipeline`): the BEGIN goes
    // with the first statement, the COMMIT after the last, without waiting.
    (@pipelines pipelined) => { true };
    (@struct pipelined, $driver:ident, $tx:ident, $conn:ty) => {
        /// A write transaction of [`$driver`] on one pooled connection,
        /// holding its store's turn to write while it lasts.
        pub(crate) struct $tx {
            conn: Object<$conn>,
            _turn: Option<tokio::sync::OwnedSemaphorePermit>,
            /// The `BEGIN` still to be sent, with the first statement.
            unsent: Option<&'static str>,
            /// Begun on the server, and not yet committed or rolled back.
            open: bool,
        }
    };
    (@open pipelined, $tx:ident, $conn:ident, $turn:ident, $patience:expr, $carried:ident) => {
        // Nothing waits here: the server queues writers on row locks.
        Ok($tx { conn: $conn, _turn: $turn, unsent: Some(begin_sql($carried)), open: false })
    };
    (@transactions pipelined, $tx:ident, $conn:ty) => {
        #[async_trait::async_trait]
        impl Executor for $tx {
            async fn execute(&mut self, statement: &Statement) -> StoreResult<u64> {
                let Some(begin) = self.unsent.take() else {
                    return execute_on(&mut self.conn, statement).await;
                };
                self.open = true;
                let conn: &$conn = &self.conn;
                let (begun, done) =
                    futures::join!(crate::pipeline::simple(conn, begin), execute_shared(conn, statement));
                begun?;
                done
            }

            async fn fetch(
                &mut self,
                statement: &Statement,
                each: &mut EachRow<'_>,
            ) -> StoreResult<()> {
                let Some(begin) = self.unsent.take() else {
                    return fetch_on(&mut self.conn, statement, each).await;
                };
                self.open = true;
                let conn: &$conn = &self.conn;
                let (begun, done) =
                    futures::join!(crate::pipeline::simple(conn, begin), fetch_shared(conn, statement, each));
                begun?;
                done
            }
        }

        impl $tx {
            /// Ends the transaction with `sql` (`COMMIT` or `ROLLBACK`);
            /// when nothing was sent, there is nothing to end.
            async fn end(&mut self, sql: &str) -> StoreResult<()> {
                if self.open {
                    crate::pipeline::simple(&self.conn, sql).await?;
                    self.open = false;
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl mfa_store_sql::driver::Transaction for $tx {
            async fn commit(mut self) -> StoreResult<()> {
                self.end("COMMIT").await
            }

            async fn rollback(mut self) -> StoreResult<()> {
                self.end("ROLLBACK").await
            }

            async fn commit_after(mut self, last: &Statement) -> StoreResult<u64> {
                if !crate::pipeline::may_precede_commit(last) {
                    return mfa_store_sql::driver::execute_then_commit(self, last).await;
                }
                let begin = self.unsent.take();
                self.open = true;
                let conn: &$conn = &self.conn;
                let commit = Statement::raw("COMMIT");
                let (begun, done, committed) = futures::join!(
                    async {
                        match begin {
                            Some(sql) => crate::pipeline::simple(conn, sql).await,
                            None => Ok(()),
                        }
                    },
                    execute_shared(conn, last),
                    execute_shared(conn, &commit),
                );
                let failure = match (begun, done, committed) {
                    (Ok(()), Ok(n), Ok(_)) => {
                        self.open = false;
                        return Ok(n);
                    }
                    (Err(e), _, _) | (Ok(()), Err(e), _) | (Ok(()), Ok(_), Err(e)) => e,
                };
                // The server rolled the transaction back (a `COMMIT` after
                // a failed statement does), unless the connection failed;
                // a `ROLLBACK` makes sure, or the connection is discarded
                // on drop.
                if crate::pipeline::simple(conn, "ROLLBACK").await.is_ok() {
                    self.open = false;
                }
                Err(failure)
            }
        }

        /// Runs `statement` through a shared reference to the connection,
        /// so that it can be sent while another request is in flight.
        async fn execute_shared(conn: &$conn, statement: &Statement) -> StoreResult<u64> {
            let mut conn = conn;
            let n = query(statement).execute(&mut conn).await.map_err(map_err)?;
            Ok(n as u64)
        }

        /// [`fetch_on`] through a shared reference (see [`execute_shared`]).
        async fn fetch_shared(
            conn: &$conn,
            statement: &Statement,
            each: &mut EachRow<'_>,
        ) -> StoreResult<()> {
            let mut conn = conn;
            let rows = AsyncConnectionCore::load(&mut conn, query(statement))
                .await
                .map_err(map_err)?;
            let mut rows = std::pin::pin!(rows);
            while let Some(row) = rows.try_next().await.map_err(map_err)? {
                each(&Columns::<_, Forms>::new(&Raw(&row, PhantomData)))?;
            }
            Ok(())
        }
    };
}

pub(crate) use {diesel_driver, sql_types};

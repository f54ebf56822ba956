//! The diesel-async [`Driver`](mfa_store_sql::driver::Driver) of each
//! backend, stamped out by one macro: the backends differ in their
//! connection type, how a transaction begins, and the SQL types of UUIDs,
//! timestamps and JSON (the `bind` and `read_*` functions of each backend
//! module).
//!
//! Every statement is a `diesel::sql_query` with bound parameters: diesel's
//! `table!` needs static table names, and the prefix is chosen at run time.

/// Implements the driver traits for `$driver` (a struct holding a deadpool
/// `Pool<$conn>` as `pool`), whose transactions are `$tx`. The backend
/// module provides `begin(conn)`, `bind(query, arg)`, and `read_uuid`,
/// `read_opt_uuid`, `read_ts`, `read_opt_ts`, `read_json`.
macro_rules! diesel_driver {
    ($driver:ident, $tx:ident, $conn:ty, $db:ty, $dialect:expr) => {
        use diesel::row::NamedRow;
        use diesel::sql_types::{BigInt, Binary, Bool, Integer, Nullable, Text};
        use diesel_async::pooled_connection::deadpool::Object;
        use diesel_async::{AsyncConnection, AsyncConnectionCore, RunQueryDsl, TransactionManager};
        use futures::TryStreamExt;
        use mfa_store_sql::driver::{EachRow, Executor, Row, Statement};
        use std::marker::PhantomData;

        type Tm = <$conn as AsyncConnection>::TransactionManager;

        fn query(
            statement: &Statement,
        ) -> diesel::query_builder::BoxedSqlQuery<'static, $db, diesel::query_builder::SqlQuery> {
            let mut q = diesel::sql_query(statement.sql.clone()).into_boxed::<$db>();
            for arg in statement.args.iter().cloned() {
                q = bind(q, arg);
            }
            q
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
                each(&Columns(&row, PhantomData))?;
            }
            Ok(())
        }

        /// A row of `$db` read by column name.
        struct Columns<'b, 'r, R>(&'b R, PhantomData<&'r ()>);

        fn get<'r, ST, T>(row: &impl NamedRow<'r, $db>, c: &str) -> StoreResult<T>
        where
            T: diesel::deserialize::FromSql<ST, $db>,
        {
            NamedRow::get::<ST, T>(row, c).map_err(|_| corrupt(c))
        }

        impl<'r, R: diesel::row::Row<'r, $db>> Row for Columns<'_, 'r, R> {
            fn uuid(&self, c: &str) -> StoreResult<uuid::Uuid> {
                read_uuid(self.0, c)
            }
            fn opt_uuid(&self, c: &str) -> StoreResult<Option<uuid::Uuid>> {
                read_opt_uuid(self.0, c)
            }
            fn text(&self, c: &str) -> StoreResult<String> {
                get::<Text, _>(self.0, c)
            }
            fn opt_text(&self, c: &str) -> StoreResult<Option<String>> {
                get::<Nullable<Text>, _>(self.0, c)
            }
            fn i32(&self, c: &str) -> StoreResult<i32> {
                get::<Integer, _>(self.0, c)
            }
            fn opt_i32(&self, c: &str) -> StoreResult<Option<i32>> {
                get::<Nullable<Integer>, _>(self.0, c)
            }
            fn i64(&self, c: &str) -> StoreResult<i64> {
                get::<BigInt, _>(self.0, c)
            }
            fn opt_i64(&self, c: &str) -> StoreResult<Option<i64>> {
                get::<Nullable<BigInt>, _>(self.0, c)
            }
            fn bytes(&self, c: &str) -> StoreResult<Vec<u8>> {
                get::<Binary, _>(self.0, c)
            }
            fn opt_bytes(&self, c: &str) -> StoreResult<Option<Vec<u8>>> {
                get::<Nullable<Binary>, _>(self.0, c)
            }
            fn bool(&self, c: &str) -> StoreResult<bool> {
                get::<Bool, _>(self.0, c)
            }
            fn ts(&self, c: &str) -> StoreResult<chrono::DateTime<chrono::Utc>> {
                read_ts(self.0, c)
            }
            fn opt_ts(&self, c: &str) -> StoreResult<Option<chrono::DateTime<chrono::Utc>>> {
                read_opt_ts(self.0, c)
            }
            fn json(&self, c: &str) -> StoreResult<serde_json::Value> {
                read_json(self.0, c)
            }
        }

        /// The diesel driver of this backend.
        #[derive(Clone)]
        pub(crate) struct $driver {
            pub(crate) pool: diesel_async::pooled_connection::deadpool::Pool<$conn>,
        }

        impl std::fmt::Debug for $driver {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($driver)).finish_non_exhaustive()
            }
        }

        /// A write transaction of [`$driver`] on one pooled connection.
        pub(crate) struct $tx(Object<$conn>);

        #[async_trait::async_trait]
        impl Executor for $tx {
            async fn execute(&mut self, statement: &Statement) -> StoreResult<u64> {
                execute_on(&mut self.0, statement).await
            }

            async fn fetch(
                &mut self,
                statement: &Statement,
                each: &mut EachRow<'_>,
            ) -> StoreResult<()> {
                fetch_on(&mut self.0, statement, each).await
            }
        }

        #[async_trait::async_trait]
        impl mfa_store_sql::driver::Transaction for $tx {
            async fn commit(mut self) -> StoreResult<()> {
                <Tm as TransactionManager<$conn>>::commit_transaction(&mut self.0)
                    .await
                    .map_err(map_err)
            }

            async fn rollback(mut self) -> StoreResult<()> {
                // A failed rollback leaves the transaction manager broken,
                // and the pool discards the connection.
                <Tm as TransactionManager<$conn>>::rollback_transaction(&mut self.0)
                    .await
                    .map_err(map_err)
            }
        }

        #[async_trait::async_trait]
        impl mfa_store_sql::driver::Driver for $driver {
            const DIALECT: mfa_store_sql::sql::Dialect = $dialect;
            type Tx = $tx;

            async fn execute(&self, statement: &Statement) -> StoreResult<u64> {
                let mut conn = self.pool.get().await.map_err(pool_err)?;
                execute_on(&mut conn, statement).await
            }

            async fn fetch(
                &self,
                statement: &Statement,
                each: &mut EachRow<'_>,
            ) -> StoreResult<()> {
                let mut conn = self.pool.get().await.map_err(pool_err)?;
                fetch_on(&mut conn, statement, each).await
            }

            async fn begin(&self) -> StoreResult<$tx> {
                let mut conn = self.pool.get().await.map_err(pool_err)?;
                begin(&mut conn).await?;
                Ok($tx(conn))
            }
        }
    };
}

pub(crate) use diesel_driver;

//! The diesel-async [`Driver`](mfa_store_sql::driver::Driver) of each
//! backend, stamped out by one macro: the backends differ in their
//! connection type, how a transaction begins (the `begin` function of each
//! backend module), and the forms in which UUIDs, timestamps and JSON are
//! stored ([`Storage`](mfa_store_sql::value::Storage)).
//!
//! Every statement is a `diesel::sql_query` with bound parameters: diesel's
//! `table!` needs static table names, and the prefix is chosen at run time.

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
/// `begin(conn)`.
macro_rules! diesel_driver {
    ($driver:ident, $tx:ident, $conn:ty, $db:ty, $dialect:expr,
     uuid: $uuid:ty, ts: $ts:ty, json: $json:ty, types: [$($t:ty => $st:ty),* $(,)?]) => {
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

        fn query(statement: &Statement) -> Query {
            let sql = diesel::sql_query(statement.sql.clone()).into_boxed::<$db>();
            bind_args::<Forms, _>(Binding(sql), &statement.args).0
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
                let mut conn = self.pool.get().await.map_err(mfa_core::store::StoreError::unavailable)?;
                execute_on(&mut conn, statement).await
            }

            async fn fetch(
                &self,
                statement: &Statement,
                each: &mut EachRow<'_>,
            ) -> StoreResult<()> {
                let mut conn = self.pool.get().await.map_err(mfa_core::store::StoreError::unavailable)?;
                fetch_on(&mut conn, statement, each).await
            }

            async fn begin(&self) -> StoreResult<$tx> {
                let mut conn = self.pool.get().await.map_err(mfa_core::store::StoreError::unavailable)?;
                begin(&mut conn).await?;
                Ok($tx(conn))
            }
        }
    };
}

pub(crate) use {diesel_driver, sql_types};

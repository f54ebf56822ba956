//! The sqlx [`Driver`](mfa_store_sql::driver::Driver) of each backend,
//! stamped out by one macro: the backends differ only in their database
//! type, how a transaction begins and how UUIDs and timestamps are stored
//! ([`Storage`](mfa_store_sql::value::Storage)).

/// Implements the driver traits for `$driver` (a struct holding a
/// `sqlx::Pool<$db>` as `pool`), whose transactions are `$tx`. `$begin` is
/// the statement opening a write transaction, if not the default `BEGIN`;
/// `carried`, if the backend has one, the statements opening a transaction
/// whose commit does not wait for the log flush (one round trip); `uuid`
/// and `ts` are the forms in which UUIDs and timestamps are stored
/// (JSON documents are bound and read as `serde_json::Value`).
macro_rules! sqlx_driver {
    ($driver:ident, $tx:ident, $db:ty, $dialect:expr, begin_with: $begin:expr,
     carried: $carried:expr, joins_statements: $joins:expr, uuid: $uuid:ty, ts: $ts:ty) => {
        use mfa_store_sql::driver::{EachRow, Executor, Statement};
        use mfa_store_sql::value::{Bind, Columns, Decode, Storage, bind_args};

        /// The forms of the stored values on this backend.
        struct Forms;

        impl Storage for Forms {
            type Uuid = $uuid;
            type Ts = $ts;
            type Json = serde_json::Value;
        }

        /// A query being bound.
        struct Query(sqlx::query::Query<'static, $db, <$db as sqlx::Database>::Arguments>);

        impl<T> Bind<T> for Query
        where
            T: sqlx::Encode<'static, $db> + sqlx::Type<$db> + Send + 'static,
        {
            fn bind(self, value: T) -> Self {
                Self(self.0.bind(value))
            }
        }

        fn query(
            statement: &Statement,
        ) -> sqlx::query::Query<'static, $db, <$db as sqlx::Database>::Arguments> {
            let sql = sqlx::query(sqlx::AssertSqlSafe(statement.sql.clone()));
            bind_args::<Forms, _>(Query(sql), &statement.args).0
        }

        /// A result row, its columns decoded by sqlx.
        struct Raw<'r>(&'r <$db as sqlx::Database>::Row);

        impl<'r, T> Decode<T> for Raw<'r>
        where
            T: sqlx::Decode<'r, $db> + sqlx::Type<$db>,
        {
            fn decode(&self, column: &str) -> StoreResult<T> {
                sqlx::Row::try_get(self.0, column).map_err(map_err)
            }
        }

        async fn fetch_on<'e, E>(
            ex: E,
            statement: &Statement,
            each: &mut EachRow<'_>,
        ) -> StoreResult<()>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            let rows = query(statement).fetch_all(ex).await.map_err(map_err)?;
            rows.iter()
                .try_for_each(|row| each(&Columns::<_, Forms>::new(&Raw(row))))
        }

        /// The sqlx driver of this backend.
        #[derive(Debug, Clone)]
        pub(crate) struct $driver {
            pub(crate) pool: sqlx::Pool<$db>,
        }

        impl From<sqlx::Pool<$db>> for $driver {
            fn from(pool: sqlx::Pool<$db>) -> Self {
                Self { pool }
            }
        }

        /// A write transaction of [`$driver`].
        pub(crate) struct $tx(sqlx::Transaction<'static, $db>);

        #[async_trait::async_trait]
        impl Executor for $tx {
            async fn execute(&mut self, statement: &Statement) -> StoreResult<u64> {
                let done = query(statement)
                    .execute(&mut *self.0)
                    .await
                    .map_err(map_err)?;
                Ok(done.rows_affected())
            }

            async fn fetch(
                &mut self,
                statement: &Statement,
                each: &mut EachRow<'_>,
            ) -> StoreResult<()> {
                fetch_on(&mut *self.0, statement, each).await
            }
        }

        #[async_trait::async_trait]
        impl mfa_store_sql::driver::Transaction for $tx {
            async fn commit(self) -> StoreResult<()> {
                self.0.commit().await.map_err(map_err)
            }

            async fn rollback(self) -> StoreResult<()> {
                self.0.rollback().await.map_err(map_err)
            }
        }

        #[async_trait::async_trait]
        impl mfa_store_sql::driver::Driver for $driver {
            const DIALECT: mfa_store_sql::sql::Dialect = $dialect;
            const JOINS_STATEMENTS: bool = $joins;
            type Tx = $tx;

            async fn execute(&self, statement: &Statement) -> StoreResult<u64> {
                let done = query(statement)
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                Ok(done.rows_affected())
            }

            async fn fetch(
                &self,
                statement: &Statement,
                each: &mut EachRow<'_>,
            ) -> StoreResult<()> {
                fetch_on(&self.pool, statement, each).await
            }

            async fn begin(&self) -> StoreResult<$tx> {
                let begin_with: Option<&'static str> = $begin;
                let tx = match begin_with {
                    Some(statement) => self.pool.begin_with(statement).await,
                    None => self.pool.begin().await,
                };
                tx.map($tx).map_err(map_err)
            }

            const CARRIES_COMMITS: bool = {
                let carried: Option<&'static str> = $carried;
                carried.is_some()
            };

            async fn begin_carried(&self) -> StoreResult<$tx> {
                let carried: Option<&'static str> = $carried;
                match carried {
                    Some(statement) => self
                        .pool
                        .begin_with(statement)
                        .await
                        .map($tx)
                        .map_err(map_err),
                    None => mfa_store_sql::driver::Driver::begin(self).await,
                }
            }
        }
    };
}

pub(crate) use sqlx_driver;

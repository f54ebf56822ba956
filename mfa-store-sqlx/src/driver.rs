//! The sqlx [`Driver`](mfa_store_sql::driver::Driver) of each backend,
//! stamped out by one macro: the backends differ only in their pool type,
//! how a transaction begins and how timestamps are stored.

use crate::error::map_err;
use mfa_core::store::StoreResult;

/// `Ok(v)` of a column read, or the mapped error.
pub(crate) fn get<'r, R, T>(row: &'r R, column: &str) -> StoreResult<T>
where
    R: sqlx::Row,
    T: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
{
    row.try_get(column).map_err(map_err)
}

/// Implements the driver traits for `$driver` (a struct holding a
/// `sqlx::Pool<$db>` as `pool`), whose transactions are `$tx`.
/// `$begin` is the statement opening a write transaction, if not the
/// default `BEGIN`; `$ts_in` turns a
/// timestamp into the bound value and `$ts_out` reads one back.
macro_rules! sqlx_driver {
    ($driver:ident, $tx:ident, $db:ty, $dialect:expr, begin_with: $begin:expr,
     ts_in: $ts_in:expr, ts_out: $ts_out:ty => $ts_conv:expr) => {
        use mfa_store_sql::driver::{EachRow, Executor, Row, Statement};
        use mfa_store_sql::sql::Arg;

        type Query = sqlx::query::Query<'static, $db, <$db as sqlx::Database>::Arguments>;
        type DbRow = <$db as sqlx::Database>::Row;

        fn query(statement: &Statement) -> Query {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(statement.sql.clone()));
            for arg in statement.args.iter().cloned() {
                q = match arg {
                    Arg::Uuid(v) => q.bind(v),
                    Arg::OptUuid(v) => q.bind(v),
                    Arg::Ts(v) => q.bind($ts_in(v)),
                    Arg::OptTs(v) => q.bind(v.map($ts_in)),
                    Arg::Bytes(v) => q.bind(v),
                    Arg::OptBytes(v) => q.bind(v),
                    Arg::Text(v) => q.bind(v),
                    Arg::OptText(v) => q.bind(v),
                    Arg::I32(v) => q.bind(v),
                    Arg::OptI32(v) => q.bind(v),
                    Arg::I64(v) => q.bind(v),
                    Arg::OptI64(v) => q.bind(v),
                    Arg::Bool(v) => q.bind(v),
                    Arg::Json(v) => q.bind(sqlx::types::Json(v)),
                };
            }
            q
        }

        struct Columns<'r>(&'r DbRow);

        impl Row for Columns<'_> {
            fn uuid(&self, c: &str) -> StoreResult<uuid::Uuid> {
                get(self.0, c)
            }
            fn opt_uuid(&self, c: &str) -> StoreResult<Option<uuid::Uuid>> {
                get(self.0, c)
            }
            fn text(&self, c: &str) -> StoreResult<String> {
                get(self.0, c)
            }
            fn opt_text(&self, c: &str) -> StoreResult<Option<String>> {
                get(self.0, c)
            }
            fn i32(&self, c: &str) -> StoreResult<i32> {
                get(self.0, c)
            }
            fn opt_i32(&self, c: &str) -> StoreResult<Option<i32>> {
                get(self.0, c)
            }
            fn i64(&self, c: &str) -> StoreResult<i64> {
                get(self.0, c)
            }
            fn opt_i64(&self, c: &str) -> StoreResult<Option<i64>> {
                get(self.0, c)
            }
            fn bytes(&self, c: &str) -> StoreResult<Vec<u8>> {
                get(self.0, c)
            }
            fn opt_bytes(&self, c: &str) -> StoreResult<Option<Vec<u8>>> {
                get(self.0, c)
            }
            fn bool(&self, c: &str) -> StoreResult<bool> {
                get(self.0, c)
            }
            fn ts(&self, c: &str) -> StoreResult<chrono::DateTime<chrono::Utc>> {
                $ts_conv(c, get::<_, $ts_out>(self.0, c)?)
            }
            fn opt_ts(&self, c: &str) -> StoreResult<Option<chrono::DateTime<chrono::Utc>>> {
                get::<_, Option<$ts_out>>(self.0, c)?
                    .map(|v| $ts_conv(c, v))
                    .transpose()
            }
            fn json(&self, c: &str) -> StoreResult<serde_json::Value> {
                get::<_, sqlx::types::Json<serde_json::Value>>(self.0, c).map(|j| j.0)
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
            rows.iter().try_for_each(|row| each(&Columns(row)))
        }

        /// The sqlx driver of this backend.
        #[derive(Debug, Clone)]
        pub(crate) struct $driver {
            pub(crate) pool: sqlx::Pool<$db>,
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
        }
    };
}

pub(crate) use sqlx_driver;

//! Migration bookkeeping rows read through diesel; the migrations and
//! their SQL are `mfa_store_sql::migrate`'s, shared with the sqlx store.

pub(crate) use mfa_store_sql::migrate::*;

/// One row of `SELECT version FROM <prefix>schema_migrations`.
#[derive(Debug, diesel::QueryableByName)]
pub(crate) struct Applied {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub version: i64,
}

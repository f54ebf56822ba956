//! The `mfa-core` conformance and unit-of-work suites and the migration
//! test on the PostgreSQL at `MFA_TEST_POSTGRES_URL` (a fresh table prefix
//! per test). Without the variable the suites are not built and one test
//! says so.
#![cfg(feature = "postgres")]

mod common;

mfa_store_sql::sql_store_tests!(postgres: mfa_store_sqlx::PgStore = crate::common::postgres_store;
    conformance, units, counts, migrations(crate::common::schema::postgres_migrated));

/// The carried `BEGIN` (see `mfa_core::store::Durability::Carried`).
mod carried {
    mfa_store_sql::if_database!(
        postgres,
        /// The `BEGIN` of a carried unit turns the wait for the WAL flush off
        /// for its own transaction, and only for it.
        #[tokio::test]
        async fn a_carried_begin_skips_the_flush_wait_of_its_transaction_only() {
            use mfa_store_sqlx::sqlx;
            let store = crate::common::postgres_store().await;
            let setting = "SELECT current_setting('synchronous_commit')";
            let mut carried = store
                .pool()
                .begin_with(mfa_store_sql::sql::CARRIED_BEGIN_POSTGRES)
                .await
                .expect("carried begin");
            let inside: String = sqlx::query_scalar(setting)
                .fetch_one(&mut *carried)
                .await
                .expect("setting");
            carried.commit().await.expect("commit");
            let mut plain = store.pool().begin().await.expect("begin");
            let after: String = sqlx::query_scalar(setting)
                .fetch_one(&mut *plain)
                .await
                .expect("setting");
            plain.rollback().await.expect("rollback");
            assert_eq!((inside.as_str(), after.as_str()), ("off", "on"));
        }
    );
}

//! The `mfa-core` conformance and unit-of-work suites and the migration
//! test on the PostgreSQL at `MFA_TEST_POSTGRES_URL` (a fresh table prefix
//! per test). Without the variable the suites are not built and one test
//! says so.
#![cfg(all(feature = "postgres", feature = "testing"))]

mod common;

mfa_store_sql::sql_store_tests!(postgres: mfa_store_sqlx::PgStore = crate::common::postgres_store;
    conformance, units, counts, migrations(mfa_store_sqlx::testing::schema::postgres_migrated));

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

/// The audit log's monthly partitions (migration 7).
mod partitions {
    mfa_store_sql::if_database!(
        postgres,
        /// Events of a month without a partition wait in the DEFAULT
        /// partition; maintenance moves them into their month; an archive
        /// drops a month it covers whole, and the log still verifies across
        /// the cut.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn default_rows_move_to_their_month_and_archived_months_are_dropped() {
            use mfa_core::testing::flow::harness::Harness;
            use mfa_store_sqlx::sqlx;
            use std::sync::Arc;
            let store = Arc::new(crate::common::postgres_store().await);
            let prefix = store.prefix().as_str().to_owned();
            let pool = store.pool().clone();
            let rows = |table: String| {
                let pool = pool.clone();
                async move {
                    let sql = sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}"));
                    let n: i64 = sqlx::query_scalar(sql)
                        .fetch_one(&pool)
                        .await
                        .expect("count rows");
                    n
                }
            };
            let exists = |table: String| {
                let pool = pool.clone();
                async move {
                    let found: Option<String> =
                        sqlx::query_scalar("SELECT to_regclass($1::text)::text")
                            .bind(table)
                            .fetch_one(&pool)
                            .await
                            .expect("to_regclass");
                    found.is_some()
                }
            };
            // The harness's clock starts on 2030-01-01: no partition yet.
            let h = Harness::new(Arc::clone(&store));
            let user = h.user_with_totp("alice").await;
            h.sign_in_with_totp(&user).await;
            let january = format!("{prefix}audit_events_y2030m01");
            let default = format!("{prefix}audit_events_default");
            assert!(!exists(january.clone()).await);
            let waiting = rows(default.clone()).await;
            assert!(
                waiting > 0,
                "January's events wait in the DEFAULT partition"
            );
            let made = store
                .maintain_audit_partitions(h.now())
                .await
                .expect("maintain");
            assert_eq!(made, 4, "January 2030 and the three months after it");
            assert_eq!(rows(default.clone()).await, 0);
            assert_eq!(rows(january.clone()).await, waiting);
            assert_eq!(
                store
                    .maintain_audit_partitions(h.now())
                    .await
                    .expect("maintain again"),
                0
            );
            // February's events; then January archived as a whole month.
            h.advance(chrono::TimeDelta::days(40));
            h.sign_in_with_totp(&user).await;
            h.mfa.checkpoint_audit().await.expect("checkpoint");
            let february = h.now();
            let cut = chrono::DateTime::parse_from_rfc3339("2030-02-01T00:00:00Z")
                .expect("time")
                .to_utc();
            let mut file = Vec::new();
            let summary = h.mfa.archive_audit(cut, &mut file).await.expect("archive");
            assert_eq!(summary.manifest.events as i64, waiting);
            assert!(!exists(january).await, "the archived month is dropped");
            let report = h.mfa.verify_audit_archive(|| Ok(&file[..])).expect("read");
            assert!(report.is_intact(), "{:?}", report.problems);
            let report = h.mfa.verify_audit().await.expect("verify");
            assert!(report.is_intact(), "{:?}", report.problems);
            assert!(
                h.audit()
                    .await
                    .iter()
                    .all(|e| e.at >= cut && e.at <= february)
            );
        }
    );
}

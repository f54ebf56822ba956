//! The `mfa-core` conformance, unit-of-work, engine flow and audit chain
//! tamper suites on SQLite (a database file per test), plus the migration
//! test.
#![cfg(feature = "sqlite")]

mod common;

mfa_store_sql::sql_store_tests!(sqlite: mfa_store_diesel::SqliteStore = crate::common::sqlite_store;
    conformance, units, counts, flow, audit_chains,
    migrations(mfa_store_sqlx::testing::schema::sqlite_migrated));

/// SQLite calls run on the caller's thread: a writer that finds the write
/// lock taken must wait without holding that thread, or the unit holding
/// the lock (on the same thread) could never finish.
mod writers {
    use chrono::{TimeDelta, Utc};
    use mfa_core::store::{RateDecision, RateLimiter, UnitOfWork};
    use mfa_store_diesel::SqliteStore;
    use std::time::Duration;

    const WINDOW: TimeDelta = TimeDelta::minutes(1);

    fn one_thread() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
    }

    #[test]
    fn a_writer_waits_for_a_lock_held_on_its_own_thread() {
        one_thread().block_on(async {
            let url = format!("sqlite://{}", crate::common::sqlite_path().display());
            let first = SqliteStore::connect(&url, 2).await.expect("open");
            first.migrate().await.expect("migrate");
            // Another store on the file has its own write queue: as far as
            // `first` knows, it is another process.
            let other = SqliteStore::connect(&url, 2).await.expect("open");
            let now = Utc::now();

            let held = first.begin().await.expect("begin");
            held.repositories()
                .hit("k", 10, WINDOW, now)
                .await
                .expect("hit in the unit");
            let (waited, committed) = tokio::join!(other.hit("k", 10, WINDOW, now), async {
                tokio::time::sleep(Duration::from_millis(30)).await;
                held.commit().await
            });
            committed.expect("the holder commits while the other writer waits");
            assert!(matches!(
                waited.expect("the other writer gets the lock after the commit"),
                RateDecision::Allowed { remaining: 8 }
            ));

            // Two units of one store take turns in its queue.
            let a = first.begin().await.expect("begin a");
            let (b, committed) = tokio::join!(first.begin(), async {
                tokio::time::sleep(Duration::from_millis(30)).await;
                a.repositories().hit("k", 10, WINDOW, now).await?;
                a.commit().await
            });
            committed.expect("a commits");
            let b = b.expect("b begins after a");
            let decision = b
                .repositories()
                .hit("k", 10, WINDOW, now)
                .await
                .expect("hit");
            b.commit().await.expect("b commits");
            assert!(matches!(decision, RateDecision::Allowed { remaining: 6 }));
        });
    }

    #[derive(diesel::QueryableByName)]
    struct BusyTimeout {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        timeout: i32,
    }

    #[test]
    fn no_connection_waits_for_a_lock_inside_sqlite() {
        one_thread().block_on(async {
            use mfa_store_diesel::diesel_async::RunQueryDsl;
            let url = format!("sqlite://{}", crate::common::sqlite_path().display());
            let store = SqliteStore::connect(&url, 2).await.expect("open");
            let mut conn = store.pool().get().await.expect("connection");
            let rows: Vec<BusyTimeout> = diesel::sql_query("PRAGMA busy_timeout")
                .load(&mut conn)
                .await
                .expect("pragma");
            assert_eq!(rows.iter().map(|r| r.timeout).collect::<Vec<_>>(), [0]);
        });
    }

    #[test]
    fn the_store_runs_its_statements_on_the_calling_thread() {
        use mfa_store_diesel::diesel_async::sync_connection_wrapper::SpawnBlocking;
        let caller = std::thread::current().id();
        let ran_on = futures::executor::block_on(
            mfa_store_diesel::Inline.spawn_blocking(|| std::thread::current().id()),
        )
        .expect("inline call");
        assert_eq!(ran_on, caller);
    }
}

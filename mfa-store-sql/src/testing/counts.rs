//! Pinned statement, round-trip and flushing-commit counts of the hot store
//! calls, on every backend ([`statement_count_tests!`](crate::statement_count_tests)).
//! A regression (one more statement, one more flush) fails here.
//!
//! The counts, per call (statements / round trips / flushing commits):
//!
//! | call | PostgreSQL, SQLite | MariaDB |
//! |---|---|---|
//! | rate-limit hit (allowed or limited) | 1 / 1 / 1 | 1 / 1 / 1 |
//! | `record_failure`, counted | 1 / 1 / 1 | 2 / 2 / 1 |
//! | `record_failure`, refused while locked | 2 / 2 / 0 | 1 / 1 / 0 |
//! | `reset_failures`, something to reset | 1 / 1 / 1 | 1 / 1 / 1 |
//! | `reset_failures`, nothing to reset | 2 / 2 / 0 | 2 / 2 / 0 |
//! | `reset_failures`, nothing to reset, user read in the unit | 0 / 0 / 0 | 0 / 0 / 0 |
//! | unit: 3 `append_audit` + commit | 1 / 3 / 1 | 1 / 3 / 1 |
//! | carried unit: `append_audit` + commit | 1 / 3 / 0 (SQLite 1 / 3 / 1) | 1 / 3 / 1 |
//!
//! And per engine step ([`engine_steps_cost_pinned_round_trips`]; "joined"
//! is sqlx's SQLite, whose deferred writes go as one call, "one by one" is
//! diesel's SQLite):
//!
//! | step | PostgreSQL | SQLite joined | SQLite one by one | MariaDB |
//! |---|---|---|---|---|
//! | login → MFA required (two units around the hash) | 6 / 10 / 1 | 7 / 11 / 2 | 10 / 14 / 2 | 11 / 15 / 2 |
//! | verify TOTP | 2 / 4 / 1 | 2 / 4 / 1 | 6 / 8 / 1 | 6 / 8 / 1 |
//! | authenticate (no unit) | 1 / 1 / 0 | 1 / 1 / 0 | 1 / 1 / 0 | 1 / 1 / 0 |
//! | refresh | 2 / 4 / 1 | 4 / 6 / 1 | 4 / 6 / 1 | 6 / 8 / 1 |
//! | logout | 4 / 6 / 1 | 4 / 6 / 1 | 4 / 6 / 1 | 4 / 6 / 1 |
//! | send an email code | 3 / 5 / 1 | 4 / 6 / 1 | 6 / 8 / 1 | 6 / 8 / 1 |

use crate::stats::{Instrumented, StatsSnapshot};
use chrono::{DateTime, TimeDelta, Utc};
use mfa_core::model::{AuditEvent, AuditKind, AuditOutcome, LockScope, LockoutRule, User};
use mfa_core::store::{
    AuditFilter, Durability, FailureOutcome, PageRequest, RateDecision, Store, UnitOfWork,
};
use std::sync::Arc;

/// A fixed instant the counts are measured at.
fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).expect("a valid instant")
}

/// `(statements, round trips, writing commits)`.
fn counts(s: StatsSnapshot) -> (u64, u64, u64) {
    (s.statements, s.round_trips, s.write_commits)
}

/// What `work` cost on `store`.
async fn measure<S, T>(store: &S, work: impl Future<Output = T>) -> (T, (u64, u64, u64))
where
    S: Instrumented,
{
    let before = store.stats().snapshot();
    let out = work.await;
    (out, counts(store.stats().snapshot() - before))
}

async fn live_user<S: Store>(store: &S) -> User {
    let user = User::new(format!("counts-{}", uuid::Uuid::now_v7()), t0());
    store.create_user(&user).await.expect("create_user");
    user
}

/// One rate-limit hit is one statement that commits once, allowed or not.
pub async fn rate_limit_hit_is_one_statement<S: Store + Instrumented>(store: Arc<S>) {
    let key = format!("counts-{}", uuid::Uuid::now_v7());
    let window = TimeDelta::seconds(60);
    let expected = [
        RateDecision::Allowed { remaining: 1 },
        RateDecision::Allowed { remaining: 0 },
        RateDecision::Limited {
            retry_after: TimeDelta::seconds(58),
        },
    ];
    for (n, want) in expected.into_iter().enumerate() {
        let now = t0() + TimeDelta::seconds(i64::try_from(n).expect("small"));
        let (got, cost) = measure(&*store, store.hit(&key, 2, window, now)).await;
        assert_eq!(got.expect("hit"), want, "hit {n}");
        assert_eq!(cost, (1, 1, 1), "hit {n}: statements, round trips, writes");
    }
}

/// A counted failure is one `UPDATE … RETURNING` (MariaDB: read and
/// compare-and-set); a refusal while locked writes nothing.
pub async fn record_failure_costs<S: Store + Instrumented>(store: Arc<S>) {
    let user = live_user(&*store).await;
    let rule = LockoutRule {
        threshold: 1,
        ..LockoutRule::default()
    };
    let mysql = store.dialect().mysql;
    let (got, cost) = measure(
        &*store,
        store.record_failure(user.id, LockScope::Mfa, &rule, t0()),
    )
    .await;
    assert_eq!(
        got.expect("record_failure"),
        FailureOutcome::Counted {
            failures: 1,
            locked_until: Some(t0() + rule.base_lock),
        }
    );
    assert_eq!(cost, if mysql { (2, 2, 1) } else { (1, 1, 1) }, "counted");
    let (got, cost) = measure(
        &*store,
        store.record_failure(user.id, LockScope::Mfa, &rule, t0()),
    )
    .await;
    assert_eq!(
        got.expect("record_failure"),
        FailureOutcome::Locked(mfa_core::model::Lock::Until(t0() + rule.base_lock))
    );
    assert_eq!(cost, if mysql { (1, 1, 0) } else { (2, 2, 0) }, "refused");
    let (got, cost) = measure(&*store, store.reset_failures(user.id, LockScope::Mfa)).await;
    assert!(got.expect("reset_failures"));
    assert_eq!(cost, (1, 1, 1), "a reset with something to reset");
}

/// A reset with nothing to reset writes nothing; inside a unit that read
/// the user it is not even sent.
pub async fn reset_with_nothing_to_reset_writes_nothing<S: Store + UnitOfWork + Instrumented>(
    store: Arc<S>,
) {
    let user = live_user(&*store).await;
    let (got, cost) = measure(&*store, store.reset_failures(user.id, LockScope::Password)).await;
    assert!(got.expect("reset_failures"), "a live user");
    assert_eq!(cost, (2, 2, 0), "outside a unit: no write");
    let tx = store.begin().await.expect("begin");
    let seen = tx.repositories().get_user(user.id).await.expect("get_user");
    assert!(seen.is_some());
    let (got, cost) = measure(
        &*store,
        tx.repositories()
            .reset_failures(user.id, LockScope::Password),
    )
    .await;
    assert!(got.expect("reset_failures"), "a live user");
    assert_eq!(
        cost,
        (0, 0, 0),
        "inside a unit that read the user: no statement"
    );
    let (done, cost) = measure(&*store, tx.commit()).await;
    done.expect("commit");
    assert_eq!(cost, (0, 1, 0), "a commit that wrote nothing");
    let missing = mfa_core::model::UserId::new();
    assert!(
        !store
            .reset_failures(missing, LockScope::Password)
            .await
            .expect("reset_failures"),
        "no such user"
    );
}

fn event(user: &User, n: i64) -> AuditEvent {
    let mut e = AuditEvent::new(
        AuditKind::ALL[0],
        AuditOutcome::Success,
        t0() + TimeDelta::seconds(n),
    );
    e.user_id = Some(user.id);
    e
}

/// A unit's audit events are one multi-row `INSERT` at commit; a unit's
/// audit query sees its own events; a rolled-back unit writes none.
pub async fn unit_audit_events_are_one_insert<S: Store + UnitOfWork + Instrumented>(store: Arc<S>) {
    let user = live_user(&*store).await;
    let filter = AuditFilter {
        user_id: Some(user.id),
        ..AuditFilter::default()
    };
    let (_, cost) = measure(&*store, async {
        let tx = store.begin().await.expect("begin");
        for n in 0..3 {
            tx.repositories()
                .append_audit(&event(&user, n))
                .await
                .expect("append_audit");
        }
        tx.commit().await.expect("commit");
    })
    .await;
    // A pipelining driver sends the BEGIN and the COMMIT with the INSERT.
    let round_trips = if store.pipelines() { 1 } else { 3 };
    assert_eq!(
        cost,
        (1, round_trips, 1),
        "BEGIN, one INSERT of 3 rows, COMMIT"
    );
    let page = store
        .query_audit(&filter, &PageRequest::first(10))
        .await
        .expect("query_audit");
    assert_eq!(page.items.len(), 3, "the three events are stored");

    let tx = store.begin().await.expect("begin");
    tx.repositories()
        .append_audit(&event(&user, 10))
        .await
        .expect("append_audit");
    let own = tx
        .repositories()
        .query_audit(&filter, &PageRequest::first(10))
        .await
        .expect("query_audit in the unit");
    assert_eq!(own.items.len(), 4, "a unit reads its own events");
    tx.rollback().await.expect("rollback");
    let tx = store.begin().await.expect("begin");
    tx.repositories()
        .append_audit(&event(&user, 11))
        .await
        .expect("append_audit");
    tx.rollback().await.expect("rollback");
    let page = store
        .query_audit(&filter, &PageRequest::first(10))
        .await
        .expect("query_audit");
    assert_eq!(page.items.len(), 3, "rolled-back units write no event");
}

/// `(statements, round trips, writing commits)` of each step of the
/// sign-in flow through the engine (`mfa_core::Mfa`): login → MFA required,
/// verify TOTP, authenticate, refresh, logout, send an email code. A step
/// that grows a statement or a flush fails here.
///
/// # Panics
/// When a step fails or costs other than pinned.
pub async fn engine_steps_cost_pinned_round_trips<S: Store + Instrumented>(store: Arc<S>) {
    use mfa_core::testing::flow::counts::counted_sign_in_flow;
    use mfa_core::testing::flow::harness::Harness;

    let h = Harness::new(Arc::clone(&store));
    let mut seen = Vec::new();
    let mut snap = store.stats().snapshot();
    counted_sign_in_flow(&h, |step| {
        let now = store.stats().snapshot();
        seen.push((step, counts(now - snap)));
        snap = now;
    })
    .await;
    seen.remove(0);

    // Two writing commits for a password sign-in: its two units around
    // the hash; the first reads the user's row locked and defers the
    // counted attempt to its commit; the second reads user, factors,
    // settings and backup codes in one locked SELECT, the devices in a
    // second, and defers its writes (counter reset, device, ticket,
    // audit) to the commit. MariaDB: the refresh rotation reads back what
    // PostgreSQL and SQLite get from `RETURNING`. A verification reads ticket, user and factors in one
    // locked SELECT and defers its writes to the commit: PostgreSQL sends
    // them as one statement (BEGIN, SELECT, WITH …, COMMIT), the other
    // databases one by one.
    let dialect = store.dialect();
    let mysql = dialect.mysql;
    // Deferred writes go as one statement on PostgreSQL (`WITH`) and as
    // one call on sqlx's SQLite (`;`-joined); diesel's SQLite and MariaDB
    // send them one by one.
    let joined = store.joins_statements();
    let login = if mysql {
        (10, 14, 2)
    } else if dialect.batch_writes {
        // The first unit's commit is carried (no flush wait) on PostgreSQL.
        (6, 10, 2 - u64::from(store.carries_commits()))
    } else if joined {
        (7, 11, 2)
    } else {
        (10, 14, 2)
    };
    let verify = if dialect.batch_writes || joined {
        (2, 4, 1)
    } else {
        (6, 8, 1)
    };
    // A send reads ticket, user, factors and each factor's latest login
    // challenge in one locked SELECT too, so its cool-down needs no read
    // of its own, and closing the factor's open codes and inserting the
    // new one need no lock of their own and wait for the commit.
    // PostgreSQL makes the two rate-limit hits in one statement.
    let send = if dialect.batch_writes {
        (3, 5, 1)
    } else if joined {
        (4, 6, 1)
    } else {
        (6, 8, 1)
    };
    // PostgreSQL rotates a refresh token and touches its session in one
    // statement; the child token and the audit event wait for the commit.
    let refresh = if mysql {
        (6, 8, 1)
    } else if dialect.batch_writes {
        (2, 4, 1)
    } else {
        (4, 6, 1)
    };
    // A backup code is spent with the count of codes left in one
    // statement on PostgreSQL (two elsewhere), ahead of the unit's
    // deferred writes, which wait for the commit; the count is not read
    // again. The notice of the spent code is delivered after the commit
    // and audited with one more write (the second writing commit).
    let backup = if dialect.batch_writes {
        (4, 6, 2)
    } else if joined && !mysql {
        (5, 7, 2)
    } else {
        (8, 10, 2)
    };
    let mut expected = [
        ("login → MFA required", login),
        ("verify TOTP", verify),
        ("authenticate", (1, 1, 0)),
        ("refresh", refresh),
        ("logout", (4, 6, 1)),
        ("login (email user)", login),
        ("send an email code", send),
        ("login (backup-code answer)", login),
        ("verify backup code", backup),
    ];
    if store.pipelines() {
        // Diesel's PostgreSQL: each unit's BEGIN goes with its first
        // statement and its COMMIT with its last (deferred) write, so
        // every round trip carries a statement. With the user's row read
        // locked in a sign-in's first unit, its failure count is such a
        // deferred write.
        for (_, (statements, round_trips, _)) in &mut expected {
            *round_trips = *statements;
        }
    }
    assert_eq!(
        seen, expected,
        "(statements, round trips, writing commits) per engine step changed; \
         update the pins and docs/performance.md"
    );
}

/// A unit of [`Durability::Carried`] costs the same round trips as any
/// other, and its commit is not a flushing one where the driver carries it
/// (PostgreSQL: `synchronous_commit` off for that transaction, in its
/// `BEGIN`'s round trip); its writes are visible at once all the same.
pub async fn carried_units_commit_without_a_flush<S: Store + UnitOfWork + Instrumented>(
    store: Arc<S>,
) {
    let user = live_user(&*store).await;
    let (_, cost) = measure(&*store, async {
        let tx = store
            .begin_with(Durability::Carried)
            .await
            .expect("begin a carried unit");
        tx.repositories()
            .append_audit(&event(&user, 0))
            .await
            .expect("append_audit");
        tx.commit().await.expect("commit");
    })
    .await;
    let flushes = u64::from(!store.carries_commits());
    let round_trips = if store.pipelines() { 1 } else { 3 };
    assert_eq!(
        cost,
        (1, round_trips, flushes),
        "BEGIN (with the setting on PostgreSQL), one INSERT, COMMIT"
    );
    let filter = AuditFilter {
        user_id: Some(user.id),
        ..AuditFilter::default()
    };
    let page = store
        .query_audit(&filter, &PageRequest::first(10))
        .await
        .expect("query_audit");
    assert_eq!(page.items.len(), 1, "the carried unit's event is stored");
}

/// The count tests on a store factory (an `async fn() -> impl Store +
/// UnitOfWork + Instrumented`), one `#[tokio::test]` each.
#[macro_export]
macro_rules! statement_count_tests {
    ($factory:path) => {
        $crate::statement_count_tests!(@each $factory,
            rate_limit_hit_is_one_statement,
            record_failure_costs,
            reset_with_nothing_to_reset_writes_nothing,
            unit_audit_events_are_one_insert,
            carried_units_commit_without_a_flush,
            engine_steps_cost_pinned_round_trips);
    };
    (@each $factory:path, $($name:ident),+) => {
        $(
            #[::mfa_core::testing::tokio::test(crate = "::mfa_core::testing::tokio")]
            async fn $name() {
                $crate::testing::counts::$name(::std::sync::Arc::new($factory().await)).await;
            }
        )+
    };
}

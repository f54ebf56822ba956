//! Engine steps on the memory store, SQLite (a WAL file) and PostgreSQL,
//! timed, with the store calls (from the counting wrapper) and, on the SQL
//! backends, the SQL statements, transactions and pool acquires each step
//! makes, printed once before timing.
//!
//! Every timed iteration starts in a fresh rate-limit window (the clock
//! moves past it in the untimed set-up) and expired rows are purged every
//! few hundred iterations, so a long run measures the same state as a short
//! one. PostgreSQL comes from `MFA_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); when it cannot be reached its
//! group is skipped. `MFA_BENCH_PING=0` turns off sqlx's ping on every pool
//! acquire (on by default) to show what it costs.

use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, Criterion, criterion_group, criterion_main};
use mfa_benches::sql::{self, PgTables, SqlCount, SqliteFile};
use mfa_benches::{Bench, EnrolledUser, Passwords};
use mfa_core::crypto::{ExposeSecret, PasswordHasher, SecretString};
use mfa_core::model::{FactorKind, OtpChannel};
use mfa_core::store::Store;
use mfa_core::{LoginOutcome, VerifyRequest};
use mfa_store_memory::MemoryStore;
use std::hint::black_box;
use tokio::runtime::Runtime;

/// Expired rows are purged once per this many iterations (untimed).
const PURGE_EVERY: u32 = 256;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Where the counts of every step go, for `benches/limit/limit.py`.
const COUNTS_FILE: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/engine-step-counts.json");

/// Adds one step's counts to [`COUNTS_FILE`] (kept across runs, so a run
/// of one group leaves the others' counts in place).
fn save_counts(group: &str, step: &str, calls: u64, count: &SqlCount) {
    let mut all: serde_json::Map<String, serde_json::Value> = std::fs::read(COUNTS_FILE)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    all.insert(
        format!("{group}/{step}"),
        serde_json::json!({
            "store_calls": calls,
            "statements": count.statements,
            "transactions": count.transactions,
            "flushes": count.flushes,
            "acquires": count.acquires,
            "round_trips_with_pings": count.round_trips(true),
            "round_trips_without_pings": count.round_trips(false),
        }),
    );
    let text = serde_json::to_string_pretty(&all).expect("counts as JSON");
    if let Err(e) = std::fs::write(COUNTS_FILE, text) {
        eprintln!("could not write {COUNTS_FILE}: {e}");
    }
}

/// Runs one step once and prints what it sent to the store.
fn report<S: Store, T>(group: &str, step: &str, bench: &Bench<S>, run: impl FnOnce() -> T) -> T {
    let before = bench.store.calls();
    let (out, count) = sql::counting(run);
    let calls = bench.store.calls() - before;
    save_counts(group, step, calls, &count);
    if count.log.is_empty() {
        println!("round trips: {group}/{step}: {calls} store calls");
    } else if !group.contains("postgres") {
        // sqlx logs no COMMIT on SQLite: transactions and flushes are not
        // seen there, and the database is in process.
        println!(
            "round trips: {group}/{step}: {calls} store calls, {} SQL statements, \
             {} pool acquires\n{}",
            count.statements,
            count.acquires,
            count.listing()
        );
    } else {
        println!(
            "round trips: {group}/{step}: {calls} store calls, {count}; \
             {} network round trips with pings, {} without\n{}",
            count.round_trips(true),
            count.round_trips(false),
            count.listing()
        );
    }
    out
}

/// Calls `purge` once every [`PURGE_EVERY`] calls of the returned closure.
fn every_few<'a, S: Store>(rt: &'a Runtime, bench: &'a Bench<S>) -> impl FnMut() + 'a {
    let mut n = 0u32;
    move || {
        n += 1;
        if n.is_multiple_of(PURGE_EVERY) {
            rt.block_on(bench.purge());
        }
    }
}

fn login_step<S: Store>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    group: &str,
    (rt, bench): (&Runtime, &Bench<S>),
    user: &EnrolledUser,
    step: &str,
) {
    bench.new_window();
    report(group, step, bench, || {
        rt.block_on(
            bench
                .mfa
                .login(bench.login_request(&user.identifier, &user.password)),
        )
        .unwrap()
    });
    let mut purge = every_few(rt, bench);
    g.bench_function(step, |b| {
        b.iter_batched(
            || {
                purge();
                bench.new_window();
                bench.login_request(&user.identifier, &user.password)
            },
            |request| {
                let outcome = rt.block_on(bench.mfa.login(request)).unwrap();
                assert!(matches!(outcome, LoginOutcome::MfaRequired { .. }));
            },
            BatchSize::PerIteration,
        );
    });
}

fn verify<S: Store>(
    rt: &Runtime,
    bench: &Bench<S>,
    ticket: &str,
    method: FactorKind,
    code: &str,
) -> mfa_core::Verified {
    rt.block_on(bench.mfa.verify(VerifyRequest {
        ticket,
        method,
        code,
        remember_device: false,
        client: &bench.client,
    }))
    .unwrap()
}

/// The six steps of the issue on one backend.
fn engine_steps<S: Store>(c: &mut Criterion, rt: &Runtime, group: &str, bench: &Bench<S>) {
    let mut g = c.benchmark_group(group);
    if group != "engine_memory" {
        // Milliseconds per step on a database: fewer, longer samples.
        g.sample_size(20);
    }
    let user = rt.block_on(bench.enrolled_user(0));

    // Login → MFA required (argon2 at test parameters).
    login_step(&mut g, group, (rt, bench), &user, "login");

    // Send an email code for a fresh ticket.
    let mail_user = rt.block_on(bench.enrolled_user(1));
    rt.block_on(bench.add_email(&mail_user));
    bench.new_window();
    let ticket = rt.block_on(bench.ticket(&mail_user));
    report(group, "send_challenge_email", bench, || {
        rt.block_on(bench.mfa.send_challenge(&ticket, OtpChannel::Email))
            .unwrap()
    });
    let mut purge = every_few(rt, bench);
    g.bench_function("send_challenge_email", |b| {
        b.iter_batched(
            || {
                purge();
                bench.new_window();
                rt.block_on(bench.ticket(&mail_user))
            },
            |ticket| {
                black_box(
                    rt.block_on(bench.mfa.send_challenge(&ticket, OtpChannel::Email))
                        .unwrap(),
                )
            },
            BatchSize::PerIteration,
        );
    });

    // Verify TOTP.
    let totp_input = || {
        bench.new_window();
        let ticket = rt.block_on(bench.ticket(&user));
        bench.next_step();
        (ticket, bench.totp_code(&user.secret))
    };
    let (ticket, code) = totp_input();
    report(group, "verify_totp", bench, || {
        verify(rt, bench, &ticket, FactorKind::Totp, &code)
    });
    let mut purge = every_few(rt, bench);
    g.bench_function("verify_totp", |b| {
        b.iter_batched(
            || {
                purge();
                totp_input()
            },
            |(ticket, code)| black_box(verify(rt, bench, &ticket, FactorKind::Totp, &code)),
            BatchSize::PerIteration,
        );
    });

    // Verify a backup code; a used-up set is replaced (untimed), so the
    // user always has between 1 and 10 codes left.
    let mut coded = rt.block_on(bench.enrolled_user(2));
    let backup_input = |coded: &mut EnrolledUser| {
        bench.new_window();
        if coded.backup_codes.is_empty() {
            rt.block_on(bench.new_backup_codes(coded));
        }
        let code = coded.backup_codes.remove(0).expose_secret().to_owned();
        (rt.block_on(bench.ticket(coded)), code)
    };
    let (ticket, code) = backup_input(&mut coded);
    report(group, "verify_backup_code", bench, || {
        verify(rt, bench, &ticket, FactorKind::BackupCodes, &code)
    });
    let mut purge = every_few(rt, bench);
    g.bench_function("verify_backup_code", |b| {
        b.iter_batched(
            || {
                purge();
                backup_input(&mut coded)
            },
            |(ticket, code)| black_box(verify(rt, bench, &ticket, FactorKind::BackupCodes, &code)),
            BatchSize::PerIteration,
        );
    });

    // Refresh: each iteration rotates the token the previous one returned.
    let mut refresh = rt.block_on(bench.signed_in(&user)).refresh_token;
    refresh = report(group, "refresh", bench, || {
        rt.block_on(bench.mfa.refresh(&refresh, &bench.client))
            .unwrap()
            .refresh_token
    });
    g.bench_function("refresh", |b| {
        b.iter(|| {
            let next = rt
                .block_on(bench.mfa.refresh(&refresh, &bench.client))
                .unwrap();
            refresh = next.refresh_token;
        });
    });

    // Authenticate an access token.
    let tokens = rt.block_on(bench.signed_in(&user));
    report(group, "authenticate", bench, || {
        rt.block_on(bench.mfa.authenticate(&tokens.access_token))
            .unwrap()
    });
    g.bench_function("authenticate", |b| {
        b.iter(|| {
            black_box(
                rt.block_on(bench.mfa.authenticate(&tokens.access_token))
                    .unwrap(),
            )
        });
    });
    g.finish();
}

fn memory(c: &mut Criterion) {
    let rt = runtime();
    let bench = Bench::with_store(MemoryStore::new(), Passwords::Test);
    engine_steps(c, &rt, "engine_memory", &bench);

    // The same login at production argon2 parameters: the figure a user
    // waits for, dominated by the hash.
    let bench = Bench::with_store(MemoryStore::new(), Passwords::Production);
    let user = rt.block_on(bench.enrolled_user(0));
    let mut g = c.benchmark_group("engine_memory_owasp");
    g.sample_size(10);
    login_step(
        &mut g,
        "engine_memory_owasp",
        (&rt, &bench),
        &user,
        "login_owasp_params",
    );
    g.finish();
}

/// Primitive costs the "limit" table needs that `micro` does not measure.
fn floor(c: &mut Criterion) {
    let hasher = PasswordHasher::insecure_fast_for_tests();
    let password = SecretString::from("bench password 123");
    let phc = hasher.hash(&password).expect("hash");
    let mut g = c.benchmark_group("floor");
    g.bench_function("argon2id_test_params_verify", |b| {
        b.iter(|| black_box(hasher.verify(&password, &phc).expect("verify")));
    });
    g.finish();
}

/// The SQL groups run with sqlx's default pool (a ping before every
/// acquire) and PostgreSQL's default durable commits; `MFA_BENCH_PING=0`
/// reports them under `…_no_ping`, `MFA_BENCH_SYNC_COMMIT=off` (PostgreSQL
/// only) under `…_async_commit`.
fn group_name(base: &str) -> String {
    let mut name = base.to_owned();
    if !sql::ping_before_acquire() {
        name.push_str("_no_ping");
    }
    if base == "engine_postgres" && !sql::synchronous_commit() {
        name.push_str("_async_commit");
    }
    name
}

fn sqlite(c: &mut Criterion) {
    sql::install_counter();
    let rt = runtime();
    let (store, file) = rt.block_on(SqliteFile::create());
    let bench = Bench::with_store(store, Passwords::Test);
    engine_steps(c, &rt, &group_name("engine_sqlite"), &bench);
    drop(bench);
    drop(file);
}

/// The same steps on `mfa-store-diesel`'s SQLite store, whose statements
/// run on the calling thread (no hop to a worker per statement).
fn sqlite_diesel(c: &mut Criterion) {
    let rt = runtime();
    let (store, file) = rt.block_on(SqliteFile::create_diesel(4));
    let bench = Bench::with_store(store, Passwords::Test);
    engine_steps(c, &rt, "engine_sqlite_diesel", &bench);
    drop(bench);
    drop(file);
}

fn postgres(c: &mut Criterion) {
    sql::install_counter();
    postgres_group(c, "engine_postgres", PgTables::create);
}

/// The same steps on `mfa-store-diesel`'s PostgreSQL store, whose units
/// send their `BEGIN` and `COMMIT` with their statements (pipelined).
fn postgres_diesel(c: &mut Criterion) {
    postgres_group(c, "engine_postgres_diesel", PgTables::create_diesel);
}

/// The engine steps on a PostgreSQL store made by `create` on tables of
/// its own, dropped afterwards; skipped when the database is not there.
fn postgres_group<S: Store, F: Future<Output = Result<(S, PgTables), String>>>(
    c: &mut Criterion,
    base: &str,
    create: impl FnOnce() -> F,
) {
    let rt = runtime();
    let (store, tables) = match rt.block_on(create()) {
        Ok(created) => created,
        Err(e) => {
            eprintln!("{base} skipped: {e}");
            return;
        }
    };
    let bench = Bench::with_store(store, Passwords::Test);
    engine_steps(c, &rt, &group_name(base), &bench);
    drop(bench);
    if let Err(e) = rt.block_on(tables.drop_tables()) {
        eprintln!("the benchmark tables were left in place: {e}");
    }
}

criterion_group!(
    benches,
    floor,
    memory,
    sqlite,
    sqlite_diesel,
    postgres,
    postgres_diesel
);
criterion_main!(benches);

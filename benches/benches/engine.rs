//! Engine steps on the memory store, timed, with the number of store round
//! trips each makes printed once before timing (from the counting wrapper).

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mfa_benches::Bench;
use mfa_core::crypto::ExposeSecret;
use mfa_core::model::FactorKind;
use mfa_core::{LoginOutcome, VerifyRequest};
use std::hint::black_box;

fn report(name: &str, bench: &Bench, calls_before: u64) {
    println!(
        "round trips: {name}: {}",
        bench.store.calls() - calls_before
    );
}

fn steps(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("engine_memory");

    for (label, fast) in [("login_test_params", true), ("login_owasp_params", false)] {
        let bench = Bench::new(fast);
        let user = rt.block_on(bench.enrolled_user(0));
        let before = bench.store.calls();
        rt.block_on(bench.ticket(&user));
        report(label, &bench, before);
        if !fast {
            g.sample_size(10);
        }
        g.bench_function(label, |b| {
            b.iter(|| {
                let outcome = rt
                    .block_on(
                        bench
                            .mfa
                            .login(bench.login_request(&user.identifier, &user.password)),
                    )
                    .unwrap();
                assert!(matches!(outcome, LoginOutcome::MfaRequired { .. }));
            });
        });
        g.sample_size(100);
    }

    let bench = Bench::new(true);
    let user = rt.block_on(bench.enrolled_user(1));

    let before = bench.store.calls();
    rt.block_on(bench.signed_in(&user));
    println!(
        "round trips: login + verify_totp (whole sign-in): {}",
        bench.store.calls() - before
    );

    g.bench_function("verify_totp", |b| {
        b.iter_batched(
            || {
                let ticket = rt.block_on(bench.ticket(&user));
                bench.next_step();
                (ticket, bench.totp_code(&user.secret))
            },
            |(ticket, code)| {
                let before = bench.store.calls();
                let verified = rt
                    .block_on(bench.mfa.verify(VerifyRequest {
                        ticket: &ticket,
                        method: FactorKind::Totp,
                        code: &code,
                        remember_device: false,
                        client: &bench.client,
                    }))
                    .unwrap();
                black_box((verified, bench.store.calls() - before))
            },
            BatchSize::SmallInput,
        );
    });

    // Backup codes run out: a fresh user supplies ten at a time.
    let mut pool: Vec<(mfa_benches::EnrolledUser, usize)> = Vec::new();
    let mut next_user = 100;
    g.bench_function("verify_backup_code", |b| {
        b.iter_batched(
            || {
                if pool.last().is_none_or(|(_, used)| *used >= 10) {
                    next_user += 1;
                    pool.push((rt.block_on(bench.enrolled_user(next_user)), 0));
                }
                let (user, used) = pool.last_mut().unwrap();
                let code = user.backup_codes[*used].expose_secret().to_owned();
                *used += 1;
                (rt.block_on(bench.ticket(user)), code)
            },
            |(ticket, code)| {
                black_box(
                    rt.block_on(bench.mfa.verify(VerifyRequest {
                        ticket: &ticket,
                        method: FactorKind::BackupCodes,
                        code: &code,
                        remember_device: false,
                        client: &bench.client,
                    }))
                    .unwrap(),
                )
            },
            BatchSize::SmallInput,
        );
    });

    let tokens = rt.block_on(bench.signed_in(&user));
    let before = bench.store.calls();
    rt.block_on(bench.mfa.authenticate(&tokens.access_token))
        .unwrap();
    report("authenticate", &bench, before);
    g.bench_function("authenticate", |b| {
        b.iter(|| {
            black_box(
                rt.block_on(bench.mfa.authenticate(&tokens.access_token))
                    .unwrap(),
            )
        });
    });

    let mut refresh = rt.block_on(bench.signed_in(&user)).refresh_token;
    let before = bench.store.calls();
    refresh = rt
        .block_on(bench.mfa.refresh(&refresh, &bench.client))
        .unwrap()
        .refresh_token;
    report("refresh", &bench, before);
    g.bench_function("refresh", |b| {
        b.iter(|| {
            let next = rt
                .block_on(bench.mfa.refresh(&refresh, &bench.client))
                .unwrap();
            refresh = next.refresh_token;
        });
    });
    g.finish();
}

criterion_group!(benches, steps);
criterion_main!(benches);

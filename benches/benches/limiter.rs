//! The service's per-client limiter (`mfa_server::rate_limit`) under a
//! flood of distinct client addresses: the time of one request with 10³,
//! 10⁴ and 10⁵ clients already tracked (flat is the goal), beside the
//! limiter it replaced (a `Mutex<HashMap>` swept with `retain` on every
//! request above 10,000 entries), copied here as the baseline. Before the
//! measurements it prints the memory of 10⁵ tracked clients (resident set
//! growth). `docs/performance.md` reports the figures.

use criterion::{BenchmarkId, Criterion, criterion_group};
use mfa_axum::ClientConfig;
use mfa_server::rate_limit::IpRateLimit;
use std::collections::HashMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

const SIZES: [u32; 3] = [1_000, 10_000, 100_000];
/// High enough that no client of the benchmark is ever refused.
const LIMIT: u32 = 1_000_000;

/// An address in the `n`-th /64 of 2001:db8::/32: one client each.
fn client(n: u32) -> IpAddr {
    IpAddr::V6(Ipv6Addr::from_bits(
        (0x2001_0db8_u128 << 96) | (u128::from(n) << 64) | 1,
    ))
}

/// BASELINE: the limiter before governor (examples/server/src/rate_limit.rs
/// at 89c66d1), kept here only to be measured against.
mod baseline {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(60);
    const PRUNE_AT: usize = 10_000;

    pub struct HashMapRetain {
        pub limit: u32,
        pub windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    }

    impl HashMapRetain {
        pub fn hit(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
            let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
            if windows.len() >= PRUNE_AT {
                windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
            }
            let entry = windows.entry(ip).or_insert((now, 0));
            if now.duration_since(entry.0) >= WINDOW {
                *entry = (now, 0);
            }
            if entry.1 >= self.limit {
                let left = WINDOW.saturating_sub(now.duration_since(entry.0));
                return Err(left.max(Duration::from_secs(1)));
            }
            entry.1 += 1;
            Ok(())
        }
    }
}

fn flood(c: &mut Criterion) {
    let mut group = c.benchmark_group("limiter");
    for n in SIZES {
        let limiter = IpRateLimit::new(LIMIT, ClientConfig::default());
        for i in 0..n {
            limiter.hit(client(i)).unwrap();
        }
        assert_eq!(limiter.tracked(), n as usize);
        let mut next = 0;
        group.bench_with_input(BenchmarkId::new("governor", n), &n, |b, &n| {
            b.iter(|| {
                next = (next + 1) % n;
                black_box(limiter.hit(black_box(client(next)))).unwrap();
            });
        });

        let old = baseline::HashMapRetain {
            limit: LIMIT,
            windows: Mutex::new(HashMap::new()),
        };
        let start = Instant::now();
        for i in 0..n {
            old.hit(client(i), start).unwrap();
        }
        let mut next = 0;
        group.bench_with_input(
            BenchmarkId::new("baseline_hashmap_retain", n),
            &n,
            |b, &n| {
                b.iter(|| {
                    next = (next + 1) % n;
                    black_box(old.hit(black_box(client(next)), Instant::now())).unwrap();
                });
            },
        );
    }
    group.finish();
}

/// Resident set size in bytes (Linux), or `None`.
fn rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn memory_of_100k_clients() {
    let before = rss();
    let limiter = IpRateLimit::new(LIMIT, ClientConfig::default());
    for i in 0..100_000 {
        limiter.hit(client(i)).unwrap();
    }
    let after = rss();
    if let (Some(before), Some(after)) = (before, after) {
        let grown = after.saturating_sub(before);
        println!(
            "limiter memory: {} clients tracked, resident set +{} KiB ({} bytes per client)",
            limiter.tracked(),
            grown / 1024,
            grown / 100_000
        );
    }
    black_box(&limiter);
}

criterion_group!(benches, flood);

fn main() {
    memory_of_100k_clients();
    benches();
    Criterion::default().configure_from_args().final_summary();
}

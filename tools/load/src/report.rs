//! Figures of a level: throughput, latency percentiles per step and per
//! flow, errors by code; as a Markdown table and as JSON.

use crate::flow::{LevelRun, Step};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// Latency percentiles (nearest rank) of the successful requests.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    /// Number of samples.
    pub count: usize,
    /// Median, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Largest, ms.
    pub max_ms: f64,
}

impl Percentiles {
    /// The percentiles of `samples`.
    #[must_use]
    pub fn of(mut samples: Vec<Duration>) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let at = |q: f64| {
            let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
            ms(samples[rank - 1])
        };
        Self {
            count: samples.len(),
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: ms(samples[samples.len() - 1]),
        }
    }

    fn cell(&self) -> String {
        if self.count == 0 {
            return "–".into();
        }
        format!(
            "{:.0} / {:.0} / {:.0}",
            self.p50_ms, self.p95_ms, self.p99_ms
        )
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0
}

/// The figures of one concurrency level.
#[derive(Debug, Clone, Serialize)]
pub struct LevelReport {
    /// Virtual users.
    pub concurrency: usize,
    /// Measured time (until the last flow in flight finished), s.
    pub elapsed_s: f64,
    /// Flows whose three steps succeeded.
    pub flows_ok: usize,
    /// Flows that stopped at an error.
    pub flows_failed: usize,
    /// `flows_ok / elapsed_s`.
    pub flows_per_s: f64,
    /// Requests sent.
    pub requests: usize,
    /// Whole successful flows.
    pub flow: Percentiles,
    /// Successful logins.
    pub login: Percentiles,
    /// Successful verifies.
    pub verify: Percentiles,
    /// Successful refreshes.
    pub refresh: Percentiles,
    /// Failed requests by `step:code` (`step:untyped:kind` for untyped).
    pub errors: BTreeMap<String, usize>,
    /// Time virtual users waited for a ready user, summed, s. Above zero,
    /// the pool was too small for the rate: pass a larger `--users`.
    pub pool_wait_s: f64,
}

impl LevelReport {
    /// The figures of `run`.
    #[must_use]
    pub fn of(concurrency: usize, run: &LevelRun) -> Self {
        let mut steps: BTreeMap<Step, Vec<Duration>> = BTreeMap::new();
        let mut errors = BTreeMap::new();
        let mut requests = 0;
        for flow in &run.flows {
            for s in &flow.steps {
                requests += 1;
                match &s.error {
                    None => steps.entry(s.step).or_default().push(s.latency),
                    Some(e) => *errors.entry(format!("{}:{e}", s.step.name())).or_default() += 1,
                }
            }
        }
        let ok: Vec<Duration> = run
            .flows
            .iter()
            .filter(|f| f.ok())
            .map(|f| f.finished - f.started)
            .collect();
        let elapsed_s = run.elapsed.as_secs_f64();
        let mut take = |s: Step| Percentiles::of(steps.remove(&s).unwrap_or_default());
        Self {
            concurrency,
            elapsed_s: (elapsed_s * 100.0).round() / 100.0,
            flows_ok: ok.len(),
            flows_failed: run.flows.len() - ok.len(),
            flows_per_s: ((ok.len() as f64 / elapsed_s.max(1e-9)) * 100.0).round() / 100.0,
            requests,
            flow: Percentiles::of(ok),
            login: take(Step::Login),
            verify: take(Step::Verify),
            refresh: take(Step::Refresh),
            errors,
            pool_wait_s: (run.pool_wait.as_secs_f64() * 100.0).round() / 100.0,
        }
    }
}

/// The Markdown table of `levels`.
#[must_use]
pub fn markdown(levels: &[LevelReport]) -> String {
    let mut out = String::from(
        "| VUs | flows/s | ok | failed | flow p50/p95/p99 ms | login p50/p95/p99 | verify p50/p95/p99 | refresh p50/p95/p99 | pool wait s | errors |\n\
         |---:|---:|---:|---:|---|---|---|---|---:|---|\n",
    );
    for l in levels {
        let errors = if l.errors.is_empty() {
            "none".to_owned()
        } else {
            l.errors
                .iter()
                .map(|(k, v)| format!("{k} ×{v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "| {} | {:.1} | {} | {} | {} | {} | {} | {} | {:.1} | {} |",
            l.concurrency,
            l.flows_per_s,
            l.flows_ok,
            l.flows_failed,
            l.flow.cell(),
            l.login.cell(),
            l.verify.cell(),
            l.refresh.cell(),
            l.pool_wait_s,
            errors
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let p = Percentiles::of(samples);
        assert_eq!(
            (p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms),
            (50.0, 95.0, 99.0, 100.0)
        );
        assert_eq!(Percentiles::of(Vec::new()).count, 0);
    }
}

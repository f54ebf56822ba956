//! The `faults` run: load on PostgreSQL while PostgreSQL restarts, then the
//! checks that nothing was lost or left inconsistent (every step of the
//! engine whole or absent, see [`crate::checks`]) and that the service
//! recovered by itself.

use crate::api::Api;
use crate::checks::{self, DbChecks};
use crate::cli::{Args, parse_duration};
use crate::flow::{FlowKind, FlowResult, Pacing, Step, run_level};
use crate::pool::{self, PoolSize};
use crate::service::{self, Backend, Service, ServiceSpec};
use crate::{Error, default_server_bin};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Pause of a virtual user after a failed flow: clients back off, and
/// without it 200 users would spend their sign-in budget in a retry storm
/// while the database is down.
const RETRY_PAUSE: Duration = Duration::from_millis(250);
/// Longest ramp-up (virtual users arriving, not one burst of 200 argon2
/// hashes at the first instant); never more than half the time before the
/// restart.
const MAX_RAMP_UP: Duration = Duration::from_secs(5);
/// Default share of the pool's users that only send wrong codes, so failure
/// steps run (and are interrupted) alongside the sign-ins.
pub const DEFAULT_GUESSERS: f64 = 0.2;

/// Settings of a `faults` run.
#[derive(Debug, Clone)]
pub struct FaultOptions {
    /// The `mfa-server` binary.
    pub server_bin: PathBuf,
    /// PostgreSQL URL.
    pub postgres_url: String,
    /// Virtual users.
    pub concurrency: usize,
    /// Length of the load.
    pub duration: Duration,
    /// When the restart is issued, from the start of the load.
    pub restart_at: Duration,
    /// Shell command that restarts PostgreSQL.
    pub restart_cmd: String,
    /// Pool size; `None`: estimated.
    pub users: Option<usize>,
    /// Share of the pool's users that are guessers (0 to 1, see
    /// [`crate::flow::FlowKind::Guess`]).
    pub guessers: f64,
    /// Client timeout per request.
    pub timeout: Duration,
    /// JSON output.
    pub out: Option<PathBuf>,
    /// Keep the data directory and the tables.
    pub keep: bool,
}

const OPTIONS: &[&str] = &[
    "server-bin",
    "concurrency",
    "duration",
    "restart-at",
    "restart-cmd",
    "users",
    "guessers",
    "timeout",
    "out",
    "keep",
];

/// `pg_ctlcluster --skip-systemctl-redirect <version> main restart`, the
/// version being the (highest) directory name under `/etc/postgresql`.
///
/// # Errors
/// No cluster configuration found.
pub fn default_restart_cmd() -> Result<String, Error> {
    let mut versions: Vec<(u32, String)> = std::fs::read_dir("/etc/postgresql")
        .map_err(|e| Error::msg(format!("/etc/postgresql: {e}; pass --restart-cmd")))?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            Some((name.parse::<u32>().ok()?, name))
        })
        .collect();
    versions.sort();
    let (_, version) = versions
        .pop()
        .ok_or_else(|| Error::msg("no cluster under /etc/postgresql; pass --restart-cmd"))?;
    Ok(format!(
        "pg_ctlcluster --skip-systemctl-redirect {version} main restart"
    ))
}

impl FaultOptions {
    /// Reads the command line (see the crate documentation).
    ///
    /// # Errors
    /// An unknown option or invalid value.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Self, Error> {
        let args = Args::parse(args, &["keep"])?;
        args.reject_unknown(OPTIONS)?;
        let duration = args.parsed("duration", Duration::from_secs(60), parse_duration)?;
        let restart_at = args.parsed("restart-at", duration / 2, parse_duration)?;
        if restart_at >= duration {
            return Err(Error::msg("--restart-at must fall inside --duration"));
        }
        let restart_cmd = match args.get("restart-cmd") {
            Some(cmd) => cmd.to_owned(),
            None => default_restart_cmd()?,
        };
        Ok(Self {
            server_bin: args
                .get("server-bin")
                .map_or_else(default_server_bin, PathBuf::from),
            postgres_url: service::postgres_url(),
            concurrency: args.parsed("concurrency", 200, |v| v.parse().ok().filter(|n| *n > 0))?,
            duration,
            restart_at,
            restart_cmd,
            users: args.parsed("users", None, |v| {
                v.parse().ok().filter(|n| *n > 0).map(Some)
            })?,
            guessers: args.parsed("guessers", DEFAULT_GUESSERS, |v| {
                v.parse::<f64>().ok().filter(|g| (0.0..=1.0).contains(g))
            })?,
            timeout: args.parsed("timeout", Duration::from_secs(10), parse_duration)?,
            out: args.get("out").map(PathBuf::from),
            keep: args.flag("keep"),
        })
    }
}

/// One second of the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Second {
    /// Seconds since the start of the load.
    pub t: u64,
    /// Flows that completed successfully in this second.
    pub flows_ok: usize,
    /// Requests answered with a typed error in this second.
    pub typed: usize,
    /// Untyped failures in this second.
    pub untyped: usize,
}

/// Failed requests by when they ran relative to the restart.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Phases {
    /// Answered before the restart command was issued (load alone).
    pub before: usize,
    /// In flight at some moment between the command and its return.
    pub during: usize,
    /// Sent after the command returned.
    pub after: usize,
}

impl Phases {
    fn count(&mut self, sent: Instant, answered: Instant, issued: Instant, returned: Instant) {
        if answered < issued {
            self.before += 1;
        } else if sent <= returned {
            self.during += 1;
        } else {
            self.after += 1;
        }
    }
}

/// The restart and how long the command took.
#[derive(Debug, Clone, Serialize)]
pub struct Restart {
    /// The command.
    pub command: String,
    /// Issued at, s since the start of the load.
    pub at_s: f64,
    /// Time until the command returned (PostgreSQL accepting again), s.
    pub took_s: f64,
    /// Whether it exited successfully.
    pub succeeded: bool,
    /// Its output, when it failed.
    pub output: String,
}

/// The figures and checks of a `faults` run (written as JSON by `--out`).
#[derive(Debug, Clone, Serialize)]
pub struct FaultReport {
    /// Table prefix of the run.
    pub table_prefix: String,
    /// Start time (UTC).
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// Virtual users.
    pub concurrency: usize,
    /// Load time, s (until the last flow in flight finished).
    pub elapsed_s: f64,
    /// Client timeout, s.
    pub timeout_s: f64,
    /// Users in the pool.
    pub pool_users: usize,
    /// Share of the pool's users that only send wrong codes.
    pub guessers: f64,
    /// The restart.
    pub restart: Restart,
    /// Requests sent.
    pub requests: usize,
    /// Requests answered with success.
    pub successes: usize,
    /// Typed errors by `step:code`.
    pub typed_errors: BTreeMap<String, usize>,
    /// Untyped failures by `step:kind`.
    pub untyped_failures: BTreeMap<String, usize>,
    /// Typed errors by phase.
    pub typed_by_phase: Phases,
    /// Untyped failures by phase (`before`: the load alone overloads the
    /// service, not the fault).
    pub untyped_by_phase: Phases,
    /// Flows that completed (sign-ins and guesses).
    pub flows_ok: usize,
    /// Flows that stopped at an error.
    pub flows_failed: usize,
    /// Guesses whose wrong code was refused (`invalid_code`); included in
    /// `flows_ok`.
    pub guesses_ok: usize,
    /// Guesses that stopped at another answer; included in `flows_failed`.
    pub guesses_failed: usize,
    /// From the restart command to the end of the first successful flow
    /// whose verify was sent after the command returned, s; `None`: none.
    pub recovery_s: Option<f64>,
    /// First and last failed request after the restart command, s since it.
    pub error_window_s: Option<(f64, f64)>,
    /// The database invariants.
    pub db: DbChecks,
    /// The service process is still running (never restarted: same pid).
    pub service_alive: bool,
    /// `/readyz` answers 200 after the run.
    pub service_ready: bool,
    /// Lines of the service log reporting a panic.
    pub panics: Vec<String>,
    /// Per second of the load.
    pub timeline: Vec<Second>,
    /// The checks that failed; empty: all passed.
    pub failed_checks: Vec<String>,
}

impl FaultReport {
    /// Whether every check passed.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.failed_checks.is_empty()
    }

    /// The figures as Markdown.
    #[must_use]
    pub fn markdown(&self) -> String {
        let sum = |m: &BTreeMap<String, usize>| m.values().sum::<usize>();
        let list = |m: &BTreeMap<String, usize>| {
            if m.is_empty() {
                "none".to_owned()
            } else {
                m.iter()
                    .map(|(k, v)| format!("{k} ×{v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let phases = |p: &Phases| {
            format!(
                "{} before / {} during / {} after",
                p.before, p.during, p.after
            )
        };
        let yes = |b: bool| if b { "yes" } else { "NO" };
        let mut out = String::from("| figure | value |\n|---|---|\n");
        let mut row = |k: &str, v: String| {
            let _ = writeln!(out, "| {k} | {v} |");
        };
        row(
            "load",
            format!(
                "{} VUs, {:.1} s, {} pool users ({:.0} % guessers), client timeout {:.0} s",
                self.concurrency,
                self.elapsed_s,
                self.pool_users,
                self.guessers * 100.0,
                self.timeout_s
            ),
        );
        row(
            "restart",
            format!(
                "`{}` at {:.1} s, returned after {:.1} s ({})",
                self.restart.command,
                self.restart.at_s,
                self.restart.took_s,
                if self.restart.succeeded {
                    "ok"
                } else {
                    "FAILED"
                }
            ),
        );
        row("requests", self.requests.to_string());
        row("successful requests", self.successes.to_string());
        row(
            "typed errors",
            format!("{} ({})", sum(&self.typed_errors), list(&self.typed_errors)),
        );
        row(
            "untyped failures",
            format!(
                "{} ({})",
                sum(&self.untyped_failures),
                list(&self.untyped_failures)
            ),
        );
        row("typed errors by phase", phases(&self.typed_by_phase));
        row("untyped failures by phase", phases(&self.untyped_by_phase));
        row(
            "flows ok / failed",
            format!(
                "{} / {} (guesses {} / {})",
                self.flows_ok, self.flows_failed, self.guesses_ok, self.guesses_failed
            ),
        );
        row(
            "error window after restart",
            self.error_window_s
                .map_or("no errors".into(), |(a, b)| format!("{a:.1} s – {b:.1} s")),
        );
        row(
            "recovery time",
            self.recovery_s
                .map_or("NOT RECOVERED".into(), |s| format!("{s:.2} s")),
        );
        row(
            "successful verifies checked",
            self.db.verified_sessions.to_string(),
        );
        row("missing sessions", self.db.missing_sessions.to_string());
        row(
            "lost audit events",
            format!(
                "{} (session_created {}, mfa_verification success {}, failure {}, \
                 session_refreshed {})",
                self.db.lost_audit_events(),
                self.db.missing_session_created_events,
                self.db.missing_verification_events,
                self.db.missing_failure_events,
                self.db.missing_refresh_events
            ),
        );
        row(
            "orphan refresh tokens",
            format!(
                "{} (families with two live tokens {}, tokens rotated twice {})",
                self.db.orphan_tokens,
                self.db.families_with_two_live_tokens,
                self.db.forked_parents
            ),
        );
        let v = &self.db.verify_steps;
        row(
            "verify steps (ticket ⇔ success event ⇔ session, token, session_created)",
            format!(
                "{} checked ({} tickets consumed, {} success events, {} sessions); \
                 partial {} (no ticket {}, no event {}, no session {}, no first token {}, \
                 no session_created {})",
                v.steps,
                v.consumed_tickets,
                v.success_events,
                v.sessions,
                v.partial,
                v.without_ticket,
                v.without_success_event,
                v.without_session,
                v.without_first_token,
                v.without_created_event
            ),
        );
        let f = &self.db.failure_steps;
        row(
            "failure steps (counter ⇔ failure event, lock ⇔ account_locked)",
            format!(
                "{} failure events, {} compared with the counters of {} users (sum {}); \
                 partial {} (counted without event {}, event without count {}, \
                 lock mismatches {}; users mismatched {}); {} users locked",
                f.events,
                f.compared_events,
                f.users,
                f.counted,
                f.partial(),
                f.counted_without_event,
                f.event_without_count,
                f.lock_mismatches,
                f.users_mismatched,
                f.locked_users
            ),
        );
        let r = &self.db.refresh_steps;
        row(
            "refresh steps (rotated ⇔ child ⇔ session_refreshed)",
            format!(
                "{} checked ({} rotated, {} children, {} events); partial {} \
                 (no rotated parent {}, no child {}, no event {})",
                r.steps,
                r.rotated_tokens,
                r.child_tokens,
                r.events,
                r.partial,
                r.without_rotated_parent,
                r.without_child,
                r.without_event
            ),
        );
        row("partial steps", self.db.partial_steps().to_string());
        row(
            "service alive, same process",
            yes(self.service_alive).into(),
        );
        row(
            "service ready after the run",
            yes(self.service_ready).into(),
        );
        row("panics in service log", self.panics.len().to_string());
        row(
            "result",
            if self.passed() {
                "PASS".into()
            } else {
                format!("FAIL: {}", self.failed_checks.join("; "))
            },
        );
        out
    }

    /// The seconds around the restart, as Markdown.
    #[must_use]
    pub fn timeline_markdown(&self) -> String {
        let from = (self.restart.at_s as u64).saturating_sub(2);
        let to = self
            .error_window_s
            .map_or(self.restart.at_s + self.restart.took_s, |(_, b)| {
                self.restart.at_s + b
            })
            .max(self.restart.at_s + self.recovery_s.unwrap_or(0.0)) as u64
            + 2;
        let mut out =
            String::from("| s | flows ok | typed errors | untyped |\n|---:|---:|---:|---:|\n");
        for s in self.timeline.iter().filter(|s| s.t >= from && s.t <= to) {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                s.t, s.flows_ok, s.typed, s.untyped
            );
        }
        out
    }
}

/// Runs the load with the restart, then the checks. The service is stopped
/// and the tables dropped afterwards (unless `keep`).
///
/// # Errors
/// The service not starting, sign-up failing, the checks not running.
/// Failed checks are not errors: see [`FaultReport::passed`].
pub async fn run(options: &FaultOptions) -> Result<FaultReport, Error> {
    let prefix = service::unique_prefix()?;
    // Fail early when PostgreSQL is not there.
    service::connect_postgres(&options.postgres_url)
        .await?
        .close()
        .await;
    let spec = ServiceSpec {
        binary: options.server_bin.clone(),
        backend: Backend::Postgres(options.postgres_url.clone()),
        table_prefix: prefix.clone(),
    };
    eprintln!(
        "starting {} on postgres (tables {prefix}*)",
        spec.binary.display()
    );
    let mut service = Service::start(&spec).await?;
    let result = exercise(options, &mut service, &prefix).await;
    if result.is_err() {
        eprintln!("service log (end):\n{}", service.log_tail(15));
    }
    service.stop(options.keep).await?;
    if !options.keep {
        // A fresh pool: the restart closed every connection opened before.
        let pg = service::connect_postgres(&options.postgres_url).await?;
        let n = service::drop_prefixed_tables(&pg, &prefix).await?;
        eprintln!("dropped {n} tables {prefix}*");
    }
    result
}

async fn exercise(
    options: &FaultOptions,
    service: &mut Service,
    prefix: &str,
) -> Result<FaultReport, Error> {
    let api = Api::new(&service.base_url, options.timeout)?;
    let size = match options.users {
        Some(n) => PoolSize::Fixed(n),
        None => PoolSize::Auto {
            run: options.duration,
            max_concurrency: options.concurrency,
        },
    };
    let tag = prefix.trim_end_matches('_').replace('_', "-");
    let users = Arc::new(pool::build(&api, &tag, size).await?);
    users.wait_until_all_ready().await;
    let pid = service.pid();

    let started_at = chrono::Utc::now();
    let start = Instant::now();
    eprintln!(
        "load: {} virtual users for {:.0} s, restart at {:.0} s",
        options.concurrency,
        options.duration.as_secs_f64(),
        options.restart_at.as_secs_f64()
    );
    let load = {
        let api = api.clone();
        let users = users.clone();
        let (concurrency, duration) = (options.concurrency, options.duration);
        let pacing = Pacing {
            ramp_up: MAX_RAMP_UP.min(options.restart_at / 2),
            retry_pause: RETRY_PAUSE,
            guessers: options.guessers,
        };
        tokio::spawn(async move { run_level(&api, &users, concurrency, duration, pacing).await })
    };
    tokio::time::sleep_until((start + options.restart_at).into()).await;
    let issued = Instant::now();
    eprintln!("restart: {}", options.restart_cmd);
    let output = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&options.restart_cmd)
        .output()
        .await;
    let returned = Instant::now();
    let restart = Restart {
        command: options.restart_cmd.clone(),
        at_s: round2((issued - start).as_secs_f64()),
        took_s: round2((returned - issued).as_secs_f64()),
        succeeded: output.as_ref().is_ok_and(|o| o.status.success()),
        output: match &output {
            Ok(o) if o.status.success() => String::new(),
            Ok(o) => format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => e.to_string(),
        },
    };
    eprintln!("restart: returned after {:.1} s", restart.took_s);
    let run = load.await.map_err(Error::msg)?;
    eprintln!("load: done, checking");

    let service_alive = service.is_alive()? && service.pid() == pid;
    let mut service_ready = false;
    for _ in 0..50 {
        if api.get_ok("/readyz").await {
            service_ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let pg = service::connect_postgres(&options.postgres_url).await?;
    let db = checks::check(&pg, prefix, &run.flows, started_at).await?;
    pg.close().await;

    let mut report = FaultReport {
        table_prefix: prefix.to_owned(),
        started_at,
        concurrency: options.concurrency,
        elapsed_s: round2(run.elapsed.as_secs_f64()),
        timeout_s: options.timeout.as_secs_f64(),
        pool_users: users.len(),
        guessers: options.guessers,
        restart,
        requests: 0,
        successes: 0,
        typed_errors: BTreeMap::new(),
        untyped_failures: BTreeMap::new(),
        typed_by_phase: Phases::default(),
        untyped_by_phase: Phases::default(),
        flows_ok: run.flows.iter().filter(|f| f.ok()).count(),
        flows_failed: run.flows.iter().filter(|f| !f.ok()).count(),
        guesses_ok: run
            .flows
            .iter()
            .filter(|f| f.kind == FlowKind::Guess && f.ok())
            .count(),
        guesses_failed: run
            .flows
            .iter()
            .filter(|f| f.kind == FlowKind::Guess && !f.ok())
            .count(),
        recovery_s: recovery(&run.flows, issued, returned),
        error_window_s: None,
        db,
        service_alive,
        service_ready,
        panics: service.panics_in_log(),
        timeline: timeline(&run.flows, start),
        failed_checks: Vec::new(),
    };
    let mut window: Option<(f64, f64)> = None;
    for flow in &run.flows {
        for s in &flow.steps {
            report.requests += 1;
            let Some(error) = &s.error else {
                report.successes += 1;
                continue;
            };
            let key = format!("{}:{error}", s.step.name());
            let at = s.sent + s.latency;
            if s.untyped {
                *report.untyped_failures.entry(key).or_default() += 1;
                report.untyped_by_phase.count(s.sent, at, issued, returned);
            } else {
                *report.typed_errors.entry(key).or_default() += 1;
                report.typed_by_phase.count(s.sent, at, issued, returned);
            }
            if at >= issued {
                let t = (at - issued).as_secs_f64();
                window = Some(window.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
            }
        }
    }
    report.error_window_s = window.map(|(a, b)| (round2(a), round2(b)));
    report.failed_checks = failed_checks(&report);
    Ok(report)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// From the restart command to the end of the first successful flow whose
/// verify (the step that writes the session) was sent after the command
/// returned, i.e. after PostgreSQL was back.
fn recovery(flows: &[FlowResult], issued: Instant, returned: Instant) -> Option<f64> {
    flows
        .iter()
        .filter(|f| {
            f.ok()
                && f.steps
                    .iter()
                    .any(|s| s.step == Step::Verify && s.sent >= returned)
        })
        .map(|f| f.finished)
        .min()
        .map(|t| round2((t - issued).as_secs_f64()))
}

fn timeline(flows: &[FlowResult], start: Instant) -> Vec<Second> {
    let bucket = |t: Instant| -> u64 { t.saturating_duration_since(start).as_secs() };
    let mut out: BTreeMap<u64, Second> = BTreeMap::new();
    for flow in flows {
        if flow.ok() {
            let s = bucket(flow.finished);
            out.entry(s)
                .or_insert_with(|| Second {
                    t: s,
                    ..Second::default()
                })
                .flows_ok += 1;
        }
        for step in flow.steps.iter().filter(|s| s.error.is_some()) {
            let s = bucket(step.sent + step.latency);
            let e = out.entry(s).or_insert_with(|| Second {
                t: s,
                ..Second::default()
            });
            if step.untyped {
                e.untyped += 1;
            } else {
                e.typed += 1;
            }
        }
    }
    let last = out.keys().next_back().copied().unwrap_or(0);
    (0..=last)
        .map(|t| {
            out.remove(&t).unwrap_or(Second {
                t,
                ..Second::default()
            })
        })
        .collect()
}

fn failed_checks(r: &FaultReport) -> Vec<String> {
    let mut failed = Vec::new();
    let untyped: usize = r.untyped_failures.values().sum();
    if untyped > 0 {
        failed.push(format!("{untyped} untyped failures"));
    }
    if !r.restart.succeeded {
        failed.push(format!(
            "restart command failed: {}",
            r.restart.output.trim()
        ));
    }
    if r.recovery_s.is_none() {
        failed.push("no successful flow after the restart".into());
    }
    if r.db.missing_sessions > 0 {
        failed.push(format!("{} missing sessions", r.db.missing_sessions));
    }
    if r.db.lost_audit_events() > 0 {
        failed.push(format!("{} lost audit events", r.db.lost_audit_events()));
    }
    if r.db.partial_steps() > 0 {
        failed.push(format!(
            "{} partial steps (verify {}, failure {}, refresh {})",
            r.db.partial_steps(),
            r.db.verify_steps.partial,
            r.db.failure_steps.partial(),
            r.db.refresh_steps.partial
        ));
    }
    if r.guessers > 0.0 && r.db.failure_steps.events == 0 {
        failed.push("guessers configured, but no failure step ran".into());
    }
    if r.db.orphan_tokens > 0 || r.db.forked_parents > 0 {
        failed.push(format!(
            "{} orphan refresh tokens, {} tokens rotated twice",
            r.db.orphan_tokens, r.db.forked_parents
        ));
    }
    if !r.service_alive {
        failed.push("the service process died".into());
    }
    if !r.service_ready {
        failed.push("the service is not ready after the run".into());
    }
    if !r.panics.is_empty() {
        failed.push(format!("{} panics in the service log", r.panics.len()));
    }
    failed
}

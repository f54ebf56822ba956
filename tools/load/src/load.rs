//! The `load` run: levels of concurrent virtual users, one after the other,
//! against a service this run starts (and, in growth mode, tables this run
//! fills).

use crate::api::Api;
use crate::cli::{Args, parse_duration, parse_list};
use crate::flow::{Pacing, run_level};
use crate::pool::{self, PoolSize};
use crate::report::LevelReport;
use crate::seed::{self, SeedReport};
use crate::service::{self, Backend, Service, ServiceSpec};
use crate::{Error, default_server_bin};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Levels start all their virtual users at once (the measured window is
/// the whole level); a failed flow is followed by a short pause.
const PACING: Pacing = Pacing {
    ramp_up: Duration::ZERO,
    retry_pause: Duration::from_millis(250),
    guessers: 0.0,
};

/// Settings of a `load` run.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Database of the service.
    pub backend: Backend,
    /// The `mfa-server` binary.
    pub server_bin: PathBuf,
    /// Virtual users per level.
    pub concurrency: Vec<usize>,
    /// Length of each level.
    pub duration: Duration,
    /// Pool size; `None`: estimated.
    pub users: Option<usize>,
    /// Growth mode: users in the tables before the run (PostgreSQL).
    pub seed_users: Option<i64>,
    /// Client timeout per request.
    pub timeout: Duration,
    /// JSON output.
    pub out: Option<PathBuf>,
    /// Keep the data directory and the tables.
    pub keep: bool,
}

const OPTIONS: &[&str] = &[
    "backend",
    "server-bin",
    "concurrency",
    "duration",
    "users",
    "seed-users",
    "timeout",
    "out",
    "keep",
];

impl LoadOptions {
    /// Reads the command line (see the crate documentation).
    ///
    /// # Errors
    /// An unknown option or invalid value.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Self, Error> {
        let args = Args::parse(args, &["keep"])?;
        args.reject_unknown(OPTIONS)?;
        let backend = Backend::from_name(args.get("backend").unwrap_or("sqlite"))?;
        let seed_users = args.parsed("seed-users", None, |v| {
            v.replace('_', "")
                .parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .map(Some)
        })?;
        if seed_users.is_some() && backend == Backend::Sqlite {
            return Err(Error::msg("--seed-users needs --backend postgres"));
        }
        Ok(Self {
            backend,
            server_bin: args
                .get("server-bin")
                .map_or_else(default_server_bin, PathBuf::from),
            concurrency: args.parsed("concurrency", vec![1, 16, 64], parse_list)?,
            duration: args.parsed("duration", Duration::from_secs(20), parse_duration)?,
            users: args.parsed("users", None, |v| {
                v.parse().ok().filter(|n| *n > 0).map(Some)
            })?,
            seed_users,
            timeout: args.parsed("timeout", Duration::from_secs(10), parse_duration)?,
            out: args.get("out").map(PathBuf::from),
            keep: args.flag("keep"),
        })
    }
}

/// The figures of a `load` run (written as JSON by `--out`).
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// Table prefix of the run.
    pub table_prefix: String,
    /// CPUs available to this process (the service shares them).
    pub cpus: usize,
    /// Start time (UTC).
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// Length of each level, s.
    pub duration_per_level_s: f64,
    /// Client timeout per request, s.
    pub timeout_s: f64,
    /// Users in the pool.
    pub pool_users: usize,
    /// Time to sign them up, s.
    pub pool_signup_s: f64,
    /// Growth mode: what was seeded.
    pub seed: Option<SeedReport>,
    /// One entry per concurrency level.
    pub levels: Vec<LevelReport>,
}

/// Runs the levels; the service is stopped and the run's tables dropped
/// whatever happens (unless `keep`).
///
/// # Errors
/// The service not starting, sign-up failing, seeding failing.
pub async fn run(options: &LoadOptions) -> Result<LoadReport, Error> {
    let prefix = service::unique_prefix()?;
    let pg = match &options.backend {
        Backend::Postgres(url) => Some(service::connect_postgres(url).await?),
        Backend::Sqlite => None,
    };
    let spec = ServiceSpec {
        binary: options.server_bin.clone(),
        backend: options.backend.clone(),
        table_prefix: prefix.clone(),
    };
    eprintln!(
        "starting {} on {} (tables {prefix}*)",
        spec.binary.display(),
        options.backend.name()
    );
    let service = Service::start(&spec).await;
    let result = match &service {
        Ok(service) => measure(options, service, pg.as_ref(), &prefix).await,
        Err(e) => Err(Error::msg(e)),
    };
    if let Ok(service) = service {
        if result.is_err() {
            eprintln!("service log (end):\n{}", service.log_tail(15));
        }
        service.stop(options.keep).await?;
    }
    if let Some(pg) = &pg
        && !options.keep
    {
        let n = service::drop_prefixed_tables(pg, &prefix).await?;
        eprintln!("dropped {n} tables {prefix}*");
    }
    result
}

async fn measure(
    options: &LoadOptions,
    service: &Service,
    pg: Option<&mfa_store_sqlx::sqlx::PgPool>,
    prefix: &str,
) -> Result<LoadReport, Error> {
    let started_at = chrono::Utc::now();
    let api = Api::new(&service.base_url, options.timeout)?;
    let size = match options.users {
        Some(n) => PoolSize::Fixed(n),
        None => PoolSize::Auto {
            run: options.duration * u32::try_from(options.concurrency.len()).unwrap_or(1),
            max_concurrency: options.concurrency.iter().copied().max().unwrap_or(1),
        },
    };
    let signup = Instant::now();
    let tag = prefix.trim_end_matches('_').replace('_', "-");
    let users = Arc::new(pool::build(&api, &tag, size).await?);
    let pool_signup_s = signup.elapsed().as_secs_f64();
    users.wait_until_all_ready().await;
    let seed = match (options.seed_users, pg) {
        (Some(total), Some(pg)) => {
            eprintln!("seed: filling the tables to {total} users…");
            let report = seed::seed(pg, prefix, &users.user(0).user_id, total).await?;
            eprintln!(
                "seed: {} users in the tables, {:.1} s",
                report.users_total, report.seconds
            );
            Some(report)
        }
        _ => None,
    };
    let mut levels = Vec::new();
    for &concurrency in &options.concurrency {
        eprintln!(
            "level: {concurrency} virtual users for {:.0} s…",
            options.duration.as_secs_f64()
        );
        let run = run_level(&api, &users, concurrency, options.duration, PACING).await;
        let level = LevelReport::of(concurrency, &run);
        eprintln!(
            "level: {concurrency} VUs: {:.1} flows/s, {} failed",
            level.flows_per_s, level.flows_failed
        );
        levels.push(level);
    }
    Ok(LoadReport {
        backend: options.backend.name(),
        table_prefix: prefix.to_owned(),
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        started_at,
        duration_per_level_s: options.duration.as_secs_f64(),
        timeout_s: options.timeout.as_secs_f64(),
        pool_users: users.len(),
        pool_signup_s: (pool_signup_s * 10.0).round() / 10.0,
        seed,
        levels,
    })
}

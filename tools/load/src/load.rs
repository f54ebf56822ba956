//! The `load` run: levels of concurrent virtual users, one after the other,
//! against a service this run starts (and, in growth mode, tables this run
//! fills).

use crate::api::Api;
use crate::cli::{Args, parse_duration, parse_list};
use crate::flow::{Pacing, run_level};
use crate::growth::{self, ArchiveRun, AuditPages, Sizes};
use crate::pool::{self, PoolSize};
use crate::report::LevelReport;
use crate::seed::{self, SeedOptions, SeedReport};
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
    /// Growth mode: what to put in the tables before the run (PostgreSQL).
    pub seed: Option<SeedOptions>,
    /// Growth mode: requests of each of one user's two audit pages (0: none).
    pub audit_pages: usize,
    /// Growth mode: archive the oldest month of audit events after the
    /// levels.
    pub archive: bool,
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
    "audit-per-user",
    "tokens-per-user",
    "audit-pages",
    "archive",
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
        let args = Args::parse(args, &["keep", "archive"])?;
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
        let per_user = |name: &str, default: u32| {
            args.parsed(name, default, |v| {
                v.parse()
                    .ok()
                    .filter(|n| (1..=seed::MAX_TOKENS_PER_USER).contains(n))
            })
        };
        let audit_per_user = per_user("audit-per-user", 6)?;
        let tokens_per_user = per_user("tokens-per-user", 1)?;
        let growth_only = ["audit-per-user", "tokens-per-user", "audit-pages"];
        if seed_users.is_none()
            && (args.flag("archive") || growth_only.iter().any(|n| args.get(n).is_some()))
        {
            return Err(Error::msg(
                "--audit-per-user, --tokens-per-user, --audit-pages and --archive need --seed-users",
            ));
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
            seed: seed_users.map(|total_users| SeedOptions {
                total_users,
                audit_per_user,
                tokens_per_user,
            }),
            audit_pages: args.parsed("audit-pages", 500, |v| v.parse().ok())?,
            archive: args.flag("archive"),
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
    /// The machine's load averages (1, 5, 15 min) when each level started.
    pub load_average_per_level: Vec<[f64; 3]>,
    /// Growth mode: the measurements beside the levels.
    pub growth: Option<GrowthReport>,
}

/// Growth mode's measurements beside the levels.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GrowthReport {
    /// Tables, audit partitions and main indexes after seeding.
    pub sizes: Sizes,
    /// One user's audit pages (before the levels).
    pub audit_pages: Option<AuditPages>,
    /// The oldest month's archive (after the levels, with `--archive`).
    pub archive: Option<ArchiveRun>,
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
        Ok(service) => measure(options, &spec, service, pg.as_ref(), &prefix).await,
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
    spec: &ServiceSpec,
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
    let mut growth = None;
    let seed = match (options.seed, pg) {
        (Some(seed_options), Some(pg)) => {
            eprintln!(
                "seed: filling the tables to {} users, {} audit events and {} refresh tokens per user…",
                seed_options.total_users, seed_options.audit_per_user, seed_options.tokens_per_user
            );
            let keys_file = service.data_dir().join("keys.env");
            if !keys_file.is_file() {
                return Err(Error::msg(format!(
                    "the service's key ring {} is missing",
                    keys_file.display()
                )));
            }
            let keys =
                mfa_core::crypto::KeyRing::load_or_generate(&keys_file).map_err(Error::msg)?;
            let report = seed::seed(pg, prefix, &users.user(0).user_id, seed_options, keys).await?;
            eprintln!(
                "seed: {} users in the tables, {:.1} s",
                report.users_total, report.seconds
            );
            let (depths, created) = growth::with_pgstattuple(pg).await;
            let sizes = growth::sizes(pg, prefix, depths).await;
            if created {
                growth::drop_pgstattuple(pg).await;
            }
            let mut g = GrowthReport {
                sizes: sizes?,
                ..GrowthReport::default()
            };
            if options.audit_pages > 0 {
                let load = growth::quiet_machine(3.0, Duration::from_secs(120)).await;
                eprintln!(
                    "audit pages: {} requests of each of two pages (load {load:?})…",
                    options.audit_pages
                );
                let pages = growth::audit_pages(
                    &api,
                    &users,
                    0,
                    options.audit_pages,
                    pg,
                    prefix,
                    started_at,
                )
                .await?;
                eprintln!(
                    "audit pages: first p50/p95/p99 {:.1} / {:.1} / {:.1} ms, second {:.1} / {:.1} / {:.1} ms",
                    pages.first.p50_ms,
                    pages.first.p95_ms,
                    pages.first.p99_ms,
                    pages.second.p50_ms,
                    pages.second.p95_ms,
                    pages.second.p99_ms
                );
                g.audit_pages = Some(pages);
            }
            growth = Some(g);
            Some(report)
        }
        _ => None,
    };
    let mut levels = Vec::new();
    let mut load_average_per_level = Vec::new();
    for &concurrency in &options.concurrency {
        let load = if growth.is_some() {
            growth::quiet_machine(3.0, Duration::from_secs(120)).await
        } else {
            growth::load_average()
        };
        load_average_per_level.push(load);
        eprintln!(
            "level: {concurrency} virtual users for {:.0} s (load {load:?})…",
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
    if let (true, Some(g), Some(pg), Some(month)) = (
        options.archive,
        growth.as_mut(),
        pg,
        seed.as_ref().and_then(|s| s.audit_from),
    ) {
        growth::quiet_machine(3.0, Duration::from_secs(120)).await;
        g.archive = Some(growth::archive_month(service, spec, pg, prefix, month).await?);
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
        load_average_per_level,
        growth,
    })
}

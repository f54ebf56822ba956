//! Growth mode's own measurements, beside the levels: one user's audit
//! page through the API and its plan, the tables' sizes and index depths,
//! and the archive of the oldest month with the service's `audit` commands.

use crate::Error;
use crate::api::{Api, Reply};
use crate::pool::{Pool, Spent, now_ms};
use crate::report::Percentiles;
use crate::service::{Service, ServiceSpec, sql};
use chrono::{DateTime, Utc};
use mfa_store_sqlx::sqlx::{self, PgPool};
use serde::Serialize;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The machine's load averages (1, 5, 15 min), from `/proc/loadavg`.
#[must_use]
pub fn load_average() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut parts = text.split_whitespace().map(|p| p.parse().unwrap_or(-1.0));
    [
        parts.next().unwrap_or(-1.0),
        parts.next().unwrap_or(-1.0),
        parts.next().unwrap_or(-1.0),
    ]
}

/// One user's audit page, requested over and over.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditPages {
    /// The user (the seeding template: its filler events lie among
    /// everyone's).
    pub user_id: String,
    /// Load averages before the requests.
    pub load_average: [f64; 3],
    /// `GET /api/audit?limit=20`.
    pub first: Percentiles,
    /// `GET /api/audit?limit=20&cursor=…` (the first page's cursor).
    pub second: Percentiles,
    /// Events of the first page older than the run (fillers).
    pub first_page_fillers: usize,
    /// Events of the second page older than the run (fillers).
    pub second_page_fillers: usize,
    /// Failed requests, by error.
    pub errors: std::collections::BTreeMap<String, usize>,
    /// `EXPLAIN (ANALYZE, BUFFERS)` of the store's query for each page.
    pub explain_first: Vec<String>,
    /// The same for the second page.
    pub explain_second: Vec<String>,
}

/// Signs pool user `index` in (login and TOTP) for an access token.
async fn sign_in(api: &Api, pool: &Pool, index: usize) -> Result<String, Error> {
    pool.acquire_index(index).await;
    let user = pool.user(index);
    let mut spent = Spent {
        login_at_ms: Some(now_ms()),
        step: None,
    };
    let result = async {
        let (reply, _) = api
            .post(
                "/api/login",
                &user.who,
                None,
                &json!({ "identifier": user.identifier, "password": user.password }),
            )
            .await;
        let Reply::Ok(body) = reply else {
            return Err(Error::msg(format!("login: {reply:?}")));
        };
        let ticket = body["ticket"].as_str().unwrap_or_default().to_owned();
        let (code, step) = user.current_code()?;
        spent.step = Some(step);
        let (reply, _) = api
            .post(
                "/api/mfa/verify",
                &user.who,
                None,
                &json!({ "ticket": ticket, "method": "totp", "code": code }),
            )
            .await;
        match reply {
            Reply::Ok(body) => body["access_token"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| Error::msg("verify: no access token")),
            other => Err(Error::msg(format!("verify: {other:?}"))),
        }
    }
    .await;
    pool.release(index, spent);
    result
}

/// Requests `path` `count` times; the latencies of the successes, the
/// errors, and the last successful body.
async fn repeat(
    api: &Api,
    pool: &Pool,
    index: usize,
    token: &str,
    path: &str,
    count: usize,
    errors: &mut std::collections::BTreeMap<String, usize>,
) -> (Percentiles, Option<Value>) {
    let who = &pool.user(index).who;
    let mut samples = Vec::with_capacity(count);
    let mut last = None;
    for _ in 0..count {
        let (reply, latency) = api.get(path, who, token).await;
        match reply {
            Reply::Ok(body) => {
                samples.push(latency);
                last = Some(body);
            }
            other => {
                *errors
                    .entry(other.error_label().unwrap_or_default())
                    .or_default() += 1;
            }
        }
    }
    (Percentiles::of(samples), last)
}

fn fillers_in(page: Option<&Value>, run_started: DateTime<Utc>) -> usize {
    page.and_then(|p| p["items"].as_array()).map_or(0, |items| {
        items
            .iter()
            .filter_map(|e| e["at"].as_str()?.parse::<DateTime<Utc>>().ok())
            .filter(|at| *at < run_started)
            .count()
    })
}

/// The store's query of one user's audit page (`query_audit` with a user
/// filter), under `EXPLAIN (ANALYZE, BUFFERS)`, with the values spliced in.
async fn explain(
    pg: &PgPool,
    prefix: &str,
    user: uuid::Uuid,
    cursor: Option<(DateTime<Utc>, uuid::Uuid)>,
) -> Result<Vec<String>, Error> {
    let after = cursor.map_or(String::new(), |(at, id)| {
        let at = at.format("%Y-%m-%d %H:%M:%S%.6f+00");
        format!(" AND (at < '{at}' OR (at = '{at}' AND id < '{id}'))")
    });
    let statement = format!(
        "EXPLAIN (ANALYZE, BUFFERS) SELECT id, at, user_id, session_id, device_id, kind, outcome, \
         factor, ip, user_agent, country, risk_score, metadata, chain_id, chain_seq, chain_mac \
         FROM {prefix}audit_events WHERE user_id = '{user}'{after} \
         ORDER BY at DESC, id DESC LIMIT 21"
    );
    // Once to warm the cache as the requests just did, once measured.
    sqlx::query(sql(statement.clone())).execute(pg).await?;
    Ok(sqlx::query_scalar(sql(statement)).fetch_all(pg).await?)
}

fn parse_cursor(cursor: &str) -> Option<(DateTime<Utc>, uuid::Uuid)> {
    let (at, id) = cursor.rsplit_once('_')?;
    Some((at.parse().ok()?, id.parse().ok()?))
}

/// Measures pool user `index`'s audit page: signs it in once, then
/// `count` requests of the first page and `count` of the second, one at a
/// time; then the plans of both.
///
/// # Errors
/// The sign-in failing, or a plan that cannot be read.
pub async fn audit_pages(
    api: &Api,
    pool: &Pool,
    index: usize,
    count: usize,
    pg: &PgPool,
    prefix: &str,
    run_started: DateTime<Utc>,
) -> Result<AuditPages, Error> {
    let token = sign_in(api, pool, index).await?;
    let user_id = pool.user(index).user_id.clone();
    let mut report = AuditPages {
        user_id: user_id.clone(),
        load_average: load_average(),
        ..AuditPages::default()
    };
    let (first, page) = repeat(
        api,
        pool,
        index,
        &token,
        "/api/audit?limit=20",
        count,
        &mut report.errors,
    )
    .await;
    report.first = first;
    report.first_page_fillers = fillers_in(page.as_ref(), run_started);
    let cursor = page
        .as_ref()
        .and_then(|p| p["next_cursor"].as_str())
        .map(str::to_owned);
    if let Some(cursor) = &cursor {
        let (second, page) = repeat(
            api,
            pool,
            index,
            &token,
            &format!("/api/audit?limit=20&cursor={cursor}"),
            count,
            &mut report.errors,
        )
        .await;
        report.second = second;
        report.second_page_fillers = fillers_in(page.as_ref(), run_started);
    }
    let user: uuid::Uuid = user_id.parse().map_err(Error::msg)?;
    report.explain_first = explain(pg, prefix, user, None).await?;
    if let Some(cursor) = cursor.as_deref().and_then(parse_cursor) {
        report.explain_second = explain(pg, prefix, user, Some(cursor)).await?;
    }
    Ok(report)
}

/// One table's or index's size.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RelationSize {
    /// Name without the run's prefix.
    pub name: String,
    /// Rows (the planner's estimate after `ANALYZE`; exact for a partition
    /// about to be archived).
    pub rows: i64,
    /// `pg_total_relation_size` (table with its indexes and TOAST), bytes;
    /// for an index its own size.
    pub bytes: i64,
    /// B-tree levels above the leaves (`pgstatindex`'s `tree_level`),
    /// when the extension could be used.
    pub tree_level: Option<i32>,
}

/// Sizes of the run's tables, audit partitions and main indexes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sizes {
    /// Tables, audit partitions and the indexes of refresh tokens and of
    /// the largest audit partition.
    pub relations: Vec<RelationSize>,
}

/// The sizes of the run's relations. Index depths come from
/// `pgstatindex`, when the `pgstattuple` extension is installed (see
/// [`with_pgstattuple`]).
///
/// # Errors
/// A failed query.
pub async fn sizes(pg: &PgPool, prefix: &str, depths: bool) -> Result<Sizes, Error> {
    let like = format!("{prefix}%");
    let rows: Vec<(String, i64, i64, String)> = sqlx::query_as(
        "SELECT c.relname::text, c.reltuples::bigint, \
         CASE WHEN c.relkind = 'p' THEN (SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0)::bigint \
           FROM pg_inherits i WHERE i.inhparent = c.oid) \
           ELSE pg_total_relation_size(c.oid) END, c.relkind::text \
         FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace \
         AND c.relname LIKE $1 AND c.relkind IN ('r', 'p') ORDER BY c.relname",
    )
    .bind(&like)
    .fetch_all(pg)
    .await?;
    let mut out = Sizes::default();
    let mut largest: Option<(String, i64)> = None;
    for (name, reltuples, bytes, kind) in rows {
        let short = name.strip_prefix(prefix).unwrap_or(&name).to_owned();
        if kind == "r"
            && short.starts_with("audit_events_")
            && largest.as_ref().is_none_or(|(_, r)| reltuples > *r)
        {
            largest = Some((name.clone(), reltuples));
        }
        out.relations.push(RelationSize {
            name: short,
            rows: if kind == "p" { -1 } else { reltuples.max(0) },
            bytes,
            tree_level: None,
        });
    }
    let mut tables = vec![format!("{prefix}refresh_tokens"), format!("{prefix}users")];
    if let Some((name, _)) = largest {
        tables.push(name);
    }
    let indexes: Vec<(String, i64)> = sqlx::query_as(
        "SELECT c.relname::text, pg_relation_size(c.oid) FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid \
         WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY($1) \
         ORDER BY t.relname, c.relname",
    )
    .bind(&tables)
    .fetch_all(pg)
    .await?;
    for (name, bytes) in indexes {
        let tree_level = if depths {
            sqlx::query_scalar::<_, i32>("SELECT tree_level FROM pgstatindex($1::regclass)")
                .bind(&name)
                .fetch_one(pg)
                .await
                .ok()
        } else {
            None
        };
        out.relations.push(RelationSize {
            name: name.strip_prefix(prefix).unwrap_or(&name).to_owned(),
            rows: -1,
            bytes,
            tree_level,
        });
    }
    Ok(out)
}

/// Whether `pgstatindex` can be used: the `pgstattuple` extension is
/// installed, or this run installs it (returns `true` in `created`; drop it
/// with [`drop_pgstattuple`]).
pub async fn with_pgstattuple(pg: &PgPool) -> (bool, bool) {
    let installed: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pgstattuple')",
    )
    .fetch_one(pg)
    .await
    .unwrap_or(false);
    if installed {
        return (true, false);
    }
    let created = sqlx::query("CREATE EXTENSION pgstattuple")
        .execute(pg)
        .await
        .is_ok();
    (created, created)
}

/// Drops the `pgstattuple` extension this run installed.
pub async fn drop_pgstattuple(pg: &PgPool) {
    if let Err(e) = sqlx::query("DROP EXTENSION IF EXISTS pgstattuple")
        .execute(pg)
        .await
    {
        eprintln!("could not drop the pgstattuple extension: {e}");
    }
}

/// The archive of the oldest month, timed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ArchiveRun {
    /// The month archived (its first instant; `--before` is a month later).
    pub month: Option<DateTime<Utc>>,
    /// `--before`.
    pub before: Option<DateTime<Utc>>,
    /// Rows of the month's partition before the archive (`count(*)`).
    pub partition_rows: i64,
    /// `pg_total_relation_size` of the partition, bytes.
    pub partition_bytes: i64,
    /// Load averages before the archive.
    pub load_average: [f64; 3],
    /// `mfa-server audit archive`: seconds, exit status, its summary line.
    pub archive_s: f64,
    /// Exit status of the archive.
    pub archive_ok: bool,
    /// What it printed.
    pub archive_output: String,
    /// Bytes of the archive file.
    pub file_bytes: u64,
    /// Archived rows per second.
    pub rows_per_s: f64,
    /// Whether the month's partition is gone afterwards.
    pub partition_dropped: bool,
    /// `mfa-server audit verify --archive FILE --json`: seconds and report.
    pub verify_archive_s: f64,
    /// Its JSON report (problems, events, chains).
    pub verify_archive: Value,
    /// `mfa-server audit verify --json` of the store afterwards.
    pub verify_store_s: f64,
    /// Its JSON report.
    pub verify_store: Value,
}

async fn exists(pg: &PgPool, table: &str) -> Result<bool, Error> {
    Ok(
        sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NOT NULL")
            .bind(table)
            .fetch_one(pg)
            .await?,
    )
}

async fn operator(
    service: &Service,
    spec: &ServiceSpec,
    args: &[&str],
) -> Result<(f64, bool, String), Error> {
    let started = Instant::now();
    let output = service.operator_command(spec, args).output().await?;
    let seconds = (started.elapsed().as_secs_f64() * 100.0).round() / 100.0;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !stderr.trim().is_empty() {
        text.push_str("\nstderr: ");
        text.push_str(stderr.trim());
    }
    Ok((seconds, output.status.success(), text))
}

/// Archives the month starting at `month` with `mfa-server audit archive
/// --before <month + 1>` (the service keeps running, as in production),
/// then verifies the file and the store with `mfa-server audit verify`.
///
/// # Errors
/// A command that cannot be started, a failed query.
pub async fn archive_month(
    service: &Service,
    spec: &ServiceSpec,
    pg: &PgPool,
    prefix: &str,
    month: DateTime<Utc>,
) -> Result<ArchiveRun, Error> {
    let before = crate::seed::months_back(month, -1);
    let partition = format!("{prefix}audit_events_y{}", month.format("%Ym%m"));
    let mut run = ArchiveRun {
        month: Some(month),
        before: Some(before),
        ..ArchiveRun::default()
    };
    if !exists(pg, &partition).await? {
        return Err(Error::msg(format!("no partition {partition} to archive")));
    }
    run.partition_rows = sqlx::query_scalar(sql(format!("SELECT count(*) FROM {partition}")))
        .fetch_one(pg)
        .await?;
    run.partition_bytes = sqlx::query_scalar("SELECT pg_total_relation_size($1::regclass)")
        .bind(&partition)
        .fetch_one(pg)
        .await?;
    let file = service
        .dir
        .join(format!("audit-{}.jsonl.gz", month.format("%Y-%m")));
    let file_arg = file.to_string_lossy().into_owned();
    let before_arg = before.to_rfc3339();
    run.load_average = load_average();
    eprintln!(
        "archive: {} rows of {partition} (before {before_arg}), load {:?}…",
        run.partition_rows, run.load_average
    );
    let (seconds, ok, text) = operator(
        service,
        spec,
        &[
            "audit",
            "archive",
            "--before",
            &before_arg,
            "--out",
            &file_arg,
        ],
    )
    .await?;
    run.archive_s = seconds;
    run.archive_ok = ok;
    run.archive_output = text.trim().to_owned();
    run.file_bytes = std::fs::metadata(&file).map_or(0, |m| m.len());
    if seconds > 0.0 {
        run.rows_per_s = (run.partition_rows as f64 / seconds).round();
    }
    run.partition_dropped = !exists(pg, &partition).await?;
    eprintln!(
        "archive: {:.1} s, ok {ok}, {} bytes, partition dropped {}: {}",
        seconds, run.file_bytes, run.partition_dropped, run.archive_output
    );
    let (seconds, _, text) = operator(
        service,
        spec,
        &["audit", "verify", "--archive", &file_arg, "--json"],
    )
    .await?;
    run.verify_archive_s = seconds;
    run.verify_archive = summarize(&text);
    eprintln!("archive: verify --archive {seconds:.1} s");
    let (seconds, _, text) = operator(service, spec, &["audit", "verify", "--json"]).await?;
    run.verify_store_s = seconds;
    run.verify_store = summarize(&text);
    eprintln!("archive: verify (store) {seconds:.1} s");
    Ok(run)
}

/// A verification's JSON report without its (possibly long) list of
/// problems beyond the first five; the text itself when it is not JSON.
fn summarize(text: &str) -> Value {
    let json_part = text.split("\nstderr: ").next().unwrap_or_default();
    match serde_json::from_str::<Value>(json_part) {
        Ok(mut report) => {
            if let Some(problems) = report.get_mut("problems").and_then(Value::as_array_mut) {
                let count = problems.len();
                problems.truncate(5);
                report["problem_count"] = json!(count);
            }
            report
        }
        Err(_) => Value::String(text.chars().take(2000).collect()),
    }
}

/// Waits out a busy machine (load average above `limit`) for at most
/// `patience`, so a measurement does not run under another's build;
/// returns the load average it starts with.
pub async fn quiet_machine(limit: f64, patience: Duration) -> [f64; 3] {
    let deadline = Instant::now() + patience;
    loop {
        let load = load_average();
        if load[0] <= limit || Instant::now() >= deadline {
            return load;
        }
        eprintln!(
            "machine busy (load {:.2}); waiting for it to settle…",
            load[0]
        );
        tokio::time::sleep(Duration::from_secs(15)).await;
    }
}

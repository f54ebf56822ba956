//! Load generator (`load`) and load-with-faults run (`faults`) for the
//! `mfa-server` example service.
//!
//! Both binaries start the service themselves, as a child process of the
//! release binary, on a free loopback port with a fresh data directory in
//! the system temporary directory and a table prefix of their own
//! (`load_<8 hex>_`), whose tables they drop at the end. The service runs
//! with `MFA_DELIVERY=outbox`, `MFA_RATE_LIMIT_PER_MINUTE=1000000` and
//! `MFA_TRUSTED_PROXIES=127.0.0.1/32`; each pool user sends its own
//! `X-Forwarded-For` address (in 198.18.0.0/15) and device fingerprint, so
//! the engine's per-IP and per-identifier sign-in limits see realistic
//! traffic instead of one client.
//!
//! A pool of users is signed up through the API first (sign-up, login,
//! TOTP enrolment and confirmation). Each virtual user then loops over
//! full flows: `POST /api/login` (→ `mfa_required`, ticket) →
//! `POST /api/mfa/verify` with the current TOTP code (generated with
//! `mfa_core::crypto::Totp`) → `POST /api/token/refresh`. The pool hands a
//! user out again only in a later TOTP step than the one it last used, and
//! within the engine's 20 sign-ins per identifier per 15 minutes (see
//! [`pool`]), so a replayed code is a generator bug, never a result. The
//! pool is sized from the sign-up rate of a first batch unless `--users`
//! is given; a non-zero "pool wait" in a report means it was too small.
//!
//! Passwords are hashed with argon2id at OWASP parameters (~22 ms per hash
//! on a 2-core machine): every flow pays one, which bounds flows/s.
//!
//! # Running
//!
//! Build the service first; the binaries look for
//! `target/release/mfa-server` (or take `--server-bin PATH`):
//!
//! ```text
//! cargo build --release -p mfa-server -p mfa-load
//! ```
//!
//! ## `load`
//!
//! ```text
//! target/release/load --backend sqlite --concurrency 1,16,64 --duration 20s --out load-sqlite.json
//! target/release/load --backend postgres --concurrency 1,16,64 --duration 20s --out load-pg.json
//! target/release/load --backend postgres --seed-users 1000000 --concurrency 16,64 --duration 20s --out load-pg-1m.json
//! target/release/load --backend postgres --users 1500 --seed-users 1001500 \
//!     --audit-per-user 10 --tokens-per-user 10 --concurrency 1,4 --duration 20s --archive --out growth-1e7.json
//! ```
//!
//! Options: `--backend sqlite|postgres` (PostgreSQL URL from
//! `MFA_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`), `--concurrency LIST`
//! (default `1,16,64`), `--duration D` per level (default `20s`),
//! `--users N` (pool size; default: estimated), `--seed-users N`
//! (PostgreSQL only: fill the tables to N users before the run; the pool's
//! users count toward N), `--timeout D` per request (default `10s`),
//! `--out FILE` (JSON), `--server-bin PATH`, `--keep` (keep the data
//! directory and tables).
//!
//! Growth mode (`--seed-users`) also takes:
//!
//! - `--audit-per-user K` (default 6): linked audit events per filler
//!   user, spread from the first day of the month three months back to an
//!   hour ago, so four monthly partitions fill and the oldest is whole
//!   ([`audit_fill`]: generated here, linked with the service's key ring,
//!   streamed with `COPY`; 200 of them belong to the first pool user);
//! - `--tokens-per-user K` (default 1, at most 1000): refresh tokens per
//!   filler user, one family of K − 1 rotated tokens and one active, with
//!   expiries spread over the next month ([`seed`]);
//! - `--audit-pages N` (default 500; 0: none): after seeding, the first
//!   pool user signs in and requests its audit page
//!   (`GET /api/audit?limit=20`) N times, then the second page with the
//!   first's cursor N times, one request at a time; the report gives their
//!   p50/p95/p99, how many of the events on each page are fillers, and
//!   `EXPLAIN (ANALYZE, BUFFERS)` of the store's query for both pages;
//! - `--archive`: after the levels, `mfa-server audit archive --before
//!   <first day of the second-oldest month>` on the run's data directory
//!   and tables (the service keeps running), timed, with the partition's
//!   rows and size before and whether it was dropped; then
//!   `mfa-server audit verify --archive FILE --json` and
//!   `mfa-server audit verify --json` of the store, timed.
//!
//! Before the audit pages, each level and the archive, a growth run waits
//! (at most 2 minutes) for the machine's 1-minute load average to fall to
//! 3 or below, and records the load averages it started with. After
//! seeding it records every table's and audit partition's rows and
//! `pg_total_relation_size`, and the size and B-tree depth
//! (`pgstatindex`; the `pgstattuple` extension is created for the
//! measurement and dropped again if it was not installed) of the indexes
//! of `users`, `refresh_tokens` and the largest audit partition.
//!
//! It prints, per concurrency level, a Markdown table: flows/s, successful
//! and failed flows, p50/p95/p99 of the whole flow and of each step, the
//! time virtual users waited for a ready pool user, and errors by
//! `step:code`; in growth mode then the sizes, the audit pages with their
//! plans and the archive. `--out` writes the same figures as JSON, with
//! the run's settings and, in growth mode, the seeding times per table.
//!
//! ## `faults`
//!
//! ```text
//! target/release/faults --duration 60s --out faults.json
//! ```
//!
//! Runs the service on PostgreSQL (`MFA_TEST_POSTGRES_URL`, as for `load`)
//! with 200 virtual users (`--concurrency`,
//! arriving over the first 5 s) for `--duration` (default `60s`). A share
//! of the pool's users (`--guessers`, default `0.2`, spread evenly) are
//! guessers: their flows are login → verify with a wrong code (never one
//! of the codes of the skew window), which the engine must refuse with
//! `invalid_code` and count as a failure; the other users sign in as in
//! `load`. At `--restart-at` (default: half-way)
//! it restarts PostgreSQL with `--restart-cmd` (default
//! `pg_ctlcluster --skip-systemctl-redirect <version> main restart`, the
//! version being the directory under `/etc/postgresql`; on a private
//! cluster, e.g. `--restart-cmd "pg_ctl -D DIR restart -m immediate"`, a
//! crash). Every request has
//! a client timeout (`--timeout`, default `10s`). Afterwards it prints the
//! figures and checks, exiting non-zero when one fails:
//!
//! - requests, successes, typed errors by code, untyped failures (no
//!   answer, timeout, an error without the JSON shape) — untyped must be 0;
//! - every successful verify has its session row and its `session_created`
//!   and `mfa_verification` audit events, every successful refresh its
//!   `session_refreshed` event, every wrong code answered `invalid_code`
//!   its `mfa_verification` failure event (missing sessions and lost
//!   events must be 0);
//! - every step of the run, read back from the tables, has all of its rows
//!   or none (partial steps must be 0; how each kind of step is rebuilt is
//!   in [`checks`]): a **verify** step's consumed ticket,
//!   `mfa_verification` success event, session, first refresh token and
//!   `session_created` event; a **failure** step's count
//!   (`users.mfa_failures`, compared per user with the failure events
//!   since its last successful verification, which resets it) and its
//!   `mfa_verification` failure event, and a lock with its
//!   `account_locked` event; a **refresh** step's rotated token, child
//!   token and `session_refreshed` event. The report gives the steps
//!   checked per kind and the partial ones by missing row;
//! - no refresh-token family has two active, unused tokens and no token was
//!   rotated twice (orphans must be 0);
//! - recovery time: from the restart command until the end of the first
//!   successful flow whose verify was sent after the command returned
//!   (PostgreSQL back); the error window (first and last failed request
//!   after the command) and a per-second timeline show the outage itself;
//! - failures are also split by phase: answered before the restart (the
//!   load alone: overload), in flight during it, or sent after it;
//! - the service process is still the same, alive, and ready, and logged
//!   no panic.
//!
//! Other options: `--users N`, `--server-bin PATH`, `--keep` (as for
//! `load`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod audit_fill;
pub mod checks;
pub mod cli;
pub mod faults;
pub mod flow;
pub mod growth;
pub mod load;
pub mod pool;
pub mod report;
pub mod seed;
pub mod service;

use std::path::PathBuf;

/// An error of the tool, as text for the operator.
#[derive(Debug)]
pub struct Error(pub String);

impl Error {
    /// An error with this message.
    pub fn msg(message: impl std::fmt::Display) -> Self {
        Self(message.to_string())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

macro_rules! from_error {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Self::msg(e)
            }
        }
    )*};
}

from_error!(
    std::io::Error,
    reqwest::Error,
    mfa_store_sqlx::sqlx::Error,
    serde_json::Error,
    cli::ArgError
);

/// The `mfa-server` release binary next to this tool's own binary
/// (`target/<profile>/…` → `target/release/mfa-server`), or
/// `target/release/mfa-server` under the current directory.
#[must_use]
pub fn default_server_bin() -> PathBuf {
    let beside = std::env::current_exe().ok().and_then(|exe| {
        let target = exe.parent()?.parent()?.to_path_buf();
        Some(target.join("release").join("mfa-server"))
    });
    match beside {
        Some(path) if path.is_file() => path,
        _ => PathBuf::from("target/release/mfa-server"),
    }
}

//! The service under test: `mfa-server` started as a child process on a free
//! loopback port, with a fresh data directory and its own table prefix.

use crate::Error;
use mfa_store_sqlx::TablePrefix;
use mfa_store_sqlx::sqlx::postgres::PgPoolOptions;
use mfa_store_sqlx::sqlx::{AssertSqlSafe, PgPool};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// The PostgreSQL URL used when `MFA_TEST_POSTGRES_URL` is unset.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Where the service's own per-IP cap is set: high enough that only the
/// engine's sign-in limits (per identifier, per client IP) apply.
const SERVICE_RATE_LIMIT: &str = "1000000";

/// Which database the service runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the run's data directory.
    Sqlite,
    /// PostgreSQL at this URL.
    Postgres(String),
}

impl Backend {
    /// `sqlite` or `postgres` (URL from `MFA_TEST_POSTGRES_URL`).
    ///
    /// # Errors
    /// Another name.
    pub fn from_name(name: &str) -> Result<Self, Error> {
        match name {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" | "postgresql" => Ok(Self::Postgres(postgres_url())),
            other => Err(Error::msg(format!(
                "--backend: expected sqlite or postgres, got {other:?}"
            ))),
        }
    }

    /// A short name for reports.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// `MFA_TEST_POSTGRES_URL`, or [`DEFAULT_POSTGRES_URL`].
#[must_use]
pub fn postgres_url() -> String {
    std::env::var("MFA_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned())
}

/// A table prefix no other run uses: `load_<8 hex>_`, checked against the
/// store's prefix rules (so it is safe to splice into SQL).
///
/// # Errors
/// Never in practice: the shape is fixed.
pub fn unique_prefix() -> Result<String, Error> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let prefix = TablePrefix::new(format!("load_{}_", &id[..8])).map_err(Error::msg)?;
    Ok(prefix.as_str().to_owned())
}

/// SQL text with the run's table prefix spliced in. Callers only splice a
/// prefix from [`unique_prefix`] (`[a-z0-9_]`, checked) and table names
/// made of the same characters.
pub(crate) fn sql(text: String) -> AssertSqlSafe<String> {
    AssertSqlSafe(text)
}

/// How to start the service.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    /// The `mfa-server` binary.
    pub binary: PathBuf,
    /// The database.
    pub backend: Backend,
    /// `MFA_TABLE_PREFIX`.
    pub table_prefix: String,
}

/// A running `mfa-server` child process, with its temporary directory.
pub struct Service {
    child: Child,
    pid: u32,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// The temporary directory (data directory and log file).
    pub dir: PathBuf,
    log: PathBuf,
}

impl Service {
    /// Starts the service and waits (at most 60 s) until `/readyz` answers
    /// 200.
    ///
    /// # Errors
    /// A missing binary, a process that exits, or a service that never gets
    /// ready (the end of its log is in the message).
    pub async fn start(spec: &ServiceSpec) -> Result<Self, Error> {
        if !spec.binary.is_file() {
            return Err(Error::msg(format!(
                "{} not found: build it with `cargo build --release -p mfa-server` or pass --server-bin",
                spec.binary.display()
            )));
        }
        let dir = std::env::temp_dir().join(format!("mfa-load-{}", uuid::Uuid::new_v4().simple()));
        let data = dir.join("data");
        std::fs::create_dir_all(&data)?;
        let log = dir.join("server.log");
        let log_file = std::fs::File::create(&log)?;
        let port = free_port()?;
        let mut command = environment(spec, &data);
        command
            .env("MFA_LISTEN", format!("127.0.0.1:{port}"))
            .env("MFA_DELIVERY", "outbox")
            .env("MFA_RATE_LIMIT_PER_MINUTE", SERVICE_RATE_LIMIT)
            .env("MFA_TRUSTED_PROXIES", "127.0.0.1/32")
            // Request logs would cost as much as the work measured.
            .env("RUST_LOG", "warn,mfa_server=info")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .kill_on_drop(true);
        let child = command.spawn()?;
        let pid = child
            .id()
            .ok_or_else(|| Error::msg("the service exited at once"))?;
        let mut service = Self {
            child,
            pid,
            base_url: format!("http://127.0.0.1:{port}"),
            dir,
            log,
        };
        service.wait_ready(Duration::from_secs(60)).await?;
        Ok(service)
    }

    async fn wait_ready(&mut self, limit: Duration) -> Result<(), Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(Error::msg(format!(
                    "the service exited ({status}) before it was ready:\n{}",
                    self.log_tail(20)
                )));
            }
            if let Ok(r) = http.get(format!("{}/readyz", self.base_url)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::msg(format!(
                    "the service was not ready within {limit:?}:\n{}",
                    self.log_tail(20)
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The service's data directory (its development key ring is
    /// `keys.env` there).
    #[must_use]
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `mfa-server <args>` as an operator runs it next to this service:
    /// the same binary, data directory, table prefix and database. For the
    /// `audit` commands.
    #[must_use]
    pub fn operator_command(&self, spec: &ServiceSpec, args: &[&str]) -> Command {
        let mut command = environment(spec, &self.data_dir());
        command
            .env("RUST_LOG", "warn")
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// The process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the process is still running (it has not exited or crashed).
    ///
    /// # Errors
    /// The wait status could not be read.
    pub fn is_alive(&mut self) -> Result<bool, Error> {
        Ok(self.child.try_wait()?.is_none())
    }

    /// The service's log (stdout and stderr).
    #[must_use]
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `lines` lines of the log.
    #[must_use]
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Lines of the log that report a panic.
    #[must_use]
    pub fn panics_in_log(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("panicked"))
            .map(str::to_owned)
            .collect()
    }

    /// Stops the service: SIGTERM (graceful shutdown), then SIGKILL after
    /// 10 s. `keep_dir` keeps the temporary directory (data and log).
    ///
    /// # Errors
    /// The process could not be signalled.
    pub async fn stop(mut self, keep_dir: bool) -> Result<(), Error> {
        if self.child.try_wait()?.is_none() {
            // tokio can only SIGKILL; `kill -TERM <pid>` lets the service drain.
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.pid.to_string())
                .status()
                .await;
            if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
                .await
                .is_err()
            {
                self.child.kill().await?;
            }
        }
        if keep_dir {
            eprintln!("service data and log kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        Ok(())
    }
}

/// `spec.binary` with a clean environment holding what every run of it
/// shares: development mode, the data directory, the table prefix and the
/// database.
fn environment(spec: &ServiceSpec, data: &Path) -> Command {
    let mut command = Command::new(&spec.binary);
    command
        .env_clear()
        .env("MFA_ENV", "development")
        .env("MFA_DATA_DIR", data)
        .env("MFA_TABLE_PREFIX", &spec.table_prefix);
    if let Backend::Postgres(url) = &spec.backend {
        command.env("DATABASE_URL", url);
    }
    command
}

fn free_port() -> Result<u16, Error> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// A small pool for the tool's own queries (seeding, checks, clean-up;
/// growth mode holds a seeding and a `COPY` connection while the store
/// makes partitions on a third).
///
/// # Errors
/// PostgreSQL unreachable.
pub async fn connect_postgres(url: &str) -> Result<PgPool, Error> {
    Ok(PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await?)
}

/// Drops every table whose name starts with `prefix` (the run's tables).
///
/// # Errors
/// A failed query.
pub async fn drop_prefixed_tables(pool: &PgPool, prefix: &str) -> Result<usize, Error> {
    let tables: Vec<String> = mfa_store_sqlx::sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND left(table_name, length($1)) = $1",
    )
    .bind(prefix)
    .fetch_all(pool)
    .await?;
    let tables: Vec<String> = tables
        .into_iter()
        .filter(|t| {
            t.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    if tables.is_empty() {
        return Ok(0);
    }
    let list = tables
        .iter()
        .map(|t| format!("\"{t}\""))
        .collect::<Vec<_>>()
        .join(", ");
    mfa_store_sqlx::sqlx::query(sql(format!("DROP TABLE IF EXISTS {list} CASCADE")))
        .execute(pool)
        .await?;
    Ok(tables.len())
}

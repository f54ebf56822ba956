//! The storage backend, chosen by `DATABASE_URL`.

use crate::config::{Config, ConfigError};
use mfa_core::MfaBuilder;
use mfa_core::store::{Store, UserRepository};
use mfa_store_memory::MemoryStore;
use mfa_store_sqlx::sqlx::mysql::MySqlPoolOptions;
use mfa_store_sqlx::sqlx::postgres::PgPoolOptions;
use mfa_store_sqlx::{MySqlStore, PgStore};
use std::sync::Arc;
use std::time::Duration;

/// Which database backs the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// In-process memory (lost on exit): `DATABASE_URL=memory:`.
    Memory,
    /// SQLite file (the default: `data/mfa.sqlite3`).
    Sqlite(String),
    /// PostgreSQL (`postgres://…`).
    Postgres(String),
    /// MySQL / MariaDB (`mysql://…`).
    MySql(String),
}

impl Backend {
    /// The backend for `config`.
    ///
    /// # Errors
    /// An unsupported `DATABASE_URL` scheme.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        match config.database_url.as_deref() {
            None => Ok(Self::Sqlite(format!(
                "sqlite://{}",
                config.data_dir.join("mfa.sqlite3").display()
            ))),
            Some("memory:") => Ok(Self::Memory),
            Some(url) if url.starts_with("sqlite:") => Ok(Self::Sqlite(url.to_owned())),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Self::Postgres(url.to_owned()))
            }
            Some(url) if url.starts_with("mysql://") || url.starts_with("mariadb://") => {
                Ok(Self::MySql(url.to_owned()))
            }
            Some(_) => Err(ConfigError::new(
                "DATABASE_URL",
                "expected sqlite:, postgres://, mysql:// or memory:",
            )),
        }
    }

    /// A short name for logs and `/readyz`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
            Self::MySql(_) => "mysql",
        }
    }
}

/// The store handle the service keeps next to the engine (readiness).
#[derive(Clone)]
pub struct StoreHandles {
    /// Backend name.
    pub backend: &'static str,
    /// Users (readiness probe).
    pub users: Arc<dyn UserRepository>,
}

fn attach<S: Store>(
    builder: MfaBuilder,
    store: Arc<S>,
    backend: &'static str,
) -> (MfaBuilder, StoreHandles) {
    let handles = StoreHandles {
        backend,
        users: store.clone(),
    };
    (builder.store(store), handles)
}

/// Opens the backend (creating the database and applying migrations where
/// it applies) and hands it to the engine builder.
///
/// # Errors
/// A database that cannot be opened or migrated.
pub async fn open(
    backend: &Backend,
    prefix: Option<&str>,
    builder: MfaBuilder,
) -> Result<(MfaBuilder, StoreHandles), ConfigError> {
    let bad_prefix = |_| {
        ConfigError::new(
            "MFA_TABLE_PREFIX",
            "1 to 24 characters of a-z, 0-9 and _, starting with a letter",
        )
    };
    match backend {
        Backend::Memory => Ok(attach(builder, Arc::new(MemoryStore::new()), "memory")),
        Backend::Sqlite(url) => {
            // `mfa-store-diesel`'s SQLite store: statements on the calling
            // thread, several times faster per step than a hop to a
            // worker (docs/performance.md); same tables as `mfa-store-sqlx`.
            use mfa_store_diesel::SqliteStore;
            let store = SqliteStore::connect(&sqlite_file_url(url)?, 4)
                .await
                .map_err(unavailable)?;
            let store = match prefix {
                Some(p) => SqliteStore::with_prefix(store.pool().clone(), p).map_err(bad_prefix)?,
                None => store,
            };
            store.migrate().await.map_err(unavailable)?;
            Ok(attach(builder, Arc::new(store), "sqlite"))
        }
        Backend::Postgres(url) => {
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(5))
                // No ping per acquire (it doubled the round trips of every
                // step); a broken connection is dropped when released.
                .test_before_acquire(false)
                .connect(url)
                .await
                .map_err(|e| ConfigError::new("DATABASE_URL", format!("postgres: {e}")))?;
            let store = match prefix {
                Some(p) => PgStore::with_prefix(pool, p).map_err(bad_prefix)?,
                None => PgStore::new(pool),
            };
            store.migrate().await.map_err(unavailable)?;
            Ok(attach(builder, Arc::new(store), "postgres"))
        }
        Backend::MySql(url) => {
            let url = url.replacen("mariadb://", "mysql://", 1);
            let pool = MySqlPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(5))
                // No ping per acquire (it doubled the round trips of every
                // step); a broken connection is dropped when released.
                .test_before_acquire(false)
                .connect(&url)
                .await
                .map_err(|e| ConfigError::new("DATABASE_URL", format!("mysql: {e}")))?;
            let store = match prefix {
                Some(p) => MySqlStore::with_prefix(pool, p).map_err(bad_prefix)?,
                None => MySqlStore::new(pool),
            };
            store.migrate().await.map_err(unavailable)?;
            Ok(attach(builder, Arc::new(store), "mysql"))
        }
    }
}

/// `sqlite:path` or `sqlite://path` (with URI parameters) as the store's
/// `sqlite://` form. An in-memory SQLite database is refused: each pooled
/// connection would have its own (`memory:` is the in-memory store).
fn sqlite_file_url(url: &str) -> Result<String, ConfigError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if rest.is_empty() || rest.contains(":memory:") || rest.contains("mode=memory") {
        return Err(ConfigError::new(
            "DATABASE_URL",
            "a SQLite file is needed (sqlite:path); use memory: for an in-memory store",
        ));
    }
    Ok(format!("sqlite://{rest}"))
}

fn unavailable(e: mfa_core::store::StoreError) -> ConfigError {
    ConfigError::new("DATABASE_URL", e.to_string())
}

#[cfg(test)]
mod tests {
    use super::sqlite_file_url;

    #[test]
    fn sqlite_urls_name_a_file() {
        assert_eq!(
            sqlite_file_url("sqlite:data/mfa.db").unwrap(),
            "sqlite://data/mfa.db"
        );
        assert_eq!(
            sqlite_file_url("sqlite:///srv/mfa.db?mode=rwc").unwrap(),
            "sqlite:///srv/mfa.db?mode=rwc"
        );
        for memory in ["sqlite::memory:", "sqlite://file:x?mode=memory", "sqlite:"] {
            assert!(sqlite_file_url(memory).is_err(), "{memory}");
        }
    }
}

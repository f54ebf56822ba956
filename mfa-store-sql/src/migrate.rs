//! The migrations, embedded once for both stores.
//!
//! `sqlx::migrate!` and `diesel_migrations` cannot template table names (and
//! keep bookkeeping tables of their own), so each backend has ordered SQL
//! files written with a `{p}` placeholder for the table prefix, and both
//! stores record applied versions in the same `<prefix>schema_migrations`
//! table: a schema migrated by one crate is up to date for the other.

/// One embedded migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Version, strictly increasing.
    pub version: i64,
    /// Short name, recorded with the version.
    pub name: &'static str,
    /// Statements separated by `;` at the end of a line.
    pub sql: &'static str,
}

impl Migration {
    /// The statements of the migration for `prefix`, comment-only chunks
    /// dropped.
    pub fn statements(&self, prefix: &str) -> Vec<String> {
        self.sql
            .replace("{p}", prefix)
            .split(";\n")
            .map(str::trim)
            .filter(|chunk| {
                chunk
                    .lines()
                    .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with("--"))
            })
            .map(str::to_owned)
            .collect()
    }
}

/// How a backend keeps two migrators of one prefix apart; each statement
/// takes the lock name (`mfa-store-sqlx:<prefix>`, shared by both stores) as
/// `$1`.
#[derive(Debug, Clone, Copy)]
pub enum MigrationLock {
    /// The write transaction is lock enough.
    None,
    /// A lock taken inside the migration transaction, released by its end.
    Transaction(&'static str),
    /// A session lock: `acquire` returns 1 in column `v` when it is held;
    /// `release` frees it.
    Session {
        /// Takes the lock, waiting a bounded time.
        acquire: &'static str,
        /// Frees the lock.
        release: &'static str,
    },
}

/// SQLite migrations, in order.
pub const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/sqlite/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "rate_limit_counters",
        sql: include_str!("../migrations/sqlite/0002_rate_limit_counters.sql"),
    },
    Migration {
        version: 3,
        name: "webauthn",
        sql: include_str!("../migrations/sqlite/0003_webauthn.sql"),
    },
    Migration {
        version: 4,
        name: "key_checks",
        sql: include_str!("../migrations/sqlite/0004_key_checks.sql"),
    },
    Migration {
        version: 5,
        name: "push",
        sql: include_str!("../migrations/sqlite/0005_push.sql"),
    },
    Migration {
        version: 6,
        name: "audit_chains",
        sql: include_str!("../migrations/sqlite/0006_audit_chains.sql"),
    },
    Migration {
        version: 7,
        name: "audit_partitions",
        sql: include_str!("../migrations/sqlite/0007_audit_partitions.sql"),
    },
    Migration {
        version: 8,
        name: "audit_kind_index",
        sql: include_str!("../migrations/sqlite/0008_audit_kind_index.sql"),
    },
    Migration {
        version: 9,
        name: "recovery",
        sql: include_str!("../migrations/sqlite/0009_recovery.sql"),
    },
    Migration {
        version: 10,
        name: "refresh_grace",
        sql: include_str!("../migrations/sqlite/0010_refresh_grace.sql"),
    },
    Migration {
        version: 11,
        name: "audit_erasure",
        sql: include_str!("../migrations/sqlite/0011_audit_erasure.sql"),
    },
];

/// PostgreSQL migrations, in order.
pub const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/postgres/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "rate_limit_counters",
        sql: include_str!("../migrations/postgres/0002_rate_limit_counters.sql"),
    },
    Migration {
        version: 3,
        name: "webauthn",
        sql: include_str!("../migrations/postgres/0003_webauthn.sql"),
    },
    Migration {
        version: 4,
        name: "key_checks",
        sql: include_str!("../migrations/postgres/0004_key_checks.sql"),
    },
    Migration {
        version: 5,
        name: "push",
        sql: include_str!("../migrations/postgres/0005_push.sql"),
    },
    Migration {
        version: 6,
        name: "audit_chains",
        sql: include_str!("../migrations/postgres/0006_audit_chains.sql"),
    },
    Migration {
        version: 7,
        name: "audit_partitions",
        sql: include_str!("../migrations/postgres/0007_audit_partitions.sql"),
    },
    Migration {
        version: 8,
        name: "audit_kind_index",
        sql: include_str!("../migrations/postgres/0008_audit_kind_index.sql"),
    },
    Migration {
        version: 9,
        name: "recovery",
        sql: include_str!("../migrations/postgres/0009_recovery.sql"),
    },
    Migration {
        version: 10,
        name: "refresh_grace",
        sql: include_str!("../migrations/postgres/0010_refresh_grace.sql"),
    },
    Migration {
        version: 11,
        name: "audit_erasure",
        sql: include_str!("../migrations/postgres/0011_audit_erasure.sql"),
    },
];

/// MySQL / MariaDB migrations, in order.
pub const MYSQL: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/mysql/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "rate_limit_counters",
        sql: include_str!("../migrations/mysql/0002_rate_limit_counters.sql"),
    },
    Migration {
        version: 3,
        name: "webauthn",
        sql: include_str!("../migrations/mysql/0003_webauthn.sql"),
    },
    Migration {
        version: 4,
        name: "key_checks",
        sql: include_str!("../migrations/mysql/0004_key_checks.sql"),
    },
    Migration {
        version: 5,
        name: "push",
        sql: include_str!("../migrations/mysql/0005_push.sql"),
    },
    Migration {
        version: 6,
        name: "audit_chains",
        sql: include_str!("../migrations/mysql/0006_audit_chains.sql"),
    },
    Migration {
        version: 7,
        name: "audit_partitions",
        sql: include_str!("../migrations/mysql/0007_audit_partitions.sql"),
    },
    Migration {
        version: 8,
        name: "audit_kind_index",
        sql: include_str!("../migrations/mysql/0008_audit_kind_index.sql"),
    },
    Migration {
        version: 9,
        name: "recovery",
        sql: include_str!("../migrations/mysql/0009_recovery.sql"),
    },
    Migration {
        version: 10,
        name: "refresh_grace",
        sql: include_str!("../migrations/mysql/0010_refresh_grace.sql"),
    },
    Migration {
        version: 11,
        name: "audit_erasure",
        sql: include_str!("../migrations/mysql/0011_audit_erasure.sql"),
    },
];

/// `CREATE TABLE IF NOT EXISTS <prefix>schema_migrations`, with the
/// backend's type for `applied_at`.
pub fn tracking_table(prefix: &str, applied_at: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {prefix}schema_migrations (\
         version BIGINT NOT NULL PRIMARY KEY, \
         name VARCHAR(100) NOT NULL, \
         applied_at {applied_at})"
    )
}

/// `SELECT version FROM <prefix>schema_migrations`.
pub fn applied_sql(prefix: &str) -> String {
    format!("SELECT version FROM {prefix}schema_migrations")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_split_and_prefixed() {
        let m = Migration {
            version: 1,
            name: "t",
            sql: "-- head\nCREATE TABLE {p}a (x INT);\n-- only a comment;\n-- idx\nCREATE INDEX {p}i ON {p}a (x);\n",
        };
        assert_eq!(
            m.statements("z_"),
            vec![
                "-- head\nCREATE TABLE z_a (x INT)".to_owned(),
                "-- idx\nCREATE INDEX z_i ON z_a (x)".to_owned(),
            ]
        );
    }
}

//! Statement text shared by every backend: one template per statement,
//! written with `{p}` for the table prefix and `$1`, `$2`, … for parameters,
//! turned into each backend's placeholder syntax by [`Dialect::prepare`].

use crate::migrate::{self, Migration, MigrationLock};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// One bound value, converted to the backend's column type by its binder
/// (timestamps become microseconds on SQLite, for example).
#[derive(Debug, Clone)]
pub enum Arg {
    /// A UUID.
    Uuid(Uuid),
    /// A nullable UUID.
    OptUuid(Option<Uuid>),
    /// A UTC timestamp.
    Ts(DateTime<Utc>),
    /// A nullable UTC timestamp.
    OptTs(Option<DateTime<Utc>>),
    /// Bytes.
    Bytes(Vec<u8>),
    /// Nullable bytes.
    OptBytes(Option<Vec<u8>>),
    /// Text.
    Text(String),
    /// Nullable text.
    OptText(Option<String>),
    /// A 32-bit integer.
    I32(i32),
    /// A nullable 32-bit integer.
    OptI32(Option<i32>),
    /// A 64-bit integer.
    I64(i64),
    /// A nullable 64-bit integer.
    OptI64(Option<i64>),
    /// A boolean.
    Bool(bool),
    /// A JSON document.
    Json(serde_json::Value),
}

/// How a backend writes parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholders {
    /// `$1` (PostgreSQL): the template as it is.
    Dollar,
    /// `?1` (SQLite): numbered, reusable.
    NumberedQuestion,
    /// `?` (MySQL): positional, so a parameter used twice is bound twice.
    Question,
}

/// What differs between the SQL of the backends.
#[derive(Debug, Clone, Copy)]
pub struct Dialect {
    /// The backend's name (`sqlite`, `postgres`, `mysql`), the `backend`
    /// of the store spans (see `mfa_core::observability`).
    pub name: &'static str,
    /// How parameters are written.
    pub placeholders: Placeholders,
    /// `UPDATE … RETURNING` is available (PostgreSQL, SQLite ≥ 3.35).
    pub returning: bool,
    /// Row-lock suffix of a `SELECT` inside a transaction (empty on SQLite,
    /// whose `BEGIN IMMEDIATE` already holds the database write lock).
    pub for_update: &'static str,
    /// Null-safe equality operator.
    pub null_safe_eq: &'static str,
    /// Several writes can go as one statement of data-modifying `WITH`
    /// clauses (PostgreSQL); elsewhere a unit's deferred writes go one by
    /// one.
    pub batch_writes: bool,
    /// `DELETE … LIMIT n` is available (MySQL); otherwise batches go through
    /// a sub-select of ids.
    pub delete_limit: bool,
    /// MySQL's upsert and insert-ignore forms instead of `ON CONFLICT`.
    pub mysql: bool,
    /// The migrations of this backend, in order.
    pub migrations: &'static [Migration],
    /// Column type of `schema_migrations.applied_at`.
    pub applied_at: &'static str,
    /// `applied_at` is written by the store (SQLite, whose column default
    /// is 0) rather than defaulted by the database.
    pub records_applied_at: bool,
    /// How concurrent migrators of one prefix are kept apart.
    pub migration_lock: MigrationLock,
    /// The audit log is partitioned by month (PostgreSQL, migration 7).
    pub audit_partitions: bool,
}

impl Dialect {
    /// Row-lock suffix of a `SELECT` with outer joins that must lock the
    /// rows of table `alias`: PostgreSQL locks only those (it refuses to
    /// lock the nullable side of an outer join), MySQL every row it reads,
    /// SQLite nothing (see [`Dialect::for_update`]).
    #[must_use]
    pub fn for_update_of(&self, alias: &str) -> String {
        match self.placeholders {
            Placeholders::Dollar => format!("{} OF {alias}", self.for_update),
            _ => self.for_update.to_owned(),
        }
    }

    /// SQLite ≥ 3.35.
    pub const SQLITE: Dialect = Dialect {
        name: "sqlite",
        placeholders: Placeholders::NumberedQuestion,
        returning: true,
        for_update: "",
        null_safe_eq: "IS",
        batch_writes: false,
        delete_limit: false,
        mysql: false,
        migrations: migrate::SQLITE,
        applied_at: "INTEGER NOT NULL DEFAULT 0",
        records_applied_at: true,
        // `BEGIN IMMEDIATE` already holds the database write lock.
        migration_lock: MigrationLock::None,
        audit_partitions: false,
    };

    /// PostgreSQL.
    pub const POSTGRES: Dialect = Dialect {
        name: "postgres",
        placeholders: Placeholders::Dollar,
        returning: true,
        for_update: " FOR UPDATE",
        null_safe_eq: "IS NOT DISTINCT FROM",
        batch_writes: true,
        delete_limit: false,
        mysql: false,
        migrations: migrate::POSTGRES,
        applied_at: "TIMESTAMPTZ NOT NULL DEFAULT now()",
        records_applied_at: false,
        // Concurrent `CREATE TABLE IF NOT EXISTS` can still collide on the
        // type catalog; a transaction-scoped advisory lock keyed by the
        // prefix serialises migrators of one prefix.
        migration_lock: MigrationLock::Transaction("SELECT pg_advisory_xact_lock(hashtext($1))"),
        audit_partitions: true,
    };

    /// MySQL 8 / MariaDB (InnoDB). The rate limiter's one-statement hit
    /// uses MariaDB's `INSERT … RETURNING` and `JSON_TABLE`: MariaDB ≥ 10.6.
    pub const MYSQL: Dialect = Dialect {
        name: "mysql",
        placeholders: Placeholders::Question,
        returning: false,
        for_update: " FOR UPDATE",
        null_safe_eq: "<=>",
        batch_writes: false,
        delete_limit: true,
        mysql: true,
        migrations: migrate::MYSQL,
        applied_at: "DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)",
        records_applied_at: false,
        // DDL commits implicitly there, so a transaction cannot hold the
        // lock: a named session lock does, released at the end.
        migration_lock: MigrationLock::Session {
            acquire: "SELECT GET_LOCK($1, 60) AS v",
            release: "SELECT RELEASE_LOCK($1) AS v",
        },
        audit_partitions: false,
    };

    /// Expands `{p}` to `prefix` and rewrites `$n` placeholders. For
    /// [`Placeholders::Question`] also returns, per `?`, the index of the
    /// argument it binds.
    pub fn prepare(&self, template: &str, prefix: &str) -> (String, Option<Vec<usize>>) {
        let text = template.replace("{p}", prefix);
        if self.placeholders == Placeholders::Dollar {
            return (text, None);
        }
        let mut out = String::with_capacity(text.len());
        let mut order = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
                let mut n = 0usize;
                while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                    n = n * 10 + d as usize;
                    chars.next();
                }
                match self.placeholders {
                    Placeholders::NumberedQuestion => {
                        out.push('?');
                        out.push_str(&n.to_string());
                    }
                    _ => {
                        out.push('?');
                        order.push(n.saturating_sub(1));
                    }
                }
            } else {
                out.push(c);
            }
        }
        let order = (self.placeholders == Placeholders::Question).then_some(order);
        (out, order)
    }

    /// A statement deleting at most `batch` rows of `table` (with an `id`
    /// column) matching `condition`.
    pub fn batch_delete(&self, table: &str, condition: &str, batch: u32) -> String {
        if self.delete_limit {
            format!("DELETE FROM {{p}}{table} WHERE {condition} LIMIT {batch}")
        } else {
            format!(
                "DELETE FROM {{p}}{table} WHERE id IN \
                 (SELECT id FROM {{p}}{table} WHERE {condition} LIMIT {batch})"
            )
        }
    }
}

/// Opens a PostgreSQL transaction whose commit does not wait for the WAL
/// flush (one simple-query round trip): the `BEGIN` of a unit of
/// [`Durability::Carried`](mfa_core::store::Durability::Carried).
pub const CARRIED_BEGIN_POSTGRES: &str = "BEGIN; SET LOCAL synchronous_commit TO off";

/// Rows a purge removes per statement, so a purge never holds long locks.
pub const PURGE_BATCH: u32 = 500;

/// The highest `$n` in a template (0 if none). Numbered placeholders bind
/// exactly this many values: PostgreSQL and SQLite refuse surplus ones.
pub fn highest_placeholder(template: &str) -> usize {
    let mut highest = 0;
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            let mut n = 0usize;
            while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                n = n * 10 + d as usize;
                chars.next();
            }
            highest = highest.max(n);
        }
    }
    highest
}

/// Several statements written with `$n` placeholders as one statement of
/// data-modifying `WITH` clauses (PostgreSQL), each statement's
/// placeholders shifted past the ones before it. Only plain `INSERT`,
/// `UPDATE` and `DELETE` statements that touch distinct rows belong in one
/// batch: its parts all see the database as it was before the statement
/// (PostgreSQL, "Data-Modifying Statements in WITH").
#[must_use]
pub fn batch_statement(statements: Vec<crate::driver::Statement>) -> crate::driver::Statement {
    let mut sql = String::from("WITH ");
    let mut args = Vec::new();
    for (i, statement) in statements.into_iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("w{i} AS ("));
        shift_placeholders(&statement.sql, args.len(), &mut sql);
        sql.push(')');
        args.extend(statement.args);
    }
    sql.push_str(" SELECT 1");
    crate::driver::Statement { sql, args }
}

/// Several statements rendered with numbered `?n` placeholders (SQLite)
/// as one `;`-separated text for a driver that runs them in one call
/// ([`Driver::JOINS_STATEMENTS`](crate::driver::Driver::JOINS_STATEMENTS)).
/// The placeholders become plain `?`, each bound in the order it appears
/// (an argument used twice is bound twice): sqlx hands a statement of a
/// joined text the arguments the statements before it left, in order,
/// and numbered ones past the first statement would index wrongly.
#[must_use]
pub fn joined_statement(statements: Vec<crate::driver::Statement>) -> crate::driver::Statement {
    let mut sql = String::new();
    let mut args = Vec::new();
    for statement in statements {
        if !sql.is_empty() {
            sql.push_str("; ");
        }
        let mut chars = statement.sql.chars().peekable();
        while let Some(c) = chars.next() {
            sql.push(c);
            if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
                let mut n = 0usize;
                while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                    n = n * 10 + d as usize;
                    chars.next();
                }
                args.extend(
                    n.checked_sub(1)
                        .and_then(|i| statement.args.get(i))
                        .cloned(),
                );
            }
        }
    }
    crate::driver::Statement { sql, args }
}

/// Appends `sql` to `out` with every `$n` written as `$(n + by)`.
fn shift_placeholders(sql: &str, by: usize, out: &mut String) {
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            let mut n = 0usize;
            while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                n = n * 10 + d as usize;
                chars.next();
            }
            out.push_str(&(n + by).to_string());
        }
    }
}

/// `$start, $start+1, …` for `n` parameters (for `IN` lists and multi-row
/// inserts).
pub fn params(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialect(placeholders: Placeholders) -> Dialect {
        Dialect {
            placeholders,
            ..Dialect::SQLITE
        }
    }

    #[test]
    fn placeholders_are_rewritten_per_backend() {
        let t = "UPDATE {p}x SET a = $2 WHERE id = $1 AND b < $2";
        let (pg, order) = dialect(Placeholders::Dollar).prepare(t, "mfa_");
        assert_eq!(pg, "UPDATE mfa_x SET a = $2 WHERE id = $1 AND b < $2");
        assert_eq!(order, None);
        let (lite, _) = dialect(Placeholders::NumberedQuestion).prepare(t, "mfa_");
        assert_eq!(lite, "UPDATE mfa_x SET a = ?2 WHERE id = ?1 AND b < ?2");
        let (my, order) = dialect(Placeholders::Question).prepare(t, "mfa_");
        assert_eq!(my, "UPDATE mfa_x SET a = ? WHERE id = ? AND b < ?");
        assert_eq!(order, Some(vec![1, 0, 1]));
    }

    #[test]
    fn highest_placeholder_counts_numbered_parameters() {
        assert_eq!(highest_placeholder("a = $1 AND b <> $4 OR c = $2"), 4);
        assert_eq!(highest_placeholder("SELECT 1"), 0);
    }

    #[test]
    fn a_batch_shifts_each_statements_placeholders_past_the_ones_before() {
        use crate::driver::Statement;
        let batch = batch_statement(vec![
            Statement {
                sql: "UPDATE t SET a = $2 WHERE id = $1".into(),
                args: vec![Arg::I64(1), Arg::I64(2)],
            },
            Statement {
                sql: "INSERT INTO u (x, y) VALUES ($1, $2)".into(),
                args: vec![Arg::I64(3), Arg::I64(4)],
            },
        ]);
        assert_eq!(
            batch.sql,
            "WITH w0 AS (UPDATE t SET a = $2 WHERE id = $1), \
             w1 AS (INSERT INTO u (x, y) VALUES ($3, $4)) SELECT 1"
        );
        assert_eq!(batch.args.len(), 4);
    }

    #[test]
    fn joined_statements_bind_plain_placeholders_in_order_of_appearance() {
        use crate::driver::Statement;
        let joined = joined_statement(vec![
            Statement {
                sql: "UPDATE t SET a = ?2, b = ?2 WHERE id = ?1".into(),
                args: vec![Arg::I64(1), Arg::I64(2)],
            },
            Statement {
                sql: "INSERT INTO u (x, y) VALUES (?1, ?12)".into(),
                args: (3..15).map(Arg::I64).collect(),
            },
        ]);
        assert_eq!(
            joined.sql,
            "UPDATE t SET a = ?, b = ? WHERE id = ?; INSERT INTO u (x, y) VALUES (?, ?)"
        );
        let bound: Vec<i64> = joined
            .args
            .iter()
            .map(|a| match a {
                Arg::I64(v) => *v,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(bound, vec![2, 2, 1, 3, 14]);
    }

    #[test]
    fn params_lists_consecutive_placeholders() {
        assert_eq!(params(3, 3), "$3, $4, $5");
    }
}

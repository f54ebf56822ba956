//! Embedded migrations.
//!
//! `sqlx::migrate!` cannot template table names, so each backend embeds its
//! own ordered SQL files (`include_str!`) written with a `{p}` placeholder
//! for the table prefix, and records applied versions in
//! `<prefix>schema_migrations`.

/// One embedded migration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
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
    pub(crate) fn statements(&self, prefix: &str) -> Vec<String> {
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

/// `CREATE TABLE IF NOT EXISTS <prefix>schema_migrations`, with the
/// backend's type for `applied_at`.
pub(crate) fn tracking_table(prefix: &str, applied_at: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {prefix}schema_migrations (\
         version BIGINT NOT NULL PRIMARY KEY, \
         name VARCHAR(100) NOT NULL, \
         applied_at {applied_at})"
    )
}

/// `SELECT version FROM <prefix>schema_migrations`.
pub(crate) fn applied_sql(prefix: &str) -> String {
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

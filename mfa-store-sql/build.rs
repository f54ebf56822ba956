//! With feature `testing`, turns the test database URLs into cfgs, so the
//! PostgreSQL and MySQL/MariaDB suites of the SQL store crates
//! ([`sql_store_tests!`](mfa_store_sql::sql_store_tests)) are compiled only
//! when their database is configured, and say "skipped" otherwise.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let testing = std::env::var_os("CARGO_FEATURE_TESTING").is_some();
    for (var, cfg) in [
        ("MFA_TEST_POSTGRES_URL", "mfa_test_postgres"),
        ("MFA_TEST_MYSQL_URL", "mfa_test_mysql"),
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if testing {
            println!("cargo::rerun-if-env-changed={var}");
            if std::env::var(var).is_ok_and(|url| !url.is_empty()) {
                println!("cargo::rustc-cfg={cfg}");
            }
        }
    }
}

//! Turns the test database URLs into cfgs, so the database test suites are
//! compiled only when their database is configured (and say "skipped"
//! otherwise).

fn main() {
    for (var, cfg) in [
        ("MFA_TEST_POSTGRES_URL", "mfa_test_postgres"),
        ("MFA_TEST_MYSQL_URL", "mfa_test_mysql"),
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        println!("cargo::rerun-if-env-changed={var}");
        if std::env::var(var).is_ok_and(|url| !url.is_empty()) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}

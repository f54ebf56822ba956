//! `load`: starts `mfa-server`, signs up a pool of users with TOTP, and
//! runs full sign-in flows at each concurrency level; prints a Markdown
//! table and optionally writes JSON. See the `mfa_load` crate docs.
#![forbid(unsafe_code)]

use mfa_load::load::{LoadOptions, run};
use mfa_load::report::markdown;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let options = match LoadOptions::from_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("load: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match run(&options).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("load: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "\n## mfa-server load: {} backend, {} CPUs, {} pool users, {:.0} s per level{}\n",
        report.backend,
        report.cpus,
        report.pool_users,
        report.duration_per_level_s,
        report
            .seed
            .as_ref()
            .map(|s| format!(
                ", {} users in the tables (seeded in {:.1} s)",
                s.users_total, s.seconds
            ))
            .unwrap_or_default()
    );
    println!("{}", markdown(&report.levels));
    if let Some(path) = &options.out {
        let written = serde_json::to_vec_pretty(&report)
            .map_err(std::io::Error::other)
            .and_then(|json| std::fs::write(path, json));
        match written {
            Ok(()) => eprintln!("wrote {}", path.display()),
            Err(e) => {
                eprintln!("load: {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

//! `faults`: load on PostgreSQL while PostgreSQL restarts, then checks that
//! no session, audit event or refresh-token chain was lost or forked, that
//! every step left all of its rows or none, and that the service recovered
//! by itself. Exits non-zero when a check fails.
//! See the `mfa_load` crate docs.
#![forbid(unsafe_code)]

use mfa_load::faults::{FaultOptions, run};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let options = match FaultOptions::from_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("faults: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match run(&options).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("faults: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("\n## mfa-server under a PostgreSQL restart\n");
    println!("{}", report.markdown());
    println!("Around the restart (s since the start of the load):\n");
    println!("{}", report.timeline_markdown());
    if let Some(path) = &options.out {
        let written = serde_json::to_vec_pretty(&report)
            .map_err(std::io::Error::other)
            .and_then(|json| std::fs::write(path, json));
        if let Err(e) = written {
            eprintln!("faults: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        eprintln!("wrote {}", path.display());
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

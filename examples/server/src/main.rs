//! `mfa-server`: the example MFA service. Configuration comes from the
//! environment; see the crate README for the variables.
//!
//! `mfa-server keys` prints fresh production keys instead of serving.
#![forbid(unsafe_code)]

use mfa_core::crypto::ExposeSecret;
use std::io::Write;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

const USAGE: &str = "\
mfa-server: the example MFA service (configuration from the environment; see the README)

Usage:
  mfa-server          serve (MFA_LISTEN, default 127.0.0.1:8080)
  mfa-server keys     print fresh keys for a new deployment as environment lines
                      (MFA_AEAD_KEYS, MFA_AEAD_CURRENT_KEY, MFA_ROOT_SECRET, MFA_JWT_KID,
                      MFA_JWT_PRIVATE_KEY) to stdout, and exit; keep them in a secret store
  mfa-server --help   print this help
";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => serve().await,
        ["keys"] => print_keys(),
        ["-h" | "--help" | "help"] | ["keys", "-h" | "--help"] => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprint!("mfa-server: unknown arguments {args:?}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// `mfa-server keys`: fresh keys on stdout, nothing else there.
fn print_keys() -> ExitCode {
    let keys = match mfa_server::keys::fresh_env() {
        Ok(keys) => keys,
        Err(e) => {
            eprintln!("mfa-server keys: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    match out
        .write_all(keys.expose_secret().as_bytes())
        .and_then(|()| out.flush())
    {
        Ok(()) => {
            eprintln!(
                "mfa-server keys: fresh keys printed; keep them in a secret store, never in version control"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mfa-server keys: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> ExitCode {
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info")),
        )
        .init();
    let config = match mfa_server::config::Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            tracing::error!(error = %e, "invalid configuration");
            return ExitCode::FAILURE;
        }
    };
    match mfa_server::run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "the service stopped with an error");
            ExitCode::FAILURE
        }
    }
}

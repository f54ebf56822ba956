//! `mfa-server`: the example MFA service. Configuration comes from the
//! environment; see the crate README for the variables.
//!
//! `mfa-server keys` prints fresh production keys instead of serving.
#![forbid(unsafe_code)]

use mfa_core::crypto::ExposeSecret;
use std::io::Write;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

const USAGE: &str = "\
mfa-server: the example MFA service (configuration from the environment; see the README)

Usage:
  mfa-server          serve (MFA_LISTEN, default 127.0.0.1:8080)
  mfa-server keys     print fresh keys for a new deployment as environment lines
                      (MFA_AEAD_KEYS, MFA_AEAD_CURRENT_KEY, MFA_ROOT_SECRET, MFA_JWT_KID,
                      MFA_JWT_PRIVATE_KEY) to stdout, and exit; keep them in a secret store
  mfa-server keys rotate [--batch <n>] [--after <factor id>]
                      reseal every factor secret (TOTP seeds, passkey and push device records,
                      removed factors too) under MFA_AEAD_CURRENT_KEY, in batches of <n>
                      (default 500, at most 1000), printing the totals after each batch; resume
                      an interrupted run with --after the last `next` printed; exit status 0
                      when every secret is under the current key, 1 when some could not be
                      moved (listed), 2 when it could not run
  mfa-server keys retire <key id>
                      after a rotation: check that no factor secret is sealed under that key,
                      then delete its key check, so instances whose MFA_AEAD_KEYS no longer
                      hold it start; remove it from MFA_AEAD_KEYS everywhere right after
  mfa-server service-key <name> <scope[+scope]>
                      make a service key for the admin API (scope admin) or the gateway sign-in
                      (scope gateway): prints the key, to give to the calling service once, and
                      the MFA_SERVICE_KEYS entry (its digest, never the key) to configure
  mfa-server audit verify [--json]
                      verify the audit log the configured store holds (every chain link,
                      every signed checkpoint, events written around the engine) with the
                      configured keys; prints the report (as JSON with --json); exit status
                      0 when intact, 1 when something was tampered with, 2 when it could not run
  mfa-server audit verify --archive <file> [--json]
                      verify an archive file written by `audit archive` instead (same report)
  mfa-server audit archive --before <RFC 3339 time> --out <file>
                      write every audit event before that time to <file> (gzip JSON Lines, which
                      verifies on its own), record the cut in the log, then remove those events;
                      refuses to overwrite <file> and to archive events that do not verify
  mfa-server --help   print this help
";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => serve().await,
        ["keys"] => print_keys(),
        ["keys", "rotate", ref options @ ..] => rotate_keys(options).await,
        ["keys", "retire", key_id] => retire_key(key_id).await,
        ["service-key", name, scopes] => print_service_key(name, scopes),
        ["audit", "verify"] => verify_audit(None, false).await,
        ["audit", "verify", "--json"] => verify_audit(None, true).await,
        ["audit", "verify", "--archive", file] => verify_audit(Some(file), false).await,
        ["audit", "verify", "--archive", file, "--json"]
        | ["audit", "verify", "--json", "--archive", file] => verify_audit(Some(file), true).await,
        ["audit", "archive", "--before", before, "--out", file]
        | ["audit", "archive", "--out", file, "--before", before] => {
            archive_audit(before, file).await
        }
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

/// `mfa-server service-key <name> <scopes>`: a new key and its entry.
fn print_service_key(name: &str, scopes: &str) -> ExitCode {
    let mut parsed = Vec::new();
    for scope in scopes.split('+') {
        match mfa_axum::Scope::ALL
            .into_iter()
            .find(|s| s.as_str() == scope)
        {
            Some(s) => parsed.push(s),
            None => {
                eprintln!("mfa-server service-key: unknown scope `{scope}` (admin, gateway)");
                return ExitCode::from(2);
            }
        }
    }
    match mfa_axum::ServiceKey::generate(name, &parsed) {
        Ok((secret, key)) => {
            println!("key: {secret}");
            println!("MFA_SERVICE_KEYS entry: {key}");
            eprintln!(
                "mfa-server service-key: give the key to the calling service (it is not shown again); \
                 add the entry to MFA_SERVICE_KEYS (entries separated by commas)"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mfa-server service-key: {e}");
            ExitCode::from(2)
        }
    }
}

/// `mfa-server keys rotate`: the totals after each batch on stdout.
async fn rotate_keys(options: &[&str]) -> ExitCode {
    let mut batch = 500u32;
    let mut after = None;
    let mut rest = options;
    while let [name, value, tail @ ..] = rest {
        match *name {
            "--batch" => match value.parse() {
                Ok(n) => batch = n,
                Err(_) => {
                    eprintln!("mfa-server keys rotate: --batch {value:?} is not a number");
                    return ExitCode::from(2);
                }
            },
            "--after" => match value.parse::<mfa_core::model::FactorId>() {
                Ok(id) => after = Some(id),
                Err(_) => {
                    eprintln!("mfa-server keys rotate: --after {value:?} is not a factor id");
                    return ExitCode::from(2);
                }
            },
            _ => break,
        }
        rest = tail;
    }
    if !rest.is_empty() {
        eprint!("mfa-server keys rotate: unknown arguments {rest:?}\n\n{USAGE}");
        return ExitCode::from(2);
    }
    let mut last = after;
    let report = mfa_server::reseal_secrets(after, batch, |p| {
        last = p.next;
        println!("{}", mfa_server::reseal_line(p));
    })
    .await;
    match report {
        Ok(report) if report.all_current() => {
            println!("done: every factor secret is under the current key");
            ExitCode::SUCCESS
        }
        Ok(report) => {
            for id in &report.unreadable {
                println!("unreadable (left as it is): {id}");
            }
            for id in &report.contended {
                println!("rewritten under an older key while resealing (run again): {id}");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("mfa-server keys rotate: {e}");
            if let Some(id) = last {
                eprintln!("mfa-server keys rotate: resume with --after {id}");
            }
            ExitCode::from(2)
        }
    }
}

/// `mfa-server keys retire <key id>`.
async fn retire_key(key_id: &str) -> ExitCode {
    let Ok(id) = key_id.parse::<u32>() else {
        eprintln!("mfa-server keys retire: {key_id:?} is not a key id");
        return ExitCode::from(2);
    };
    match mfa_server::retire_key(id).await {
        Ok(checked) => {
            println!(
                "key {id} retired: none of {checked} sealed factor secrets is under it; \
                 remove it from MFA_AEAD_KEYS on every instance now"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mfa-server keys retire: {e}");
            ExitCode::FAILURE
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

/// `mfa-server audit verify`: the report on stdout, the verdict in the
/// exit status.
async fn verify_audit(archive: Option<&str>, json: bool) -> ExitCode {
    let report = match archive {
        None => mfa_server::verify_audit().await,
        Some(file) => mfa_server::verify_audit_archive(std::path::Path::new(file)),
    };
    let report = match report {
        Ok(report) => report,
        Err(e) => {
            eprintln!("mfa-server audit verify: {e}");
            return ExitCode::from(2);
        }
    };
    let text = if json {
        serde_json::to_string_pretty(&report).unwrap_or_default()
    } else {
        mfa_server::audit_report_text(&report)
    };
    println!("{text}");
    if report.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `mfa-server audit archive`: the summary on stdout.
async fn archive_audit(before: &str, file: &str) -> ExitCode {
    let before = match chrono::DateTime::parse_from_rfc3339(before) {
        Ok(t) => t.with_timezone(&chrono::Utc),
        Err(e) => {
            eprintln!("mfa-server audit archive: --before {before:?} is not an RFC 3339 time: {e}");
            return ExitCode::from(2);
        }
    };
    match mfa_server::archive_audit(before, std::path::Path::new(file)).await {
        Ok(summary) => {
            println!(
                "archived {} events ({} linked, {} without a link) before {} to {file} ({} bytes); \
                 they are removed from the store",
                summary.manifest.events, summary.linked, summary.unlinked, before, summary.bytes
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mfa-server audit archive: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> ExitCode {
    // `MFA_LOG_SPANS=close`: a line as each enabled span closes (the
    // request, the engine's steps, the store operations), with its fields
    // and busy/idle times; see mfa_core::observability.
    let span_events = match std::env::var("MFA_LOG_SPANS").as_deref() {
        Err(_) | Ok("" | "off") => FmtSpan::NONE,
        Ok("close") => FmtSpan::CLOSE,
        Ok(other) => {
            eprintln!("mfa-server: MFA_LOG_SPANS must be `off` or `close`, not `{other}`");
            return ExitCode::FAILURE;
        }
    };
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_span_events(span_events)
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

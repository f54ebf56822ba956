//! `load`: starts `mfa-server`, signs up a pool of users with TOTP, and
//! runs full sign-in flows at each concurrency level; prints a Markdown
//! table and optionally writes JSON. See the `mfa_load` crate docs.
#![forbid(unsafe_code)]

use mfa_load::load::{GrowthReport, LoadOptions, run};
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
    if let Some(growth) = &report.growth {
        println!("{}", growth_markdown(growth));
    }
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

/// Growth mode's figures beside the levels, as Markdown.
fn growth_markdown(growth: &GrowthReport) -> String {
    let mut out = String::from("| relation | rows | MiB | B-tree levels |\n|---|---:|---:|---:|\n");
    for r in &growth.sizes.relations {
        out.push_str(&format!(
            "| {} | {} | {:.1} | {} |\n",
            r.name,
            if r.rows < 0 {
                "–".into()
            } else {
                r.rows.to_string()
            },
            r.bytes as f64 / 1_048_576.0,
            r.tree_level.map_or("–".into(), |l| l.to_string())
        ));
    }
    if let Some(p) = &growth.audit_pages {
        out.push_str(&format!(
            "\naudit page of {} (load {:?}): first p50/p95/p99 {:.1} / {:.1} / {:.1} ms ({} requests, {} fillers on the page), \
             second {:.1} / {:.1} / {:.1} ms ({} requests, {} fillers), errors {:?}\n\n```text\n{}\n```\n\n```text\n{}\n```\n",
            p.user_id,
            p.load_average,
            p.first.p50_ms,
            p.first.p95_ms,
            p.first.p99_ms,
            p.first.count,
            p.first_page_fillers,
            p.second.p50_ms,
            p.second.p95_ms,
            p.second.p99_ms,
            p.second.count,
            p.second_page_fillers,
            p.errors,
            p.explain_first.join("\n"),
            p.explain_second.join("\n")
        ));
    }
    if let Some(a) = &growth.archive {
        out.push_str(&format!(
            "\narchive of {} ({} rows, {:.1} MiB): {:.1} s ({:.0} rows/s), ok {}, file {:.1} MiB, partition dropped {}; \
             verify --archive {:.1} s: {}; verify (store) {:.1} s: {}\n{}\n",
            a.month.map_or("?".into(), |m| m.format("%Y-%m").to_string()),
            a.partition_rows,
            a.partition_bytes as f64 / 1_048_576.0,
            a.archive_s,
            a.rows_per_s,
            a.archive_ok,
            a.file_bytes as f64 / 1_048_576.0,
            a.partition_dropped,
            a.verify_archive_s,
            a.verify_archive,
            a.verify_store_s,
            a.verify_store,
            a.archive_output
        ));
    }
    out
}

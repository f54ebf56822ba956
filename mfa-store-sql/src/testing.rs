//! Helpers shared by the test suites of the driver crates (feature
//! `testing`): isolated table prefixes, scratch SQLite files, the database
//! URLs (a missing one is a recorded skip). The cleanup of tables left by
//! earlier runs is `test-support/cleanup.rs`, included by both crates' test
//! commons (it needs sqlx, which this crate does not depend on).

pub mod counts;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
#[must_use]
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A table prefix no other call of any run returns: `<tag><run start>x<n>_`.
/// The run start lets a later run recognise and drop this run's tables; the
/// tag (one letter per crate) keeps crates whose tests run at the same time
/// apart.
#[must_use]
pub fn unique_prefix(tag: char) -> String {
    static RUN: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static N: AtomicU64 = AtomicU64::new(0);
    let run = *RUN.get_or_init(now_secs);
    format!("{tag}{run}x{}_", N.fetch_add(1, Ordering::Relaxed))
}

/// Whether a table belongs to a test prefix with `tag` of a run that
/// started more than `min_age_secs` ago.
#[must_use]
pub fn is_stale_test_table(name: &str, tag: char, min_age_secs: u64) -> bool {
    let Some(rest) = name.strip_prefix(tag) else {
        return false;
    };
    let Some((run, tail)) = rest.split_once('x') else {
        return false;
    };
    let Ok(run) = run.parse::<u64>() else {
        return false;
    };
    let counter_ok = tail
        .split_once('_')
        .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    counter_ok && run + min_age_secs < now_secs()
}

/// A fresh SQLite database file path in `dir` (created if missing); files
/// older than ten minutes, left by earlier runs, are removed once.
///
/// # Panics
/// If `dir` cannot be created.
#[must_use]
pub fn sqlite_path(dir: &Path) -> PathBuf {
    static CLEANED: std::sync::Once = std::sync::Once::new();
    CLEANED.call_once(|| {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() > 600);
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    });
    std::fs::create_dir_all(dir).expect("create the scratch directory");
    dir.join(format!("{}.db", uuid::Uuid::now_v7()))
}

/// The database URL in `var` for `test`. The suites are compiled only when
/// the variable was set at build time, so it missing now is a skip,
/// recorded by [`mfa_core::testing::skip`] (a failure under `CI=true`).
#[must_use]
pub fn database_url(var: &str, test: &str) -> Option<String> {
    mfa_core::testing::skip::required_env(var, test)
}

/// Runs `work` once per process, on its own thread and runtime (tests run
/// on many runtimes; a pool must not outlive the one it was made on).
///
/// # Panics
/// If `work` panics.
pub fn once_per_process<F, Fut>(cell: &'static std::sync::OnceLock<()>, work: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    cell.get_or_init(|| {
        std::thread::spawn(move || {
            mfa_core::testing::tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the cleanup")
                .block_on(work());
        })
        .join()
        .expect("the cleanup of earlier test tables failed");
    });
}

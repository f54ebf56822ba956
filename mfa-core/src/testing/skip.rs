//! Skipped tests are never silent.
//!
//! A test that cannot run because something it needs is missing (a database
//! URL, a browser, a tool) calls [`skip`] and returns. That
//!
//! - prints `SKIPPED <test>: <reason>` on stderr,
//! - appends `<test>\t<reason>` to the file named by [`SKIP_LOG_VAR`] (the
//!   project's test command sets it and lists every line at the end of the
//!   run), and
//! - panics instead when skips are failures: under `CI=true`, or with
//!   [`REQUIRE_ALL_VAR`] set to `1`, so a green run proves that every backend
//!   and the browser really ran.
//!
//! ```no_run
//! fn browser_test() {
//!     let Some(chromium) = std::env::var_os("MY_CHROMIUM") else {
//!         mfa_core::testing::skip::skip("browser_test", "MY_CHROMIUM is not set");
//!         return;
//!     };
//!     // … drive the browser …
//!     # let _ = chromium;
//! }
//! # browser_test();
//! ```

use std::io::Write;

/// The variable naming the file every skip is appended to.
pub const SKIP_LOG_VAR: &str = "MFA_TEST_SKIP_LOG";

/// Set to `1` (or `true`) to make every skip a failure outside CI too.
pub const REQUIRE_ALL_VAR: &str = "MFA_TEST_REQUIRE_ALL";

fn is_set(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| matches!(v.trim(), "1" | "true" | "TRUE" | "yes"))
}

/// Whether a skip fails the test: `CI=true`, or [`REQUIRE_ALL_VAR`] set.
#[must_use]
pub fn skips_are_failures() -> bool {
    is_set("CI") || is_set(REQUIRE_ALL_VAR)
}

/// Records that `test` cannot run because of `reason` (see the module docs).
///
/// # Panics
/// When [`skips_are_failures`]: the skip becomes the test's failure.
#[track_caller]
pub fn skip(test: &str, reason: &str) {
    let reason = reason.replace(['\n', '\t'], " ");
    eprintln!("SKIPPED {test}: {reason}");
    if let Some(path) = std::env::var_os(SKIP_LOG_VAR).filter(|p| !p.is_empty())
        && let Err(e) = record(std::path::Path::new(&path), test, &reason)
    {
        eprintln!("could not record the skip in {}: {e}", path.display());
    }
    assert!(
        !skips_are_failures(),
        "{test} could not run: {reason} (under CI=true or {REQUIRE_ALL_VAR}=1 a skipped test is a failure)"
    );
}

/// Appends one `test<TAB>reason` line to `log`. One short write in append
/// mode, so lines from test processes running at once do not interleave.
fn record(log: &std::path::Path, test: &str, reason: &str) -> std::io::Result<()> {
    let line = format!("{test}\t{reason}\n");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?
        .write_all(line.as_bytes())
}

/// The value of the environment variable `var`, or `None` after recording
/// that `test` was skipped because it is unset or empty.
///
/// # Panics
/// As [`skip`], when skips are failures.
#[track_caller]
pub fn required_env(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) if !value.trim().is_empty() => Some(value),
        _ => {
            skip(test, &format!("{var} is not set"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_present_variable_is_returned_without_a_skip() {
        // PATH is set in every test environment.
        assert!(required_env("PATH", "path_test").is_some());
    }

    #[test]
    fn each_skip_is_one_line_of_the_log() {
        let log = std::env::temp_dir().join(format!("mfa-skips-{}.log", uuid::Uuid::new_v4()));
        record(&log, "a_test", "no browser").unwrap();
        record(&log, "b_test", "no database").unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        std::fs::remove_file(&log).unwrap();
        assert_eq!(text, "a_test\tno browser\nb_test\tno database\n");
    }
}

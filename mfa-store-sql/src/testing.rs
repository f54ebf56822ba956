//! Helpers shared by the test suites of the driver crates (feature
//! `testing`): the suites themselves ([`sql_store_tests!`](crate::sql_store_tests)),
//! the gate of the tests of each database ([`if_database!`](crate::if_database)),
//! isolated table prefixes, scratch SQLite files, the database URLs (a
//! missing one is a recorded skip).
//!
//! What needs sqlx, which this crate does not depend on, is in
//! `mfa_store_sqlx::testing` (its feature `testing`), which both driver
//! crates' tests use: `cleanup` drops the tables left by earlier runs,
//! `schema` reads a migrated schema back for the migration tests.

pub mod counts;
pub mod tamper;

use crate::driver::Driver;
use crate::sql::Arg;
use crate::store::SqlStore;
use async_trait::async_trait;
use mfa_core::store::StoreResult;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Raw statements on a SQL store's tables, for tests: what no repository
/// writes any more (the rows of an earlier schema version, for the upgrade
/// tests). The public store types of the driver crates forward to their
/// [`SqlStore`] (see [`forward_repositories!`](crate::forward_repositories)).
#[async_trait]
pub trait RawStatements: Send + Sync {
    /// Runs `template` (written with `{p}` and `$n`, see
    /// [`Statement::new`](crate::driver::Statement::new)) with `args` on the
    /// pool; returns the number of rows it touched.
    ///
    /// # Errors
    /// The database's.
    async fn execute_raw(&self, template: &str, args: Vec<Arg>) -> StoreResult<u64>;
}

#[async_trait]
impl<D: Driver> RawStatements for SqlStore<D> {
    async fn execute_raw(&self, template: &str, args: Vec<Arg>) -> StoreResult<u64> {
        self.affected(template, args).await
    }
}

/// The test helpers of a public store type `$store`, forwarded to its field
/// `$inner: SqlStore<_>`: [`RawStatements`] and
/// [`AuditTamper`](tamper::AuditTamper). Called by
/// [`forward_repositories!`](crate::forward_repositories) when this crate
/// is built with feature `testing`. Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __forward_testing {
    ($store:ty => $inner:ident) => {
        #[$crate::__private::async_trait]
        impl $crate::testing::RawStatements for $store {
            async fn execute_raw(
                &self,
                template: &str,
                args: ::std::vec::Vec<$crate::sql::Arg>,
            ) -> $crate::__private::StoreResult<u64> {
                $crate::testing::RawStatements::execute_raw(&self.$inner, template, args).await
            }
        }
        #[$crate::__private::async_trait]
        impl $crate::testing::tamper::AuditTamper for $store {
            async fn tamper_set_outcome(&self, id: $crate::__private::AuditEventId, outcome: &str) {
                $crate::testing::tamper::AuditTamper::tamper_set_outcome(&self.$inner, id, outcome)
                    .await
            }
            async fn tamper_delete(&self, ids: &[$crate::__private::AuditEventId]) {
                $crate::testing::tamper::AuditTamper::tamper_delete(&self.$inner, ids).await
            }
            async fn tamper_swap_positions(
                &self,
                a: $crate::__private::AuditEventId,
                b: $crate::__private::AuditEventId,
            ) {
                $crate::testing::tamper::AuditTamper::tamper_swap_positions(&self.$inner, a, b)
                    .await
            }
        }
    };
}

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
/// older than ten minutes, left by earlier runs, are removed once per
/// directory and process.
///
/// # Panics
/// If `dir` cannot be created.
#[must_use]
pub fn sqlite_path(dir: &Path) -> PathBuf {
    static CLEANED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let mut cleaned = CLEANED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !cleaned.iter().any(|d| d == dir) {
        cleaned.push(dir.to_owned());
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
    }
    drop(cleaned);
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

/// Expands the items after `$db,` (`sqlite`, `postgres` or `mysql`) when
/// the tests of that database can run: SQLite always; PostgreSQL and
/// MySQL/MariaDB when `MFA_TEST_POSTGRES_URL` / `MFA_TEST_MYSQL_URL` was set
/// when these helpers were built. Otherwise it expands to one test that
/// records the skip ([`mfa_core::testing::skip`]), so no suite is left out
/// silently. Use it once per database in a test file.
///
/// ```ignore
/// mfa_store_sql::if_database! { postgres,
///     mod on_postgres { /* tests */ }
/// }
/// ```
#[macro_export]
macro_rules! if_database {
    (sqlite, $($item:item)*) => {
        $($item)*
    };
    (postgres, $($item:item)*) => {
        $crate::__if_postgres! { $($item)* }
    };
    (mysql, $($item:item)*) => {
        $crate::__if_mysql! { $($item)* }
    };
}

/// The items of a skipped database: one test recording the skip.
#[doc(hidden)]
#[macro_export]
macro_rules! __skipped_database {
    ($test:ident, $var:literal, $what:literal) => {
        #[test]
        fn $test() {
            ::mfa_core::testing::skip::skip(
                concat!(module_path!(), "::", stringify!($test)),
                concat!(
                    $var,
                    " was not set when the tests were built: ",
                    $what,
                    " tests not compiled"
                ),
            );
        }
    };
}

/// [`if_database!`] for PostgreSQL. Not public API.
#[cfg(mfa_test_postgres)]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_postgres {
    ($($item:item)*) => { $($item)* };
}

/// [`if_database!`] for PostgreSQL. Not public API.
#[cfg(not(mfa_test_postgres))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_postgres {
    ($($item:item)*) => {
        $crate::__skipped_database!(
            postgres_tests_are_skipped_without_their_url,
            "MFA_TEST_POSTGRES_URL",
            "PostgreSQL"
        );
    };
}

/// [`if_database!`] for MySQL/MariaDB. Not public API.
#[cfg(mfa_test_mysql)]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_mysql {
    ($($item:item)*) => { $($item)* };
}

/// [`if_database!`] for MySQL/MariaDB. Not public API.
#[cfg(not(mfa_test_mysql))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_mysql {
    ($($item:item)*) => {
        $crate::__skipped_database!(
            mysql_tests_are_skipped_without_their_url,
            "MFA_TEST_MYSQL_URL",
            "MySQL/MariaDB"
        );
    };
}

/// The suites of a SQL store on one database, for the test files of the
/// driver crates: `$db` is `sqlite`, `postgres` or `mysql` (gated by
/// [`if_database!`]), `$store` the store type and `$factory` an absolute
/// path to an `async fn() -> $store` returning a fresh, migrated store.
/// Then, in any order:
///
/// - `conformance`: `mfa_core::store_conformance_tests!`, in `mod conformance`;
/// - `units`: `mfa_core::unit_of_work_conformance_tests!`, in `mod units`;
/// - `flow`: `mfa_core::flow_tests!`, in `mod flow`;
/// - `audit_chains`: `mfa_core::audit_chain_tests!` (the tamper suite of the
///   audit chains, through [`tamper`]), in `mod audit_chains_suite`;
/// - `migrations(check)`: the test that migrating is idempotent. On
///   PostgreSQL and MySQL a fresh store is migrated again and
///   `check(prefix: &str)` reads its schema back; on SQLite a new database
///   file is migrated twice, a second prefix beside the first, and
///   `check(url: &str)` reads it back. The checks are in
///   `mfa_store_sqlx::testing::schema`.
///
/// ```ignore
/// mod common;
///
/// mfa_store_sql::sql_store_tests!(postgres: mfa_store_sqlx::PgStore = crate::common::postgres_store;
///     conformance, units, migrations(crate::common::schema::postgres_migrated));
/// ```
#[macro_export]
macro_rules! sql_store_tests {
    ($db:ident: $store:ty = $factory:path; $($suite:ident $(($check:path))?),+ $(,)?) => {
        $crate::if_database! { $db,
            $($crate::__sql_store_suite!($suite $db, $store, $factory $(, $check)?);)+
        }
    };
}

/// One suite of [`sql_store_tests!`]. Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __sql_store_suite {
    (conformance $db:ident, $store:ty, $factory:path) => {
        mod conformance {
            ::mfa_core::store_conformance_tests!($factory);
        }
    };
    (units $db:ident, $store:ty, $factory:path) => {
        mod units {
            ::mfa_core::unit_of_work_conformance_tests!($factory);
        }
    };
    (flow $db:ident, $store:ty, $factory:path) => {
        mod flow {
            ::mfa_core::flow_tests!($factory);
        }
    };
    (audit_chains $db:ident, $store:ty, $factory:path) => {
        mod audit_chains_suite {
            ::mfa_core::audit_chain_tests!($factory);
        }
    };
    (counts $db:ident, $store:ty, $factory:path) => {
        mod counts {
            $crate::statement_count_tests!($factory);
        }
    };
    (migrations sqlite, $store:ty, $factory:path, $check:path) => {
        #[::mfa_core::testing::tokio::test(crate = "::mfa_core::testing::tokio")]
        async fn migrations_apply_to_an_empty_database_and_are_idempotent() {
            let dir = ::std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sqlite-migrations");
            let url = format!("sqlite://{}", $crate::testing::sqlite_path(&dir).display());
            let store = <$store>::connect(&url, 1).await.expect("open");
            store.migrate().await.expect("first migrate");
            store.migrate().await.expect("second migrate");
            let custom = <$store>::with_prefix(store.pool().clone(), "host_mfa_").expect("prefix");
            custom
                .migrate()
                .await
                .expect("a second prefix beside the first");
            $check(&url).await;
        }
        $crate::__sql_store_suite!(upgrade $store, $factory);
    };
    (migrations $db:ident, $store:ty, $factory:path, $check:path) => {
        #[::mfa_core::testing::tokio::test(crate = "::mfa_core::testing::tokio")]
        async fn migrations_apply_to_an_empty_database_and_are_idempotent() {
            let store: $store = $factory().await; // migrated once
            store.migrate().await.expect("second migrate");
            $check(store.prefix().as_str()).await;
        }
        $crate::__sql_store_suite!(upgrade $store, $factory);
    };
    (upgrade $store:ty, $factory:path) => {
        #[::mfa_core::testing::tokio::test(crate = "::mfa_core::testing::tokio")]
        async fn upgrading_from_version_2_keeps_every_row() {
            let base: $store = $factory().await;
            let prefix = format!("{}u", base.prefix().as_str());
            let store = <$store>::with_prefix(base.pool().clone(), &prefix).expect("prefix");
            store.migrate_to(2).await.expect("migrate to version 2");
            let rows = $crate::testing::rows_before_upgrade(&store).await;
            store.migrate().await.expect("upgrade to the latest version");
            $crate::testing::rows_after_upgrade(&store, &rows).await;
        }

        #[::mfa_core::testing::tokio::test(crate = "::mfa_core::testing::tokio")]
        async fn upgrading_from_version_3_keeps_every_row_and_adds_key_checks() {
            let base: $store = $factory().await;
            let prefix = format!("{}v", base.prefix().as_str());
            let store = <$store>::with_prefix(base.pool().clone(), &prefix).expect("prefix");
            store.migrate_to(3).await.expect("migrate to version 3");
            let rows = $crate::testing::rows_before_upgrade(&store).await;
            store.migrate().await.expect("upgrade to the latest version");
            $crate::testing::rows_after_upgrade(&store, &rows).await;
            $crate::testing::key_checks_after_upgrade(&store).await;
        }

        #[::mfa_core::testing::tokio::test(crate = "::mfa_core::testing::tokio")]
        async fn upgrading_from_version_4_keeps_every_row_and_takes_push_approval() {
            let base: $store = $factory().await;
            let prefix = format!("{}w", base.prefix().as_str());
            let store = <$store>::with_prefix(base.pool().clone(), &prefix).expect("prefix");
            store.migrate_to(4).await.expect("migrate to version 4");
            let rows = $crate::testing::rows_before_push_upgrade(&store).await;
            store.migrate().await.expect("upgrade to the latest version");
            $crate::testing::rows_after_push_upgrade(&store, &rows).await;
        }

        #[::mfa_core::testing::tokio::test(crate = "::mfa_core::testing::tokio")]
        async fn upgrading_from_version_5_keeps_every_row_and_takes_audit_chains() {
            let base: $store = $factory().await;
            let prefix = format!("{}x", base.prefix().as_str());
            let store = <$store>::with_prefix(base.pool().clone(), &prefix).expect("prefix");
            store.migrate_to(5).await.expect("migrate to version 5");
            let rows = $crate::testing::rows_before_chain_upgrade(&store).await;
            store.migrate().await.expect("upgrade to the latest version");
            $crate::testing::rows_after_chain_upgrade(&store, &rows).await;
        }
    };
}

/// After an upgrade to version 4: a store written before key checks
/// existed has none (so the first start records its key ring), and takes
/// them like any other rows.
///
/// # Panics
/// When a check is found before one was written, or a write fails.
pub async fn key_checks_after_upgrade<S: mfa_core::store::Store>(store: &S) {
    use mfa_core::model::KeyCheckSubject;
    use mfa_core::testing::fixtures;
    assert_eq!(
        store.key_checks().await.expect("key_checks"),
        [],
        "an upgraded store has no key checks yet"
    );
    let check = fixtures::key_check(KeyCheckSubject::RootSecret(0), fixtures::t0());
    assert!(store.add_key_check(&check).await.expect("add_key_check"));
    assert_eq!(store.key_checks().await.expect("key_checks"), [check]);
}

/// Declares `pub async fn $name() -> $store`, a factory of the test suites:
/// `$store::connect` on a fresh SQLite database file (see [`sqlite_path`])
/// in the directory `$dir` of the test crate's `CARGO_TARGET_TMPDIR`, with
/// `$connections` connections, migrated.
///
/// ```ignore
/// mfa_store_sql::sqlite_file_store!(sqlite_store: mfa_store_diesel::SqliteStore, "sqlite-tests", 4);
/// ```
#[macro_export]
macro_rules! sqlite_file_store {
    ($name:ident: $store:ty, $dir:literal, $connections:expr) => {
        /// A store on a fresh SQLite database file (WAL, several
        /// connections), migrated.
        pub async fn $name() -> $store {
            let dir = ::std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join($dir);
            let url = format!("sqlite://{}", $crate::testing::sqlite_path(&dir).display());
            let store = <$store>::connect(&url, $connections)
                .await
                .expect("open the SQLite file");
            store.migrate().await.expect("migrate");
            store
        }
    };
}

/// What [`rows_before_upgrade`] wrote.
#[derive(Debug)]
pub struct UpgradeRows {
    user: mfa_core::model::User,
    totp: mfa_core::model::Factor,
    email: mfa_core::model::Factor,
    challenge: mfa_core::model::OtpChallenge,
    settings: mfa_core::model::MfaSettings,
}

/// Writes a user with a TOTP and an email factor, an open challenge on the
/// email factor (a row whose foreign key names the factors table), settings
/// and an audit event, on a schema at an earlier version.
///
/// # Panics
/// When the store fails.
pub async fn rows_before_upgrade<S: mfa_core::store::Store>(store: &S) -> UpgradeRows {
    use mfa_core::model::{ChallengePurpose, FactorKind, MfaSettings};
    use mfa_core::testing::fixtures;
    let now = fixtures::t0();
    let user = fixtures::create_user(store, now).await;
    let totp = fixtures::create_factor(store, user.id, FactorKind::Totp, now).await;
    let email = fixtures::create_factor(store, user.id, FactorKind::Email, now).await;
    let challenge = fixtures::challenge(user.id, email.id, ChallengePurpose::Login, now);
    store
        .issue_challenge(&challenge)
        .await
        .expect("issue_challenge");
    let settings = MfaSettings {
        preferred: Some(FactorKind::Totp),
        ..MfaSettings::new(user.id, now)
    };
    store.put_settings(&settings).await.expect("put_settings");
    UpgradeRows {
        user,
        totp,
        email,
        challenge,
        settings,
    }
}

/// The rows of [`rows_before_upgrade`], and `more_factors`, read back
/// unchanged: the user, the factors, the challenge whose foreign key names
/// the factors table (not cascaded away by a rebuild), the settings.
async fn assert_rows_kept<S: mfa_core::store::Store>(
    store: &S,
    rows: &UpgradeRows,
    more_factors: &[&mfa_core::model::Factor],
) {
    assert_eq!(
        store
            .get_user(rows.user.id)
            .await
            .expect("get_user")
            .as_ref(),
        Some(&rows.user)
    );
    for factor in [&rows.totp, &rows.email]
        .into_iter()
        .chain(more_factors.iter().copied())
    {
        assert_eq!(
            store
                .get_factor(factor.id)
                .await
                .expect("get_factor")
                .as_ref(),
            Some(factor),
            "the factors survive the upgrade"
        );
    }
    assert_eq!(
        store
            .get_challenge(rows.challenge.id)
            .await
            .expect("get_challenge")
            .as_ref(),
        Some(&rows.challenge),
        "the challenge on a rebuilt table's row is not cascaded away"
    );
    assert_eq!(
        store
            .get_settings(rows.user.id)
            .await
            .expect("get_settings")
            .as_ref(),
        Some(&rows.settings)
    );
}

/// After the upgrade: every row written before reads back unchanged (on
/// SQLite, the rebuilt tables lost nothing and cascaded nothing), and the
/// new version's rows can be written (a WebAuthn factor, a ceremony,
/// `webauthn` as the preferred method).
///
/// # Panics
/// When a row changed or a write fails.
pub async fn rows_after_upgrade<S: mfa_core::store::Store>(store: &S, rows: &UpgradeRows) {
    use mfa_core::model::{CeremonyPurpose, FactorKind, MfaSettings};
    use mfa_core::testing::fixtures;
    let now = fixtures::t0();
    assert_rows_kept(store, rows, &[]).await;
    let passkey = fixtures::create_factor(store, rows.user.id, FactorKind::Webauthn, now).await;
    assert_eq!(
        store
            .get_factor(passkey.id)
            .await
            .expect("get_factor")
            .as_ref(),
        Some(&passkey)
    );
    let settings = MfaSettings {
        preferred: Some(FactorKind::Webauthn),
        ..rows.settings.clone()
    };
    store.put_settings(&settings).await.expect("put_settings");
    let ceremony = fixtures::ceremony(Some(rows.user.id), CeremonyPurpose::Registration, now);
    store
        .create_ceremony(&ceremony)
        .await
        .expect("create_ceremony");
    // The new table takes its rows like any other.
    assert!(
        store
            .take_ceremony(ceremony.id, now)
            .await
            .expect("take_ceremony")
            .is_some()
    );
}

/// What [`rows_before_push_upgrade`] wrote.
#[derive(Debug)]
pub struct PushUpgradeRows {
    rows: UpgradeRows,
    passkey: mfa_core::model::Factor,
    ceremony: mfa_core::model::WebauthnCeremony,
    check: mfa_core::model::KeyCheck,
}

/// On a schema at version 4: the rows of [`rows_before_upgrade`] (with a
/// challenge whose foreign key names the factors table), a WebAuthn
/// factor, an open ceremony, `webauthn` as the preferred method and a key
/// check.
///
/// # Panics
/// When the store fails.
pub async fn rows_before_push_upgrade<S: mfa_core::store::Store>(store: &S) -> PushUpgradeRows {
    use mfa_core::model::{CeremonyPurpose, FactorKind, KeyCheckSubject, MfaSettings};
    use mfa_core::testing::fixtures;
    let now = fixtures::t0();
    let mut rows = rows_before_upgrade(store).await;
    let passkey = fixtures::create_factor(store, rows.user.id, FactorKind::Webauthn, now).await;
    let ceremony = fixtures::ceremony(Some(rows.user.id), CeremonyPurpose::Login, now);
    store
        .create_ceremony(&ceremony)
        .await
        .expect("create_ceremony");
    rows.settings = MfaSettings {
        preferred: Some(FactorKind::Webauthn),
        ..rows.settings
    };
    store
        .put_settings(&rows.settings)
        .await
        .expect("put_settings");
    let check = fixtures::key_check(KeyCheckSubject::AeadKey(fixtures::high_key_id()), now);
    assert!(store.add_key_check(&check).await.expect("add_key_check"));
    PushUpgradeRows {
        rows,
        passkey,
        ceremony,
        check,
    }
}

/// After the upgrade to version 5: every row written before reads back
/// unchanged (on SQLite, the rebuilt factors, challenges, settings and
/// ceremonies tables lost nothing and cascaded nothing), and push approval
/// takes its rows: a push factor, `push` as the preferred method, a push
/// enrolment ceremony, and push requests answered and completed once.
///
/// # Panics
/// When a row changed or a write fails.
pub async fn rows_after_push_upgrade<S: mfa_core::store::Store>(
    store: &S,
    before: &PushUpgradeRows,
) {
    use mfa_core::model::{
        CeremonyPurpose, FactorKind, MfaSettings, PushResolution, PushStatus, WebauthnCeremony,
    };
    use mfa_core::testing::fixtures;
    let now = fixtures::t0();
    let rows = &before.rows;
    assert_rows_kept(store, rows, &[&before.passkey]).await;
    assert_eq!(
        store.key_checks().await.expect("key_checks"),
        std::slice::from_ref(&before.check),
        "the key check survives the upgrade"
    );
    let taken = store
        .take_ceremony(before.ceremony.id, now)
        .await
        .expect("take_ceremony");
    assert_eq!(
        taken,
        Some(WebauthnCeremony {
            consumed_at: Some(now),
            ..before.ceremony.clone()
        }),
        "the open ceremony survives the upgrade"
    );

    let phone = fixtures::create_factor(store, rows.user.id, FactorKind::Push, now).await;
    assert_eq!(
        store
            .get_factor(phone.id)
            .await
            .expect("get_factor")
            .as_ref(),
        Some(&phone)
    );
    let settings = MfaSettings {
        preferred: Some(FactorKind::Push),
        ..rows.settings.clone()
    };
    store.put_settings(&settings).await.expect("put_settings");
    assert_eq!(
        store
            .get_settings(rows.user.id)
            .await
            .expect("get_settings"),
        Some(settings)
    );
    let enrolment = fixtures::ceremony(Some(rows.user.id), CeremonyPurpose::PushEnrolment, now);
    store
        .create_ceremony(&enrolment)
        .await
        .expect("create_ceremony");
    assert!(
        store
            .take_ceremony(enrolment.id, now)
            .await
            .expect("take_ceremony")
            .is_some()
    );
    let request = fixtures::create_push_request(store, rows.user.id, now).await;
    assert_eq!(
        store
            .get_push_request(request.id)
            .await
            .expect("get_push_request")
            .as_ref(),
        Some(&request)
    );
    assert_eq!(
        store
            .count_pending_push_requests(rows.user.id, now)
            .await
            .expect("count_pending_push_requests"),
        1
    );
    let approval = PushResolution {
        status: PushStatus::Approved,
        factor_id: phone.id,
        user_verified: true,
        at: now,
    };
    assert!(
        store
            .resolve_push_request(request.id, &approval)
            .await
            .expect("resolve_push_request")
    );
    assert!(
        store
            .consume_push_request(request.id, now)
            .await
            .expect("consume_push_request")
    );
    assert!(
        !store
            .consume_push_request(request.id, now)
            .await
            .expect("consume_push_request"),
        "an approval completes its ticket once"
    );
}

/// What [`rows_before_chain_upgrade`] wrote.
#[derive(Debug)]
pub struct ChainUpgradeRows {
    rows: UpgradeRows,
    /// Oldest first.
    events: Vec<mfa_core::model::AuditEvent>,
}

/// On a schema at version 5: the rows of [`rows_before_upgrade`] and two
/// audit events as version 5 wrote them (no chain columns yet, so by a raw
/// `INSERT` of that version's columns): one with every field set, one bare.
///
/// # Panics
/// When the store fails.
pub async fn rows_before_chain_upgrade<S>(store: &S) -> ChainUpgradeRows
where
    S: mfa_core::store::Store + RawStatements,
{
    use mfa_core::model::{AuditEvent, AuditKind, AuditOutcome, FactorKind};
    use mfa_core::testing::fixtures;
    let now = fixtures::t0();
    let rows = rows_before_upgrade(store).await;
    let full = AuditEvent {
        user_id: Some(rows.user.id),
        session_id: Some(mfa_core::model::SessionId::new()),
        device_id: Some(mfa_core::model::DeviceId::new()),
        factor: Some(FactorKind::Totp),
        ip: Some("192.0.2.7".into()),
        user_agent: Some("upgrade-test/1.0".into()),
        country: Some("NL".into()),
        risk_score: Some(42),
        metadata: serde_json::json!({"step": "verify", "attempt": 2}),
        ..AuditEvent::new(AuditKind::MfaVerification, AuditOutcome::Failure, now)
    };
    let bare = AuditEvent {
        user_id: Some(rows.user.id),
        ..AuditEvent::new(
            AuditKind::PasswordLogin,
            AuditOutcome::Success,
            now + chrono::TimeDelta::seconds(1),
        )
    };
    for event in [&full, &bare] {
        let args = crate::repo::audit::content_args(event).to_vec();
        let inserted = store
            .execute_raw(
                "INSERT INTO {p}audit_events (id, at, user_id, session_id, device_id, kind, \
                 outcome, factor, ip, user_agent, country, risk_score, metadata) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                args,
            )
            .await
            .expect("a version 5 audit row");
        assert_eq!(inserted, 1);
    }
    ChainUpgradeRows {
        rows,
        events: vec![full, bare],
    }
}

/// After the upgrade to version 6: every row written before reads back
/// unchanged, the audit events of version 5 without a link (and counted as
/// unlinked, not walked as chains), and a linked event is written and read
/// back whole, by the walk of the chains as by the audit query.
///
/// # Panics
/// When a row changed or a write fails.
pub async fn rows_after_chain_upgrade<S: mfa_core::store::Store>(
    store: &S,
    before: &ChainUpgradeRows,
) {
    use mfa_core::model::{AuditChainId, AuditEvent, AuditKind, AuditLink, AuditMac, AuditOutcome};
    use mfa_core::store::{AuditFilter, PageRequest};
    use mfa_core::testing::fixtures;
    let now = fixtures::t0();
    let rows = &before.rows;
    assert_rows_kept(store, rows, &[]).await;
    let of_user = AuditFilter {
        user_id: Some(rows.user.id),
        ..AuditFilter::default()
    };
    let newest_first = |events: &[AuditEvent]| {
        let mut events = events.to_vec();
        events.sort_by_key(|e| std::cmp::Reverse((e.at, e.id)));
        events
    };
    let page = store
        .query_audit(&of_user, &PageRequest::first(10))
        .await
        .expect("query_audit");
    assert_eq!(
        page.items,
        newest_first(&before.events),
        "the audit events of version 5 survive the upgrade, without a link"
    );
    assert_eq!(
        store
            .count_unlinked_audit(None)
            .await
            .expect("count_unlinked_audit"),
        2,
        "the events of version 5 are unlinked"
    );
    assert_eq!(
        store
            .count_unlinked_audit(Some(now + chrono::TimeDelta::seconds(1)))
            .await
            .expect("count_unlinked_audit"),
        1
    );
    assert_eq!(
        store
            .scan_audit_chains(None, None, 100)
            .await
            .expect("scan_audit_chains"),
        [],
        "no chain before the first linked event"
    );

    let linked = AuditEvent {
        user_id: Some(rows.user.id),
        link: Some(AuditLink {
            chain: AuditChainId::new(),
            seq: 1,
            mac: AuditMac::from_array([7; 32]),
            personal: Some(AuditMac::from_array([8; 32])),
        }),
        ..AuditEvent::new(
            AuditKind::SessionCreated,
            AuditOutcome::Success,
            now + chrono::TimeDelta::seconds(2),
        )
    };
    store.append_audit(&linked).await.expect("append_audit");
    assert_eq!(
        store
            .scan_audit_chains(None, None, 100)
            .await
            .expect("scan_audit_chains"),
        std::slice::from_ref(&linked),
        "a linked event is walked, whole"
    );
    let mut all = before.events.clone();
    all.push(linked);
    let page = store
        .query_audit(&of_user, &PageRequest::first(10))
        .await
        .expect("query_audit");
    assert_eq!(page.items, newest_first(&all));
    assert_eq!(
        store
            .count_unlinked_audit(None)
            .await
            .expect("count_unlinked_audit"),
        2,
        "a linked event is not counted as unlinked"
    );
}

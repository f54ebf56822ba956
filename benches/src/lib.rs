//! Shared set-up for the benchmarks: an engine on a round-trip-counting
//! store (memory, SQLite or PostgreSQL) with a manual clock and a capturing
//! email channel, and users in the states each step needs.
//!
//! No helper moves the clock on its own except [`Bench::next_step`] and
//! [`Bench::new_window`]. The engine benchmarks call `new_window` before
//! every timed sign-in, so each one sees the steady state of a deployment
//! (a few recent hits per rate-limit key) instead of hits piling up under a
//! stopped clock.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use chrono::TimeDelta;
use mfa_core::clock::{Clock, ManualClock};
use mfa_core::crypto::{
    ExposeSecret, JwtConfig, JwtKeys, KeyRing, PasswordHasher, SecretString, Totp, TotpSecret,
};
use mfa_core::model::{Contact, FactorKind, TotpParams, UserId};
use mfa_core::policy::Policy;
use mfa_core::store::Store;
use mfa_core::testing::capture::CapturingChannel;
use mfa_core::testing::counting::CountingStore;
use mfa_core::{
    Actor, ClientInfo, LoginOutcome, LoginRequest, Mfa, NewUser, Tokens, VerifyRequest,
};
use mfa_store_memory::MemoryStore;
use std::sync::Arc;

/// Which password-hashing cost the engine runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passwords {
    /// argon2id at tiny test parameters, so the library's own cost shows.
    Test,
    /// argon2id at the production default (OWASP: 19 MiB, t=2, p=1).
    Production,
}

/// How far [`Bench::new_window`] moves the clock: past the longest
/// rate-limit window the steps touch (one hour for code sends), the resend
/// cooldown and the ticket lifetime.
pub const WINDOW: TimeDelta = TimeDelta::seconds(3601);

/// An engine with everything a benchmark needs to drive it.
pub struct Bench<S = MemoryStore> {
    /// The engine.
    pub mfa: Mfa,
    /// The counting store behind it.
    pub store: Arc<CountingStore<S>>,
    /// The clock; advance it to get fresh TOTP steps.
    pub clock: Arc<ManualClock>,
    /// The email channel; it keeps every message sent.
    pub email: Arc<CapturingChannel>,
    /// The client every request comes from.
    pub client: ClientInfo,
}

/// A signed-up user with an authenticator app and backup codes.
pub struct EnrolledUser {
    /// Id.
    pub id: UserId,
    /// Login name.
    pub identifier: String,
    /// Password.
    pub password: SecretString,
    /// TOTP seed (base32).
    pub secret: SecretString,
    /// Unused backup codes.
    pub backup_codes: Vec<SecretString>,
}

impl Bench<MemoryStore> {
    /// An engine on a memory store with the default policy (email codes
    /// off); `fast_passwords` swaps argon2 at OWASP parameters for cheap
    /// test parameters. The timing measurements (`src/bin/timing.rs`) use it.
    ///
    /// # Panics
    /// When the engine cannot be built.
    #[must_use]
    pub fn new(fast_passwords: bool) -> Self {
        let passwords = if fast_passwords {
            Passwords::Test
        } else {
            Passwords::Production
        };
        Self::build(MemoryStore::new(), passwords, Policy::default())
    }
}

impl<S: Store> Bench<S> {
    /// An engine on `store` with email codes enabled: what the engine-step
    /// benchmarks run on every backend.
    ///
    /// # Panics
    /// When the engine cannot be built.
    #[must_use]
    pub fn with_store(store: S, passwords: Passwords) -> Self {
        let mut policy = Policy::default();
        policy.methods.email = true;
        Self::build(store, passwords, policy)
    }

    fn build(store: S, passwords: Passwords, mut policy: Policy) -> Self {
        let store = Arc::new(CountingStore::new(store));
        let clock = Arc::new(ManualClock::default());
        let email = Arc::new(CapturingChannel::email());
        let mut builder = Mfa::builder()
            .store(store.clone())
            .email(email.clone())
            .keys(KeyRing::generate())
            .tokens(
                JwtConfig::new("https://bench.test", "bench"),
                JwtKeys::generate_ed25519("k1").expect("key generation"),
            )
            .clock(clock.clone());
        if passwords == Passwords::Test {
            builder = builder.password_hasher(PasswordHasher::insecure_fast_for_tests());
        }
        // Set-up signs in many times within one window; the timed steps move
        // the clock past it instead (`new_window`), so this changes nothing
        // they measure.
        policy.login_rate.per_ip = u32::MAX;
        policy.login_rate.per_identifier = u32::MAX;
        Self {
            mfa: builder.policy(policy).build().expect("engine"),
            store,
            clock,
            email,
            client: ClientInfo {
                ip: Some([192u8, 0, 2, 10].into()),
                user_agent: Some("bench".into()),
                fingerprint: Some("bench-device".into()),
                country: Some("CH".into()),
                ..ClientInfo::default()
            },
        }
    }

    /// Moves the clock to the next TOTP step.
    pub fn next_step(&self) {
        self.clock.advance(TimeDelta::seconds(30));
    }

    /// Moves the clock past every rate-limit window, resend cooldown and
    /// ticket lifetime: the next step starts from the steady state.
    pub fn new_window(&self) {
        self.clock.advance(WINDOW);
    }

    /// Removes expired tickets, challenges, sessions and rate-limit hits, as
    /// a deployment's periodic purge does; keeps tables at a steady size
    /// during long runs.
    ///
    /// # Panics
    /// When the store fails.
    pub async fn purge(&self) {
        self.mfa.purge().await.expect("purge");
    }

    /// The current code for a base32 seed.
    ///
    /// # Panics
    /// On a malformed seed.
    #[must_use]
    pub fn totp_code(&self, secret: &SecretString) -> String {
        let totp = Totp::new(
            TotpSecret::from_base32(secret.expose_secret()).expect("seed"),
            TotpParams::default(),
            "bench",
            "user",
        )
        .expect("totp");
        totp.generate_at(self.clock.now().timestamp())
            .expect("code")
            .expose()
            .to_owned()
    }

    /// A login request for `user`.
    #[must_use]
    pub fn login_request(&self, identifier: &str, password: &SecretString) -> LoginRequest {
        LoginRequest {
            identifier: identifier.to_owned(),
            password: password.clone(),
            client: self.client.clone(),
        }
    }

    /// Creates a user and enrols TOTP (with backup codes).
    ///
    /// # Panics
    /// When any step fails.
    pub async fn enrolled_user(&self, n: usize) -> EnrolledUser {
        let identifier = format!("user{n}@bench.test");
        let password = SecretString::from("bench password 123");
        let user = self
            .mfa
            .create_user(NewUser {
                identifier: identifier.clone(),
                password: Some(password.clone()),
                contact: Contact::default(),
            })
            .await
            .expect("create_user");
        let LoginOutcome::Authenticated(tokens) = self
            .mfa
            .login(self.login_request(&identifier, &password))
            .await
            .expect("login")
        else {
            panic!("a user without factors signs in with the password");
        };
        let claims = self
            .mfa
            .authenticate(&tokens.access_token)
            .await
            .expect("claims");
        let enrollment = self
            .mfa
            .enroll_totp(Actor::Session(&claims), None)
            .await
            .expect("enroll");
        let code = self.totp_code(&enrollment.secret);
        let enrolled = self
            .mfa
            .confirm_factor(
                Actor::Session(&claims),
                enrollment.factor_id,
                &code,
                &self.client,
            )
            .await
            .expect("confirm");
        EnrolledUser {
            id: user.id,
            identifier,
            password,
            secret: enrollment.secret,
            backup_codes: enrolled.backup_codes.map(|b| b.codes).unwrap_or_default(),
        }
    }

    /// Adds a confirmed email factor to `user`; returns the address.
    ///
    /// # Panics
    /// When any step fails.
    pub async fn add_email(&self, user: &EnrolledUser) -> String {
        let address = user.identifier.clone();
        let tokens = self.signed_in(user).await;
        let claims = self
            .mfa
            .authenticate(&tokens.access_token)
            .await
            .expect("claims");
        let pending = self
            .mfa
            .enroll_email(Actor::Session(&claims), &address)
            .await
            .expect("enroll_email");
        let code = self.email.last_code(&address).expect("a code was sent");
        self.mfa
            .confirm_factor(
                Actor::Session(&claims),
                pending.factor_id,
                &code,
                &self.client,
            )
            .await
            .expect("confirm email");
        address
    }

    /// Replaces `user`'s backup codes with a fresh set (from a session that
    /// has just verified TOTP).
    ///
    /// # Panics
    /// When any step fails.
    pub async fn new_backup_codes(&self, user: &mut EnrolledUser) {
        let tokens = self.signed_in(user).await;
        let claims = self
            .mfa
            .authenticate(&tokens.access_token)
            .await
            .expect("claims");
        user.backup_codes = self
            .mfa
            .regenerate_backup_codes(Actor::Session(&claims))
            .await
            .expect("regenerate")
            .codes;
    }

    /// A fresh MFA ticket for `user`.
    ///
    /// # Panics
    /// When the login does not ask for MFA.
    pub async fn ticket(&self, user: &EnrolledUser) -> String {
        match self
            .mfa
            .login(self.login_request(&user.identifier, &user.password))
            .await
            .expect("login")
        {
            LoginOutcome::MfaRequired { ticket, .. } => ticket,
            other => panic!("expected MfaRequired, got {other:?}"),
        }
    }

    /// Completes a sign-in with TOTP and returns the tokens.
    ///
    /// # Panics
    /// When any step fails.
    pub async fn signed_in(&self, user: &EnrolledUser) -> Tokens {
        let ticket = self.ticket(user).await;
        self.next_step();
        let code = self.totp_code(&user.secret);
        self.mfa
            .verify(VerifyRequest {
                ticket: &ticket,
                method: FactorKind::Totp,
                code: &code,
                remember_device: false,
                client: &self.client,
            })
            .await
            .expect("verify")
            .tokens
    }
}

/// The SQL backends: scratch databases for the benchmarks, and a count of
/// what one step sends to the database.
pub mod sql {
    use mfa_store_sqlx::sqlx::pool::PoolOptions;
    use mfa_store_sqlx::sqlx::postgres::PgPool;
    use mfa_store_sqlx::sqlx::{self, Database};
    use mfa_store_sqlx::{PgStore, SqliteStore};
    use std::fmt;
    use std::path::PathBuf;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    use tracing::span::{Attributes, Id, Record};
    use tracing::subscriber::Interest;
    use tracing::{Event, Metadata};

    /// Connections per benchmark pool.
    pub const POOL_SIZE: u32 = 8;

    /// The database [`PgTables::create`] uses unless `MFA_TEST_POSTGRES_URL`
    /// names another.
    pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

    /// Benchmark table prefixes: `mfab<run start>p<pid>_`. They never match
    /// the test suites' `t<run>x<n>_`, so no test cleanup drops them mid-run.
    const PREFIX_HEAD: &str = "mfab";

    static COUNTING: AtomicBool = AtomicBool::new(false);
    static LOG: Mutex<Vec<Sent>> = Mutex::new(Vec::new());

    /// One thing a benchmark pool did while a count was running.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Sent {
        /// An idle connection was taken from the pool (sqlx pings it first
        /// unless `test_before_acquire` is off). Every autocommit statement
        /// and every transaction starts with one.
        Acquire,
        /// A statement: its first words, and the rows it changed.
        Statement {
            /// The first four words (sqlx's summary), e.g. `UPDATE mfa_users SET`.
            summary: String,
            /// Rows changed (0 for a read or a write that matched nothing).
            rows_affected: u64,
        },
    }

    impl Sent {
        fn is_write(&self) -> bool {
            match self {
                Self::Acquire => false,
                Self::Statement {
                    summary,
                    rows_affected,
                } => {
                    *rows_affected > 0
                        && ["INSERT", "UPDATE", "DELETE", "WITH"]
                            .iter()
                            .any(|w| summary.to_ascii_uppercase().starts_with(w))
                }
            }
        }

        fn is_commit(&self) -> bool {
            matches!(self, Self::Statement { summary, .. }
                if summary.to_ascii_uppercase().starts_with("COMMIT"))
        }
    }

    fn log() -> std::sync::MutexGuard<'static, Vec<Sent>> {
        LOG.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn record(sent: Sent) {
        if COUNTING.load(Ordering::Relaxed) {
            log().push(sent);
        }
    }

    /// What one step sent to the database.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct SqlCount {
        /// Statements executed, `COMMIT` included (sqlx logs each one; the
        /// `BEGIN` of a PostgreSQL transaction it does not).
        pub statements: u64,
        /// Transactions committed.
        pub transactions: u64,
        /// Idle connections taken from the pool: one ping round trip each
        /// while `test_before_acquire` is on (sqlx's default).
        pub acquires: u64,
        /// Commits that changed rows, so wait for the write-ahead log to
        /// reach the disk (`synchronous_commit = on`): autocommit writes
        /// that changed a row, and transactions with such a write.
        pub flushes: u64,
        /// Everything, in order.
        pub log: Vec<Sent>,
    }

    impl SqlCount {
        fn of(log: Vec<Sent>) -> Self {
            let mut count = Self::default();
            // Between two acquires: one autocommit statement, or a
            // transaction ending in COMMIT.
            for unit in log.split(|s| *s == Sent::Acquire) {
                count.statements += unit.len() as u64;
                if unit.last().is_some_and(Sent::is_commit) {
                    count.transactions += 1;
                    count.flushes += u64::from(unit.iter().any(Sent::is_write));
                } else {
                    count.flushes += unit.iter().filter(|s| s.is_write()).count() as u64;
                }
            }
            count.acquires = log.iter().filter(|s| **s == Sent::Acquire).count() as u64;
            count.log = log;
            count
        }

        /// Network round trips to PostgreSQL: every statement, the `BEGIN`
        /// of each transaction, and the ping of every acquire when `pinged`.
        #[must_use]
        pub const fn round_trips(&self, pinged: bool) -> u64 {
            self.statements + self.transactions + if pinged { self.acquires } else { 0 }
        }

        /// The statements one per line, each transaction's in brackets, for
        /// reading where the round trips go.
        #[must_use]
        pub fn listing(&self) -> String {
            let mut out = String::new();
            for unit in self.log.split(|s| *s == Sent::Acquire) {
                let tx = unit.last().is_some_and(Sent::is_commit);
                for (i, sent) in unit.iter().enumerate() {
                    if let Sent::Statement {
                        summary,
                        rows_affected,
                    } = sent
                    {
                        let mark = match (tx, i) {
                            (false, _) => "  ",
                            (true, 0) => "[ ",
                            (true, _) => "| ",
                        };
                        out.push_str(&format!("    {mark}{summary} ({rows_affected} rows)\n"));
                    }
                }
            }
            out
        }
    }

    impl fmt::Display for SqlCount {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(
                f,
                "{} SQL statements ({} tx), {} WAL flushes, {} pool acquires",
                self.statements, self.transactions, self.flushes, self.acquires
            )
        }
    }

    /// Listens to sqlx's per-statement `sqlx::query` events while a count
    /// is running and ignores everything else.
    struct StatementCounter;

    #[derive(Default)]
    struct StatementVisitor {
        summary: String,
        rows_affected: u64,
    }

    impl tracing::field::Visit for StatementVisitor {
        fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
            if field.name() == "rows_affected" {
                self.rows_affected = value;
            }
        }

        fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
            if field.name() == "summary" {
                value.clone_into(&mut self.summary);
            }
        }

        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
            match field.name() {
                "summary" => self.summary = format!("{value:?}").trim_matches('"').to_owned(),
                "rows_affected" => {
                    self.rows_affected = format!("{value:?}").parse().unwrap_or(0);
                }
                _ => {}
            }
        }
    }

    impl tracing::Subscriber for StatementCounter {
        fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
            if metadata.target() == "sqlx::query" {
                Interest::sometimes()
            } else {
                Interest::never()
            }
        }

        fn enabled(&self, metadata: &Metadata<'_>) -> bool {
            metadata.target() == "sqlx::query" && COUNTING.load(Ordering::Relaxed)
        }

        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }

        fn record(&self, _: &Id, _: &Record<'_>) {}

        fn record_follows_from(&self, _: &Id, _: &Id) {}

        fn event(&self, event: &Event<'_>) {
            let mut visitor = StatementVisitor::default();
            event.record(&mut visitor);
            record(Sent::Statement {
                summary: visitor.summary,
                rows_affected: visitor.rows_affected,
            });
        }

        fn enter(&self, _: &Id) {}

        fn exit(&self, _: &Id) {}
    }

    /// Installs the statement counter as the process's tracing subscriber
    /// (once; later calls do nothing). Outside [`counting`] it turns every
    /// event away, so timed runs pay one atomic load per statement.
    pub fn install_counter() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // Another subscriber already set means no SQL counts, not an error.
            let _ = tracing::subscriber::set_global_default(StatementCounter);
        });
    }

    /// Runs `f` and records what it sends to any benchmark pool.
    pub fn counting<T>(f: impl FnOnce() -> T) -> (T, SqlCount) {
        log().clear();
        COUNTING.store(true, Ordering::Relaxed);
        let out = f();
        COUNTING.store(false, Ordering::Relaxed);
        let sent = std::mem::take(&mut *log());
        (out, SqlCount::of(sent))
    }

    /// Whether pool acquires ping the connection first: sqlx's default, so
    /// what a host gets unless it opts out. `MFA_BENCH_PING=0` turns it off
    /// to measure what the pings cost.
    #[must_use]
    pub fn ping_before_acquire() -> bool {
        std::env::var("MFA_BENCH_PING").map_or(true, |v| v != "0")
    }

    /// Whether PostgreSQL commits wait for the write-ahead log to reach the
    /// disk (the server default). `MFA_BENCH_SYNC_COMMIT=off` sets
    /// `synchronous_commit = off` on the benchmark's connections, so the
    /// figures show round trips instead of the disk's flush latency.
    #[must_use]
    pub fn synchronous_commit() -> bool {
        std::env::var("MFA_BENCH_SYNC_COMMIT").map_or(true, |v| v != "off")
    }

    fn pool_options<DB: Database>() -> PoolOptions<DB> {
        PoolOptions::<DB>::new()
            .max_connections(POOL_SIZE)
            .test_before_acquire(ping_before_acquire())
            .before_acquire(|_, _| {
                Box::pin(async {
                    record(Sent::Acquire);
                    Ok(true)
                })
            })
    }

    fn now_secs() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    /// A SQLite database file in a scratch directory, removed on drop.
    pub struct SqliteFile {
        dir: PathBuf,
    }

    impl SqliteFile {
        /// A new scratch directory and the URL of a database file in it.
        fn scratch() -> (String, Self) {
            let dir = std::env::temp_dir().join(format!("mfa-bench-{}", uuid::Uuid::now_v7()));
            std::fs::create_dir_all(&dir).expect("create the scratch directory");
            let url = format!("sqlite://{}", dir.join("mfa.db").display());
            (url, Self { dir })
        }

        /// A migrated SQLite store of `mfa-store-diesel` (WAL, statements
        /// run inline) on a new file with a pool of `connections`, and the
        /// guard that removes the file.
        ///
        /// # Panics
        /// When the file cannot be created or migrated.
        pub async fn create_diesel(connections: usize) -> (mfa_store_diesel::SqliteStore, Self) {
            let (url, file) = Self::scratch();
            let store = mfa_store_diesel::SqliteStore::connect(&url, connections)
                .await
                .expect("open the SQLite file");
            store.migrate().await.expect("migrate");
            (store, file)
        }

        /// A migrated SQLite store (WAL) on a new file, and the guard that
        /// removes the file.
        ///
        /// # Panics
        /// When the file cannot be created or migrated.
        pub async fn create() -> (SqliteStore, Self) {
            let (url, file) = Self::scratch();
            let options = SqliteStore::connect_options(&url).expect("SQLite options");
            let pool = pool_options::<sqlx::Sqlite>()
                .connect_with(options)
                .await
                .expect("open the SQLite file");
            let store = SqliteStore::new(pool);
            store.migrate().await.expect("migrate");
            (store, file)
        }
    }

    impl Drop for SqliteFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// The tables of one benchmark run in the test database.
    pub struct PgTables {
        pool: PgPool,
        prefix: String,
    }

    impl PgTables {
        /// The URL from `MFA_TEST_POSTGRES_URL`, or [`DEFAULT_POSTGRES_URL`].
        #[must_use]
        pub fn url() -> String {
            std::env::var("MFA_TEST_POSTGRES_URL")
                .ok()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned())
        }

        /// A migrated PostgreSQL store on a table prefix of its own, after
        /// dropping the tables that benchmark runs older than three hours
        /// left behind (a run that was interrupted).
        ///
        /// # Errors
        /// When the database cannot be reached or migrated.
        pub async fn create() -> Result<(PgStore, Self), String> {
            let url = Self::url();
            let mut options: sqlx::postgres::PgConnectOptions =
                url.parse().map_err(|e| format!("parse {url}: {e}"))?;
            if !synchronous_commit() {
                options = options.options([("synchronous_commit", "off")]);
            }
            let pool = pool_options::<sqlx::Postgres>()
                .connect_with(options)
                .await
                .map_err(|e| format!("connect to {url}: {e}"))?;
            let cutoff = now_secs().saturating_sub(3 * 3600);
            let stale: Vec<String> = Self::tables(&pool, PREFIX_HEAD)
                .await?
                .into_iter()
                .filter(|t| run_of(t).is_some_and(|run| run < cutoff))
                .collect();
            drop_all(&pool, &stale).await?;
            let prefix = format!("{PREFIX_HEAD}{}p{}_", now_secs(), std::process::id());
            let store = PgStore::with_prefix(pool.clone(), &prefix).map_err(|e| e.to_string())?;
            store.migrate().await.map_err(|e| format!("migrate: {e}"))?;
            Ok((store, Self { pool, prefix }))
        }

        /// The same as [`PgTables::create`], with `mfa-store-diesel`'s
        /// PostgreSQL store on the tables (durable commits; its pool pings
        /// a connection before handing it out unless `MFA_BENCH_PING=0`,
        /// as diesel-async's pool does by default).
        ///
        /// # Errors
        /// When the database cannot be reached or migrated.
        pub async fn create_diesel() -> Result<(mfa_store_diesel::PgStore, Self), String> {
            use diesel_async::pooled_connection::{
                AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
            };
            let (_, tables) = Self::create().await?;
            let mut config = ManagerConfig::default();
            if !ping_before_acquire() {
                config.recycling_method = RecyclingMethod::Fast;
            }
            let manager = AsyncDieselConnectionManager::new_with_config(Self::url(), config);
            let pool = mfa_store_diesel::PgPool::builder(manager)
                .max_size(POOL_SIZE as usize)
                .build()
                .map_err(|e| format!("diesel pool: {e}"))?;
            let store = mfa_store_diesel::PgStore::with_prefix(pool, &tables.prefix)
                .map_err(|e| e.to_string())?;
            Ok((store, tables))
        }

        /// Drops this run's tables.
        ///
        /// # Errors
        /// When the database refuses.
        pub async fn drop_tables(self) -> Result<(), String> {
            let tables = Self::tables(&self.pool, &self.prefix).await?;
            drop_all(&self.pool, &tables).await?;
            self.pool.close().await;
            Ok(())
        }

        async fn tables(pool: &PgPool, head: &str) -> Result<Vec<String>, String> {
            let all: Vec<String> = sqlx::query_scalar(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()",
            )
            .fetch_all(pool)
            .await
            .map_err(|e| format!("list tables: {e}"))?;
            Ok(all.into_iter().filter(|t| t.starts_with(head)).collect())
        }
    }

    /// The run start encoded in a benchmark table name, if it is one.
    fn run_of(table: &str) -> Option<u64> {
        let rest = table.strip_prefix(PREFIX_HEAD)?;
        let (run, tail) = rest.split_once('p')?;
        let (pid, _) = tail.split_once('_')?;
        (!pid.is_empty() && pid.chars().all(|c| c.is_ascii_digit()))
            .then(|| run.parse().ok())
            .flatten()
    }

    async fn drop_all(pool: &PgPool, tables: &[String]) -> Result<(), String> {
        for chunk in tables.chunks(100) {
            let names: Vec<String> = chunk.iter().map(|t| format!("\"{t}\"")).collect();
            let sql = format!("DROP TABLE IF EXISTS {} CASCADE", names.join(", "));
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(pool)
                .await
                .map_err(|e| format!("drop tables: {e}"))?;
        }
        Ok(())
    }
}

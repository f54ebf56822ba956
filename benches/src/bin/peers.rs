//! Our side of the peer comparison that `benches/peers/run.sh` drives: the
//! same TOTP checks and the same login-with-TOTP flow on SQLite that the
//! pyotp / django-otp and better-auth scripts time, written as JSON for
//! `benches/peers/report.py`.
//!
//! `peers <out.json> <work dir>`; the work dir receives the SQLite files.
//! For profiling, `MFA_PEERS_FLOW_ONLY=diesel|sqlx|memory` runs only the
//! cheap-hash flow on that store and prints its summary, and
//! `MFA_PEERS_FLOWS=n` sets the number of timed flows.
#![forbid(unsafe_code)]

use chrono::TimeDelta;
use mfa_core::clock::{Clock, ManualClock};
use mfa_core::crypto::{
    Aad, ExposeSecret, JwtConfig, JwtKeys, KeyRing, PasswordHasher, SecretString, Totp, TotpCode,
    TotpSecret,
};
use mfa_core::model::{Contact, FactorKind, TotpAlgorithm, TotpParams};
use mfa_core::policy::Policy;
use mfa_core::store::{FactorRepository, Store};
use mfa_core::{Actor, ClientInfo, LoginOutcome, LoginRequest, Mfa, NewUser, VerifyRequest};
use mfa_store_sqlx::SqliteStore;
use serde_json::{Value, json};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The fixed instant the pure TOTP checks run at (the peers use the same).
const NOW: i64 = 1_900_000_000;
/// Batches × operations per batch for the pure TOTP checks.
const PURE_BATCHES: usize = 200;
const PURE_PER_BATCH: usize = 100;
/// Verifications that write the replay guard.
const STORED_VERIFIES: usize = 2_000;
/// Login flows at the library's default password hashing, and at cheap
/// test parameters.
const FLOWS_DEFAULT_HASH: usize = 20;
const FLOWS_CHEAP_HASH: usize = 300;
const WARMUP_FLOWS: usize = 3;

fn main() {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().unwrap_or_else(|| "/tmp/peers-ours.json".into()));
    let work = PathBuf::from(
        args.next()
            .unwrap_or_else(|| std::env::temp_dir().display().to_string()),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if let Ok(store) = std::env::var("MFA_PEERS_FLOW_ONLY") {
        // For profiling: only the cheap-hash flow on one store, printed.
        let flow = match store.as_str() {
            "memory" => rt.block_on(flow_on(
                Arc::new(mfa_store_memory::MemoryStore::new()),
                true,
                "memory store",
            )),
            "sqlx" => rt.block_on(login_flow(&work, true, Sqlite::Sqlx)),
            _ => rt.block_on(login_flow(&work, true, Sqlite::Diesel)),
        };
        println!("{flow}");
        return;
    }
    let mut results = serde_json::Map::new();
    let (plain, sealed) = pure_totp();
    results.insert("totp_verify".into(), plain);
    results.insert("totp_verify_sealed_seed".into(), sealed);
    results.insert(
        "totp_verify_replay_write".into(),
        rt.block_on(totp_with_replay_guard()),
    );
    results.insert(
        "login_totp_flow_default_hash".into(),
        rt.block_on(login_flow(&work, false, Sqlite::Diesel)),
    );
    results.insert(
        "login_totp_flow_cheap_hash".into(),
        rt.block_on(login_flow(&work, true, Sqlite::Diesel)),
    );
    results.insert(
        "login_totp_flow_cheap_hash_sqlx".into(),
        rt.block_on(login_flow(&work, true, Sqlite::Sqlx)),
    );
    let report = json!({
        "side": "ours",
        "versions": { "mfa-core": env!("CARGO_PKG_VERSION") },
        "results": results,
    });
    std::fs::write(&out, serde_json::to_vec_pretty(&report).expect("json")).expect("write");
    eprintln!("ours: wrote {}", out.display());
}

/// Median and mean of per-operation times, as the JSON every side writes.
fn summary(mut per_op: Vec<Duration>, note: &str) -> Value {
    per_op.sort();
    let n = per_op.len();
    let median = if n % 2 == 1 {
        per_op[n / 2].as_nanos() as f64
    } else {
        (per_op[n / 2 - 1].as_nanos() + per_op[n / 2].as_nanos()) as f64 / 2.0
    };
    let mean = per_op.iter().map(Duration::as_nanos).sum::<u128>() as f64 / n as f64;
    json!({ "median_ns": median, "mean_ns": mean, "iterations": n, "note": note })
}

/// Times `per_batch` calls of `op` per sample, so the clock read does not
/// dominate a microsecond operation; each sample is one batch ÷ `per_batch`.
fn batched(mut op: impl FnMut(), note: &str) -> Value {
    for _ in 0..PURE_PER_BATCH * 10 {
        op();
    }
    let samples = (0..PURE_BATCHES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..PURE_PER_BATCH {
                op();
            }
            start.elapsed() / PURE_PER_BATCH as u32
        })
        .collect();
    let mut value = summary(samples, note);
    value["iterations"] = json!(PURE_BATCHES * PURE_PER_BATCH);
    value
}

fn totp_for(seed: &[u8]) -> Totp {
    Totp::new(
        TotpSecret::from_bytes(seed.to_vec()).expect("seed"),
        TotpParams::default(),
        "bench",
        "user",
    )
    .expect("totp")
}

/// The TOTP check alone (parse + verify at ±1 step), and the same after
/// opening the AES-GCM-sealed seed as the engine does on every verify.
fn pure_totp() -> (Value, Value) {
    let secret = TotpSecret::generate(TotpAlgorithm::Sha1);
    let ours = totp_for(secret.expose());
    let code = ours.generate_at(NOW).expect("code").expose().to_owned();
    let plain = batched(
        || {
            let parsed = TotpCode::parse(black_box(&code), 6).expect("parse");
            assert!(ours.verify_at(&parsed, NOW, 1).expect("verify").is_some());
        },
        "mfa_core::crypto::TotpCode::parse + Totp::verify_at (skew 1), seed already in memory",
    );
    let keys = KeyRing::generate();
    let aad = Aad::factor(
        mfa_core::model::UserId::new(),
        mfa_core::model::FactorId::new(),
    );
    let sealed_seed = keys.seal(secret.expose(), &aad).expect("seal");
    let sealed = batched(
        || {
            let seed = keys.open(black_box(&sealed_seed), &aad).expect("open");
            let totp = totp_for(seed.expose());
            let parsed = TotpCode::parse(black_box(&code), 6).expect("parse");
            assert!(totp.verify_at(&parsed, NOW, 1).expect("verify").is_some());
        },
        "KeyRing::open (AES-256-GCM, AAD user+factor) + Totp::new + parse + verify_at",
    );
    (plain, sealed)
}

/// The same key material twice: one ring for the engine that enrols, one
/// for the loop that opens the sealed seed (a `KeyRing` is not `Clone`).
fn fixed_keys() -> KeyRing {
    KeyRing::builder()
        .aead_key(1, &[7u8; 32])
        .current(1)
        .root_secret(&[9u8; 32])
        .build()
        .expect("key ring")
}

fn client() -> ClientInfo {
    ClientInfo {
        ip: Some([192u8, 0, 2, 10].into()),
        user_agent: Some("peers".into()),
        fingerprint: Some("peers-device".into()),
        country: Some("CH".into()),
        ..ClientInfo::default()
    }
}

fn engine<S: Store + 'static>(
    store: Arc<S>,
    keys: KeyRing,
    clock: Arc<ManualClock>,
    cheap_passwords: bool,
) -> Mfa {
    let mut builder = Mfa::builder()
        .store(store)
        .keys(keys)
        .tokens(
            JwtConfig::new("https://peers.test", "peers"),
            JwtKeys::generate_ed25519("k1").expect("jwt key"),
        )
        .clock(clock);
    if cheap_passwords {
        builder = builder.password_hasher(PasswordHasher::insecure_fast_for_tests());
    }
    let mut policy = Policy::default();
    // Thousands of sign-ins from one address: the limiter still counts
    // every attempt (same store writes), it just never says no.
    policy.login_rate.per_ip = u32::MAX;
    policy.login_rate.per_identifier = u32::MAX;
    builder.policy(policy).build().expect("engine")
}

fn code_at(seed: &SecretString, clock: &ManualClock) -> String {
    let totp = Totp::new(
        TotpSecret::from_base32(seed.expose_secret()).expect("seed"),
        TotpParams::default(),
        "peers",
        "user",
    )
    .expect("totp");
    totp.generate_at(clock.now().timestamp())
        .expect("code")
        .expose()
        .to_owned()
}

struct Enrolled {
    id: mfa_core::model::UserId,
    identifier: String,
    password: SecretString,
    seed: SecretString,
}

/// Signs a user up, signs in, enrols and confirms TOTP.
async fn enrol(mfa: &Mfa, clock: &ManualClock) -> Enrolled {
    let identifier = "alice@peers.test".to_owned();
    let password = SecretString::from("peer bench password 123");
    let user = mfa
        .create_user(NewUser {
            identifier: identifier.clone(),
            password: Some(password.clone()),
            contact: Contact::default(),
        })
        .await
        .expect("create_user");
    let LoginOutcome::Authenticated(tokens) = mfa
        .login(LoginRequest {
            identifier: identifier.clone(),
            password: password.clone(),
            client: client(),
        })
        .await
        .expect("login")
    else {
        panic!("a user without factors signs in with the password");
    };
    let claims = mfa
        .authenticate(&tokens.access_token)
        .await
        .expect("claims");
    let enrollment = mfa
        .enroll_totp(Actor::Session(&claims), None)
        .await
        .expect("enroll");
    let code = code_at(&enrollment.secret, clock);
    mfa.confirm_factor(
        Actor::Session(&claims),
        enrollment.factor_id,
        &code,
        &client(),
    )
    .await
    .expect("confirm");
    Enrolled {
        id: user.id,
        identifier,
        password,
        seed: enrollment.secret,
    }
}

/// What django-otp's `TOTPDevice.verify_token` does, on the same kind of
/// database (in-memory SQLite): open the seed, check the code, and record
/// its step as the replay guard (one UPDATE).
async fn totp_with_replay_guard() -> Value {
    let url = format!(
        "sqlite:file:peers{}?mode=memory&cache=shared",
        uuid::Uuid::now_v7().simple()
    );
    let store = Arc::new(SqliteStore::connect(&url, 1).await.expect("open"));
    store.migrate().await.expect("migrate");
    let clock = Arc::new(ManualClock::default());
    let mfa = engine(store.clone(), fixed_keys(), clock.clone(), true);
    let user = enrol(&mfa, &clock).await;
    let factor = store
        .list_factors(user.id)
        .await
        .expect("factors")
        .into_iter()
        .find(|f| f.kind == FactorKind::Totp)
        .expect("totp factor");
    let sealed = factor.secret.clone().expect("sealed seed");
    let keys = fixed_keys();
    let mut now = clock.now().timestamp();
    let mut samples = Vec::with_capacity(STORED_VERIFIES);
    for i in 0..STORED_VERIFIES + 100 {
        now += 30;
        let seed = keys
            .open(&sealed, &Aad::factor(user.id, factor.id))
            .expect("open");
        let code = totp_for(seed.expose()).generate_at(now).expect("code");
        let code = code.expose().to_owned();
        let at = chrono::DateTime::from_timestamp(now, 0).expect("time");
        let start = Instant::now();
        let seed = keys
            .open(&sealed, &Aad::factor(user.id, factor.id))
            .expect("open");
        let totp = totp_for(seed.expose());
        let parsed = TotpCode::parse(&code, 6).expect("parse");
        let step = totp
            .verify_at(&parsed, now, 1)
            .expect("verify")
            .expect("valid");
        let fresh = store
            .advance_totp_step(factor.id, i64::try_from(step).expect("step"), at)
            .await
            .expect("advance");
        let elapsed = start.elapsed();
        assert!(fresh, "a new step is accepted once");
        if i >= 100 {
            samples.push(elapsed);
        }
    }
    summary(
        samples,
        "open sealed seed + verify_at + FactorRepository::advance_totp_step (UPDATE) on in-memory SQLite (sqlx, 1 connection)",
    )
}

/// Which of our two SQLite stores a flow runs on.
#[derive(Clone, Copy)]
enum Sqlite {
    /// `mfa-store-diesel`: statements run on the calling thread.
    Diesel,
    /// `mfa-store-sqlx`: every statement goes through sqlx's worker thread.
    Sqlx,
}

/// Password → ticket → TOTP → tokens, on a SQLite file of `kind`.
async fn login_flow(work: &Path, cheap_passwords: bool, kind: Sqlite) -> Value {
    let label = if cheap_passwords { "cheap" } else { "default" };
    let (crate_name, tag) = match kind {
        Sqlite::Diesel => ("mfa-store-diesel", "diesel"),
        Sqlite::Sqlx => ("mfa-store-sqlx", "sqlx"),
    };
    let file = work.join(format!("ours-{label}-{tag}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    let url = format!("sqlite://{}", file.display());
    let note = format!("{crate_name} SqliteStore file (WAL, synchronous=NORMAL, pool 4)");
    match kind {
        Sqlite::Diesel => {
            let store = mfa_store_diesel::SqliteStore::connect(&url, 4)
                .await
                .expect("open");
            store.migrate().await.expect("migrate");
            flow_on(Arc::new(store), cheap_passwords, &note).await
        }
        Sqlite::Sqlx => {
            let store = SqliteStore::connect(&url, 4).await.expect("open");
            store.migrate().await.expect("migrate");
            flow_on(Arc::new(store), cheap_passwords, &note).await
        }
    }
}

/// The flows on `store`: one user, the manual clock moved 30 s per flow so
/// every code is a fresh step.
async fn flow_on<S: Store + 'static>(
    store: Arc<S>,
    cheap_passwords: bool,
    store_note: &str,
) -> Value {
    let clock = Arc::new(ManualClock::default());
    let mfa = engine(store, KeyRing::generate(), clock.clone(), cheap_passwords);
    let user = enrol(&mfa, &clock).await;
    let (warmup, flows) = if cheap_passwords {
        (WARMUP_FLOWS * 10, FLOWS_CHEAP_HASH)
    } else {
        (WARMUP_FLOWS, FLOWS_DEFAULT_HASH)
    };
    let flows = std::env::var("MFA_PEERS_FLOWS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(flows);
    let client = client();
    let mut samples = Vec::with_capacity(flows);
    for i in 0..warmup + flows {
        clock.advance(TimeDelta::seconds(30));
        let code = code_at(&user.seed, &clock);
        let start = Instant::now();
        let outcome = mfa
            .login(LoginRequest {
                identifier: user.identifier.clone(),
                password: user.password.clone(),
                client: client.clone(),
            })
            .await
            .expect("login");
        let LoginOutcome::MfaRequired { ticket, .. } = outcome else {
            panic!("expected MfaRequired, got {outcome:?}");
        };
        let verified = mfa
            .verify(VerifyRequest {
                ticket: &ticket,
                method: FactorKind::Totp,
                code: &code,
                remember_device: false,
                client: &client,
            })
            .await
            .expect("verify");
        let elapsed = start.elapsed();
        black_box(verified.tokens);
        if i >= warmup {
            samples.push(elapsed);
        }
    }
    let hashing = if cheap_passwords {
        "argon2id m=8 KiB t=1 p=1 (PasswordHasher::insecure_fast_for_tests)"
    } else {
        "argon2id m=19 MiB t=2 p=1 (library default)"
    };
    summary(
        samples,
        &format!(
            "Mfa::login -> MfaRequired ticket -> Mfa::verify(TOTP) -> JWT (EdDSA) + refresh token + session; {store_note}; replay guard on (ManualClock +30 s per flow); login rate limits raised to u32::MAX but still counted in the store; audit events written; {hashing}"
        ),
    )
}

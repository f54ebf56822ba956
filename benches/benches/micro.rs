//! Primitive costs, each beside the baseline it is measured against in the
//! same process: our TOTP verify step against a raw `totp-rs` check, and so
//! on. `docs/performance.md` reports the ratios.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mfa_core::crypto::push::{PushDecision, SignedPushAnswer};
use mfa_core::crypto::{
    Aad, AccessTokenInput, BackupCode, ExposeSecret, JwtConfig, JwtKeys, KeyRing, OpaqueToken,
    OtpCode, PasswordHasher, SecretString, TokenPurpose, TokenService, Totp, TotpCode, TotpSecret,
};
use mfa_core::model::{
    Aal, AuthMethod, BackupCodeRecord, ChallengeId, FactorId, FamilyId, RefreshStatus,
    RefreshToken, RefreshTokenId, Session, SessionId, SessionStatus, TotpParams, UserId,
};
use mfa_core::store::{BackupCodeRepository, NewRefreshToken, SessionRepository};
use mfa_core::testing::push_app::TestPushApp;
use mfa_store_memory::MemoryStore;
use std::hint::black_box;

const NOW: i64 = 1_900_000_000;

/// What `verify` does with a TOTP code: open the sealed seed, parse the
/// code, check every step of the window.
fn open_seed_then_verify(
    keys: &KeyRing,
    sealed: &mfa_core::model::SealedSecret,
    (user, factor): (UserId, FactorId),
    code_text: &str,
) -> Option<u64> {
    let seed = keys.open(sealed, &Aad::factor(user, factor)).unwrap();
    let totp = Totp::new(
        TotpSecret::from_bytes(seed.expose().to_vec()).unwrap(),
        TotpParams::default(),
        "bench",
        "user",
    )
    .unwrap();
    let code = TotpCode::parse(black_box(code_text), 6).unwrap();
    black_box(totp.verify_at(&code, NOW, 1).unwrap())
}

fn totp(c: &mut Criterion) {
    let secret = TotpSecret::generate(mfa_core::model::TotpAlgorithm::Sha1);
    let raw_secret = secret.expose().to_vec();
    let ours = Totp::new(
        TotpSecret::from_bytes(raw_secret.clone()).unwrap(),
        TotpParams::default(),
        "bench",
        "user",
    )
    .unwrap();
    let code = ours.generate_at(NOW).unwrap();
    let code_text = code.expose().to_owned();
    let raw = totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(6)
        .with_secret(raw_secret)
        .with_skew(1)
        .with_step_duration(30)
        .build()
        .unwrap();
    let mut g = c.benchmark_group("totp_verify");
    g.bench_function("baseline_totp_rs_check", |b| {
        b.iter(|| black_box(raw.check(black_box(&code_text), NOW as u64)));
    });
    g.bench_function("ours_parse_and_verify_at", |b| {
        b.iter(|| {
            let code = TotpCode::parse(black_box(&code_text), 6).unwrap();
            black_box(ours.verify_at(&code, NOW, 1).unwrap())
        });
    });
    let keys = KeyRing::generate();
    let (user, factor) = (UserId::new(), FactorId::new());
    let sealed = keys
        .seal(secret.expose(), &Aad::factor(user, factor))
        .unwrap();
    g.bench_function("ours_open_seed_then_verify", |b| {
        b.iter(|| open_seed_then_verify(&keys, &sealed, (user, factor), &code_text));
    });
    g.finish();
}

fn otp(c: &mut Criterion) {
    let keys = KeyRing::generate();
    let id = ChallengeId::new();
    let code = OtpCode::generate(6).unwrap();
    let stored = keys.hash_otp(id, &code);
    let text = code.expose().to_owned();
    let mut g = c.benchmark_group("otp_verify");
    g.bench_function("ours_parse_and_verify_keyed_hash", |b| {
        b.iter(|| {
            let code = OtpCode::parse(black_box(&text), 6).unwrap();
            black_box(keys.verify_otp(id, &code, &stored))
        });
    });
    g.bench_function("generate_6_digits", |b| {
        b.iter(|| black_box(OtpCode::generate(6).unwrap()));
    });
    g.finish();
}

fn backup_codes(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let keys = KeyRing::generate();
    let mut g = c.benchmark_group("backup_code");
    g.bench_function("consume_with_10_on_file", |b| {
        b.iter_batched(
            || {
                let store = MemoryStore::new();
                let user = UserId::new();
                let codes = BackupCode::generate_set(10).unwrap();
                let records: Vec<_> = codes
                    .iter()
                    .map(|c| {
                        BackupCodeRecord::new(
                            user,
                            keys.hash_backup_code(user, c),
                            chrono::Utc::now(),
                        )
                    })
                    .collect();
                rt.block_on(store.replace_backup_codes(user, &records))
                    .unwrap();
                (store, user, codes[7].display())
            },
            |(store, user, typed): (MemoryStore, UserId, SecretString)| {
                let code = BackupCode::parse(typed.expose_secret()).unwrap();
                let hash = keys.hash_backup_code(user, &code);
                assert!(
                    rt.block_on(store.consume_backup_code(user, &hash, chrono::Utc::now()))
                        .unwrap()
                );
            },
            BatchSize::SmallInput,
        );
    });
    g.finish();
}

fn jwt(c: &mut Criterion) {
    let now = chrono::DateTime::from_timestamp(NOW, 0).unwrap();
    let input = AccessTokenInput {
        sub: UserId::new(),
        sid: SessionId::new(),
        aal: Aal::Aal2,
        amr: vec![AuthMethod::Pwd, AuthMethod::Otp],
        dev: None,
        auth_time: now,
    };
    let mut g = c.benchmark_group("jwt");
    for (name, keys) in [
        ("eddsa", JwtKeys::generate_ed25519("k1").unwrap()),
        ("hs256", JwtKeys::hs256("k1", &[7u8; 32]).unwrap()),
    ] {
        let service =
            TokenService::new(JwtConfig::new("https://bench.test", "bench"), keys).unwrap();
        let (token, _) = service.issue(&input, now).unwrap();
        g.bench_function(format!("{name}_issue"), |b| {
            b.iter(|| black_box(service.issue(black_box(&input), now).unwrap()));
        });
        g.bench_function(format!("{name}_verify"), |b| {
            b.iter(|| black_box(service.verify(black_box(&token), now).unwrap()));
        });
    }
    g.finish();
}

fn refresh_rotation(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let now = chrono::DateTime::from_timestamp(NOW, 0).unwrap();
    let store = MemoryStore::new();
    let session = Session {
        id: SessionId::new(),
        user_id: UserId::new(),
        device_id: None,
        session_type: mfa_core::model::SessionType::Web,
        status: SessionStatus::Active,
        aal: Aal::Aal2,
        amr: vec![AuthMethod::Pwd, AuthMethod::Otp],
        mfa_at: Some(now),
        ip: None,
        user_agent: None,
        country: None,
        risk_score: 0,
        created_at: now,
        last_seen_at: now,
        expires_at: now + chrono::TimeDelta::days(90),
        revoked_at: None,
        revocation_reason: None,
    };
    rt.block_on(store.create_session(&session)).unwrap();
    let first = OpaqueToken::generate();
    rt.block_on(store.insert_refresh_token(&RefreshToken {
        id: RefreshTokenId::new(),
        family_id: FamilyId::new(),
        session_id: session.id,
        user_id: session.user_id,
        parent_id: None,
        token_hash: first.hash(TokenPurpose::Refresh),
        status: RefreshStatus::Active,
        created_at: now,
        expires_at: now + chrono::TimeDelta::days(30),
        used_at: None,
    }))
    .unwrap();
    let mut current = first;
    let mut g = c.benchmark_group("refresh");
    g.bench_function("rotate_in_memory_store", |b| {
        b.iter(|| {
            let next = OpaqueToken::generate();
            let outcome = rt
                .block_on(store.rotate_refresh_token(
                    &current.hash(TokenPurpose::Refresh),
                    &NewRefreshToken {
                        id: RefreshTokenId::new(),
                        token_hash: next.hash(TokenPurpose::Refresh),
                        expires_at: now + chrono::TimeDelta::days(30),
                        grace: None,
                    },
                    now,
                ))
                .unwrap();
            black_box(outcome);
            current = next;
        });
    });
    g.finish();
}

fn sealing(c: &mut Criterion) {
    let keys = KeyRing::generate();
    let aad = Aad::factor(UserId::new(), FactorId::new());
    let seed = [9u8; 20];
    let sealed = keys.seal(&seed, &aad).unwrap();
    let mut g = c.benchmark_group("keyring");
    g.bench_function("seal_20_bytes", |b| {
        b.iter(|| black_box(keys.seal(black_box(&seed), &aad).unwrap()));
    });
    g.bench_function("open_20_bytes", |b| {
        b.iter(|| black_box(keys.open(black_box(&sealed), &aad).unwrap()));
    });
    g.finish();
}

/// The tamper-evident audit log: linking one event (one HMAC-SHA256 over
/// its canonical bytes) beside the JSON encoding every store does of the
/// same event anyway, and verifying a chain of 1,000 events.
fn audit_chain(c: &mut Criterion) {
    use mfa_core::audit::{AuditVerifier, link};
    use mfa_core::model::{AuditChainId, AuditEvent, AuditKind, AuditOutcome};
    let keys = KeyRing::generate();
    let at = chrono::DateTime::from_timestamp(NOW, 0).unwrap();
    let mut event = AuditEvent::new(AuditKind::MfaVerification, AuditOutcome::Success, at);
    event.user_id = Some(UserId::new());
    event.ip = Some("203.0.113.7".into());
    event.user_agent = Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0".into());
    event.metadata = serde_json::json!({ "method": "totp", "ticket": "login", "risk": 12 });
    let chain = AuditChainId::new();
    let mut g = c.benchmark_group("audit_chain");
    g.bench_function("baseline_json_encode_event", |b| {
        b.iter(|| black_box(serde_json::to_vec(black_box(&event)).unwrap()));
    });
    g.bench_function("link_one_event", |b| {
        b.iter(|| black_box(link(&keys, None, chain, 7, black_box(&event))));
    });
    let mut events = Vec::with_capacity(1_000);
    let mut prev = None;
    for seq in 1..=1_000u64 {
        let mut e = event.clone();
        e.id = mfa_core::model::AuditEventId::new();
        let linked = link(&keys, prev.as_ref(), chain, seq, &e);
        e.link = Some(linked);
        prev = Some(linked.mac);
        events.push(e);
    }
    g.bench_function("verify_chain_of_1000", |b| {
        b.iter_batched(
            || events.clone(),
            |events| {
                let mut verifier = AuditVerifier::new(&keys);
                for e in events {
                    verifier.event(e);
                }
                black_box(verifier.finish())
            },
            BatchSize::LargeInput,
        );
    });
    g.finish();
}

fn passwords(c: &mut Criterion) {
    let hasher = PasswordHasher::new(mfa_core::crypto::Argon2Params::default()).unwrap();
    let password = SecretString::from("correct horse battery staple");
    let phc = hasher.hash(&password).unwrap();
    let mut g = c.benchmark_group("argon2id_owasp");
    g.sample_size(10);
    g.bench_function("verify", |b| {
        b.iter(|| black_box(hasher.verify(&password, &phc).unwrap()));
    });
    g.finish();
}

/// A passkey assertion's verification (the relying party's check of the
/// client data, authenticator data and ES256 signature, after parsing the
/// browser's JSON) beside a TOTP verification with its seed opened: the
/// two second factors' cryptographic cost.
fn passkey(c: &mut Criterion) {
    let rig = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(mfa_core::testing::passkey_rig::PasskeyRig::new());
    let assertion = rig.assertion.to_string();

    let secret = TotpSecret::generate(mfa_core::model::TotpAlgorithm::Sha1);
    let keys = KeyRing::generate();
    let (user, factor) = (UserId::new(), FactorId::new());
    let sealed = keys
        .seal(secret.expose(), &Aad::factor(user, factor))
        .unwrap();
    let code_text = Totp::new(
        TotpSecret::from_bytes(secret.expose().to_vec()).unwrap(),
        TotpParams::default(),
        "bench",
        "user",
    )
    .unwrap()
    .generate_at(NOW)
    .unwrap()
    .expose()
    .to_owned();

    let mut g = c.benchmark_group("second_factor_verify");
    g.bench_function("baseline_totp_open_seed_then_verify", |b| {
        b.iter(|| open_seed_then_verify(&keys, &sealed, (user, factor), &code_text));
    });
    g.bench_function("passkey_parse_json_then_verify_assertion", |b| {
        b.iter(|| rig.check_assertion(black_box(&assertion)).unwrap());
    });
    // What `answer_push` does with an app's answer before the store: parse
    // the JSON strictly, then check the signature with the device key.
    for (name, app) in [
        (
            "push_parse_json_then_verify_answer_ed25519",
            TestPushApp::ed25519(),
        ),
        (
            "push_parse_json_then_verify_answer_p256",
            TestPushApp::p256(),
        ),
    ] {
        let answer = app
            .answer(uuid::Uuid::new_v4(), 42, PushDecision::Approve, NOW, true)
            .to_json();
        let key = app.public_key().clone();
        g.bench_function(name, |b| {
            b.iter(|| {
                let signed = SignedPushAnswer::from_json(black_box(&answer)).unwrap();
                black_box(signed.verify(&key).unwrap().number)
            });
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    totp,
    passkey,
    otp,
    backup_codes,
    jwt,
    refresh_rotation,
    sealing,
    audit_chain,
    passwords
);
criterion_main!(benches);

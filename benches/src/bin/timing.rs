//! dudect-style timing measurements for the timing requirements R52
//! (constant-time comparison), R53 (no enumeration by timing) and R25 (a
//! locked account answers right and wrong codes alike).
//!
//! The method is dudect's (Reparaz, Balasch, Verbauwhede, "Dude, is my code
//! constant time?", 2017): two classes of input, many samples taken in a
//! random class order, each timed on its own with [`Instant`]; the samples
//! are cropped at a series of percentiles (`1 - 0.5^(10·(i+1)/100)`,
//! i = 0..100) to cut the long tail of interrupts and scheduling, and
//! Welch's t statistic compares the classes for every cropping, for the
//! uncropped set and for the second-order (centred, squared) samples. A
//! maximum |t| below 4.5 (dudect's threshold) means no leak was detected
//! with N samples; it does not prove that none exists.
//!
//! Inputs are built before the first timed call, by the same code for both
//! classes (class-specific preparation just before a call biased one early
//! run by a few nanoseconds); only the call under test is timed, and state
//! resets between engine calls (failure counters) are the same for both
//! classes. Nothing here is an assertion
//! in `cargo test`: the output is a measurement reported in
//! `docs/security.md`.
//!
//! ```text
//! cargo run --release -p mfa-benches --bin timing -- [--samples N]
//!     [--login-samples N] [--case SUBSTRING] [--json out.json]
//! ```
#![forbid(unsafe_code)]

use mfa_benches::Bench;
use mfa_core::clock::Clock;
use mfa_core::crypto::{
    Aad, ExposeSecret, KeyRing, OtpCode, SecretString, Totp, TotpAlgorithm, TotpCode, TotpParams,
    TotpSecret,
};
use mfa_core::model::{ChallengeId, FactorId, FactorKind, LockScope, UserId};
use mfa_core::store::UserRepository;
use mfa_core::{LoginRequest, MfaError, NewUser, VerifyRequest};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

/// dudect's threshold: |t| above it means the classes differ.
const T_THRESHOLD: f64 = 4.5;
/// dudect's number of percentile croppings.
const PERCENTILES: usize = 100;
/// Digits of the codes under test.
const DIGITS: u8 = 6;
/// Crockford base32, the backup-code alphabet.
const CROCKFORD: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// The unpadded base64url alphabet of opaque tokens.
const BASE64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// ---------------------------------------------------------------- randomness

/// SplitMix64, seeded from a v4 UUID: the class order and the inputs need
/// to be unpredictable to the code under test, not cryptographic.
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let seed = uuid::Uuid::new_v4().as_u128();
        Self((seed ^ (seed >> 64)) as u64)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (n small; the modulo bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn class(&mut self) -> usize {
        usize::from(self.next() & 1 == 1)
    }
}

// ---------------------------------------------------------------- statistics

/// Welford's online mean and variance for two classes, and Welch's t.
#[derive(Default, Clone, Copy)]
struct TTest {
    n: [f64; 2],
    mean: [f64; 2],
    m2: [f64; 2],
}

impl TTest {
    fn push(&mut self, x: f64, class: usize) {
        self.n[class] += 1.0;
        let delta = x - self.mean[class];
        self.mean[class] += delta / self.n[class];
        self.m2[class] += delta * (x - self.mean[class]);
    }

    fn total(&self) -> f64 {
        self.n[0] + self.n[1]
    }

    fn t(&self) -> f64 {
        if self.n[0] < 2.0 || self.n[1] < 2.0 {
            return 0.0;
        }
        let var0 = self.m2[0] / (self.n[0] - 1.0);
        let var1 = self.m2[1] / (self.n[1] - 1.0);
        let den = (var0 / self.n[0] + var1 / self.n[1]).sqrt();
        if den == 0.0 {
            0.0
        } else {
            (self.mean[0] - self.mean[1]) / den
        }
    }
}

fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => f64::midpoint(sorted[n / 2 - 1], sorted[n / 2]),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64) * p) as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The samples of one case: class and nanoseconds, in measurement order,
/// and the public answers each class got.
#[derive(Default)]
struct Samples {
    times: Vec<(usize, f64)>,
    answers: [BTreeMap<String, usize>; 2],
}

impl Samples {
    fn record(&mut self, class: usize, started: Instant, answer: &str) {
        let ns = started.elapsed().as_nanos() as f64;
        self.times.push((class, ns));
        *self.answers[class].entry(answer.to_owned()).or_default() += 1;
    }
}

/// What a case found.
struct Analysis {
    n: [usize; 2],
    t_uncropped: f64,
    t_second_order: f64,
    max_t: f64,
    max_t_test: String,
    medians_ns: [f64; 2],
    paired_diff_pct: f64,
}

impl Analysis {
    fn leak(&self) -> bool {
        self.max_t.abs() >= T_THRESHOLD
    }

    /// Class 1 against class 0 in percent, from the medians of each class.
    fn median_diff_pct(&self) -> f64 {
        (self.medians_ns[1] - self.medians_ns[0]) / self.medians_ns[0] * 100.0
    }
}

fn analyse(samples: &Samples) -> Analysis {
    let times = &samples.times;
    let mut all: Vec<f64> = times.iter().map(|(_, ns)| *ns).collect();
    all.sort_by(f64::total_cmp);
    let thresholds: Vec<f64> = (0..PERCENTILES)
        .map(|i| {
            percentile(
                &all,
                1.0 - 0.5_f64.powf(10.0 * (i + 1) as f64 / PERCENTILES as f64),
            )
        })
        .collect();
    let mut uncropped = TTest::default();
    let mut cropped = vec![TTest::default(); PERCENTILES];
    for &(class, ns) in times {
        uncropped.push(ns, class);
        for (test, limit) in cropped.iter_mut().zip(&thresholds) {
            if ns < *limit {
                test.push(ns, class);
            }
        }
    }
    let mut second = TTest::default();
    for &(class, ns) in times {
        let centred = ns - uncropped.mean[class];
        second.push(centred * centred, class);
    }
    // dudect only reports tests with enough measurements (10 000); with
    // fewer samples, a tenth of them, but at least 100.
    let enough = (times.len() / 10).clamp(100, 10_000) as f64;
    let mut max_t = uncropped.t();
    let mut max_t_test = "uncropped".to_owned();
    for (i, test) in cropped.iter().enumerate() {
        if test.total() >= enough && test.t().abs() > max_t.abs() {
            max_t = test.t();
            let p = 1.0 - 0.5_f64.powf(10.0 * (i + 1) as f64 / PERCENTILES as f64);
            max_t_test = format!("crop p{:.1}", p * 100.0);
        }
    }
    if second.t().abs() > max_t.abs() {
        max_t = second.t();
        max_t_test = "second order".to_owned();
    }
    let mut per_class: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for &(class, ns) in times {
        per_class[class].push(ns);
    }
    for v in &mut per_class {
        v.sort_by(f64::total_cmp);
    }
    Analysis {
        paired_diff_pct: paired_diff_pct(times),
        n: [per_class[0].len(), per_class[1].len()],
        t_uncropped: uncropped.t(),
        t_second_order: second.t(),
        max_t,
        max_t_test,
        medians_ns: [median(&per_class[0]), median(&per_class[1])],
    }
}

/// Class 1 against class 0 in percent, as the median over neighbouring
/// samples of opposite classes (each sample in at most one pair): a slow
/// drift of the machine's load cancels within a pair, where it can shift
/// the per-class medians apart.
fn paired_diff_pct(times: &[(usize, f64)]) -> f64 {
    let mut diffs = Vec::new();
    let mut i = 0;
    while i + 1 < times.len() {
        let ((ca, a), (cb, b)) = (times[i], times[i + 1]);
        if ca == cb {
            i += 1;
            continue;
        }
        let (zero, one) = if ca == 0 { (a, b) } else { (b, a) };
        diffs.push((one - zero) / zero * 100.0);
        i += 2;
    }
    diffs.sort_by(f64::total_cmp);
    median(&diffs)
}

// ---------------------------------------------------------------- cases

/// One measured case.
struct Case {
    name: &'static str,
    requirement: &'static str,
    classes: [&'static str; 2],
    samples: Samples,
    /// Extra facts checked by the case (sanity checks), reported as they are.
    notes: Vec<String>,
}

/// The answer an engine call gives, as its public error code.
fn answer<T>(result: &Result<T, MfaError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

/// `code` with the digit at `pos` replaced by another digit.
fn with_wrong_digit(code: &str, pos: usize, rng: &mut Rng) -> String {
    let mut bytes = code.as_bytes().to_vec();
    let old = bytes[pos] - b'0';
    let shift = 1 + u8::try_from(rng.below(9)).unwrap_or(0);
    bytes[pos] = b'0' + (old + shift) % 10;
    String::from_utf8(bytes).unwrap_or_default()
}

/// Position of the wrong character for a class: first or last.
fn position(class: usize, len: usize) -> usize {
    if class == 0 { 0 } else { len - 1 }
}

fn digit_classes() -> [&'static str; 2] {
    ["first digit wrong", "last digit wrong"]
}

fn char_classes() -> [&'static str; 2] {
    ["first char wrong", "last char wrong"]
}

/// R52: `Totp::verify_at` (window ±1) with the first or the last digit of
/// the current code wrong.
fn totp_verify_at(n: usize, rng: &mut Rng) -> Case {
    let totp = Totp::new(
        TotpSecret::generate(TotpAlgorithm::Sha1),
        TotpParams::default(),
        "timing",
        "user",
    )
    .expect("totp");
    let inputs = totp_inputs(&totp, n, rng);
    let mut samples = Samples::default();
    for (i, (class, code, at)) in inputs.iter().enumerate() {
        let started = Instant::now();
        let result = black_box(totp.verify_at(black_box(code), *at, 1));
        let got = match result {
            Ok(None) => "rejected",
            Ok(Some(_)) => "ACCEPTED",
            Err(_) => "error",
        };
        if i >= warmup(n) {
            samples.record(*class, started, got);
        }
    }
    Case {
        name: "r52_totp_verify_at",
        requirement: "R52",
        classes: digit_classes(),
        samples,
        notes: vec!["Totp::verify_at, SHA-1, 6 digits, skew 1 (3 steps)".into()],
    }
}

/// Samples for TOTP cases: class, a wrong code (parsed) and the time. A
/// wrong code that happens to match another step of the window is drawn
/// again, for both classes alike.
fn totp_inputs(totp: &Totp, n: usize, rng: &mut Rng) -> Vec<(usize, TotpCode, i64)> {
    (0..n + warmup(n))
        .map(|_| {
            let class = rng.class();
            let at = 1_700_000_000 + i64::try_from(rng.below(100_000_000)).unwrap_or(0);
            let window: Vec<String> = [-30, 0, 30]
                .iter()
                .map(|d| totp.generate_at(at + d).expect("code").expose().to_owned())
                .collect();
            let wrong = loop {
                let w = with_wrong_digit(&window[1], position(class, DIGITS.into()), rng);
                if !window.contains(&w) {
                    break w;
                }
            };
            (class, TotpCode::parse(&wrong, DIGITS).expect("code"), at)
        })
        .collect()
}

/// Warm-up samples run before measuring, discarded (dudect drops its first
/// batches too).
fn warmup(n: usize) -> usize {
    (n / 10).max(10)
}

/// R52: the engine's sealed TOTP path without the store: open the sealed
/// seed, build the TOTP, parse the typed code, check the window (what
/// `Inner::check_totp` does before it touches the store).
fn totp_sealed(n: usize, rng: &mut Rng) -> Case {
    let keys = KeyRing::generate();
    let (user, factor) = (UserId::new(), FactorId::new());
    let secret = TotpSecret::generate(TotpAlgorithm::Sha1);
    let aad = Aad::factor(user, factor);
    let sealed = keys.seal(secret.expose(), &aad).expect("seal");
    let totp = Totp::new(secret, TotpParams::default(), "timing", "user").expect("totp");
    let inputs: Vec<(usize, String, i64)> = totp_inputs(&totp, n, rng)
        .into_iter()
        .map(|(class, code, at)| (class, code.expose().to_owned(), at))
        .collect();
    let mut samples = Samples::default();
    for (i, (class, typed, at)) in inputs.iter().enumerate() {
        let started = Instant::now();
        let result = (|| {
            let seed = keys.open(&sealed, &aad).ok()?;
            let secret = TotpSecret::from_bytes(seed.expose().to_vec()).ok()?;
            let totp = Totp::new(secret, TotpParams::default(), "timing", "user").ok()?;
            let code = TotpCode::parse(black_box(typed), DIGITS).ok()?;
            totp.verify_at(&code, *at, 1).ok()
        })();
        let got = match black_box(result) {
            Some(None) => "rejected",
            Some(Some(_)) => "ACCEPTED",
            None => "error",
        };
        if i >= warmup(n) {
            samples.record(*class, started, got);
        }
    }
    Case {
        name: "r52_totp_sealed_path",
        requirement: "R52",
        classes: digit_classes(),
        samples,
        notes: vec!["KeyRing::open + Totp::new + TotpCode::parse + verify_at".into()],
    }
}

/// R52: an email/SMS code: parse and `KeyRing::verify_otp` against the
/// stored digest of the right code.
fn otp_verify(n: usize, rng: &mut Rng) -> Case {
    let keys = KeyRing::generate();
    let inputs: Vec<_> = (0..n + warmup(n))
        .map(|_| {
            let class = rng.class();
            let challenge = ChallengeId::new();
            let right = OtpCode::generate(DIGITS).expect("code");
            let stored = keys.hash_otp(challenge, &right);
            let wrong = with_wrong_digit(right.expose(), position(class, DIGITS.into()), rng);
            (class, challenge, wrong, stored)
        })
        .collect();
    let mut samples = Samples::default();
    for (i, (class, challenge, typed, stored)) in inputs.iter().enumerate() {
        let started = Instant::now();
        let ok = OtpCode::parse(black_box(typed), DIGITS)
            .is_ok_and(|code| keys.verify_otp(*challenge, &code, stored));
        let got = if black_box(ok) {
            "ACCEPTED"
        } else {
            "rejected"
        };
        if i >= warmup(n) {
            samples.record(*class, started, got);
        }
    }
    Case {
        name: "r52_otp_verify",
        requirement: "R52",
        classes: digit_classes(),
        samples,
        notes: vec!["OtpCode::parse + KeyRing::verify_otp, 6 digits".into()],
    }
}

/// A signed-in bench user with TOTP, a ticket for the second step, and a
/// way to clear its failure counter between samples (outside the timed
/// region, so every sample is evaluated, none refused by a lock).
struct Second {
    user: mfa_benches::EnrolledUser,
    ticket: String,
}

impl Second {
    async fn new(bench: &Bench, n: usize) -> Self {
        let user = bench.enrolled_user(n).await;
        let ticket = bench.ticket(&user).await;
        Self { user, ticket }
    }

    async fn clear_failures(&self, bench: &Bench) {
        bench
            .store
            .reset_failures(self.user.id, LockScope::Mfa)
            .await
            .expect("reset_failures");
    }

    async fn verify(&self, bench: &Bench, method: FactorKind, code: &str) -> &'static str {
        let result = bench
            .mfa
            .verify(VerifyRequest {
                ticket: &self.ticket,
                method,
                code,
                remember_device: false,
                client: &bench.client,
            })
            .await;
        answer(&result)
    }
}

/// R52: `Mfa::verify` with a TOTP code whose first or last digit is wrong
/// (memory store), failures cleared between samples.
async fn engine_totp(n: usize, rng: &mut Rng) -> Case {
    let bench = Bench::new(true);
    let second = Second::new(&bench, 1).await;
    bench.next_step();
    let right = bench.totp_code(&second.user.secret);
    let window: Vec<String> = [-30, 30]
        .iter()
        .map(|d| totp_at(&second.user.secret, bench.clock.now().timestamp() + d))
        .chain([right.clone()])
        .collect();
    let inputs: Vec<(usize, String)> = (0..n + warmup(n))
        .map(|_| {
            let class = rng.class();
            let wrong = loop {
                let w = with_wrong_digit(&right, position(class, DIGITS.into()), rng);
                if !window.contains(&w) {
                    break w;
                }
            };
            (class, wrong)
        })
        .collect();
    let mut samples = Samples::default();
    for (i, (class, wrong)) in inputs.iter().enumerate() {
        second.clear_failures(&bench).await;
        let started = Instant::now();
        let got = second.verify(&bench, FactorKind::Totp, wrong).await;
        if i >= warmup(n) {
            samples.record(*class, started, got);
        }
    }
    Case {
        name: "r52_engine_verify_totp",
        requirement: "R52",
        classes: digit_classes(),
        samples,
        notes: vec![
            "Mfa::verify(Totp), memory store, failure counter reset between samples".into(),
        ],
    }
}

fn totp_at(secret: &SecretString, at: i64) -> String {
    Totp::new(
        TotpSecret::from_base32(secret.expose_secret()).expect("seed"),
        TotpParams::default(),
        "bench",
        "user",
    )
    .expect("totp")
    .generate_at(at)
    .expect("code")
    .expose()
    .to_owned()
}

/// `code` (Crockford base32, dashes dropped) with the character at `pos`
/// replaced by another character of the alphabet.
fn with_wrong_char(code: &str, pos: usize, alphabet: &[u8], rng: &mut Rng) -> String {
    let mut bytes = code.as_bytes().to_vec();
    let old = alphabet
        .iter()
        .position(|c| *c == bytes[pos])
        .expect("a character of the alphabet");
    let len = u64::try_from(alphabet.len()).unwrap_or(1);
    let shift = 1 + usize::try_from(rng.below(len - 1)).unwrap_or(0);
    bytes[pos] = alphabet[(old + shift) % alphabet.len()];
    String::from_utf8(bytes).unwrap_or_default()
}

/// R52: `Mfa::verify` with a backup code whose first or last character is
/// wrong.
async fn engine_backup(n: usize, rng: &mut Rng) -> Case {
    let bench = Bench::new(true);
    let second = Second::new(&bench, 1).await;
    let codes: Vec<String> = second
        .user
        .backup_codes
        .iter()
        .map(|c| {
            c.expose_secret()
                .chars()
                .filter(|c| *c != '-')
                .collect::<String>()
                .to_ascii_uppercase()
        })
        .collect();
    let inputs: Vec<(usize, String)> = (0..n + warmup(n))
        .map(|_| {
            let class = rng.class();
            let base = &codes[usize::try_from(rng.below(codes.len() as u64)).unwrap_or(0)];
            let wrong = with_wrong_char(base, position(class, base.len()), CROCKFORD, rng);
            (class, wrong)
        })
        .collect();
    let mut samples = Samples::default();
    for (i, (class, wrong)) in inputs.iter().enumerate() {
        second.clear_failures(&bench).await;
        let started = Instant::now();
        let got = second.verify(&bench, FactorKind::BackupCodes, wrong).await;
        if i >= warmup(n) {
            samples.record(*class, started, got);
        }
    }
    let left = bench
        .mfa
        .backup_codes_remaining(second.user.id)
        .await
        .expect("remaining");
    Case {
        name: "r52_engine_verify_backup_code",
        requirement: "R52",
        classes: char_classes(),
        samples,
        notes: vec![format!(
            "Mfa::verify(BackupCodes), 16-char codes; {left} of {} codes left afterwards",
            codes.len()
        )],
    }
}

/// Live sessions whose refresh tokens the refresh case alters. Many, so
/// both classes draw from equally varied inputs: with one token the
/// last-character class has only 15 variants (the character carries 4
/// bits) and the map lookup of those few digests times differently from
/// the 63 first-character variants, which is a property of the inputs, not
/// of the comparison.
const REFRESH_SESSIONS: usize = 256;

/// R52: `Mfa::refresh` with a live refresh token changed in its first or
/// last character (a lookup by digest; the tokens are never rotated, so
/// they stay live for every sample).
async fn engine_refresh(n: usize, rng: &mut Rng) -> Case {
    let bench = Bench::new(true);
    let user = bench.enrolled_user(1).await;
    let mut live = Vec::with_capacity(REFRESH_SESSIONS);
    for _ in 0..REFRESH_SESSIONS {
        live.push(bench.signed_in(&user).await.refresh_token);
    }
    // Every input is built before the first timed call (as dudect does), so
    // no class-specific preparation runs just before a measurement.
    let inputs: Vec<(usize, String)> = (0..n + warmup(n))
        .map(|_| {
            let class = rng.class();
            let base = &live[usize::try_from(rng.below(live.len() as u64)).unwrap_or(0)];
            let wrong = if class == 0 {
                with_wrong_char(base, 0, BASE64URL, rng)
            } else {
                // The last of 43 characters carries 4 bits and 2 zero bits:
                // change only the 4, so the token stays canonical.
                let mut bytes = base.as_bytes().to_vec();
                let last = bytes.len() - 1;
                let value = BASE64URL
                    .iter()
                    .position(|c| *c == bytes[last])
                    .expect("base64url");
                let mask = 4 * (1 + usize::try_from(rng.below(15)).unwrap_or(0));
                bytes[last] = BASE64URL[value ^ mask];
                String::from_utf8(bytes).unwrap_or_default()
            };
            (class, wrong)
        })
        .collect();
    let mut samples = Samples::default();
    for (i, (class, wrong)) in inputs.iter().enumerate() {
        let started = Instant::now();
        let got = answer(&bench.mfa.refresh(wrong, &bench.client).await);
        if i >= warmup(n) {
            samples.record(*class, started, got);
        }
    }
    let still_live = answer(&bench.mfa.refresh(&live[0], &bench.client).await);
    Case {
        name: "r52_engine_refresh_token",
        requirement: "R52",
        classes: char_classes(),
        samples,
        notes: vec![format!(
            "Mfa::refresh, memory store, {REFRESH_SESSIONS} live tokens; a live token still \
             refreshes afterwards: {still_live}"
        )],
    }
}

/// A wrong password of the same length for every login sample.
fn wrong_password() -> SecretString {
    SecretString::from("wrong password 456")
}

/// R53: `Mfa::login` with production argon2 parameters: an unknown
/// identifier against a known one with a wrong password (or, with
/// `locked`, a known one whose password is locked).
async fn login(n: usize, rng: &mut Rng, locked: bool) -> Case {
    let bench = Bench::new(false);
    let known = "known@bench.test";
    let user = bench
        .mfa
        .create_user(NewUser {
            identifier: known.into(),
            password: Some(SecretString::from("bench password 123")),
            contact: mfa_core::model::Contact::default(),
        })
        .await
        .expect("create_user");
    let request = |identifier: &str| LoginRequest {
        identifier: identifier.to_owned(),
        password: wrong_password(),
        client: bench.client.clone(),
    };
    let mut notes = Vec::new();
    if locked {
        let mut tries = 0;
        while answer(&bench.mfa.login(request(known)).await) == "invalid_credentials" {
            tries += 1;
            let stored = bench
                .store
                .get_user(user.id)
                .await
                .expect("get_user")
                .expect("user");
            if stored.password_failures.locked_until.is_some() || tries > 100 {
                break;
            }
        }
        notes.push(format!("password locked after {tries} wrong passwords"));
    }
    let mut samples = Samples::default();
    let warm = warmup(n).min(50);
    for i in 0..n + warm {
        let class = rng.class();
        if !locked {
            bench
                .store
                .reset_failures(user.id, LockScope::Password)
                .await
                .expect("reset_failures");
        }
        let req = request(if class == 0 {
            "nobody@bench.test"
        } else {
            known
        });
        let started = Instant::now();
        let got = answer(&bench.mfa.login(req).await);
        if i >= warm {
            samples.record(class, started, got);
        }
    }
    notes.push("argon2id production parameters (PasswordHasher default)".into());
    Case {
        name: if locked {
            "r53_login_unknown_vs_locked"
        } else {
            "r53_login_unknown_vs_wrong_password"
        },
        requirement: "R53",
        classes: if locked {
            ["unknown identifier", "known, password locked"]
        } else {
            ["unknown identifier", "known, wrong password"]
        },
        samples,
        notes,
    }
}

/// R53: the second step for a user with TOTP: a wrong TOTP code against a
/// method the user lacks (email), on the same ticket.
async fn verify_missing_method(n: usize, rng: &mut Rng) -> Case {
    let bench = Bench::new(true);
    let second = Second::new(&bench, 1).await;
    bench.next_step();
    let right = bench.totp_code(&second.user.secret);
    let mut samples = Samples::default();
    for i in 0..n + warmup(n) {
        let class = rng.class();
        let wrong = loop {
            let w = with_wrong_digit(&right, position(1, DIGITS.into()), rng);
            if w != right {
                break w;
            }
        };
        let method = if class == 0 {
            FactorKind::Totp
        } else {
            FactorKind::Email
        };
        second.clear_failures(&bench).await;
        let started = Instant::now();
        let got = second.verify(&bench, method, &wrong).await;
        if i >= warmup(n) {
            samples.record(class, started, got);
        }
    }
    Case {
        name: "r53_verify_wrong_code_vs_missing_method",
        requirement: "R53",
        classes: ["wrong TOTP code", "method not enrolled (email)"],
        samples,
        notes: vec!["Mfa::verify on one ticket of a TOTP user".into()],
    }
}

/// Locks the second factor of `second` with wrong codes.
async fn lock_second_factor(bench: &Bench, second: &Second) -> usize {
    let mut tries = 0;
    while second.verify(bench, FactorKind::Totp, "000000").await == "invalid_code" && tries < 200 {
        tries += 1;
    }
    tries
}

/// R53: the second step: a wrong code for an unlocked user against a wrong
/// code for a locked user.
async fn verify_locked_user(n: usize, rng: &mut Rng) -> Case {
    let bench = Bench::new(true);
    let open = Second::new(&bench, 1).await;
    let locked = Second::new(&bench, 2).await;
    let tries = lock_second_factor(&bench, &locked).await;
    bench.next_step();
    let mut samples = Samples::default();
    for i in 0..n + warmup(n) {
        let class = rng.class();
        let who = if class == 0 { &open } else { &locked };
        let right = bench.totp_code(&who.user.secret);
        let wrong = with_wrong_digit(&right, position(1, DIGITS.into()), rng);
        open.clear_failures(&bench).await;
        let started = Instant::now();
        let got = who.verify(&bench, FactorKind::Totp, &wrong).await;
        if i >= warmup(n) {
            samples.record(class, started, got);
        }
    }
    Case {
        name: "r53_verify_wrong_code_vs_locked_user",
        requirement: "R53",
        classes: ["wrong code, not locked", "wrong code, locked"],
        samples,
        notes: vec![format!("second user locked after {tries} wrong codes")],
    }
}

/// R25: while the second factor is locked, the right TOTP code against a
/// wrong one. Afterwards the lock is cleared and the "right" code is shown
/// to be right.
async fn locked_right_vs_wrong(n: usize, rng: &mut Rng) -> Case {
    let bench = Bench::new(true);
    let second = Second::new(&bench, 1).await;
    let tries = lock_second_factor(&bench, &second).await;
    bench.next_step();
    let right = bench.totp_code(&second.user.secret);
    let inputs: Vec<(usize, String)> = (0..n + warmup(n))
        .map(|_| {
            let class = rng.class();
            let wrong = with_wrong_digit(&right, position(1, DIGITS.into()), rng);
            (class, if class == 0 { right.clone() } else { wrong })
        })
        .collect();
    let mut samples = Samples::default();
    for (i, (class, code)) in inputs.iter().enumerate() {
        let started = Instant::now();
        let got = second.verify(&bench, FactorKind::Totp, code).await;
        if i >= warmup(n) {
            samples.record(*class, started, got);
        }
    }
    second.clear_failures(&bench).await;
    let after = second.verify(&bench, FactorKind::Totp, &right).await;
    Case {
        name: "r25_locked_right_vs_wrong_code",
        requirement: "R25",
        classes: ["right code", "wrong code"],
        samples,
        notes: vec![format!(
            "locked after {tries} wrong codes; the right code once unlocked: {after}"
        )],
    }
}

// ---------------------------------------------------------------- output

struct Args {
    samples: usize,
    login_samples: usize,
    case: Option<String>,
    json: Option<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        samples: 100_000,
        login_samples: 1_200,
        case: None,
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--samples" => args.samples = value().parse().unwrap_or_else(|_| usage("--samples N")),
            "--login-samples" => {
                args.login_samples = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--login-samples N"));
            }
            "--case" => args.case = Some(value()),
            "--json" => args.json = Some(value()),
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    args
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("timing: {problem}");
    }
    eprintln!(
        "usage: timing [--samples N (default 100000)] [--login-samples N (default 1200)] \
         [--case SUBSTRING] [--json FILE]"
    );
    std::process::exit(2);
}

fn answers_text(answers: &BTreeMap<String, usize>) -> String {
    answers
        .iter()
        .map(|(a, n)| format!("{a}×{n}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn report(case: &Case, a: &Analysis, seconds: f64) -> serde_json::Value {
    let same_answer = case.samples.answers[0]
        .keys()
        .eq(case.samples.answers[1].keys());
    let verdict = if a.leak() {
        "LEAK (|t| >= 4.5)"
    } else {
        "no leak detected"
    };
    println!(
        "{:<40} {:<4} N={:>6}/{:<6} max|t|={:>7.2} ({:<13}) t0={:>6.2} t2={:>6.2}  \
         median {:>10.0} / {:<10.0} ns  Δ={:>+7.2}% (paired {:>+6.2}%)  {}{}  [{:.0}s]",
        case.name,
        case.requirement,
        a.n[0],
        a.n[1],
        a.max_t.abs(),
        a.max_t_test,
        a.t_uncropped,
        a.t_second_order,
        a.medians_ns[0],
        a.medians_ns[1],
        a.median_diff_pct(),
        a.paired_diff_pct,
        verdict,
        if same_answer {
            String::new()
        } else {
            format!(
                "; ANSWERS DIFFER: {} vs {}",
                answers_text(&case.samples.answers[0]),
                answers_text(&case.samples.answers[1])
            )
        },
        seconds,
    );
    println!(
        "    classes: {:?} vs {:?}; answers: {} | {}",
        case.classes[0],
        case.classes[1],
        answers_text(&case.samples.answers[0]),
        answers_text(&case.samples.answers[1])
    );
    for note in &case.notes {
        println!("    {note}");
    }
    serde_json::json!({
        "case": case.name,
        "requirement": case.requirement,
        "classes": case.classes,
        "samples": a.n,
        "max_abs_t": a.max_t.abs(),
        "max_t_test": a.max_t_test,
        "t_uncropped": a.t_uncropped,
        "t_second_order": a.t_second_order,
        "median_ns": a.medians_ns,
        "median_diff_pct": a.median_diff_pct(),
        "median_diff_ms": (a.medians_ns[1] - a.medians_ns[0]) / 1e6,
        "paired_median_diff_pct": a.paired_diff_pct,
        "threshold": T_THRESHOLD,
        "leak_detected": a.leak(),
        "verdict": verdict,
        "answers": case.samples.answers,
        "same_public_answer": same_answer,
        "notes": case.notes,
        "seconds": seconds,
    })
}

/// The smallest step `Instant` shows between two readings.
fn timer_resolution_ns() -> u128 {
    (0..1000)
        .filter_map(|_| {
            let a = Instant::now();
            loop {
                let step = a.elapsed().as_nanos();
                if step > 0 {
                    return Some(step);
                }
            }
        })
        .min()
        .unwrap_or(0)
}

fn main() {
    let args = parse_args();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut rng = Rng::new();
    let wanted = |name: &str| args.case.as_deref().is_none_or(|c| name.contains(c));
    let (n, slow) = (args.samples, args.login_samples);
    let resolution = timer_resolution_ns();
    println!(
        "dudect-style timing: threshold |t| < {T_THRESHOLD}; classes in random order; \
         {n} samples per fast case, {slow} per argon2 case; timer step ~{resolution} ns; \
         preliminary (shared machine)"
    );
    type Run<'a> = Box<dyn FnOnce(&mut Rng) -> Case + 'a>;
    let rt = &runtime;
    let cases: Vec<(&str, Run<'_>)> = vec![
        ("r52_totp_verify_at", Box::new(|r| totp_verify_at(n, r))),
        ("r52_totp_sealed_path", Box::new(|r| totp_sealed(n, r))),
        ("r52_otp_verify", Box::new(|r| otp_verify(n, r))),
        (
            "r52_engine_verify_totp",
            Box::new(|r| rt.block_on(engine_totp(n, r))),
        ),
        (
            "r52_engine_verify_backup_code",
            Box::new(|r| rt.block_on(engine_backup(n, r))),
        ),
        (
            "r52_engine_refresh_token",
            Box::new(|r| rt.block_on(engine_refresh(n, r))),
        ),
        (
            "r53_login_unknown_vs_wrong_password",
            Box::new(|r| rt.block_on(login(slow, r, false))),
        ),
        (
            "r53_login_unknown_vs_locked",
            Box::new(|r| rt.block_on(login(slow, r, true))),
        ),
        (
            "r53_verify_wrong_code_vs_missing_method",
            Box::new(|r| rt.block_on(verify_missing_method(n, r))),
        ),
        (
            "r53_verify_wrong_code_vs_locked_user",
            Box::new(|r| rt.block_on(verify_locked_user(n, r))),
        ),
        (
            "r25_locked_right_vs_wrong_code",
            Box::new(|r| rt.block_on(locked_right_vs_wrong(n, r))),
        ),
    ];
    let mut results = Vec::new();
    for (name, run) in cases {
        if !wanted(name) {
            continue;
        }
        let started = Instant::now();
        let case = run(&mut rng);
        let analysis = analyse(&case.samples);
        results.push(report(&case, &analysis, started.elapsed().as_secs_f64()));
    }
    if let Some(path) = &args.json {
        let out = serde_json::json!({
            "method": "dudect: random class order, percentile crops 1-0.5^(10(i+1)/100), Welch t, threshold 4.5",
            "samples": n,
            "login_samples": slow,
            "timer_resolution_ns": resolution,
            "cases": results,
        });
        std::fs::write(
            path,
            serde_json::to_string_pretty(&out).expect("json") + "\n",
        )
        .expect("write --json file");
        println!("wrote {path}");
    }
}

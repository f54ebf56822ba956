//! The spans a subscriber sees (`mfa_core::observability`): a sign-in on
//! the memory store (password, a wrong TOTP code, the right one, a
//! refresh) run under a subscriber that records every span, its fields
//! and every event, then checked for names, users, outcomes, counts, the
//! store spans, and that no secret reached a recorded value.

use mfa_core::LoginRequest;
use mfa_core::crypto::ExposeSecret;
use mfa_core::model::{FactorKind, UserId};
use mfa_core::testing::flow::harness::{Harness, contains_token, expect_err};
use mfa_store_memory::MemoryStore;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Instrument, Level, Subscriber};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// One span as the subscriber saw it.
#[derive(Debug, Clone)]
struct SeenSpan {
    name: &'static str,
    level: Level,
    target: String,
    /// Index of the parent span in the capture.
    parent: Option<usize>,
    /// The last value of each recorded field.
    fields: BTreeMap<&'static str, String>,
    /// How many times each field was recorded.
    records: BTreeMap<&'static str, usize>,
}

impl SeenSpan {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// Everything the subscriber saw: spans in creation order, and every
/// value recorded (span fields and event fields alike).
#[derive(Debug, Default)]
struct Seen {
    spans: Vec<SeenSpan>,
    values: Vec<String>,
}

/// A layer that keeps what it sees in a shared [`Seen`].
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Seen>>);

/// The index of a span in [`Seen::spans`], kept in the span's extensions.
struct Index(usize);

/// Collects field values as text.
#[derive(Default)]
struct Values(Vec<(&'static str, String)>);

impl Visit for Values {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push((field.name(), format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name(), value.to_owned()));
    }
}

impl Recorder {
    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<S> Layer<S> for Recorder
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut values = Values::default();
        attrs.record(&mut values);
        let span = ctx.span(id).expect("a new span is in the registry");
        let parent = span
            .parent()
            .and_then(|p| p.extensions().get::<Index>().map(|i| i.0));
        let mut seen = self.seen();
        let mut record = SeenSpan {
            name: attrs.metadata().name(),
            level: *attrs.metadata().level(),
            target: attrs.metadata().target().to_owned(),
            parent,
            fields: BTreeMap::new(),
            records: BTreeMap::new(),
        };
        for (name, value) in values.0 {
            *record.records.entry(name).or_default() += 1;
            record.fields.insert(name, value.clone());
            seen.values.push(value);
        }
        seen.spans.push(record);
        let index = seen.spans.len() - 1;
        span.extensions_mut().insert(Index(index));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(index) = ctx
            .span(id)
            .and_then(|s| s.extensions().get::<Index>().map(|i| i.0))
        else {
            return;
        };
        let mut recorded = Values::default();
        values.record(&mut recorded);
        let mut seen = self.seen();
        for (name, value) in recorded.0 {
            let span = &mut seen.spans[index];
            *span.records.entry(name).or_default() += 1;
            span.fields.insert(name, value.clone());
            seen.values.push(value);
        }
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut values = Values::default();
        event.record(&mut values);
        self.seen()
            .values
            .extend(values.0.into_iter().map(|(_, v)| v));
    }
}

/// What the sign-in used, all of which must stay out of the spans.
struct Secrets {
    user: UserId,
    /// Texts that must not appear anywhere in a recorded value.
    long: Vec<String>,
    /// Short numeric codes: must not appear as a whole token.
    codes: Vec<String>,
}

/// Runs `flow` on a current-thread runtime with `subscriber` as the
/// default, so it is the default at every poll.
fn run_under<S, F>(subscriber: S, flow: F) -> F::Output
where
    S: Subscriber + Send + Sync + 'static,
    F: Future,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    tracing::subscriber::with_default(subscriber, || runtime.block_on(flow))
}

/// Runs, under the recording subscriber: a user with an authenticator
/// app, a password sign-in, a wrong TOTP code, the right one, and a
/// refresh.
fn sign_in_with_a_wrong_code_first() -> (Seen, Secrets) {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    let secrets = run_under(subscriber, async {
        let h = Harness::new(Arc::new(MemoryStore::new()));
        let alice = h.user_with_totp("alice").await;
        h.next_step();
        let ticket = h.mfa_ticket(&alice.user).await;
        let right = h.totp_code(&alice.secret);
        let wrong = h.totp_code_at(&alice.secret, 5);
        assert_ne!(right, wrong);
        expect_err(
            h.verify(&ticket, FactorKind::Totp, &wrong).await,
            "invalid_code",
        );
        let verified = h
            .verify(&ticket, FactorKind::Totp, &right)
            .await
            .expect("the right code signs in");
        let refreshed = h
            .mfa
            .refresh(&verified.tokens.refresh_token, &h.client())
            .await
            .expect("the refresh token rotates");
        let mut long = vec![
            alice.user.password.expose_secret().to_owned(),
            alice.secret.expose_secret().to_owned(),
            alice.user.email.clone(),
            alice.user.phone.clone(),
            ticket,
            verified.tokens.access_token,
            verified.tokens.refresh_token,
            refreshed.access_token,
            refreshed.refresh_token,
        ];
        long.extend(
            alice
                .backup_codes
                .iter()
                .map(|c| c.expose_secret().to_owned()),
        );
        Secrets {
            user: alice.user.id,
            long,
            codes: vec![right, wrong],
        }
    });
    let seen = std::mem::take(&mut *recorder.seen());
    (seen, secrets)
}

fn named<'a>(seen: &'a Seen, name: &str) -> Vec<&'a SeenSpan> {
    seen.spans.iter().filter(|s| s.name == name).collect()
}

#[test]
fn steps_record_their_user_method_and_outcome() {
    let (seen, secrets) = sign_in_with_a_wrong_code_first();
    let user = secrets.user.to_string();

    let logins = named(&seen, "mfa.login");
    let login = logins.last().expect("a login span");
    assert_eq!(login.level, Level::INFO);
    assert!(login.target.starts_with("mfa_core"), "{}", login.target);
    assert_eq!(login.field("user_id"), Some(user.as_str()));
    assert_eq!(login.field("outcome"), Some("success"));
    assert_eq!(login.field("code"), None);
    assert_eq!(login.field("method"), None);

    let verifies = named(&seen, "mfa.verify");
    let [refused, accepted] = verifies.as_slice() else {
        panic!("two verify spans, got {verifies:?}");
    };
    for span in [refused, accepted] {
        assert_eq!(span.field("user_id"), Some(user.as_str()));
        assert_eq!(span.field("method"), Some("totp"));
        assert_eq!(span.field("attempts"), Some("1"));
    }
    assert_eq!(refused.field("outcome"), Some("refused"));
    assert_eq!(refused.field("code"), Some("invalid_code"));
    assert_eq!(accepted.field("outcome"), Some("success"));
    assert_eq!(accepted.field("code"), None);

    let refreshes = named(&seen, "mfa.refresh");
    let [refresh] = refreshes.as_slice() else {
        panic!("one refresh span, got {refreshes:?}");
    };
    assert_eq!(refresh.field("user_id"), Some(user.as_str()));
    assert_eq!(refresh.field("outcome"), Some("success"));

    let confirms = named(&seen, "mfa.confirm_factor");
    let [confirm] = confirms.as_slice() else {
        panic!("one confirm_factor span, got {confirms:?}");
    };
    assert_eq!(
        confirm.field("method"),
        Some("totp"),
        "learnt from the factor"
    );
}

#[test]
fn a_field_is_recorded_once_per_step() {
    let (seen, _) = sign_in_with_a_wrong_code_first();
    let steps: Vec<&SeenSpan> = seen
        .spans
        .iter()
        .filter(|s| s.name.starts_with("mfa.") && s.name != "mfa.store")
        .collect();
    assert!(steps.len() >= 8, "{steps:?}");
    for step in steps {
        for (field, times) in &step.records {
            assert_eq!(*times, 1, "{} recorded `{field}` {times} times", step.name);
        }
        assert!(step.field("outcome").is_some(), "{step:?}");
        assert!(step.field("store_calls").is_some(), "{step:?}");
    }
}

#[test]
fn store_operations_are_debug_spans_counted_in_their_step() {
    let (seen, _) = sign_in_with_a_wrong_code_first();
    let stores = named(&seen, "mfa.store");
    assert!(!stores.is_empty());
    for store in &stores {
        assert_eq!(store.level, Level::DEBUG);
        assert!(store.target.starts_with("mfa_store_memory"), "{store:?}");
        assert_eq!(store.field("backend"), Some("memory"));
        assert!(store.field("op").is_some_and(|op| !op.is_empty()));
        let parent = store.parent.map(|p| seen.spans[p].name);
        assert!(
            parent.is_some_and(|p| p.starts_with("mfa.") && p != "mfa.store"),
            "a store call outside a step: {store:?} under {parent:?}"
        );
    }
    // Every memory operation is one call: a step's count is the number of
    // store spans under it.
    for (index, step) in seen.spans.iter().enumerate() {
        if step.name == "mfa.store" {
            continue;
        }
        let under = stores.iter().filter(|s| s.parent == Some(index)).count();
        assert_eq!(
            step.field("store_calls"),
            Some(under.to_string().as_str()),
            "{step:?}"
        );
    }
    let verifies: Vec<usize> = (0..seen.spans.len())
        .filter(|&i| seen.spans[i].name == "mfa.verify")
        .collect();
    let accepted = verifies[1];
    let ops: Vec<&str> = stores
        .iter()
        .filter(|s| s.parent == Some(accepted))
        .filter_map(|s| s.field("op"))
        .collect();
    for op in [
        "begin",
        "record_failure",
        "advance_totp_step",
        "consume_ticket",
        "commit",
    ] {
        assert!(ops.contains(&op), "no `{op}` in the verify's {ops:?}");
    }
}

#[test]
fn no_secret_reaches_a_recorded_value() {
    let (seen, secrets) = sign_in_with_a_wrong_code_first();
    assert!(!seen.values.is_empty());
    for value in &seen.values {
        for secret in &secrets.long {
            assert!(!value.contains(secret.as_str()), "a secret in `{value}`");
        }
        for code in &secrets.codes {
            assert!(!contains_token(value, code), "a code in `{value}`");
        }
    }
}

#[test]
fn a_sign_in_of_an_unknown_identifier_records_no_user() {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    run_under(subscriber, async {
        let h = Harness::new(Arc::new(MemoryStore::new()));
        let outcome = h
            .mfa
            .login(LoginRequest {
                identifier: "nobody@example.test".into(),
                password: "a password nobody has".into(),
                client: h.client(),
            })
            .await;
        expect_err(outcome, "invalid_credentials");
    });
    let seen = recorder.seen();
    let logins = named(&seen, "mfa.login");
    let [login] = logins.as_slice() else {
        panic!("one login span, got {logins:?}");
    };
    assert_eq!(login.field("outcome"), Some("refused"));
    assert_eq!(login.field("code"), Some("invalid_credentials"));
    assert_eq!(login.field("user_id"), None);
    assert_eq!(login.field("attempts"), Some("1"));
}

#[test]
fn a_host_span_keeps_its_fields_when_the_steps_are_filtered_out() {
    let recorder = Recorder::default();
    let only_the_host = filter_fn(|meta| !meta.target().starts_with("mfa_"));
    let subscriber =
        tracing_subscriber::registry().with(recorder.clone().with_filter(only_the_host));
    run_under(subscriber, async {
        let h = Harness::new(Arc::new(MemoryStore::new()));
        let alice = h.user_with_totp("alice").await;
        h.next_step();
        let ticket = h.mfa_ticket(&alice.user).await;
        let request =
            tracing::info_span!("request", method = "POST", user_id = tracing::field::Empty);
        h.verify(&ticket, FactorKind::Totp, &h.totp_code(&alice.secret))
            .instrument(request)
            .await
            .expect("the right code signs in");
    });
    let seen = recorder.seen();
    assert!(
        named(&seen, "mfa.verify").is_empty(),
        "steps are filtered out"
    );
    let requests = named(&seen, "request");
    let [request] = requests.as_slice() else {
        panic!("one request span, got {requests:?}");
    };
    assert_eq!(request.field("method"), Some("POST"));
    assert_eq!(request.records.get("method"), Some(&1));
    assert_eq!(request.field("user_id"), None);
}

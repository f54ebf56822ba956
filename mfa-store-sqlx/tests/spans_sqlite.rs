//! The store spans of the SQL repositories (`mfa_core::observability`) on
//! SQLite: a `DEBUG` span `mfa.store` per operation under the engine's
//! step, with `backend` and `op` and nothing of the statements, and the
//! step's `store_calls` equal to the round trips the store counted.
#![cfg(all(feature = "sqlite", feature = "testing"))]

mod common;

use mfa_core::model::FactorKind;
use mfa_core::testing::flow::harness::Harness;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// One span of ours (named `mfa.…`) as the subscriber saw it.
#[derive(Debug)]
struct SeenSpan {
    name: &'static str,
    level: Level,
    target: String,
    parent: Option<usize>,
    fields: BTreeMap<&'static str, String>,
}

/// Records the spans named `mfa.…` and their fields (the driver's own
/// spans and events, which may carry SQL, are not ours to judge here).
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<SeenSpan>>>);

struct Index(usize);

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
    fn spans(&self) -> std::sync::MutexGuard<'_, Vec<SeenSpan>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<S> Layer<S> for Recorder
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !attrs.metadata().name().starts_with("mfa.") {
            return;
        }
        let mut values = Values::default();
        attrs.record(&mut values);
        let span = ctx.span(id).expect("a new span is in the registry");
        let parent = span
            .scope()
            .skip(1)
            .find_map(|p| p.extensions().get::<Index>().map(|i| i.0));
        let mut spans = self.spans();
        spans.push(SeenSpan {
            name: attrs.metadata().name(),
            level: *attrs.metadata().level(),
            target: attrs.metadata().target().to_owned(),
            parent,
            fields: values.0.into_iter().collect(),
        });
        span.extensions_mut().insert(Index(spans.len() - 1));
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
        self.spans()[index].fields.extend(recorded.0);
    }
}

#[test]
fn sql_operations_are_debug_spans_and_the_step_counts_their_round_trips() {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    let round_trips = tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let h = Harness::new(Arc::new(common::sqlite_memory_store().await));
            let alice = h.user_with_totp("alice").await;
            h.next_step();
            let ticket = h.mfa_ticket(&alice.user).await;
            let before = h.store.stats().snapshot();
            h.verify(&ticket, FactorKind::Totp, &h.totp_code(&alice.secret))
                .await
                .expect("the right code signs in");
            (h.store.stats().snapshot() - before).round_trips
        })
    });
    let spans = recorder.spans();
    let (verify, step) = spans
        .iter()
        .enumerate()
        .rfind(|(_, s)| s.name == "mfa.verify")
        .expect("a verify span");
    assert_eq!(step.field("outcome"), Some("success"));
    assert_eq!(
        step.field("store_calls"),
        Some(round_trips.to_string().as_str()),
        "the step counts what the store counted"
    );
    let stores: Vec<&SeenSpan> = spans.iter().filter(|s| s.name == "mfa.store").collect();
    assert!(!stores.is_empty());
    for store in &stores {
        assert_eq!(store.level, Level::DEBUG);
        assert!(store.target.starts_with("mfa_store_sql"), "{store:?}");
        assert_eq!(store.field("backend"), Some("sqlite"));
        assert_eq!(store.fields.len(), 2, "only backend and op: {store:?}");
        let mut up = store.parent;
        while let Some(p) = up.filter(|&p| spans[p].name == "mfa.store") {
            up = spans[p].parent;
        }
        assert!(up.is_some(), "a store operation outside a step: {store:?}");
    }
    let ops: Vec<&str> = stores
        .iter()
        .filter(|s| s.parent == Some(verify))
        .filter_map(|s| s.field("op"))
        .collect();
    for op in ["begin", "ticket_context", "advance_totp_step", "commit"] {
        assert!(ops.contains(&op), "no `{op}` in the verify's {ops:?}");
    }
}

impl SeenSpan {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

//! The push answer checks: the app's JSON through the strict parser and the
//! device-key signature check.
//!
//! Each run checks one answer: a genuine one (Ed25519 or P-256, chosen by
//! the first byte) with one field replaced by the input, or the input as the
//! whole body. Never a panic; and an answer whose signed fields changed
//! never verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_core::crypto::push::{PushDecision, SignedPushAnswer};
use mfa_core::testing::push_app::TestPushApp;
use std::sync::OnceLock;

const FIELDS: [&str; 6] = ["request", "number", "decision", "at", "user_verified", "signature"];

struct Rig {
    apps: [TestPushApp; 2],
    genuine: [(SignedPushAnswer, serde_json::Value); 2],
}

fn rig() -> &'static Rig {
    static RIG: OnceLock<Rig> = OnceLock::new();
    RIG.get_or_init(|| {
        let apps = [TestPushApp::ed25519(), TestPushApp::p256()];
        let genuine = [0, 1].map(|i| {
            let signed = apps[i].answer(
                uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
                42,
                PushDecision::Approve,
                1_765_000_000,
                true,
            );
            let json = serde_json::from_str(&signed.to_json()).expect("genuine JSON");
            (signed, json)
        });
        Rig { apps, genuine }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let rig = rig();
    let which = usize::from(selector & 1);
    let key = rig.apps[which].public_key();
    let (genuine, json) = &rig.genuine[which];
    let text = String::from_utf8_lossy(input);
    let body = match usize::from(selector >> 1) % (FIELDS.len() + 1) {
        0 => text.into_owned(),
        n => {
            let mut json = json.clone();
            // The input as a JSON value where it parses, else as a string.
            json[FIELDS[n - 1]] = serde_json::from_str(&text)
                .unwrap_or_else(|_| serde_json::Value::String(text.clone().into_owned()));
            json.to_string()
        }
    };
    if let Ok(parsed) = SignedPushAnswer::from_json(&body)
        && let Ok(answer) = parsed.verify(key)
    {
        // Only the genuine answer verifies (an ECDSA signature may be
        // re-encoded only by the key holder; the parser takes none other).
        assert_eq!(answer, &genuine.answer, "a changed answer verified");
    }
});

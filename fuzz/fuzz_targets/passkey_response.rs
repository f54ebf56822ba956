//! The passkey answer checks: the browser's JSON through the engine's
//! parsing and the relying party (JSON, base64url, `clientDataJSON`,
//! `authenticatorData`, CBOR attestation object, COSE key, signature).
//!
//! The rig holds one registration and one authentication ceremony with a
//! genuine software-authenticator answer to each. Each run checks one
//! answer: a genuine one with one field replaced by the input or XOR-ed
//! with it, or the input as the whole body. Never a panic; and an assertion
//! whose signed parts changed never verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_core::testing::passkey_rig::PasskeyRig;
use std::sync::OnceLock;

const ASSERTION_FIELDS: [&str; 5] = [
    "clientDataJSON",
    "authenticatorData",
    "signature",
    "userHandle",
    "id",
];
/// What the authenticator signs (authenticatorData ‖ SHA-256 of
/// clientDataJSON) and the signature: none may change and still verify.
const SIGNED: [&str; 3] = ["clientDataJSON", "authenticatorData", "signature"];
const ATTESTATION_FIELDS: [&str; 3] = ["clientDataJSON", "attestationObject", "id"];

fn rig() -> &'static PasskeyRig {
    static RIG: OnceLock<PasskeyRig> = OnceLock::new();
    RIG.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(PasskeyRig::new())
    })
}

/// The genuine `answer` with `field` replaced by `input` (`xor` false) or
/// XOR-ed with it; and whether the field still holds its genuine bytes.
fn mutate(answer: &serde_json::Value, field: &str, xor: bool, input: &[u8]) -> (String, bool) {
    let mut answer = answer.clone();
    let slot = if field == "id" {
        &mut answer["rawId"]
    } else {
        &mut answer["response"][field]
    };
    let old = slot
        .as_str()
        .and_then(|s| data_encoding::BASE64URL_NOPAD.decode(s.as_bytes()).ok())
        .unwrap_or_default();
    let new = if xor {
        let mut bytes = old.clone();
        if !bytes.is_empty() {
            let len = bytes.len();
            for (i, b) in input.iter().enumerate() {
                bytes[i % len] ^= b;
            }
        }
        bytes
    } else {
        input.to_vec()
    };
    let unchanged = new == old;
    *slot = data_encoding::BASE64URL_NOPAD.encode(&new).into();
    if field == "id" {
        answer["id"] = answer["rawId"].clone();
    }
    (answer.to_string(), unchanged)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Some((&field, input)) = rest.split_first() else {
        return;
    };
    let rig = rig();
    let xor = field & 0x80 != 0;
    let pick = usize::from(field & 0x7f);
    match mode % 4 {
        0 => {
            let name = ASSERTION_FIELDS[pick % ASSERTION_FIELDS.len()];
            let (answer, unchanged) = mutate(&rig.assertion, name, xor, input);
            let result = rig.check_assertion(&answer);
            assert!(
                result.is_err() || unchanged || !SIGNED.contains(&name),
                "an assertion with a changed {name} verified: {answer}"
            );
        }
        1 => {
            // The whole body: unless its signed parts are the genuine
            // ones, it cannot verify.
            let text = String::from_utf8_lossy(input);
            let genuine = serde_json::from_str::<serde_json::Value>(&text).is_ok_and(|v| {
                SIGNED
                    .iter()
                    .all(|k| v["response"][k] == rig.assertion["response"][k])
            });
            assert!(
                rig.check_assertion(&text).is_err() || genuine,
                "a made-up assertion verified: {text}"
            );
        }
        2 => {
            // Attestation `none` signs nothing: only "no panic, a typed
            // answer" holds here.
            let name = ATTESTATION_FIELDS[pick % ATTESTATION_FIELDS.len()];
            let (answer, _) = mutate(&rig.attestation, name, xor, input);
            let _ = rig.check_attestation(&answer);
        }
        _ => {
            let _ = rig.check_attestation(&String::from_utf8_lossy(input));
        }
    }
});

//! R31/R32/R51: access-token verification rejects arbitrary strings without
//! panicking, for an HS256 and an EdDSA verifier.
#![no_main]

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use mfa_core::crypto::{JwtConfig, JwtKeys, TokenService};
use std::sync::OnceLock;

fn services() -> &'static [TokenService; 2] {
    static SERVICES: OnceLock<[TokenService; 2]> = OnceLock::new();
    SERVICES.get_or_init(|| {
        let config = || JwtConfig::new("https://issuer.example", "mfa-api");
        [
            TokenService::new(
                config(),
                JwtKeys::hs256("h1", &[7u8; 32]).expect("hs256 key"),
            )
            .expect("hs256 service"),
            TokenService::new(
                config(),
                JwtKeys::generate_ed25519("e1").expect("ed25519 key"),
            )
            .expect("eddsa service"),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data);
    let now = DateTime::<Utc>::from_timestamp(1_750_000_000, 0).expect("valid time");
    for service in services() {
        assert!(
            service.verify(&token, now).is_err(),
            "forged token accepted"
        );
    }
});

//! R41/R51: opaque bearer-token parsing is total; a parsed token round-trips
//! and hashes per purpose.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_core::crypto::{OpaqueToken, TokenPurpose};

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    if let Ok(token) = OpaqueToken::parse(&input) {
        assert_eq!(token.expose(), input);
        let again = OpaqueToken::parse(token.expose()).expect("a parsed token parses again");
        assert_eq!(
            again.hash(TokenPurpose::Refresh),
            token.hash(TokenPurpose::Refresh)
        );
    }
});

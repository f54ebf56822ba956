//! R50: for any issuer and account name, `Totp::new` either refuses them or
//! yields an `otpauth://` URI that an independent parser (`totp-rs`) reads
//! back with the same labels and parameters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_core::crypto::{ExposeSecret, Totp, TotpAlgorithm, TotpParams, TotpSecret};

const SEED: &[u8] = b"12345678901234567890";

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let mut at = usize::from(split).min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let (issuer, account) = text.split_at(at);
    let params = TotpParams {
        algorithm: TotpAlgorithm::Sha1,
        digits: 6,
        period: 30,
    };
    let secret = TotpSecret::from_bytes(SEED.to_vec()).expect("seed");
    let Ok(totp) = Totp::new(secret, params, issuer, account) else {
        return;
    };
    let uri = totp.otpauth_uri();
    let parsed = totp_rs::Totp::from_url(uri.expose_secret())
        .unwrap_or_else(|e| panic!("URI for {issuer:?}/{account:?} not parsed back: {e:?}"));
    assert_eq!(parsed.issuer(), Some(issuer), "issuer changed");
    assert_eq!(parsed.account_name(), account, "account name changed");
    assert_eq!(parsed.secret().as_bytes(), SEED);
    assert_eq!(parsed.digits(), 6);
    assert_eq!(parsed.step(), 30);
});

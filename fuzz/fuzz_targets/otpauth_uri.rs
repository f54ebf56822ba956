//! R50: for any issuer and account name, `Totp::new` either refuses them or
//! yields an `otpauth://` URI that an independent parser (`totp-rs`) reads
//! back with the same labels and parameters, and that `Totp::from_otpauth_uri`
//! imports back to the same factor. Any input given to the importer either
//! is refused or yields parameters within the R50 bounds.
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
    // The importer on arbitrary text: refused, or within bounds.
    if let Ok(imported) = Totp::from_otpauth_uri(text) {
        let p = imported.params();
        assert!((6..=8).contains(&p.digits) && (1..=120).contains(&p.period));
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
    let imported = Totp::from_otpauth_uri(uri.expose_secret())
        .unwrap_or_else(|e| panic!("URI for {issuer:?}/{account:?} not imported back: {e:?}"));
    assert_eq!(imported.issuer(), issuer, "issuer changed on import");
    assert_eq!(imported.account_name(), account, "account name changed on import");
    assert_eq!(imported.params(), params);
});

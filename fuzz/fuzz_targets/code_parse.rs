//! R49/R51: the code parsers are total, and a backup code's display form
//! parses back to the same code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_core::crypto::{BackupCode, ExposeSecret, OtpCode, TotpCode};

fuzz_target!(|data: &[u8]| {
    let Some((&digits, rest)) = data.split_first() else {
        return;
    };
    let Ok(input) = std::str::from_utf8(rest) else {
        return;
    };
    if let Ok(code) = OtpCode::parse(input, digits) {
        assert_eq!(code.expose(), input);
        assert_eq!(usize::from(code.digits()), input.len());
    }
    if let Ok(code) = TotpCode::parse(input, digits) {
        assert_eq!(code.expose(), input);
    }
    if let Ok(code) = BackupCode::parse(input) {
        assert_eq!(code.expose().len(), 16);
        let display = code.display();
        let again = BackupCode::parse(display.expose_secret()).expect("display form parses");
        assert_eq!(again.expose(), code.expose());
    }
});

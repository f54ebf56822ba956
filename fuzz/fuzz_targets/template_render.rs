//! R47: rendering any notification (arbitrary details JSON, locale, product
//! name, destination, time) or code message with the shipped templates
//! never fails or panics, and nothing interpolated reaches the HTML part
//! unescaped.
#![no_main]

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use mfa_core::crypto::OtpCode;
use mfa_core::delivery::{Message, NotificationMessage, OtpCodeText, OtpMessage};
use mfa_core::model::{ChallengePurpose, NotificationId, NotificationKind};
use mfa_core::template::Templates;

/// Splits `data` into fields at 0xFF bytes (which never occur in UTF-8).
fn fields(data: &[u8]) -> Vec<String> {
    data.split(|&b| b == 0xff)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

fn check_html(html: &str) {
    // Every `<` in the output belongs to the template's own markup.
    for (i, _) in html.match_indices('<') {
        let tag = &html[i + 1..];
        assert!(
            [
                "!DOCTYPE", "html", "/html", "head", "/head", "meta", "title", "/title", "body",
                "/body", "p ", "/p>"
            ]
            .iter()
            .any(|t| tag.starts_with(t)),
            "unescaped markup in HTML: {}",
            &html[i..html.len().min(i + 40)]
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Some((time_bytes, rest)) = rest.split_first_chunk::<8>() else {
        return;
    };
    let at = DateTime::<Utc>::from_timestamp(i64::from_le_bytes(*time_bytes), 0)
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let f = fields(rest);
    let field = |i: usize| f.get(i).cloned().unwrap_or_default();
    let locale = (selector & 0x80 != 0).then(|| field(1));
    let message = if selector & 0x40 != 0 {
        let code = OtpCode::generate(6 + (selector & 3)).expect("code");
        Message::Otp(OtpMessage {
            to: field(2),
            code: OtpCodeText::new(code),
            purpose: ChallengePurpose::ALL[usize::from(selector) % ChallengePurpose::ALL.len()],
            expires_at: at,
            product_name: field(3),
            locale,
        })
    } else {
        let raw = field(0);
        let details = serde_json::from_str(&raw).unwrap_or(serde_json::Value::String(raw));
        Message::Notification(NotificationMessage {
            id: NotificationId::new(),
            to: field(2),
            kind: NotificationKind::ALL[usize::from(selector) % NotificationKind::ALL.len()],
            details,
            at,
            product_name: field(3),
            locale,
        })
    };
    let rendered = Templates::shipped()
        .render(&message)
        .expect("the shipped templates render any message");
    check_html(&rendered.html);
});

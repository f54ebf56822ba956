//! Message templates: the subject, plain text, HTML and short (SMS) text of
//! every [`Message`], in English and German.
//!
//! Every interpolated value is HTML-escaped in the HTML part; missing or
//! oddly typed notification details fall back to a neutral word, so
//! rendering never panics.

use chrono::{DateTime, Utc};
use mfa_core::delivery::{Message, NotificationMessage, OtpMessage, mask_destination};
use mfa_core::model::{ChallengePurpose, NotificationKind};

/// The language of a rendered message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Language {
    /// English (the fallback for unknown locales).
    #[default]
    English,
    /// German.
    German,
}

impl Language {
    /// The language for a BCP 47 locale: `de`, `de-CH`, `de_AT` → German;
    /// anything else (or none) → English.
    ///
    /// ```
    /// use mfa_delivery::template::Language;
    /// assert_eq!(Language::from_locale(Some("de-CH")), Language::German);
    /// assert_eq!(Language::from_locale(Some("fr")), Language::English);
    /// assert_eq!(Language::from_locale(None), Language::English);
    /// ```
    #[must_use]
    pub fn from_locale(locale: Option<&str>) -> Self {
        let primary = locale
            .unwrap_or_default()
            .split(['-', '_'])
            .next()
            .unwrap_or_default()
            .trim();
        if primary.eq_ignore_ascii_case("de") {
            Self::German
        } else {
            Self::English
        }
    }

    /// The BCP 47 tag used in the HTML `lang` attribute.
    #[must_use]
    pub const fn tag(self) -> &'static str {
        match self {
            Self::English => "en",
            Self::German => "de",
        }
    }
}

/// A message rendered for a transport.
///
/// `Debug` is not implemented on purpose: for a code, every field contains it.
#[derive(Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The language used.
    pub language: Language,
    /// Email subject. For a code, the code comes first so it shows in
    /// previews and notification banners.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body; every interpolated value is escaped.
    pub html: String,
    /// A short text for SMS and push (one SMS segment where possible).
    pub short: String,
}

/// Renders `message` in the language of its locale.
///
/// ```
/// use chrono::{DateTime, Utc};
/// use mfa_core::crypto::OtpCode;
/// use mfa_core::delivery::{Message, OtpCodeText, OtpMessage};
/// use mfa_core::model::ChallengePurpose;
///
/// let code = OtpCode::generate(6).unwrap();
/// let digits = code.expose().to_owned();
/// let message = Message::Otp(OtpMessage {
///     to: "alice@example.com".into(),
///     code: OtpCodeText::new(code),
///     purpose: ChallengePurpose::Login,
///     expires_at: DateTime::<Utc>::from_timestamp(1_900_000_000, 0).unwrap(),
///     product_name: "Acme <Cloud>".into(),
///     locale: Some("de-CH".into()),
/// });
/// let rendered = mfa_delivery::template::render(&message);
/// assert!(rendered.subject.starts_with(&digits));
/// assert!(rendered.html.contains("Acme &lt;Cloud&gt;"));
/// assert!(rendered.text.contains("a***@example.com"));
/// ```
#[must_use]
pub fn render(message: &Message) -> Rendered {
    match message {
        Message::Otp(m) => render_otp(m),
        Message::Notification(m) => render_notification(m),
    }
}

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attribute values.
#[must_use]
pub fn escape_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The parts of a message before it becomes text and HTML. All values are
/// raw (unescaped); escaping happens once, in [`Doc::finish`].
struct Doc {
    language: Language,
    subject: String,
    /// Shown prominently (the code), if any.
    highlight: Option<String>,
    paragraphs: Vec<String>,
    short: String,
}

impl Doc {
    fn finish(self) -> Rendered {
        let mut text = String::new();
        let mut body = String::new();
        for (i, p) in self.paragraphs.iter().enumerate() {
            if i > 0 {
                text.push_str("\n\n");
            }
            text.push_str(p);
            body.push_str("<p style=\"margin:0 0 16px\">");
            body.push_str(&escape_html(p));
            body.push_str("</p>\n");
            if i == 0
                && let Some(h) = &self.highlight
            {
                text.push_str("\n\n    ");
                text.push_str(h);
                body.push_str(
                    "<p style=\"font-size:28px;font-weight:bold;letter-spacing:4px;\
                     font-family:monospace;margin:0 0 16px\">",
                );
                body.push_str(&escape_html(h));
                body.push_str("</p>\n");
            }
        }
        text.push('\n');
        let html = format!(
            "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>{title}</title>\n</head>\n\
             <body style=\"font-family:Helvetica,Arial,sans-serif;font-size:16px;color:#222\">\n\
             {body}</body>\n</html>\n",
            lang = self.language.tag(),
            title = escape_html(&self.subject),
        );
        Rendered {
            language: self.language,
            subject: self.subject,
            text,
            html,
            short: self.short,
        }
    }
}

fn time_of(language: Language, at: DateTime<Utc>) -> String {
    match language {
        Language::English => at.format("%Y-%m-%d %H:%M UTC").to_string(),
        Language::German => at.format("%d.%m.%Y %H:%M UTC").to_string(),
    }
}

fn render_otp(m: &OtpMessage) -> Rendered {
    let language = Language::from_locale(m.locale.as_deref());
    let code = m.code.expose().to_owned();
    let product = &m.product_name;
    let masked = mask_destination(&m.to);
    let expires = time_of(language, m.expires_at);
    let hhmm = m.expires_at.format("%H:%M UTC");
    let doc = match language {
        Language::English => {
            let why = match m.purpose {
                ChallengePurpose::Login => "to finish signing in",
                ChallengePurpose::Enrollment => "to confirm this address for sign-in codes",
                ChallengePurpose::StepUp => "to confirm a sensitive action",
            };
            Doc {
                language,
                subject: format!("{code} is your {product} verification code"),
                highlight: Some(code.clone()),
                paragraphs: vec![
                    format!("Use this code {why} at {product}:"),
                    format!("It was sent to {masked} and expires at {expires}."),
                    format!(
                        "Never share this code with anyone; {product} will never ask you for it. \
                         If you did not request it, you can ignore this message."
                    ),
                ],
                short: format!(
                    "{code} is your {product} code. It expires at {hhmm}. Do not share it."
                ),
            }
        }
        Language::German => {
            let why = match m.purpose {
                ChallengePurpose::Login => "um die Anmeldung abzuschließen",
                ChallengePurpose::Enrollment => "um diese Adresse für Anmeldecodes zu bestätigen",
                ChallengePurpose::StepUp => "um eine sicherheitsrelevante Aktion zu bestätigen",
            };
            Doc {
                language,
                subject: format!("{code} ist Ihr Bestätigungscode für {product}"),
                highlight: Some(code.clone()),
                paragraphs: vec![
                    format!("Verwenden Sie diesen Code bei {product}, {why}:"),
                    format!("Er wurde an {masked} gesendet und ist gültig bis {expires}."),
                    format!(
                        "Geben Sie diesen Code niemals weiter; {product} wird Sie nie danach \
                         fragen. Wenn Sie ihn nicht angefordert haben, können Sie diese \
                         Nachricht ignorieren."
                    ),
                ],
                short: format!(
                    "{code} ist Ihr {product}-Code. Gültig bis {hhmm}. Nicht weitergeben."
                ),
            }
        }
    };
    doc.finish()
}

/// A detail as display text, or `fallback` when missing, null or a
/// structure.
fn detail(m: &NotificationMessage, key: &str, fallback: &str) -> String {
    match m.details.get(key) {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(serde_json::Value::Bool(b)) => b.to_string(),
        _ => fallback.to_owned(),
    }
}

fn title(language: Language, kind: NotificationKind) -> &'static str {
    match (language, kind) {
        (Language::German, NotificationKind::NewDeviceLogin) => "Neue Anmeldung",
        (Language::German, NotificationKind::FactorAdded) => "Anmeldemethode hinzugefügt",
        (Language::German, NotificationKind::FactorRemoved) => "Anmeldemethode entfernt",
        (Language::German, NotificationKind::BackupCodesGenerated) => "Neue Backup-Codes",
        (Language::German, NotificationKind::BackupCodeUsed) => "Backup-Code verwendet",
        (Language::German, NotificationKind::BackupCodesLow) => "Nur noch wenige Backup-Codes",
        (Language::German, NotificationKind::AccountLocked) => "Konto gesperrt",
        (Language::German, NotificationKind::TokenReused) => {
            "Sitzungen zu Ihrer Sicherheit beendet"
        }
        (Language::German, NotificationKind::OtpReplay) => {
            "Ein bereits verwendeter Code wurde erneut versucht"
        }
        (Language::German, NotificationKind::PasskeySuspect) => "Passkey deaktiviert",
        (Language::German, NotificationKind::PushNotMe) => "Anmeldeversuch gemeldet",
        (Language::German, NotificationKind::SuspiciousSignIn) => "Verdächtige Anmeldung",
        (Language::German, NotificationKind::DeviceTrusted) => "Gerät gespeichert",
        (Language::German, NotificationKind::PasswordChanged) => "Passwort geändert",
        (_, NotificationKind::NewDeviceLogin) => "New sign-in",
        (_, NotificationKind::FactorAdded) => "Sign-in method added",
        (_, NotificationKind::FactorRemoved) => "Sign-in method removed",
        (_, NotificationKind::BackupCodesGenerated) => "New backup codes",
        (_, NotificationKind::BackupCodeUsed) => "Backup code used",
        (_, NotificationKind::BackupCodesLow) => "Backup codes running low",
        (_, NotificationKind::AccountLocked) => "Account locked",
        (_, NotificationKind::TokenReused) => "Sessions ended for your safety",
        (_, NotificationKind::OtpReplay) => "A used code was tried again",
        (_, NotificationKind::PasskeySuspect) => "Passkey turned off",
        (_, NotificationKind::PushNotMe) => "Sign-in attempt reported",
        (_, NotificationKind::SuspiciousSignIn) => "Suspicious sign-in",
        (_, NotificationKind::DeviceTrusted) => "Device remembered",
        (_, NotificationKind::PasswordChanged) => "Password changed",
    }
}

fn english_event(m: &NotificationMessage, when: &str) -> String {
    let d = |key: &str| detail(m, key, "unknown");
    let product = &m.product_name;
    match m.kind {
        NotificationKind::NewDeviceLogin => format!(
            "A new device signed in to your {product} account at {when} (device: {}, IP address: {}, country: {}).",
            d("device"),
            d("ip"),
            d("country"),
        ),
        NotificationKind::FactorAdded => format!(
            "A sign-in method ({}) was added to your {product} account at {when}.",
            d("method")
        ),
        NotificationKind::FactorRemoved => format!(
            "A sign-in method ({}) was removed from your {product} account at {when}.",
            d("method")
        ),
        NotificationKind::BackupCodesGenerated => format!(
            "New backup codes were generated for your {product} account at {when}; the old ones no longer work."
        ),
        NotificationKind::BackupCodeUsed => format!(
            "A backup code was used to sign in to your {product} account at {when}; {} remain.",
            detail(m, "remaining", "some")
        ),
        NotificationKind::BackupCodesLow => format!(
            "Only {} backup codes remain for your {product} account. Generate new ones in your security settings.",
            detail(m, "remaining", "a few")
        ),
        NotificationKind::AccountLocked => format!(
            "Sign-in to your {product} account was locked at {when} after repeated failed attempts."
        ),
        NotificationKind::TokenReused => format!(
            "An old session token of your {product} account was used again at {when}, so we signed that session out."
        ),
        NotificationKind::OtpReplay => format!(
            "An authenticator code that was already used was tried again on your {product} account at {when}."
        ),
        NotificationKind::PasskeySuspect => format!(
            "A passkey ({}) of your {product} account answered at {when} with a signature counter that went backwards, a sign that it was copied. We turned it off.",
            d("label"),
        ),
        NotificationKind::PushNotMe => format!(
            "You reported a sign-in to your {product} account at {when} as not yours (IP address: {}, country: {}). We refused it and locked second-factor sign-in for a while. Whoever tried knows your password: change it now.",
            d("ip"),
            d("country"),
        ),
        NotificationKind::SuspiciousSignIn => format!(
            "We stopped or challenged an unusual sign-in to your {product} account at {when} (IP address: {}, country: {}).",
            d("ip"),
            d("country"),
        ),
        NotificationKind::DeviceTrusted => format!(
            "A device was remembered for sign-in to your {product} account at {when} (device: {}).",
            d("device")
        ),
        NotificationKind::PasswordChanged => {
            format!("The password of your {product} account was changed at {when}.")
        }
    }
}

fn german_event(m: &NotificationMessage, when: &str) -> String {
    let d = |key: &str| detail(m, key, "unbekannt");
    let product = &m.product_name;
    match m.kind {
        NotificationKind::NewDeviceLogin => format!(
            "Am {when} hat sich ein neues Gerät bei Ihrem {product}-Konto angemeldet (Gerät: {}, IP-Adresse: {}, Land: {}).",
            d("device"),
            d("ip"),
            d("country"),
        ),
        NotificationKind::FactorAdded => format!(
            "Am {when} wurde Ihrem {product}-Konto eine Anmeldemethode ({}) hinzugefügt.",
            d("method")
        ),
        NotificationKind::FactorRemoved => format!(
            "Am {when} wurde eine Anmeldemethode ({}) aus Ihrem {product}-Konto entfernt.",
            d("method")
        ),
        NotificationKind::BackupCodesGenerated => format!(
            "Am {when} wurden neue Backup-Codes für Ihr {product}-Konto erstellt; die alten sind nicht mehr gültig."
        ),
        NotificationKind::BackupCodeUsed => format!(
            "Am {when} wurde ein Backup-Code zur Anmeldung bei Ihrem {product}-Konto verwendet; {} verbleiben.",
            detail(m, "remaining", "einige")
        ),
        NotificationKind::BackupCodesLow => format!(
            "Für Ihr {product}-Konto verbleiben nur noch {} Backup-Codes. Erstellen Sie neue in den Sicherheitseinstellungen.",
            detail(m, "remaining", "wenige")
        ),
        NotificationKind::AccountLocked => format!(
            "Die Anmeldung bei Ihrem {product}-Konto wurde am {when} nach wiederholten Fehlversuchen gesperrt."
        ),
        NotificationKind::TokenReused => format!(
            "Am {when} wurde ein altes Sitzungstoken Ihres {product}-Kontos erneut verwendet; wir haben diese Sitzung beendet."
        ),
        NotificationKind::OtpReplay => format!(
            "Am {when} wurde bei Ihrem {product}-Konto ein bereits verwendeter Authenticator-Code erneut versucht."
        ),
        NotificationKind::PasskeySuspect => format!(
            "Am {when} hat ein Passkey ({}) Ihres {product}-Kontos mit einem Signaturzähler geantwortet, der zurückgegangen ist: ein Zeichen, dass er kopiert wurde. Wir haben ihn deaktiviert.",
            d("label"),
        ),
        NotificationKind::PushNotMe => format!(
            "Sie haben eine Anmeldung bei Ihrem {product}-Konto am {when} als nicht Ihre gemeldet (IP-Adresse: {}, Land: {}). Wir haben sie abgelehnt und die Anmeldung mit zweitem Faktor vorübergehend gesperrt. Wer es versucht hat, kennt Ihr Passwort: Ändern Sie es jetzt.",
            d("ip"),
            d("country"),
        ),
        NotificationKind::SuspiciousSignIn => format!(
            "Am {when} haben wir eine ungewöhnliche Anmeldung bei Ihrem {product}-Konto gestoppt oder zusätzlich geprüft (IP-Adresse: {}, Land: {}).",
            d("ip"),
            d("country"),
        ),
        NotificationKind::DeviceTrusted => format!(
            "Am {when} wurde ein Gerät für die Anmeldung bei Ihrem {product}-Konto gespeichert (Gerät: {}).",
            d("device")
        ),
        NotificationKind::PasswordChanged => {
            format!("Das Passwort Ihres {product}-Kontos wurde am {when} geändert.")
        }
    }
}

fn render_notification(m: &NotificationMessage) -> Rendered {
    let language = Language::from_locale(m.locale.as_deref());
    let when = time_of(language, m.at);
    let title = title(language, m.kind);
    let product = &m.product_name;
    let masked = mask_destination(&m.to);
    let (event, tail, footer) = match language {
        Language::English => (
            english_event(m, &when),
            "If this was not you, secure your account now: change your password and review your sign-in methods.",
            format!("This security notice was sent to {masked}."),
        ),
        Language::German => (
            german_event(m, &when),
            "Falls Sie das nicht waren, schützen Sie Ihr Konto jetzt: Ändern Sie Ihr Passwort und prüfen Sie Ihre Anmeldemethoden.",
            format!("Dieser Sicherheitshinweis wurde an {masked} gesendet."),
        ),
    };
    let short = format!("{product}: {event}");
    Doc {
        language,
        subject: format!("{product}: {title}"),
        highlight: None,
        paragraphs: vec![event, tail.to_owned(), footer],
        short,
    }
    .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_core::crypto::OtpCode;
    use mfa_core::delivery::OtpCodeText;
    use mfa_core::model::NotificationId;

    const ALL_KINDS: [NotificationKind; 14] = [
        NotificationKind::NewDeviceLogin,
        NotificationKind::FactorAdded,
        NotificationKind::FactorRemoved,
        NotificationKind::BackupCodesGenerated,
        NotificationKind::BackupCodeUsed,
        NotificationKind::BackupCodesLow,
        NotificationKind::AccountLocked,
        NotificationKind::TokenReused,
        NotificationKind::OtpReplay,
        NotificationKind::PasskeySuspect,
        NotificationKind::PushNotMe,
        NotificationKind::SuspiciousSignIn,
        NotificationKind::DeviceTrusted,
        NotificationKind::PasswordChanged,
    ];

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000, 0).unwrap()
    }

    fn notification(
        kind: NotificationKind,
        details: serde_json::Value,
        locale: Option<&str>,
    ) -> Message {
        Message::Notification(NotificationMessage {
            id: NotificationId::new(),
            to: "alice@example.com".into(),
            kind,
            details,
            at: at(),
            product_name: "Acme".into(),
            locale: locale.map(str::to_owned),
        })
    }

    fn otp(locale: Option<&str>, product: &str) -> (String, Message) {
        let code = OtpCode::generate(6).unwrap();
        let digits = code.expose().to_owned();
        let m = Message::Otp(OtpMessage {
            to: "+41791234567".into(),
            code: OtpCodeText::new(code),
            purpose: ChallengePurpose::Login,
            expires_at: at(),
            product_name: product.into(),
            locale: locale.map(str::to_owned),
        });
        (digits, m)
    }

    #[test]
    fn locale_picks_german_for_de_variants_and_english_otherwise() {
        for de in ["de", "de-CH", "DE_at", "de-DE"] {
            assert_eq!(Language::from_locale(Some(de)), Language::German, "{de}");
        }
        for en in ["en", "en-GB", "fr", "", "xx-YY", "deu"] {
            assert_eq!(Language::from_locale(Some(en)), Language::English, "{en}");
        }
    }

    #[test]
    fn otp_code_leads_subject_and_appears_in_every_part() {
        for locale in [None, Some("de-CH")] {
            let (digits, m) = otp(locale, "Acme");
            let r = render(&m);
            assert!(r.subject.starts_with(&digits));
            assert!(r.text.contains(&digits));
            assert!(r.html.contains(&digits));
            assert!(r.short.starts_with(&digits));
            assert!(r.text.contains("***67"));
        }
    }

    #[test]
    fn german_otp_is_german() {
        let (_, m) = otp(Some("de"), "Acme");
        let r = render(&m);
        assert_eq!(r.language, Language::German);
        assert!(r.subject.contains("Bestätigungscode"));
        assert!(r.html.contains("lang=\"de\""));
    }

    #[test]
    fn interpolated_values_are_html_escaped() {
        let (_, m) = otp(None, "<script>alert('x')</script>&");
        let r = render(&m);
        assert!(!r.html.contains("<script>"));
        assert!(
            r.html
                .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;")
        );
        let n = notification(
            NotificationKind::NewDeviceLogin,
            serde_json::json!({"device": "<b>evil</b>", "ip": "\"1.2.3.4\""}),
            None,
        );
        let r = render(&n);
        assert!(r.html.contains("&lt;b&gt;evil&lt;/b&gt;"));
        assert!(r.html.contains("&quot;1.2.3.4&quot;"));
        assert!(r.text.contains("<b>evil</b>"));
    }

    #[test]
    fn every_notification_renders_in_both_languages_without_details() {
        let odd_details = [
            serde_json::Value::Null,
            serde_json::json!({}),
            serde_json::json!([1, 2]),
            serde_json::json!({"device": null, "ip": {"nested": true}, "remaining": "x"}),
        ];
        for kind in ALL_KINDS {
            for locale in [None, Some("de")] {
                for details in &odd_details {
                    let r = render(&notification(kind, details.clone(), locale));
                    assert!(r.subject.starts_with("Acme: "));
                    assert!(!r.text.is_empty());
                    assert!(r.html.contains("</html>"));
                    assert!(r.text.contains("a***@example.com"));
                }
            }
        }
    }

    #[test]
    fn notification_details_are_interpolated() {
        let r = render(&notification(
            NotificationKind::BackupCodeUsed,
            serde_json::json!({"remaining": 3}),
            Some("de"),
        ));
        assert!(r.text.contains("3 verbleiben"));
        let r = render(&notification(
            NotificationKind::FactorAdded,
            serde_json::json!({"method": "totp"}),
            None,
        ));
        assert!(r.text.contains("(totp)"));
    }
}

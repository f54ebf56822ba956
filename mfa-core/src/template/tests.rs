use super::*;
use crate::crypto::OtpCode;
use crate::delivery::OtpCodeText;
use crate::model::NotificationId;

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap()
}

fn otp_with(
    locale: Option<&str>,
    purpose: ChallengePurpose,
    to: &str,
    product: &str,
    code: &str,
) -> Message {
    Message::Otp(OtpMessage {
        to: to.into(),
        code: OtpCodeText::new(OtpCode::parse(code, 6).unwrap()),
        purpose,
        // A single-digit day and month, to pin the date formats.
        expires_at: at(1_893_567_900),
        product_name: product.into(),
        locale: locale.map(str::to_owned),
    })
}

fn otp(locale: Option<&str>) -> Message {
    otp_with(
        locale,
        ChallengePurpose::Login,
        "alice@example.com",
        "Acme",
        "042917",
    )
}

fn notification(
    kind: NotificationKind,
    locale: Option<&str>,
    details: serde_json::Value,
) -> Message {
    Message::Notification(NotificationMessage {
        id: NotificationId::new(),
        to: "alice@example.com".into(),
        kind,
        details,
        at: at(1_900_000_000),
        product_name: "Acme".into(),
        locale: locale.map(str::to_owned),
    })
}

fn full_details() -> serde_json::Value {
    serde_json::json!({
        "device": "Firefox on Linux",
        "ip": "203.0.113.7",
        "country": "CH",
        "method": "totp",
        "remaining": 3,
        "label": "YubiKey 5",
    })
}

fn shipped(message: &Message) -> Rendered {
    Templates::shipped().render(message).unwrap()
}

fn push_notice<'a>(
    locale: Option<&'a str>,
    step_up: bool,
    device: Option<&'a str>,
    country: Option<&'a str>,
) -> PushNoticeValues<'a> {
    PushNoticeValues {
        step_up,
        device,
        country,
        expires_at: at(1_900_000_000),
        product_name: "Acme",
        locale,
    }
}

/// The four parts in one string, for comparing whole renderings.
fn parts(r: &Rendered) -> [&str; 4] {
    [&r.subject, &r.text, &r.html, &r.short]
}

mod unchanged {
    //! The shipped texts, pinned: every message kind in every shipped
    //! language, each part, compared with
    //! `tests/fixtures/shipped-texts.txt`.
    //!
    //! The fixture was written by the hand-written renderer that
    //! `mfa-delivery` had before these templates, so it proves the
    //! templates send what was sent before. After an intended change of
    //! wording, rewrite it with
    //! `MFA_BLESS_SHIPPED_TEXTS=1 cargo test -p mfa-core --lib template`
    //! and read the diff.

    use super::*;

    /// Locales as users have them: none, the shipped languages with a
    /// region, and one that is not shipped.
    const LOCALES: [Option<&str>; 4] = [None, Some("en-GB"), Some("de-CH"), Some("fr")];

    fn write_case(out: &mut String, case: &str, message: &Message) {
        let r = shipped(message);
        for (part, value) in ["subject", "text", "html", "short"]
            .into_iter()
            .zip(parts(&r))
        {
            writeln!(out, "### {case} {part}").unwrap();
            out.push_str(value);
            // Parts without a final newline get one, marked, so that a
            // change of trailing newlines still shows.
            if !value.ends_with('\n') {
                out.push_str("⏎\n");
            }
        }
    }

    fn snapshot() -> String {
        let mut out = String::new();
        for locale in LOCALES {
            let l = locale.unwrap_or("none");
            for purpose in ChallengePurpose::ALL {
                let case = format!("otp {l} {} email", purpose.as_str());
                let message = otp_with(locale, purpose, "alice@example.com", "Acme", "042917");
                write_case(&mut out, &case, &message);
            }
            let message = otp_with(
                locale,
                ChallengePurpose::Login,
                "+41791234567",
                "Acme",
                "042917",
            );
            write_case(&mut out, &format!("otp {l} login sms"), &message);
            for kind in NotificationKind::ALL {
                write_case(
                    &mut out,
                    &format!("notification {l} {} details", kind.as_str()),
                    &notification(kind, locale, full_details()),
                );
                write_case(
                    &mut out,
                    &format!("notification {l} {} no-details", kind.as_str()),
                    &notification(kind, locale, serde_json::Value::Null),
                );
            }
        }
        for locale in LOCALES {
            let l = locale.unwrap_or("none");
            for step_up in [false, true] {
                for (known, device, country) in [
                    ("both", Some("Firefox on Linux"), Some("CH")),
                    ("device", Some("Firefox on Linux"), None),
                    ("country", None, Some("CH")),
                    ("neither", None, None),
                ] {
                    let r = Templates::shipped()
                        .render_push(&push_notice(locale, step_up, device, country))
                        .unwrap();
                    for (part, value) in [("title", r.title), ("body", r.body)] {
                        writeln!(out, "### push {l} step_up={step_up} {known} {part}").unwrap();
                        out.push_str(&value);
                        out.push_str("⏎\n");
                    }
                }
            }
        }
        // Values that need escaping, and odd details (a structure, null, a
        // blank string, a boolean).
        for locale in [None, Some("de")] {
            let l = locale.unwrap_or("none");
            write_case(
                &mut out,
                &format!("otp {l} escaping"),
                &otp_with(
                    locale,
                    ChallengePurpose::StepUp,
                    "<b>x</b>@example.com",
                    "Acme <Cloud> & 'Co' \"/\"",
                    "042917",
                ),
            );
            write_case(
                &mut out,
                &format!("notification {l} escaping"),
                &notification(
                    NotificationKind::NewDeviceLogin,
                    locale,
                    serde_json::json!({
                        "device": "<script>alert('x')</script>",
                        "ip": {"nested": true},
                        "country": "  ",
                    }),
                ),
            );
            write_case(
                &mut out,
                &format!("notification {l} odd-details"),
                &notification(
                    NotificationKind::BackupCodeUsed,
                    locale,
                    serde_json::json!({"remaining": true}),
                ),
            );
            write_case(
                &mut out,
                &format!("notification {l} odd-details-low"),
                &notification(
                    NotificationKind::BackupCodesLow,
                    locale,
                    serde_json::json!({"remaining": null}),
                ),
            );
        }
        out
    }

    #[test]
    fn shipped_texts_are_unchanged() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/shipped-texts.txt"
        );
        let actual = snapshot();
        if std::env::var_os("MFA_BLESS_SHIPPED_TEXTS").is_some() {
            std::fs::write(path, &actual).unwrap();
            return;
        }
        let expected = std::fs::read_to_string(path).unwrap();
        // Part by part, so that a failure names its case.
        let split = |s: &str| -> Vec<(String, String)> {
            s.split("### ")
                .skip(1)
                .map(|chunk| {
                    let (head, body) = chunk.split_once('\n').unwrap_or((chunk, ""));
                    (head.to_owned(), body.to_owned())
                })
                .collect()
        };
        let (actual, expected) = (split(&actual), split(&expected));
        assert_eq!(actual.len(), expected.len(), "number of parts");
        for ((case, got), (want_case, want)) in actual.iter().zip(&expected) {
            assert_eq!(case, want_case);
            assert_eq!(got, want, "{case}");
        }
    }
}

#[test]
fn shipped_files_are_the_catalogue() {
    // Each shipped language has every words template, each layout is
    // shipped once, and nothing else is shipped.
    let mut expected: BTreeSet<(String, String)> = LAYOUTS
        .into_iter()
        .map(|name| (String::new(), name.to_owned()))
        .collect();
    for language in SHIPPED_LANGUAGES {
        for name in catalogue().filter(|n| n.ends_with(".words")) {
            expected.insert((format!("{language}/"), name));
        }
    }
    let actual: BTreeSet<(String, String)> = SHIPPED
        .iter()
        .map(|s| (s.dir.to_owned(), s.name.to_owned()))
        .collect();
    assert_eq!(actual.len(), SHIPPED.len(), "a file is listed twice");
    assert_eq!(actual, expected);
}

#[test]
fn a_host_template_replaces_that_template_only() {
    let templates = Templates::builder()
        .template("en", "otp.subject", "Your {{ product }} code: {{ code }}")
        .build()
        .unwrap();
    let english = templates.render(&otp(Some("en"))).unwrap();
    let before = shipped(&otp(Some("en")));
    assert_eq!(english.subject, "Your Acme code: 042917");
    // The HTML title shows the subject that was sent.
    assert!(
        english
            .html
            .contains("<title>Your Acme code: 042917</title>")
    );
    assert_eq!(english.text, before.text);
    assert_eq!(english.short, before.short);
    // German and the notifications stay as shipped.
    let german = otp(Some("de"));
    assert_eq!(
        parts(&templates.render(&german).unwrap()),
        parts(&shipped(&german))
    );
    let n = notification(NotificationKind::PasswordChanged, None, full_details());
    assert_eq!(parts(&templates.render(&n).unwrap()), parts(&shipped(&n)));
}

#[test]
fn a_host_can_replace_a_layout_or_the_words_of_one_notification() {
    let templates = Templates::builder()
        .template_for_all(
            "layout.html",
            "<html><body><img src=\"https://acme.example/logo.png\">\
             {% block body %}{% endblock %}</body></html>",
        )
        .template("fr", "otp.words", FRENCH_OTP)
        .template(
            "de",
            "password_changed.words",
            "{% set title %}Neues Passwort{% endset %}\
             {% set event %}Ihr {{ product }}-Passwort ist neu\
             {% if details.ip %} (IP {{ details.ip }}){% endif %}.{% endset %}",
        )
        .build()
        .unwrap();
    // The layout set for all is in every language, the added one too.
    for locale in [None, Some("de"), Some("fr")] {
        let html = templates.render(&otp(locale)).unwrap().html;
        assert!(
            html.starts_with("<html><body><img src=\"https://acme.example/logo.png\"><p"),
            "{locale:?}"
        );
        assert!(html.contains(">042917</p>"));
    }
    let r = templates
        .render(&notification(
            NotificationKind::PasswordChanged,
            Some("de"),
            serde_json::Value::Null,
        ))
        .unwrap();
    assert_eq!(r.subject, "Acme: Neues Passwort");
    assert_eq!(r.short, "Acme: Ihr Acme-Passwort ist neu.");
    let with_ip = notification(
        NotificationKind::PasswordChanged,
        Some("de"),
        serde_json::json!({"ip": "192.0.2.7"}),
    );
    assert_eq!(
        templates.render(&with_ip).unwrap().short,
        "Acme: Ihr Acme-Passwort ist neu (IP 192.0.2.7)."
    );
    // The rest of the German notification is the shipped German.
    assert!(r.text.contains("Falls Sie das nicht waren"));
    let other = notification(NotificationKind::FactorAdded, Some("de"), full_details());
    let (ours, theirs) = (templates.render(&other).unwrap(), shipped(&other));
    assert_eq!(ours.text, theirs.text);
    assert_eq!(ours.subject, theirs.subject);
}

const FRENCH_OTP: &str = r#"
{% set why = {"login": "pour vous connecter", "enrollment": "pour confirmer cette adresse", "step_up": "pour confirmer une action sensible"}[purpose] %}
{% set subject %}{{ code }} est votre code {{ product }}{% endset %}
{% set intro %}Saisissez ce code {{ why }} sur {{ product }} :{% endset %}
{% set sent_to %}Il a été envoyé à {{ to }} et expire le {{ expires_at|format_time("%d/%m/%Y à %H:%M UTC") }}.{% endset %}
{% set warning %}Ne le communiquez à personne.{% endset %}
{% set short %}{{ code }} est votre code {{ product }}.{% endset %}
"#;

#[test]
fn a_host_template_for_one_language_stays_in_that_language() {
    let templates = Templates::builder()
        .template("en", "otp.subject", "Your {{ product }} code: {{ code }}")
        .template("fr", "otp.words", FRENCH_OTP)
        .build()
        .unwrap();
    assert_eq!(
        templates.render(&otp(Some("fr"))).unwrap().subject,
        "042917 est votre code Acme"
    );
    assert_eq!(
        templates.render(&otp(Some("en"))).unwrap().subject,
        "Your Acme code: 042917"
    );
}

#[test]
fn a_host_adds_a_language_with_its_words_only() {
    let templates = Templates::builder()
        .template("fr", "otp.words", FRENCH_OTP)
        .build()
        .unwrap();
    assert_eq!(
        templates.languages().collect::<Vec<_>>(),
        ["de", "en", "fr"]
    );
    let r = templates.render(&otp(Some("fr-CH"))).unwrap();
    assert_eq!(r.language, "fr");
    assert_eq!(r.subject, "042917 est votre code Acme");
    assert_eq!(
        r.text,
        "Saisissez ce code pour vous connecter sur Acme :\n\n    042917\n\n\
         Il a été envoyé à a***@example.com et expire le 02/01/2030 à 07:05 UTC.\n\n\
         Ne le communiquez à personne.\n"
    );
    assert!(r.html.starts_with("<!DOCTYPE html>\n<html lang=\"fr\">"));
    assert!(
        r.html
            .contains("<p style=\"margin:0 0 16px\">Ne le communiquez à personne.</p>")
    );
    assert_eq!(r.short, "042917 est votre code Acme.");
}

#[test]
fn an_added_language_takes_its_missing_templates_from_english() {
    let templates = Templates::builder()
        .template("fr", "otp.words", FRENCH_OTP)
        .template(
            "fr",
            "new_device_login.words",
            "{% set title %}Nouvelle connexion{% endset %}\
             {% set event %}Un nouvel appareil s’est connecté à {{ product }}.{% endset %}",
        )
        // The host's English wins over the shipped English, for French too.
        .template(
            "en",
            "notification.words",
            "{% set when = at|format_time(\"%Y-%m-%d\") %}{% set unknown = \"?\" %}\
             {% set advice %}Not you? Write to security@acme.example.{% endset %}\
             {% set footer %}Sent to {{ to }}.{% endset %}",
        )
        .build()
        .unwrap();
    let r = templates
        .render(&notification(
            NotificationKind::NewDeviceLogin,
            Some("fr"),
            full_details(),
        ))
        .unwrap();
    assert_eq!(r.subject, "Acme: Nouvelle connexion");
    assert_eq!(
        r.text,
        "Un nouvel appareil s’est connecté à Acme.\n\n\
         Not you? Write to security@acme.example.\n\nSent to a***@example.com.\n"
    );
    // A kind without French words is English, with the host's English.
    let r = templates
        .render(&notification(
            NotificationKind::PasswordChanged,
            Some("fr"),
            serde_json::Value::Null,
        ))
        .unwrap();
    assert_eq!(r.subject, "Acme: Password changed");
    assert!(
        r.text
            .starts_with("The password of your Acme account was changed at 2030-03-17.")
    );
    // German keeps its own words.
    let de = notification(
        NotificationKind::PasswordChanged,
        Some("de"),
        full_details(),
    );
    assert_eq!(parts(&templates.render(&de).unwrap()), parts(&shipped(&de)));
}

#[test]
fn a_locale_picks_the_most_specific_language() {
    let words = "{% set title %}t{% endset %}{% set event %}e{% endset %}";
    let templates = Templates::builder()
        .template("pt", "password_changed.words", words)
        .template("pt_BR", "password_changed.words", words)
        .build()
        .unwrap();
    for (locale, language) in [
        (Some("pt-BR"), "pt-br"),
        (Some("PT_br"), "pt-br"),
        (Some("pt-PT"), "pt"),
        (Some("de-AT"), "de"),
        (Some("DE_ch"), "de"),
        (Some("deu"), "en"),
        (Some(""), "en"),
        (Some("-"), "en"),
        (None, "en"),
    ] {
        assert_eq!(templates.language_for(locale), language, "{locale:?}");
    }
}

#[test]
fn values_are_escaped_in_html_and_raw_in_plain_text() {
    let script = "<script>alert(\"x\")</script>";
    let escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;";
    let r = shipped(&notification(
        NotificationKind::NewDeviceLogin,
        None,
        serde_json::json!({ "device": script }),
    ));
    assert!(r.text.contains(&format!("(device: {script},")));
    assert!(r.short.contains(script));
    assert!(r.html.contains(&format!("(device: {escaped},")));
    assert!(!r.html.contains("<script>"));

    // The same holds for a host's templates.
    let templates = Templates::builder()
        .template("en", "otp.html", "<p>{{ product }}</p><p>{{ code }}</p>")
        .template("en", "otp.subject", "{{ product }}")
        .build()
        .unwrap();
    let r = templates
        .render(&otp_with(
            None,
            ChallengePurpose::Login,
            "a@example.com",
            script,
            "042917",
        ))
        .unwrap();
    assert_eq!(r.html, format!("<p>{escaped}</p><p>042917</p>"));
    assert_eq!(r.subject, script);
    assert!(r.text.contains(script));
}

#[test]
fn bad_templates_are_refused_when_built() {
    let build = |language: &str, name: &str, source: &str| {
        Templates::builder()
            .template(language, name, source)
            .build()
            .unwrap_err()
    };
    let invalid = |e: TemplateError| match e {
        TemplateError::Invalid {
            language,
            template,
            reason,
        } => (language, template, reason),
        other => panic!("not Invalid: {other:?}"),
    };

    // A syntax error.
    let (language, template, _) = invalid(build("en", "otp.subject", "{{ code "));
    assert_eq!(
        (language.as_str(), template.as_str()),
        ("en", "otp.subject")
    );
    // A misspelt variable.
    let (_, _, reason) = invalid(build("en", "otp.text", "{{ prodcut }}"));
    assert!(reason.contains("undefined"), "{reason}");
    // Words without a part the layouts use: found in the template that
    // imports them.
    let (language, template, reason) =
        invalid(build("fr", "otp.words", "{% set subject %}x{% endset %}"));
    assert_eq!(language, "fr");
    assert!(template.starts_with("otp."), "{template}");
    assert!(reason.contains("undefined"), "{reason}");
    // A time format chrono does not know.
    let (_, _, reason) = invalid(build(
        "en",
        "notification.subject",
        "{{ at|format_time(\"%Q\") }}",
    ));
    assert!(reason.contains("format_time"), "{reason}");
    // A name that is no template, a tag that is no language.
    assert_eq!(
        build("en", "otp.body", "x"),
        TemplateError::UnknownTemplate("otp.body".into())
    );
    for tag in ["", "e", "en us", "en/../de", "toolonglanguage"] {
        assert_eq!(
            build(tag, "otp.subject", "x"),
            TemplateError::Language(tag.into())
        );
    }
}

#[test]
fn push_notices_speak_the_users_language() {
    let shipped = Templates::shipped();
    let render = |locale, step_up, device, country| {
        let r = shipped
            .render_push(&push_notice(locale, step_up, device, country))
            .unwrap();
        (r.language, r.title, r.body)
    };
    let firefox = Some("Firefox on Linux");
    assert_eq!(
        render(None, false, firefox, Some("CH")),
        (
            "en".into(),
            "Approve sign-in?".into(),
            "Firefox on Linux, CH".into()
        )
    );
    assert_eq!(
        render(Some("en-GB"), true, None, None),
        (
            "en".into(),
            "Confirm it is you?".into(),
            "A sign-in waits for your approval".into()
        )
    );
    assert_eq!(
        render(Some("de-CH"), false, None, Some("CH")),
        ("de".into(), "Anmeldung freigeben?".into(), "CH".into())
    );
    assert_eq!(
        render(Some("de"), true, firefox, None),
        (
            "de".into(),
            "Sind Sie es wirklich?".into(),
            "Firefox on Linux".into()
        )
    );
    // Plain text: nothing is escaped.
    assert_eq!(
        render(None, false, Some("<Edge> & \"Co\""), None).2,
        "<Edge> & \"Co\""
    );
}

#[test]
fn a_host_writes_push_words_for_its_language_and_may_not_leave_one_out() {
    let templates = Templates::builder()
        .template(
            "fr",
            "push.words",
            "{% set sign_in %}Connexion à {{ product }} ?{% endset %}\
             {% set step_up %}Est-ce bien vous ?{% endset %}\
             {% set waiting %}Une connexion attend votre accord{% endset %}",
        )
        .template_for_all(
            "push.body",
            "{% import \"push.words\" as w %}{{ w.waiting }} ({{ country|default(\"?\") }})",
        )
        .build()
        .unwrap();
    let french = templates
        .render_push(&push_notice(Some("fr-CA"), false, None, Some("CA")))
        .unwrap();
    assert_eq!(
        (
            french.language.as_str(),
            french.title.as_str(),
            french.body.as_str()
        ),
        (
            "fr",
            "Connexion à Acme ?",
            "Une connexion attend votre accord (CA)"
        )
    );
    let german = templates
        .render_push(&push_notice(Some("de"), true, None, None))
        .unwrap();
    assert_eq!(
        (german.title.as_str(), german.body.as_str()),
        (
            "Sind Sie es wirklich?",
            "Eine Anmeldung wartet auf Ihre Freigabe (?)"
        ),
        "a layout set for all languages renders each one's words"
    );

    // Words without `waiting` are refused where they are built, naming
    // the template that needed them.
    let refused = Templates::builder()
        .template(
            "en",
            "push.words",
            "{% set sign_in %}a{% endset %}{% set step_up %}b{% endset %}",
        )
        .build()
        .unwrap_err();
    match refused {
        TemplateError::Invalid {
            language,
            template,
            reason,
        } => {
            assert_eq!((language.as_str(), template.as_str()), ("en", "push.body"));
            assert!(reason.contains("undefined"), "{reason}");
        }
        other => panic!("not Invalid: {other:?}"),
    }
}

#[test]
fn a_render_error_names_no_value() {
    // Passes the checks with the sample code, fails with this one.
    let templates = Templates::builder()
        .template(
            "en",
            "otp.short",
            "{% if code == \"042917\" %}{{ missing }}{% endif %}{{ code }}",
        )
        .build()
        .unwrap();
    let Err(error) = templates.render(&otp(None)) else {
        panic!("the template should fail");
    };
    assert!(matches!(
        &error,
        TemplateError::Render { language, template, .. }
            if language == "en" && template == "otp.short"
    ));
    assert!(!error.to_string().contains("042917"), "{error}");
    assert!(!format!("{error:?}").contains("042917"), "{error:?}");
}

#[test]
fn every_message_renders_in_every_shipped_language_whatever_its_details() {
    let odd = [
        serde_json::Value::Null,
        serde_json::json!("text"),
        serde_json::json!([1, 2]),
        serde_json::json!({"device": null, "ip": {"nested": true}, "remaining": "x"}),
    ];
    for kind in NotificationKind::ALL {
        for locale in [None, Some("de")] {
            for details in &odd {
                let r = shipped(&notification(kind, locale, details.clone()));
                assert!(r.subject.starts_with("Acme: "));
                assert!(r.text.contains("a***@example.com"));
                assert!(r.html.ends_with("</html>\n"));
                assert!(r.short.starts_with("Acme: "));
            }
        }
    }
}

/// Found by the `template_render` fuzz target: times far outside RFC 3339's
/// years (a notification dated 30,000 years BC, the latest chrono time)
/// still render.
#[test]
fn times_outside_four_digit_years_render() {
    for at in [
        DateTime::<Utc>::from_timestamp(-1_022_202_216_449, 0).expect("in range"),
        DateTime::<Utc>::MAX_UTC,
        DateTime::<Utc>::MIN_UTC,
    ] {
        for kind in NotificationKind::ALL {
            let message = Message::Notification(NotificationMessage {
                id: crate::model::NotificationId::new(),
                to: "a@example.com".into(),
                kind,
                details: serde_json::Value::String(String::new()),
                at,
                product_name: String::new(),
                locale: None,
            });
            Templates::shipped()
                .render(&message)
                .unwrap_or_else(|e| panic!("{kind:?} at {at:?}: {e}"));
        }
    }
}

//! What the messages say: the subject, plain text, HTML and short text
//! (SMS, push) of every one-time-code message and security notification,
//! and the title and body of a push approval notice, in every language.
//!
//! The shipped wording, English and German, exists once: as the template
//! files in this crate's `templates/` folder, embedded in the binary and
//! rendered with [minijinja](https://docs.rs/minijinja) (Jinja syntax). It
//! lives in the engine rather than in `mfa-delivery` because users of the
//! engine alone need it too: a host's own
//! [`DeliveryChannel`](crate::delivery::DeliveryChannel), a development
//! outbox, the flow tests that check no secret reaches a notification.
//! `mfa-delivery` depends on this crate, so its transports take a
//! [`Templates`] in their settings ([`Templates::shipped`] unless the host
//! sets its own).
//!
//! A host changes any single template, or adds a language, with
//! [`Templates::builder`]; everything it does not name stays as shipped:
//!
//! ```
//! use chrono::{DateTime, Utc};
//! use mfa_core::crypto::OtpCode;
//! use mfa_core::delivery::{Message, OtpCodeText, OtpMessage};
//! use mfa_core::model::ChallengePurpose;
//! use mfa_core::template::Templates;
//!
//! let templates = Templates::builder()
//!     // The English subject of a code message, and nothing else.
//!     .template("en", "otp.subject", "Your {{ product }} sign-in code: {{ code }}")
//!     // French: its words only; the shipped layouts put them together.
//!     .template("fr", "otp.words", r#"
//!         {% set subject %}{{ code }} est votre code {{ product }}{% endset %}
//!         {% set intro %}Saisissez ce code dans {{ product }} :{% endset %}
//!         {% set sent_to %}Envoyé à {{ to }}, valable jusqu’au {{ expires_at|format_time("%d/%m/%Y %H:%M UTC") }}.{% endset %}
//!         {% set warning %}Ne le communiquez à personne.{% endset %}
//!         {% set short %}{{ code }} est votre code {{ product }}. Ne le communiquez à personne.{% endset %}
//!     "#)
//!     .build()?;
//!
//! let message = |locale: &str| Message::Otp(OtpMessage {
//!     to: "alice@example.com".into(),
//!     code: OtpCodeText::new(OtpCode::parse("123456", 6).unwrap()),
//!     purpose: ChallengePurpose::Login,
//!     expires_at: DateTime::<Utc>::from_timestamp(1_900_000_000, 0).unwrap(),
//!     product_name: "Acme".into(),
//!     locale: Some(locale.into()),
//! });
//! assert_eq!(templates.render(&message("en-GB"))?.subject, "Your Acme sign-in code: 123456");
//! assert!(templates.render(&message("en"))?.text.starts_with("Use this code to finish signing in"));
//! let french = templates.render(&message("fr-CH"))?;
//! assert_eq!(french.language, "fr");
//! assert_eq!(french.subject, "123456 est votre code Acme");
//! assert!(french.html.contains("Ne le communiquez à personne."));
//! // No French words for notifications yet: they are in English.
//! assert!(templates.render(&Message::Notification(mfa_core::delivery::NotificationMessage {
//!     id: mfa_core::model::NotificationId::new(),
//!     to: "alice@example.com".into(),
//!     kind: mfa_core::model::NotificationKind::PasswordChanged,
//!     details: serde_json::Value::Null,
//!     at: DateTime::<Utc>::from_timestamp(1_900_000_000, 0).unwrap(),
//!     product_name: "Acme".into(),
//!     locale: Some("fr".into()),
//! }))?.text.starts_with("The password of your Acme account was changed"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The templates
//!
//! Every language has every template below, under the same name.
//!
//! | name | what it is | shipped |
//! |---|---|---|
//! | `otp.subject`, `notification.subject` | the email subject | once, for every language |
//! | `otp.text`, `notification.text` | the plain-text body | once |
//! | `otp.html`, `notification.html` | the HTML body; the shipped ones extend `layout.html` | once |
//! | `otp.short`, `notification.short` | the text of an SMS or a push | once |
//! | `layout.html` | the HTML page around a body (`{% block body %}`) | once |
//! | `link.subject`, `link.text`, `link.html`, `link.short` | a password reset or email verification link | once |
//! | `otp.words` | the sentences of a code message, as `set`s: `subject`, `intro`, `sent_to`, `warning`, `short` | per language |
//! | `link.words` | the sentences of a link message: `subject`, `intro`, `action`, `or_paste`, `expires`, `warning`, `short` | per language |
//! | `notification.words` | what every notification says: `when` (the time, formatted), `unknown`, `advice`, `footer` | per language |
//! | `{kind}.words`, e.g. `new_device_login.words` | a notification's `title` and `event` (the kind as [`NotificationKind::as_str`] names it) | per language |
//! | `push.title`, `push.body` | the title and body of a push approval notice ([`Templates::render_push`]) | once |
//! | `push.words` | the sentences of a push notice: `sign_in`, `step_up` (titles), `waiting` (the body when the sign-in's device and country are unknown) | per language |
//!
//! The first four rows are what a transport sends. The shipped ones hold no
//! wording: they import the words of the language being rendered
//! (`{% import "otp.words" as w %}…{{ w.intro }}`), so a language needs
//! only its words, and a host that wants another subject writes only a
//! subject. A template refers to another by its bare name and always gets
//! the one of its own language.
//!
//! # Values
//!
//! | variable | in | value |
//! |---|---|---|
//! | `lang` | every template | the language's tag (`en`, `de`, `pt-br`, …) |
//! | `product` | every template | [`Policy::product_name`](crate::policy::Policy::product_name) |
//! | `to` | every template but `push.*` | the destination, masked ([`mask_destination`]: `a***@example.com`, `***67`) |
//! | `subject` | every one but `*.subject` | the rendered subject |
//! | `code` | code messages | the code's digits |
//! | `purpose` | code messages | `login`, `enrollment` or `step_up` |
//! | `expires_at` | code messages | when the code stops working (RFC 3339, UTC) |
//! | `kind` | notifications | the event, e.g. `new_device_login` |
//! | `purpose` | links | `password_reset` or `email_verification` |
//! | `token` | links | the token to paste |
//! | `url` | links | the link carrying the token, or none |
//! | `expires_at` | links | when the token stops working (RFC 3339, UTC) |
//! | `at` | notifications | when it happened (RFC 3339, UTC) |
//! | `step_up` | push notices | whether a signed-in user confirms a sensitive action (else it is a sign-in) |
//! | `device`, `country` | push notices | the sign-in's device (its name, else its user agent) and country; one that is not known is undefined: `country\|default("unknown")` |
//! | `expires_at` | push notices | when the request can no longer be answered (RFC 3339, UTC) |
//! | `details` | notifications | the event's details as text (`device`, `ip`, `country`, `method`, `remaining`, `label`, as the event has them); one that is missing is undefined: `details.ip\|default("unknown")` |
//!
//! Besides Jinja's usual filters there is `format_time(format)`: a time
//! (`expires_at`, `at`) in UTC, with chrono's strftime syntax, e.g.
//! `{{ at|format_time("%d.%m.%Y %H:%M UTC") }}`.
//!
//! # Languages and fallback
//!
//! A message is rendered in the language of its locale: the whole tag
//! (`pt-BR` → `pt-br`), then the tag shortened by a subtag at a time
//! (`de-CH` → `de`), else English ([`DEFAULT_LANGUAGE`]).
//!
//! A language takes each template from the first of:
//!
//! 1. the host's template for that language ([`TemplatesBuilder::template`]);
//! 2. the host's template for every language
//!    ([`TemplatesBuilder::template_for_all`]);
//! 3. the shipped one: for a shipped language its own words or the shared
//!    layouts; for a language the host added, the shared layouts and the
//!    English words (the host's English words where it set them).
//!
//! So a host's English subject is English only, a host's logo in
//! `layout.html` (set for all) is in every language, and a language the
//! host adds needs only its words: the shared layouts render them, and a
//! notification it has no words for is in English.
//!
//! # Escaping and errors
//!
//! HTML templates (names ending in `.html`) escape every value (`&`, `<`,
//! `>`, `"`, `'`); the others escape nothing, for plain text and SMS. The
//! shipped words are plain text, so a sentence and the values in it are
//! escaped once, where the HTML body prints it.
//!
//! Printing a variable that is not defined is an error, not an empty
//! string (testing it, `{% if details.ip %}`, is fine).
//! [`TemplatesBuilder::build`] compiles every template and renders every
//! message kind in every language with sample values, so a syntax error,
//! a misspelt variable or a part missing from a language's words is a
//! [`TemplateError`] where the host builds its templates, not when a
//! message is sent. Rendering logs nothing, and its error names the
//! template and what failed, never a value.

use crate::delivery::{
    LinkMessage, LinkPurpose, LinkSecret, Message, NotificationMessage, OtpMessage,
    mask_destination,
};
use crate::model::{ChallengePurpose, NotificationKind};
use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, SecondsFormat, Utc};
use minijinja::{AutoEscape, Environment, Output, State, UndefinedBehavior, Value, context};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::sync::{Arc, OnceLock};

/// The language of a message whose locale matches no language, and the
/// one an added language takes its missing words from.
pub const DEFAULT_LANGUAGE: &str = "en";

/// The languages this crate ships words for.
pub const SHIPPED_LANGUAGES: [&str; 2] = ["en", "de"];

/// The templates shipped once and shared by every language.
const LAYOUTS: [&str; 15] = [
    "layout.html",
    "otp.subject",
    "otp.text",
    "otp.html",
    "otp.short",
    "notification.subject",
    "notification.text",
    "notification.html",
    "notification.short",
    "link.subject",
    "link.text",
    "link.html",
    "link.short",
    "push.title",
    "push.body",
];

/// One shipped template file: `dir` is `""` for the shared layouts, else
/// the language's folder.
struct Shipped {
    dir: &'static str,
    name: &'static str,
    source: &'static str,
}

macro_rules! shipped {
    ($($dir:literal => [$($name:literal),* $(,)?]),* $(,)?) => {
        &[$($(Shipped {
            dir: $dir,
            name: $name,
            source: include_str!(concat!("../templates/", $dir, $name)),
        },)*)*]
    };
}

/// Every shipped file; `shipped_files_are_the_catalogue` checks this list
/// against [`LAYOUTS`], [`SHIPPED_LANGUAGES`] and the notification kinds.
const SHIPPED: &[Shipped] = shipped! {
    "" => [
        "layout.html", "otp.subject", "otp.text", "otp.html", "otp.short",
        "notification.subject", "notification.text", "notification.html",
        "notification.short", "link.subject", "link.text", "link.html", "link.short",
        "push.title", "push.body",
    ],
    "en/" => [
        "otp.words", "notification.words", "link.words", "new_device_login.words",
        "factor_added.words", "factor_removed.words", "backup_codes_generated.words",
        "backup_code_used.words", "backup_codes_low.words", "account_locked.words",
        "token_reused.words", "otp_replay.words", "passkey_suspect.words",
        "push_not_me.words", "suspicious_sign_in.words", "device_trusted.words",
        "password_changed.words", "push.words",
    ],
    "de/" => [
        "otp.words", "notification.words", "link.words", "new_device_login.words",
        "factor_added.words", "factor_removed.words", "backup_codes_generated.words",
        "backup_code_used.words", "backup_codes_low.words", "account_locked.words",
        "token_reused.words", "otp_replay.words", "passkey_suspect.words",
        "push_not_me.words", "suspicious_sign_in.words", "device_trusted.words",
        "password_changed.words", "push.words",
    ],
};

/// Every template name a language has.
fn catalogue() -> impl Iterator<Item = String> {
    LAYOUTS
        .into_iter()
        .map(str::to_owned)
        .chain([
            "otp.words".to_owned(),
            "notification.words".to_owned(),
            "link.words".to_owned(),
            "push.words".to_owned(),
        ])
        .chain(
            NotificationKind::ALL
                .into_iter()
                .map(|kind| format!("{}.words", kind.as_str())),
        )
}

fn shipped_source(language: &str, name: &str) -> Option<&'static str> {
    SHIPPED
        .iter()
        .find(|s| s.name == name && (s.dir.is_empty() || s.dir.strip_suffix('/') == Some(language)))
        .map(|s| s.source)
}

/// Why templates could not be built, or a message not rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// Not a language tag (letters, then subtags of letters and digits,
    /// separated by `-` or `_`).
    #[error("invalid language tag {0:?}")]
    Language(String),
    /// No template has this name; see [the list](self#the-templates).
    #[error("unknown template {0:?}")]
    UnknownTemplate(String),
    /// A template does not compile, or fails on sample values.
    #[error("template {template:?} of language {language:?}: {reason}")]
    Invalid {
        /// The language whose template failed.
        language: String,
        /// The template rendered (the failing one may be one it imports;
        /// `reason` names it).
        template: String,
        /// The engine's explanation, with the line.
        reason: String,
    },
    /// A template failed while a message was rendered. Only the kind of
    /// failure is kept: the values (a code among them) are not.
    #[error("template {template:?} of language {language:?} failed: {failure}")]
    Render {
        /// The language of the message.
        language: String,
        /// The template rendered.
        template: String,
        /// What went wrong, without values.
        failure: String,
    },
}

/// A message rendered for a transport.
///
/// `Debug` is not implemented on purpose: for a code, every field but the
/// language contains it.
#[derive(Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The language the message was rendered in: the one its locale
    /// matched (`en`, `de`, or one the host added). Templates that language
    /// lacks were the English ones.
    pub language: String,
    /// Email subject. The shipped ones put a code first, so it shows in
    /// previews and notification banners.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body; every value in it is escaped.
    pub html: String,
    /// A short text for SMS and push (one SMS segment where possible).
    pub short: String,
}

/// What a push approval notice is about: the values of `push.title` and
/// `push.body` ([`Templates::render_push`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushNoticeValues<'a> {
    /// Whether a signed-in user confirms a sensitive action (a step-up);
    /// else the notice asks to approve a sign-in.
    pub step_up: bool,
    /// The signing-in device as the client described it (its name, else
    /// its user agent), when known.
    pub device: Option<&'a str>,
    /// The signing-in client's country, when known.
    pub country: Option<&'a str>,
    /// When the request can no longer be answered.
    pub expires_at: DateTime<Utc>,
    /// [`Policy::product_name`](crate::policy::Policy::product_name).
    pub product_name: &'a str,
    /// The user's preferred locale.
    pub locale: Option<&'a str>,
}

/// A push approval notice rendered: what the phone shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedPush {
    /// The language the notice was rendered in.
    pub language: String,
    /// The notification's title.
    pub title: String,
    /// Its line of context.
    pub body: String,
}

/// The templates messages are rendered with: the shipped ones, or the
/// shipped ones with a host's changes ([`Templates::builder`]). Cheap to
/// clone.
#[derive(Clone)]
pub struct Templates {
    inner: Arc<Inner>,
}

struct Inner {
    env: Environment<'static>,
    languages: BTreeSet<String>,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates")
            .field("languages", &self.inner.languages)
            .finish_non_exhaustive()
    }
}

impl Default for Templates {
    fn default() -> Self {
        Self::shipped()
    }
}

impl Templates {
    /// The shipped templates: English and German.
    ///
    /// # Panics
    /// Never: the shipped templates are built and checked by this crate's
    /// tests.
    #[must_use]
    pub fn shipped() -> Self {
        static SHIPPED_SET: OnceLock<Templates> = OnceLock::new();
        SHIPPED_SET
            .get_or_init(|| {
                TemplatesBuilder::default()
                    .build()
                    .expect("the shipped templates are valid")
            })
            .clone()
    }

    /// Starts from the shipped templates; see [the module](self).
    #[must_use]
    pub fn builder() -> TemplatesBuilder {
        TemplatesBuilder::default()
    }

    /// The languages messages can be rendered in, the shipped ones and the
    /// host's, as normalised tags.
    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.inner.languages.iter().map(String::as_str)
    }

    /// The language a message with `locale` is rendered in.
    ///
    /// ```
    /// use mfa_core::template::Templates;
    /// let shipped = Templates::shipped();
    /// assert_eq!(shipped.language_for(Some("de-CH")), "de");
    /// assert_eq!(shipped.language_for(Some("DE_at")), "de");
    /// assert_eq!(shipped.language_for(Some("fr")), "en");
    /// assert_eq!(shipped.language_for(None), "en");
    /// ```
    #[must_use]
    pub fn language_for(&self, locale: Option<&str>) -> &str {
        let tag = normalise(locale.unwrap_or_default());
        let mut candidate = tag.as_str();
        loop {
            if let Some(language) = self.inner.languages.get(candidate) {
                return language;
            }
            match candidate.rsplit_once('-') {
                Some((shorter, _)) => candidate = shorter,
                None => return DEFAULT_LANGUAGE,
            }
        }
    }

    /// Renders `message` in the language of its locale.
    ///
    /// ```
    /// use chrono::{DateTime, Utc};
    /// use mfa_core::crypto::OtpCode;
    /// use mfa_core::delivery::{Message, OtpCodeText, OtpMessage};
    /// use mfa_core::model::ChallengePurpose;
    /// use mfa_core::template::Templates;
    ///
    /// let message = Message::Otp(OtpMessage {
    ///     to: "alice@example.com".into(),
    ///     code: OtpCodeText::new(OtpCode::parse("123456", 6)?),
    ///     purpose: ChallengePurpose::Login,
    ///     expires_at: DateTime::<Utc>::from_timestamp(1_900_000_000, 0).unwrap(),
    ///     product_name: "Acme <Cloud>".into(),
    ///     locale: Some("de-CH".into()),
    /// });
    /// let rendered = Templates::shipped().render(&message)?;
    /// assert_eq!(rendered.subject, "123456 ist Ihr Bestätigungscode für Acme <Cloud>");
    /// assert!(rendered.html.contains("Acme &lt;Cloud&gt;"));
    /// assert!(rendered.text.contains("a***@example.com"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`TemplateError::Render`] when a template fails on these values
    /// (the checks of [`TemplatesBuilder::build`] make that unlikely; the
    /// shipped templates never fail).
    pub fn render(&self, message: &Message) -> Result<Rendered, TemplateError> {
        let (locale, family, values) = match message {
            Message::Otp(m) => (m.locale.as_deref(), "otp", otp_values(m)),
            Message::Notification(m) => {
                (m.locale.as_deref(), "notification", notification_values(m))
            }
            Message::Link(m) => (m.locale.as_deref(), "link", link_values(m)),
        };
        let language = self.language_for(locale);
        self.render_parts(language, family, &values)
            .map_err(|failure| render_error(language, failure))
    }

    /// Renders a push approval notice in the language of its locale.
    ///
    /// ```
    /// use chrono::{DateTime, Utc};
    /// use mfa_core::template::{PushNoticeValues, Templates};
    ///
    /// let notice = |locale, device| PushNoticeValues {
    ///     step_up: false,
    ///     device,
    ///     country: Some("CH"),
    ///     expires_at: DateTime::<Utc>::from_timestamp(1_900_000_000, 0).unwrap(),
    ///     product_name: "Acme",
    ///     locale,
    /// };
    /// let shipped = Templates::shipped();
    /// let english = shipped.render_push(&notice(None, Some("Firefox on Linux")))?;
    /// assert_eq!((english.title.as_str(), english.body.as_str()), ("Approve sign-in?", "Firefox on Linux, CH"));
    /// let german = shipped.render_push(&notice(Some("de-AT"), None))?;
    /// assert_eq!((german.title.as_str(), german.body.as_str()), ("Anmeldung freigeben?", "CH"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`TemplateError::Render`] when a template fails on these values.
    pub fn render_push(
        &self,
        notice: &PushNoticeValues<'_>,
    ) -> Result<RenderedPush, TemplateError> {
        let language = self.language_for(notice.locale);
        self.render_push_parts(language, &push_values(notice))
            .map_err(|failure| render_error(language, failure))
    }

    /// Renders template `name` of `language`; on failure, its name.
    fn render_one(
        &self,
        language: &str,
        name: String,
        values: &Value,
    ) -> Result<String, (String, minijinja::Error)> {
        self.inner
            .env
            .get_template(&format!("{language}/{name}"))
            .and_then(|t| t.render(values))
            .map_err(|e| (name, e))
    }

    /// Renders `push.title` and `push.body`; on failure, the template
    /// that failed.
    fn render_push_parts(
        &self,
        language: &str,
        values: &Value,
    ) -> Result<RenderedPush, (String, minijinja::Error)> {
        let values = context! { lang => language, ..values.clone() };
        Ok(RenderedPush {
            language: language.to_owned(),
            title: self.render_one(language, "push.title".into(), &values)?,
            body: self.render_one(language, "push.body".into(), &values)?,
        })
    }

    /// Renders the four parts of a message of `family` (`otp` or
    /// `notification`); on failure, the template that failed.
    fn render_parts(
        &self,
        language: &str,
        family: &str,
        values: &Value,
    ) -> Result<Rendered, (String, minijinja::Error)> {
        let part = |part: &str, values: &Value| {
            self.render_one(language, format!("{family}.{part}"), values)
        };
        let values = context! { lang => language, ..values.clone() };
        let subject = part("subject", &values)?;
        let values = context! { subject => &subject, ..values };
        Ok(Rendered {
            language: language.to_owned(),
            text: part("text", &values)?,
            html: part("html", &values)?,
            short: part("short", &values)?,
            subject,
        })
    }
}

/// The error of a failed render: the language, the template that failed
/// and the kind of failure (not the values, which may hold a code).
fn render_error(language: &str, (template, error): (String, minijinja::Error)) -> TemplateError {
    TemplateError::Render {
        language: language.to_owned(),
        template,
        failure: error.kind().to_string(),
    }
}

/// Collects a host's templates; [`TemplatesBuilder::build`] checks them.
#[derive(Debug, Clone, Default)]
pub struct TemplatesBuilder {
    /// (language, or `None` for every language; name; source)
    templates: Vec<(Option<String>, String, String)>,
}

impl TemplatesBuilder {
    /// Sets template `name` of `language` to `source`, in place of the
    /// shipped one (or an earlier call's). A `language` that is not
    /// shipped is added; see [fallback](self#languages-and-fallback) for
    /// the templates it does not set. Nothing is checked before
    /// [`TemplatesBuilder::build`].
    #[must_use]
    pub fn template(
        mut self,
        language: impl Into<String>,
        name: impl Into<String>,
        source: impl Into<String>,
    ) -> Self {
        self.templates
            .push((Some(language.into()), name.into(), source.into()));
        self
    }

    /// Sets template `name` of every language that does not set its own,
    /// the shipped ones and the added ones: a `layout.html` with the
    /// host's logo, say.
    #[must_use]
    pub fn template_for_all(mut self, name: impl Into<String>, source: impl Into<String>) -> Self {
        self.templates.push((None, name.into(), source.into()));
        self
    }

    /// Compiles every template of every language and renders every kind
    /// of message in each with sample values.
    ///
    /// # Errors
    /// [`TemplateError::Language`] for a malformed language tag,
    /// [`TemplateError::UnknownTemplate`] for a name not in
    /// [the list](self#the-templates), [`TemplateError::Invalid`] for a
    /// template that does not compile or fails on the sample values.
    pub fn build(self) -> Result<Templates, TemplateError> {
        let mut own: BTreeMap<(String, String), String> = BTreeMap::new();
        let mut for_all: BTreeMap<String, String> = BTreeMap::new();
        for (language, name, source) in self.templates {
            if !catalogue().any(|known| known == name) {
                return Err(TemplateError::UnknownTemplate(name));
            }
            match language {
                Some(language) => {
                    own.insert((language_tag(&language)?, name), source);
                }
                None => {
                    for_all.insert(name, source);
                }
            }
        }
        let languages: BTreeSet<String> = SHIPPED_LANGUAGES
            .into_iter()
            .map(str::to_owned)
            .chain(own.keys().map(|(language, _)| language.clone()))
            .collect();
        // The fallback order of the module documentation.
        let source = |language: &str, name: &str| -> String {
            let key = |language: &str| (language.to_owned(), name.to_owned());
            if let Some(source) = own.get(&key(language)).or_else(|| for_all.get(name)) {
                return source.clone();
            }
            let shipped_language = SHIPPED_LANGUAGES.contains(&language);
            if !shipped_language
                && name.ends_with(".words")
                && let Some(source) = own.get(&key(DEFAULT_LANGUAGE))
            {
                return source.clone();
            }
            let from = if shipped_language {
                language
            } else {
                DEFAULT_LANGUAGE
            };
            shipped_source(from, name).unwrap_or_default().to_owned()
        };

        let mut env = Environment::new();
        // Printing or filtering an undefined value fails (a misspelt name is
        // found by the checks below); `{% if details.ip %}` still works.
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_formatter(format_value);
        // A bare name means the template of the same language.
        env.set_path_join_callback(|name, parent| {
            match (name.contains('/'), parent.split_once('/')) {
                (false, Some((language, _))) => format!("{language}/{name}").into(),
                _ => name.into(),
            }
        });
        env.add_filter("format_time", format_time);

        for language in &languages {
            for name in catalogue() {
                env.add_template_owned(format!("{language}/{name}"), source(language, &name))
                    .map_err(|e| invalid(language, &name, &e))?;
            }
        }

        let templates = Templates {
            inner: Arc::new(Inner { env, languages }),
        };
        for language in &templates.inner.languages {
            for (family, values) in samples() {
                templates
                    .render_parts(language, family, &values)
                    .map_err(|(template, e)| invalid(language, &template, &e))?;
            }
            for values in push_samples() {
                templates
                    .render_push_parts(language, &values)
                    .map_err(|(template, e)| invalid(language, &template, &e))?;
            }
        }
        Ok(templates)
    }
}

fn invalid(language: &str, template: &str, error: &minijinja::Error) -> TemplateError {
    // The chain: "bad include" from an importing template says little
    // without the error in the imported one.
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        reason.push_str(": ");
        reason.push_str(&e.to_string());
        source = e.source();
    }
    TemplateError::Invalid {
        language: language.to_owned(),
        template: template.to_owned(),
        reason,
    }
}

/// Lower case, `_` as `-`, no surrounding blanks.
fn normalise(tag: &str) -> String {
    tag.trim().to_ascii_lowercase().replace('_', "-")
}

/// A host's language tag, normalised: a primary subtag of 2 to 8 letters,
/// then subtags of 1 to 8 letters or digits.
fn language_tag(tag: &str) -> Result<String, TemplateError> {
    let normalised = normalise(tag);
    let mut subtags = normalised.split('-');
    let primary_ok = subtags
        .next()
        .is_some_and(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_lowercase()));
    let rest_ok =
        subtags.all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()));
    if primary_ok && rest_ok {
        Ok(normalised)
    } else {
        Err(TemplateError::Language(tag.to_owned()))
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn otp_values(m: &OtpMessage) -> Value {
    context! {
        product => m.product_name.as_str(),
        to => mask_destination(&m.to),
        code => m.code.expose(),
        purpose => m.purpose.as_str(),
        expires_at => rfc3339(m.expires_at),
    }
}

fn link_values(m: &LinkMessage) -> Value {
    context! {
        product => m.product_name.as_str(),
        to => mask_destination(&m.to),
        purpose => m.purpose.as_str(),
        token => m.token.expose(),
        url => m.url.as_ref().map(LinkSecret::expose),
        expires_at => rfc3339(m.expires_at),
    }
}

fn notification_values(m: &NotificationMessage) -> Value {
    context! {
        product => m.product_name.as_str(),
        to => mask_destination(&m.to),
        kind => m.kind.as_str(),
        at => rfc3339(m.at),
        details => details(&m.details),
    }
}

/// A device or country that is not known is undefined, as a missing
/// detail of a notification is.
fn push_values(notice: &PushNoticeValues<'_>) -> Value {
    let mut values: BTreeMap<&str, Value> = BTreeMap::from([
        ("product", Value::from(notice.product_name)),
        ("step_up", Value::from(notice.step_up)),
        ("expires_at", Value::from(rfc3339(notice.expires_at))),
    ]);
    for (name, value) in [("device", notice.device), ("country", notice.country)] {
        if let Some(value) = value {
            values.insert(name, Value::from(value));
        }
    }
    Value::from(values)
}

/// Push notices with sample values: sign-in and step-up, with each of
/// device and country known or not.
fn push_samples() -> Vec<Value> {
    let mut samples = Vec::new();
    for step_up in [false, true] {
        for device in [Some("Firefox on Linux"), None] {
            for country in [Some("CH"), None] {
                samples.push(push_values(&PushNoticeValues {
                    step_up,
                    device,
                    country,
                    expires_at: DateTime::<Utc>::UNIX_EPOCH,
                    product_name: "Example",
                    locale: None,
                }));
            }
        }
    }
    samples
}

/// The details a template can print: non-blank strings, numbers and
/// booleans. Anything else (null, a list, an object) counts as missing.
fn details(details: &serde_json::Value) -> BTreeMap<String, String> {
    let Some(map) = details.as_object() else {
        return BTreeMap::new();
    };
    map.iter()
        .filter_map(|(key, value)| {
            let text = match value {
                serde_json::Value::String(s) if !s.trim().is_empty() => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                _ => return None,
            };
            Some((key.clone(), text))
        })
        .collect()
}

/// Every kind of message with sample values: each purpose of a code, each
/// notification kind with all details and with none.
fn samples() -> Vec<(&'static str, Value)> {
    let at = rfc3339(DateTime::<Utc>::UNIX_EPOCH);
    let base = context! { product => "Example", to => "a***@example.com" };
    let mut samples: Vec<(&'static str, Value)> = ChallengePurpose::ALL
        .into_iter()
        .map(|purpose| {
            let values = context! {
                code => "123456",
                purpose => purpose.as_str(),
                expires_at => &at,
                ..base.clone()
            };
            ("otp", values)
        })
        .collect();
    let all_details: BTreeMap<&str, &str> = [
        ("device", "Firefox on Linux"),
        ("ip", "192.0.2.1"),
        ("country", "CH"),
        ("method", "totp"),
        ("remaining", "3"),
        ("label", "Security key"),
    ]
    .into_iter()
    .collect();
    for purpose in LinkPurpose::ALL {
        for url in [Some("https://example.com/reset#token=abc"), None] {
            let values = context! {
                purpose => purpose.as_str(),
                token => "0123456789abcdef.abcdefghij",
                url => url,
                expires_at => &at,
                ..base.clone()
            };
            samples.push(("link", values));
        }
    }
    for kind in NotificationKind::ALL {
        for details in [all_details.clone(), BTreeMap::new()] {
            let values = context! {
                kind => kind.as_str(),
                at => &at,
                details => details,
                ..base.clone()
            };
            samples.push(("notification", values));
        }
    }
    samples
}

/// Prints a value; in HTML, escapes `&`, `<`, `>`, `"` and `'` (as
/// `&#39;`) and nothing else, as messages were escaped before the
/// templates, so the shipped HTML stayed the same to the byte.
fn format_value(
    out: &mut Output,
    state: &mut State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    if matches!(state.auto_escape(), AutoEscape::Html) && !value.is_safe() {
        let text = value.to_string();
        let mut start = 0;
        for (i, c) in text.char_indices() {
            let entity = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                _ => continue,
            };
            out.write_str(&text[start..i])?;
            out.write_str(entity)?;
            start = i + c.len_utf8();
        }
        out.write_str(&text[start..])?;
        Ok(())
    } else {
        minijinja::escape_formatter(out, state, value)
    }
}

/// The `format_time` filter: an RFC 3339 time, formatted in UTC.
fn format_time(value: &str, format: &str) -> Result<String, minijinja::Error> {
    let bad =
        |what: &'static str| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, what);
    // Years outside 0..=9999 (which RFC 3339 cannot write) come signed, in
    // chrono's extended form: read those back too.
    let at = DateTime::parse_from_rfc3339(value)
        .map(|at| at.with_timezone(&Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(
                value.strip_suffix('Z').unwrap_or(value),
                "%Y-%m-%dT%H:%M:%S",
            )
            .map(|at| at.and_utc())
        })
        .map_err(|_| bad("format_time needs a time such as expires_at or at"))?;
    let items: Vec<Item<'_>> = StrftimeItems::new(format).collect();
    if items.iter().any(|item| matches!(item, Item::Error)) {
        return Err(bad("format_time: invalid format"));
    }
    let mut text = String::new();
    write!(text, "{}", at.format_with_items(items.into_iter()))
        .map_err(|_| bad("format_time: invalid format"))?;
    Ok(text)
}

#[cfg(test)]
mod tests;

//! Passwords too common to accept as new passwords.
//!
//! NIST SP 800-63B §5.1.1.2: when a password is chosen or changed, the
//! verifier SHALL compare it with a list of values known to be commonly
//! used, expected or compromised, including context-specific words such as
//! the user name and the name of the service, and SHALL tell the user why
//! it was refused. [`Mfa::create_user`](crate::Mfa::create_user) and
//! [`Mfa::change_password`](crate::Mfa::change_password) do this, under
//! [`PasswordPolicy::refuse_common`](crate::policy::PasswordPolicy::refuse_common)
//! (on by default); a refusal is [`MfaError::InvalidInput`](crate::MfaError::InvalidInput)
//! with field `password` and reason `too common`, `contains the identifier`
//! or `contains the product name`, and nothing is stored.
//!
//! # The shipped list
//!
//! [`PasswordBlocklist::common`]: 11,611 passwords, every entry of at least
//! 8 characters among the 30,000 most common passwords of zxcvbn's
//! frequency list (itself counted from a public corpus of ten million
//! leaked passwords), taken from Debian's `python3-zxcvbn` package and
//! distributed under the MIT licence. `data/README.md` in this crate names
//! the exact source, how the file was made from it, and the licence
//! notice. Shorter entries are left out: a password under 8 characters is
//! refused as too short before any list is asked (the policy's
//! `min_length` is at least 8).
//!
//! The file is embedded in the binary (about 109 kB of text, one entry
//! per line, sorted by bytes) and split into a sorted slice of borrowed
//! entries once, on first use; a look-up is a binary search, O(log n)
//! (14 comparisons). A readable list, not digests: its contents are public
//! anyway, and a plain file can be reviewed and diffed.
//!
//! # Normalisation
//!
//! Passwords and entries are compared in one form, [`normalize`]: Unicode
//! NFKC (compatibility characters such as full-width letters become their
//! plain forms, as §5.1.1.2 suggests for Unicode passwords), then Unicode
//! lower case. So `Password1`, `PASSWORD1` and `ｐａｓｓｗｏｒｄ１` are all
//! refused as `password1`. Spaces are kept: a password is compared as the
//! user typed it, less case and compatibility forms. The password that is
//! hashed and stored is never altered by this.
//!
//! # A host's own list
//!
//! [`MfaBuilder::password_blocklist`](crate::MfaBuilder::password_blocklist)
//! adds a [`PasswordBlocklist`] of the host's (words of its business, a
//! larger breach list it may use); it is checked whatever
//! `refuse_common` says.
//!
//! ```
//! use mfa_core::blocklist::PasswordBlocklist;
//!
//! assert!(PasswordBlocklist::common().contains("Password1"));
//! assert!(!PasswordBlocklist::common().contains("vivid-otter-quarry-lantern"));
//!
//! let ours = PasswordBlocklist::from_lines("acme-rocket\nRoadRunner99\n");
//! assert!(ours.contains("roadrunner99"));
//! assert_eq!(ours.len(), 2);
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, LazyLock};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

/// The shipped list, normalised and sorted by bytes (a unit test holds it
/// to that).
const SHIPPED: &str = include_str!("../data/common-passwords.txt");

static COMMON: LazyLock<PasswordBlocklist> = LazyLock::new(|| PasswordBlocklist {
    entries: SHIPPED.lines().map(Cow::Borrowed).collect(),
});

/// Context words shorter than this are not looked for inside a password:
/// a three-letter user name would refuse too many unrelated passwords.
const MIN_CONTEXT_WORD_CHARS: usize = 4;

/// The form in which passwords and list entries are compared: Unicode NFKC,
/// then lower case. Used only for the comparison; the stored password hash
/// is of the password as given.
#[must_use]
pub fn normalize(password: &str) -> String {
    password.nfkc().flat_map(char::to_lowercase).collect()
}

/// A list of passwords to refuse, kept normalised and sorted so that a
/// look-up is a binary search. Cheap to clone (an `Arc` inside).
#[derive(Clone, Default)]
pub struct PasswordBlocklist {
    entries: Arc<[Cow<'static, str>]>,
}

impl fmt::Debug for PasswordBlocklist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordBlocklist")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl PasswordBlocklist {
    /// The list shipped with this crate (see the [module](self) docs for
    /// its source and licence), loaded on first use.
    #[must_use]
    pub fn common() -> &'static Self {
        &COMMON
    }

    /// A list of `entries`, each [`normalize`]d; empty entries and
    /// duplicates are dropped.
    #[must_use]
    pub fn new<I, S>(entries: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut entries: Vec<Cow<'static, str>> = entries
            .into_iter()
            .map(|e| normalize(e.as_ref()))
            .filter(|e| !e.is_empty())
            .map(Cow::Owned)
            .collect();
        entries.sort_unstable();
        entries.dedup();
        Self {
            entries: entries.into(),
        }
    }

    /// A list read from text with one password per line (`\n` or `\r\n`
    /// endings); blank lines are skipped. Nothing else is trimmed: a space
    /// may be part of a password.
    #[must_use]
    pub fn from_lines(text: &str) -> Self {
        Self::new(text.lines())
    }

    /// Whether `password`, [`normalize`]d, is on the list.
    #[must_use]
    pub fn contains(&self, password: &str) -> bool {
        self.contains_normalized(&Zeroizing::new(normalize(password)))
    }

    /// Whether an already normalised password is on the list.
    pub(crate) fn contains_normalized(&self, normalized: &str) -> bool {
        self.entries
            .binary_search_by(|entry| entry.as_ref().cmp(normalized))
            .is_ok()
    }

    /// Entries on the list.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the list has no entry.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<S: AsRef<str>> FromIterator<S> for PasswordBlocklist {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        Self::new(iter)
    }
}

/// What a new password is checked against, besides its length.
pub(crate) struct NewPasswordContext<'a> {
    /// The account's normalised identifier.
    pub identifier: &'a str,
    /// The service's name (`policy.product_name`).
    pub product_name: &'a str,
    /// Check the shipped list and the context words.
    pub refuse_common: bool,
    /// The host's own list, checked whatever `refuse_common` says.
    pub host_list: Option<&'a PasswordBlocklist>,
}

/// Why `password` may not become a new password, as the reason of an
/// `invalid_input` error; `None` when nothing refuses it.
pub(crate) fn refusal(password: &str, context: &NewPasswordContext<'_>) -> Option<&'static str> {
    // A copy of the password: wiped when dropped, like the password itself.
    let normalized = Zeroizing::new(normalize(password));
    if context.refuse_common {
        if COMMON.contains_normalized(&normalized) {
            return Some("too common");
        }
        let identifier = normalize(context.identifier);
        // An email address's local part is the user name people reuse.
        let local_part = identifier.rsplit_once('@').map(|(local, _)| local);
        if [Some(identifier.as_str()), local_part]
            .into_iter()
            .flatten()
            .any(|word| contains_word(&normalized, word))
        {
            return Some("contains the identifier");
        }
        if contains_word(&normalized, &normalize(context.product_name)) {
            return Some("contains the product name");
        }
    }
    if context
        .host_list
        .is_some_and(|list| list.contains_normalized(&normalized))
    {
        return Some("too common");
    }
    None
}

fn contains_word(normalized_password: &str, word: &str) -> bool {
    word.chars().count() >= MIN_CONTEXT_WORD_CHARS && normalized_password.contains(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(identifier: &str) -> NewPasswordContext<'_> {
        NewPasswordContext {
            identifier,
            product_name: "Acme Cloud",
            refuse_common: true,
            host_list: None,
        }
    }

    #[test]
    fn shipped_list_is_normalised_sorted_unique_and_at_least_eight_characters() {
        let lines: Vec<&str> = SHIPPED.lines().collect();
        assert_eq!(lines.len(), 11_611);
        assert!(SHIPPED.ends_with('\n'));
        for pair in lines.windows(2) {
            assert!(pair[0] < pair[1], "{:?} then {:?}", pair[0], pair[1]);
        }
        for line in &lines {
            assert_eq!(normalize(line), *line);
            assert!(line.chars().count() >= 8, "{line:?}");
        }
        assert_eq!(PasswordBlocklist::common().len(), lines.len());
    }

    /// NIST SP 800-63B §5.1.1.2: listed values are found, in any case and
    /// in compatibility forms; an unlisted one is not.
    #[test]
    fn nist_63b_5_1_1_2_listed_passwords_are_found_in_any_case() {
        let common = PasswordBlocklist::common();
        for listed in ["password", "iloveyou", "12345678", "qwertyuiop", "football"] {
            assert!(common.contains(listed), "{listed}");
        }
        for variant in [
            "PASSWORD",
            "PassWord",
            "ｐａｓｓｗｏｒｄ",
            "ＰＡＳＳＷＯＲＤ",
        ] {
            assert!(common.contains(variant), "{variant}");
        }
        assert!(!common.contains("vivid-otter-quarry-lantern"));
        assert!(!common.contains("password with spaces"));
    }

    #[test]
    fn first_and_last_entries_are_found() {
        let lines: Vec<&str> = SHIPPED.lines().collect();
        let common = PasswordBlocklist::common();
        assert!(common.contains(lines[0]));
        assert!(common.contains(lines[lines.len() - 1]));
    }

    #[test]
    fn host_list_is_normalised_deduplicated_and_skips_blank_lines() {
        let list =
            PasswordBlocklist::from_lines("Acme-Rocket\r\n\nacme-rocket\nＲｏａｄｒｕｎｎｅｒ\n");
        assert_eq!(list.len(), 2);
        assert!(list.contains("ACME-ROCKET"));
        assert!(list.contains("roadrunner"));
        assert!(!list.contains(""));
        assert!(!list.contains("acme"));
        assert_eq!(format!("{list:?}"), "PasswordBlocklist { len: 2, .. }");
        let collected: PasswordBlocklist = ["b", "a", "b"].into_iter().collect();
        assert_eq!(collected.len(), 2);
        assert!(PasswordBlocklist::default().is_empty());
    }

    /// NIST SP 800-63B §5.1.1.2: context-specific words (the user name and
    /// the service's name) are refused, inside a password too.
    #[test]
    fn nist_63b_5_1_1_2_context_words_are_refused() {
        let c = context("ada.lovelace@example.test");
        assert_eq!(
            refusal("ada.lovelace@example.test", &c),
            Some("contains the identifier")
        );
        assert_eq!(
            refusal("Ada.Lovelace-2024!", &c),
            Some("contains the identifier")
        );
        assert_eq!(
            refusal("my ACME CLOUD secret", &c),
            Some("contains the product name")
        );
        assert_eq!(refusal("Password1", &c), Some("too common"));
        assert_eq!(refusal("vivid-otter-quarry-lantern", &c), None);
        // Words under four characters are not looked for inside.
        let short = context("bob");
        assert_eq!(refusal("bobcat-vivid-quarry", &short), None);
    }

    #[test]
    fn host_list_applies_even_when_the_shipped_check_is_off() {
        let host = PasswordBlocklist::new(["vivid-otter-quarry-lantern"]);
        let mut c = context("ada@example.test");
        c.refuse_common = false;
        assert_eq!(refusal("password1", &c), None);
        assert_eq!(refusal("ada-and-her-engine", &c), None);
        c.host_list = Some(&host);
        assert_eq!(
            refusal("Vivid-Otter-Quarry-Lantern", &c),
            Some("too common")
        );
    }
}

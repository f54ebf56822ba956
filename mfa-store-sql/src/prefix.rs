//! The table-name prefix.

use std::fmt;

/// Error for a table prefix that is not a safe SQL identifier start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a table prefix must be 1 to 24 characters of a-z, 0-9 and _, starting with a letter")]
pub struct InvalidPrefix;

/// The prefix every table and index name of a store starts with (default
/// `mfa_`), so the tables can live in a host's own schema.
///
/// Only lowercase ASCII letters, digits and `_` are allowed (it is spliced
/// into SQL), starting with a letter, at most 24 characters so every
/// generated index name stays within PostgreSQL's and MySQL's identifier
/// limits.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TablePrefix(String);

impl TablePrefix {
    /// Longest accepted prefix.
    pub const MAX_LEN: usize = 24;

    /// Checks and wraps a prefix.
    ///
    /// # Errors
    /// [`InvalidPrefix`] if `prefix` is empty, too long, does not start with
    /// a letter or contains anything but `a-z`, `0-9` and `_`.
    pub fn new(prefix: impl Into<String>) -> Result<Self, InvalidPrefix> {
        let prefix = prefix.into();
        let ok = !prefix.is_empty()
            && prefix.len() <= Self::MAX_LEN
            && prefix.starts_with(|c: char| c.is_ascii_lowercase())
            && prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if ok {
            Ok(Self(prefix))
        } else {
            Err(InvalidPrefix)
        }
    }

    /// The prefix text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TablePrefix {
    fn default() -> Self {
        Self("mfa_".to_owned())
    }
}

impl fmt::Debug for TablePrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TablePrefix({:?})", self.0)
    }
}

impl fmt::Display for TablePrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_accepts_only_safe_identifiers() {
        assert_eq!(TablePrefix::default().as_str(), "mfa_");
        assert!(TablePrefix::new("auth_").is_ok());
        for bad in [
            "",
            "1abc",
            "Mfa_",
            "mfa-",
            "mfa_; drop",
            "a_very_long_prefix_of_25_c",
        ] {
            assert_eq!(TablePrefix::new(bad), Err(InvalidPrefix), "{bad:?}");
        }
    }
}

//! Command-line arguments: `--name value` pairs and `--flag`s, parsed by
//! hand (two binaries with a dozen options do not need a parser crate).

use std::collections::BTreeMap;
use std::time::Duration;

/// Parsed `--name value` options of a command line.
#[derive(Debug, Default)]
pub struct Args {
    values: BTreeMap<String, String>,
    flags: Vec<String>,
}

/// A command line that could not be read; the message names the option.
#[derive(Debug)]
pub struct ArgError(pub String);

impl std::fmt::Display for ArgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgError {}

impl Args {
    /// Reads `args` (without the program name). `flags` lists the options
    /// that take no value; every other `--name` takes the next argument
    /// (or the part after `=`).
    ///
    /// # Errors
    /// A positional argument, or an option without its value.
    pub fn parse(args: impl IntoIterator<Item = String>, flags: &[&str]) -> Result<Self, ArgError> {
        let mut out = Self::default();
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            let Some(name) = arg.strip_prefix("--") else {
                return Err(ArgError(format!("unexpected argument {arg:?}")));
            };
            if let Some((name, value)) = name.split_once('=') {
                out.values.insert(name.to_owned(), value.to_owned());
            } else if flags.contains(&name) {
                out.flags.push(name.to_owned());
            } else {
                let value = it
                    .next()
                    .ok_or_else(|| ArgError(format!("--{name} needs a value")))?;
                out.values.insert(name.to_owned(), value);
            }
        }
        Ok(out)
    }

    /// Whether `--name` was given.
    #[must_use]
    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    /// The raw value of `--name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// `--name` parsed with `parse`, or `default`.
    ///
    /// # Errors
    /// A value `parse` refuses.
    pub fn parsed<T>(
        &self,
        name: &str,
        default: T,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, ArgError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => parse(v).ok_or_else(|| ArgError(format!("--{name}: invalid value {v:?}"))),
        }
    }

    /// Fails on an option that is not in `known`, so a typo does not
    /// silently run with defaults.
    ///
    /// # Errors
    /// The first unknown option.
    pub fn reject_unknown(&self, known: &[&str]) -> Result<(), ArgError> {
        for name in self.values.keys().chain(self.flags.iter()) {
            if !known.contains(&name.as_str()) {
                return Err(ArgError(format!("unknown option --{name}")));
            }
        }
        Ok(())
    }
}

/// Parses `500ms`, `20s`, `2m` or a bare number of seconds.
#[must_use]
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: f64 = number.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        _ => return None,
    };
    (secs > 0.0 && secs.is_finite()).then(|| Duration::from_secs_f64(secs))
}

/// Parses a comma-separated list of positive numbers (`1,16,64`).
#[must_use]
pub fn parse_list(text: &str) -> Option<Vec<usize>> {
    let list: Option<Vec<usize>> = text
        .split(',')
        .map(|s| s.trim().parse().ok().filter(|n| *n > 0))
        .collect();
    list.filter(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_milliseconds_seconds_and_minutes() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("20s"), Some(Duration::from_secs(20)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("3h"), None);
    }

    #[test]
    fn options_take_the_next_argument_or_the_part_after_equals() {
        let args = Args::parse(
            ["--a", "1", "--b=2", "--keep"].map(str::to_owned),
            &["keep"],
        )
        .unwrap();
        assert_eq!(args.get("a"), Some("1"));
        assert_eq!(args.get("b"), Some("2"));
        assert!(args.flag("keep"));
        assert!(args.reject_unknown(&["a", "b"]).is_err());
    }

    #[test]
    fn concurrency_lists_refuse_zero() {
        assert_eq!(parse_list("1,16,64"), Some(vec![1, 16, 64]));
        assert_eq!(parse_list("1,0"), None);
    }
}

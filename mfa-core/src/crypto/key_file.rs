//! Key files for development: read one, or create it once with fresh keys.
//!
//! A file is created whole or not at all: the fresh keys go to a private
//! temporary file in the same directory (mode 0600 on Unix), which is
//! flushed to disk and then hard-linked to the final name. Linking never
//! replaces an existing file, so of two processes starting at once on an
//! empty directory one creates the file, the other reads it, and neither
//! ever reads half a file.

use super::secret::SecretString;
use super::{CryptoError, Result};
use rand::Rng;
use std::collections::BTreeMap;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// A [`CryptoError::KeyFile`] for `path`.
pub(crate) fn error(path: &Path, reason: impl Into<String>) -> CryptoError {
    CryptoError::KeyFile {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn io_error(path: &Path, e: &std::io::Error) -> CryptoError {
    error(path, e.to_string())
}

/// The text of the key file at `path`; when there is none, the file is
/// created from `fresh()` (see the module docs) and that text returned.
pub(crate) fn read_or_create(
    path: &Path,
    fresh: impl FnOnce() -> Result<SecretString>,
) -> Result<SecretString> {
    match std::fs::read_to_string(path) {
        Ok(text) => return Ok(SecretString::from(text)),
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(path, &e)),
    }
    let contents = fresh()?;
    let temporary = temporary_path(path)?;
    let linked = write_private(&temporary, &contents)
        .and_then(|()| std::fs::hard_link(&temporary, path).map_err(|e| (e, path.to_owned())));
    // The temporary name is never needed again, linked or not.
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => {
            sync_directory(path)?;
            tracing::warn!(
                path = %path.display(),
                "created a key file with fresh keys (development only: production loads its keys from a secret store or the environment)"
            );
            Ok(contents)
        }
        // Another process created it first: use its keys.
        Err((e, _)) if e.kind() == ErrorKind::AlreadyExists => std::fs::read_to_string(path)
            .map(SecretString::from)
            .map_err(|e| io_error(path, &e)),
        Err((e, failed)) => Err(io_error(&failed, &e)),
    }
}

fn temporary_path(path: &Path) -> Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| error(path, "not a file name"))?
        .to_string_lossy();
    Ok(path.with_file_name(format!(".{name}.{:016x}.tmp", random_tag())))
}

fn random_tag() -> u64 {
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    u64::from_le_bytes(bytes)
}

fn write_private(
    path: &Path,
    contents: &SecretString,
) -> std::result::Result<(), (std::io::Error, PathBuf)> {
    use secrecy::ExposeSecret;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| (e, path.to_owned()))?;
    file.write_all(contents.expose_secret().as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| (e, path.to_owned()))
}

/// Flushes the directory entry of a new file (Unix; elsewhere the file
/// system has no such call).
fn sync_directory(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error(dir, &e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The variables of an environment-style key file: one `NAME=value` per
/// line; blank lines and lines starting with `#` are skipped, an `export `
/// before the name and one pair of quotes around the value are dropped.
/// Errors name the line, never its content.
pub(crate) fn parse_env(
    path: &Path,
    text: &SecretString,
) -> Result<BTreeMap<String, Zeroizing<String>>> {
    use secrecy::ExposeSecret;
    let mut vars = BTreeMap::new();
    for (index, line) in text.expose_secret().lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (name, value) = line
            .split_once('=')
            .ok_or_else(|| error(path, format!("line {} is not NAME=value", index + 1)))?;
        let value = value.trim();
        let unquoted = ['"', '\'']
            .into_iter()
            .find_map(|q| value.strip_prefix(q).and_then(|v| v.strip_suffix(q)))
            .unwrap_or(value);
        let name = name.trim().to_owned();
        if vars
            .insert(name.clone(), Zeroizing::new(unquoted.to_owned()))
            .is_some()
        {
            return Err(error(path, format!("{name} is set twice")));
        }
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("mfa-core-key-file-{name}-{:016x}", random_tag()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_missing_file_is_created_once_and_then_read() {
        let path = scratch("create").join("keys.env");
        let first = read_or_create(&path, || Ok(SecretString::from("A=1\n"))).unwrap();
        let second = read_or_create(&path, || Ok(SecretString::from("A=2\n"))).unwrap();
        assert_eq!(first.expose_secret(), "A=1\n");
        assert_eq!(second.expose_secret(), "A=1\n");
        let dir = path.parent().unwrap();
        assert_eq!(
            std::fs::read_dir(dir).unwrap().count(),
            1,
            "no temporary file is left behind"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_created_file_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let path = scratch("mode").join("keys.env");
        read_or_create(&path, || Ok(SecretString::from("A=1\n"))).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    }

    #[test]
    fn concurrent_creators_all_read_the_winners_keys() {
        let path = scratch("race").join("keys.env");
        let texts: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let path = &path;
                    s.spawn(move || {
                        read_or_create(path, || Ok(SecretString::from(format!("A={i}\n"))))
                            .unwrap()
                            .expose_secret()
                            .to_owned()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let on_disk = std::fs::read_to_string(&path).unwrap();
        assert!(
            texts.iter().all(|t| *t == on_disk),
            "{texts:?} vs {on_disk}"
        );
    }

    #[test]
    fn an_unreadable_location_names_the_path() {
        let path = scratch("missing-dir").join("no-such-dir").join("keys.env");
        let err = read_or_create(&path, || Ok(SecretString::from("A=1\n"))).unwrap_err();
        assert!(matches!(err, CryptoError::KeyFile { .. }), "{err:?}");
        assert!(err.to_string().contains("no-such-dir"), "{err}");
    }

    #[test]
    fn env_lines_are_parsed_with_comments_exports_and_quotes() {
        let text = SecretString::from(
            "# keys\n\nA=1\nexport B = \"two words\"\nC='x=y'\n  D=  spaced  \n",
        );
        let vars = parse_env(Path::new("k"), &text).unwrap();
        let get = |n: &str| vars.get(n).map(|v| v.as_str().to_owned());
        assert_eq!(get("A").as_deref(), Some("1"));
        assert_eq!(get("B").as_deref(), Some("two words"));
        assert_eq!(get("C").as_deref(), Some("x=y"));
        assert_eq!(get("D").as_deref(), Some("spaced"));
        assert_eq!(vars.len(), 4);
    }

    #[test]
    fn a_bad_line_is_named_by_number_not_content() {
        let text = SecretString::from("A=1\nsecret-looking-garbage\n");
        let err = parse_env(Path::new("k"), &text).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(!err.contains("garbage"), "{err}");
        let twice = SecretString::from("A=1\nA=2\n");
        let err = parse_env(Path::new("k"), &twice).unwrap_err().to_string();
        assert!(err.contains("A is set twice"), "{err}");
    }
}

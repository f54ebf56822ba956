//! Key material: the AES-GCM key ring with its root secret, and the Ed25519
//! access-token signing key.
//!
//! Production reads both from the environment and refuses to start without
//! them. Development uses the environment when it is set, and otherwise
//! generates the keys once and keeps them under the data directory
//! (`keys.env`, `jwt-ed25519.pem`, mode 0600), so users, sealed TOTP seeds
//! and issued tokens survive a restart.

use crate::config::{Config, ConfigError, Mode};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use data_encoding::BASE64;
use mfa_core::crypto::keyring::{ENV_AEAD_CURRENT_KEY, ENV_AEAD_KEYS, ENV_ROOT_SECRET};
use mfa_core::crypto::{ExposeSecret, JwtKeys, KeyRing, SecretString};
use std::io::Write;
use std::path::Path;

/// Environment variable with the path of the PKCS#8 PEM Ed25519 signing key.
pub const ENV_JWT_KEY_FILE: &str = "MFA_JWT_PRIVATE_KEY_FILE";
/// Environment variable with the PKCS#8 PEM Ed25519 signing key itself.
pub const ENV_JWT_KEY: &str = "MFA_JWT_PRIVATE_KEY";
/// Environment variable with the key id of the signing key (default `k1`).
pub const ENV_JWT_KID: &str = "MFA_JWT_KID";

const KEYRING_FILE: &str = "keys.env";
const JWT_FILE: &str = "jwt-ed25519.pem";
const DEV_KID: &str = "dev-1";

/// Where the key ring comes from.
pub struct KeySource {
    vars: Vec<(&'static str, SecretString)>,
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeySource([redacted])")
    }
}

impl KeySource {
    /// A key ring from this source.
    ///
    /// # Errors
    /// The key ring's own validation errors.
    pub fn ring(&self) -> Result<KeyRing, ConfigError> {
        KeyRing::from_lookup(|name| {
            self.vars
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.expose_secret().to_owned())
        })
        .map_err(|e| ConfigError::new("MFA_AEAD_KEYS", e.to_string()))
    }
}

/// The loaded keys.
pub struct Keys {
    /// The key ring source.
    pub ring: KeySource,
    /// The token signing key.
    pub jwt: JwtKeys,
}

fn random_base64(len: usize) -> Result<String, ConfigError> {
    let mut bytes = vec![0u8; len];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| ConfigError::new("keys", "the system random generator failed"))?;
    Ok(BASE64.encode(&bytes))
}

fn write_private(path: &Path, contents: &str) -> Result<(), ConfigError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| ConfigError::new("MFA_DATA_DIR", format!("{}: {e}", path.display())))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| ConfigError::new("MFA_DATA_DIR", format!("{}: {e}", path.display())))
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new("MFA_DATA_DIR", format!("{}: {e}", path.display())))
}

fn ring_from_env(env: &dyn Fn(&str) -> Option<String>) -> Option<KeySource> {
    let names = [ENV_AEAD_KEYS, ENV_AEAD_CURRENT_KEY, ENV_ROOT_SECRET];
    let vars: Vec<_> = names
        .iter()
        .filter_map(|n| env(n).map(|v| (*n, SecretString::from(v))))
        .collect();
    (!vars.is_empty()).then_some(KeySource { vars })
}

fn ring_from_file(dir: &Path) -> Result<KeySource, ConfigError> {
    let path = dir.join(KEYRING_FILE);
    if !path.exists() {
        tracing::warn!(
            path = %path.display(),
            "development mode: generating a new key ring; set MFA_AEAD_KEYS, MFA_AEAD_CURRENT_KEY and MFA_ROOT_SECRET in production"
        );
        let contents = format!(
            "{ENV_AEAD_KEYS}=1:{}\n{ENV_AEAD_CURRENT_KEY}=1\n{ENV_ROOT_SECRET}={}\n",
            random_base64(32)?,
            random_base64(32)?
        );
        write_private(&path, &contents)?;
    }
    let text = SecretString::from(read(&path)?);
    let mut vars = Vec::new();
    for line in text.expose_secret().lines() {
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let name = [ENV_AEAD_KEYS, ENV_AEAD_CURRENT_KEY, ENV_ROOT_SECRET]
            .into_iter()
            .find(|n| *n == name.trim());
        if let Some(name) = name {
            vars.push((name, SecretString::from(value.trim().to_owned())));
        }
    }
    Ok(KeySource { vars })
}

fn pem_of(der: &[u8]) -> String {
    let b64 = BASE64.encode(der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    pem
}

fn jwt_from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<JwtKeys>, ConfigError> {
    let kid = env(ENV_JWT_KID).unwrap_or_else(|| "k1".into());
    let pem = match (env(ENV_JWT_KEY), env(ENV_JWT_KEY_FILE)) {
        (Some(pem), _) => SecretString::from(pem),
        (None, Some(path)) => SecretString::from(read(Path::new(&path))?),
        (None, None) => return Ok(None),
    };
    JwtKeys::ed25519_from_pkcs8_pem(&kid, pem.expose_secret())
        .map(Some)
        .map_err(|e| ConfigError::new(ENV_JWT_KEY, e.to_string()))
}

fn jwt_from_file(dir: &Path) -> Result<JwtKeys, ConfigError> {
    let path = dir.join(JWT_FILE);
    if !path.exists() {
        tracing::warn!(
            path = %path.display(),
            "development mode: generating a new Ed25519 token signing key; set MFA_JWT_PRIVATE_KEY_FILE in production"
        );
        let pkcs8 = JwtKeys::generate_ed25519_pkcs8()
            .map_err(|_| ConfigError::new("keys", "Ed25519 key generation failed"))?;
        write_private(&path, &pem_of(pkcs8.expose()))?;
    }
    let pem = SecretString::from(read(&path)?);
    JwtKeys::ed25519_from_pkcs8_pem(DEV_KID, pem.expose_secret())
        .map_err(|e| ConfigError::new("MFA_DATA_DIR", format!("{}: {e}", path.display())))
}

/// Loads (or, in development, creates) the keys.
///
/// # Errors
/// In production: any missing or invalid key variable. In development: an
/// unwritable data directory or a corrupt key file.
pub fn load(config: &Config) -> Result<Keys, ConfigError> {
    load_with(config, &|name| {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    })
}

/// Like [`load`], reading variables through `env`.
///
/// # Errors
/// As [`load`].
pub fn load_with(
    config: &Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Keys, ConfigError> {
    let ring = match (ring_from_env(env), config.mode) {
        (Some(source), _) => source,
        (None, Mode::Production) => {
            return Err(ConfigError::new(
                ENV_AEAD_KEYS,
                "production mode needs MFA_AEAD_KEYS, MFA_AEAD_CURRENT_KEY and MFA_ROOT_SECRET",
            ));
        }
        (None, Mode::Development) => ring_from_file(&config.data_dir)?,
    };
    // Validate now: a bad key is a startup error, never a request error.
    ring.ring()?;
    let jwt = match (jwt_from_env(env)?, config.mode) {
        (Some(keys), _) => keys,
        (None, Mode::Production) => {
            return Err(ConfigError::new(
                ENV_JWT_KEY_FILE,
                "production mode needs an Ed25519 PKCS#8 PEM signing key (MFA_JWT_PRIVATE_KEY_FILE or MFA_JWT_PRIVATE_KEY)",
            ));
        }
        (None, Mode::Development) => jwt_from_file(&config.data_dir)?,
    };
    Ok(Keys { ring, jwt })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn production(dir: &Path) -> Config {
        let mut c = Config::development(dir);
        c.mode = Mode::Production;
        c
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("mfa-server-keys-{name}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn production_loads_keys_from_the_environment_and_writes_nothing() {
        let dir = temp_dir("prod");
        let pkcs8 = JwtKeys::generate_ed25519_pkcs8().unwrap();
        let vars: HashMap<&str, String> = HashMap::from([
            (ENV_AEAD_KEYS, format!("7:{}", random_base64(32).unwrap())),
            (ENV_AEAD_CURRENT_KEY, "7".to_owned()),
            (ENV_ROOT_SECRET, random_base64(48).unwrap()),
            (ENV_JWT_KEY, pem_of(pkcs8.expose())),
            (ENV_JWT_KID, "prod-2026".to_owned()),
        ]);
        let keys = load_with(&production(&dir), &|n| vars.get(n).cloned()).unwrap();
        assert_eq!(keys.ring.ring().unwrap().current_key_id(), 7);
        assert_eq!(keys.jwt.signing_kid(), "prod-2026");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    }

    #[test]
    fn production_without_a_signing_key_is_an_error() {
        let dir = temp_dir("nojwt");
        let vars: HashMap<&str, String> = HashMap::from([
            (ENV_AEAD_KEYS, format!("1:{}", random_base64(32).unwrap())),
            (ENV_AEAD_CURRENT_KEY, "1".to_owned()),
            (ENV_ROOT_SECRET, random_base64(32).unwrap()),
        ]);
        let err = load_with(&production(&dir), &|n| vars.get(n).cloned())
            .err()
            .unwrap();
        assert_eq!(err.variable, ENV_JWT_KEY_FILE);
    }

    #[test]
    fn development_keys_are_generated_once_and_reused() {
        let dir = temp_dir("dev");
        let config = Config::development(&dir);
        let first = load_with(&config, &|_| None).unwrap();
        let second = load_with(&config, &|_| None).unwrap();
        assert_eq!(first.jwt.jwks(), second.jwt.jwks());
        let a = first.ring.ring().unwrap();
        let b = second.ring.ring().unwrap();
        let user = mfa_core::model::UserId::new();
        assert_eq!(
            a.hash_fingerprint(user, "fp"),
            b.hash_fingerprint(user, "fp")
        );
    }

    #[test]
    fn a_key_source_never_prints_its_secrets() {
        let source = KeySource {
            vars: vec![(
                ENV_ROOT_SECRET,
                SecretString::from("very-secret-root".to_owned()),
            )],
        };
        assert!(!format!("{source:?}").contains("very-secret"));
    }
}

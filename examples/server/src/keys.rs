//! Key material: the AES-GCM key ring with its root secret, and the Ed25519
//! access-token signing key.
//!
//! Production reads both from the environment and refuses to start without
//! them (`mfa-server keys` prints fresh ones). Development uses the
//! environment when it is set, and otherwise keeps the keys under the data
//! directory (`keys.env`, `jwt-ed25519.pem`, created once with fresh keys
//! by `KeyRing::load_or_generate` and `JwtKeys::load_or_generate_ed25519`,
//! mode 0600), so users, sealed TOTP seeds and issued tokens survive a
//! restart. Either way the engine compares the key ring with the store's
//! key checks at start-up (`MfaBuilder::open`).

use crate::config::{Config, ConfigError, Mode};
use mfa_core::crypto::keyring::{
    ENV_AEAD_CURRENT_KEY, ENV_AEAD_KEYS, ENV_ROOT_CURRENT, ENV_ROOT_SECRET, ENV_ROOT_SECRETS,
};
use mfa_core::crypto::{ExposeSecret, JwtKeys, KeyRing, SecretString};
use std::path::{Path, PathBuf};

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
pub struct KeySource(Source);

enum Source {
    /// The key variables of the environment.
    Environment(Vec<(&'static str, SecretString)>),
    /// The development key file, created on first use.
    File(PathBuf),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Source::Environment(_) => f.write_str("KeySource(environment, [redacted])"),
            Source::File(path) => write!(f, "KeySource({})", path.display()),
        }
    }
}

impl KeySource {
    /// A key ring from this source (from the development file: created
    /// with fresh keys when there is none).
    ///
    /// # Errors
    /// The key ring's own validation errors; for the file, one that cannot
    /// be read, created or understood.
    pub fn ring(&self) -> Result<KeyRing, ConfigError> {
        match &self.0 {
            Source::Environment(vars) => KeyRing::from_lookup(|name| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.expose_secret().to_owned())
            })
            .map_err(|e| ConfigError::new(ENV_AEAD_KEYS, e.to_string())),
            Source::File(path) => KeyRing::load_or_generate(path)
                .map_err(|e| ConfigError::new("MFA_DATA_DIR", e.to_string())),
        }
    }
}

/// The loaded keys.
pub struct Keys {
    /// The key ring source.
    pub ring: KeySource,
    /// The token signing key.
    pub jwt: JwtKeys,
}

/// Fresh keys for one deployment, as the environment lines the service
/// reads in production: `MFA_AEAD_KEYS`, `MFA_AEAD_CURRENT_KEY`,
/// `MFA_ROOT_SECRET`, `MFA_JWT_KID` and `MFA_JWT_PRIVATE_KEY` (a PEM
/// document in double quotes, over several lines, as `sh` and dotenv files
/// read it). What `mfa-server keys` prints.
///
/// # Errors
/// When the Ed25519 key cannot be generated.
pub fn fresh_env() -> Result<SecretString, ConfigError> {
    let pem = JwtKeys::generate_ed25519_pkcs8_pem()
        .map_err(|e| ConfigError::new(ENV_JWT_KEY, e.to_string()))?;
    let kid = format!("k-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    Ok(SecretString::from(format!(
        "{}{ENV_JWT_KID}={kid}\n{ENV_JWT_KEY}=\"{}\"\n",
        KeyRing::generate_env().expose_secret(),
        pem.expose_secret().trim_end()
    )))
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new("MFA_DATA_DIR", format!("{}: {e}", path.display())))
}

fn ring_from_env(env: &dyn Fn(&str) -> Option<String>) -> Option<KeySource> {
    let names = [
        ENV_AEAD_KEYS,
        ENV_AEAD_CURRENT_KEY,
        ENV_ROOT_SECRET,
        ENV_ROOT_SECRETS,
        ENV_ROOT_CURRENT,
    ];
    let vars: Vec<_> = names
        .iter()
        .filter_map(|n| env(n).map(|v| (*n, SecretString::from(v))))
        .collect();
    (!vars.is_empty()).then_some(KeySource(Source::Environment(vars)))
}

fn ring_from_file(dir: &Path) -> KeySource {
    let path = dir.join(KEYRING_FILE);
    if !path.exists() {
        tracing::warn!(
            path = %path.display(),
            "development mode: generating a new key ring; set MFA_AEAD_KEYS, MFA_AEAD_CURRENT_KEY and MFA_ROOT_SECRET in production (`mfa-server keys` prints fresh ones)"
        );
    }
    KeySource(Source::File(path))
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
    }
    JwtKeys::load_or_generate_ed25519(&path, DEV_KID)
        .map_err(|e| ConfigError::new("MFA_DATA_DIR", e.to_string()))
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
        (None, Mode::Development) => ring_from_file(&config.data_dir),
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

    fn random_base64(len: usize) -> String {
        use aws_lc_rs::rand::{SecureRandom, SystemRandom};
        let mut bytes = vec![0u8; len];
        SystemRandom::new().fill(&mut bytes).unwrap();
        data_encoding::BASE64.encode(&bytes)
    }

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
        let pem = JwtKeys::generate_ed25519_pkcs8_pem().unwrap();
        let vars: HashMap<&str, String> = HashMap::from([
            (ENV_AEAD_KEYS, format!("7:{}", random_base64(32))),
            (ENV_AEAD_CURRENT_KEY, "7".to_owned()),
            (ENV_ROOT_SECRET, random_base64(48)),
            (ENV_ROOT_SECRETS, format!("2:{}", random_base64(32))),
            (ENV_ROOT_CURRENT, "0".to_owned()),
            (ENV_JWT_KEY, pem.expose_secret().to_owned()),
            (ENV_JWT_KID, "prod-2026".to_owned()),
        ]);
        let keys = load_with(&production(&dir), &|n| vars.get(n).cloned()).unwrap();
        let ring = keys.ring.ring().unwrap();
        assert_eq!(ring.current_key_id(), 7);
        assert_eq!(
            (ring.root_versions(), ring.current_root_version()),
            (vec![0, 2], 0),
            "versioned root secrets are read from the environment too"
        );
        assert_eq!(keys.jwt.signing_kid(), "prod-2026");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    }

    #[test]
    fn production_without_a_signing_key_is_an_error() {
        let dir = temp_dir("nojwt");
        let vars: HashMap<&str, String> = HashMap::from([
            (ENV_AEAD_KEYS, format!("1:{}", random_base64(32))),
            (ENV_AEAD_CURRENT_KEY, "1".to_owned()),
            (ENV_ROOT_SECRET, random_base64(32)),
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
        let source = KeySource(Source::Environment(vec![(
            ENV_ROOT_SECRET,
            SecretString::from("very-secret-root".to_owned()),
        )]));
        assert!(!format!("{source:?}").contains("very-secret"));
    }

    #[test]
    fn fresh_keys_load_as_the_service_reads_them() {
        let text = fresh_env().unwrap();
        let text = text.expose_secret();
        let (head, pem) = text
            .split_once(&format!("{ENV_JWT_KEY}=\""))
            .expect("the PEM variable");
        let vars: HashMap<&str, &str> = head.lines().filter_map(|l| l.split_once('=')).collect();
        let ring = KeyRing::from_lookup(|n| vars.get(n).map(|v| (*v).to_owned())).unwrap();
        assert_eq!(ring.key_ids(), [1]);
        let pem = pem.trim_end().strip_suffix('"').expect("a closing quote");
        let jwt = JwtKeys::ed25519_from_pkcs8_pem(vars[ENV_JWT_KID], pem).unwrap();
        assert!(jwt.signing_kid().starts_with("k-"));
        assert_ne!(
            fresh_env().unwrap().expose_secret(),
            text,
            "fresh every call"
        );
    }
}

//! Service configuration, read once from the environment at startup.

use mfa_axum::{IpNet, ServiceKeys};
use mfa_core::crypto::SecretString;
use mfa_core::policy::{Enforcement, Policy};
use mfa_delivery::phone::Region;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Development (keys generated under the data directory, log delivery) or
/// production (keys from the environment, no log delivery, `Secure` cookies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `MFA_ENV` unset or `development`.
    Development,
    /// `MFA_ENV=production`.
    Production,
}

/// Why the configuration could not be read. Names the variable, never its
/// value.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    /// The variable.
    pub variable: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(variable: &'static str, reason: impl Into<String>) -> Self {
        Self {
            variable,
            reason: reason.into(),
        }
    }
}

/// Everything the service needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address (`MFA_LISTEN`, default `127.0.0.1:8080`; port 0 picks
    /// a free port).
    pub listen: SocketAddr,
    /// Development or production (`MFA_ENV`).
    pub mode: Mode,
    /// Where the SQLite file, dev keys and the dev outbox live
    /// (`MFA_DATA_DIR`, default `./data`).
    pub data_dir: PathBuf,
    /// `DATABASE_URL`: `sqlite://…`, `postgres://…` or `mysql://…`; unset:
    /// SQLite in the data directory.
    pub database_url: Option<String>,
    /// Table-name prefix in SQL databases (`MFA_TABLE_PREFIX`, default `mfa_`).
    pub table_prefix: Option<String>,
    /// Origins allowed by CORS (`MFA_CORS_ORIGINS`, comma-separated; empty:
    /// same-origin only).
    pub cors_origins: Vec<String>,
    /// Requests per client IP per minute over the whole API
    /// (`MFA_RATE_LIMIT_PER_MINUTE`, default 300).
    pub rate_limit_per_minute: u32,
    /// How often the service runs `Mfa::purge` (`MFA_PURGE_SECONDS`, 60 to
    /// 604800, default 3600; `off`: never, for a host that purges from a
    /// job of its own).
    pub purge_interval: Option<std::time::Duration>,
    /// Largest accepted request body in bytes (`MFA_BODY_LIMIT`, default 16 KiB).
    pub body_limit: usize,
    /// Proxies whose `X-Forwarded-For` is believed (`MFA_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<IpNet>,
    /// A MaxMind database (`MFA_GEOIP_DB`, the path of a GeoLite2/GeoIP2
    /// City or Country `.mmdb` file): the client's country on sessions,
    /// devices and audit events, and the "new country" and "impossible
    /// travel" risk signals. Unset: no geolocation. A file that cannot be
    /// read or is no such database stops the service at start-up.
    pub geoip_db: Option<PathBuf>,
    /// The public address of the demo page (`MFA_PUBLIC_URL`, e.g.
    /// `https://mfa.example.com`): password reset and email verification
    /// links point to it (`/#reset=…`, `/#verify-email=…`). Unset: in
    /// development `http://localhost:<port>`; in production the messages
    /// carry the token to paste.
    pub public_url: Option<String>,
    /// Service keys for the admin API and the gateway sign-in
    /// (`MFA_SERVICE_KEYS`: entries `name:scope[+scope]:sha256-hex`
    /// separated by commas, as `mfa-server service-key` prints them; scopes
    /// `admin` and `gateway`). Unset: every `/admin` route refuses.
    pub service_keys: ServiceKeys,
    /// Access-token issuer (`MFA_ISSUER`).
    pub issuer: String,
    /// Access-token audience (`MFA_AUDIENCE`).
    pub audience: String,
    /// The engine policy (`MFA_POLICY` picks the profile: `default` or
    /// `nist`; `MFA_ENFORCEMENT` the enforcement mode).
    pub policy: Policy,
    /// Development delivery (`MFA_DELIVERY`): `log` (default: mfa-delivery's
    /// log channel, which prints codes), `outbox` (a JSON-lines file in the
    /// data directory; nothing secret in the log) or `none`. Both are
    /// refused in production.
    pub dev_delivery: DevDelivery,
    /// SMTP email (`MFA_SMTP_HOST`, `MFA_SMTP_FROM`, `MFA_SMTP_PORT`,
    /// `MFA_SMTP_USER`, `MFA_SMTP_PASSWORD`).
    pub smtp: Option<SmtpSettings>,
    /// Twilio SMS (`MFA_TWILIO_ACCOUNT_SID`, `MFA_TWILIO_AUTH_TOKEN`,
    /// `MFA_TWILIO_FROM`, `MFA_SMS_REGIONS` region codes or `*`).
    pub twilio: Option<TwilioSettings>,
    /// Passkeys: the relying-party id (`MFA_PASSKEY_RP_ID`, a domain) and
    /// the web origins allowed to use it (`MFA_PASSKEY_ORIGINS`,
    /// comma-separated, required with the id). Unset: in development
    /// `localhost` and `http://localhost:<port>`; in production passkeys
    /// are off.
    pub passkey_rp_id: Option<String>,
    /// See [`Config::passkey_rp_id`].
    pub passkey_origins: Vec<String>,
    /// Push approval transports. Push is on when one is configured, or in
    /// development with a development delivery (devices of kind `dev`,
    /// whose notices go to the outbox or the log).
    pub push: PushSettings,
}

/// Push transports (`MFA_PUSH_*`).
#[derive(Debug, Clone, Default)]
pub struct PushSettings {
    /// Web Push: the VAPID private key (`MFA_PUSH_VAPID_KEY`, P-256, PEM or
    /// base64url) and subject (`MFA_PUSH_VAPID_SUBJECT`, `mailto:` or
    /// `https:`).
    pub vapid: Option<(SecretString, String)>,
    /// FCM: the path of the service-account JSON key
    /// (`MFA_PUSH_FCM_SERVICE_ACCOUNT`).
    pub fcm_service_account: Option<PathBuf>,
    /// APNs (`MFA_PUSH_APNS_TEAM_ID`, `MFA_PUSH_APNS_KEY_ID`,
    /// `MFA_PUSH_APNS_KEY` the path of the `.p8` key, `MFA_PUSH_APNS_TOPIC`
    /// the app's bundle id, `MFA_PUSH_APNS_SANDBOX=true` for development
    /// builds).
    pub apns: Option<ApnsSettings>,
}

/// APNs settings.
#[derive(Debug, Clone)]
pub struct ApnsSettings {
    /// Team id.
    pub team_id: String,
    /// Key id.
    pub key_id: String,
    /// Path of the `.p8` key.
    pub key_path: PathBuf,
    /// The app's bundle id.
    pub topic: String,
    /// The sandbox environment.
    pub sandbox: bool,
}

/// Where development messages go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevDelivery {
    /// mfa-delivery's `LogChannel`.
    Log,
    /// `outbox.jsonl` in the data directory.
    Outbox,
    /// No development channel: email and SMS codes are off unless SMTP or
    /// Twilio is configured.
    None,
}

/// SMTP settings.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// Server host.
    pub host: String,
    /// Port (default: the STARTTLS port).
    pub port: Option<u16>,
    /// `From` address.
    pub from: String,
    /// User name and password.
    pub credentials: Option<(String, SecretString)>,
}

/// Twilio settings.
#[derive(Debug, Clone)]
pub struct TwilioSettings {
    /// Account SID.
    pub account_sid: String,
    /// Auth token.
    pub auth_token: SecretString,
    /// Sender number (E.164) or messaging service SID (`MG…`).
    pub from: String,
    /// Regions SMS may go to (`MFA_SMS_REGIONS`, required; `*`: every
    /// region, kept here as an empty list).
    /// Either way only mobile numbers (`mfa_delivery::phone::SmsGuard`).
    pub regions: Vec<Region>,
}

impl Config {
    /// Development defaults with `data_dir` as the data directory.
    #[must_use]
    pub fn development(data_dir: impl Into<PathBuf>) -> Self {
        let policy = Policy {
            product_name: "mfa-rs demo".into(),
            ..Policy::default()
        };
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            mode: Mode::Development,
            data_dir: data_dir.into(),
            database_url: None,
            table_prefix: None,
            cors_origins: Vec::new(),
            rate_limit_per_minute: 300,
            purge_interval: Some(std::time::Duration::from_secs(3600)),
            body_limit: 16 * 1024,
            trusted_proxies: Vec::new(),
            geoip_db: None,
            public_url: None,
            service_keys: ServiceKeys::default(),
            issuer: "http://127.0.0.1:8080".into(),
            audience: "mfa-demo".into(),
            policy,
            dev_delivery: DevDelivery::Log,
            smtp: None,
            twilio: None,
            passkey_rp_id: None,
            passkey_origins: Vec::new(),
            push: PushSettings::default(),
        }
    }

    /// Where reset and verification links point (see
    /// [`Config::public_url`]); `listen` is the address actually bound.
    #[must_use]
    pub fn links(&self, listen: SocketAddr) -> mfa_core::LinkUrls {
        let base = match (&self.public_url, self.mode) {
            (Some(url), _) => Some(url.clone()),
            (None, Mode::Development) => Some(format!("http://localhost:{}", listen.port())),
            (None, Mode::Production) => None,
        };
        mfa_core::LinkUrls {
            password_reset: base.as_ref().map(|b| format!("{b}/#reset={{token}}")),
            email_verification: base.map(|b| format!("{b}/#verify-email={{token}}")),
        }
    }

    /// The passkey relying party this configuration asks for (see
    /// [`Config::passkey_rp_id`]); `listen` is the address actually bound,
    /// for the development default origin.
    #[must_use]
    pub fn passkeys(&self, listen: SocketAddr) -> Option<mfa_core::passkey::PasskeyConfig> {
        let name = self.policy.product_name.clone();
        match (&self.passkey_rp_id, self.mode) {
            (Some(rp_id), _) => {
                let (first, more) = self.passkey_origins.split_first()?;
                Some(more.iter().fold(
                    mfa_core::passkey::PasskeyConfig::new(rp_id, name, first),
                    |config, origin| config.allow_origin(origin),
                ))
            }
            (None, Mode::Development) => Some(mfa_core::passkey::PasskeyConfig::new(
                "localhost",
                name,
                format!("http://localhost:{}", listen.port()),
            )),
            (None, Mode::Production) => None,
        }
    }

    /// Reads the configuration from the process environment.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first invalid variable.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Config::from_env`], reading variables through `lookup`.
    ///
    /// # Errors
    /// As [`Config::from_env`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut config = Self::development(get("MFA_DATA_DIR").unwrap_or_else(|| "./data".into()));
        if let Some(listen) = get("MFA_LISTEN") {
            config.listen = listen
                .parse()
                .map_err(|_| ConfigError::new("MFA_LISTEN", "not a socket address"))?;
        }
        config.mode = match get("MFA_ENV").as_deref() {
            None | Some("development" | "dev") => Mode::Development,
            Some("production" | "prod") => Mode::Production,
            Some(_) => {
                return Err(ConfigError::new(
                    "MFA_ENV",
                    "expected development or production",
                ));
            }
        };
        config.database_url = get("DATABASE_URL");
        config.table_prefix = get("MFA_TABLE_PREFIX");
        if let Some(origins) = get("MFA_CORS_ORIGINS") {
            config.cors_origins = origins
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(v) = get("MFA_RATE_LIMIT_PER_MINUTE") {
            config.rate_limit_per_minute = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                ConfigError::new("MFA_RATE_LIMIT_PER_MINUTE", "not a positive number")
            })?;
        }
        if let Some(v) = get("MFA_BODY_LIMIT") {
            config.body_limit = v.parse().ok().filter(|n| *n >= 1024).ok_or_else(|| {
                ConfigError::new("MFA_BODY_LIMIT", "a number of bytes, at least 1024")
            })?;
        }
        if let Some(v) = get("MFA_TRUSTED_PROXIES") {
            config.trusted_proxies = v
                .split(',')
                .map(|s| s.trim().parse())
                .collect::<Result<_, _>>()
                .map_err(|_| {
                    ConfigError::new("MFA_TRUSTED_PROXIES", "not a list of CIDR networks")
                })?;
        }
        config.geoip_db = get("MFA_GEOIP_DB").map(PathBuf::from);
        if let Some(v) = get("MFA_PUBLIC_URL") {
            let url = v.trim_end_matches('/').to_owned();
            if !(url.starts_with("https://") || url.starts_with("http://")) || url.contains('{') {
                return Err(ConfigError::new("MFA_PUBLIC_URL", "an http(s) URL"));
            }
            config.public_url = Some(url);
        }
        if let Some(v) = get("MFA_SERVICE_KEYS") {
            config.service_keys = ServiceKeys::parse(&v)
                .map_err(|e| ConfigError::new("MFA_SERVICE_KEYS", e.to_string()))?;
        }
        if let Some(v) = get("MFA_ISSUER") {
            config.issuer = v;
        } else {
            config.issuer = format!("http://{}", config.listen);
        }
        if let Some(v) = get("MFA_AUDIENCE") {
            config.audience = v;
        }
        match get("MFA_POLICY").as_deref() {
            None | Some("default") => {}
            Some("nist") => {
                config.policy = Policy {
                    product_name: config.policy.product_name.clone(),
                    ..Policy::nist()
                };
            }
            Some(_) => return Err(ConfigError::new("MFA_POLICY", "expected default or nist")),
        }
        if let Some(v) = get("MFA_ENFORCEMENT") {
            config.policy.enforcement = match v.as_str() {
                "off" => Enforcement::Off,
                "all" => Enforcement::All,
                "per_user" => Enforcement::PerUser,
                "highest_available" => Enforcement::HighestAvailable,
                _ => {
                    return Err(ConfigError::new(
                        "MFA_ENFORCEMENT",
                        "expected off, all, per_user or highest_available",
                    ));
                }
            };
        }
        for (variable, limit) in [
            (
                "MFA_LOGIN_RATE_PER_IP",
                &mut config.policy.login_rate.per_ip,
            ),
            (
                "MFA_LOGIN_RATE_PER_IDENTIFIER",
                &mut config.policy.login_rate.per_identifier,
            ),
        ] {
            if let Some(v) = get(variable) {
                *limit = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| ConfigError::new(variable, "not a positive number"))?;
            }
        }
        if let Some(v) = get("MFA_REFRESH_REUSE_GRACE_SECONDS") {
            config.policy.session.refresh_reuse_grace = v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| (0..=60).contains(n))
                .map(chrono::TimeDelta::seconds)
                .ok_or_else(|| {
                    ConfigError::new("MFA_REFRESH_REUSE_GRACE_SECONDS", "expected 0 to 60")
                })?;
        }
        if let Some(v) = get("MFA_NOTIFY_UNVERIFIED_EMAIL") {
            config.policy.recovery.notify_unverified_email = match v.trim() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(ConfigError::new(
                        "MFA_NOTIFY_UNVERIFIED_EMAIL",
                        "expected true or false",
                    ));
                }
            };
        }
        if let Some(v) = get("MFA_PURGE_SECONDS") {
            config.purge_interval = match v.trim() {
                "off" => None,
                seconds => Some(
                    seconds
                        .parse::<u64>()
                        .ok()
                        .filter(|n| (60..=604_800).contains(n))
                        .map(std::time::Duration::from_secs)
                        .ok_or_else(|| {
                            ConfigError::new("MFA_PURGE_SECONDS", "expected 60 to 604800, or off")
                        })?,
                ),
            };
        }
        if let Some(v) = get("MFA_AUDIT_CHECKPOINT_SECONDS") {
            config.policy.audit.checkpoint_interval = v
                .parse::<i64>()
                .ok()
                .filter(|n| (5..=86_400).contains(n))
                .map(chrono::TimeDelta::seconds)
                .ok_or_else(|| {
                    ConfigError::new("MFA_AUDIT_CHECKPOINT_SECONDS", "expected 5 to 86400")
                })?;
        }
        config.dev_delivery = match get("MFA_DELIVERY").as_deref() {
            None | Some("log") => DevDelivery::Log,
            Some("outbox") => DevDelivery::Outbox,
            Some("none") => DevDelivery::None,
            Some(_) => {
                return Err(ConfigError::new(
                    "MFA_DELIVERY",
                    "expected log, outbox or none",
                ));
            }
        };
        if config.mode == Mode::Production && get("MFA_DELIVERY").is_none() {
            config.dev_delivery = DevDelivery::None;
        }
        if let Some(host) = get("MFA_SMTP_HOST") {
            let from = get("MFA_SMTP_FROM")
                .ok_or_else(|| ConfigError::new("MFA_SMTP_FROM", "required with MFA_SMTP_HOST"))?;
            let port = match get("MFA_SMTP_PORT") {
                None => None,
                Some(p) => Some(
                    p.parse()
                        .map_err(|_| ConfigError::new("MFA_SMTP_PORT", "not a port"))?,
                ),
            };
            let credentials = match (get("MFA_SMTP_USER"), get("MFA_SMTP_PASSWORD")) {
                (Some(user), Some(password)) => Some((user, SecretString::from(password))),
                (None, None) => None,
                _ => {
                    return Err(ConfigError::new(
                        "MFA_SMTP_USER",
                        "MFA_SMTP_USER and MFA_SMTP_PASSWORD go together",
                    ));
                }
            };
            config.smtp = Some(SmtpSettings {
                host,
                port,
                from,
                credentials,
            });
        }
        // A calling code (`1`) admits every country behind it; refuse the
        // old variable rather than fall back silently to every region.
        if get("MFA_SMS_COUNTRIES").is_some() {
            return Err(ConfigError::new(
                "MFA_SMS_COUNTRIES",
                "replaced by MFA_SMS_REGIONS: region codes such as CH,DE,US instead of calling codes",
            ));
        }
        if let Some(account_sid) = get("MFA_TWILIO_ACCOUNT_SID") {
            let auth_token = get("MFA_TWILIO_AUTH_TOKEN").ok_or_else(|| {
                ConfigError::new(
                    "MFA_TWILIO_AUTH_TOKEN",
                    "required with MFA_TWILIO_ACCOUNT_SID",
                )
            })?;
            let from = get("MFA_TWILIO_FROM").ok_or_else(|| {
                ConfigError::new("MFA_TWILIO_FROM", "required with MFA_TWILIO_ACCOUNT_SID")
            })?;
            // No default: an operator names the regions they serve (or
            // `*`), so a forgotten setting never opens every destination.
            let regions = match get("MFA_SMS_REGIONS").as_deref().map(str::trim) {
                None | Some("") => {
                    return Err(ConfigError::new(
                        "MFA_SMS_REGIONS",
                        "required with MFA_TWILIO_ACCOUNT_SID: region codes such as CH,DE,US, \
                         or * for every region (mobile numbers only either way)",
                    ));
                }
                Some("*") => Vec::new(),
                Some(list) => list
                    .split(',')
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(str::parse)
                    .collect::<Result<Vec<Region>, _>>()
                    .map_err(|e| ConfigError::new("MFA_SMS_REGIONS", e.to_string()))?,
            };
            config.twilio = Some(TwilioSettings {
                account_sid,
                auth_token: SecretString::from(auth_token),
                from,
                regions,
            });
        }
        if let Some(rp_id) = get("MFA_PASSKEY_RP_ID") {
            let origins: Vec<String> = get("MFA_PASSKEY_ORIGINS")
                .map(|o| {
                    o.split(',')
                        .map(str::trim)
                        .filter(|o| !o.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            if origins.is_empty() {
                return Err(ConfigError::new(
                    "MFA_PASSKEY_ORIGINS",
                    "required with MFA_PASSKEY_RP_ID",
                ));
            }
            config.passkey_rp_id = Some(rp_id);
            config.passkey_origins = origins;
        }
        config.push = push_settings(&get)?;
        Ok(config)
    }

    /// Whether cookies get the `Secure` attribute.
    #[must_use]
    pub fn secure_cookies(&self) -> bool {
        self.mode == Mode::Production
    }
}

fn push_settings(get: &impl Fn(&str) -> Option<String>) -> Result<PushSettings, ConfigError> {
    let vapid = match (get("MFA_PUSH_VAPID_KEY"), get("MFA_PUSH_VAPID_SUBJECT")) {
        (Some(key), Some(subject)) => Some((SecretString::from(key), subject)),
        (None, None) => None,
        _ => {
            return Err(ConfigError::new(
                "MFA_PUSH_VAPID_KEY",
                "MFA_PUSH_VAPID_KEY and MFA_PUSH_VAPID_SUBJECT go together",
            ));
        }
    };
    let apns = match get("MFA_PUSH_APNS_TEAM_ID") {
        None => None,
        Some(team_id) => {
            let need = |variable: &'static str| {
                get(variable).ok_or_else(|| {
                    ConfigError::new(variable, "required with MFA_PUSH_APNS_TEAM_ID")
                })
            };
            Some(ApnsSettings {
                team_id,
                key_id: need("MFA_PUSH_APNS_KEY_ID")?,
                key_path: PathBuf::from(need("MFA_PUSH_APNS_KEY")?),
                topic: need("MFA_PUSH_APNS_TOPIC")?,
                sandbox: match get("MFA_PUSH_APNS_SANDBOX").as_deref() {
                    None | Some("false") => false,
                    Some("true") => true,
                    Some(_) => {
                        return Err(ConfigError::new(
                            "MFA_PUSH_APNS_SANDBOX",
                            "expected true or false",
                        ));
                    }
                },
            })
        }
    };
    Ok(PushSettings {
        vapid,
        fcm_service_account: get("MFA_PUSH_FCM_SERVICE_ACCOUNT").map(PathBuf::from),
        apns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_listen_on_loopback_8080_in_development() {
        let c = from(&[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.mode, Mode::Development);
        assert!(!c.secure_cookies());
    }

    #[test]
    fn production_mode_sets_secure_cookies() {
        let c = from(&[("MFA_ENV", "production"), ("MFA_LISTEN", "0.0.0.0:9000")]).unwrap();
        assert!(c.secure_cookies());
        assert_eq!(c.listen.port(), 9000);
    }

    #[test]
    fn nist_policy_profile_is_selectable() {
        let c = from(&[("MFA_POLICY", "nist"), ("MFA_ENFORCEMENT", "all")]).unwrap();
        assert!(!c.policy.methods.sms_as_only_factor);
        assert_eq!(c.policy.session.absolute, chrono::TimeDelta::hours(12));
        assert_eq!(c.policy.enforcement, Enforcement::All);
        assert_eq!(c.policy.product_name, "mfa-rs demo");
        assert_eq!(
            from(&[("MFA_POLICY", "lax")]).unwrap_err().variable,
            "MFA_POLICY"
        );
    }

    #[test]
    fn refresh_reuse_grace_is_off_unless_set_and_bounded() {
        assert_eq!(
            from(&[]).unwrap().policy.session.refresh_reuse_grace,
            chrono::TimeDelta::zero()
        );
        let c = from(&[("MFA_REFRESH_REUSE_GRACE_SECONDS", "10")]).unwrap();
        assert_eq!(
            c.policy.session.refresh_reuse_grace,
            chrono::TimeDelta::seconds(10)
        );
        for bad in ["61", "-1", "ten"] {
            assert_eq!(
                from(&[("MFA_REFRESH_REUSE_GRACE_SECONDS", bad)])
                    .unwrap_err()
                    .variable,
                "MFA_REFRESH_REUSE_GRACE_SECONDS"
            );
        }
    }

    #[test]
    fn unverified_addresses_are_not_notified_unless_set() {
        let notify = |c: Config| c.policy.recovery.notify_unverified_email;
        assert!(!notify(from(&[]).unwrap()));
        assert!(notify(
            from(&[("MFA_NOTIFY_UNVERIFIED_EMAIL", "true")]).unwrap()
        ));
        assert!(!notify(
            from(&[("MFA_NOTIFY_UNVERIFIED_EMAIL", "false")]).unwrap()
        ));
        assert_eq!(
            from(&[("MFA_NOTIFY_UNVERIFIED_EMAIL", "yes")])
                .unwrap_err()
                .variable,
            "MFA_NOTIFY_UNVERIFIED_EMAIL"
        );
    }

    #[test]
    fn sign_in_limits_are_configurable_and_must_be_positive() {
        let c = from(&[
            ("MFA_LOGIN_RATE_PER_IP", "5000"),
            ("MFA_LOGIN_RATE_PER_IDENTIFIER", "40"),
        ])
        .unwrap();
        assert_eq!(c.policy.login_rate.per_ip, 5000);
        assert_eq!(c.policy.login_rate.per_identifier, 40);
        for bad in ["0", "-1", "many"] {
            assert_eq!(
                from(&[("MFA_LOGIN_RATE_PER_IP", bad)])
                    .unwrap_err()
                    .variable,
                "MFA_LOGIN_RATE_PER_IP"
            );
        }
    }

    const TWILIO: [(&str, &str); 3] = [
        ("MFA_TWILIO_ACCOUNT_SID", "AC0123456789abcdef"),
        ("MFA_TWILIO_AUTH_TOKEN", "token"),
        ("MFA_TWILIO_FROM", "+15005550006"),
    ];

    #[test]
    fn sms_regions_are_region_codes() {
        let mut vars = TWILIO.to_vec();
        vars.push(("MFA_SMS_REGIONS", "CH, DE,US,"));
        let regions: Vec<&str> = from(&vars)
            .unwrap()
            .twilio
            .unwrap()
            .regions
            .iter()
            .map(Region::as_str)
            .collect();
        assert_eq!(regions, ["CH", "DE", "US"]);
        let mut every = TWILIO.to_vec();
        every.push(("MFA_SMS_REGIONS", "*"));
        assert!(from(&every).unwrap().twilio.unwrap().regions.is_empty());
    }

    #[test]
    fn sms_regions_are_required_with_an_sms_transport() {
        let e = from(&TWILIO).unwrap_err();
        assert_eq!(e.variable, "MFA_SMS_REGIONS");
        assert!(e.reason.contains("required"), "{}", e.reason);
    }

    #[test]
    fn unknown_sms_region_is_a_config_error() {
        for bad in ["UK", "41", "ch", "CH;DE"] {
            let mut vars = TWILIO.to_vec();
            vars.push(("MFA_SMS_REGIONS", bad));
            let e = from(&vars).unwrap_err();
            assert_eq!(e.variable, "MFA_SMS_REGIONS", "{bad}");
            assert!(e.reason.contains("unknown region code"), "{}", e.reason);
        }
    }

    #[test]
    fn calling_code_allow_list_is_refused_with_its_replacement() {
        let mut vars = TWILIO.to_vec();
        vars.push(("MFA_SMS_COUNTRIES", "1,41"));
        let e = from(&vars).unwrap_err();
        assert_eq!(e.variable, "MFA_SMS_COUNTRIES");
        assert!(e.reason.contains("MFA_SMS_REGIONS"), "{}", e.reason);
    }

    #[test]
    fn purge_interval_is_an_hour_unless_set() {
        let secs = |vars: &[(&str, &str)]| from(vars).unwrap().purge_interval.map(|d| d.as_secs());
        assert_eq!(secs(&[]), Some(3600));
        assert_eq!(secs(&[("MFA_PURGE_SECONDS", "600")]), Some(600));
        assert_eq!(secs(&[("MFA_PURGE_SECONDS", "off")]), None);
        for bad in ["59", "604801", "soon", "-1"] {
            let e = from(&[("MFA_PURGE_SECONDS", bad)]).unwrap_err();
            assert_eq!(e.variable, "MFA_PURGE_SECONDS", "{bad}");
        }
    }

    #[test]
    fn geoip_database_is_off_unless_a_path_is_given() {
        assert_eq!(from(&[]).unwrap().geoip_db, None);
        assert_eq!(from(&[("MFA_GEOIP_DB", "  ")]).unwrap().geoip_db, None);
        let c = from(&[("MFA_GEOIP_DB", "/var/lib/GeoIP/GeoLite2-City.mmdb")]).unwrap();
        assert_eq!(
            c.geoip_db.as_deref(),
            Some(std::path::Path::new("/var/lib/GeoIP/GeoLite2-City.mmdb"))
        );
    }

    #[test]
    fn invalid_values_name_their_variable() {
        assert_eq!(
            from(&[("MFA_LISTEN", "nope")]).unwrap_err().variable,
            "MFA_LISTEN"
        );
        assert_eq!(
            from(&[("MFA_ENV", "staging")]).unwrap_err().variable,
            "MFA_ENV"
        );
        assert_eq!(
            from(&[("MFA_ENFORCEMENT", "sometimes")])
                .unwrap_err()
                .variable,
            "MFA_ENFORCEMENT"
        );
    }
}

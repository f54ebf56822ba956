//! IP geolocation (`MFA_GEOIP_DB`): the MaxMind database the engine
//! locates clients with.

use crate::config::{Config, ConfigError};
use mfa_core::geoip::MaxMindLocator;

/// Age in days from which the service warns at start-up that its database
/// is old. MaxMind publishes GeoLite2 updates twice a week, and addresses
/// move between networks and countries.
const OLD_AFTER_DAYS: i64 = 30;

/// Opens the database `MFA_GEOIP_DB` names (read into memory once), or
/// `None` when it names none.
///
/// # Errors
/// A [`ConfigError`] for `MFA_GEOIP_DB` when the file cannot be read, is
/// not a MaxMind DB, or is one without locations (ASN, ISP…).
pub fn locator(config: &Config) -> Result<Option<MaxMindLocator>, ConfigError> {
    let Some(path) = &config.geoip_db else {
        tracing::info!("geolocation off: MFA_GEOIP_DB is not set");
        return Ok(None);
    };
    let geo =
        MaxMindLocator::open(path).map_err(|e| ConfigError::new("MFA_GEOIP_DB", e.to_string()))?;
    let built_at = geo.built_at();
    tracing::info!(
        database = geo.database_type(),
        built_at = built_at.map(|t| t.to_rfc3339()),
        "geolocation on"
    );
    if let Some(days) = built_at
        .map(|t| (chrono::Utc::now() - t).num_days())
        .filter(|days| *days > OLD_AFTER_DAYS)
    {
        tracing::warn!(
            days,
            "the geolocation database is old: refresh the file (MaxMind's geoipupdate) and restart"
        );
    }
    Ok(Some(geo))
}

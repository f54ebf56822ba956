//! Devices a user signs in from, and device trust ("remember this device").

use super::{DeviceId, FingerprintHash, TokenHash, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Broad class of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// A web browser.
    #[default]
    Web,
    /// A mobile app.
    Mobile,
    /// A desktop app.
    Desktop,
    /// An API client.
    Api,
}

storage_names! {
    DeviceKind {
        Web => "web",
        Mobile => "mobile",
        Desktop => "desktop",
        Api => "api",
    }
}

/// What is known about a device, as reported by the client or derived from
/// its user agent. Every field is a signal, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceInfo {
    /// Broad class.
    pub kind: DeviceKind,
    /// A display name ("Firefox on Linux").
    pub name: Option<String>,
    /// Operating system.
    pub os: Option<String>,
    /// Operating system version.
    pub os_version: Option<String>,
    /// Browser.
    pub browser: Option<String>,
    /// Browser version.
    pub browser_version: Option<String>,
    /// App version, for mobile and desktop apps.
    pub app_version: Option<String>,
    /// Hardware brand.
    pub brand: Option<String>,
    /// Hardware model.
    pub model: Option<String>,
}

impl DeviceInfo {
    /// How the device is named to people (the "new sign-in" notification,
    /// a device list): its [`name`](DeviceInfo::name), else "browser on
    /// operating system" ("Chrome on Windows 10"), else whichever of the
    /// two is known; `None` when none is.
    #[must_use]
    pub fn description(&self) -> Option<String> {
        if let Some(name) = &self.name {
            return Some(name.clone());
        }
        match (&self.browser, &self.os) {
            (Some(browser), Some(os)) => Some(format!("{browser} on {os}")),
            (Some(known), None) | (None, Some(known)) => Some(known.clone()),
            (None, None) => None,
        }
    }

    /// Fills the fields of `self` that are empty from `other`; with
    /// `kind_too`, takes `other`'s kind as well.
    pub(crate) fn fill_gaps(&mut self, other: DeviceInfo, kind_too: bool) {
        let fill = |mine: &mut Option<String>, theirs: Option<String>| {
            if mine.is_none() {
                *mine = theirs;
            }
        };
        fill(&mut self.name, other.name);
        fill(&mut self.os, other.os);
        fill(&mut self.os_version, other.os_version);
        fill(&mut self.browser, other.browser);
        fill(&mut self.browser_version, other.browser_version);
        fill(&mut self.app_version, other.app_version);
        fill(&mut self.brand, other.brand);
        fill(&mut self.model, other.model);
        if kind_too {
            self.kind = other.kind;
        }
    }
}

/// A device seen for a user, keyed by (user, fingerprint digest).
///
/// Trust is a separate secret: a 256-bit token held by the client whose
/// SHA-256 digest is `trust_token_hash`. The fingerprint alone never grants
/// trust.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Identifier.
    pub id: DeviceId,
    /// Owner.
    pub user_id: UserId,
    /// Keyed digest of the client fingerprint.
    pub fingerprint_hash: FingerprintHash,
    /// Descriptive signals.
    pub info: DeviceInfo,
    /// Last IP address seen.
    pub last_ip: Option<String>,
    /// Last country seen (ISO 3166-1 alpha-2).
    pub last_country: Option<String>,
    /// First sighting.
    pub first_seen_at: DateTime<Utc>,
    /// Latest sighting.
    pub last_seen_at: DateTime<Utc>,
    /// Digest of the current trust token, while trusted.
    pub trust_token_hash: Option<TokenHash>,
    /// When trust was granted.
    pub trusted_at: Option<DateTime<Utc>>,
    /// Trust ends at this time.
    pub trusted_until: Option<DateTime<Utc>>,
    /// Marked compromised: never trusted again.
    pub compromised_at: Option<DateTime<Utc>>,
    /// Latest risk score (0–100).
    pub risk_score: u8,
    /// Host-defined extra data.
    pub metadata: serde_json::Value,
    /// Soft-deletion time.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Device {
    /// A device seen for the first time at `now`.
    #[must_use]
    pub fn new(
        user_id: UserId,
        fingerprint_hash: FingerprintHash,
        info: DeviceInfo,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: DeviceId::new(),
            user_id,
            fingerprint_hash,
            info,
            last_ip: None,
            last_country: None,
            first_seen_at: now,
            last_seen_at: now,
            trust_token_hash: None,
            trusted_at: None,
            trusted_until: None,
            compromised_at: None,
            risk_score: 0,
            metadata: serde_json::Value::Null,
            deleted_at: None,
        }
    }

    /// Whether the device is trusted at `now`.
    #[must_use]
    pub fn is_trusted(&self, now: DateTime<Utc>) -> bool {
        self.trust_token_hash.is_some()
            && self.compromised_at.is_none()
            && self.deleted_at.is_none()
            && self.trusted_until.is_some_and(|until| now < until)
    }
}

/// One sighting of a device, recorded by [`crate::store::DeviceRepository::upsert_device`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSighting {
    /// Owner.
    pub user_id: UserId,
    /// Keyed digest of the client fingerprint.
    pub fingerprint_hash: FingerprintHash,
    /// Descriptive signals (replace the stored ones).
    pub info: DeviceInfo,
    /// IP address of this sighting.
    pub ip: Option<String>,
    /// Country of this sighting.
    pub country: Option<String>,
    /// Risk score of this sighting.
    pub risk_score: u8,
    /// Host-defined extra data (replaces the stored value unless null).
    pub metadata: serde_json::Value,
    /// When.
    pub at: DateTime<Utc>,
}

impl DeviceSighting {
    /// The device this sighting creates when none of its user has the
    /// fingerprint yet.
    #[must_use]
    pub fn new_device(&self) -> Device {
        let mut device = Device::new(
            self.user_id,
            self.fingerprint_hash,
            self.info.clone(),
            self.at,
        );
        device.last_ip.clone_from(&self.ip);
        device.last_country.clone_from(&self.country);
        device.risk_score = self.risk_score;
        device.metadata = self.metadata.clone();
        device
    }

    /// Updates a known device with this sighting: descriptive signals,
    /// place, risk and time replaced, metadata replaced unless null, trust
    /// and first sighting kept.
    pub fn apply_to(&self, device: &mut Device) {
        device.info = self.info.clone();
        device.last_ip.clone_from(&self.ip);
        device.last_country.clone_from(&self.country);
        device.risk_score = self.risk_score;
        if !self.metadata.is_null() {
            device.metadata = self.metadata.clone();
        }
        device.last_seen_at = self.at;
    }
}

//! What the engine learns about the client of a request.

use super::Inner;
use crate::error::{MfaError, MfaResult};
use crate::model::{DeviceInfo, SessionType};
use crate::risk::GeoPoint;
use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::ops::Deref;

/// Longest accepted user agent, in bytes.
pub const MAX_USER_AGENT_LEN: usize = 1024;
/// Longest accepted device fingerprint, in bytes.
pub const MAX_FINGERPRINT_LEN: usize = 256;
/// Longest accepted free-text device field, in bytes.
pub const MAX_DEVICE_FIELD_LEN: usize = 128;

/// The client of a sign-in or refresh, as the host saw it.
///
/// Every field is optional; the more the host fills in, the better risk
/// scoring and device recognition work. `Debug` hides the trust token.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// Client IP address (after the host resolved trusted proxies).
    pub ip: Option<IpAddr>,
    /// `User-Agent` header.
    pub user_agent: Option<String>,
    /// A stable device fingerprint computed by the client. A signal only:
    /// it never grants trust by itself.
    pub fingerprint: Option<String>,
    /// The device-trust token issued by an earlier `remember_device`.
    pub trust_token: Option<String>,
    /// Web, mobile or API.
    pub session_type: SessionType,
    /// ISO 3166-1 alpha-2 country of the IP address, if the host knows it.
    /// Left empty, it is filled from the engine's
    /// [`GeoLocator`](crate::risk::GeoLocator), when one is configured.
    pub country: Option<String>,
    /// Descriptive device details.
    pub device: DeviceInfo,
}

impl fmt::Debug for ClientInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientInfo")
            .field("ip", &self.ip)
            .field("user_agent", &self.user_agent)
            .field(
                "fingerprint",
                &self.fingerprint.as_ref().map(|_| "[present]"),
            )
            .field(
                "trust_token",
                &self.trust_token.as_ref().map(|_| "[redacted]"),
            )
            .field("session_type", &self.session_type)
            .field("country", &self.country)
            .field("device", &self.device)
            .finish()
    }
}

fn check_len(value: Option<&String>, max: usize, field: &'static str) -> MfaResult<()> {
    match value {
        Some(v) if v.is_empty() => Err(MfaError::invalid_input(field, "empty")),
        Some(v) if v.len() > max => Err(MfaError::invalid_input(field, "too long")),
        Some(v) if v.chars().any(char::is_control) => {
            Err(MfaError::invalid_input(field, "control characters"))
        }
        _ => Ok(()),
    }
}

impl ClientInfo {
    /// The client's address as stored in sessions, devices and audit events:
    /// canonical text (an IPv4-mapped IPv6 address as IPv4).
    #[must_use]
    pub fn ip_text(&self) -> Option<String> {
        self.ip.map(|ip| ip.to_canonical().to_string())
    }

    /// The device as this client describes it: [`ClientInfo::device`], with
    /// the fields it left empty filled from [`ClientInfo::user_agent`]
    /// (browser, operating system, their versions; feature `user-agent`,
    /// see `mfa_core::user_agent`). What the client sent always wins; the
    /// kind comes from the user agent only when the client described
    /// nothing at all. Without the feature, or without a user agent that
    /// names something known, this is `device` as it is.
    ///
    /// The engine records and shows this description (the device list,
    /// the "new sign-in" and "device remembered" notifications).
    #[must_use]
    pub fn described_device(&self) -> DeviceInfo {
        let mut info = self.device.clone();
        if let Some(from_agent) = self.user_agent_device() {
            let described_nothing = info == DeviceInfo::default();
            info.fill_gaps(from_agent, described_nothing);
        }
        info
    }

    /// What the user agent alone says about the device.
    pub(crate) fn user_agent_device(&self) -> Option<DeviceInfo> {
        #[cfg(feature = "user-agent")]
        {
            self.user_agent
                .as_deref()
                .and_then(crate::user_agent::describe)
        }
        #[cfg(not(feature = "user-agent"))]
        {
            None
        }
    }

    /// Checks every field; the engine calls this before using any of them.
    ///
    /// # Errors
    /// [`MfaError::InvalidInput`] naming the first bad field.
    pub fn validate(&self) -> MfaResult<()> {
        check_len(self.user_agent.as_ref(), MAX_USER_AGENT_LEN, "user_agent")?;
        check_len(
            self.fingerprint.as_ref(),
            MAX_FINGERPRINT_LEN,
            "fingerprint",
        )?;
        if let Some(country) = &self.country
            && !is_country_code(country)
        {
            return Err(MfaError::invalid_input(
                "country",
                "not an ISO 3166-1 alpha-2 code",
            ));
        }
        let d = &self.device;
        for (value, field) in [
            (&d.name, "device.name"),
            (&d.os, "device.os"),
            (&d.os_version, "device.os_version"),
            (&d.browser, "device.browser"),
            (&d.browser_version, "device.browser_version"),
            (&d.app_version, "device.app_version"),
            (&d.brand, "device.brand"),
            (&d.model, "device.model"),
        ] {
            check_len(value.as_ref(), MAX_DEVICE_FIELD_LEN, field)?;
        }
        // A malformed trust token is not an error: it is simply not trusted.
        Ok(())
    }
}

/// Whether `code` is an ISO 3166-1 alpha-2 code as the engine stores it:
/// two upper-case ASCII letters.
fn is_country_code(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// A client let in at the door of an engine call: its fields checked, its
/// country filled from the locator when the host gave none. Every step of
/// the call records this client, so one request's sessions, devices and
/// audit events agree on the country. Derefs to the [`ClientInfo`].
pub(crate) struct Admitted<'c> {
    client: Cow<'c, ClientInfo>,
    /// What the locator said of the client's address.
    pub location: Option<GeoPoint>,
}

impl Deref for Admitted<'_> {
    type Target = ClientInfo;

    fn deref(&self) -> &ClientInfo {
        &self.client
    }
}

impl Inner {
    /// Checks `client` ([`ClientInfo::validate`]) and asks the locator,
    /// once, where its address is. A country the host gave wins over the
    /// located one; a located code that is not alpha-2 is dropped.
    ///
    /// # Errors
    /// As [`ClientInfo::validate`].
    pub(crate) async fn admit<'c>(&self, client: &'c ClientInfo) -> MfaResult<Admitted<'c>> {
        client.validate()?;
        let location = match (&self.geo, client.ip) {
            (Some(geo), Some(ip)) => geo.locate(ip.to_canonical()).await,
            _ => None,
        };
        let located = location
            .as_ref()
            .and_then(|l| l.country.as_deref())
            .map(str::to_ascii_uppercase)
            .filter(|c| is_country_code(c));
        let client = match located {
            Some(country) if client.country.is_none() => Cow::Owned(ClientInfo {
                country: Some(country),
                ..client.clone()
            }),
            _ => Cow::Borrowed(client),
        };
        Ok(Admitted { client, location })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r45_client_debug_hides_the_trust_token() {
        let c = ClientInfo {
            trust_token: Some("very-secret-trust-token".into()),
            ..ClientInfo::default()
        };
        assert!(!format!("{c:?}").contains("very-secret"));
    }

    #[test]
    fn bad_client_fields_are_rejected_by_name() {
        let long_ua = ClientInfo {
            user_agent: Some("x".repeat(MAX_USER_AGENT_LEN + 1)),
            ..ClientInfo::default()
        };
        assert!(long_ua.validate().is_err());
        let country = ClientInfo {
            country: Some("che".into()),
            ..ClientInfo::default()
        };
        assert!(country.validate().is_err());
        assert!(ClientInfo::default().validate().is_ok());
    }
}

//! Risk scoring of sign-ins.
//!
//! Risk only ever adds friction (R59): a score can make a second factor
//! required on a trusted device (`step_up`) or refuse the sign-in (`block`);
//! it never removes a required factor and never raises a session's AAL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Where an IP address is, as far as a lookup can tell: its country, a
/// point on Earth, or both (a country database knows no coordinates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    /// ISO 3166-1 alpha-2 country code, if known.
    pub country: Option<String>,
    /// Latitude and longitude, if known.
    pub coordinates: Option<Coordinates>,
}

impl GeoPoint {
    /// Great-circle distance to `other` in kilometres, when both have
    /// coordinates.
    #[must_use]
    pub fn distance_km(&self, other: &Self) -> Option<f64> {
        Some(self.coordinates?.distance_km(&other.coordinates?))
    }
}

/// A point on Earth in degrees (WGS 84, as IP databases give it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Coordinates {
    /// Latitude in degrees, -90 to 90.
    pub latitude: f64,
    /// Longitude in degrees, -180 to 180.
    pub longitude: f64,
}

impl Coordinates {
    /// The point at `latitude`, `longitude`, or `None` when either is out
    /// of range or not a number.
    #[must_use]
    pub fn new(latitude: f64, longitude: f64) -> Option<Self> {
        ((-90.0..=90.0).contains(&latitude) && (-180.0..=180.0).contains(&longitude)).then_some(
            Self {
                latitude,
                longitude,
            },
        )
    }

    /// Great-circle distance to `other` in kilometres (haversine formula).
    #[must_use]
    pub fn distance_km(&self, other: &Self) -> f64 {
        const EARTH_RADIUS_KM: f64 = 6371.0;
        let (lat1, lat2) = (self.latitude.to_radians(), other.latitude.to_radians());
        let dlat = lat2 - lat1;
        let dlon = (other.longitude - self.longitude).to_radians();
        let a = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * a.sqrt().atan2((1.0 - a).sqrt())
    }
}

/// Turns an IP address into a location. Provided by the host (a MaxMind
/// database through `mfa_core::geoip::MaxMindLocator`, feature `geoip`; a
/// provider API…) to [`MfaBuilder::geo`](crate::MfaBuilder::geo); the
/// engine works without one.
///
/// The engine asks once per request that carries a client, for the
/// client's address, and once more when it scores a sign-in, for the
/// address of the user's previous sighting. A locator that calls a remote
/// service should cache. The country it gives fills
/// [`ClientInfo::country`](crate::ClientInfo::country) when the host left
/// that empty, so it reaches sessions, devices and audit events.
#[async_trait]
pub trait GeoLocator: Send + Sync {
    /// The location of `ip`, if known. `None` for an address the source
    /// does not know (private ranges among them).
    async fn locate(&self, ip: IpAddr) -> Option<GeoPoint>;
}

/// An earlier sighting to compare the current one with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviousSighting {
    /// When.
    pub at: DateTime<Utc>,
    /// IP address then.
    pub ip: Option<IpAddr>,
    /// Country then.
    pub country: Option<String>,
    /// Location then.
    pub location: Option<GeoPoint>,
}

/// Everything the engine knows about a sign-in when it scores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskContext {
    /// When.
    pub now: DateTime<Utc>,
    /// Client IP address.
    pub ip: Option<IpAddr>,
    /// Client country.
    pub country: Option<String>,
    /// Client location.
    pub location: Option<GeoPoint>,
    /// No device with this fingerprint was seen for the user before.
    pub new_device: bool,
    /// The client sent no fingerprint, so the device is unknown.
    pub unknown_device: bool,
    /// The device is marked compromised.
    pub compromised_device: bool,
    /// Countries the user signed in from before.
    pub known_countries: Vec<String>,
    /// The user's latest earlier sighting.
    pub previous: Option<PreviousSighting>,
    /// Consecutive failed attempts (password and second factor) right now.
    pub recent_failures: u32,
}

/// One reason a sign-in looks risky.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskSignal {
    /// First sign-in from this device.
    NewDevice,
    /// No device fingerprint was given.
    UnknownDevice,
    /// No IP address was given: the engine cannot assess location.
    MissingIp,
    /// First sign-in from this country.
    NewCountry,
    /// The distance from the previous sighting cannot be travelled in the time.
    ImpossibleTravel,
    /// Many recent failed attempts.
    RecentFailures,
    /// The device is marked compromised.
    CompromisedDevice,
    /// The IP address differs from the previous sighting.
    IpChange,
}

impl RiskSignal {
    /// Stable name, for audit metadata.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NewDevice => "new_device",
            Self::UnknownDevice => "unknown_device",
            Self::MissingIp => "missing_ip",
            Self::NewCountry => "new_country",
            Self::ImpossibleTravel => "impossible_travel",
            Self::RecentFailures => "recent_failures",
            Self::CompromisedDevice => "compromised_device",
            Self::IpChange => "ip_change",
        }
    }
}

/// The result of scoring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskAssessment {
    /// 0 (no concern) to 100 (certainly hostile).
    pub score: u8,
    /// Why.
    pub signals: Vec<RiskSignal>,
}

/// Scores a sign-in.
#[async_trait]
pub trait RiskEngine: Send + Sync {
    /// Scores `context`. Implementations should be fast; the engine awaits
    /// them on every sign-in.
    async fn assess(&self, context: &RiskContext) -> RiskAssessment;
}

/// The default rule set: a weight per signal, summed and capped at 100.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DefaultRiskEngine {
    /// Weight of [`RiskSignal::NewDevice`].
    pub new_device: u8,
    /// Weight of [`RiskSignal::UnknownDevice`].
    pub unknown_device: u8,
    /// Weight of [`RiskSignal::MissingIp`]. Defaults to the step-up threshold
    /// so a sign-in that cannot be assessed gets a second factor (R60).
    pub missing_ip: u8,
    /// Weight of [`RiskSignal::NewCountry`].
    pub new_country: u8,
    /// Weight of [`RiskSignal::ImpossibleTravel`].
    pub impossible_travel: u8,
    /// Weight of [`RiskSignal::RecentFailures`].
    pub recent_failures: u8,
    /// Failures from which [`RiskSignal::RecentFailures`] applies.
    pub failures_threshold: u32,
    /// Weight of [`RiskSignal::CompromisedDevice`].
    pub compromised_device: u8,
    /// Weight of [`RiskSignal::IpChange`].
    pub ip_change: u8,
    /// Speed above which travel is impossible, in km/h.
    pub max_speed_kmh: f64,
}

impl Default for DefaultRiskEngine {
    fn default() -> Self {
        Self {
            new_device: 25,
            unknown_device: 25,
            missing_ip: 50,
            new_country: 30,
            impossible_travel: 60,
            recent_failures: 25,
            failures_threshold: 3,
            compromised_device: 100,
            ip_change: 10,
            max_speed_kmh: 1000.0,
        }
    }
}

impl DefaultRiskEngine {
    /// The signals present in `c`.
    #[must_use]
    pub fn signals(&self, c: &RiskContext) -> Vec<RiskSignal> {
        let mut signals = Vec::new();
        if c.compromised_device {
            signals.push(RiskSignal::CompromisedDevice);
        }
        if c.unknown_device {
            signals.push(RiskSignal::UnknownDevice);
        } else if c.new_device {
            signals.push(RiskSignal::NewDevice);
        }
        if c.ip.is_none() {
            signals.push(RiskSignal::MissingIp);
        }
        if let Some(country) = &c.country
            && !c.known_countries.is_empty()
            && !c
                .known_countries
                .iter()
                .any(|k| k.eq_ignore_ascii_case(country))
        {
            signals.push(RiskSignal::NewCountry);
        }
        if let Some(prev) = &c.previous {
            if c.ip.is_some() && prev.ip.is_some() && prev.ip != c.ip {
                signals.push(RiskSignal::IpChange);
            }
            if let (Some(here), Some(there)) = (&c.location, &prev.location)
                && let Some(km) = here.distance_km(there)
            {
                let hours = (c.now - prev.at).num_seconds().max(1) as f64 / 3600.0;
                if km / hours > self.max_speed_kmh {
                    signals.push(RiskSignal::ImpossibleTravel);
                }
            }
        }
        if c.recent_failures >= self.failures_threshold {
            signals.push(RiskSignal::RecentFailures);
        }
        signals
    }

    fn weight(&self, signal: RiskSignal) -> u8 {
        match signal {
            RiskSignal::NewDevice => self.new_device,
            RiskSignal::UnknownDevice => self.unknown_device,
            RiskSignal::MissingIp => self.missing_ip,
            RiskSignal::NewCountry => self.new_country,
            RiskSignal::ImpossibleTravel => self.impossible_travel,
            RiskSignal::RecentFailures => self.recent_failures,
            RiskSignal::CompromisedDevice => self.compromised_device,
            RiskSignal::IpChange => self.ip_change,
        }
    }
}

#[async_trait]
impl RiskEngine for DefaultRiskEngine {
    async fn assess(&self, context: &RiskContext) -> RiskAssessment {
        let signals = self.signals(context);
        let total: u32 = signals.iter().map(|s| u32::from(self.weight(*s))).sum();
        RiskAssessment {
            score: u8::try_from(total.min(100)).unwrap_or(100),
            signals,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> RiskContext {
        RiskContext {
            now: DateTime::from_timestamp(1_900_000_000, 0).unwrap(),
            ip: Some("192.0.2.1".parse().unwrap()),
            country: Some("CH".into()),
            location: None,
            new_device: false,
            unknown_device: false,
            compromised_device: false,
            known_countries: vec!["CH".into()],
            previous: None,
            recent_failures: 0,
        }
    }

    fn score(c: &RiskContext) -> u8 {
        let engine = DefaultRiskEngine::default();
        let signals = engine.signals(c);
        let total: u32 = signals.iter().map(|s| u32::from(engine.weight(*s))).sum();
        u8::try_from(total.min(100)).unwrap()
    }

    #[test]
    fn known_device_from_known_place_scores_zero() {
        assert_eq!(score(&base()), 0);
    }

    #[test]
    fn r60_missing_ip_reaches_the_step_up_threshold() {
        let mut c = base();
        c.ip = None;
        assert!(score(&c) >= crate::policy::RiskPolicy::default().step_up);
    }

    #[test]
    fn impossible_travel_is_detected() {
        let mut c = base();
        c.location = Some(GeoPoint {
            country: Some("CH".into()),
            coordinates: Coordinates::new(47.37, 8.54),
        });
        c.previous = Some(PreviousSighting {
            at: c.now - chrono::TimeDelta::hours(1),
            ip: Some("198.51.100.7".parse().unwrap()),
            country: Some("US".into()),
            location: Some(GeoPoint {
                country: Some("US".into()),
                coordinates: Coordinates::new(40.71, -74.0),
            }),
        });
        let signals = DefaultRiskEngine::default().signals(&c);
        assert!(signals.contains(&RiskSignal::ImpossibleTravel));
        assert!(signals.contains(&RiskSignal::IpChange));
    }

    #[test]
    fn compromised_device_reaches_the_block_threshold() {
        let mut c = base();
        c.compromised_device = true;
        assert!(score(&c) >= crate::policy::RiskPolicy::default().block);
    }

    #[test]
    fn r59_adding_a_signal_never_lowers_the_score() {
        let mut c = base();
        let mut last = score(&c);
        c.new_device = true;
        assert!(score(&c) >= last);
        last = score(&c);
        c.country = Some("BR".into());
        assert!(score(&c) >= last);
        last = score(&c);
        c.recent_failures = 10;
        assert!(score(&c) >= last);
        last = score(&c);
        c.compromised_device = true;
        assert!(score(&c) >= last);
    }

    #[test]
    fn travel_is_not_judged_without_coordinates_on_both_sides() {
        let mut c = base();
        c.location = Some(GeoPoint {
            country: Some("CH".into()),
            coordinates: None,
        });
        c.previous = Some(PreviousSighting {
            at: c.now - chrono::TimeDelta::minutes(1),
            ip: c.ip,
            country: Some("AU".into()),
            location: Some(GeoPoint {
                country: Some("AU".into()),
                coordinates: Coordinates::new(-33.87, 151.21),
            }),
        });
        let signals = DefaultRiskEngine::default().signals(&c);
        assert!(!signals.contains(&RiskSignal::ImpossibleTravel));
    }

    #[test]
    fn coordinates_out_of_range_are_refused() {
        assert!(Coordinates::new(47.37, 8.54).is_some());
        for (lat, lon) in [
            (90.5, 0.0),
            (0.0, -180.5),
            (f64::NAN, 0.0),
            (0.0, f64::INFINITY),
        ] {
            assert!(Coordinates::new(lat, lon).is_none(), "{lat} {lon}");
        }
    }

    #[test]
    fn zurich_to_sydney_is_about_16_600_km() {
        let zurich = Coordinates::new(47.37, 8.54).unwrap();
        let sydney = Coordinates::new(-33.87, 151.21).unwrap();
        let km = zurich.distance_km(&sydney);
        assert!((16_400.0..16_800.0).contains(&km), "{km}");
    }
}

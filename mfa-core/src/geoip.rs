//! IP geolocation from a MaxMind DB file (feature `geoip`).
//!
//! [`MaxMindLocator`] reads a database in the MaxMind DB format (`.mmdb`)
//! with the City or Country layout: MaxMind's free GeoLite2-City and
//! GeoLite2-Country, their paid GeoIP2 counterparts, or a compatible
//! database of another vendor. Given to [`MfaBuilder::geo`](crate::MfaBuilder::geo),
//! it fills the client's country on sessions, devices and audit events
//! when the host gives none, and lets the default risk rules flag a
//! sign-in from a new country or after impossible travel.
//!
//! ```no_run
//! use std::sync::Arc;
//! use mfa_core::Mfa;
//! use mfa_core::geoip::MaxMindLocator;
//!
//! # fn main() -> Result<(), mfa_core::geoip::GeoIpError> {
//! let geo = MaxMindLocator::open("/var/lib/GeoIP/GeoLite2-City.mmdb")?;
//! let builder = Mfa::builder().geo(Arc::new(geo));
//! # let _ = builder;
//! # Ok(())
//! # }
//! ```
//!
//! # The file
//!
//! The whole file is read into memory once, by [`MaxMindLocator::open`]
//! (a City database is some tens of megabytes, a Country database a few);
//! lookups then touch no disk. Memory-mapping it would share the pages between
//! processes, but mapping a file is an `unsafe` operation whose soundness
//! depends on nobody changing the file while it is mapped, and this
//! workspace forbids `unsafe` code. Reading it also means the file may be
//! replaced on disk at any time (MaxMind publishes updates twice a week): a
//! running locator keeps the copy it read; open a new one, or restart, to
//! use the update.
//!
//! A file that is not a MaxMind DB, or whose header and metadata are
//! damaged, is refused by `open` with a [`GeoIpError`], and so is a MaxMind
//! DB of a kind that knows no places (ASN, ISP, anonymous-IP databases).
//! Damage deeper in the file shows only when a lookup reaches it: that
//! address is then unknown (`None`, logged as a warning), never a panic.

use crate::risk::{Coordinates, GeoLocator, GeoPoint};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Why a MaxMind database could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GeoIpError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a MaxMind DB, or a damaged one.
    #[error("not a valid MaxMind DB file: {reason}")]
    Invalid {
        /// What the reader found wrong.
        reason: String,
    },
    /// A MaxMind DB of a kind that has no countries or coordinates.
    #[error(
        "a {database_type} database has no locations: use a City or Country database (GeoLite2-City, GeoLite2-Country, GeoIP2-City…)"
    )]
    NotALocationDatabase {
        /// The database's own name for its kind (`GeoLite2-ASN`, …).
        database_type: String,
    },
}

/// A [`GeoLocator`] on a MaxMind DB (GeoLite2/GeoIP2 City or Country), held
/// in memory. See the [module documentation](self) for the file.
///
/// [`locate`](GeoLocator::locate) (and [`MaxMindLocator::lookup`]) give the
/// country's ISO 3166-1 alpha-2 code and, from a City database, the
/// coordinates; `None` for addresses the database does not know and for
/// loopback, private, link-local, shared (CGNAT) and unique-local
/// addresses, which have no place on the map. An IPv4-mapped IPv6 address
/// is looked up as the IPv4 address it carries.
pub struct MaxMindLocator {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl fmt::Debug for MaxMindLocator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaxMindLocator")
            .field("database_type", &self.database_type())
            .field("built_at", &self.built_at())
            .finish_non_exhaustive()
    }
}

impl MaxMindLocator {
    /// Reads the database at `path` into memory and checks it. Blocking
    /// I/O: call it at start-up, not on a request path.
    ///
    /// # Errors
    /// [`GeoIpError::Read`] when the file cannot be read,
    /// [`GeoIpError::Invalid`] when it is not a MaxMind DB (or a damaged
    /// one), [`GeoIpError::NotALocationDatabase`] for a database of
    /// another kind.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, GeoIpError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| GeoIpError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_bytes(bytes)
    }

    /// Like [`MaxMindLocator::open`], on the bytes of a database file.
    ///
    /// A database is taken for one of places when its metadata's
    /// `database_type` names a City, Country or Enterprise database (any
    /// case: `GeoLite2-City`, `GeoIP2-Country`, `DBIP-City-Lite`…).
    ///
    /// # Errors
    /// As [`MaxMindLocator::open`], without `Read`.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, GeoIpError> {
        let reader = maxminddb::Reader::from_source(bytes).map_err(|e| GeoIpError::Invalid {
            reason: e.to_string(),
        })?;
        let kind = reader.metadata().database_type.to_ascii_lowercase();
        if !["city", "country", "enterprise"]
            .iter()
            .any(|k| kind.contains(k))
        {
            return Err(GeoIpError::NotALocationDatabase {
                database_type: reader.metadata().database_type.clone(),
            });
        }
        Ok(Self { reader })
    }

    /// The database's name for its kind, e.g. `GeoLite2-City`.
    #[must_use]
    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// When the database was built (its metadata's `build_epoch`): a
    /// service can warn when its copy grows old.
    #[must_use]
    pub fn built_at(&self) -> Option<DateTime<Utc>> {
        i64::try_from(self.reader.metadata().build_epoch)
            .ok()
            .and_then(|secs| DateTime::from_timestamp(secs, 0))
    }

    /// The location of `ip`, without the async of [`GeoLocator::locate`]:
    /// a walk of the in-memory tree, no I/O.
    #[must_use]
    pub fn lookup(&self, ip: IpAddr) -> Option<GeoPoint> {
        let ip = ip.to_canonical();
        if !has_a_place(ip) || (ip.is_ipv6() && self.reader.metadata().ip_version == 4) {
            return None;
        }
        let record = self
            .reader
            .lookup(ip)
            .and_then(|found| found.decode::<Record<'_>>());
        let record = match record {
            Ok(record) => record?,
            Err(error) => {
                tracing::warn!(
                    %error,
                    database = self.database_type(),
                    "geoip: a lookup reached a damaged part of the database; the address counts as unknown"
                );
                return None;
            }
        };
        let country = record
            .country
            .and_then(|c| c.iso_code)
            .and_then(country_code);
        let coordinates = record
            .location
            .and_then(|l| Coordinates::new(l.latitude?, l.longitude?));
        (country.is_some() || coordinates.is_some()).then_some(GeoPoint {
            country,
            coordinates,
        })
    }
}

#[async_trait]
impl GeoLocator for MaxMindLocator {
    async fn locate(&self, ip: IpAddr) -> Option<GeoPoint> {
        self.lookup(ip)
    }
}

/// The part of a City or Country record the engine uses; every other
/// field (names, subdivisions, postal codes…) is skipped, not decoded.
#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow, default)]
    country: Option<Country<'a>>,
    #[serde(default)]
    location: Option<Location>,
}

#[derive(Deserialize)]
struct Country<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Location {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
}

/// An ISO 3166-1 alpha-2 code as the engine stores it (upper case), or
/// `None` for anything else.
fn country_code(code: &str) -> Option<String> {
    (code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| code.to_ascii_uppercase())
}

/// Whether `ip` can be somewhere on the map: not loopback, private,
/// link-local, shared address space (RFC 6598) or unique-local.
fn has_a_place(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            let shared = a == 100 && (b & 0xC0) == 64;
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || shared)
        }
        IpAddr::V6(v6) => {
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_unique_local()
                || v6.is_unicast_link_local())
        }
    }
}

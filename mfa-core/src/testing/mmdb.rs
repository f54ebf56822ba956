//! A small MaxMind DB (`.mmdb`) writer, so geolocation tests build the
//! database they read instead of shipping a vendor's file.
//!
//! It writes what the MaxMind DB format (version 2.0) needs and no more:
//! a binary search tree over the bits of each address with 24-bit records,
//! the 16 zero bytes that separate it from the data section, one data
//! record per network (maps, arrays, UTF-8 strings, doubles, unsigned
//! integers, booleans; no pointers, so no value is shared), and the
//! metadata map after the `\xAB\xCD\xEFMaxMind.com` marker.
//!
//! The default tree is an IPv6 one (`ip_version` 6) with IPv4 networks at
//! `::a.b.c.d/96+n`, where readers look for IPv4 addresses, as in MaxMind's
//! own databases; [`MmdbWriter::ipv4_only`] writes an IPv4 tree
//! (`ip_version` 4) instead. Networks may not overlap: this is a test
//! fixture, not a database compiler.
//!
//! ```
//! use mfa_core::testing::mmdb::{MmdbWriter, city};
//!
//! let bytes = MmdbWriter::new("Test-City")
//!     .insert("192.0.2.0".parse().unwrap(), 24, city("CH", 47.37, 8.54))
//!     .to_bytes();
//! assert!(bytes.windows(14).any(|w| w == b"\xAB\xCD\xEFMaxMind.com"));
//! ```

use std::net::IpAddr;
use std::path::Path;

/// A value of the data section.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A UTF-8 string.
    String(String),
    /// An IEEE 754 double.
    Double(f64),
    /// A 16-bit unsigned integer.
    Uint16(u16),
    /// A 32-bit unsigned integer.
    Uint32(u32),
    /// A 64-bit unsigned integer.
    Uint64(u64),
    /// A boolean.
    Bool(bool),
    /// An array.
    Array(Vec<Value>),
    /// A map with string keys, written in this order.
    Map(Vec<(String, Value)>),
}

impl Value {
    /// A map from `(key, value)` pairs.
    #[must_use]
    pub fn map<const N: usize>(pairs: [(&str, Value); N]) -> Self {
        Self::Map(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    /// A string.
    #[must_use]
    pub fn string(s: &str) -> Self {
        Self::String(s.to_owned())
    }
}

/// A record in the City layout (GeoLite2-City, GeoIP2-City): the country
/// with its ISO code and English name, and the location with coordinates
/// and an accuracy radius.
#[must_use]
pub fn city(country_code: &str, latitude: f64, longitude: f64) -> Value {
    Value::map([
        (
            "country",
            Value::map([
                ("iso_code", Value::string(country_code)),
                ("names", Value::map([("en", Value::string(country_code))])),
            ]),
        ),
        (
            "location",
            Value::map([
                ("accuracy_radius", Value::Uint16(20)),
                ("latitude", Value::Double(latitude)),
                ("longitude", Value::Double(longitude)),
            ]),
        ),
    ])
}

/// A record in the Country layout (GeoLite2-Country): the country and the
/// continent, no location.
#[must_use]
pub fn country(country_code: &str) -> Value {
    Value::map([
        ("continent", Value::map([("code", Value::string("EU"))])),
        (
            "country",
            Value::map([
                ("is_in_european_union", Value::Bool(false)),
                ("iso_code", Value::string(country_code)),
            ]),
        ),
    ])
}

/// Builds a MaxMind DB in memory. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct MmdbWriter {
    database_type: String,
    ipv4_only: bool,
    build_epoch: u64,
    networks: Vec<(IpAddr, u8, Value)>,
}

/// One side of a tree node: nothing, another node, or a record.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Empty,
    Node(usize),
    Record(usize),
}

/// Where the metadata starts.
const METADATA_MARKER: &[u8] = b"\xAB\xCD\xEFMaxMind.com";
/// Zero bytes between the search tree and the data section.
const SEPARATOR: usize = 16;
/// Largest value a 24-bit record holds.
const RECORD_MAX: usize = (1 << 24) - 1;

impl MmdbWriter {
    /// An empty IPv6 database whose metadata calls it `database_type`
    /// (`GeoLite2-City`, `GeoLite2-Country`, …), built at 2026-01-01.
    #[must_use]
    pub fn new(database_type: &str) -> Self {
        Self {
            database_type: database_type.to_owned(),
            ipv4_only: false,
            build_epoch: 1_767_225_600,
            networks: Vec::new(),
        }
    }

    /// Writes an IPv4 tree (`ip_version` 4): IPv6 networks are refused.
    #[must_use]
    pub fn ipv4_only(mut self) -> Self {
        self.ipv4_only = true;
        self
    }

    /// Sets the build time in the metadata (seconds since the Unix epoch).
    #[must_use]
    pub fn build_epoch(mut self, seconds: u64) -> Self {
        self.build_epoch = seconds;
        self
    }

    /// Adds the network `address/prefix_len` with `record`.
    ///
    /// # Panics
    /// At [`MmdbWriter::to_bytes`], when networks overlap, a prefix is 0 or
    /// longer than the address, or an IPv6 network goes into an IPv4 tree.
    #[must_use]
    pub fn insert(mut self, address: IpAddr, prefix_len: u8, record: Value) -> Self {
        self.networks.push((address, prefix_len, record));
        self
    }

    /// The database file's bytes.
    ///
    /// # Panics
    /// As [`MmdbWriter::insert`], and when the database outgrows 24-bit
    /// records.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let tree_bits: u32 = if self.ipv4_only { 32 } else { 128 };
        let mut nodes: Vec<[Slot; 2]> = vec![[Slot::Empty; 2]];
        for (index, (address, prefix_len, _)) in self.networks.iter().enumerate() {
            let limit = if address.is_ipv4() { 32 } else { 128 };
            assert!(
                (1..=limit).contains(prefix_len),
                "prefix {prefix_len} out of range for {address}"
            );
            let prefix_len = u32::from(*prefix_len);
            let (bits, depth) = match (address, self.ipv4_only) {
                (IpAddr::V4(v4), true) => (u128::from(u32::from(*v4)), prefix_len),
                // IPv4 lives at ::/96 of an IPv6 tree.
                (IpAddr::V4(v4), false) => (u128::from(u32::from(*v4)), 96 + prefix_len),
                (IpAddr::V6(v6), false) => (u128::from(*v6), prefix_len),
                (IpAddr::V6(_), true) => panic!("an IPv6 network in an IPv4 tree"),
            };
            place(&mut nodes, bits, depth, tree_bits, index);
        }

        let mut data = Vec::new();
        let mut offsets = Vec::with_capacity(self.networks.len());
        for (_, _, record) in &self.networks {
            offsets.push(data.len());
            encode(record, &mut data);
        }

        let node_count = nodes.len();
        let value = |slot: Slot| -> usize {
            let v = match slot {
                Slot::Empty => node_count,
                Slot::Node(n) => n,
                Slot::Record(i) => node_count + SEPARATOR + offsets[i],
            };
            assert!(v <= RECORD_MAX, "the database outgrew 24-bit records");
            v
        };
        let mut out = Vec::with_capacity(node_count * 6 + SEPARATOR + data.len() + 256);
        for [left, right] in &nodes {
            for slot in [*left, *right] {
                out.extend_from_slice(&u32::try_from(value(slot)).unwrap_or(0).to_be_bytes()[1..]);
            }
        }
        out.extend_from_slice(&[0; SEPARATOR]);
        out.extend_from_slice(&data);
        out.extend_from_slice(METADATA_MARKER);
        let metadata = Value::map([
            ("binary_format_major_version", Value::Uint16(2)),
            ("binary_format_minor_version", Value::Uint16(0)),
            ("build_epoch", Value::Uint64(self.build_epoch)),
            ("database_type", Value::string(&self.database_type)),
            (
                "description",
                Value::map([("en", Value::string("mfa-rs test database"))]),
            ),
            (
                "ip_version",
                Value::Uint16(if self.ipv4_only { 4 } else { 6 }),
            ),
            ("languages", Value::Array(vec![Value::string("en")])),
            (
                "node_count",
                Value::Uint32(u32::try_from(node_count).unwrap_or(u32::MAX)),
            ),
            ("record_size", Value::Uint16(24)),
        ]);
        encode(&metadata, &mut out);
        out
    }

    /// Writes the database to `path`.
    ///
    /// # Errors
    /// The file system's.
    ///
    /// # Panics
    /// As [`MmdbWriter::to_bytes`].
    pub fn write(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        std::fs::write(path, self.to_bytes())
    }
}

/// Walks `depth` bits of `bits` (the top `tree_bits` of them) from the
/// root, making nodes as needed, and puts record `index` at the end.
fn place(nodes: &mut Vec<[Slot; 2]>, bits: u128, depth: u32, tree_bits: u32, index: usize) {
    let mut node = 0;
    for i in 0..depth {
        let side = usize::from((bits >> (tree_bits - 1 - i)) & 1 == 1);
        let last = i + 1 == depth;
        match (nodes[node][side], last) {
            (Slot::Empty, true) => nodes[node][side] = Slot::Record(index),
            (Slot::Empty, false) => {
                nodes.push([Slot::Empty; 2]);
                let next = nodes.len() - 1;
                nodes[node][side] = Slot::Node(next);
                node = next;
            }
            (Slot::Node(next), false) => node = next,
            _ => panic!("network {index} overlaps an earlier one"),
        }
    }
}

/// Appends `value` in the data-section encoding.
fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::String(s) => {
            control(out, 2, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Double(d) => {
            control(out, 3, 8);
            out.extend_from_slice(&d.to_be_bytes());
        }
        Value::Uint16(n) => unsigned(out, 5, u64::from(*n)),
        Value::Uint32(n) => unsigned(out, 6, u64::from(*n)),
        Value::Uint64(n) => unsigned(out, 9, *n),
        // A boolean's value is its size field.
        Value::Bool(b) => control(out, 14, usize::from(*b)),
        Value::Array(items) => {
            control(out, 11, items.len());
            for item in items {
                encode(item, out);
            }
        }
        Value::Map(pairs) => {
            control(out, 7, pairs.len());
            for (key, value) in pairs {
                control(out, 2, key.len());
                out.extend_from_slice(key.as_bytes());
                encode(value, out);
            }
        }
    }
}

/// An unsigned integer of type `kind`: big-endian, without leading zero
/// bytes (zero has no bytes at all).
fn unsigned(out: &mut Vec<u8>, kind: u8, n: u64) {
    let bytes = n.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(out, kind, bytes.len() - skip);
    out.extend_from_slice(&bytes[skip..]);
}

/// The control byte of a value of type `kind` and `size`: the type in the
/// top three bits (types above 7 in an extra byte after it), the size in
/// the low five, with one to three more bytes for sizes from 29 on.
fn control(out: &mut Vec<u8>, kind: u8, size: usize) {
    let (low, extra): (u8, Vec<u8>) = match size {
        0..29 => (u8::try_from(size).unwrap_or(0), Vec::new()),
        29..285 => (29, vec![u8::try_from(size - 29).unwrap_or(0)]),
        285..65_821 => (
            30,
            u16::try_from(size - 285)
                .unwrap_or(0)
                .to_be_bytes()
                .to_vec(),
        ),
        _ => (
            31,
            u32::try_from(size - 65_821).unwrap_or(0).to_be_bytes()[1..].to_vec(),
        ),
    };
    if kind <= 7 {
        out.push((kind << 5) | low);
    } else {
        out.push(low);
        out.push(kind - 7);
    }
    out.extend_from_slice(&extra);
}

//! R51/R60: reading client information from arbitrary request headers, and
//! parsing arbitrary text as a trusted-proxy network, never panics; the
//! client IP is the peer or one of the forwarded addresses.
#![no_main]

use axum::http::header::{COOKIE, USER_AGENT};
use axum::http::{HeaderName, HeaderValue, Request};
use libfuzzer_sys::fuzz_target;
use mfa_axum::{ClientConfig, IpNet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Splits `data` into fields at 0xFF bytes.
fn fields(data: &[u8]) -> Vec<&[u8]> {
    data.split(|&b| b == 0xff).collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((peer_bytes, rest)) = data.split_first_chunk::<17>() else {
        return;
    };
    let peer = match peer_bytes[0] % 3 {
        0 => None,
        1 => Some(IpAddr::V4(Ipv4Addr::new(
            peer_bytes[1],
            peer_bytes[2],
            peer_bytes[3],
            peer_bytes[4],
        ))),
        _ => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&peer_bytes[1..]);
            Some(IpAddr::V6(Ipv6Addr::from(octets)))
        }
    };
    let f = fields(rest);
    let get = |i: usize| f.get(i).copied().unwrap_or_default();

    // Field 0: trusted proxies, comma-separated, each parsed as a network.
    let proxies_text = String::from_utf8_lossy(get(0));
    let mut trusted_proxies: Vec<IpNet> = proxies_text
        .split(',')
        .filter_map(|s| s.parse().ok())
        .collect();
    if let Some(peer) = peer {
        // Half the time the peer is a trusted proxy, so the forwarded
        // header is read.
        if peer_bytes[0] & 0x80 != 0 {
            trusted_proxies.push(
                peer.to_string()
                    .parse()
                    .expect("an address parses as a network"),
            );
        }
    }
    let config = ClientConfig {
        trusted_proxies,
        country_header: Some(HeaderName::from_static("x-country")),
        ..ClientConfig::default()
    };

    let mut request = Request::builder();
    let names = [
        HeaderName::from_static("x-forwarded-for"),
        COOKIE,
        USER_AGENT,
        HeaderName::from_static("x-device-fingerprint"),
        HeaderName::from_static("x-client-type"),
        HeaderName::from_static("x-country"),
        HeaderName::from_static("x-forwarded-for"),
        COOKIE,
    ];
    let mut forwarded = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if let Ok(value) = HeaderValue::from_bytes(get(i + 1)) {
            if *name == "x-forwarded-for" {
                if let Ok(text) = value.to_str() {
                    forwarded.extend(
                        text.split(',')
                            .filter_map(|s| s.trim().parse::<IpAddr>().ok()),
                    );
                }
            }
            request = request.header(name, value);
        }
    }
    let Ok(request) = request.body(()) else {
        return;
    };
    let (parts, ()) = request.into_parts();
    let info = config.client_info(peer, &parts);
    match (peer, info.ip) {
        (None, ip) => assert_eq!(ip, None),
        (Some(peer), Some(ip)) => {
            let ip: IpAddr = ip.to_canonical();
            assert!(
                ip == peer.to_canonical() || forwarded.iter().any(|f| f.to_canonical() == ip),
                "client IP {ip} is neither the peer nor forwarded"
            );
        }
        (Some(_), None) => panic!("a peer address was lost"),
    }
});

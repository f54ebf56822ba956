//! The client of a request: IP (behind trusted proxies), user agent, device
//! fingerprint and trust-token cookie.

use crate::{ApiError, MfaState};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{self, HeaderName};
use axum::http::request::Parts;
use mfa_core::model::SessionType;
use mfa_core::{ClientInfo, MfaError};
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// A network in CIDR notation (`10.0.0.0/8`, `::1/128`), or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// Error for text that is not an IP network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidIpNet;

impl std::fmt::Display for InvalidIpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not an IP address or CIDR network")
    }
}

impl std::error::Error for InvalidIpNet {}

impl FromStr for IpNet {
    type Err = InvalidIpNet;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| InvalidIpNet)?)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| InvalidIpNet)?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(InvalidIpNet);
        }
        // `::ffff:10.0.0.0/104` is the IPv4 network `10.0.0.0/8`: addresses
        // are compared in canonical form, so the network must be too.
        if let IpAddr::V6(v6) = addr
            && let Some(v4) = v6.to_ipv4_mapped()
            && prefix >= 96
        {
            return Ok(Self {
                addr: IpAddr::V4(v4),
                prefix: prefix - 96,
            });
        }
        Ok(Self { addr, prefix })
    }
}

impl IpNet {
    /// Whether `ip` lies in this network.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
            let full = usize::from(bits / 8);
            let rest = bits % 8;
            if a[..full] != b[..full] {
                return false;
            }
            rest == 0 || {
                let mask = 0xffu8 << (8 - rest);
                a[full] & mask == b[full] & mask
            }
        }
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

/// How to read client information from requests.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Proxies whose `X-Forwarded-For` is believed. Empty: the peer address
    /// is the client, whatever the headers say.
    pub trusted_proxies: Vec<IpNet>,
    /// Header carrying the device fingerprint.
    pub fingerprint_header: HeaderName,
    /// Cookie carrying the device-trust token.
    pub trust_cookie: String,
    /// Header carrying the client kind (`web`, `mobile`, `api`).
    pub client_type_header: HeaderName,
    /// Header carrying the country of the IP, set by a trusted edge.
    pub country_header: Option<HeaderName>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            trusted_proxies: Vec::new(),
            fingerprint_header: HeaderName::from_static("x-device-fingerprint"),
            trust_cookie: "mfa_trust".into(),
            client_type_header: HeaderName::from_static("x-client-type"),
            country_header: None,
        }
    }
}

impl ClientConfig {
    /// The client IP: the peer, or, when the peer is a trusted proxy, the
    /// right-most `X-Forwarded-For` entry that is not a trusted proxy.
    #[must_use]
    pub fn client_ip(&self, peer: Option<IpAddr>, parts: &Parts) -> Option<IpAddr> {
        let trusted = |ip: IpAddr| self.trusted_proxies.iter().any(|n| n.contains(ip));
        let peer = peer?;
        if !trusted(peer) {
            return Some(peer.to_canonical());
        }
        let forwarded: Vec<IpAddr> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        Some(
            forwarded
                .into_iter()
                .rev()
                .find(|ip| !trusted(*ip))
                .unwrap_or(peer)
                .to_canonical(),
        )
    }

    /// Everything the engine wants to know about the client of `parts`.
    #[must_use]
    pub fn client_info(&self, peer: Option<IpAddr>, parts: &Parts) -> ClientInfo {
        let header = |name: &HeaderName| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let trust_token = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(name, _)| *name == self.trust_cookie)
            .map(|(_, value)| value.trim_matches('"').to_owned())
            .filter(|v| !v.is_empty());
        let session_type = match header(&self.client_type_header).as_deref() {
            Some("mobile") => SessionType::Mobile,
            Some("api") => SessionType::Api,
            _ => SessionType::Web,
        };
        ClientInfo {
            ip: self.client_ip(peer, parts),
            user_agent: header(&header::USER_AGENT),
            fingerprint: header(&self.fingerprint_header),
            trust_token,
            session_type,
            country: self
                .country_header
                .as_ref()
                .and_then(header)
                .map(|c| c.to_ascii_uppercase()),
            device: mfa_core::model::DeviceInfo::default(),
        }
    }
}

/// The [`ClientInfo`] of a request, read as the [`MfaState`]'s
/// [`ClientConfig`] says. The peer address comes from
/// `ConnectInfo<SocketAddr>`: serve with
/// `into_make_service_with_connect_info::<SocketAddr>()` (tests: axum's
/// `MockConnectInfo` layer). Without it the request is refused with a
/// configuration error (500, logged), never served with no client IP: that
/// would turn the per-IP limits off.
///
/// Invalid values are passed on; the engine validates them and answers
/// `invalid_input`.
#[derive(Debug, Clone)]
pub struct Client(pub ClientInfo);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, Self::Rejection> {
        let state = MfaState::of(parts)?;
        // The extractor, not the extension: it also reads axum's
        // `MockConnectInfo` (tests).
        let Ok(ConnectInfo(peer)) = ConnectInfo::<SocketAddr>::from_request_parts(parts, s).await
        else {
            return Err(ApiError(MfaError::Config(
                "mfa-axum: the request has no peer address; serve the router with \
                 `into_make_service_with_connect_info::<SocketAddr>()`"
                    .into(),
            )));
        };
        Ok(Self(state.client.client_info(Some(peer.ip()), parts)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut req = Request::builder().uri("/");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn cidr_networks_match_their_addresses() {
        let net: IpNet = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        let one: IpNet = "::1".parse().unwrap();
        assert!(one.contains("::1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        let mapped: IpNet = "::ffff:10.0.0.1".parse().unwrap();
        assert!(mapped.contains("10.0.0.1".parse().unwrap()));
        assert!(mapped.contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!("nonsense".parse::<IpNet>().is_err());
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let config = ClientConfig::default();
        let p = parts(&[("x-forwarded-for", "203.0.113.9")]);
        let ip = config.client_ip(Some("198.51.100.1".parse().unwrap()), &p);
        assert_eq!(ip, Some("198.51.100.1".parse().unwrap()));
    }

    #[test]
    fn forwarded_for_is_walked_from_the_right_behind_trusted_proxies() {
        let config = ClientConfig {
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
            ..ClientConfig::default()
        };
        // The left-most entry is client-supplied and may be forged.
        let p = parts(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.0.0.7")]);
        let ip = config.client_ip(Some("10.0.0.2".parse().unwrap()), &p);
        assert_eq!(ip, Some("203.0.113.9".parse().unwrap()));
    }

    #[test]
    fn trust_cookie_fingerprint_and_client_type_are_read() {
        let config = ClientConfig::default();
        let p = parts(&[
            ("cookie", "a=b; mfa_trust=tok123; c=d"),
            ("x-device-fingerprint", "fp-1"),
            ("x-client-type", "mobile"),
            ("user-agent", "test/1.0"),
        ]);
        let info = config.client_info(Some("192.0.2.1".parse().unwrap()), &p);
        assert_eq!(info.trust_token.as_deref(), Some("tok123"));
        assert_eq!(info.fingerprint.as_deref(), Some("fp-1"));
        assert_eq!(info.session_type, SessionType::Mobile);
        assert_eq!(info.user_agent.as_deref(), Some("test/1.0"));
        assert_eq!(info.ip_text().as_deref(), Some("192.0.2.1"));
    }
}

//! Where a push goes: [`PushAddress`] and its validation.

use data_encoding::BASE64URL_NOPAD;
use serde::{Deserialize, Serialize};
use std::fmt;
use web_push_native::Auth;
use web_push_native::p256::PublicKey;

/// A device's push address, as its app or browser registered it.
///
/// Serialised with a `"kind"` tag: `{"kind": "web_push", "endpoint": …,
/// "p256dh": …, "auth": …}`, `{"kind": "fcm", "token": …}`,
/// `{"kind": "apns", "device_token": …}`. Call [`PushAddress::validate`]
/// before storing one. `Debug` shows the kind and, for Web Push, the
/// endpoint's origin: endpoint paths and tokens are capabilities.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PushAddress {
    /// A browser's push subscription (`PushSubscription.toJSON()`:
    /// `endpoint`, `keys.p256dh`, `keys.auth`).
    WebPush {
        /// The push service URL for this subscription (`https://`).
        endpoint: String,
        /// The subscription's public key: base64url, an uncompressed P-256
        /// point (65 bytes).
        p256dh: String,
        /// The subscription's authentication secret: base64url, 16 bytes.
        auth: String,
    },
    /// A Firebase Cloud Messaging registration token.
    Fcm {
        /// The registration token.
        token: String,
    },
    /// An Apple Push Notification service device token.
    Apns {
        /// The device token, in hex.
        device_token: String,
    },
}

/// The kind of a [`PushAddress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PushKind {
    /// [`PushAddress::WebPush`].
    WebPush,
    /// [`PushAddress::Fcm`].
    Fcm,
    /// [`PushAddress::Apns`].
    Apns,
}

impl fmt::Display for PushKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::WebPush => "Web Push",
            Self::Fcm => "FCM",
            Self::Apns => "APNs",
        })
    }
}

/// Which Web Push endpoints [`PushAddress::validate_with`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EndpointPolicy {
    /// `https://` to a host name: what every browser's push service uses.
    #[default]
    HttpsOnly,
    /// Also `http://` and IP literals, but only to loopback addresses
    /// (`localhost`, `127.0.0.0/8`, `[::1]`). For tests against a local
    /// server only; never in production.
    AllowLoopbackHttp,
}

/// Why a [`PushAddress`] is refused. The text never contains the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushAddressError {
    /// The endpoint is not an absolute URL of at most 2048 bytes.
    #[error("Web Push endpoint is not a URL")]
    EndpointNotUrl,
    /// The endpoint is not `https://` to a host name, or carries
    /// credentials or a fragment.
    #[error("Web Push endpoint must be https:// to a host name, without credentials")]
    EndpointNotHttps,
    /// `p256dh` is not base64url of an uncompressed point on P-256.
    #[error("Web Push p256dh is not an uncompressed P-256 public key in base64url")]
    BadP256dh,
    /// `auth` is not base64url of 16 bytes.
    #[error("Web Push auth secret is not 16 bytes in base64url")]
    BadAuth,
    /// The FCM token is empty, longer than 4096 bytes or has characters
    /// outside `A–Z a–z 0–9 - _ : .`.
    #[error("FCM token is malformed")]
    BadFcmToken,
    /// The APNs device token is not 16 to 100 bytes in hex.
    #[error("APNs device token is not 16 to 100 bytes in hex")]
    BadApnsToken,
}

impl PushAddress {
    /// The kind of address.
    #[must_use]
    pub fn kind(&self) -> PushKind {
        match self {
            Self::WebPush { .. } => PushKind::WebPush,
            Self::Fcm { .. } => PushKind::Fcm,
            Self::Apns { .. } => PushKind::Apns,
        }
    }

    /// Checks the address with [`EndpointPolicy::HttpsOnly`].
    ///
    /// # Errors
    /// The first malformed part.
    pub fn validate(&self) -> Result<(), PushAddressError> {
        self.validate_with(EndpointPolicy::HttpsOnly)
    }

    /// Checks the address; Web Push endpoints under `policy`.
    ///
    /// # Errors
    /// The first malformed part.
    pub fn validate_with(&self, policy: EndpointPolicy) -> Result<(), PushAddressError> {
        match self {
            Self::WebPush {
                endpoint,
                p256dh,
                auth,
            } => {
                web_push_endpoint(endpoint, policy)?;
                web_push_keys(p256dh, auth).map(drop)
            }
            Self::Fcm { token } => {
                let ok = (1..=4096).contains(&token.len())
                    && token
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_:.".contains(&b));
                ok.then_some(()).ok_or(PushAddressError::BadFcmToken)
            }
            Self::Apns { device_token } => {
                let ok = (32..=200).contains(&device_token.len())
                    && device_token.len() % 2 == 0
                    && device_token.bytes().all(|b| b.is_ascii_hexdigit());
                ok.then_some(()).ok_or(PushAddressError::BadApnsToken)
            }
        }
    }
}

impl fmt::Debug for PushAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WebPush { endpoint, .. } => {
                let origin = url::Url::parse(endpoint)
                    .map_or_else(|_| "?".to_owned(), |u| u.origin().ascii_serialization());
                f.debug_struct("WebPush")
                    .field("origin", &origin)
                    .finish_non_exhaustive()
            }
            Self::Fcm { .. } => f.debug_struct("Fcm").finish_non_exhaustive(),
            Self::Apns { .. } => f.debug_struct("Apns").finish_non_exhaustive(),
        }
    }
}

/// The parsed endpoint, if `policy` accepts it.
pub(super) fn web_push_endpoint(
    endpoint: &str,
    policy: EndpointPolicy,
) -> Result<url::Url, PushAddressError> {
    if endpoint.len() > 2048 {
        return Err(PushAddressError::EndpointNotUrl);
    }
    let url = url::Url::parse(endpoint).map_err(|_| PushAddressError::EndpointNotUrl)?;
    let host_name = matches!(url.host(), Some(url::Host::Domain(_)));
    let loopback_ok = policy == EndpointPolicy::AllowLoopbackHttp && is_loopback(&url);
    let scheme_ok = match url.scheme() {
        "https" => host_name || loopback_ok,
        "http" => loopback_ok,
        _ => false,
    };
    if !scheme_ok
        || !url.username().is_empty()
        || url.password().is_some()
        || url.fragment().is_some()
    {
        return Err(PushAddressError::EndpointNotHttps);
    }
    Ok(url)
}

/// The subscription's public key and authentication secret.
pub(super) fn web_push_keys(
    p256dh: &str,
    auth: &str,
) -> Result<(PublicKey, Auth), PushAddressError> {
    let point = base64url(p256dh).ok_or(PushAddressError::BadP256dh)?;
    // Only the uncompressed form (0x04 ‖ x ‖ y) is what browsers send and
    // what RFC 8291 puts into the key derivation.
    if point.len() != 65 || point[0] != 0x04 {
        return Err(PushAddressError::BadP256dh);
    }
    let public = PublicKey::from_sec1_bytes(&point).map_err(|_| PushAddressError::BadP256dh)?;
    let secret: [u8; 16] = base64url(auth)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(PushAddressError::BadAuth)?;
    Ok((public, Auth::from(secret)))
}

/// Decodes base64url with or without padding (browsers leave it out).
fn base64url(text: &str) -> Option<Vec<u8>> {
    BASE64URL_NOPAD
        .decode(text.trim_end_matches('=').as_bytes())
        .ok()
}

/// `localhost`, `127.0.0.0/8` or `[::1]`.
pub(super) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

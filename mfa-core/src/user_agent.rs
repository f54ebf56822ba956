//! The device described by a `User-Agent` header (feature `user-agent`).
//!
//! A browser says what it is only in its user agent; [`describe`] reads
//! the browser, the operating system, their versions and the kind of client
//! from it, with the `woothee` parser. The engine uses it through
//! [`ClientInfo::described_device`](crate::ClientInfo::described_device):
//! the fields a client sent itself always win, the user agent only fills
//! the ones it left empty. So a host that passes the header and nothing
//! else still gets "Chrome on Windows 10" in the device list and in the
//! "new sign-in" notification.
//!
//! A user agent is client-controlled text: one that fails the checks of
//! [`ClientInfo::validate`](crate::ClientInfo::validate) (empty, over
//! [`MAX_USER_AGENT_LEN`] bytes, control characters) describes nothing,
//! and every field read from one is cut to [`MAX_DEVICE_FIELD_LEN`] bytes.
//! The description is a signal for people, never a basis for trust.
//!
//! ```
//! use mfa_core::model::DeviceKind;
//! use mfa_core::user_agent::describe;
//!
//! let device = describe(
//!     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
//!      (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
//! )
//! .expect("a known browser");
//! assert_eq!(device.browser.as_deref(), Some("Chrome"));
//! assert_eq!(device.kind, DeviceKind::Web);
//! assert_eq!(device.description().as_deref(), Some("Chrome on Windows 10"));
//! ```

use crate::flow::{MAX_DEVICE_FIELD_LEN, MAX_USER_AGENT_LEN};
use crate::model::{DeviceInfo, DeviceKind};
use std::sync::LazyLock;
use woothee::parser::{Parser, WootheeResult};

static PARSER: LazyLock<Parser> = LazyLock::new(Parser::new);

/// What woothee answers for a value it could not find.
const UNKNOWN: &str = "UNKNOWN";
/// woothee's name for command-line tools and HTTP client libraries; the
/// library itself (`curl`, `wget`, …) is in its version field.
const HTTP_LIBRARY: &str = "HTTP Library";

/// The device `user_agent` describes: browser, browser version, operating
/// system, its version, and the kind ([`DeviceKind::Api`] for crawlers,
/// command-line tools and HTTP libraries, else [`DeviceKind::Web`]).
/// `None` when the user agent is not acceptable (see the
/// [module](self) docs) or names nothing known. The name, app version,
/// brand and model are never set: a user agent does not say them reliably.
#[must_use]
pub fn describe(user_agent: &str) -> Option<DeviceInfo> {
    if user_agent.is_empty()
        || user_agent.len() > MAX_USER_AGENT_LEN
        || user_agent.chars().any(char::is_control)
    {
        return None;
    }
    let parsed = PARSER.parse(user_agent)?;
    let info = from_parsed(user_agent, &parsed);
    (info != DeviceInfo::default()).then_some(info)
}

fn from_parsed(user_agent: &str, parsed: &WootheeResult<'_>) -> DeviceInfo {
    let (browser, browser_version) = if parsed.name == HTTP_LIBRARY {
        let library = parsed.version;
        (field(library), product_version(user_agent, library))
    } else {
        (field(parsed.name), field(parsed.version))
    };
    DeviceInfo {
        kind: match parsed.category {
            "crawler" | "misc" => DeviceKind::Api,
            _ => DeviceKind::Web,
        },
        browser,
        browser_version,
        os: field(parsed.os),
        os_version: field(&parsed.os_version),
        ..DeviceInfo::default()
    }
}

/// A value woothee found, cut to the device field limit on a character
/// boundary; `None` for nothing or woothee's "unknown".
fn field(value: &str) -> Option<String> {
    let value = value.trim();
    if value.is_empty() || value == UNKNOWN {
        return None;
    }
    let mut end = value.len().min(MAX_DEVICE_FIELD_LEN);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    Some(value[..end].to_owned())
}

/// The version after `product/` at the start of the user agent
/// (`curl/8.5.0` gives `8.5.0`), the product's case ignored.
fn product_version(user_agent: &str, product: &str) -> Option<String> {
    let head = user_agent.get(..product.len())?;
    if product.is_empty() || !head.eq_ignore_ascii_case(product) {
        return None;
    }
    let rest = user_agent.get(product.len()..)?.strip_prefix('/')?;
    field(rest.split_whitespace().next().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
        (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) \
        AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";

    #[test]
    fn chrome_on_windows_is_described() {
        let d = describe(CHROME_WINDOWS).unwrap();
        assert_eq!(d.kind, DeviceKind::Web);
        assert_eq!(d.browser.as_deref(), Some("Chrome"));
        assert_eq!(d.browser_version.as_deref(), Some("120.0.0.0"));
        assert_eq!(d.os.as_deref(), Some("Windows 10"));
        assert_eq!(d.os_version.as_deref(), Some("NT 10.0"));
        assert_eq!(d.name, None);
    }

    #[test]
    fn safari_on_iphone_is_described() {
        let d = describe(SAFARI_IPHONE).unwrap();
        assert_eq!(d.kind, DeviceKind::Web);
        assert_eq!(d.browser.as_deref(), Some("Safari"));
        assert_eq!(d.browser_version.as_deref(), Some("17.1"));
        assert_eq!(d.os.as_deref(), Some("iPhone"));
        assert_eq!(d.os_version.as_deref(), Some("17.1"));
        assert_eq!(d.description().as_deref(), Some("Safari on iPhone"));
    }

    #[test]
    fn curl_is_an_api_client_with_its_version() {
        let d = describe("curl/8.5.0").unwrap();
        assert_eq!(d.kind, DeviceKind::Api);
        assert_eq!(d.browser.as_deref(), Some("curl"));
        assert_eq!(d.browser_version.as_deref(), Some("8.5.0"));
        assert_eq!(d.os, None);
        assert_eq!(d.os_version, None);
    }

    #[test]
    fn unknown_user_agents_describe_nothing() {
        assert_eq!(describe("flow-tests/1.0"), None);
        assert_eq!(describe(""), None);
        assert_eq!(describe("-"), None);
    }

    #[test]
    fn absurd_user_agents_describe_nothing() {
        let long = format!("{CHROME_WINDOWS} {}", "x".repeat(MAX_USER_AGENT_LEN));
        assert_eq!(describe(&long), None);
        assert_eq!(describe(&format!("{CHROME_WINDOWS}\r\nX-Evil: 1")), None);
        assert_eq!(describe("curl/8.5.0\u{0}"), None);
    }

    #[test]
    fn fields_are_cut_to_the_device_field_limit_on_a_character_boundary() {
        let long = format!("{}é", "v".repeat(MAX_DEVICE_FIELD_LEN - 1));
        let cut = field(&long).unwrap();
        assert_eq!(cut.len(), MAX_DEVICE_FIELD_LEN - 1);
        assert!(field(UNKNOWN).is_none());
        assert!(field("  ").is_none());
        let version = describe(&format!("curl/{}", "9".repeat(600))).unwrap();
        assert_eq!(
            version.browser_version.map(|v| v.len()),
            Some(MAX_DEVICE_FIELD_LEN)
        );
    }
}

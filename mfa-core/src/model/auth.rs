//! Authentication assurance: levels (AAL) and methods (AMR).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Authenticator assurance level of a session (NIST SP 800-63B §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Aal {
    /// One factor (a password, or a host-verified primary sign-in).
    Aal1 = 1,
    /// Two distinct factors.
    Aal2 = 2,
}

impl Aal {
    /// The level as the integer carried in tokens (`1` or `2`).
    #[must_use]
    pub const fn level(self) -> u8 {
        self as u8
    }

    /// Parses the integer form.
    #[must_use]
    pub const fn from_level(level: u8) -> Option<Self> {
        match level {
            1 => Some(Self::Aal1),
            2 => Some(Self::Aal2),
            _ => None,
        }
    }
}

/// How the user authenticated, as carried in the `amr` claim
/// (values follow RFC 8176 where one exists).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// Password checked by this library.
    Pwd,
    /// Primary sign-in verified by the host (OAuth, magic link, passkey…).
    Ext,
    /// Time-based one-time password from an authenticator app.
    Otp,
    /// One-time code sent by email.
    Email,
    /// One-time code sent by SMS.
    Sms,
    /// Single-use backup (look-up) code.
    Backup,
    /// A remembered (trusted) device.
    Device,
    /// Proof of possession of a hardware-bound key (RFC 8176 `hwk`): a
    /// WebAuthn credential that cannot be synchronised off its
    /// authenticator.
    Hwk,
    /// Proof of possession of a software-secured key (RFC 8176 `swk`): a
    /// WebAuthn credential its authenticator may back up or synchronise
    /// (a synced passkey).
    Swk,
    /// User presence and verification performed by the authenticator, by
    /// PIN or biometrics (RFC 8176 `user`).
    User,
}

impl AuthMethod {
    /// Every method, in a stable order.
    pub const ALL: [Self; 10] = [
        Self::Pwd,
        Self::Ext,
        Self::Otp,
        Self::Email,
        Self::Sms,
        Self::Backup,
        Self::Device,
        Self::Hwk,
        Self::Swk,
        Self::User,
    ];

    /// The stable wire name (`pwd`, `otp`, …).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pwd => "pwd",
            Self::Ext => "ext",
            Self::Otp => "otp",
            Self::Email => "email",
            Self::Sms => "sms",
            Self::Backup => "backup",
            Self::Device => "device",
            Self::Hwk => "hwk",
            Self::Swk => "swk",
            Self::User => "user",
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a string that names no known [`AuthMethod`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown authentication method")]
pub struct UnknownAuthMethod;

impl FromStr for AuthMethod {
    type Err = UnknownAuthMethod;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or(UnknownAuthMethod)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_methods_round_trip_through_their_wire_names() {
        for m in AuthMethod::ALL {
            assert_eq!(m.as_str().parse::<AuthMethod>(), Ok(m));
            assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{m}\""));
        }
        assert!("OTP".parse::<AuthMethod>().is_err());
    }

    #[test]
    fn aal_orders_by_strength() {
        assert!(Aal::Aal2 > Aal::Aal1);
        assert_eq!(Aal::from_level(2), Some(Aal::Aal2));
        assert_eq!(Aal::from_level(3), None);
    }
}

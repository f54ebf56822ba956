//! Plain data: the entities the engine reads and the stores persist.
//!
//! Nothing here performs I/O or cryptography; types only carry meaning.
//! Every enum that a store persists has one table of stable names, from
//! which it gets `as_str`, `parse`, [`Display`](std::fmt::Display) and
//! [`FromStr`](std::str::FromStr) (failing with [`UnknownName`]).

/// Gives an enum its stable names from one table: `as_str`, `parse`,
/// `Display` (the name) and `FromStr` (the name back, or [`UnknownName`]).
macro_rules! storage_names {
    ($ty:ident { $($variant:ident => $name:literal,)+ }) => {
        impl $ty {
            /// Stable storage name.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }

            /// Parses the storage name.
            #[must_use]
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($name => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        text_traits!($ty);
    };
}

/// `Display` and `FromStr` through an enum's `as_str` / `parse`.
macro_rules! text_traits {
    ($ty:ident) => {
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::model::UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s).ok_or_else(|| $crate::model::UnknownName::new(stringify!($ty), s))
            }
        }
    };
}

pub(crate) mod audit;
mod auth;
mod challenge;
mod device;
mod digest;
mod factor;
mod ids;
mod key_check;
mod names;
mod notification;
mod push;
mod session;
mod user;

pub use audit::{AuditEvent, AuditKind, AuditLink, AuditOutcome};
pub use auth::{Aal, AuthMethod, UnknownAuthMethod};
pub use challenge::{
    CeremonyPurpose, ChallengePurpose, LoginTicket, OtpChallenge, OtpChannel, TicketKind,
    WebauthnCeremony,
};
pub use device::{Device, DeviceInfo, DeviceKind, DeviceSighting};
pub use digest::{AuditMac, CodeHash, DigestLengthError, FingerprintHash, SealedSecret, TokenHash};
pub use factor::{
    BackupCodeRecord, Factor, FactorKind, FactorStatus, MfaSettings, TotpAlgorithm, TotpParams,
};
pub use ids::*;
pub use key_check::{KeyCheck, KeyCheckSubject};
pub use names::UnknownName;
pub use notification::{Notification, NotificationKind};
pub use push::{PushContext, PushRequest, PushResolution, PushStatus};
pub use session::{
    RefreshStatus, RefreshToken, RevocationReason, Session, SessionStatus, SessionType,
};
pub use user::{
    Contact, FailureCounter, Lock, LockScope, LockoutRule, MAX_CONSECUTIVE_FAILURES, User,
    UserStatus,
};

//! Typed identifiers. Every entity id is a UUID v7 (time ordered) wrapped in
//! its own newtype so a `UserId` can never be passed where a `SessionId` is
//! expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh UUID v7 identifier.
            #[must_use]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID (for example one read back from a store).
            #[must_use]
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The inner UUID.
            #[must_use]
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// The 16 bytes of the UUID, big endian.
            #[must_use]
            pub const fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// Identifies a user (an account).
    UserId
);
id_type!(
    /// Identifies an enrolled (or pending) second factor.
    FactorId
);
id_type!(
    /// Identifies one stored backup code.
    BackupCodeId
);
id_type!(
    /// Identifies an out-of-band OTP challenge (email or SMS code).
    ChallengeId
);
id_type!(
    /// Identifies a push approval request. Made from 122 random bits
    /// ([`PushRequestId::random`]), not from the clock: the id reaches the
    /// phone app through the push service, and is what the app shows the
    /// request by.
    PushRequestId
);
id_type!(
    /// Identifies a login ticket: the state kept between the first factor and MFA.
    TicketId
);
id_type!(
    /// Identifies a device a user signed in from.
    DeviceId
);
id_type!(
    /// Identifies a session.
    SessionId
);
id_type!(
    /// Identifies one refresh token.
    RefreshTokenId
);
id_type!(
    /// Identifies a refresh-token family: every token rotated from one sign-in.
    FamilyId
);
id_type!(
    /// Identifies an audit event.
    AuditEventId
);
id_type!(
    /// Identifies a security notification.
    NotificationId
);
id_type!(
    /// Identifies a chain of audit events (see [`crate::audit`]).
    AuditChainId
);

impl PushRequestId {
    /// A fresh identifier of 122 random bits (UUID v4).
    #[must_use]
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_v7_and_round_trip_through_strings() {
        let id = UserId::new();
        assert_eq!(id.as_uuid().get_version_num(), 7);
        let parsed: UserId = id.to_string().parse().unwrap();
        assert_eq!(parsed, id);
        assert!("not-a-uuid".parse::<UserId>().is_err());
    }

    #[test]
    fn ids_serialize_as_plain_strings() {
        let id = SessionId::new();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
    }
}

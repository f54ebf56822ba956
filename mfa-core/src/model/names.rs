//! The error of parsing a stable name.

use std::fmt;

/// A string that is none of an enum's stable names (the `FromStr` error of
/// the model's enums).
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {type_name} name: {value:?}")]
pub struct UnknownName {
    type_name: &'static str,
    value: String,
}

impl UnknownName {
    /// Longest part of the refused input kept (in characters), so a long
    /// input does not end up whole in a log line.
    pub const KEPT: usize = 64;

    pub(crate) fn new(type_name: &'static str, value: &str) -> Self {
        Self {
            type_name,
            value: value.chars().take(Self::KEPT).collect(),
        }
    }

    /// The enum the input was meant for (`"FactorKind"`, …).
    #[must_use]
    pub const fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// The refused input, cut to [`KEPT`](Self::KEPT) characters.
    #[must_use]
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Debug for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{
        AuditKind, AuditOutcome, CeremonyPurpose, ChallengePurpose, DeviceKind, FactorKind,
        FactorStatus, NotificationKind, OtpChannel, PushStatus, RefreshStatus, RevocationReason,
        SessionStatus, SessionType, TicketKind, TotpAlgorithm, UserStatus,
    };
    use serde::Serialize;
    use std::fmt::Display;
    use std::str::FromStr;

    /// `Display` is the storage name, which is also the serde name, and
    /// `FromStr` reads it back.
    fn round_trips<T>(values: &[T])
    where
        T: Copy
            + Display
            + FromStr<Err = super::UnknownName>
            + PartialEq
            + std::fmt::Debug
            + Serialize,
    {
        for v in values {
            let name = v.to_string();
            assert_eq!(name.parse::<T>(), Ok(*v));
            assert_eq!(serde_json::to_string(v).unwrap(), format!("\"{name}\""));
        }
        let refused = "x".repeat(500).parse::<T>().unwrap_err();
        assert_eq!(refused.value().len(), super::UnknownName::KEPT);
        assert!("".parse::<T>().is_err());
    }

    #[test]
    fn every_model_enum_round_trips_through_its_name() {
        round_trips(AuditKind::ALL);
        round_trips(&[
            AuditOutcome::Success,
            AuditOutcome::Failure,
            AuditOutcome::Denied,
        ]);
        round_trips(&FactorKind::ALL);
        round_trips(&[
            FactorStatus::Pending,
            FactorStatus::Active,
            FactorStatus::Disabled,
        ]);
        round_trips(&[
            TotpAlgorithm::Sha1,
            TotpAlgorithm::Sha256,
            TotpAlgorithm::Sha512,
        ]);
        round_trips(&PushStatus::ALL);
        round_trips(&[OtpChannel::Email, OtpChannel::Sms]);
        round_trips(&[
            ChallengePurpose::Login,
            ChallengePurpose::Enrollment,
            ChallengePurpose::StepUp,
        ]);
        round_trips(&[TicketKind::Mfa, TicketKind::Enrollment]);
        round_trips(&[
            CeremonyPurpose::Registration,
            CeremonyPurpose::Login,
            CeremonyPurpose::Passwordless,
            CeremonyPurpose::PushEnrolment,
        ]);
        round_trips(&[
            DeviceKind::Web,
            DeviceKind::Mobile,
            DeviceKind::Desktop,
            DeviceKind::Api,
        ]);
        round_trips(&[SessionType::Web, SessionType::Mobile, SessionType::Api]);
        round_trips(&[
            SessionStatus::PendingMfa,
            SessionStatus::Active,
            SessionStatus::Revoked,
        ]);
        round_trips(&[
            RefreshStatus::Active,
            RefreshStatus::Rotated,
            RefreshStatus::Revoked,
        ]);
        round_trips(&[
            RevocationReason::Logout,
            RevocationReason::Revoked,
            RevocationReason::TokenReuse,
            RevocationReason::PasswordChanged,
            RevocationReason::FactorsChanged,
            RevocationReason::DeviceCompromised,
            RevocationReason::AccountDisabled,
            RevocationReason::HighRisk,
            RevocationReason::SteppedUp,
        ]);
        round_trips(&[UserStatus::Active, UserStatus::Disabled]);
        round_trips(&[
            NotificationKind::NewDeviceLogin,
            NotificationKind::PasswordChanged,
        ]);
    }

    #[test]
    fn an_unknown_name_says_which_type_and_what() {
        let e = "sms2".parse::<FactorKind>().unwrap_err();
        assert_eq!(e.type_name(), "FactorKind");
        assert_eq!(e.to_string(), "unknown FactorKind name: \"sms2\"");
    }
}

//! Push approval requests: a sign-in waiting for the phone app's answer.

use super::{FactorId, PushRequestId, TicketId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a push request stands, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushStatus {
    /// Waiting for the app's answer.
    Pending,
    /// The app approved with the right number.
    Approved,
    /// The app denied.
    Denied,
    /// The app approved with a number other than the one shown: refused,
    /// and counted as a failed second factor.
    WrongNumber,
    /// The user answered "this wasn't me".
    NotMe,
}

impl PushStatus {
    /// Every status, in a stable order.
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Approved,
        Self::Denied,
        Self::WrongNumber,
        Self::NotMe,
    ];
}

storage_names! {
    PushStatus {
        Pending => "pending",
        Approved => "approved",
        Denied => "denied",
        WrongNumber => "wrong_number",
        NotMe => "not_me",
    }
}

/// What the app shows about the sign-in it is asked to approve. Nothing
/// here is secret; it is what the user needs to recognise their own
/// sign-in (NIST SP 800-63B §5.1.3.2 asks for the context of the request).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushContext {
    /// The signing-in client's IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Its country (ISO 3166-1 alpha-2), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Its device, as a person reads it ("Firefox on Linux"), as the
    /// signing-in client described itself: text the sign-in chose, so an
    /// app shows it as such, never as a message from the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The sign-in's risk score, 0 to 100.
    pub risk_score: u8,
    /// Whether the request stands for a step-up of a session rather than a
    /// sign-in.
    #[serde(default)]
    pub step_up: bool,
}

/// One push approval request, bound to a login (or step-up) ticket.
///
/// Created pending with a number to match; answered at most once
/// ([`crate::store::PushRepository::resolve_push_request`]), and an approved
/// request completes its ticket at most once
/// ([`crate::store::PushRepository::consume_push_request`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRequest {
    /// Identifier, sent to the app and to the waiting browser.
    pub id: PushRequestId,
    /// Whose sign-in.
    pub user_id: UserId,
    /// The ticket the approval completes.
    pub ticket_id: TicketId,
    /// The number the waiting browser shows.
    pub number: u8,
    /// The numbers the app offers, `number` among them.
    pub choices: [u8; 3],
    /// What the app shows about the sign-in.
    pub context: PushContext,
    /// Where it stands.
    pub status: PushStatus,
    /// The factor (device) whose key signed the answer.
    pub factor_id: Option<FactorId>,
    /// Whether the app said the user unlocked the key with a biometric or
    /// PIN.
    pub user_verified: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Answers, and the completion of an approved request, are refused from
    /// this time on.
    pub expires_at: DateTime<Utc>,
    /// When the app answered.
    pub answered_at: Option<DateTime<Utc>>,
    /// When an approved request completed its ticket.
    pub consumed_at: Option<DateTime<Utc>>,
}

impl PushRequest {
    /// Whether the app may still answer it at `now`.
    #[must_use]
    pub fn is_pending(&self, now: DateTime<Utc>) -> bool {
        self.status == PushStatus::Pending && now < self.expires_at
    }

    /// Whether it could still complete its ticket at `now`.
    #[must_use]
    pub fn is_completable(&self, now: DateTime<Utc>) -> bool {
        self.status == PushStatus::Approved && self.consumed_at.is_none() && now < self.expires_at
    }
}

/// The app's answer, as the store records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushResolution {
    /// The new status; never [`PushStatus::Pending`].
    pub status: PushStatus,
    /// The factor whose key signed the answer.
    pub factor_id: FactorId,
    /// Whether the user unlocked the key with a biometric or PIN.
    pub user_verified: bool,
    /// When the answer was accepted.
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_round_trip() {
        for status in PushStatus::ALL {
            assert_eq!(PushStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(PushStatus::parse("expired"), None);
    }
}

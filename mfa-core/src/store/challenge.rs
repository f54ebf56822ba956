//! OTP challenges and login tickets.

use super::StoreResult;
use crate::model::{
    ChallengeId, ChallengePurpose, FactorId, LoginTicket, OtpChallenge, TicketId, TokenHash,
    WebauthnCeremony,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Result of [`ChallengeRepository::record_challenge_attempt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeAttempt {
    /// The attempt was counted and may be evaluated; `attempts` includes it.
    Allowed {
        /// Attempts made, this one included.
        attempts: u32,
    },
    /// Every allowed attempt is used up.
    Exhausted,
    /// The challenge does not exist, expired, or was consumed or superseded.
    Closed,
}

/// OTP challenges and login tickets.
#[async_trait]
pub trait ChallengeRepository: Send + Sync {
    /// Inserts `challenge` and, atomically with it, closes (marks consumed at
    /// `challenge.created_at`) every open challenge of the same factor and
    /// purpose. Once this returns, an earlier code can no longer be consumed.
    async fn issue_challenge(&self, challenge: &OtpChallenge) -> StoreResult<()>;

    /// A challenge by id.
    async fn get_challenge(&self, id: ChallengeId) -> StoreResult<Option<OtpChallenge>>;

    /// The newest challenge for a factor and purpose, open or not (used for
    /// resend cooldowns and to carry the attempt count over on resend).
    async fn latest_challenge(
        &self,
        factor: FactorId,
        purpose: ChallengePurpose,
    ) -> StoreResult<Option<OtpChallenge>>;

    /// Counts one attempt, atomically, if the challenge is open at `now` and
    /// has attempts left. The engine calls this before comparing the code.
    async fn record_challenge_attempt(
        &self,
        id: ChallengeId,
        now: DateTime<Utc>,
    ) -> StoreResult<ChallengeAttempt>;

    /// Marks a challenge consumed, atomically, if it is neither consumed,
    /// superseded nor expired at `now`. Returns `true` for exactly one
    /// caller. The attempt cap is not checked here: it applies when the
    /// attempt is recorded, so a correct code on the last allowed attempt
    /// still consumes.
    async fn consume_challenge(&self, id: ChallengeId, now: DateTime<Utc>) -> StoreResult<bool>;

    /// Inserts a login ticket.
    async fn create_ticket(&self, ticket: &LoginTicket) -> StoreResult<()>;

    /// A ticket by the digest of its token (open or not).
    async fn find_ticket(&self, token_hash: &TokenHash) -> StoreResult<Option<LoginTicket>>;

    /// Marks an open ticket consumed, atomically. Returns `true` for exactly
    /// one caller, and `false` once it expired.
    async fn consume_ticket(&self, id: TicketId, now: DateTime<Utc>) -> StoreResult<bool>;

    /// Inserts the state of a WebAuthn ceremony.
    async fn create_ceremony(&self, ceremony: &WebauthnCeremony) -> StoreResult<()>;

    /// Takes a WebAuthn ceremony, atomically: marks it consumed at `now`
    /// and returns it (with `consumed_at` set) if it was neither consumed
    /// nor expired at `now`. Returns it to exactly one caller; every other,
    /// and any caller after `expires_at`, gets `None`. This is what makes
    /// an assertion or an attestation single-use.
    async fn take_ceremony(
        &self,
        id: ChallengeId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<WebauthnCeremony>>;

    /// Deletes challenges, WebAuthn ceremonies and tickets that expired
    /// before `before`; returns how many rows went.
    async fn purge_expired_challenges(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

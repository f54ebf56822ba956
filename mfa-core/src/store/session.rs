//! Sessions and refresh tokens.

use super::StoreResult;
use crate::model::{
    Aal, AuthMethod, DeviceId, FamilyId, RefreshToken, RefreshTokenId, RevocationReason, Session,
    SessionId, TokenHash, UserId,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// The part of a rotated refresh token the engine chooses; the store copies
/// family, session, user and parent from the token it replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefreshToken {
    /// Identifier.
    pub id: RefreshTokenId,
    /// SHA-256 of the new opaque token.
    pub token_hash: TokenHash,
    /// Sliding expiry; the store caps it at the session's absolute expiry.
    pub expires_at: DateTime<Utc>,
}

/// Result of [`SessionRepository::rotate_refresh_token`].
#[expect(
    clippy::large_enum_variant,
    reason = "returned once per refresh and consumed at once; boxing buys nothing"
)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The presented token was active: it is now `Rotated`, and `token` (its
    /// child, `Active`) was stored. `session` is the session after the touch.
    Rotated {
        /// The new active token.
        token: RefreshToken,
        /// The session it refreshes.
        session: Session,
    },
    /// The presented token had already been rotated: the whole family and
    /// its session were revoked by this call.
    Reused {
        /// The revoked family.
        family_id: FamilyId,
        /// The revoked session.
        session_id: SessionId,
        /// Owner of the family.
        user_id: UserId,
    },
    /// The presented token exists but its family was revoked earlier.
    Revoked {
        /// Owner of the family.
        user_id: UserId,
    },
    /// The presented token exists but it, or its session, has expired or is
    /// no longer active.
    Expired {
        /// Owner of the family.
        user_id: UserId,
    },
    /// No token has this digest.
    Unknown,
}

/// Sessions and refresh-token families.
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Inserts a session.
    async fn create_session(&self, session: &Session) -> StoreResult<()>;

    /// A session by id.
    async fn get_session(&self, id: SessionId) -> StoreResult<Option<Session>>;

    /// A user's sessions that are not revoked and not expired at `now`,
    /// newest first.
    async fn list_sessions(&self, user: UserId, now: DateTime<Utc>) -> StoreResult<Vec<Session>>;

    /// Marks a non-revoked, unexpired session `Active` with the given
    /// assurance, atomically. Returns `false` if it was revoked or expired.
    async fn authenticate_session(
        &self,
        id: SessionId,
        aal: Aal,
        amr: &[AuthMethod],
        mfa_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Revokes a session and every refresh token of it. Returns `false` if it
    /// was already revoked.
    async fn revoke_session(
        &self,
        id: SessionId,
        reason: RevocationReason,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Revokes every session of a user (except `except`) with its refresh
    /// tokens; returns how many sessions.
    async fn revoke_user_sessions(
        &self,
        user: UserId,
        except: Option<SessionId>,
        reason: RevocationReason,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;

    /// Revokes every session on a device with its refresh tokens; returns how
    /// many sessions.
    async fn revoke_device_sessions(
        &self,
        device: DeviceId,
        reason: RevocationReason,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;

    /// Inserts a refresh token (the first of a family).
    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()>;

    /// Exchanges the token whose digest is `presented` for `new`, atomically.
    ///
    /// Exactly one of any number of concurrent calls with the same presented
    /// token gets [`RotateOutcome::Rotated`]; a call that finds the token
    /// already rotated revokes the family and its session and returns
    /// [`RotateOutcome::Reused`]. Rotation also needs the session to be
    /// active and unexpired at `now`, and the token unexpired.
    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        new: &NewRefreshToken,
        now: DateTime<Utc>,
    ) -> StoreResult<RotateOutcome>;

    /// Revokes every token of a family (not the session); returns how many
    /// were not yet revoked.
    async fn revoke_refresh_family(&self, family: FamilyId, now: DateTime<Utc>)
    -> StoreResult<u64>;

    /// Deletes sessions (with their tokens) that expired or were revoked
    /// before `before`; returns how many sessions went.
    async fn purge_sessions(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

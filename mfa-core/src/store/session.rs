//! Sessions and refresh tokens.

use super::StoreResult;
use crate::model::{
    Aal, AuthMethod, DeviceId, FamilyId, RefreshToken, RefreshTokenId, RevocationReason,
    SealedSecret, Session, SessionId, TokenHash, UserId,
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
    /// The reuse grace of this rotation (policy
    /// [`refresh_reuse_grace`](crate::policy::SessionPolicy::refresh_reuse_grace)),
    /// `None` when it is off. A store that ignores it gives no grace: a
    /// retry is then [`RotateOutcome::Reused`], as with grace off.
    pub grace: Option<RefreshGrace>,
}

/// What a rotation keeps on the presented token so that a retry of it within
/// the grace interval gets the same new token ([`RotateOutcome::Retried`]).
///
/// The store keeps `sealed_successor` with the presented (now rotated) token
/// and hands it back only while `until` lies ahead, the new token is the
/// family's active one and the session is active; it never opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshGrace {
    /// The new token, sealed by the engine's key ring and bound to the
    /// presented token's digest and the new token's id. `Debug` shows only
    /// its length.
    pub sealed_successor: SealedSecret,
    /// End of the grace interval (exclusive).
    pub until: DateTime<Utc>,
}

/// Result of [`SessionRepository::rotate_refresh_token`].
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
    /// The presented token had been rotated, but inside the grace interval
    /// of that rotation ([`NewRefreshToken::grace`], `now` before its
    /// `until`), its child is still the family's active, unexpired token
    /// and the session is active and unexpired: a client's retry. Nothing
    /// was changed (the `new` token of this call was not stored); the
    /// engine answers with the child again.
    Retried {
        /// The presented token's child, the family's active token.
        token: RefreshToken,
        /// The session it refreshes.
        session: Session,
        /// The child's token as the rotation sealed it
        /// ([`RefreshGrace::sealed_successor`]).
        sealed_successor: SealedSecret,
    },
    /// The presented token had already been rotated (and this was no retry
    /// within a grace interval, see [`RotateOutcome::Retried`]): the whole
    /// family and its session were revoked by this call.
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
    ///
    /// With `new.grace`, a rotation also keeps the sealed successor and its
    /// deadline on the presented token, in the same atomic step, and should
    /// drop what an earlier rotation kept on the presented token's parent
    /// (that grace is over once its child is rotated). And a call with
    /// `new.grace` that finds the token rotated answers
    /// [`RotateOutcome::Retried`] instead of revoking when `now` is before
    /// the kept deadline, the token's child is active and unexpired, and the
    /// session active and unexpired; decided inside the same atomic step,
    /// so concurrent retries all get the same child. A call without
    /// `new.grace` (grace off) ignores whatever was kept: a rotated token is
    /// always reused.
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

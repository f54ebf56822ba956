//! Sessions and tokens after sign-in: refresh with rotation, access-token
//! checks, step-up freshness, logout and revocation.

use super::support::Audit;
use super::unit::{Step, direct, unit};
use super::{ClientInfo, Mfa, Tokens};
use crate::crypto::{Aad, AccessClaims, CryptoError, KeyRing, OpaqueToken, TokenPurpose};
use crate::error::{MfaError, MfaResult};
use crate::model::{
    Aal, AuditKind, AuditOutcome, Device, NotificationKind, RefreshToken, RefreshTokenId,
    RevocationReason, SealedSecret, Session, SessionId, TokenHash, UserId,
};
use crate::observability::step;
use crate::store::{NewRefreshToken, RefreshGrace, RotateOutcome};
use chrono::TimeDelta;

/// A session with the device it runs on, for "where you're signed in" pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    /// The session.
    pub session: Session,
    /// Its device, when known.
    pub device: Option<Device>,
}

impl Mfa {
    /// Exchanges a refresh token for new tokens. The presented token is
    /// spent; presenting it again revokes its whole family and session,
    /// alerts the user, and answers [`MfaError::TokenReused`].
    ///
    /// With a reuse grace
    /// ([`SessionPolicy::refresh_reuse_grace`](crate::policy::SessionPolicy::refresh_reuse_grace)
    /// above zero), a client that lost the answer may retry: the
    /// just-rotated token presented again within the grace interval gets
    /// the same new refresh token, with a fresh access token of the same
    /// session, while that new token is still unused and its session
    /// active (audited as `refresh_token_retried`). Every other reuse
    /// revokes as above. To make the retry possible each rotation keeps the
    /// new token sealed with the key ring (bound to the spent token's
    /// digest and the new token's id) beside the spent token; it is opened
    /// only within the interval.
    ///
    /// # Errors
    /// [`MfaError::InvalidToken`] for unknown, expired or revoked tokens,
    /// [`MfaError::TokenReused`] on reuse.
    pub async fn refresh(&self, refresh_token: &str, client: &ClientInfo) -> MfaResult<Tokens> {
        step!("mfa.refresh", async {
            let client = &self.inner.admit(client).await?;
            let presented =
                OpaqueToken::parse(refresh_token).map_err(|_| MfaError::InvalidToken)?;
            unit!(&self.inner, |inner| {
                let fresh = OpaqueToken::generate();
                let now = inner.now();
                let presented_hash = presented.hash(TokenPurpose::Refresh);
                let id = RefreshTokenId::new();
                let window = inner.policy.session.refresh_reuse_grace;
                let grace = if window > TimeDelta::zero() {
                    Some(RefreshGrace {
                        sealed_successor: seal_successor(&inner.keys, &presented_hash, id, &fresh)?,
                        until: now + window,
                    })
                } else {
                    None
                };
                let outcome = inner
                    .sessions
                    .rotate_refresh_token(
                        &presented_hash,
                        &NewRefreshToken {
                            id,
                            token_hash: fresh.hash(TokenPurpose::Refresh),
                            expires_at: now + inner.policy.session.refresh_sliding,
                            grace,
                        },
                        now,
                    )
                    .await?;
                match outcome {
                    RotateOutcome::Rotated { token, session } => {
                        let ip = client.ip_text();
                        let ip_changed = ip.is_some() && ip != session.ip;
                        inner
                            .record(
                                Audit::new(AuditKind::SessionRefreshed, AuditOutcome::Success, now)
                                    .user(session.user_id)
                                    .session(session.id)
                                    .device(session.device_id)
                                    .client(client)
                                    .meta(serde_json::json!({
                                        "family": token.family_id,
                                        "ip_change": ip_changed,
                                    })),
                            )
                            .await?;
                        inner.tokens_for(session, &fresh, token.expires_at)
                    }
                    RotateOutcome::Retried {
                        token,
                        session,
                        sealed_successor,
                    } => {
                        let successor = open_successor(
                            &inner.keys,
                            &presented_hash,
                            &token,
                            &sealed_successor,
                        )?;
                        inner
                            .record(
                                Audit::new(
                                    AuditKind::RefreshTokenRetried,
                                    AuditOutcome::Success,
                                    now,
                                )
                                .user(session.user_id)
                                .session(session.id)
                                .device(session.device_id)
                                .client(client)
                                .meta(serde_json::json!({ "family": token.family_id })),
                            )
                            .await?;
                        inner.tokens_for(session, &successor, token.expires_at)
                    }
                    RotateOutcome::Reused {
                        family_id,
                        session_id,
                        user_id,
                    } => {
                        inner
                            .record(
                                Audit::new(
                                    AuditKind::RefreshTokenReused,
                                    AuditOutcome::Denied,
                                    now,
                                )
                                .user(user_id)
                                .session(session_id)
                                .client(client)
                                .meta(serde_json::json!({ "family": family_id })),
                            )
                            .await?;
                        if let Ok(user) = inner.user(user_id).await {
                            inner.notify(
                                &user,
                                NotificationKind::TokenReused,
                                serde_json::json!({}),
                            );
                        }
                        Err(MfaError::TokenReused)
                    }
                    RotateOutcome::Revoked { user_id } | RotateOutcome::Expired { user_id } => {
                        inner
                            .record(
                                Audit::new(AuditKind::SessionRefreshed, AuditOutcome::Failure, now)
                                    .user(user_id)
                                    .client(client)
                                    .meta(serde_json::json!({ "reason": "expired_or_revoked" })),
                            )
                            .await?;
                        Err(MfaError::InvalidToken)
                    }
                    RotateOutcome::Unknown => Err(MfaError::InvalidToken),
                }
            })
        })
    }

    /// Verifies an access token and that its session is still active, so a
    /// logout or revocation takes effect at once (R35).
    ///
    /// # Errors
    /// [`MfaError::InvalidToken`].
    pub async fn authenticate(&self, access_token: &str) -> MfaResult<AccessClaims> {
        step!("mfa.authenticate", async {
            let claims = self
                .inner
                .tokens
                .verify(access_token, self.inner.now())
                .map_err(|_| MfaError::InvalidToken)?;
            direct!(&self.inner, |inner| {
                inner.live_session(&claims).await?;
                Ok(claims)
            })
        })
    }

    /// Demands a second factor verified within `max_age` (step-up for
    /// sensitive operations). Answer a refusal with [`Mfa::begin_step_up`].
    ///
    /// # Errors
    /// [`MfaError::StepUpRequired`].
    pub fn require_recent_mfa(&self, claims: &AccessClaims, max_age: TimeDelta) -> MfaResult<()> {
        let now = self.inner.now().timestamp();
        let fresh = claims.aal == Aal::Aal2 && now - claims.auth_time <= max_age.num_seconds();
        if fresh {
            Ok(())
        } else {
            Err(MfaError::StepUpRequired)
        }
    }

    /// Ends the session of `claims`.
    ///
    /// # Errors
    /// Store errors only; logging out twice is not an error.
    pub async fn logout(&self, claims: &AccessClaims) -> MfaResult<()> {
        step!("mfa.logout", user = claims.sub, async {
            self.end_session(claims.sub, claims.sid, RevocationReason::Logout)
                .await
        })
    }

    /// Ends one of a user's sessions (for a "sign out that device" button).
    ///
    /// # Errors
    /// [`MfaError::NotFound`] when the session is not the user's.
    pub async fn revoke_session(&self, user: UserId, session: SessionId) -> MfaResult<()> {
        step!("mfa.revoke_session", user = user, async {
            self.end_session(user, session, RevocationReason::Revoked)
                .await
        })
    }

    async fn end_session(
        &self,
        user: UserId,
        session: SessionId,
        reason: RevocationReason,
    ) -> MfaResult<()> {
        unit!(&self.inner, |inner| {
            let found = inner.sessions.get_session(session).await?;
            if found.is_none_or(|s| s.user_id != user) {
                return Err(MfaError::NotFound);
            }
            let now = inner.now();
            if inner.sessions.revoke_session(session, reason, now).await? {
                inner
                    .record(
                        Audit::new(AuditKind::SessionRevoked, AuditOutcome::Success, now)
                            .user(user)
                            .session(session)
                            .meta(serde_json::json!({ "reason": reason.as_str() })),
                    )
                    .await?;
            }
            Ok(())
        })
    }

    /// Ends every session of a user, except `keep` if given. Returns how
    /// many ended.
    ///
    /// # Errors
    /// Store errors.
    pub async fn revoke_all_sessions(
        &self,
        user: UserId,
        keep: Option<SessionId>,
    ) -> MfaResult<u64> {
        self.revoke_all_sessions_by(user, keep, None).await
    }

    /// [`Mfa::revoke_all_sessions`], recording `operator` in its audit event.
    pub(crate) async fn revoke_all_sessions_by(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        operator: Option<&str>,
    ) -> MfaResult<u64> {
        step!("mfa.revoke_all_sessions", user = user, async {
            unit!(&self.inner, |inner| {
                let now = inner.now();
                let n = inner
                    .sessions
                    .revoke_user_sessions(user, keep, RevocationReason::Revoked, now)
                    .await?;
                inner
                    .record(
                        Audit::new(AuditKind::AllSessionsRevoked, AuditOutcome::Success, now)
                            .user(user)
                            .meta(serde_json::json!({ "count": n }))
                            .operator(operator),
                    )
                    .await?;
                Ok(n)
            })
        })
    }

    /// A user's live sessions with their devices, newest first.
    ///
    /// # Errors
    /// Store errors.
    pub async fn sessions(&self, user: UserId) -> MfaResult<Vec<SessionView>> {
        step!("mfa.sessions", user = user, async {
            direct!(&self.inner, |inner| {
                let sessions = inner.sessions.list_sessions(user, inner.now()).await?;
                let devices = inner.devices.list_devices(user).await?;
                Ok(sessions
                    .into_iter()
                    .map(|session| {
                        let device = session
                            .device_id
                            .and_then(|id| devices.iter().find(|d| d.id == id).cloned());
                        SessionView { session, device }
                    })
                    .collect())
            })
        })
    }
}

/// The associated data of a sealed successor: the digest of the token it
/// succeeds and its own id, so the blob opens only on the row it was written
/// to and only as that child.
fn successor_aad(presented: &TokenHash, successor: RefreshTokenId) -> Aad {
    let mut context = Vec::with_capacity(32 + 16);
    context.extend_from_slice(presented.as_bytes());
    context.extend_from_slice(successor.as_bytes());
    Aad::custom("refresh-successor", &context)
}

/// Seals `fresh`, the child `successor` of the token whose digest is
/// `presented`, for a retry within the reuse grace.
fn seal_successor(
    keys: &KeyRing,
    presented: &TokenHash,
    successor: RefreshTokenId,
    fresh: &OpaqueToken,
) -> MfaResult<SealedSecret> {
    keys.seal(
        fresh.expose().as_bytes(),
        &successor_aad(presented, successor),
    )
    .map_err(MfaError::Crypto)
}

/// Opens the sealed child `token` of the token whose digest is `presented`,
/// and checks that it is that child.
fn open_successor(
    keys: &KeyRing,
    presented: &TokenHash,
    token: &RefreshToken,
    sealed: &SealedSecret,
) -> MfaResult<OpaqueToken> {
    let opened = keys
        .open(sealed, &successor_aad(presented, token.id))
        .map_err(MfaError::Crypto)?;
    let successor = std::str::from_utf8(opened.expose())
        .ok()
        .and_then(|text| OpaqueToken::parse(text).ok())
        .ok_or(MfaError::Crypto(CryptoError::OpenFailed))?;
    if successor.hash(TokenPurpose::Refresh) == token.token_hash {
        Ok(successor)
    } else {
        Err(MfaError::Crypto(CryptoError::OpenFailed))
    }
}

impl Step<'_> {
    /// The active session behind verified claims.
    pub(crate) async fn live_session(&self, claims: &AccessClaims) -> MfaResult<Session> {
        // The token's signature was verified: its subject is the user.
        crate::observability::note_user(claims.sub);
        self.sessions
            .get_session(claims.sid)
            .await?
            .filter(|s| s.user_id == claims.sub && s.is_active(self.now()))
            .ok_or(MfaError::InvalidToken)
    }
}

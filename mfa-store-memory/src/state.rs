//! The plain data behind the store's mutex, and the helpers that keep its
//! relations consistent.

use crate::journal::{Log, Table};
use chrono::{DateTime, Utc};
use mfa_core::model::{
    AuditChainId, AuditEvent, AuditEventId, BackupCodeRecord, ChallengeId, Device, DeviceId,
    Factor, FactorId, FamilyId, KeyCheck, KeyCheckSubject, LoginTicket, MfaSettings, OtpChallenge,
    PushRequest, PushRequestId, RefreshStatus, RefreshToken, RefreshTokenId, RevocationReason,
    Session, SessionId, SessionStatus, TicketId, TokenHash, User, UserId, WebauthnCeremony,
};
use mfa_core::store::{AuditFilter, RefreshGrace, RotateOutcome};

#[derive(Debug, Default)]
pub(crate) struct State {
    pub users: Table<UserId, User>,
    pub password_history: Table<UserId, Vec<String>>,
    pub factors: Table<FactorId, Factor>,
    pub settings: Table<UserId, MfaSettings>,
    pub backup_codes: Table<UserId, Vec<BackupCodeRecord>>,
    pub challenges: Table<ChallengeId, OtpChallenge>,
    pub ceremonies: Table<ChallengeId, WebauthnCeremony>,
    pub tickets: Table<TicketId, LoginTicket>,
    pub devices: Table<DeviceId, Device>,
    pub sessions: Table<SessionId, Session>,
    pub refresh_tokens: Table<RefreshTokenId, RefreshToken>,
    pub refresh_by_hash: Table<[u8; 32], RefreshTokenId>,
    /// What a rotation with reuse grace kept on the rotated token: its
    /// sealed child and the end of the grace interval.
    pub refresh_grace: Table<RefreshTokenId, RefreshGrace>,
    pub audit: Log<AuditEvent>,
    /// The event at each chain position: no two events at one position
    /// (the unique index of the SQL stores).
    pub audit_positions: Table<(AuditChainId, u64), AuditEventId>,
    /// Allowed hits per key.
    pub rate_hits: Table<String, Vec<RateHit>>,
    pub key_checks: Table<KeyCheckSubject, KeyCheck>,
    pub push_requests: Table<PushRequestId, PushRequest>,
}

/// Calls `$method` on every table of the state.
macro_rules! each_table {
    ($state:expr, $method:ident) => {{
        let s = $state;
        s.users.$method();
        s.password_history.$method();
        s.factors.$method();
        s.settings.$method();
        s.backup_codes.$method();
        s.challenges.$method();
        s.ceremonies.$method();
        s.tickets.$method();
        s.devices.$method();
        s.sessions.$method();
        s.refresh_tokens.$method();
        s.refresh_by_hash.$method();
        s.refresh_grace.$method();
        s.audit.$method();
        s.audit_positions.$method();
        s.rate_hits.$method();
        s.key_checks.$method();
        s.push_requests.$method();
    }};
}

/// One allowed rate-limiter hit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RateHit {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// When it leaves its window (for purging).
    pub expires_at: DateTime<Utc>,
}

impl State {
    /// Starts remembering what a unit of work changes.
    pub fn begin(&mut self) {
        each_table!(self, begin);
    }

    /// Keeps the unit's changes.
    pub fn commit(&mut self) {
        each_table!(self, commit);
    }

    /// Undoes the unit's changes.
    pub fn rollback(&mut self) {
        each_table!(self, rollback);
    }

    pub fn live_user_by_identifier(&self, identifier: &str) -> Option<&User> {
        self.users
            .values()
            .find(|u| u.deleted_at.is_none() && u.identifier == identifier)
    }

    pub fn live_user_mut(&mut self, id: UserId) -> Option<&mut User> {
        self.users.get_mut(&id).filter(|u| u.deleted_at.is_none())
    }

    pub fn live_factor_mut(&mut self, id: FactorId) -> Option<&mut Factor> {
        self.factors.get_mut(&id).filter(|f| f.deleted_at.is_none())
    }

    /// Removes trust from a device; `true` if it had any.
    pub fn clear_trust(device: &mut Device) -> bool {
        let had = device.trust_token_hash.is_some();
        device.trust_token_hash = None;
        device.trusted_at = None;
        device.trusted_until = None;
        had
    }

    pub fn insert_refresh(&mut self, token: RefreshToken) {
        self.refresh_by_hash
            .insert(*token.token_hash.as_bytes(), token.id);
        self.refresh_tokens.insert(token.id, token);
    }

    pub fn refresh_by_hash(&self, hash: &TokenHash) -> Option<&RefreshToken> {
        self.refresh_by_hash
            .get(hash.as_bytes())
            .and_then(|id| self.refresh_tokens.get(id))
    }

    /// A retry of the rotated token `rotated` within its reuse grace: its
    /// kept grace has not ended at `now`, its child is active and unexpired
    /// and the session active. `None` otherwise (the retry is reuse).
    pub fn retry_within_grace(
        &self,
        rotated: &RefreshToken,
        now: DateTime<Utc>,
    ) -> Option<RotateOutcome> {
        let grace = self
            .refresh_grace
            .get(&rotated.id)
            .filter(|g| now < g.until)?;
        let child = self.refresh_tokens.values().find(|t| {
            t.parent_id == Some(rotated.id)
                && t.status == RefreshStatus::Active
                && now < t.expires_at
        })?;
        let session = self
            .sessions
            .get(&rotated.session_id)
            .filter(|x| x.is_active(now))?;
        Some(RotateOutcome::Retried {
            token: child.clone(),
            session: session.clone(),
            sealed_successor: grace.sealed_successor.clone(),
        })
    }

    /// Revokes every not-yet-revoked token of a family; returns how many.
    pub fn revoke_family(&mut self, family: FamilyId, now: DateTime<Utc>) -> u64 {
        self.refresh_tokens.update_where(
            |t| t.family_id == family && t.status != RefreshStatus::Revoked,
            |t| {
                t.status = RefreshStatus::Revoked;
                t.used_at.get_or_insert(now);
                true
            },
        )
    }

    /// Revokes a session and its refresh tokens; `true` if it was not revoked.
    pub fn revoke_session(
        &mut self,
        id: SessionId,
        reason: RevocationReason,
        now: DateTime<Utc>,
    ) -> bool {
        match self.sessions.get(&id) {
            Some(session) if session.status != SessionStatus::Revoked => {}
            _ => return false,
        }
        if let Some(session) = self.sessions.get_mut(&id) {
            session.status = SessionStatus::Revoked;
            session.revoked_at = Some(now);
            session.revocation_reason = Some(reason);
        }
        self.refresh_tokens.update_where(
            |t| t.session_id == id && t.status != RefreshStatus::Revoked,
            |t| {
                t.status = RefreshStatus::Revoked;
                t.used_at.get_or_insert(now);
                true
            },
        );
        true
    }

    pub fn remove_session_cascade(&mut self, id: SessionId) {
        self.sessions.remove(&id);
        let doomed: Vec<RefreshTokenId> = self
            .refresh_tokens
            .values()
            .filter(|t| t.session_id == id)
            .map(|t| t.id)
            .collect();
        for token_id in doomed {
            if let Some(t) = self.refresh_tokens.remove(&token_id) {
                self.refresh_by_hash.remove(t.token_hash.as_bytes());
            }
            self.refresh_grace.remove(&token_id);
        }
    }

    /// Removes a user and everything that belongs to it (audit events stay:
    /// the log outlives its subjects).
    pub fn remove_user_cascade(&mut self, id: UserId) {
        self.users.remove(&id);
        self.password_history.remove(&id);
        self.factors.retain(|_, f| f.user_id != id);
        self.settings.remove(&id);
        self.backup_codes.remove(&id);
        self.challenges.retain(|_, c| c.user_id != id);
        self.ceremonies.retain(|_, c| c.user_id != Some(id));
        self.push_requests.retain(|_, r| r.user_id != id);
        self.tickets.retain(|_, t| t.user_id != id);
        self.devices.retain(|_, d| d.user_id != id);
        let sessions: Vec<SessionId> = self
            .sessions
            .values()
            .filter(|s| s.user_id == id)
            .map(|s| s.id)
            .collect();
        for session in sessions {
            self.remove_session_cascade(session);
        }
    }
}

pub(crate) fn audit_matches(filter: &AuditFilter, e: &AuditEvent) -> bool {
    filter.user_id.is_none_or(|u| e.user_id == Some(u))
        && filter.session_id.is_none_or(|s| e.session_id == Some(s))
        && filter.device_id.is_none_or(|d| e.device_id == Some(d))
        && (filter.kinds.is_empty() || filter.kinds.contains(&e.kind))
        && filter.outcome.is_none_or(|o| e.outcome == o)
        && filter.from.is_none_or(|from| e.at >= from)
        && filter.to.is_none_or(|to| e.at < to)
        && filter
            .linked
            .is_none_or(|linked| e.link.is_some() == linked)
}

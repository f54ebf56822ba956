//! Steps every flow shares: time, audit records, notifications, rate limits,
//! login tickets, failure counting and session issuance. Each lives here once.

use super::unit::{After, Step};
use super::{ClientInfo, Inner, Tokens};
use crate::crypto::{AccessClaims, AccessTokenInput, OpaqueToken, TokenPurpose};
use crate::delivery::{Message, NotificationMessage};
use crate::error::{MfaError, MfaResult};
use crate::model::{
    Aal, AuditEvent, AuditKind, AuditOutcome, AuthMethod, CeremonyPurpose, ChallengeId, DeviceId,
    Factor, FactorKind, FamilyId, Lock, LockScope, LoginTicket, NotificationId, NotificationKind,
    RefreshStatus, RefreshToken, RefreshTokenId, Session, SessionId, SessionStatus, TicketId,
    TicketKind, User, UserId, WebauthnCeremony,
};
use crate::observability::note_user;
use crate::store::{FailureOutcome, RateDecision, RateHit, SignInContext};
use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// An audit event under construction.
pub(crate) struct Audit(AuditEvent);

impl Audit {
    pub fn new(kind: AuditKind, outcome: AuditOutcome, at: DateTime<Utc>) -> Self {
        Self(AuditEvent::new(kind, outcome, at))
    }

    pub fn user(mut self, id: UserId) -> Self {
        self.0.user_id = Some(id);
        self
    }

    pub fn session(mut self, id: SessionId) -> Self {
        self.0.session_id = Some(id);
        self
    }

    pub fn device(mut self, id: Option<DeviceId>) -> Self {
        self.0.device_id = id;
        self
    }

    pub fn factor(mut self, kind: FactorKind) -> Self {
        self.0.factor = Some(kind);
        self
    }

    pub fn risk(mut self, score: u8) -> Self {
        self.0.risk_score = Some(score);
        self
    }

    pub fn client(mut self, client: &ClientInfo) -> Self {
        self.0.ip = client.ip_text();
        self.0.user_agent.clone_from(&client.user_agent);
        self.0.country.clone_from(&client.country);
        self
    }

    /// Names the operator of an administrative call in the metadata
    /// (`operator`), when there is one. Call it after [`Audit::meta`],
    /// which replaces the metadata.
    pub fn operator(self, operator: Option<&str>) -> Self {
        match operator {
            Some(name) => self.meta_field("operator", name),
            None => self,
        }
    }

    pub fn meta(mut self, metadata: serde_json::Value) -> Self {
        self.0.metadata = metadata;
        self
    }

    /// Sets one field of the metadata object (making it an object first).
    pub fn meta_field(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        if !self.0.metadata.is_object() {
            self.0.metadata = serde_json::json!({});
        }
        if let Some(map) = self.0.metadata.as_object_mut() {
            map.insert(key.to_owned(), value.into());
        }
        self
    }

    pub const fn event(&self) -> &AuditEvent {
        &self.0
    }
}

/// Converts a non-negative time span into a `Retry-After` duration, rounded
/// up to whole seconds.
pub(crate) fn retry_after(span: TimeDelta) -> Duration {
    let millis = span.num_milliseconds().max(0);
    let secs = u64::try_from(millis).unwrap_or(0).div_ceil(1000).max(1);
    Duration::from_secs(secs)
}

/// A bounded rate-limiter key for a value the client controls.
pub(crate) fn rate_key(prefix: &str, value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}:{hex}")
}

/// How a login ticket may be used.
pub(crate) struct TicketIssue<'a> {
    pub user: &'a User,
    pub kind: TicketKind,
    pub amr: Vec<AuthMethod>,
    pub device: Option<DeviceId>,
    pub risk_score: u8,
    pub replaces: Option<SessionId>,
}

/// What a new session is made of.
pub(crate) struct SessionIssue<'a> {
    pub user_id: UserId,
    pub device: Option<DeviceId>,
    pub client: &'a ClientInfo,
    pub aal: Aal,
    pub amr: Vec<AuthMethod>,
    pub mfa_at: Option<DateTime<Utc>>,
    pub risk_score: u8,
}

impl Inner {
    /// The current time at the microsecond precision every store keeps.
    pub fn now(&self) -> DateTime<Utc> {
        let now = self.clock.now();
        DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
    }

    /// Signs an access token for a session.
    pub fn access_token(&self, session: &Session) -> MfaResult<(String, AccessClaims)> {
        let input = AccessTokenInput {
            sub: session.user_id,
            sid: session.id,
            aal: session.aal,
            amr: session.amr.clone(),
            dev: session.device_id,
            auth_time: session.mfa_at.unwrap_or(session.created_at),
        };
        self.tokens
            .issue(&input, self.now())
            .map_err(MfaError::Crypto)
    }

    /// What a client gets for `session`: a freshly signed access token and
    /// the refresh token `refresh` (valid until `refresh_expires_at`).
    pub fn tokens_for(
        &self,
        session: Session,
        refresh: &OpaqueToken,
        refresh_expires_at: DateTime<Utc>,
    ) -> MfaResult<Tokens> {
        let (access, claims) = self.access_token(&session)?;
        Ok(Tokens {
            access_token: access,
            access_expires_at: DateTime::from_timestamp(claims.exp, 0)
                .unwrap_or_else(|| self.now()),
            refresh_token: refresh.expose().to_owned(),
            refresh_expires_at,
            session_id: session.id,
            aal: session.aal,
            amr: session.amr,
            trust_token: None,
        })
    }
}

impl Step<'_> {
    /// Takes the ceremony `id` (single use, see
    /// [`ChallengeRepository::take_ceremony`](crate::store::ChallengeRepository::take_ceremony))
    /// if it is open and was opened for exactly this `purpose`, `user`,
    /// `ticket` and `session`; `None` when it is closed, expired or
    /// another's. A taken ceremony stays taken whatever the answer.
    pub async fn take_ceremony_for(
        &self,
        id: ChallengeId,
        purpose: CeremonyPurpose,
        user: Option<UserId>,
        ticket: Option<TicketId>,
        session: Option<SessionId>,
    ) -> MfaResult<Option<WebauthnCeremony>> {
        Ok(self
            .challenges
            .take_ceremony(id, self.now())
            .await?
            .filter(|c| {
                c.purpose == purpose
                    && c.user_id == user
                    && c.ticket_id == ticket
                    && c.session_id == session
            }))
    }

    /// Records an audit event of the step: linked into the audit chain
    /// and written with the unit's commit (see [`crate::audit`]).
    pub async fn record(&self, audit: Audit) -> MfaResult<()> {
        self.record_event(audit.0);
        Ok(())
    }

    /// Queues a security notification by email (or SMS when the user has
    /// no email), sent once the step has committed. Never fails the step: a
    /// failed send is audited.
    ///
    /// An email address nobody has verified gets nothing unless
    /// `policy.recovery.notify_unverified_email`.
    pub fn notify(&self, user: &User, kind: NotificationKind, details: serde_json::Value) {
        let email = user.email.as_ref().filter(|_| {
            self.policy.recovery.notify_unverified_email || user.email_verified_at.is_some()
        });
        let target = match (email, &self.email, &user.phone, &self.sms) {
            (Some(to), Some(channel), _, _) | (_, _, Some(to), Some(channel)) => {
                Some((to.clone(), channel.clone()))
            }
            _ => None,
        };
        let Some((to, channel)) = target else {
            return;
        };
        let message = Message::Notification(NotificationMessage {
            id: NotificationId::new(),
            to,
            kind,
            details,
            at: self.now(),
            product_name: self.policy.product_name.clone(),
            locale: user.locale.clone(),
        });
        self.after_commit(After::Notify {
            channel,
            message,
            user: user.id,
            kind,
        });
    }

    /// Hits on rate limits, in order, stopping at the first refused (one
    /// store call, see [`RateLimiter::hit_in_order`]); a refusal becomes
    /// [`MfaError::RateLimited`].
    ///
    /// [`RateLimiter::hit_in_order`]: crate::store::RateLimiter::hit_in_order
    pub async fn limit_all(&self, hits: &[RateHit<'_>]) -> MfaResult<()> {
        let decisions = self.rate.hit_in_order(hits, self.now()).await?;
        match decisions.last() {
            Some(RateDecision::Limited { retry_after: wait }) => Err(MfaError::RateLimited {
                retry_after: retry_after(*wait),
            }),
            _ => Ok(()),
        }
    }

    pub async fn issue_ticket(&self, t: TicketIssue<'_>) -> MfaResult<(String, LoginTicket)> {
        let now = self.now();
        let token = OpaqueToken::generate();
        let ticket = LoginTicket {
            id: TicketId::new(),
            token_hash: token.hash(TokenPurpose::LoginTicket),
            user_id: t.user.id,
            session_id: t.replaces,
            device_id: t.device,
            kind: t.kind,
            amr: t.amr,
            risk_score: t.risk_score,
            created_at: now,
            expires_at: now + self.policy.session.ticket_ttl,
            consumed_at: None,
        };
        self.challenges.create_ticket(&ticket).await?;
        Ok((token.expose().to_owned(), ticket))
    }

    /// The open ticket presented by a client, of one of `kinds`.
    pub async fn open_ticket(&self, token: &str, kinds: &[TicketKind]) -> MfaResult<LoginTicket> {
        let token = OpaqueToken::parse(token).map_err(|_| MfaError::InvalidTicket)?;
        let ticket = self
            .challenges
            .find_ticket(&token.hash(TokenPurpose::LoginTicket))
            .await?;
        if let Some(ticket) = &ticket {
            note_user(ticket.user_id);
        }
        self.still_open(ticket, kinds)
    }

    /// The open ticket presented by a client, of one of `kinds`, with its
    /// live user and the user's factors: one combined read of the store
    /// (which, inside the unit, may hold the rows until it commits; see
    /// [`StepReads`](crate::store::StepReads)). A host's own user table
    /// is read on its own.
    pub async fn open_ticket_with_user(
        &self,
        token: &str,
        kinds: &[TicketKind],
    ) -> MfaResult<(LoginTicket, User, Vec<Factor>)> {
        let token = OpaqueToken::parse(token).map_err(|_| MfaError::InvalidTicket)?;
        let own_users = self.host_users.is_none();
        let Some(context) = self
            .reads
            .ticket_context(&token.hash(TokenPurpose::LoginTicket), own_users)
            .await?
        else {
            return Err(MfaError::InvalidTicket);
        };
        note_user(context.ticket.user_id);
        let ticket = self.still_open(Some(context.ticket), kinds)?;
        let user = if own_users {
            context
                .user
                .filter(|u| u.deleted_at.is_none())
                .ok_or(MfaError::NotFound)?
        } else {
            self.user(ticket.user_id).await?
        };
        Ok((ticket, user, context.factors))
    }

    /// What a sign-in reads after its first factor, in one combined read
    /// of the store (which, inside the unit, may lock the user's row; see
    /// [`StepReads`](crate::store::StepReads)). The user is in it only when
    /// the store keeps the users; a host's own user table is read on its
    /// own.
    pub async fn sign_in_context(&self, user: UserId) -> MfaResult<SignInContext> {
        note_user(user);
        Ok(self
            .reads
            .sign_in_context(user, self.host_users.is_none())
            .await?)
    }

    /// `ticket` if it is there, unused, of one of `kinds` and unexpired.
    fn still_open(
        &self,
        ticket: Option<LoginTicket>,
        kinds: &[TicketKind],
    ) -> MfaResult<LoginTicket> {
        let ticket = ticket.ok_or(MfaError::InvalidTicket)?;
        if ticket.consumed_at.is_some() || !kinds.contains(&ticket.kind) {
            return Err(MfaError::InvalidTicket);
        }
        if self.now() >= ticket.expires_at {
            return Err(MfaError::ChallengeExpired);
        }
        Ok(ticket)
    }

    /// Uses up a ticket, atomically; the loser of a race gets
    /// [`MfaError::InvalidTicket`].
    pub async fn consume_ticket(&self, ticket: &LoginTicket) -> MfaResult<()> {
        if self
            .challenges
            .consume_ticket(ticket.id, self.now())
            .await?
        {
            Ok(())
        } else {
            Err(MfaError::InvalidTicket)
        }
    }

    /// Counts an attempt against a user's failure counter *before* the
    /// secret is checked, so parallel guesses cannot exceed the lockout
    /// rule. Returns the lock this attempt started, if it started one; the
    /// caller clears it with [`Inner::clear_failures`] when the attempt
    /// succeeds.
    pub async fn reserve_attempt(
        &self,
        user: UserId,
        scope: LockScope,
    ) -> MfaResult<Option<DateTime<Utc>>> {
        let rule = match scope {
            LockScope::Mfa => &self.policy.mfa_lockout,
            LockScope::Password => &self.policy.password_lockout,
        };
        note_user(user);
        let now = self.now();
        match self.users.record_failure(user, scope, rule, now).await? {
            FailureOutcome::Counted { locked_until, .. } => Ok(locked_until),
            FailureOutcome::Locked(Lock::Until(until)) => Err(MfaError::AccountLocked {
                retry_after: Some(retry_after(until - now)),
            }),
            FailureOutcome::Locked(Lock::UntilReset) => {
                Err(MfaError::AccountLocked { retry_after: None })
            }
            FailureOutcome::NotFound => Err(MfaError::InvalidCredentials),
        }
    }

    pub async fn clear_failures(&self, user: UserId, scope: LockScope) -> MfaResult<()> {
        self.users.reset_failures(user, scope).await?;
        Ok(())
    }

    /// Audits and announces a lock that a failed attempt started.
    pub async fn lock_started(
        &self,
        user: &User,
        scope: LockScope,
        until: DateTime<Utc>,
        client: Option<&ClientInfo>,
    ) -> MfaResult<()> {
        let mut audit = Audit::new(AuditKind::AccountLocked, AuditOutcome::Denied, self.now())
            .user(user.id)
            .meta(serde_json::json!({
                "scope": match scope { LockScope::Mfa => "mfa", LockScope::Password => "password" },
                "locked_until": until,
            }));
        if let Some(client) = client {
            audit = audit.client(client);
        }
        self.record(audit).await?;
        self.notify(user, NotificationKind::AccountLocked, serde_json::json!({}));
        Ok(())
    }

    pub async fn user(&self, id: UserId) -> MfaResult<User> {
        note_user(id);
        self.users
            .get_user(id)
            .await?
            .filter(|u| u.deleted_at.is_none())
            .ok_or(MfaError::NotFound)
    }

    /// Creates an active session with a fresh refresh-token family and signs
    /// its first access token.
    pub async fn start_session(&self, s: SessionIssue<'_>) -> MfaResult<Tokens> {
        let now = self.now();
        let policy = &self.policy.session;
        let session = Session {
            id: SessionId::new(),
            user_id: s.user_id,
            device_id: s.device,
            session_type: s.client.session_type,
            status: SessionStatus::Active,
            aal: s.aal,
            amr: s.amr,
            mfa_at: s.mfa_at,
            ip: s.client.ip_text(),
            user_agent: s.client.user_agent.clone(),
            country: s.client.country.clone(),
            risk_score: s.risk_score,
            created_at: now,
            last_seen_at: now,
            expires_at: now + policy.absolute,
            revoked_at: None,
            revocation_reason: None,
        };
        self.sessions.create_session(&session).await?;
        let refresh = OpaqueToken::generate();
        let token = RefreshToken {
            id: RefreshTokenId::new(),
            family_id: FamilyId::new(),
            session_id: session.id,
            user_id: session.user_id,
            parent_id: None,
            token_hash: refresh.hash(TokenPurpose::Refresh),
            status: RefreshStatus::Active,
            created_at: now,
            expires_at: (now + policy.refresh_sliding).min(session.expires_at),
            used_at: None,
        };
        self.sessions.insert_refresh_token(&token).await?;
        self.record(
            Audit::new(AuditKind::SessionCreated, AuditOutcome::Success, now)
                .user(session.user_id)
                .session(session.id)
                .device(session.device_id)
                .client(s.client)
                .risk(session.risk_score)
                .meta(serde_json::json!({
                    "aal": session.aal.level(),
                    "amr": session.amr,
                })),
        )
        .await?;
        self.tokens_for(session, &refresh, token.expires_at)
    }
}

/// Checks a user-given factor name: 1 to 64 printable characters.
pub(crate) fn valid_label(label: Option<&str>) -> MfaResult<()> {
    if label.is_some_and(|l| l.is_empty() || l.len() > 64 || l.chars().any(char::is_control)) {
        return Err(MfaError::invalid_input(
            "label",
            "1 to 64 printable characters",
        ));
    }
    Ok(())
}

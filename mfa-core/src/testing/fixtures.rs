//! Builders of model values for the conformance suite.
//!
//! Every builder makes values with fresh ids, identifiers and digests, so two
//! tests never touch each other's rows even when they share one store. Times
//! are whole seconds from a fixed base ([`t0`]), so they survive the
//! microsecond precision of every store.

use crate::model::{
    Aal, AuditEvent, AuditKind, AuditOutcome, AuthMethod, BackupCodeRecord, ChallengeId,
    ChallengePurpose, CodeHash, DeviceId, DeviceInfo, DeviceKind, DeviceSighting, FactorId,
    FactorKind, FamilyId, FingerprintHash, LoginTicket, OtpChallenge, OtpChannel, RefreshStatus,
    RefreshToken, RefreshTokenId, SealedSecret, Session, SessionId, SessionStatus, SessionType,
    TicketId, TicketKind, TokenHash, TotpParams, User, UserId,
};
use crate::model::{
    Factor, FactorStatus, KeyCheck, KeyCheckSubject, PushContext, PushRequest, PushRequestId,
    PushStatus,
};
use crate::store::Store;
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

/// The fixed base time of the suite: 2030-03-17T17:46:40Z.
#[must_use]
pub fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_900_000_000, 0).expect("the base time is in range")
}

/// [`t0`] plus `secs` seconds.
#[must_use]
pub fn at(secs: i64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds(secs)
}

/// Which past era a purge test works in; see [`era`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// `purge_deleted_users` (creates sessions, so it is the latest era).
    Users = 1,
    /// `purge_deleted_factors`.
    Factors = 2,
    /// `purge_deleted_devices`.
    Devices = 3,
    /// `purge_expired_challenges`.
    Challenges = 4,
    /// `purge_sessions`.
    Sessions = 5,
    /// `purge_rate_limits`.
    RateLimits = 6,
    /// `purge_push_requests`.
    PushRequests = 7,
}

/// The start of a past era, years before [`t0`].
///
/// Purges act on every row older than a cutoff, so each purge test works in
/// its own era, long before the times every other test uses: its cutoff then
/// reaches only its own rows, and its counts stay exact even on a shared
/// store. Eras are ordered so that no purge test's rows fall under another
/// purge test's cutoff.
#[must_use]
pub fn era(era: Era) -> DateTime<Utc> {
    t0() - TimeDelta::days(365 * era as i64)
}

fn unique_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    bytes
}

/// A code digest no other call returns.
#[must_use]
pub fn code_hash() -> CodeHash {
    CodeHash::from_array(unique_bytes())
}

/// A token digest no other call returns.
#[must_use]
pub fn token_hash() -> TokenHash {
    TokenHash::from_array(unique_bytes())
}

/// A fingerprint digest no other call returns.
#[must_use]
pub fn fingerprint() -> FingerprintHash {
    FingerprintHash::from_array(unique_bytes())
}

/// An AEAD key id no other call returns (with high probability), at or
/// above 2^31 so it does not fit a signed 32-bit column.
#[must_use]
pub fn high_key_id() -> u32 {
    let bytes = Uuid::new_v4().into_bytes();
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) | 0x8000_0000
}

/// A key check of `subject` with a value no other call returns.
#[must_use]
pub fn key_check(subject: KeyCheckSubject, now: DateTime<Utc>) -> KeyCheck {
    KeyCheck {
        subject,
        value: unique_bytes().to_vec(),
        created_at: now,
    }
}

/// A login identifier no other call returns.
#[must_use]
pub fn identifier(prefix: &str) -> String {
    format!("{prefix}-{}@example.test", Uuid::new_v4().simple())
}

/// A rate-limit key no other call returns.
#[must_use]
pub fn rate_key(prefix: &str) -> String {
    format!("conformance:{prefix}:{}", Uuid::new_v4().simple())
}

/// A user with a fresh identifier, every optional field filled in.
#[must_use]
pub fn user(now: DateTime<Utc>) -> User {
    let mut user = User::new(identifier("user"), now);
    user.email = Some("someone@example.test".into());
    user.phone = Some("+41790000000".into());
    user.locale = Some("de-CH".into());
    user.password_hash = Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
    user
}

/// Inserts a fresh [`user`].
///
/// # Panics
/// If the store fails.
pub async fn create_user<S: Store>(store: &S, now: DateTime<Utc>) -> User {
    let user = user(now);
    store.create_user(&user).await.expect("create_user failed");
    user
}

/// A pending factor of `kind` with its kind-specific fields filled in.
#[must_use]
pub fn factor(user: UserId, kind: FactorKind, now: DateTime<Utc>) -> Factor {
    let mut factor = Factor::pending(user, kind, now);
    factor.label = Some(format!("{} factor", kind.as_str()));
    match kind {
        FactorKind::Totp => {
            factor.secret = Some(SealedSecret::from_bytes(unique_bytes().to_vec()));
            factor.totp = Some(TotpParams::default());
        }
        FactorKind::Email => factor.destination = Some("someone@example.test".into()),
        FactorKind::Sms => factor.destination = Some("+41790000000".into()),
        FactorKind::BackupCodes => {}
        FactorKind::Webauthn => {
            // A sealed credential record, and the counter its
            // authenticator reported at registration.
            factor.secret = Some(SealedSecret::from_bytes(unique_bytes().to_vec()));
            factor.last_totp_step = Some(0);
        }
        // The sealed device record: key, push address, description.
        FactorKind::Push => {
            factor.secret = Some(SealedSecret::from_bytes(unique_bytes().to_vec()));
        }
    }
    factor
}

/// Inserts a pending [`factor`].
///
/// # Panics
/// If the store fails.
pub async fn create_factor<S: Store>(
    store: &S,
    user: UserId,
    kind: FactorKind,
    now: DateTime<Utc>,
) -> Factor {
    let factor = factor(user, kind, now);
    store
        .create_factor(&factor)
        .await
        .expect("create_factor failed");
    factor
}

/// Inserts an active TOTP factor.
///
/// # Panics
/// If the store fails.
pub async fn create_active_totp<S: Store>(store: &S, user: UserId, now: DateTime<Utc>) -> Factor {
    let mut factor = factor(user, FactorKind::Totp, now);
    factor.status = FactorStatus::Active;
    factor.confirmed_at = Some(now);
    store
        .create_factor(&factor)
        .await
        .expect("create_factor failed");
    factor
}

/// `n` unused backup codes of `user`, each with a distinct digest.
#[must_use]
pub fn backup_codes(user: UserId, n: usize, now: DateTime<Utc>) -> Vec<BackupCodeRecord> {
    (0..n)
        .map(|_| BackupCodeRecord::new(user, code_hash(), now))
        .collect()
}

/// An open email challenge: 10 minutes to live, 5 attempts.
#[must_use]
pub fn challenge(
    user: UserId,
    factor: FactorId,
    purpose: ChallengePurpose,
    now: DateTime<Utc>,
) -> OtpChallenge {
    OtpChallenge {
        id: ChallengeId::new(),
        user_id: user,
        factor_id: factor,
        ticket_id: None,
        purpose,
        channel: OtpChannel::Email,
        code_hash: code_hash(),
        attempts: 0,
        max_attempts: 5,
        created_at: now,
        expires_at: now + TimeDelta::minutes(10),
        consumed_at: None,
    }
}

/// An open MFA login ticket: 10 minutes to live.
#[must_use]
pub fn ticket(user: UserId, now: DateTime<Utc>) -> LoginTicket {
    LoginTicket {
        id: TicketId::new(),
        token_hash: token_hash(),
        user_id: user,
        session_id: None,
        device_id: None,
        kind: TicketKind::Mfa,
        amr: vec![AuthMethod::Pwd],
        risk_score: 10,
        created_at: now,
        expires_at: now + TimeDelta::minutes(10),
        consumed_at: None,
    }
}

/// A sighting of (`user`, `fingerprint`) at `now`, with info, IP, country,
/// risk and metadata set.
#[must_use]
pub fn sighting(user: UserId, fingerprint: FingerprintHash, now: DateTime<Utc>) -> DeviceSighting {
    DeviceSighting {
        user_id: user,
        fingerprint_hash: fingerprint,
        info: DeviceInfo {
            kind: DeviceKind::Web,
            name: Some("Firefox on Linux".into()),
            os: Some("Linux".into()),
            browser: Some("Firefox".into()),
            browser_version: Some("140".into()),
            ..DeviceInfo::default()
        },
        ip: Some("192.0.2.1".into()),
        country: Some("CH".into()),
        risk_score: 5,
        metadata: serde_json::json!({ "source": "conformance" }),
        at: now,
    }
}

/// Records a first sighting of a fresh fingerprint of `user`.
///
/// # Panics
/// If the store fails.
pub async fn create_device<S: Store>(
    store: &S,
    user: UserId,
    now: DateTime<Utc>,
) -> crate::model::Device {
    store
        .upsert_device(&sighting(user, fingerprint(), now))
        .await
        .expect("upsert_device failed")
        .device
}

/// An active AAL2 web session of `user` created at `now`, ending 12 hours
/// later.
#[must_use]
pub fn session(user: UserId, device: Option<DeviceId>, now: DateTime<Utc>) -> Session {
    Session {
        id: SessionId::new(),
        user_id: user,
        device_id: device,
        session_type: SessionType::Web,
        status: SessionStatus::Active,
        aal: Aal::Aal2,
        amr: vec![AuthMethod::Pwd, AuthMethod::Otp],
        mfa_at: Some(now),
        ip: Some("192.0.2.1".into()),
        user_agent: Some("Mozilla/5.0".into()),
        country: Some("CH".into()),
        risk_score: 5,
        created_at: now,
        last_seen_at: now,
        expires_at: now + TimeDelta::hours(12),
        revoked_at: None,
        revocation_reason: None,
    }
}

/// A session waiting for its second factor (`PendingMfa`, AAL1, password
/// only).
#[must_use]
pub fn pending_session(user: UserId, now: DateTime<Utc>) -> Session {
    Session {
        status: SessionStatus::PendingMfa,
        aal: Aal::Aal1,
        amr: vec![AuthMethod::Pwd],
        mfa_at: None,
        ..session(user, None, now)
    }
}

/// Inserts an active [`session`].
///
/// # Panics
/// If the store fails.
pub async fn create_session<S: Store>(
    store: &S,
    user: UserId,
    device: Option<DeviceId>,
    now: DateTime<Utc>,
) -> Session {
    let session = session(user, device, now);
    store
        .create_session(&session)
        .await
        .expect("create_session failed");
    session
}

/// The first refresh token of a new family of `session`, valid one hour.
#[must_use]
pub fn refresh_token(session: &Session, now: DateTime<Utc>) -> RefreshToken {
    RefreshToken {
        id: RefreshTokenId::new(),
        family_id: FamilyId::new(),
        session_id: session.id,
        user_id: session.user_id,
        parent_id: None,
        token_hash: token_hash(),
        status: RefreshStatus::Active,
        created_at: now,
        expires_at: now + TimeDelta::hours(1),
        used_at: None,
    }
}

/// Inserts the first [`refresh_token`] of a new family of `session`.
///
/// # Panics
/// If the store fails.
pub async fn create_refresh_token<S: Store>(
    store: &S,
    session: &Session,
    now: DateTime<Utc>,
) -> RefreshToken {
    let token = refresh_token(session, now);
    store
        .insert_refresh_token(&token)
        .await
        .expect("insert_refresh_token failed");
    token
}

/// The engine's part of a rotated token, valid one hour from `now`.
#[must_use]
pub fn next_refresh_token(now: DateTime<Utc>) -> crate::store::NewRefreshToken {
    crate::store::NewRefreshToken {
        id: RefreshTokenId::new(),
        token_hash: token_hash(),
        expires_at: now + TimeDelta::hours(1),
        grace: None,
    }
}

/// [`next_refresh_token`] with reuse grace until `until`. Its sealed
/// successor is a stand-in the store never opens: the new token's id, so a
/// test can tell whose kept child a retry got ([`kept_successor`]).
#[must_use]
pub fn next_refresh_token_with_grace(
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> crate::store::NewRefreshToken {
    let mut new = next_refresh_token(now);
    new.grace = Some(crate::store::RefreshGrace {
        sealed_successor: kept_successor(new.id),
        until,
    });
    new
}

/// The sealed successor [`next_refresh_token_with_grace`] gives the child
/// `id`.
#[must_use]
pub fn kept_successor(id: RefreshTokenId) -> SealedSecret {
    SealedSecret::from_bytes(id.as_bytes().to_vec())
}

/// An audit event of `user` with every optional field filled in.
#[must_use]
pub fn audit_event(
    user: UserId,
    kind: AuditKind,
    outcome: AuditOutcome,
    at: DateTime<Utc>,
) -> AuditEvent {
    let mut event = AuditEvent::new(kind, outcome, at);
    event.user_id = Some(user);
    event.factor = Some(FactorKind::Totp);
    event.ip = Some("192.0.2.1".into());
    event.user_agent = Some("Mozilla/5.0".into());
    event.country = Some("CH".into());
    event.risk_score = Some(12);
    event.metadata = serde_json::json!({ "step": "conformance" });
    event
}

/// An open WebAuthn ceremony of `user` (or of nobody, for a passwordless
/// sign-in), created at `now`, expiring 5 minutes later, with an opaque
/// state blob.
#[must_use]
pub fn ceremony(
    user: Option<UserId>,
    purpose: crate::model::CeremonyPurpose,
    now: DateTime<Utc>,
) -> crate::model::WebauthnCeremony {
    crate::model::WebauthnCeremony {
        id: crate::model::ChallengeId::new(),
        user_id: user,
        ticket_id: Some(crate::model::TicketId::new()),
        session_id: None,
        purpose,
        state: SealedSecret::from_bytes(unique_bytes().to_vec()),
        created_at: now,
        expires_at: now + TimeDelta::minutes(5),
        consumed_at: None,
    }
}

/// A pending push approval request of `user` for a fresh ticket, created
/// at `now` and expiring 2 minutes later: number 42 among 17, 42 and 93,
/// every context field filled in.
#[must_use]
pub fn push_request(user: UserId, now: DateTime<Utc>) -> PushRequest {
    PushRequest {
        id: PushRequestId::random(),
        user_id: user,
        ticket_id: TicketId::new(),
        number: 42,
        choices: [17, 42, 93],
        context: PushContext {
            ip: Some("192.0.2.1".into()),
            country: Some("CH".into()),
            device: Some("Firefox on Linux".into()),
            risk_score: 35,
            step_up: false,
        },
        status: PushStatus::Pending,
        factor_id: None,
        user_verified: false,
        created_at: now,
        expires_at: now + TimeDelta::minutes(2),
        answered_at: None,
        consumed_at: None,
    }
}

/// Inserts a pending [`push_request`].
///
/// # Panics
/// If the store fails.
pub async fn create_push_request<S: Store>(
    store: &S,
    user: UserId,
    now: DateTime<Utc>,
) -> PushRequest {
    let request = push_request(user, now);
    store
        .create_push_request(&request)
        .await
        .expect("create_push_request failed");
    request
}

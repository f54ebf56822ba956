//! Model values read from rows, and model values turned into arguments.
//! One reader per table, by column name, so the column order of a
//! `SELECT` does not matter.

use crate::driver::Row;
use crate::error::corrupt;
use crate::sql::Arg;
use mfa_core::model::{
    Aal, AuditChainId, AuditEvent, AuditEventId, AuditKind, AuditLink, AuditMac, AuditOutcome,
    AuthMethod, CeremonyPurpose, ChallengeId, ChallengePurpose, CodeHash, Device, DeviceId,
    DeviceInfo, DeviceKind, DigestLengthError, Factor, FactorId, FactorKind, FactorStatus,
    FailureCounter, FamilyId, FingerprintHash, KeyCheck, KeyCheckSubject, LoginTicket, MfaSettings,
    OtpChallenge, OtpChannel, PushContext, PushRequest, PushRequestId, PushStatus, RefreshStatus,
    RefreshToken, RefreshTokenId, RevocationReason, SealedSecret, Session, SessionId,
    SessionStatus, SessionType, TicketId, TicketKind, TokenHash, TotpAlgorithm, TotpParams, User,
    UserId, UserStatus, WebauthnCeremony,
};
use mfa_core::store::StoreResult;
use uuid::Uuid;

fn c_enum<T>(row: &dyn Row, name: &str, parse: fn(&str) -> Option<T>) -> StoreResult<T> {
    let text = row.text(name)?;
    parse(&text).ok_or_else(|| corrupt(name))
}

fn c_opt_enum<T>(
    row: &dyn Row,
    name: &str,
    parse: fn(&str) -> Option<T>,
) -> StoreResult<Option<T>> {
    row.opt_text(name)?
        .map(|t| parse(&t).ok_or_else(|| corrupt(name)))
        .transpose()
}

pub(crate) fn c_u32(row: &dyn Row, name: &str) -> StoreResult<u32> {
    u32::try_from(row.i32(name)?).map_err(|_| corrupt(name))
}

fn c_u8(row: &dyn Row, name: &str) -> StoreResult<u8> {
    u8::try_from(row.i32(name)?).map_err(|_| corrupt(name))
}

fn c_digest<T>(
    row: &dyn Row,
    name: &str,
    make: fn(&[u8]) -> Result<T, DigestLengthError>,
) -> StoreResult<T> {
    make(&row.bytes(name)?).map_err(|_| corrupt(name))
}

fn c_opt_digest<T>(
    row: &dyn Row,
    name: &str,
    make: fn(&[u8]) -> Result<T, DigestLengthError>,
) -> StoreResult<Option<T>> {
    row.opt_bytes(name)?
        .map(|b| make(&b).map_err(|_| corrupt(name)))
        .transpose()
}

fn c_amr(row: &dyn Row, name: &str) -> StoreResult<Vec<AuthMethod>> {
    row.text(name)?
        .split(',')
        .filter(|m| !m.is_empty())
        .map(|m| m.parse::<AuthMethod>().map_err(|_| corrupt(name)))
        .collect()
}

pub(crate) fn amr_text(amr: &[AuthMethod]) -> String {
    amr.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(",")
}

pub(crate) fn uuid_of<T: Into<Uuid>>(id: T) -> Arg {
    Arg::Uuid(id.into())
}

pub(crate) fn opt_uuid<T: Into<Uuid>>(id: Option<T>) -> Arg {
    Arg::OptUuid(id.map(Into::into))
}

pub(crate) fn text(s: &str) -> Arg {
    Arg::Text(s.to_owned())
}

pub(crate) fn opt_text(s: &Option<String>) -> Arg {
    Arg::OptText(s.clone())
}

pub(crate) fn count_i32(n: u32) -> Arg {
    Arg::I32(i32::try_from(n).unwrap_or(i32::MAX))
}

/// A key check, or `None` for a kind this version does not know (a newer
/// engine's row).
pub(crate) fn key_check_from_row(row: &dyn Row) -> StoreResult<Option<KeyCheck>> {
    let key_id = u32::try_from(row.i64("key_id")?).map_err(|_| corrupt("key_id"))?;
    let Some(subject) = KeyCheckSubject::from_parts(&row.text("kind")?, key_id) else {
        return Ok(None);
    };
    Ok(Some(KeyCheck {
        subject,
        value: row.bytes("check_value")?,
        created_at: row.ts("created_at")?,
    }))
}

pub(crate) fn user_from_row(row: &dyn Row) -> StoreResult<User> {
    Ok(User {
        id: UserId::from_uuid(row.uuid("id")?),
        identifier: row.text("identifier")?,
        email: row.opt_text("email")?,
        email_verified_at: row.opt_ts("email_verified_at")?,
        phone: row.opt_text("phone")?,
        locale: row.opt_text("locale")?,
        password_hash: row.opt_text("password_hash")?,
        status: c_enum(row, "status", UserStatus::parse)?,
        password_failures: FailureCounter {
            failures: c_u32(row, "password_failures")?,
            locked_until: row.opt_ts("password_locked_until")?,
        },
        mfa_failures: FailureCounter {
            failures: c_u32(row, "mfa_failures")?,
            locked_until: row.opt_ts("mfa_locked_until")?,
        },
        created_at: row.ts("created_at")?,
        updated_at: row.ts("updated_at")?,
        deleted_at: row.opt_ts("deleted_at")?,
    })
}

pub(crate) fn factor_from_row(row: &dyn Row) -> StoreResult<Factor> {
    let algorithm = c_opt_enum(row, "totp_algorithm", TotpAlgorithm::parse)?;
    let digits = row.opt_i32("totp_digits")?;
    let period = row.opt_i32("totp_period")?;
    let totp = match (algorithm, digits, period) {
        (Some(algorithm), Some(digits), Some(period)) => Some(TotpParams {
            algorithm,
            digits: u8::try_from(digits).map_err(|_| corrupt("totp_digits"))?,
            period: u32::try_from(period).map_err(|_| corrupt("totp_period"))?,
        }),
        (None, None, None) => None,
        _ => return Err(corrupt("totp_algorithm")),
    };
    Ok(Factor {
        id: FactorId::from_uuid(row.uuid("id")?),
        user_id: UserId::from_uuid(row.uuid("user_id")?),
        kind: c_enum(row, "kind", FactorKind::parse)?,
        status: c_enum(row, "status", FactorStatus::parse)?,
        label: row.opt_text("label")?,
        secret: row.opt_bytes("secret")?.map(SealedSecret::from_bytes),
        totp,
        destination: row.opt_text("destination")?,
        last_totp_step: row.opt_i64("last_totp_step")?,
        created_at: row.ts("created_at")?,
        confirmed_at: row.opt_ts("confirmed_at")?,
        last_used_at: row.opt_ts("last_used_at")?,
        deleted_at: row.opt_ts("deleted_at")?,
    })
}

pub(crate) fn settings_from_row(row: &dyn Row) -> StoreResult<MfaSettings> {
    Ok(MfaSettings {
        user_id: UserId::from_uuid(row.uuid("user_id")?),
        enforced: row.bool("enforced")?,
        grace_deadline: row.opt_ts("grace_deadline")?,
        preferred: c_opt_enum(row, "preferred", FactorKind::parse)?,
        updated_at: row.ts("updated_at")?,
    })
}

pub(crate) fn challenge_from_row(row: &dyn Row) -> StoreResult<OtpChallenge> {
    Ok(OtpChallenge {
        id: ChallengeId::from_uuid(row.uuid("id")?),
        user_id: UserId::from_uuid(row.uuid("user_id")?),
        factor_id: FactorId::from_uuid(row.uuid("factor_id")?),
        ticket_id: row.opt_uuid("ticket_id")?.map(TicketId::from_uuid),
        purpose: c_enum(row, "purpose", ChallengePurpose::parse)?,
        channel: c_enum(row, "channel", OtpChannel::parse)?,
        code_hash: c_digest(row, "code_hash", CodeHash::from_slice)?,
        attempts: c_u32(row, "attempts")?,
        max_attempts: c_u32(row, "max_attempts")?,
        created_at: row.ts("created_at")?,
        expires_at: row.ts("expires_at")?,
        consumed_at: row.opt_ts("consumed_at")?,
    })
}

pub(crate) fn ceremony_from_row(row: &dyn Row) -> StoreResult<WebauthnCeremony> {
    Ok(WebauthnCeremony {
        id: ChallengeId::from_uuid(row.uuid("id")?),
        user_id: row.opt_uuid("user_id")?.map(UserId::from_uuid),
        ticket_id: row.opt_uuid("ticket_id")?.map(TicketId::from_uuid),
        session_id: row.opt_uuid("session_id")?.map(SessionId::from_uuid),
        purpose: c_enum(row, "purpose", CeremonyPurpose::parse)?,
        state: SealedSecret::from_bytes(row.bytes("state")?),
        created_at: row.ts("created_at")?,
        expires_at: row.ts("expires_at")?,
        consumed_at: row.opt_ts("consumed_at")?,
    })
}

pub(crate) fn push_request_from_row(row: &dyn Row) -> StoreResult<PushRequest> {
    let context: PushContext =
        serde_json::from_value(row.json("context")?).map_err(|_| corrupt("context"))?;
    Ok(PushRequest {
        id: PushRequestId::from_uuid(row.uuid("id")?),
        user_id: UserId::from_uuid(row.uuid("user_id")?),
        ticket_id: TicketId::from_uuid(row.uuid("ticket_id")?),
        number: c_u8(row, "number")?,
        choices: [
            c_u8(row, "choice_1")?,
            c_u8(row, "choice_2")?,
            c_u8(row, "choice_3")?,
        ],
        context,
        status: c_enum(row, "status", PushStatus::parse)?,
        factor_id: row.opt_uuid("factor_id")?.map(FactorId::from_uuid),
        user_verified: row.bool("user_verified")?,
        created_at: row.ts("created_at")?,
        expires_at: row.ts("expires_at")?,
        answered_at: row.opt_ts("answered_at")?,
        consumed_at: row.opt_ts("consumed_at")?,
    })
}

pub(crate) fn ticket_from_row(row: &dyn Row) -> StoreResult<LoginTicket> {
    Ok(LoginTicket {
        id: TicketId::from_uuid(row.uuid("id")?),
        token_hash: c_digest(row, "token_hash", TokenHash::from_slice)?,
        user_id: UserId::from_uuid(row.uuid("user_id")?),
        session_id: row.opt_uuid("session_id")?.map(SessionId::from_uuid),
        device_id: row.opt_uuid("device_id")?.map(DeviceId::from_uuid),
        kind: c_enum(row, "kind", TicketKind::parse)?,
        amr: c_amr(row, "amr")?,
        risk_score: c_u8(row, "risk_score")?,
        created_at: row.ts("created_at")?,
        expires_at: row.ts("expires_at")?,
        consumed_at: row.opt_ts("consumed_at")?,
    })
}

pub(crate) fn device_from_row(row: &dyn Row) -> StoreResult<Device> {
    Ok(Device {
        id: DeviceId::from_uuid(row.uuid("id")?),
        user_id: UserId::from_uuid(row.uuid("user_id")?),
        fingerprint_hash: c_digest(row, "fingerprint_hash", FingerprintHash::from_slice)?,
        info: DeviceInfo {
            kind: c_enum(row, "kind", DeviceKind::parse)?,
            name: row.opt_text("name")?,
            os: row.opt_text("os")?,
            os_version: row.opt_text("os_version")?,
            browser: row.opt_text("browser")?,
            browser_version: row.opt_text("browser_version")?,
            app_version: row.opt_text("app_version")?,
            brand: row.opt_text("brand")?,
            model: row.opt_text("model")?,
        },
        last_ip: row.opt_text("last_ip")?,
        last_country: row.opt_text("last_country")?,
        first_seen_at: row.ts("first_seen_at")?,
        last_seen_at: row.ts("last_seen_at")?,
        trust_token_hash: c_opt_digest(row, "trust_token_hash", TokenHash::from_slice)?,
        trusted_at: row.opt_ts("trusted_at")?,
        trusted_until: row.opt_ts("trusted_until")?,
        compromised_at: row.opt_ts("compromised_at")?,
        risk_score: c_u8(row, "risk_score")?,
        metadata: row.json("metadata")?,
        deleted_at: row.opt_ts("deleted_at")?,
    })
}

pub(crate) fn session_from_row(row: &dyn Row) -> StoreResult<Session> {
    let aal = row.i32("aal")?;
    Ok(Session {
        id: SessionId::from_uuid(row.uuid("id")?),
        user_id: UserId::from_uuid(row.uuid("user_id")?),
        device_id: row.opt_uuid("device_id")?.map(DeviceId::from_uuid),
        session_type: c_enum(row, "session_type", SessionType::parse)?,
        status: c_enum(row, "status", SessionStatus::parse)?,
        aal: u8::try_from(aal)
            .ok()
            .and_then(Aal::from_level)
            .ok_or_else(|| corrupt("aal"))?,
        amr: c_amr(row, "amr")?,
        mfa_at: row.opt_ts("mfa_at")?,
        ip: row.opt_text("ip")?,
        user_agent: row.opt_text("user_agent")?,
        country: row.opt_text("country")?,
        risk_score: c_u8(row, "risk_score")?,
        created_at: row.ts("created_at")?,
        last_seen_at: row.ts("last_seen_at")?,
        expires_at: row.ts("expires_at")?,
        revoked_at: row.opt_ts("revoked_at")?,
        revocation_reason: c_opt_enum(row, "revocation_reason", RevocationReason::parse)?,
    })
}

pub(crate) fn refresh_from_row(row: &dyn Row) -> StoreResult<RefreshToken> {
    Ok(RefreshToken {
        id: RefreshTokenId::from_uuid(row.uuid("id")?),
        family_id: FamilyId::from_uuid(row.uuid("family_id")?),
        session_id: SessionId::from_uuid(row.uuid("session_id")?),
        user_id: UserId::from_uuid(row.uuid("user_id")?),
        parent_id: row.opt_uuid("parent_id")?.map(RefreshTokenId::from_uuid),
        token_hash: c_digest(row, "token_hash", TokenHash::from_slice)?,
        status: c_enum(row, "status", RefreshStatus::parse)?,
        created_at: row.ts("created_at")?,
        expires_at: row.ts("expires_at")?,
        used_at: row.opt_ts("used_at")?,
    })
}

pub(crate) fn audit_from_row(row: &dyn Row) -> StoreResult<AuditEvent> {
    Ok(AuditEvent {
        id: AuditEventId::from_uuid(row.uuid("id")?),
        at: row.ts("at")?,
        user_id: row.opt_uuid("user_id")?.map(UserId::from_uuid),
        session_id: row.opt_uuid("session_id")?.map(SessionId::from_uuid),
        device_id: row.opt_uuid("device_id")?.map(DeviceId::from_uuid),
        kind: c_enum(row, "kind", AuditKind::parse)?,
        outcome: c_enum(row, "outcome", AuditOutcome::parse)?,
        factor: c_opt_enum(row, "factor", FactorKind::parse)?,
        ip: row.opt_text("ip")?,
        user_agent: row.opt_text("user_agent")?,
        country: row.opt_text("country")?,
        risk_score: row
            .opt_i32("risk_score")?
            .map(|r| u8::try_from(r).map_err(|_| corrupt("risk_score")))
            .transpose()?,
        metadata: row.json("metadata")?,
        link: audit_link_from_row(row)?,
    })
}

/// The chain link of an audit row: none when the three link columns are
/// NULL (an event written before chains existed), whole when all three are
/// set (position from 1, a 32-byte mac), with the personal fields' digest
/// when there is one (links written before digests existed have none); a
/// partial link, or a digest without a link, is a corrupt row.
fn audit_link_from_row(row: &dyn Row) -> StoreResult<Option<AuditLink>> {
    let chain = row.opt_uuid("chain_id")?;
    let seq = row.opt_i64("chain_seq")?;
    let mac = row.opt_bytes("chain_mac")?;
    let personal = row
        .opt_bytes("chain_personal")?
        .map(|digest| AuditMac::from_slice(&digest).map_err(|_| corrupt("chain_personal")))
        .transpose()?;
    match (chain, seq, mac) {
        (None, None, None) if personal.is_none() => Ok(None),
        (Some(chain), Some(seq), Some(mac)) => Ok(Some(AuditLink {
            chain: AuditChainId::from_uuid(chain),
            seq: u64::try_from(seq)
                .ok()
                .filter(|s| *s >= 1)
                .ok_or_else(|| corrupt("chain_seq"))?,
            mac: AuditMac::from_slice(&mac).map_err(|_| corrupt("chain_mac"))?,
            personal,
        })),
        _ => Err(corrupt("chain_id")),
    }
}

/// A model value read from a whole row of its table.
pub(crate) trait FromRow: Sized + Send {
    /// Reads the row.
    fn from_row(row: &dyn Row) -> StoreResult<Self>;
}

macro_rules! from_row {
    ($($t:ty => $read:ident),* $(,)?) => {
        $(impl FromRow for $t {
            fn from_row(row: &dyn Row) -> StoreResult<Self> {
                $read(row)
            }
        })*
    };
}

from_row!(
    User => user_from_row,
    Factor => factor_from_row,
    MfaSettings => settings_from_row,
    OtpChallenge => challenge_from_row,
    WebauthnCeremony => ceremony_from_row,
    PushRequest => push_request_from_row,
    LoginTicket => ticket_from_row,
    Device => device_from_row,
    Session => session_from_row,
    RefreshToken => refresh_from_row,
    AuditEvent => audit_from_row,
);

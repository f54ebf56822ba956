//! Push approval: a phone app holding a device key approves a sign-in,
//! the user matching the number the waiting browser shows.
//!
//! The steps, in the order a sign-in takes them:
//!
//! 1. enrolment, from a session with a fresh second factor (or an
//!    enrolment ticket): [`Mfa::start_push_enrolment`] hands out a
//!    single-use challenge, the app signs it with its new key, and
//!    [`Mfa::finish_push_enrolment`] stores the key, the push address and
//!    the device's description sealed in a factor of kind
//!    [`FactorKind::Push`];
//! 2. at sign-in (or step-up) the browser asks [`Mfa::request_push`]: the
//!    engine refuses a risky sign-in, applies the fatigue limits, stores a
//!    request bound to the ticket with a number to match, and pushes its id
//!    to every active app of the user;
//! 3. the app reads the request ([`Mfa::push_request_for_app`]: the
//!    sign-in's context and three numbers) and answers with a signed
//!    [`SignedPushAnswer`] ([`Mfa::answer_push`]);
//! 4. the browser watches [`Mfa::push_status`] and, once approved,
//!    completes the ticket with [`Mfa::complete_push`] (an AAL2 session).

use super::enroll::{Actor, Enrolled, Resolved};
use super::support::Audit;
use super::unit::{After, Step, direct, unit};
use super::verify::{Answer, CodeCheck};
use super::{ClientInfo, Inner, Mfa, Verified};
use crate::crypto::Aad;
use crate::crypto::push::{
    DeviceKeyAlgorithm, DevicePublicKey, NumberMatch, PushDecision, PushError, SignedPushAnswer,
    enrolment_message,
};
use crate::delivery::{PushNotice, PushSender};
use crate::error::{MfaError, MfaResult};
use crate::model::{
    AuditKind, AuditOutcome, AuthMethod, CeremonyPurpose, ChallengeId, DeviceInfo, Factor,
    FactorId, FactorKind, FactorStatus, LockScope, LockoutRule, NotificationKind, PushContext,
    PushRequest, PushRequestId, PushResolution, PushStatus, SealedSecret, SessionType, TicketId,
    TicketKind, User, UserId, WebauthnCeremony,
};
use crate::observability::step;
use crate::store::{FailureOutcome, RateHit};
use crate::template::PushNoticeValues;
use chrono::{DateTime, Utc};
use data_encoding::BASE64URL_NOPAD;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// Longest push address accepted, in bytes of JSON.
pub const MAX_PUSH_ADDRESS_LEN: usize = 4096;

/// A started push enrolment: the app signs `challenge` with its new key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEnrolmentChallenge {
    /// Identifies the enrolment: send it back with the proof.
    pub id: ChallengeId,
    /// What the app signs, with its public key, as
    /// [`enrolment_message`] lays out: 32 random bytes in base64url.
    pub challenge: String,
    /// The proof is refused from this time on.
    pub expires_at: DateTime<Utc>,
}

/// An app's enrolment: its key, where to push, and the proof that it holds
/// the private key.
pub struct PushEnrolment<'a> {
    /// The enrolment of [`Mfa::start_push_enrolment`].
    pub id: ChallengeId,
    /// The key's algorithm.
    pub algorithm: DeviceKeyAlgorithm,
    /// The public key, base64url (Ed25519: 32 bytes; P-256: the 65-byte
    /// uncompressed point).
    pub public_key: &'a str,
    /// Where to push, as the app's platform gave it (for example
    /// `{"kind": "fcm", "token": "…"}`; see `mfa_delivery::push::PushAddress`).
    pub address: &'a serde_json::Value,
    /// The signature over [`enrolment_message`] of the challenge and the
    /// key, base64url.
    pub signature: &'a str,
}

impl fmt::Debug for PushEnrolment<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushEnrolment")
            .field("id", &self.id)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// A push request made for a waiting sign-in: show `number` in the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushPending {
    /// The request; watch it with [`Mfa::push_status`].
    pub request: PushRequestId,
    /// The number the user picks in the app.
    pub number: u8,
    /// The app's answer is refused from this time on.
    pub expires_at: DateTime<Utc>,
    /// How many apps the push went to.
    pub devices: u32,
}

/// What the app shows for a request it was pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushPrompt {
    /// The request.
    pub request: PushRequestId,
    /// The three numbers to pick from; one is shown in the browser.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<u8>, min_items = 3, max_items = 3))]
    pub choices: [u8; 3],
    /// The sign-in the user is asked about.
    pub context: PushContext,
    /// When the sign-in asked.
    pub created_at: DateTime<Utc>,
    /// The answer is refused from this time on.
    pub expires_at: DateTime<Utc>,
}

/// Where a push request stands, as the waiting browser sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PushState {
    /// Waiting for the app.
    Pending,
    /// Approved: complete it with [`Mfa::complete_push`].
    Approved,
    /// Refused by the app (deny, or "this wasn't me").
    Denied,
    /// The app picked another number than the one shown.
    WrongNumber,
    /// Unanswered (or approved but not completed) in time.
    Expired,
    /// Completed: the sign-in is done.
    Completed,
}

impl PushState {
    /// The wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::WrongNumber => "wrong_number",
            Self::Expired => "expired",
            Self::Completed => "completed",
        }
    }

    /// Whether the state can still change.
    #[must_use]
    pub const fn is_final(self) -> bool {
        !matches!(self, Self::Pending | Self::Approved)
    }

    fn of(request: &PushRequest, now: DateTime<Utc>) -> Self {
        match request.status {
            _ if request.consumed_at.is_some() => Self::Completed,
            PushStatus::Pending | PushStatus::Approved if now >= request.expires_at => {
                Self::Expired
            }
            PushStatus::Pending => Self::Pending,
            PushStatus::Approved => Self::Approved,
            PushStatus::Denied | PushStatus::NotMe => Self::Denied,
            PushStatus::WrongNumber => Self::WrongNumber,
        }
    }
}

/// The outcome of an app's answer that was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushAnswered {
    /// The request answered.
    pub request: PushRequestId,
    /// What the answer made of it.
    pub state: PushState,
}

/// An enrolled push app, as a security page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushDeviceView {
    /// The factor.
    pub factor_id: FactorId,
    /// Its name.
    pub label: Option<String>,
    /// Active, or turned off (its push address is gone).
    pub status: FactorStatus,
    /// The key's algorithm.
    pub algorithm: DeviceKeyAlgorithm,
    /// SHA-256 of the public key, base64url: what the app can show to be
    /// recognised.
    pub key_thumbprint: String,
    /// The kind of push address (`web_push`, `fcm`, `apns`).
    pub address_kind: Option<String>,
    /// The device as it described itself at enrolment.
    pub device: DeviceInfo,
    /// The kind of client that enrolled it (`mobile` for a phone app).
    pub session_type: SessionType,
    /// Enrolment time.
    pub created_at: DateTime<Utc>,
    /// Last approval.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What a push factor keeps sealed.
#[derive(Clone, Serialize, Deserialize)]
struct DeviceRecord {
    algorithm: DeviceKeyAlgorithm,
    /// The public key, base64url.
    key: String,
    address: serde_json::Value,
    #[serde(default)]
    device: DeviceInfo,
    #[serde(default)]
    session_type: SessionType,
}

impl DeviceRecord {
    fn public_key(&self) -> MfaResult<DevicePublicKey> {
        DevicePublicKey::from_base64url(self.algorithm, &self.key)
            .map_err(|e| MfaError::Config(format!("stored push device key: {e}")))
    }

    fn seal(&self, keys: &crate::crypto::KeyRing, factor: &mut Factor) -> MfaResult<()> {
        let json = serde_json::to_vec(self)
            .map_err(|e| MfaError::Config(format!("push device record: {e}")))?;
        factor.secret = Some(
            keys.seal(&json, &Aad::factor(factor.user_id, factor.id))
                .map_err(MfaError::Crypto)?,
        );
        Ok(())
    }

    fn open(keys: &crate::crypto::KeyRing, factor: &Factor) -> MfaResult<Self> {
        let sealed = factor.secret.as_ref().ok_or(MfaError::MethodUnavailable)?;
        let json = keys
            .open(sealed, &Aad::factor(factor.user_id, factor.id))
            .map_err(MfaError::Crypto)?;
        serde_json::from_slice(json.expose())
            .map_err(|e| MfaError::Config(format!("push device record: {e}")))
    }
}

/// The state of an enrolment, sealed in its ceremony row.
#[derive(Serialize, Deserialize)]
struct EnrolmentState {
    challenge: String,
    label: Option<String>,
}

fn enrolment_aad(ceremony: &WebauthnCeremony) -> Aad {
    let mut context = ceremony.id.as_uuid().as_bytes().to_vec();
    if let Some(user) = ceremony.user_id {
        context.extend_from_slice(user.as_uuid().as_bytes());
    }
    Aad::custom("push-enrolment", &context)
}

/// A push to send once the step has committed.
pub(crate) struct PushSend {
    pub sender: Arc<dyn PushSender>,
    pub user: UserId,
    /// Each device: its factor and address.
    pub devices: Vec<(FactorId, serde_json::Value)>,
    pub notice: PushNotice,
}

/// The user's live push factors with their records.
fn devices_of(
    keys: &crate::crypto::KeyRing,
    factors: &[Factor],
    active_only: bool,
) -> MfaResult<Vec<(Factor, DeviceRecord)>> {
    factors
        .iter()
        .filter(|f| f.kind == FactorKind::Push && f.deleted_at.is_none())
        .filter(|f| !active_only || f.is_active())
        .map(|f| Ok((f.clone(), DeviceRecord::open(keys, f)?)))
        .collect()
}

impl Inner {
    /// The push sender, or [`MfaError::MethodUnavailable`] when push
    /// approval is not configured.
    fn push_sender(&self) -> MfaResult<Arc<dyn PushSender>> {
        self.push.clone().ok_or(MfaError::MethodUnavailable)
    }

    /// Sends a committed request's notices; a device whose address is gone
    /// is turned off. Fails only when no device could be reached.
    pub(crate) async fn deliver_push(&self, send: PushSend) -> MfaResult<()> {
        let mut reached = 0usize;
        let mut last_error = None;
        for (factor, address) in &send.devices {
            match send.sender.send_push(address, &send.notice).await {
                Ok(()) => reached += 1,
                Err(e) => {
                    if matches!(e, crate::delivery::DeliveryError::Gone) {
                        self.device_gone(send.user, *factor).await;
                    }
                    let audit =
                        Audit::new(AuditKind::PushRequested, AuditOutcome::Failure, self.now())
                            .user(send.user)
                            .factor(FactorKind::Push)
                            .meta(serde_json::json!({
                                "request": send.notice.request,
                                "factor": factor,
                                "error": e.to_string(),
                            }));
                    if let Err(e) = self.write_audit(vec![audit.event().clone()]).await {
                        tracing::warn!(error = %e, "could not audit a failed push");
                    }
                    last_error = Some(e);
                }
            }
        }
        match last_error {
            Some(e) if reached == 0 => Err(MfaError::Delivery(Box::new(e))),
            _ => Ok(()),
        }
    }

    /// Turns off a device whose push address the service says is gone.
    async fn device_gone(&self, user: UserId, factor: FactorId) {
        let turned_off = self
            .store
            .set_factor_status(factor, FactorStatus::Disabled)
            .await;
        if let Err(e) = &turned_off {
            tracing::warn!(error = %e, "could not turn off a push device whose address is gone");
        }
        let audit = Audit::new(AuditKind::PushDeviceGone, AuditOutcome::Success, self.now())
            .user(user)
            .factor(FactorKind::Push)
            .meta(serde_json::json!({ "factor": factor }));
        if let Err(e) = self.write_audit(vec![audit.event().clone()]).await {
            tracing::warn!(error = %e, "could not audit a gone push device");
        }
    }
}

impl Step<'_> {
    /// Takes the enrolment ceremony `id` opened for `user` and `ticket` or
    /// `session`; its state, or why not.
    async fn take_enrolment(
        &self,
        id: ChallengeId,
        resolved: &Resolved,
    ) -> MfaResult<Result<EnrolmentState, PushError>> {
        let Some(ceremony) = self
            .take_ceremony_for(
                id,
                CeremonyPurpose::PushEnrolment,
                Some(resolved.user.id),
                resolved.ticket.as_ref().map(|t| t.id),
                resolved.session.as_ref().map(|s| s.id),
            )
            .await?
        else {
            return Ok(Err(PushError::Closed));
        };
        let json = self
            .keys
            .open(&ceremony.state, &enrolment_aad(&ceremony))
            .map_err(MfaError::Crypto)?;
        let state = serde_json::from_slice(json.expose())
            .map_err(|e| MfaError::Config(format!("push enrolment state: {e}")))?;
        Ok(Ok(state))
    }

    /// Refuses, before any failure is counted, a completion that cannot
    /// be a guess: a request that is not the ticket's (`push_closed`), or
    /// one the app has not answered yet (`push_pending`: the browser asked
    /// too early).
    pub(crate) async fn push_answered(
        &self,
        ticket: TicketId,
        request: PushRequestId,
    ) -> MfaResult<()> {
        let found = self
            .push
            .get_push_request(request)
            .await?
            .filter(|r| r.ticket_id == ticket)
            .ok_or(MfaError::Push(PushError::Closed))?;
        if PushState::of(&found, self.now()) == PushState::Pending {
            return Err(MfaError::Push(PushError::Pending));
        }
        Ok(())
    }

    /// Checks that an approved request completes `ticket`, and consumes
    /// it: the second factor of [`Mfa::complete_push`].
    pub(crate) async fn check_push(
        &self,
        user: &User,
        factors: &[Factor],
        ticket: TicketId,
        request: PushRequestId,
    ) -> MfaResult<super::verify::Checked> {
        let refused = |e: PushError| Ok(super::verify::Checked::from(CodeCheck::Push(e)));
        let now = self.now();
        let Some(found) = self
            .push
            .get_push_request(request)
            .await?
            .filter(|r| r.ticket_id == ticket && r.user_id == user.id)
        else {
            return refused(PushError::Closed);
        };
        match PushState::of(&found, now) {
            PushState::Approved => {}
            PushState::Pending => return refused(PushError::Pending),
            PushState::Denied => return refused(PushError::Denied),
            PushState::WrongNumber => return refused(PushError::WrongNumber),
            PushState::Expired => return Ok(CodeCheck::Expired.into()),
            PushState::Completed => return refused(PushError::Closed),
        }
        // The device that approved must still be an active factor: one
        // removed (or turned off) since cannot complete a sign-in.
        let Some(device) = found.factor_id.and_then(|id| {
            factors
                .iter()
                .find(|f| f.id == id && f.kind == FactorKind::Push && f.is_active())
        }) else {
            return refused(PushError::Closed);
        };
        if !self.push.consume_push_request(request, now).await? {
            return refused(PushError::Closed);
        }
        self.factors.touch_factor(device.id, now).await?;
        let mut amr = vec![AuthMethod::Swk];
        if found.user_verified {
            amr.push(AuthMethod::User);
        }
        Ok(super::verify::Checked {
            check: CodeCheck::Accepted,
            amr,
        })
    }

    /// Locks the user's second factor at once (a "this wasn't me" answer):
    /// one failure counted under a rule whose threshold is one, so the lock
    /// lasts as the policy's lockout would, doubled by earlier failures.
    async fn lock_now(&self, user: &User, context: &PushContext) -> MfaResult<()> {
        let rule = LockoutRule {
            threshold: 1,
            ..self.policy.mfa_lockout
        };
        let now = self.now();
        let until = match self
            .users
            .record_failure(user.id, LockScope::Mfa, &rule, now)
            .await?
        {
            FailureOutcome::Counted { locked_until, .. } => locked_until,
            // Locked already, or the user is gone: nothing to add.
            FailureOutcome::Locked(_) | FailureOutcome::NotFound => None,
        };
        if let Some(until) = until {
            self.record(
                Audit::new(AuditKind::AccountLocked, AuditOutcome::Denied, now)
                    .user(user.id)
                    .meta(serde_json::json!({
                        "scope": "mfa",
                        "locked_until": until,
                        "reason": "push_not_me",
                    })),
            )
            .await?;
        }
        self.notify(
            user,
            NotificationKind::PushNotMe,
            serde_json::json!({ "ip": context.ip, "country": context.country }),
        );
        Ok(())
    }
}

impl Mfa {
    /// Starts enrolling a push approval app: a single-use challenge for
    /// the app to sign with the key pair it made on the device. Needs a
    /// session whose second factor is recent (or an enrolment ticket), like
    /// any enrolment.
    ///
    /// # Errors
    /// [`MfaError::MethodUnavailable`] when push approval is not
    /// configured, [`MfaError::InvalidInput`] for a bad label,
    /// [`MfaError::Push`] `push_too_many_devices`,
    /// [`MfaError::StepUpRequired`] without a recent second factor, ticket
    /// errors for [`Actor::Ticket`].
    pub async fn start_push_enrolment(
        &self,
        actor: Actor<'_>,
        label: Option<&str>,
    ) -> MfaResult<PushEnrolmentChallenge> {
        step!(
            "mfa.start_push_enrolment",
            method = FactorKind::Push,
            async {
                self.inner.push_sender()?;
                super::support::valid_label(label)?;
                unit!(&self.inner, |inner| {
                    let resolved = inner.resolve(actor).await?;
                    let user = &resolved.user;
                    let factors = inner.factors.list_factors(user.id).await?;
                    let enrolled = factors
                        .iter()
                        .filter(|f| f.kind == FactorKind::Push && f.deleted_at.is_none())
                        .count();
                    if enrolled >= inner.policy.push.max_devices as usize {
                        return Err(MfaError::Push(PushError::TooManyDevices));
                    }
                    let now = inner.now();
                    let challenge = BASE64URL_NOPAD.encode(&rand::random::<[u8; 32]>());
                    let mut ceremony = WebauthnCeremony {
                        id: ChallengeId::new(),
                        user_id: Some(user.id),
                        ticket_id: resolved.ticket.as_ref().map(|t| t.id),
                        session_id: resolved.session.as_ref().map(|s| s.id),
                        purpose: CeremonyPurpose::PushEnrolment,
                        state: SealedSecret::from_bytes(Vec::new()),
                        created_at: now,
                        expires_at: now + inner.policy.push.enrolment_ttl,
                        consumed_at: None,
                    };
                    let state = serde_json::to_vec(&EnrolmentState {
                        challenge: challenge.clone(),
                        label: label.map(str::to_owned),
                    })
                    .map_err(|e| MfaError::Config(format!("push enrolment state: {e}")))?;
                    ceremony.state = inner
                        .keys
                        .seal(&state, &enrolment_aad(&ceremony))
                        .map_err(MfaError::Crypto)?;
                    inner.challenges.create_ceremony(&ceremony).await?;
                    inner
                        .record(
                            Audit::new(
                                AuditKind::FactorEnrollmentStarted,
                                AuditOutcome::Success,
                                now,
                            )
                            .user(user.id)
                            .factor(FactorKind::Push)
                            .meta(serde_json::json!({ "ceremony": ceremony.id })),
                        )
                        .await?;
                    Ok(PushEnrolmentChallenge {
                        id: ceremony.id,
                        challenge,
                        expires_at: ceremony.expires_at,
                    })
                })
            }
        )
    }

    /// Finishes enrolling a push app: checks the key, the address and the
    /// proof, and stores the device as an active factor at once (the proof
    /// showed possession of the key). Like any first factor it comes with
    /// backup codes, and with [`Actor::Ticket`] the sign-in completes. The
    /// device's description is what the app sent in `client.device`, its
    /// gaps filled from the user agent ([`ClientInfo::described_device`]).
    ///
    /// The enrolment is single use: taken before the proof is checked, so
    /// a refused proof closes it too. Malformed input is refused before
    /// anything is read or written.
    ///
    /// # Errors
    /// [`MfaError::Push`] with the reason (`push_malformed_key`,
    /// `push_malformed`, `push_bad_address`, `push_closed`,
    /// `push_bad_signature`, `push_already_registered`,
    /// `push_too_many_devices`), and as [`Mfa::start_push_enrolment`].
    pub async fn finish_push_enrolment(
        &self,
        actor: Actor<'_>,
        enrolment: PushEnrolment<'_>,
        client: &ClientInfo,
    ) -> MfaResult<Enrolled> {
        step!(
            "mfa.finish_push_enrolment",
            method = FactorKind::Push,
            async {
                let client = &self.inner.admit(client).await?;
                let sender = self.inner.push_sender()?;
                let key =
                    DevicePublicKey::from_base64url(enrolment.algorithm, enrolment.public_key)
                        .map_err(MfaError::Push)?;
                if enrolment.signature.len() > 100 {
                    return Err(MfaError::Push(PushError::Malformed));
                }
                let signature = BASE64URL_NOPAD
                    .decode(enrolment.signature.as_bytes())
                    .map_err(|_| MfaError::Push(PushError::Malformed))?;
                let address_len =
                    serde_json::to_vec(enrolment.address).map_or(usize::MAX, |v| v.len());
                if address_len > MAX_PUSH_ADDRESS_LEN
                    || sender.check_address(enrolment.address).is_err()
                {
                    return Err(MfaError::Push(PushError::BadAddress));
                }
                unit!(&self.inner, |inner| {
                    let resolved = inner.resolve(actor).await?;
                    let taken = inner.take_enrolment(enrolment.id, &resolved).await?;
                    let Resolved { user, ticket, .. } = resolved;
                    let checked = match taken {
                        Ok(state) => key
                            .verify(&enrolment_message(&state.challenge, &key), &signature)
                            .map(|()| state),
                        Err(e) => Err(e),
                    };
                    // The enrolment's own devices are read in this unit: another
                    // enrolment of the same key may have committed since the start.
                    let factors = inner.factors.list_factors(user.id).await?;
                    let checked = match checked {
                        Ok(state) => {
                            let devices = devices_of(&inner.keys, &factors, false)?;
                            let thumbprint = key.thumbprint();
                            if devices.iter().any(|(_, r)| {
                                r.public_key().is_ok_and(|k| k.thumbprint() == thumbprint)
                            }) {
                                Err(PushError::AlreadyRegistered)
                            } else if devices.len() >= inner.policy.push.max_devices as usize {
                                Err(PushError::TooManyDevices)
                            } else {
                                Ok(state)
                            }
                        }
                        Err(e) => Err(e),
                    };
                    let state = match checked {
                        Ok(state) => state,
                        Err(e) => {
                            inner
                                .record(
                                    Audit::new(
                                        AuditKind::FactorEnrolled,
                                        AuditOutcome::Failure,
                                        inner.now(),
                                    )
                                    .user(user.id)
                                    .factor(FactorKind::Push)
                                    .client(client)
                                    .meta(serde_json::json!({ "reason": e.code() })),
                                )
                                .await?;
                            return Err(MfaError::Push(e));
                        }
                    };
                    let now = inner.now();
                    let mut factor = Factor::pending(user.id, FactorKind::Push, now);
                    factor.label = state.label.or_else(|| client.device.name.clone());
                    DeviceRecord {
                        algorithm: key.algorithm(),
                        key: key.to_base64url(),
                        address: enrolment.address.clone(),
                        device: client.described_device(),
                        session_type: client.session_type,
                    }
                    .seal(&inner.keys, &mut factor)?;
                    inner.factors.create_factor(&factor).await?;
                    inner.factors.activate_factor(factor.id, now).await?;
                    inner
                        .enrolled(&user, &factor, ticket, vec![AuthMethod::Swk], client)
                        .await
                })
            }
        )
    }

    /// Asks the user's apps to approve the sign-in (or step-up) of
    /// `ticket`: stores a request bound to the ticket with a number to
    /// match, and pushes its id to every active app once the step has
    /// committed. Show [`PushPending::number`] in the browser and watch
    /// [`Mfa::push_status`].
    ///
    /// Refused, before anything is sent, when the sign-in's risk score is
    /// at or above `policy.push.refuse_at_risk`, when
    /// `policy.push.max_pending` requests of the user wait already, and
    /// within `policy.push.cooldown` of the last request or beyond
    /// `policy.push.per_window` requests per window (MFA fatigue). A device
    /// whose push address is gone is turned off.
    ///
    /// # Errors
    /// [`MfaError::InvalidTicket`], [`MfaError::MethodUnavailable`] (push
    /// not configured, or no active app), [`MfaError::Push`]
    /// `push_risk_too_high`, [`MfaError::RateLimited`], and
    /// [`MfaError::Delivery`] when no app could be reached.
    pub async fn request_push(&self, ticket: &str, client: &ClientInfo) -> MfaResult<PushPending> {
        step!("mfa.request_push", method = FactorKind::Push, async {
            let client = &self.inner.admit(client).await?;
            let sender = self.inner.push_sender()?;
            unit!(&self.inner, |inner| {
                let (ticket, user, factors) = inner
                    .open_ticket_with_user(ticket, &[TicketKind::Mfa])
                    .await?;
                let devices = devices_of(&inner.keys, &factors, true)?;
                // Push is configured (checked above): an active app is all a
                // user needs.
                if devices.is_empty() {
                    return Err(MfaError::MethodUnavailable);
                }
                let policy = inner.policy.push;
                let now = inner.now();
                let refusal = |reason: &str| {
                    Audit::new(AuditKind::PushRequested, AuditOutcome::Denied, now)
                        .user(user.id)
                        .factor(FactorKind::Push)
                        .client(client)
                        .risk(ticket.risk_score)
                        .meta(serde_json::json!({ "reason": reason }))
                };
                if ticket.risk_score >= policy.refuse_at_risk {
                    inner.record(refusal("risk")).await?;
                    return Err(MfaError::Push(PushError::RiskTooHigh));
                }
                if inner.push.count_pending_push_requests(user.id, now).await? >= policy.max_pending
                {
                    inner.record(refusal("too_many_pending")).await?;
                    return Err(MfaError::RateLimited {
                        retry_after: policy
                            .cooldown
                            .max(chrono::TimeDelta::seconds(1))
                            .to_std()
                            .unwrap_or_default(),
                    });
                }
                let user_key = user.id.to_string();
                let cooldown_key = super::support::rate_key("push_cooldown:user", &user_key);
                let window_key = super::support::rate_key("push:user", &user_key);
                let mut hits = vec![RateHit {
                    key: &window_key,
                    limit: policy.per_window,
                    window: policy.window,
                }];
                if policy.cooldown > chrono::TimeDelta::zero() {
                    hits.insert(
                        0,
                        RateHit {
                            key: &cooldown_key,
                            limit: 1,
                            window: policy.cooldown,
                        },
                    );
                }
                let limited = inner.limit_all(&hits).await;
                if matches!(limited, Err(MfaError::RateLimited { .. })) {
                    inner.record(refusal("rate_limited")).await?;
                }
                limited?;

                let numbers = NumberMatch::generate();
                let context = PushContext {
                    ip: client.ip_text(),
                    country: client.country.clone(),
                    device: client
                        .device
                        .name
                        .clone()
                        .or_else(|| client.user_agent.clone()),
                    risk_score: ticket.risk_score,
                    step_up: ticket.session_id.is_some(),
                };
                let request = PushRequest {
                    id: PushRequestId::random(),
                    user_id: user.id,
                    ticket_id: ticket.id,
                    number: numbers.number,
                    choices: numbers.choices,
                    context: context.clone(),
                    status: PushStatus::Pending,
                    factor_id: None,
                    user_verified: false,
                    created_at: now,
                    expires_at: (now + policy.request_ttl).min(ticket.expires_at),
                    answered_at: None,
                    consumed_at: None,
                };
                // Rendered before anything is written: a host template that
                // fails refuses the request and leaves nothing behind.
                let text = inner
                    .templates
                    .render_push(&PushNoticeValues {
                        step_up: context.step_up,
                        device: context.device.as_deref(),
                        country: context.country.as_deref(),
                        expires_at: request.expires_at,
                        product_name: &inner.policy.product_name,
                        locale: user.locale.as_deref(),
                    })
                    .map_err(|e| MfaError::Delivery(Box::new(e)))?;
                inner.push.create_push_request(&request).await?;
                inner
                    .record(
                        Audit::new(AuditKind::PushRequested, AuditOutcome::Success, now)
                            .user(user.id)
                            .device(ticket.device_id)
                            .factor(FactorKind::Push)
                            .client(client)
                            .risk(ticket.risk_score)
                            .meta(serde_json::json!({
                                "request": request.id,
                                "devices": devices.len(),
                            })),
                    )
                    .await?;
                let devices_count = u32::try_from(devices.len()).unwrap_or(u32::MAX);
                inner.after_commit(After::Push(Box::new(PushSend {
                    sender: sender.clone(),
                    user: user.id,
                    devices: devices
                        .into_iter()
                        .map(|(f, r)| (f.id, r.address))
                        .collect(),
                    notice: PushNotice {
                        request: request.id,
                        title: text.title,
                        body: text.body,
                        expires_at: request.expires_at,
                        product_name: inner.policy.product_name.clone(),
                    },
                })));
                Ok(PushPending {
                    request: request.id,
                    number: request.number,
                    expires_at: request.expires_at,
                    devices: devices_count,
                })
            })
        })
    }

    /// What the app shows for request `id`: the sign-in's context and three
    /// numbers, one of them shown in the waiting browser. The id, 122
    /// random bits, reached the app through its push; the prompt names
    /// neither the user nor the right number, and answering needs the
    /// device key.
    ///
    /// # Errors
    /// [`MfaError::Push`] `push_closed` for an unknown, answered or expired
    /// request.
    pub async fn push_request_for_app(&self, id: PushRequestId) -> MfaResult<PushPrompt> {
        step!(
            "mfa.push_request_for_app",
            method = FactorKind::Push,
            async {
                direct!(&self.inner, |inner| {
                    let now = inner.now();
                    let request = inner
                        .push
                        .get_push_request(id)
                        .await?
                        .filter(|r| r.is_pending(now))
                        .ok_or(MfaError::Push(PushError::Closed))?;
                    Ok(PushPrompt {
                        request: request.id,
                        choices: request.choices,
                        context: request.context,
                        created_at: request.created_at,
                        expires_at: request.expires_at,
                    })
                })
            }
        )
    }

    /// Takes an app's signed answer (the JSON of [`SignedPushAnswer`]).
    ///
    /// The answer must be signed by the key of one of the user's active
    /// apps, within `policy.push.answer_skew` of now, for a pending
    /// request; exactly one answer per request is accepted, on every
    /// backend. Then:
    ///
    /// - **approve** with the number shown: the request is approved (with
    ///   `policy.push.require_user_verification`, only when the app says
    ///   the user unlocked the key); the attempt is counted before the
    ///   number is compared, like a code;
    /// - **approve** with another number: the request is refused for good
    ///   and the failure counts toward the lockout
    ///   ([`MfaError::Push`] `push_wrong_number`);
    /// - **deny**: the request is denied;
    /// - **not me**: denied, the second factor locks at once, and the user
    ///   is told through their email (or SMS) and the audit log.
    ///
    /// # Errors
    /// [`MfaError::Push`] with the reason (`push_malformed`,
    /// `push_closed`, `push_bad_signature`, `push_stale`,
    /// `push_wrong_number`, `push_user_verification_required`),
    /// [`MfaError::AccountLocked`] for an approval while the second factor
    /// is locked, [`MfaError::MethodUnavailable`] when push approval is not
    /// configured.
    pub async fn answer_push(&self, answer: &str) -> MfaResult<PushAnswered> {
        step!("mfa.answer_push", method = FactorKind::Push, async {
            self.inner.push_sender()?;
            let signed = SignedPushAnswer::from_json(answer).map_err(MfaError::Push)?;
            let id = PushRequestId::from_uuid(signed.answer.request);
            unit!(&self.inner, |inner| {
                let now = inner.now();
                let Some(request) = inner.push.get_push_request(id).await? else {
                    return Err(MfaError::Push(PushError::Closed));
                };
                let user = inner.user(request.user_id).await?;
                let factors = inner.factors.list_factors(user.id).await?;
                let devices = devices_of(&inner.keys, &factors, true)?;
                let answered_by = devices
                    .iter()
                    .find(|(_, r)| r.public_key().is_ok_and(|k| signed.verify(&k).is_ok()))
                    .map(|(f, _)| f.id);
                let audit = |outcome, reason: &str| {
                    Audit::new(AuditKind::PushAnswered, outcome, now)
                        .user(user.id)
                        .factor(FactorKind::Push)
                        .meta(serde_json::json!({
                            "request": id,
                            "factor": answered_by,
                            "decision": signed.answer.decision.as_str(),
                            "reason": reason,
                        }))
                };
                // Audits a refused answer and returns its error.
                macro_rules! refuse {
                    ($e:expr) => {{
                        let e: PushError = $e;
                        inner.record(audit(AuditOutcome::Failure, e.code())).await?;
                        return Err(MfaError::Push(e));
                    }};
                }
                let Some(factor_id) = answered_by else {
                    refuse!(PushError::BadSignature);
                };
                if !request.is_pending(now) {
                    refuse!(PushError::Closed);
                }
                let skew = (now.timestamp() - signed.answer.at).abs();
                if skew > inner.policy.push.answer_skew.num_seconds() {
                    refuse!(PushError::Stale);
                }
                let answer = &signed.answer;
                let status = match answer.decision {
                    PushDecision::Approve => {
                        if inner.policy.push.require_user_verification && !answer.user_verified {
                            refuse!(PushError::UserVerificationRequired);
                        }
                        // Counted before the number is compared (R56), and
                        // cleared only once the approval is recorded: an answer
                        // that loses the race for the request keeps its count.
                        let lock_started =
                            match inner.reserve_attempt(user.id, LockScope::Mfa).await {
                                Ok(started) => started,
                                Err(e) => {
                                    inner.record(audit(AuditOutcome::Denied, "locked")).await?;
                                    return Err(e);
                                }
                            };
                        if answer.number == request.number {
                            PushStatus::Approved
                        } else {
                            let resolved = inner
                                .push
                                .resolve_push_request(
                                    id,
                                    &PushResolution {
                                        status: PushStatus::WrongNumber,
                                        factor_id,
                                        user_verified: answer.user_verified,
                                        at: now,
                                    },
                                )
                                .await?;
                            inner
                                .record(audit(AuditOutcome::Failure, "wrong_number"))
                                .await?;
                            if let Some(until) = lock_started {
                                inner
                                    .lock_started(&user, LockScope::Mfa, until, None)
                                    .await?;
                            }
                            return Err(MfaError::Push(if resolved {
                                PushError::WrongNumber
                            } else {
                                PushError::Closed
                            }));
                        }
                    }
                    PushDecision::Deny => PushStatus::Denied,
                    PushDecision::NotMe => PushStatus::NotMe,
                };
                let resolved = inner
                    .push
                    .resolve_push_request(
                        id,
                        &PushResolution {
                            status,
                            factor_id,
                            user_verified: answer.user_verified,
                            at: now,
                        },
                    )
                    .await?;
                if !resolved {
                    refuse!(PushError::Closed);
                }
                match status {
                    PushStatus::Approved => {
                        inner.clear_failures(user.id, LockScope::Mfa).await?;
                        inner
                            .record(audit(AuditOutcome::Success, "approved"))
                            .await?;
                    }
                    PushStatus::NotMe => {
                        inner.record(audit(AuditOutcome::Denied, "not_me")).await?;
                        inner
                            .record(
                                Audit::new(AuditKind::PushNotMe, AuditOutcome::Denied, now)
                                    .user(user.id)
                                    .factor(FactorKind::Push)
                                    .meta(serde_json::json!({
                                        "request": id,
                                        "factor": factor_id,
                                        "ip": request.context.ip,
                                        "country": request.context.country,
                                    })),
                            )
                            .await?;
                        inner.lock_now(&user, &request.context).await?;
                    }
                    _ => {
                        inner.record(audit(AuditOutcome::Denied, "denied")).await?;
                    }
                }
                let mut answered = request;
                answered.status = status;
                Ok(PushAnswered {
                    request: id,
                    state: PushState::of(&answered, now),
                })
            })
        })
    }

    /// Where request `id` of `ticket` stands: what the waiting browser
    /// polls (or streams). Reads only.
    ///
    /// # Errors
    /// [`MfaError::InvalidTicket`] for a ticket that is closed, and
    /// [`MfaError::Push`] `push_closed` for a request that is not the
    /// ticket's.
    pub async fn push_status(&self, ticket: &str, id: PushRequestId) -> MfaResult<PushState> {
        step!("mfa.push_status", method = FactorKind::Push, async {
            direct!(&self.inner, |inner| {
                let (ticket, _user, _factors) = inner
                    .open_ticket_with_user(ticket, &[TicketKind::Mfa])
                    .await?;
                let request = inner
                    .push
                    .get_push_request(id)
                    .await?
                    .filter(|r| r.ticket_id == ticket.id)
                    .ok_or(MfaError::Push(PushError::Closed))?;
                Ok(PushState::of(&request, inner.now()))
            })
        })
    }

    /// Completes the sign-in (or step-up) of `ticket` with its approved
    /// push request: a new AAL2 session whose `amr` says `swk` (the device
    /// key) and, when the app unlocked it with a biometric or PIN, `user`.
    /// An approval completes once.
    ///
    /// A request not answered yet is refused without counting a failure;
    /// any other refusal counts toward the lockout, as a wrong code does.
    ///
    /// # Errors
    /// [`MfaError::Push`] (`push_pending`, `push_denied`,
    /// `push_wrong_number`, `push_closed`), [`MfaError::ChallengeExpired`],
    /// and as [`Mfa::verify`].
    pub async fn complete_push(
        &self,
        ticket: &str,
        request: PushRequestId,
        remember_device: bool,
        client: &ClientInfo,
    ) -> MfaResult<Verified> {
        step!("mfa.complete_push", method = FactorKind::Push, async {
            let client = &self.inner.admit(client).await?;
            self.inner.push_sender()?;
            self.answer_ticket(
                ticket,
                FactorKind::Push,
                Answer::Push { request },
                remember_device,
                client,
            )
            .await
        })
    }

    /// A user's push apps (active or turned off), as their security page
    /// lists them. Rename and remove them like any factor.
    ///
    /// # Errors
    /// Store and key-ring errors.
    pub async fn push_devices(&self, user: UserId) -> MfaResult<Vec<PushDeviceView>> {
        step!(
            "mfa.push_devices",
            user = user,
            method = FactorKind::Push,
            async {
                direct!(&self.inner, |inner| {
                    let factors = inner.factors.list_factors(user).await?;
                    devices_of(&inner.keys, &factors, false)?
                        .into_iter()
                        .map(|(f, r)| {
                            let key = r.public_key()?;
                            Ok(PushDeviceView {
                                factor_id: f.id,
                                label: f.label,
                                status: f.status,
                                algorithm: r.algorithm,
                                key_thumbprint: BASE64URL_NOPAD.encode(&key.thumbprint()),
                                address_kind: r
                                    .address
                                    .get("kind")
                                    .and_then(serde_json::Value::as_str)
                                    .map(str::to_owned),
                                device: r.device,
                                session_type: r.session_type,
                                created_at: f.created_at,
                                last_used_at: f.last_used_at,
                            })
                        })
                        .collect()
                })
            }
        )
    }
}

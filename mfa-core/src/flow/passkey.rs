//! The WebAuthn ceremonies: registering a passkey or security key, and
//! answering a login or step-up ticket with one.

use super::enroll::{Actor, Enrolled, Resolved};
use super::support::Audit;
use super::unit::{Step, direct, unit};
use super::verify::{Answer, Checked, CodeCheck, Verified};
use super::{ClientInfo, Inner, Mfa};
use crate::error::{MfaError, MfaResult, PasskeyError};
use crate::model::{
    AuditKind, AuditOutcome, AuthMethod, CeremonyPurpose, ChallengeId, Factor, FactorKind,
    FactorStatus, NotificationKind, SealedSecret, TicketId, TicketKind, User, UserId,
    WebauthnCeremony,
};
use crate::observability::step;
use crate::passkey::{
    AssertionResponse, AttestationResponse, CeremonyState, CredentialRecord, PasskeyInfo,
    RelyingParty, amr_of, credential_facts, open_credential, seal_credential,
};
use chrono::{DateTime, Utc};
use std::fmt;
use std::sync::Arc;
use webauthn_rs::prelude::{AuthenticationResult, Passkey};

/// The options of a WebAuthn ceremony for the browser, and the ceremony
/// they belong to.
#[derive(Debug, Clone, PartialEq)]
pub struct PasskeyChallenge {
    /// Identifies the ceremony: send it back with the browser's answer.
    pub ceremony: ChallengeId,
    /// `{"publicKey": …}`: pass to `navigator.credentials.create()` or
    /// `.get()` after turning its base64url fields into `ArrayBuffer`s
    /// (`PublicKeyCredential.parseCreationOptionsFromJSON` /
    /// `parseRequestOptionsFromJSON` in current browsers).
    pub options: serde_json::Value,
    /// The browser's answer is refused from this time on.
    pub expires_at: DateTime<Utc>,
}

/// A passkey answer for a login ticket.
pub struct PasskeyVerifyRequest<'a> {
    /// The ticket from [`Mfa::login`] or [`Mfa::begin_step_up`].
    pub ticket: &'a str,
    /// The ceremony of [`Mfa::passkey_options`] for that ticket.
    pub ceremony: ChallengeId,
    /// The JSON of the `PublicKeyCredential` that `navigator.credentials
    /// .get()` returned (`credential.toJSON()`).
    pub response: &'a str,
    /// Trust this device for `policy.device_trust.lifetime`.
    pub remember_device: bool,
    /// The client.
    pub client: &'a ClientInfo,
}

/// A passwordless sign-in with a passkey.
pub struct PasskeySignInRequest<'a> {
    /// The ceremony of [`Mfa::passkey_sign_in_options`].
    pub ceremony: ChallengeId,
    /// The JSON of the `PublicKeyCredential` that `navigator.credentials
    /// .get()` returned.
    pub response: &'a str,
    /// The client.
    pub client: ClientInfo,
}

impl fmt::Debug for PasskeySignInRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeySignInRequest")
            .field("ceremony", &self.ceremony)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for PasskeyVerifyRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeyVerifyRequest")
            .field("ceremony", &self.ceremony)
            .field("remember_device", &self.remember_device)
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// The relying party, or [`MfaError::MethodUnavailable`] when passkeys
    /// are not configured.
    fn relying_party(&self) -> MfaResult<Arc<RelyingParty>> {
        self.passkeys.clone().ok_or(MfaError::MethodUnavailable)
    }
}

/// The user's live WebAuthn factors with their credential records.
fn credentials_of<'f>(
    keys: &crate::crypto::KeyRing,
    factors: &'f [Factor],
    active_only: bool,
) -> MfaResult<Vec<(&'f Factor, CredentialRecord)>> {
    factors
        .iter()
        .filter(|f| f.kind == FactorKind::Webauthn && f.deleted_at.is_none())
        .filter(|f| !active_only || f.is_active())
        .map(|f| Ok((f, open_credential(keys, f)?)))
        .collect()
}

/// The credential ids of the user's live WebAuthn factors, active or not:
/// what a registration excludes.
fn credential_ids(
    keys: &crate::crypto::KeyRing,
    factors: &[Factor],
) -> MfaResult<Vec<webauthn_rs::prelude::CredentialID>> {
    Ok(credentials_of(keys, factors, false)?
        .into_iter()
        .map(|(_, r)| r.passkey.cred_id().clone())
        .collect())
}

impl Step<'_> {
    /// Stores a new ceremony with its sealed state; the challenge for the
    /// browser, with `options`.
    #[allow(clippy::too_many_arguments)]
    async fn open_ceremony(
        &self,
        purpose: CeremonyPurpose,
        user: Option<UserId>,
        ticket: Option<TicketId>,
        session: Option<crate::model::SessionId>,
        state: &CeremonyState,
        options: serde_json::Value,
        ttl: chrono::TimeDelta,
    ) -> MfaResult<PasskeyChallenge> {
        let now = self.now();
        let mut ceremony = WebauthnCeremony {
            id: ChallengeId::new(),
            user_id: user,
            ticket_id: ticket,
            session_id: session,
            purpose,
            state: SealedSecret::from_bytes(Vec::new()),
            created_at: now,
            expires_at: now + ttl,
            consumed_at: None,
        };
        state.seal_into(&self.keys, &mut ceremony)?;
        self.challenges.create_ceremony(&ceremony).await?;
        Ok(PasskeyChallenge {
            ceremony: ceremony.id,
            options,
            expires_at: ceremony.expires_at,
        })
    }

    /// Takes the ceremony `id` if it is open and was opened for `purpose`,
    /// `user` and `ticket` (or `session`); its state, or why not.
    async fn take(
        &self,
        id: ChallengeId,
        purpose: CeremonyPurpose,
        user: Option<UserId>,
        ticket: Option<TicketId>,
        session: Option<crate::model::SessionId>,
    ) -> MfaResult<Result<CeremonyState, PasskeyError>> {
        let Some(ceremony) = self
            .take_ceremony_for(id, purpose, user, ticket, session)
            .await?
        else {
            return Ok(Err(PasskeyError::CeremonyClosed));
        };
        Ok(Ok(CeremonyState::open(&self.keys, &ceremony)?))
    }

    /// Checks a passkey assertion answering `ticket`: takes the ceremony
    /// (single use), verifies the assertion against the user's active
    /// credentials, and moves the credential's signature counter forward
    /// atomically. A counter that does not move forward disables the
    /// credential, and is audited and announced.
    pub(crate) async fn check_passkey(
        &self,
        user: &User,
        factors: &[Factor],
        ticket: TicketId,
        ceremony: ChallengeId,
        response: &AssertionResponse,
    ) -> MfaResult<Checked> {
        let refused = |e: PasskeyError| Ok(Checked::from(CodeCheck::Passkey(e)));
        let rp = self.relying_party()?;
        let state = match self
            .take(
                ceremony,
                CeremonyPurpose::Login,
                Some(user.id),
                Some(ticket),
                None,
            )
            .await?
        {
            Ok(CeremonyState::Login { state }) => state,
            Ok(_) => return refused(PasskeyError::CeremonyClosed),
            Err(e) => return refused(e),
        };
        let credentials = credentials_of(&self.keys, factors, true)?;
        let Some((factor, record)) = credentials
            .into_iter()
            .find(|(_, r)| r.passkey.cred_id().as_slice() == response.credential_id())
        else {
            return refused(PasskeyError::UnknownCredential);
        };
        let verified = rp.finish_authentication(response, &state);
        Ok(match self.accept(user, factor, record, verified).await? {
            Ok(amr) => Checked {
                check: CodeCheck::Accepted,
                amr,
            },
            Err(e) => Checked::from(CodeCheck::Passkey(e)),
        })
    }

    /// What follows the relying party's verdict on an assertion by
    /// `factor`: a counter regression disables the credential; an accepted
    /// assertion moves the signature counter forward (the single winner: two
    /// assertions with the same counter, a clone racing its original, cannot
    /// both pass) and keeps the record's flags current. Returns the `amr`
    /// the assertion proved, or why it is refused.
    async fn accept(
        &self,
        user: &User,
        factor: &Factor,
        record: CredentialRecord,
        verified: Result<AuthenticationResult, PasskeyError>,
    ) -> MfaResult<Result<Vec<AuthMethod>, PasskeyError>> {
        let now = self.now();
        let result = match verified {
            Ok(result) => result,
            Err(PasskeyError::CounterRegression) => {
                self.suspect(user, factor, None).await?;
                return Ok(Err(PasskeyError::CounterRegression));
            }
            Err(e) => return Ok(Err(e)),
        };
        let counter = result.counter();
        let stored = factor.last_totp_step.unwrap_or(0);
        if counter > 0 || stored > 0 {
            if !self
                .factors
                .advance_totp_step(factor.id, i64::from(counter), now)
                .await?
            {
                self.suspect(user, factor, Some(counter)).await?;
                return Ok(Err(PasskeyError::CounterRegression));
            }
        } else {
            self.factors.touch_factor(factor.id, now).await?;
        }
        let mut updated = record;
        if result.needs_update() && updated.passkey.update_credential(&result) == Some(true) {
            // The backup state (or eligibility) changed: keep the record
            // current.
            let mut copy = factor.clone();
            seal_credential(&self.keys, &mut copy, &updated)?;
            if let Some(sealed) = &copy.secret {
                self.factors.set_factor_secret(factor.id, sealed).await?;
            }
        }
        let facts = credential_facts(&updated.passkey);
        Ok(Ok(amr_of(facts.backup_eligible, result.user_verified())))
    }

    /// One hit of `key` (`limit` per `window`); a refusal is audited as
    /// `action` (R46).
    async fn limit_one(
        &self,
        key: &str,
        limit: u32,
        window: chrono::TimeDelta,
        refusal: Audit,
    ) -> MfaResult<()> {
        let limited = self
            .limit_all(&[crate::store::RateHit { key, limit, window }])
            .await;
        if matches!(limited, Err(MfaError::RateLimited { .. })) {
            self.record(refusal).await?;
        }
        limited
    }

    /// Counts a passwordless request against the client IP's sign-in
    /// limit (the one password sign-ins use).
    async fn limit_sign_in(&self, client: &ClientInfo, action: &str) -> MfaResult<()> {
        let Some(ip) = client.ip_text() else {
            return Ok(());
        };
        let limits = self.policy.login_rate;
        let refusal = Audit::new(AuditKind::RateLimited, AuditOutcome::Denied, self.now())
            .client(client)
            .meta(serde_json::json!({ "action": action }));
        self.limit_one(
            &super::support::rate_key("login:ip", &ip),
            limits.per_ip,
            limits.window,
            refusal,
        )
        .await
    }

    /// Disables a credential whose authenticator may have been cloned, and
    /// says so in the audit log and to the user.
    async fn suspect(&self, user: &User, factor: &Factor, counter: Option<u32>) -> MfaResult<()> {
        let now = self.now();
        self.factors
            .set_factor_status(factor.id, FactorStatus::Disabled)
            .await?;
        self.record(
            Audit::new(AuditKind::PasskeySuspect, AuditOutcome::Denied, now)
                .user(user.id)
                .factor(FactorKind::Webauthn)
                .meta(serde_json::json!({
                    "factor": factor.id,
                    "counter": counter,
                    "stored_counter": factor.last_totp_step,
                })),
        )
        .await?;
        self.notify(
            user,
            NotificationKind::PasskeySuspect,
            serde_json::json!({ "label": factor.label.as_deref().unwrap_or("passkey") }),
        );
        Ok(())
    }
}

impl Mfa {
    /// Starts registering a passkey or security key: the options for
    /// `navigator.credentials.create()`. The user's registered credentials
    /// are excluded (an authenticator holding one refuses to make another),
    /// user verification is required, and attestation is not asked for.
    ///
    /// # Errors
    /// [`MfaError::MethodUnavailable`] when passkeys are not configured,
    /// [`MfaError::InvalidInput`] for a bad label,
    /// [`MfaError::StepUpRequired`] without a recent second factor, ticket
    /// errors for [`Actor::Ticket`].
    pub async fn start_passkey_registration(
        &self,
        actor: Actor<'_>,
        label: Option<&str>,
    ) -> MfaResult<PasskeyChallenge> {
        step!(
            "mfa.start_passkey_registration",
            method = FactorKind::Webauthn,
            async {
                let rp = self.inner.relying_party()?;
                super::support::valid_label(label)?;
                unit!(&self.inner, |inner| {
                    let Resolved {
                        user,
                        ticket,
                        session,
                    } = inner.resolve(actor).await?;
                    let factors = inner.factors.list_factors(user.id).await?;
                    let exclude = credential_ids(&inner.keys, &factors)?;
                    let (options, state) =
                        rp.start_registration(user.id, &user.identifier, exclude)?;
                    let ceremony = inner
                        .open_ceremony(
                            CeremonyPurpose::Registration,
                            Some(user.id),
                            ticket.map(|t| t.id),
                            session.map(|s| s.id),
                            &CeremonyState::Registration {
                                state,
                                label: label.map(str::to_owned),
                            },
                            options,
                            rp.ttl,
                        )
                        .await?;
                    inner
                        .record(
                            Audit::new(
                                AuditKind::FactorEnrollmentStarted,
                                AuditOutcome::Success,
                                inner.now(),
                            )
                            .user(user.id)
                            .factor(FactorKind::Webauthn)
                            .meta(serde_json::json!({ "ceremony": ceremony.ceremony })),
                        )
                        .await?;
                    Ok(ceremony)
                })
            }
        )
    }

    /// Finishes a registration with the browser's answer (the JSON of the
    /// `PublicKeyCredential` that `create()` returned). The credential
    /// becomes an active factor at once: the ceremony proved possession and
    /// user verification. Like any first factor it comes with backup codes,
    /// and with [`Actor::Ticket`] the sign-in completes.
    ///
    /// The ceremony is single use: taken before the answer is verified, so
    /// a refused answer closes it too. A malformed answer is refused before
    /// anything is read or written.
    ///
    /// # Errors
    /// [`MfaError::Passkey`] with the reason (malformed, ceremony closed,
    /// wrong origin, relying party or challenge, user not verified, already
    /// registered…), and as [`Mfa::start_passkey_registration`].
    pub async fn finish_passkey_registration(
        &self,
        actor: Actor<'_>,
        ceremony: ChallengeId,
        response: &str,
        client: &ClientInfo,
    ) -> MfaResult<Enrolled> {
        step!(
            "mfa.finish_passkey_registration",
            method = FactorKind::Webauthn,
            async {
                let client = &self.inner.admit(client).await?;
                let rp = self.inner.relying_party()?;
                let response =
                    AttestationResponse::from_json(response).map_err(MfaError::Passkey)?;
                unit!(&self.inner, |inner| {
                    let Resolved {
                        user,
                        ticket,
                        session,
                    } = inner.resolve(actor).await?;
                    let taken = inner
                        .take(
                            ceremony,
                            CeremonyPurpose::Registration,
                            Some(user.id),
                            ticket.as_ref().map(|t| t.id),
                            session.as_ref().map(|s| s.id),
                        )
                        .await?;
                    let registered = match taken {
                        Ok(CeremonyState::Registration { state, label }) => rp
                            .finish_registration(&response, &state)
                            .map(|(passkey, aaguid)| (passkey, aaguid, label)),
                        Ok(_) => Err(PasskeyError::CeremonyClosed),
                        Err(e) => Err(e),
                    };
                    // The relying party excluded the user's credentials in the
                    // options; the store is asked again, since the options were
                    // made before this unit.
                    let registered = match registered {
                        Ok((passkey, aaguid, label)) => {
                            let factors = inner.factors.list_factors(user.id).await?;
                            if credential_ids(&inner.keys, &factors)?.contains(passkey.cred_id()) {
                                Err(PasskeyError::AlreadyRegistered)
                            } else {
                                Ok((passkey, aaguid, label))
                            }
                        }
                        Err(e) => Err(e),
                    };
                    let (passkey, aaguid, label) = match registered {
                        Ok(done) => done,
                        Err(e) => {
                            inner
                                .record(
                                    Audit::new(
                                        AuditKind::FactorEnrolled,
                                        AuditOutcome::Failure,
                                        inner.now(),
                                    )
                                    .user(user.id)
                                    .factor(FactorKind::Webauthn)
                                    .client(client)
                                    .meta(serde_json::json!({ "reason": e.code() })),
                                )
                                .await?;
                            return Err(MfaError::Passkey(e));
                        }
                    };
                    let now = inner.now();
                    let mut factor = Factor::pending(user.id, FactorKind::Webauthn, now);
                    factor.label = label;
                    let facts = credential_facts(&passkey);
                    factor.last_totp_step = Some(i64::from(facts.counter));
                    seal_credential(
                        &inner.keys,
                        &mut factor,
                        &CredentialRecord {
                            passkey,
                            transports: response.transports(),
                            aaguid,
                        },
                    )?;
                    inner.factors.create_factor(&factor).await?;
                    inner.factors.activate_factor(factor.id, now).await?;
                    inner
                        .enrolled(
                            &user,
                            &factor,
                            ticket,
                            amr_of(facts.backup_eligible, facts.user_verified),
                            client,
                        )
                        .await
                })
            }
        )
    }

    /// The options for `navigator.credentials.get()` to answer a login or
    /// step-up ticket with a passkey: the user's active credentials are
    /// allowed, user verification is required. Each call stores a
    /// ceremony, so calls per user are limited like sign-in attempts
    /// (`policy.login_rate.per_identifier` per window).
    ///
    /// # Errors
    /// [`MfaError::InvalidTicket`], [`MfaError::RateLimited`], and
    /// [`MfaError::MethodUnavailable`] when passkeys are not configured or
    /// the user has none.
    pub async fn passkey_options(&self, ticket: &str) -> MfaResult<PasskeyChallenge> {
        step!(
            "mfa.passkey_options",
            method = FactorKind::Webauthn,
            async {
                let rp = self.inner.relying_party()?;
                unit!(&self.inner, |inner| {
                    let (ticket, user, factors) = inner
                        .open_ticket_with_user(ticket, &[TicketKind::Mfa])
                        .await?;
                    let limits = inner.policy.login_rate;
                    inner
                        .limit_one(
                            &super::support::rate_key("passkey_options:user", &user.id.to_string()),
                            limits.per_identifier,
                            limits.window,
                            Audit::new(AuditKind::RateLimited, AuditOutcome::Denied, inner.now())
                                .user(user.id)
                                .meta(serde_json::json!({ "action": "passkey_options" })),
                        )
                        .await?;
                    let credentials: Vec<Passkey> = credentials_of(&inner.keys, &factors, true)?
                        .into_iter()
                        .map(|(_, r)| r.passkey)
                        .collect();
                    if credentials.is_empty() {
                        return Err(MfaError::MethodUnavailable);
                    }
                    let (options, state) = rp.start_authentication(&credentials)?;
                    inner
                        .open_ceremony(
                            CeremonyPurpose::Login,
                            Some(user.id),
                            Some(ticket.id),
                            None,
                            &CeremonyState::Login { state },
                            options,
                            rp.ttl,
                        )
                        .await
                })
            }
        )
    }

    /// Completes a sign-in (or step-up) with a passkey: the second factor
    /// of [`Mfa::verify`], answered by an assertion instead of a code. The
    /// attempt counts toward the MFA lockout before the assertion is
    /// checked, exactly as a code does; the session is AAL2 and its `amr`
    /// says `hwk` or `swk` (a synced passkey), and `user`.
    ///
    /// # Errors
    /// [`MfaError::Passkey`] with the reason (a counter that went backwards
    /// also disables the credential and tells the user),
    /// [`MfaError::AccountLocked`], and as [`Mfa::verify`].
    pub async fn verify_passkey(&self, request: PasskeyVerifyRequest<'_>) -> MfaResult<Verified> {
        step!("mfa.verify_passkey", method = FactorKind::Webauthn, async {
            let client = &self.inner.admit(request.client).await?;
            self.inner.relying_party()?;
            let response =
                AssertionResponse::from_json(request.response).map_err(MfaError::Passkey)?;
            self.answer_ticket(
                request.ticket,
                FactorKind::Webauthn,
                Answer::Passkey {
                    ceremony: request.ceremony,
                    response: &response,
                },
                request.remember_device,
                client,
            )
            .await
        })
    }

    /// The options for a passwordless sign-in: `navigator.credentials
    /// .get()` with no credential named (and `mediation: "conditional"`, so
    /// a page can offer passkeys in the user-name field's autofill). They
    /// depend on nothing the caller sends, so they say nothing about which
    /// accounts exist. Each call stores a ceremony: it counts toward the
    /// per-IP sign-in limit.
    ///
    /// # Errors
    /// [`MfaError::MethodUnavailable`] when passkeys are not configured or
    /// `policy.methods.passwordless` is off, [`MfaError::RateLimited`],
    /// [`MfaError::InvalidInput`] for a malformed client.
    pub async fn passkey_sign_in_options(
        &self,
        client: &ClientInfo,
    ) -> MfaResult<PasskeyChallenge> {
        step!(
            "mfa.passkey_sign_in_options",
            method = FactorKind::Webauthn,
            async {
                let client = &self.inner.admit(client).await?;
                let rp = self.inner.relying_party()?;
                if self.inner.policy.methods.passwordless.is_none() {
                    return Err(MfaError::MethodUnavailable);
                }
                unit!(&self.inner, |inner| {
                    inner.limit_sign_in(client, "passkey_options").await?;
                    let (options, state) = rp.start_discoverable()?;
                    inner
                        .open_ceremony(
                            CeremonyPurpose::Passwordless,
                            None,
                            None,
                            None,
                            &CeremonyState::Passwordless { state },
                            options,
                            rp.ttl,
                        )
                        .await
                })
            }
        )
    }

    /// Signs in with a passkey alone (a discoverable credential whose
    /// authenticator verified the user): the credential names the account.
    /// At `policy.methods.passwordless` = AAL2 the sign-in is complete
    /// (`amr`: `hwk` or `swk`, and `user`); at AAL1 it stands for the
    /// password and the second factor is decided as after one. Device
    /// recognition, risk (a blocked sign-in stays blocked) and the MFA
    /// lockout apply as to any sign-in: the attempt is counted before the
    /// assertion is checked.
    ///
    /// Unknown accounts, deleted or disabled users and credentials that are
    /// not theirs all answer `passkey_unknown_credential`.
    ///
    /// # Errors
    /// [`MfaError::Passkey`] with the reason, [`MfaError::AccountLocked`],
    /// [`MfaError::LoginBlocked`], [`MfaError::RateLimited`], and as
    /// [`Mfa::passkey_sign_in_options`].
    pub async fn passkey_sign_in(
        &self,
        request: PasskeySignInRequest<'_>,
    ) -> MfaResult<crate::LoginOutcome> {
        step!(
            "mfa.passkey_sign_in",
            method = FactorKind::Webauthn,
            async {
                let client = &self.inner.admit(&request.client).await?;
                let rp = self.inner.relying_party()?;
                let Some(aal) = self.inner.policy.methods.passwordless else {
                    return Err(MfaError::MethodUnavailable);
                };
                let response =
                    AssertionResponse::from_json(request.response).map_err(MfaError::Passkey)?;
                let named = response.user_handle();
                unit!(&self.inner, |inner| {
                    inner.limit_sign_in(client, "passkey_sign_in").await?;
                    let state = match inner
                        .take(
                            request.ceremony,
                            CeremonyPurpose::Passwordless,
                            None,
                            None,
                            None,
                        )
                        .await?
                    {
                        Ok(CeremonyState::Passwordless { state }) => state,
                        Ok(_) => return Err(MfaError::Passkey(PasskeyError::CeremonyClosed)),
                        Err(e) => return Err(MfaError::Passkey(e)),
                    };
                    let unknown = || MfaError::Passkey(PasskeyError::UnknownCredential);
                    let Some(user_id) = named else {
                        return Err(unknown());
                    };
                    let mut context = inner.sign_in_context(user_id).await?;
                    let user = match context.user.take() {
                        Some(found) => Some(found),
                        None if inner.host_users.is_some() => inner.users.get_user(user_id).await?,
                        None => None,
                    }
                    .filter(|u| {
                        u.deleted_at.is_none() && u.status == crate::model::UserStatus::Active
                    });
                    let refused = |user: Option<UserId>, outcome, reason: &str| {
                        let audit = Audit::new(AuditKind::LoginRefused, outcome, inner.now())
                            .client(client)
                            .factor(FactorKind::Webauthn)
                            .meta(serde_json::json!({ "reason": reason }));
                        match user {
                            Some(id) => audit.user(id),
                            None => audit,
                        }
                    };
                    let Some(user) = user else {
                        inner
                            .record(refused(None, AuditOutcome::Failure, "unknown_credential"))
                            .await?;
                        return Err(unknown());
                    };
                    let credentials = credentials_of(&inner.keys, &context.factors, true)?;
                    let Some((factor, record)) = credentials
                        .into_iter()
                        .find(|(_, r)| r.passkey.cred_id().as_slice() == response.credential_id())
                    else {
                        inner
                            .record(refused(
                                Some(user.id),
                                AuditOutcome::Failure,
                                "unknown_credential",
                            ))
                            .await?;
                        return Err(unknown());
                    };
                    let factor = factor.clone();
                    let lock_started = match inner
                        .reserve_attempt(user.id, crate::model::LockScope::Mfa)
                        .await
                    {
                        Ok(started) => started,
                        Err(e) => {
                            inner
                                .record(refused(Some(user.id), AuditOutcome::Denied, "locked"))
                                .await?;
                            return Err(e);
                        }
                    };
                    let verified = rp.finish_discoverable(&response, state, &record.passkey);
                    let amr = match inner.accept(&user, &factor, record, verified).await? {
                        Ok(amr) => amr,
                        Err(e) => {
                            return Err(inner
                                .code_failed(
                                    &user,
                                    FactorKind::Webauthn,
                                    CodeCheck::Passkey(e),
                                    lock_started,
                                    client,
                                )
                                .await?);
                        }
                    };
                    inner
                        .clear_failures(user.id, crate::model::LockScope::Mfa)
                        .await?;
                    inner
                        .record(
                            Audit::new(
                                AuditKind::PrimaryAuthAccepted,
                                AuditOutcome::Success,
                                inner.now(),
                            )
                            .user(user.id)
                            .client(client)
                            .factor(FactorKind::Webauthn)
                            .meta(serde_json::json!({ "passwordless": true, "factor": factor.id })),
                        )
                        .await?;
                    let complete = (aal == crate::model::Aal::Aal2).then_some(aal);
                    inner
                        .after_first_factor(&user, context, &amr, complete, client)
                        .await
                })
            }
        )
    }

    /// A user's passkeys and security keys (active or disabled), as their
    /// security page lists them.
    ///
    /// # Errors
    /// [`MfaError::MethodUnavailable`] when passkeys are not configured;
    /// store and key-ring errors.
    pub async fn passkeys(&self, user: UserId) -> MfaResult<Vec<PasskeyInfo>> {
        step!(
            "mfa.passkeys",
            user = user,
            method = FactorKind::Webauthn,
            async {
                self.inner.relying_party()?;
                direct!(&self.inner, |inner| {
                    let factors = inner.factors.list_factors(user).await?;
                    Ok(credentials_of(&inner.keys, &factors, false)?
                        .iter()
                        .map(|(f, r)| PasskeyInfo::of(f, r))
                        .collect())
                })
            }
        )
    }
}

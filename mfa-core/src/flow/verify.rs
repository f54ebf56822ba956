//! Checking a second factor: TOTP, email/SMS code or backup code.

use super::support::{Audit, SessionIssue, TicketIssue};
use super::unit::{Step, unit};
use super::{ClientInfo, Inner, Mfa, Tokens};
use crate::crypto::{
    Aad, AccessClaims, BackupCode, OpaqueToken, OtpCode, TokenPurpose, Totp, TotpCode, TotpSecret,
};
use crate::error::{MfaError, MfaResult};
use crate::model::{
    AuditKind, AuditOutcome, AuthMethod, ChallengePurpose, Factor, FactorKind, LockScope,
    NotificationKind, RevocationReason, TicketId, TicketKind, User,
};
use crate::observability::step;
use crate::store::ChallengeAttempt;
use chrono::DateTime;
use chrono::Utc;
use std::fmt;

/// A second-factor answer for a login ticket.
pub struct VerifyRequest<'a> {
    /// The ticket from [`Mfa::login`] or [`Mfa::begin_step_up`].
    pub ticket: &'a str,
    /// Which method the code is for.
    pub method: FactorKind,
    /// The code as the user typed it.
    pub code: &'a str,
    /// Trust this device for `policy.device_trust.lifetime`.
    pub remember_device: bool,
    /// The client.
    pub client: &'a ClientInfo,
}

impl fmt::Debug for VerifyRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyRequest")
            .field("method", &self.method)
            .field("remember_device", &self.remember_device)
            .finish_non_exhaustive()
    }
}

/// The fields of a second-factor step other than the answer.
struct AnswerFields<'a> {
    ticket: &'a str,
    method: FactorKind,
    remember_device: bool,
    client: &'a ClientInfo,
}

/// A completed second factor.
#[derive(Debug)]
pub struct Verified {
    /// The new session's tokens (with a trust token when the device was
    /// remembered).
    pub tokens: Tokens,
    /// Backup codes left, when one was used.
    pub backup_codes_remaining: Option<u32>,
}

/// How a code compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeCheck {
    Accepted,
    Wrong,
    /// A TOTP code whose step was already accepted (RFC 6238 §5.2).
    Replayed,
    Expired,
    /// A WebAuthn answer the relying party refused.
    #[cfg(feature = "passkeys")]
    Passkey(crate::error::PasskeyError),
    /// A push request that cannot complete the ticket.
    Push(crate::crypto::push::PushError),
}

/// What answers a second-factor step.
pub(crate) enum Answer<'a> {
    /// A code as the user typed it.
    Code(&'a str),
    /// A WebAuthn assertion for a ceremony of the ticket.
    #[cfg(feature = "passkeys")]
    Passkey {
        ceremony: crate::model::ChallengeId,
        response: &'a crate::passkey::AssertionResponse,
    },
    /// An approved push request of the ticket.
    Push {
        request: crate::model::PushRequestId,
    },
}

/// An accepted or refused answer, with the methods it proved.
pub(crate) struct Checked {
    pub check: CodeCheck,
    /// `amr` values of the accepted answer (RFC 8176).
    pub amr: Vec<AuthMethod>,
}

impl From<CodeCheck> for Checked {
    fn from(check: CodeCheck) -> Self {
        Self {
            check,
            amr: Vec::new(),
        }
    }
}

pub(crate) fn method_amr(kind: FactorKind) -> AuthMethod {
    match kind {
        FactorKind::Totp => AuthMethod::Otp,
        FactorKind::Email => AuthMethod::Email,
        FactorKind::Sms => AuthMethod::Sms,
        FactorKind::BackupCodes => AuthMethod::Backup,
        // A credential whose flags are unknown here: hardware-bound is
        // what registration without backup eligibility means. The
        // assertion itself says more (see `passkey::amr_of`).
        FactorKind::Webauthn => AuthMethod::Hwk,
        // A key in the phone's keystore: whether it is hardware-bound is
        // not proved to us, so the weaker claim.
        FactorKind::Push => AuthMethod::Swk,
    }
}

impl Inner {
    /// Opens the sealed seed of a TOTP factor.
    pub fn totp_of(&self, user: &User, factor: &Factor) -> MfaResult<Totp> {
        let sealed = factor.secret.as_ref().ok_or(MfaError::MethodUnavailable)?;
        let params = factor.totp.unwrap_or(self.policy.totp.params);
        let secret = self
            .keys
            .open(sealed, &Aad::factor(user.id, factor.id))
            .map_err(MfaError::Crypto)?;
        let secret = TotpSecret::from_bytes(secret.expose().to_vec()).map_err(MfaError::Crypto)?;
        Totp::new(secret, params, &self.policy.totp.issuer, &user.identifier)
            .map_err(MfaError::Crypto)
    }
}

impl Step<'_> {
    /// Checks a TOTP code against `factor` and spends its step. Every
    /// candidate step is evaluated (constant time inside `verify_at`).
    pub async fn check_totp(
        &self,
        user: &User,
        factor: &Factor,
        code: &str,
    ) -> MfaResult<CodeCheck> {
        let totp = self.totp_of(user, factor)?;
        let Ok(code) = TotpCode::parse(code, totp.params().digits) else {
            return Ok(CodeCheck::Wrong);
        };
        let now = self.now();
        let step = totp
            .verify_at(&code, now.timestamp(), self.policy.totp.skew)
            .map_err(MfaError::Crypto)?;
        let Some(step) = step else {
            return Ok(CodeCheck::Wrong);
        };
        let step = i64::try_from(step).map_err(|_| MfaError::InvalidCode)?;
        if self.factors.advance_totp_step(factor.id, step, now).await? {
            Ok(CodeCheck::Accepted)
        } else {
            Ok(CodeCheck::Replayed)
        }
    }

    /// Checks an email/SMS code against the open challenge of `factor` for
    /// `purpose` (and `ticket`), counting the attempt first and consuming
    /// the challenge on success.
    pub async fn check_otp(
        &self,
        factor: &Factor,
        purpose: ChallengePurpose,
        ticket: Option<TicketId>,
        code: &str,
    ) -> MfaResult<CodeCheck> {
        let now = self.now();
        let Some(challenge) = self.challenges.latest_challenge(factor.id, purpose).await? else {
            return Ok(CodeCheck::Wrong);
        };
        if challenge.ticket_id != ticket {
            return Ok(CodeCheck::Wrong);
        }
        match self
            .challenges
            .record_challenge_attempt(challenge.id, now)
            .await?
        {
            ChallengeAttempt::Allowed { .. } => {}
            ChallengeAttempt::Exhausted => return Ok(CodeCheck::Wrong),
            ChallengeAttempt::Closed if now >= challenge.expires_at => {
                return Ok(CodeCheck::Expired);
            }
            ChallengeAttempt::Closed => return Ok(CodeCheck::Wrong),
        }
        let digits = self.otp_policy(challenge.channel).digits;
        let Ok(code) = OtpCode::parse(code, digits) else {
            return Ok(CodeCheck::Wrong);
        };
        if !self
            .keys
            .verify_otp(challenge.id, &code, &challenge.code_hash)
        {
            return Ok(CodeCheck::Wrong);
        }
        if self.challenges.consume_challenge(challenge.id, now).await? {
            Ok(CodeCheck::Accepted)
        } else {
            Ok(CodeCheck::Expired)
        }
    }

    /// Consumes a backup code, atomically.
    pub async fn check_backup(&self, user: &User, code: &str) -> MfaResult<CodeCheck> {
        let Ok(code) = BackupCode::parse(code) else {
            return Ok(CodeCheck::Wrong);
        };
        // One digest per loaded root secret, the current one first: codes
        // made before a root rotation are stored under an older root. One
        // store call for all of them; the store answers the codes left
        // too, which the caller asks for next.
        let current = self.keys.hash_backup_code(user.id, &code);
        let digests: Vec<_> = std::iter::once(current)
            .chain(self.keys.older_backup_code_digests(user.id, &code))
            .collect();
        let spent = self
            .backup_codes
            .spend_backup_code(user.id, &digests, self.now())
            .await?;
        Ok(if spent.is_some() {
            CodeCheck::Accepted
        } else {
            CodeCheck::Wrong
        })
    }

    /// Checks a sign-in or step-up answer for `method`.
    async fn check_login_code(
        &self,
        user: &User,
        factors: &[Factor],
        method: FactorKind,
        ticket: TicketId,
        answer: &Answer<'_>,
    ) -> MfaResult<Checked> {
        let code = match answer {
            Answer::Code(code) => *code,
            #[cfg(feature = "passkeys")]
            Answer::Passkey { ceremony, response } => {
                return self
                    .check_passkey(user, factors, ticket, *ceremony, response)
                    .await;
            }
            Answer::Push { request } => {
                return self.check_push(user, factors, ticket, *request).await;
            }
        };
        let check = self.check_code(user, factors, method, ticket, code).await?;
        Ok(Checked {
            check,
            amr: vec![method_amr(method)],
        })
    }

    /// Checks a typed code for `method`.
    async fn check_code(
        &self,
        user: &User,
        factors: &[Factor],
        method: FactorKind,
        ticket: TicketId,
        code: &str,
    ) -> MfaResult<CodeCheck> {
        let mut of_kind = factors.iter().filter(|f| f.kind == method && f.is_active());
        match method {
            FactorKind::Totp => {
                for factor in of_kind {
                    match self.check_totp(user, factor, code).await? {
                        CodeCheck::Wrong => {}
                        other => return Ok(other),
                    }
                }
                Ok(CodeCheck::Wrong)
            }
            FactorKind::Email | FactorKind::Sms => {
                let factor = of_kind.next().ok_or(MfaError::MethodUnavailable)?;
                self.check_otp(factor, ChallengePurpose::Login, Some(ticket), code)
                    .await
            }
            FactorKind::BackupCodes => self.check_backup(user, code).await,
            // A passkey answers with an assertion (`Mfa::verify_passkey`),
            // never with a typed code.
            FactorKind::Webauthn => Err(MfaError::invalid_input(
                "method",
                "a passkey is answered with verify_passkey",
            )),
            // A push is answered by the app, and completed with
            // `Mfa::complete_push`.
            FactorKind::Push => Err(MfaError::invalid_input(
                "method",
                "a push approval is completed with complete_push",
            )),
        }
    }

    /// Issues a trust token for a device just verified with a full second
    /// factor (R28).
    pub async fn remember(
        &self,
        user: &User,
        device: crate::model::DeviceId,
        client: &ClientInfo,
    ) -> MfaResult<Option<String>> {
        let now = self.now();
        let token = OpaqueToken::generate();
        let until = now + self.policy.device_trust.lifetime;
        if !self
            .devices
            .trust_device(device, &token.hash(TokenPurpose::DeviceTrust), until, now)
            .await?
        {
            return Ok(None);
        }
        self.record(
            Audit::new(AuditKind::DeviceTrusted, AuditOutcome::Success, now)
                .user(user.id)
                .device(Some(device))
                .client(client)
                .meta(serde_json::json!({ "until": until })),
        )
        .await?;
        self.notify(
            user,
            NotificationKind::DeviceTrusted,
            serde_json::json!({
                "device": client.described_device().description(),
                "ip": client.ip_text(),
            }),
        );
        Ok(Some(token.expose().to_owned()))
    }

    /// Audits a failed answer and, when the failure started a lock, audits
    /// and announces the lock.
    pub async fn code_failed(
        &self,
        user: &User,
        method: FactorKind,
        check: CodeCheck,
        lock_started: Option<DateTime<Utc>>,
        client: &ClientInfo,
    ) -> MfaResult<MfaError> {
        let now = self.now();
        if check == CodeCheck::Replayed {
            self.record(
                Audit::new(AuditKind::TotpReplay, AuditOutcome::Denied, now)
                    .user(user.id)
                    .factor(method)
                    .client(client),
            )
            .await?;
            self.notify(user, NotificationKind::OtpReplay, serde_json::json!({}));
        }
        self.record(
            Audit::new(AuditKind::MfaVerification, AuditOutcome::Failure, now)
                .user(user.id)
                .factor(method)
                .client(client)
                .meta(serde_json::json!({
                    "reason": match check {
                        CodeCheck::Replayed => "replayed",
                        CodeCheck::Expired => "expired",
                        #[cfg(feature = "passkeys")]
                        CodeCheck::Passkey(e) => e.code(),
                        CodeCheck::Push(e) => e.code(),
                        _ => "wrong_code",
                    }
                })),
        )
        .await?;
        if let Some(until) = lock_started {
            self.lock_started(user, LockScope::Mfa, until, Some(client))
                .await?;
        }
        Ok(match check {
            CodeCheck::Expired => MfaError::ChallengeExpired,
            #[cfg(feature = "passkeys")]
            CodeCheck::Passkey(e) => MfaError::Passkey(e),
            CodeCheck::Push(e) => MfaError::Push(e),
            _ => MfaError::InvalidCode,
        })
    }
}

impl Mfa {
    /// Completes a sign-in (or step-up) with a second factor.
    ///
    /// The attempt is counted against the account before the code is
    /// compared; wrong, malformed, replayed and used-up codes all answer
    /// [`MfaError::InvalidCode`]. At `policy.mfa_lockout.threshold`
    /// consecutive failures, across every method, session and IP, the second
    /// factor locks ([`MfaError::AccountLocked`], with `retry_after`), and
    /// the user is notified. Success creates a new AAL2 session; with
    /// `remember_device` the device gets a trust token.
    ///
    /// # Errors
    /// [`MfaError::InvalidTicket`], [`MfaError::ChallengeExpired`],
    /// [`MfaError::MethodUnavailable`], [`MfaError::AccountLocked`],
    /// [`MfaError::InvalidCode`].
    pub async fn verify(&self, request: VerifyRequest<'_>) -> MfaResult<Verified> {
        step!("mfa.verify", method = request.method, async {
            let client = &self.inner.admit(request.client).await?;
            self.answer_ticket(
                request.ticket,
                request.method,
                Answer::Code(request.code),
                request.remember_device,
                client,
            )
            .await
        })
    }

    /// The body of [`Mfa::verify`] and [`Mfa::verify_passkey`]: counts the
    /// attempt, checks `answer` and, when accepted, completes the ticket.
    pub(crate) async fn answer_ticket(
        &self,
        ticket_token: &str,
        method: FactorKind,
        answer: Answer<'_>,
        remember_device: bool,
        client: &ClientInfo,
    ) -> MfaResult<Verified> {
        let request = AnswerFields {
            ticket: ticket_token,
            method,
            remember_device,
            client,
        };
        unit!(&self.inner, |inner| {
            // One read of the ticket, the user and the factors serves the
            // method check and the code check; a used-up backup-code set
            // simply fails to consume.
            let (ticket, user, factors) = inner
                .open_ticket_with_user(request.ticket, &[TicketKind::Mfa])
                .await?;
            if let Answer::Push { request } = &answer {
                inner.push_answered(ticket.id, *request).await?;
            }
            if !inner.methods_of(&factors).contains(&request.method) {
                return Err(MfaError::MethodUnavailable);
            }
            let lock_started = match inner.reserve_attempt(user.id, LockScope::Mfa).await {
                Ok(started) => started,
                Err(e) => {
                    inner
                        .record(
                            Audit::new(
                                AuditKind::MfaVerification,
                                AuditOutcome::Denied,
                                inner.now(),
                            )
                            .user(user.id)
                            .factor(request.method)
                            .client(request.client)
                            .meta(serde_json::json!({ "reason": "locked" })),
                        )
                        .await?;
                    return Err(e);
                }
            };
            let Checked { check, amr: proved } = inner
                .check_login_code(&user, &factors, request.method, ticket.id, &answer)
                .await?;
            if check != CodeCheck::Accepted {
                return Err(inner
                    .code_failed(&user, request.method, check, lock_started, request.client)
                    .await?);
            }
            inner.clear_failures(user.id, LockScope::Mfa).await?;
            inner.consume_ticket(&ticket).await?;
            let now = inner.now();
            inner
                .record(
                    Audit::new(AuditKind::MfaVerification, AuditOutcome::Success, now)
                        .user(user.id)
                        .device(ticket.device_id)
                        .factor(request.method)
                        .client(request.client)
                        .risk(ticket.risk_score),
                )
                .await?;

            let mut backup_codes_remaining = None;
            if request.method == FactorKind::BackupCodes {
                let remaining = inner.backup_codes.remaining_backup_codes(user.id).await?;
                backup_codes_remaining = Some(remaining);
                inner
                    .record(
                        Audit::new(AuditKind::BackupCodeUsed, AuditOutcome::Success, now)
                            .user(user.id)
                            .factor(FactorKind::BackupCodes)
                            .meta(serde_json::json!({ "remaining": remaining })),
                    )
                    .await?;
                inner.notify(
                    &user,
                    NotificationKind::BackupCodeUsed,
                    serde_json::json!({ "remaining": remaining }),
                );
                if remaining <= inner.policy.backup_codes.low_threshold {
                    inner
                        .record(
                            Audit::new(AuditKind::BackupCodesLow, AuditOutcome::Success, now)
                                .user(user.id)
                                .meta(serde_json::json!({ "remaining": remaining })),
                        )
                        .await?;
                    inner.notify(
                        &user,
                        NotificationKind::BackupCodesLow,
                        serde_json::json!({ "remaining": remaining }),
                    );
                }
            }

            if let Some(replaced) = ticket.session_id {
                inner
                    .sessions
                    .revoke_session(replaced, RevocationReason::SteppedUp, now)
                    .await?;
            }
            let mut amr = ticket.amr.clone();
            amr.extend(proved);
            let mut tokens = inner
                .start_session(SessionIssue {
                    user_id: user.id,
                    device: ticket.device_id,
                    client: request.client,
                    aal: inner.policy.methods.aal_of(request.method),
                    amr,
                    mfa_at: Some(now),
                    risk_score: ticket.risk_score,
                })
                .await?;
            if request.remember_device
                && inner.policy.device_trust.enabled
                && let Some(device) = ticket.device_id
            {
                tokens.trust_token = inner.remember(&user, device, request.client).await?;
            }
            Ok(Verified {
                tokens,
                backup_codes_remaining,
            })
        })
    }

    /// Starts a step-up: re-verification of a second factor for an existing
    /// session. Answer the returned ticket with [`Mfa::verify`]; success
    /// replaces the session with a new one whose MFA time is now (R37).
    ///
    /// # Errors
    /// [`MfaError::InvalidToken`] when the session is gone,
    /// [`MfaError::MethodUnavailable`] when the user has no second factor.
    pub async fn begin_step_up(&self, claims: &AccessClaims) -> MfaResult<super::LoginOutcome> {
        step!("mfa.begin_step_up", async {
            unit!(&self.inner, |inner| {
                let session = inner.live_session(claims).await?;
                let user = inner.user(session.user_id).await?;
                let methods = inner.usable_methods(user.id).await?;
                if methods.is_empty() {
                    return Err(MfaError::MethodUnavailable);
                }
                let primary: Vec<AuthMethod> = session
                    .amr
                    .iter()
                    .copied()
                    .filter(|m| matches!(m, AuthMethod::Pwd | AuthMethod::Ext))
                    .collect();
                let (ticket, issued) = inner
                    .issue_ticket(TicketIssue {
                        user: &user,
                        kind: TicketKind::Mfa,
                        amr: primary,
                        device: session.device_id,
                        risk_score: session.risk_score,
                        replaces: Some(session.id),
                    })
                    .await?;
                inner
                    .record(
                        Audit::new(AuditKind::StepUp, AuditOutcome::Success, inner.now())
                            .user(user.id)
                            .session(session.id)
                            .meta(serde_json::json!({ "methods": methods })),
                    )
                    .await?;
                Ok(super::LoginOutcome::MfaRequired {
                    ticket,
                    methods,
                    expires_at: issued.expires_at,
                })
            })
        })
    }
}

//! Enrolment and removal of second factors, and backup codes.

use super::challenge::ChallengeSent;
use super::support::{Audit, SessionIssue};
use super::unit::{Step, direct, unit};
use super::verify::{CodeCheck, method_amr};
use super::{ClientInfo, Mfa, Tokens};
use crate::crypto::{Aad, AccessClaims, BackupCode, SecretString, TotpSecret};
use crate::error::{MfaError, MfaResult};
use crate::model::{
    Aal, AuditKind, AuditOutcome, BackupCodeRecord, ChallengePurpose, Factor, FactorId, FactorKind,
    FactorStatus, LockScope, LoginTicket, NotificationKind, RevocationReason, Session, TicketKind,
    User, UserId,
};
use crate::observability::step;
use std::fmt;

/// Who asks for a factor change.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// A signed-in user (claims from [`Mfa::authenticate`]). When the user
    /// already has a second factor, the session must have verified one within
    /// `policy.session.reauth_window`; otherwise its sign-in must be that
    /// recent (R37).
    Session(&'a AccessClaims),
    /// A user enrolling a first factor during sign-in, with the ticket of
    /// [`super::LoginOutcome::EnrollmentRequired`]. Confirming the factor
    /// completes the sign-in. Refused ([`MfaError::StepUpRequired`]) once the
    /// user has a second factor.
    Ticket(&'a str),
}

/// A started TOTP enrolment: show the QR code (or the secret), then confirm
/// with a code from the app. Every field is secret.
pub struct TotpEnrollment {
    /// The pending factor.
    pub factor_id: FactorId,
    /// The seed in base32, for manual entry.
    pub secret: SecretString,
    /// `otpauth://` URI for authenticator apps.
    pub otpauth_uri: SecretString,
    /// The URI as an SVG QR code.
    pub qr_svg: SecretString,
}

impl fmt::Debug for TotpEnrollment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpEnrollment")
            .field("factor_id", &self.factor_id)
            .finish_non_exhaustive()
    }
}

/// Backup codes, shown to the user once and never again.
pub struct BackupCodes {
    /// The codes, formatted `XXXX-XXXX-XXXX-XXXX`.
    pub codes: Vec<SecretString>,
}

impl fmt::Debug for BackupCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BackupCodes({} codes, [redacted])", self.codes.len())
    }
}

/// A confirmed factor.
#[derive(Debug)]
pub struct Enrolled {
    /// The now active factor.
    pub factor_id: FactorId,
    /// Backup codes, generated with the user's first factor.
    pub backup_codes: Option<BackupCodes>,
    /// Tokens, when the enrolment completed a sign-in ([`Actor::Ticket`]).
    pub tokens: Option<Tokens>,
}

/// A started email/SMS enrolment: a code went to the new destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationPending {
    /// The pending factor.
    pub factor_id: FactorId,
    /// The code that was sent.
    pub sent: ChallengeSent,
}

/// The user an [`Actor`] stands for, with the ticket or session it came
/// with.
pub(crate) struct Resolved {
    pub user: User,
    pub ticket: Option<LoginTicket>,
    pub session: Option<Session>,
}

fn valid_email(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else {
        return false;
    };
    address.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !address.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
}

fn valid_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
}

impl Step<'_> {
    pub(crate) async fn resolve(&self, actor: Actor<'_>) -> MfaResult<Resolved> {
        let inner = self;
        let now = inner.now();
        let window = inner.policy.session.reauth_window;
        match actor {
            Actor::Session(claims) => {
                let session = inner.live_session(claims).await?;
                let user = inner.user(session.user_id).await?;
                let has_factor = inner
                    .usable_methods(user.id)
                    .await?
                    .iter()
                    .any(|k| *k != FactorKind::BackupCodes);
                // A second factor verified within the window, whatever
                // assurance its method gives (`policy.methods.email_aal`).
                let fresh_at = if has_factor {
                    session.mfa_at
                } else {
                    Some(session.mfa_at.unwrap_or(session.created_at))
                };
                if fresh_at.is_none_or(|at| now - at > window) {
                    return Err(MfaError::StepUpRequired);
                }
                Ok(Resolved {
                    user,
                    ticket: None,
                    session: Some(session),
                })
            }
            Actor::Ticket(token) => {
                let ticket = inner.open_ticket(token, &[TicketKind::Enrollment]).await?;
                let user = inner.user(ticket.user_id).await?;
                // An enrolment ticket proves only the first factor: once the
                // user has a second factor (enrolled elsewhere since the
                // ticket was issued), changes need a step-up (R37).
                if inner
                    .usable_methods(user.id)
                    .await?
                    .iter()
                    .any(|k| *k != FactorKind::BackupCodes)
                {
                    return Err(MfaError::StepUpRequired);
                }
                Ok(Resolved {
                    user,
                    ticket: Some(ticket),
                    session: None,
                })
            }
        }
    }

    /// Soft-deletes a user's earlier pending factors of `kind`: a restarted
    /// enrolment replaces an abandoned one.
    async fn drop_pending(&self, user: UserId, kind: FactorKind) -> MfaResult<()> {
        let inner = self;
        for f in inner.factors.list_factors(user).await? {
            if f.kind == kind && f.status == FactorStatus::Pending {
                inner.factors.soft_delete_factor(f.id, inner.now()).await?;
            }
        }
        Ok(())
    }

    pub(crate) async fn started(&self, user: &User, factor: &Factor) -> MfaResult<()> {
        self.record(
            Audit::new(
                AuditKind::FactorEnrollmentStarted,
                AuditOutcome::Success,
                self.now(),
            )
            .user(user.id)
            .factor(factor.kind)
            .meta(serde_json::json!({ "factor": factor.id })),
        )
        .await
    }

    /// The end of every enrolment: audits and announces the new active
    /// `factor`, voids remembered devices, hands out backup codes with the
    /// user's first factor and, for an enrolment ticket, completes the
    /// sign-in with the methods the enrolment `proved` (RFC 8176).
    pub(crate) async fn enrolled(
        &self,
        user: &User,
        factor: &Factor,
        ticket: Option<LoginTicket>,
        proved: Vec<crate::model::AuthMethod>,
        client: &ClientInfo,
    ) -> MfaResult<Enrolled> {
        let inner = self;
        let now = inner.now();
        inner
            .record(
                Audit::new(AuditKind::FactorEnrolled, AuditOutcome::Success, now)
                    .user(user.id)
                    .factor(factor.kind)
                    .client(client)
                    .meta(serde_json::json!({ "factor": factor.id })),
            )
            .await?;
        inner.notify(
            user,
            NotificationKind::FactorAdded,
            serde_json::json!({ "method": factor.kind.as_str() }),
        );
        // A new factor voids every remembered device (DESIGN §5).
        inner.devices.revoke_all_device_trust(user.id).await?;

        let backup_codes = if inner.policy.methods.backup_codes
            && inner.backup_codes.remaining_backup_codes(user.id).await? == 0
        {
            Some(inner.issue_backup_codes(user).await?)
        } else {
            None
        };
        let tokens = match ticket {
            Some(ticket) => {
                inner.consume_ticket(&ticket).await?;
                let mut amr = ticket.amr.clone();
                amr.extend(proved);
                Some(
                    inner
                        .start_session(SessionIssue {
                            user_id: user.id,
                            device: ticket.device_id,
                            client,
                            aal: inner.policy.methods.aal_of(factor.kind),
                            amr,
                            mfa_at: Some(now),
                            risk_score: ticket.risk_score,
                        })
                        .await?,
                )
            }
            None => None,
        };
        Ok(Enrolled {
            factor_id: factor.id,
            backup_codes,
            tokens,
        })
    }

    async fn issue_backup_codes(&self, user: &User) -> MfaResult<BackupCodes> {
        let inner = self;
        let now = inner.now();
        let count = inner.policy.backup_codes.count as usize;
        let codes = BackupCode::generate_set(count).map_err(MfaError::Crypto)?;
        let records: Vec<BackupCodeRecord> = codes
            .iter()
            .map(|c| BackupCodeRecord::new(user.id, inner.keys.hash_backup_code(user.id, c), now))
            .collect();
        if inner
            .factors
            .list_factors(user.id)
            .await?
            .iter()
            .all(|f| f.kind != FactorKind::BackupCodes)
        {
            let factor = Factor::pending(user.id, FactorKind::BackupCodes, now);
            inner.factors.create_factor(&factor).await?;
            inner.factors.activate_factor(factor.id, now).await?;
        }
        inner
            .backup_codes
            .replace_backup_codes(user.id, &records)
            .await?;
        inner
            .record(
                Audit::new(AuditKind::BackupCodesGenerated, AuditOutcome::Success, now)
                    .user(user.id)
                    .factor(FactorKind::BackupCodes)
                    .meta(serde_json::json!({ "count": count })),
            )
            .await?;
        inner.notify(
            user,
            NotificationKind::BackupCodesGenerated,
            serde_json::json!({ "count": count }),
        );
        Ok(BackupCodes {
            codes: codes.iter().map(BackupCode::display).collect(),
        })
    }
}

impl Mfa {
    /// Starts enrolling an authenticator app.
    ///
    /// # Errors
    /// [`MfaError::MethodUnavailable`] when TOTP is off,
    /// [`MfaError::StepUpRequired`] without a recent enough authentication,
    /// ticket errors for [`Actor::Ticket`].
    pub async fn enroll_totp(
        &self,
        actor: Actor<'_>,
        label: Option<&str>,
    ) -> MfaResult<TotpEnrollment> {
        step!("mfa.enroll_totp", method = FactorKind::Totp, async {
            unit!(&self.inner, |inner| {
                if !inner.policy.methods.totp {
                    return Err(MfaError::MethodUnavailable);
                }
                super::support::valid_label(label)?;
                let Resolved { user, .. } = inner.resolve(actor).await?;
                inner.drop_pending(user.id, FactorKind::Totp).await?;
                let params = inner.policy.totp.params;
                let secret = TotpSecret::generate(params.algorithm);
                let mut factor = Factor::pending(user.id, FactorKind::Totp, inner.now());
                factor.label = label.map(str::to_owned);
                factor.totp = Some(params);
                factor.secret = Some(
                    inner
                        .keys
                        .seal(secret.expose(), &Aad::factor(user.id, factor.id))
                        .map_err(MfaError::Crypto)?,
                );
                let base32 = secret.to_base32();
                let totp = inner.totp_of(&user, &factor)?;
                inner.factors.create_factor(&factor).await?;
                inner.started(&user, &factor).await?;
                Ok(TotpEnrollment {
                    factor_id: factor.id,
                    secret: base32,
                    otpauth_uri: totp.otpauth_uri(),
                    qr_svg: totp.qr_svg().map_err(MfaError::Crypto)?,
                })
            })
        })
    }

    /// Starts enrolling an email address: a code goes to it.
    ///
    /// # Errors
    /// [`MfaError::InvalidInput`] for a malformed address, and as
    /// [`Mfa::enroll_totp`].
    pub async fn enroll_email(
        &self,
        actor: Actor<'_>,
        address: &str,
    ) -> MfaResult<DestinationPending> {
        step!("mfa.enroll_email", method = FactorKind::Email, async {
            let address = address.trim();
            if !valid_email(address) {
                return Err(MfaError::invalid_input("email", "not an email address"));
            }
            self.enroll_destination(actor, FactorKind::Email, address.to_ascii_lowercase())
                .await
        })
    }

    /// Starts enrolling a phone number (E.164, e.g. `+41791234567`): a code
    /// goes to it by SMS.
    ///
    /// # Errors
    /// [`MfaError::InvalidInput`] for a number not in E.164 form, and as
    /// [`Mfa::enroll_totp`].
    pub async fn enroll_sms(&self, actor: Actor<'_>, phone: &str) -> MfaResult<DestinationPending> {
        step!("mfa.enroll_sms", method = FactorKind::Sms, async {
            let phone = phone.trim();
            if !valid_e164(phone) {
                return Err(MfaError::invalid_input("phone", "not an E.164 number"));
            }
            self.enroll_destination(actor, FactorKind::Sms, phone.to_owned())
                .await
        })
    }

    async fn enroll_destination(
        &self,
        actor: Actor<'_>,
        kind: FactorKind,
        destination: String,
    ) -> MfaResult<DestinationPending> {
        unit!(&self.inner, |inner| {
            let enabled = match kind {
                FactorKind::Email => inner.policy.methods.email,
                _ => inner.policy.methods.sms,
            };
            if !enabled {
                return Err(MfaError::MethodUnavailable);
            }
            let Resolved { user, .. } = inner.resolve(actor).await?;
            if kind == FactorKind::Sms && !inner.policy.methods.sms_as_only_factor {
                let methods = &inner.policy.methods;
                let alternative = inner.factors.list_factors(user.id).await?.iter().any(|f| {
                    f.status == FactorStatus::Active
                        && f.deleted_at.is_none()
                        && match f.kind {
                            FactorKind::Totp | FactorKind::Webauthn | FactorKind::Push => true,
                            FactorKind::Email => methods.aal_of(FactorKind::Email) == Aal::Aal2,
                            FactorKind::Sms | FactorKind::BackupCodes => false,
                        }
                });
                if !alternative {
                    return Err(MfaError::Conflict(
                        "SMS is a restricted authenticator: enrol an authenticator app first",
                    ));
                }
            }
            inner.drop_pending(user.id, kind).await?;
            let mut factor = Factor::pending(user.id, kind, inner.now());
            factor.destination = Some(destination.clone());
            inner.factors.create_factor(&factor).await?;
            inner.started(&user, &factor).await?;
            let sent = inner
                .send_code(&user, &factor, ChallengePurpose::Enrollment, None)
                .await?;
            Ok(DestinationPending {
                factor_id: factor.id,
                sent,
            })
        })
    }

    /// Confirms a pending factor with a code: from the authenticator app for
    /// TOTP, from the message for email and SMS. The first confirmed factor
    /// comes with backup codes (when enabled); with [`Actor::Ticket`] the
    /// sign-in completes.
    ///
    /// # Errors
    /// [`MfaError::NotFound`] for a factor that is not the user's pending
    /// one, [`MfaError::InvalidCode`], [`MfaError::ChallengeExpired`],
    /// [`MfaError::AccountLocked`], and as [`Mfa::enroll_totp`].
    pub async fn confirm_factor(
        &self,
        actor: Actor<'_>,
        factor_id: FactorId,
        code: &str,
        client: &ClientInfo,
    ) -> MfaResult<Enrolled> {
        step!("mfa.confirm_factor", async {
            let client = &self.inner.admit(client).await?;
            unit!(&self.inner, |inner| {
                let Resolved { user, ticket, .. } = inner.resolve(actor).await?;
                let factor = inner
                    .factors
                    .get_factor(factor_id)
                    .await?
                    .filter(|f| {
                        f.user_id == user.id
                            && f.status == FactorStatus::Pending
                            && f.deleted_at.is_none()
                    })
                    .ok_or(MfaError::NotFound)?;
                crate::observability::note_method(factor.kind);
                let lock_started = inner.reserve_attempt(user.id, LockScope::Mfa).await?;
                let check = match factor.kind {
                    FactorKind::Totp => inner.check_totp(&user, &factor, code).await?,
                    FactorKind::Email | FactorKind::Sms => {
                        inner
                            .check_otp(&factor, ChallengePurpose::Enrollment, None, code)
                            .await?
                    }
                    // Backup codes are never pending; a WebAuthn credential or
                    // a push app is created active by its enrolment proof.
                    FactorKind::BackupCodes | FactorKind::Webauthn | FactorKind::Push => {
                        return Err(MfaError::NotFound);
                    }
                };
                if check != CodeCheck::Accepted {
                    return Err(inner
                        .code_failed(&user, factor.kind, check, lock_started, client)
                        .await?);
                }
                inner.clear_failures(user.id, LockScope::Mfa).await?;
                let now = inner.now();
                if !inner.factors.activate_factor(factor.id, now).await? {
                    return Err(MfaError::Conflict("factor already confirmed"));
                }
                inner
                    .enrolled(
                        &user,
                        &factor,
                        ticket,
                        vec![method_amr(factor.kind)],
                        client,
                    )
                    .await
            })
        })
    }

    /// Replaces every backup code of the user with a new set, shown once.
    ///
    /// # Errors
    /// [`MfaError::MethodUnavailable`] when backup codes are off, and as
    /// [`Mfa::enroll_totp`].
    pub async fn regenerate_backup_codes(&self, actor: Actor<'_>) -> MfaResult<BackupCodes> {
        step!(
            "mfa.regenerate_backup_codes",
            method = FactorKind::BackupCodes,
            async {
                if !self.inner.policy.methods.backup_codes {
                    return Err(MfaError::MethodUnavailable);
                }
                unit!(&self.inner, |inner| {
                    let Resolved { user, .. } = inner.resolve(actor).await?;
                    inner.issue_backup_codes(&user).await
                })
            }
        )
    }

    /// Removes a factor. Removing the last app/email/SMS factor removes the
    /// backup codes too. Device trust and the user's other sessions end.
    ///
    /// # Errors
    /// [`MfaError::NotFound`] for a factor that is not the user's, and as
    /// [`Mfa::enroll_totp`].
    pub async fn remove_factor(&self, actor: Actor<'_>, factor_id: FactorId) -> MfaResult<()> {
        step!("mfa.remove_factor", async {
            unit!(&self.inner, |inner| {
                let Resolved { user, session, .. } = inner.resolve(actor).await?;
                let factor = inner
                    .factors
                    .get_factor(factor_id)
                    .await?
                    .filter(|f| f.user_id == user.id && f.deleted_at.is_none())
                    .ok_or(MfaError::NotFound)?;
                crate::observability::note_method(factor.kind);
                let now = inner.now();
                inner.factors.soft_delete_factor(factor.id, now).await?;
                let remaining = inner.factors.list_factors(user.id).await?;
                let last_primary = !remaining
                    .iter()
                    .any(|f| f.is_active() && f.kind != FactorKind::BackupCodes);
                if factor.kind == FactorKind::BackupCodes || last_primary {
                    inner.backup_codes.delete_backup_codes(user.id).await?;
                    for f in remaining
                        .iter()
                        .filter(|f| f.kind == FactorKind::BackupCodes)
                    {
                        inner.factors.soft_delete_factor(f.id, now).await?;
                    }
                }
                inner.devices.revoke_all_device_trust(user.id).await?;
                inner
                    .sessions
                    .revoke_user_sessions(
                        user.id,
                        session.map(|s| s.id),
                        RevocationReason::FactorsChanged,
                        now,
                    )
                    .await?;
                inner
                    .record(
                        Audit::new(AuditKind::FactorRemoved, AuditOutcome::Success, now)
                            .user(user.id)
                            .factor(factor.kind)
                            .meta(serde_json::json!({ "factor": factor.id })),
                    )
                    .await?;
                inner.notify(
                    &user,
                    NotificationKind::FactorRemoved,
                    serde_json::json!({ "method": factor.kind.as_str() }),
                );
                Ok(())
            })
        })
    }

    /// Renames one of the user's factors (`None` clears the name); audited.
    ///
    /// # Errors
    /// [`MfaError::InvalidInput`] for a name that is empty, longer than 64
    /// bytes or has control characters, [`MfaError::NotFound`] for a factor
    /// that is not the user's, and as [`Mfa::enroll_totp`] (a recent second
    /// factor is needed, like every factor change).
    pub async fn rename_factor(
        &self,
        actor: Actor<'_>,
        factor_id: FactorId,
        label: Option<&str>,
    ) -> MfaResult<()> {
        step!("mfa.rename_factor", async {
            super::support::valid_label(label)?;
            unit!(&self.inner, |inner| {
                let Resolved { user, .. } = inner.resolve(actor).await?;
                let factor = inner
                    .factors
                    .get_factor(factor_id)
                    .await?
                    .filter(|f| f.user_id == user.id && f.deleted_at.is_none())
                    .ok_or(MfaError::NotFound)?;
                crate::observability::note_method(factor.kind);
                if !inner.factors.set_factor_label(factor.id, label).await? {
                    return Err(MfaError::NotFound);
                }
                inner
                    .record(
                        Audit::new(AuditKind::FactorRenamed, AuditOutcome::Success, inner.now())
                            .user(user.id)
                            .factor(factor.kind)
                            .meta(serde_json::json!({ "factor": factor.id })),
                    )
                    .await
            })
        })
    }

    /// A user's factors (pending and active), without their sealed secrets.
    ///
    /// # Errors
    /// Store errors.
    pub async fn factors(&self, user: UserId) -> MfaResult<Vec<Factor>> {
        step!("mfa.factors", user = user, async {
            direct!(&self.inner, |inner| {
                Ok(inner
                    .factors
                    .list_factors(user)
                    .await?
                    .into_iter()
                    .map(|mut f| {
                        f.secret = None;
                        f
                    })
                    .collect())
            })
        })
    }

    /// Unused backup codes of a user.
    ///
    /// # Errors
    /// Store errors.
    pub async fn backup_codes_remaining(&self, user: UserId) -> MfaResult<u32> {
        step!("mfa.backup_codes_remaining", user = user, async {
            direct!(&self.inner, |inner| {
                Ok(inner.backup_codes.remaining_backup_codes(user).await?)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_and_phone_shapes_are_checked() {
        assert!(valid_email("a@example.com"));
        assert!(!valid_email("a@example"));
        assert!(!valid_email("@example.com"));
        assert!(!valid_email("a b@example.com"));
        assert!(valid_e164("+41791234567"));
        assert!(!valid_e164("0791234567"));
        assert!(!valid_e164("+0791234567"));
        assert!(!valid_e164("+4179123456789012"));
    }
}

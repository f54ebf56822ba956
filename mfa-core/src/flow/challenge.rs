//! Sending email and SMS codes.

use super::support::{Audit, rate_key, retry_after};
use super::unit::{After, Step, direct, unit};
use super::{Inner, Mfa};
use crate::crypto::OtpCode;
use crate::delivery::{Message, OtpCodeText, OtpMessage, mask_destination};
use crate::error::{MfaError, MfaResult};
use crate::model::{
    AuditKind, AuditOutcome, ChallengeId, ChallengePurpose, Factor, FactorKind, OtpChallenge,
    OtpChannel, TicketId, TicketKind, User,
};
use crate::observability::step;
use crate::policy::OtpPolicy;
use crate::store::RateHit;
use chrono::{DateTime, TimeDelta, Utc};

/// A code was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeSent {
    /// Where to, masked for display (`a***@example.com`, `***67`).
    pub masked_destination: String,
    /// The code expires at this time.
    pub expires_at: DateTime<Utc>,
    /// A new code can be requested from this time on.
    pub resend_after: DateTime<Utc>,
}

pub(crate) const fn channel_kind(channel: OtpChannel) -> FactorKind {
    match channel {
        OtpChannel::Email => FactorKind::Email,
        OtpChannel::Sms => FactorKind::Sms,
    }
}

impl Inner {
    pub fn otp_policy(&self, channel: OtpChannel) -> &OtpPolicy {
        match channel {
            OtpChannel::Email => &self.policy.email_otp,
            OtpChannel::Sms => &self.policy.sms_otp,
        }
    }

    fn method_enabled(&self, channel: OtpChannel) -> bool {
        match channel {
            OtpChannel::Email => self.policy.methods.email,
            OtpChannel::Sms => self.policy.methods.sms,
        }
    }
}

impl Step<'_> {
    /// Generates a code for `factor`, stores its digest (closing any earlier
    /// code of the same factor and purpose), and sends it once the step has
    /// committed (a failed send fails the step; the code stays issued and a
    /// resend replaces it). Resend cooldown
    /// and per-destination and per-user caps apply; the attempt count of a
    /// superseded challenge carries over, so resending never buys more
    /// guesses (NIST SP 800-63B-4 §3.1.3.2).
    pub async fn send_code(
        &self,
        user: &User,
        factor: &Factor,
        purpose: ChallengePurpose,
        ticket: Option<TicketId>,
    ) -> MfaResult<ChallengeSent> {
        let channel = match factor.kind {
            FactorKind::Email => OtpChannel::Email,
            FactorKind::Sms => OtpChannel::Sms,
            _ => return Err(MfaError::MethodUnavailable),
        };
        if !self.method_enabled(channel) {
            return Err(MfaError::MethodUnavailable);
        }
        let delivery = match channel {
            OtpChannel::Email => self.email.clone(),
            OtpChannel::Sms => self.sms.clone(),
        }
        .ok_or(MfaError::MethodUnavailable)?;
        let destination = factor
            .destination
            .clone()
            .ok_or(MfaError::MethodUnavailable)?;
        let policy = *self.otp_policy(channel);
        let now = self.now();

        let previous = self.challenges.latest_challenge(factor.id, purpose).await?;
        if let Some(prev) = &previous {
            let ready = prev.created_at + policy.resend_after;
            if now < ready {
                self.record(
                    Audit::new(AuditKind::RateLimited, AuditOutcome::Denied, now)
                        .user(user.id)
                        .factor(factor.kind)
                        .meta(serde_json::json!({ "action": "resend_cooldown" })),
                )
                .await?;
                return Err(MfaError::RateLimited {
                    retry_after: retry_after(ready - now),
                });
            }
        }
        let hour = TimeDelta::hours(1);
        let limited = self
            .limit_all(&[
                RateHit {
                    key: &rate_key("otp:dest", &destination),
                    limit: policy.sends_per_destination_per_hour,
                    window: hour,
                },
                RateHit {
                    key: &format!("otp:user:{}", user.id),
                    limit: policy.sends_per_user_per_hour,
                    window: hour,
                },
            ])
            .await;
        if let Err(e) = limited {
            self.record(
                Audit::new(AuditKind::RateLimited, AuditOutcome::Denied, now)
                    .user(user.id)
                    .factor(factor.kind)
                    .meta(serde_json::json!({ "action": "send_code" })),
            )
            .await?;
            return Err(e);
        }

        let code = OtpCode::generate(policy.digits).map_err(MfaError::Crypto)?;
        let id = ChallengeId::new();
        // Attempts carry over from a superseded challenge of the same ticket.
        let attempts = previous
            .filter(|p| p.consumed_at.is_none() && ticket.is_some() && p.ticket_id == ticket)
            .map_or(0, |p| p.attempts);
        let challenge = OtpChallenge {
            id,
            user_id: user.id,
            factor_id: factor.id,
            ticket_id: ticket,
            purpose,
            channel,
            code_hash: self.keys.hash_otp(id, &code),
            attempts,
            max_attempts: policy.max_attempts,
            created_at: now,
            expires_at: now + policy.ttl,
            consumed_at: None,
        };
        self.challenges.issue_challenge(&challenge).await?;
        let message = Message::Otp(OtpMessage {
            to: destination.clone(),
            code: OtpCodeText::new(code),
            purpose,
            expires_at: challenge.expires_at,
            product_name: self.policy.product_name.clone(),
            locale: user.locale.clone(),
        });
        let masked = mask_destination(&destination);
        let audit = |outcome| {
            Audit::new(AuditKind::OtpSent, outcome, now)
                .user(user.id)
                .factor(factor.kind)
                .meta(serde_json::json!({
                    "channel": channel.as_str(),
                    "purpose": purpose.as_str(),
                    "to": masked,
                    "challenge": id,
                }))
        };
        // Success: the code was issued and handed to the channel; a failed
        // send adds a failure event for the same challenge.
        self.record(audit(AuditOutcome::Success)).await?;
        self.after_commit(After::Code {
            channel: delivery,
            message,
            failure: Box::new(audit(AuditOutcome::Failure)),
        });
        Ok(ChallengeSent {
            masked_destination: masked,
            expires_at: challenge.expires_at,
            resend_after: now + policy.resend_after,
        })
    }
}

/// What a login ticket allows, for clients that come back to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketInfo {
    /// What the holder may do next.
    pub kind: TicketKind,
    /// Second-factor methods the user can complete (empty for enrolment).
    pub methods: Vec<FactorKind>,
    /// The ticket expires at this time.
    pub expires_at: DateTime<Utc>,
}

impl Mfa {
    /// Describes an open ticket without using it up: its kind, the methods
    /// that can answer it, and its expiry.
    ///
    /// # Errors
    /// [`MfaError::InvalidTicket`] / [`MfaError::ChallengeExpired`].
    pub async fn ticket_info(&self, ticket: &str) -> MfaResult<TicketInfo> {
        step!("mfa.ticket_info", async {
            direct!(&self.inner, |inner| {
                let ticket = inner
                    .open_ticket(ticket, &[TicketKind::Mfa, TicketKind::Enrollment])
                    .await?;
                let methods = match ticket.kind {
                    TicketKind::Mfa => inner.usable_methods(ticket.user_id).await?,
                    TicketKind::Enrollment
                    | TicketKind::PasswordReset
                    | TicketKind::EmailVerification => Vec::new(),
                };
                Ok(TicketInfo {
                    kind: ticket.kind,
                    methods,
                    expires_at: ticket.expires_at,
                })
            })
        })
    }

    /// Sends a sign-in code by email or SMS for a ticket from
    /// [`Mfa::login`]. Calling it again resends a new code (after the
    /// cooldown); the earlier code stops working at once.
    ///
    /// # Errors
    /// [`MfaError::InvalidTicket`] / [`MfaError::ChallengeExpired`],
    /// [`MfaError::MethodUnavailable`] when the user has no such factor or
    /// the method is off, [`MfaError::RateLimited`] inside the cooldown or
    /// over a send cap, [`MfaError::Delivery`] when the transport failed.
    pub async fn send_challenge(
        &self,
        ticket: &str,
        channel: OtpChannel,
    ) -> MfaResult<ChallengeSent> {
        step!(
            "mfa.send_challenge",
            method = channel_kind(channel),
            async {
                unit!(&self.inner, |inner| {
                    let (ticket, user, factors) = inner
                        .open_ticket_with_user(ticket, &[TicketKind::Mfa])
                        .await?;
                    let kind = channel_kind(channel);
                    let factor = factors
                        .into_iter()
                        .find(|f| f.kind == kind && f.is_active())
                        .ok_or(MfaError::MethodUnavailable)?;
                    inner
                        .send_code(&user, &factor, ChallengePurpose::Login, Some(ticket.id))
                        .await
                })
            }
        )
    }
}

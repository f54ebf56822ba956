//! Account recovery and email verification: single-use, expiring links
//! sent by email.
//!
//! A link's token is `<user id>.<43 characters>`: 256 bits from the CSPRNG
//! after the account's id. The store keeps a digest of it as a ticket
//! ([`TicketKind::PasswordReset`], [`TicketKind::EmailVerification`])
//! bound to the state the link is for ([`OpaqueToken::hash_bound`]): a
//! reset link to the password hash and email address it was sent for, a
//! verification link to the address. A link stops matching as soon as
//! that state changes (the password was changed or reset, the address
//! replaced), besides being used once and expiring.
//!
//! A reset never signs anyone in and never touches the second factor
//! (NIST SP 800-63B §6.1.2.3; OWASP Forgot Password cheat sheet): it sets
//! the password, ends every session and device trust, lifts the password
//! lock, and the user then signs in as always, second factor included.

use super::login::normalize_identifier;
use super::support::{Audit, rate_key};
use super::unit::{After, Step, direct, unit};
use super::{ClientInfo, Mfa};
use crate::crypto::{AccessClaims, OpaqueToken, SecretString, TokenPurpose};
use crate::delivery::{DeliveryChannel, LinkMessage, LinkPurpose, LinkSecret, Message};
use crate::error::{MfaError, MfaResult};
use crate::model::{
    AuditKind, AuditOutcome, LockScope, LoginTicket, NotificationKind, RevocationReason, TicketId,
    TicketKind, TokenHash, User, UserId, UserStatus,
};
use crate::observability::step;
use crate::store::RateHit;
use chrono::{DateTime, TimeDelta, Utc};
use std::sync::Arc;

/// The placeholder a link URL must hold once.
const TOKEN_PLACEHOLDER: &str = "{token}";

/// Where the links of [`Mfa::request_password_reset`] and
/// [`Mfa::send_email_verification`] point (see [`crate::MfaBuilder::links`]):
/// URLs holding `{token}` once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkUrls {
    /// The page where a user sets a new password, e.g.
    /// `https://app.example.com/reset#token={token}`.
    pub password_reset: Option<String>,
    /// The page that confirms an email address.
    pub email_verification: Option<String>,
}

impl LinkUrls {
    /// The URLs, checked: `http://` or `https://`, `{token}` exactly once.
    pub(crate) fn checked(self) -> Result<Self, String> {
        for (name, url) in [
            ("password_reset", &self.password_reset),
            ("email_verification", &self.email_verification),
        ] {
            if let Some(url) = url {
                let scheme = url.starts_with("https://") || url.starts_with("http://");
                if !scheme || url.matches(TOKEN_PLACEHOLDER).count() != 1 {
                    return Err(format!(
                        "links: {name} must be an http(s) URL holding {TOKEN_PLACEHOLDER} once"
                    ));
                }
            }
        }
        Ok(self)
    }

    fn for_purpose(&self, purpose: LinkPurpose) -> Option<&str> {
        match purpose {
            LinkPurpose::PasswordReset => self.password_reset.as_deref(),
            LinkPurpose::EmailVerification => self.email_verification.as_deref(),
        }
    }
}

/// A link token as presented: the account and the random part.
fn parse_token(token: &str) -> MfaResult<(UserId, OpaqueToken)> {
    let (user, random) = token.trim().split_once('.').ok_or(MfaError::InvalidToken)?;
    let user = user.parse::<UserId>().map_err(|_| MfaError::InvalidToken)?;
    let random = OpaqueToken::parse(random).map_err(|_| MfaError::InvalidToken)?;
    Ok((user, random))
}

/// The digest of a reset token for `user` as the account is now.
fn reset_digest(token: &OpaqueToken, user: &User) -> TokenHash {
    token.hash_bound(
        TokenPurpose::PasswordReset,
        &[
            user.password_hash.as_deref().unwrap_or_default().as_bytes(),
            user.email.as_deref().unwrap_or_default().as_bytes(),
        ],
    )
}

/// The digest of a verification token for the address `email`.
fn verification_digest(token: &OpaqueToken, email: &str) -> TokenHash {
    token.hash_bound(TokenPurpose::EmailVerification, &[email.as_bytes()])
}

impl Mfa {
    /// Sends a password reset link to the account's email address.
    ///
    /// Answers the same whether or not the identifier names an account, and
    /// whatever the account is (no user enumeration): the link goes out
    /// only to an active account with a verified email address
    /// ([`Mfa::verify_email`]); a failed send is audited, never reported.
    /// Requests are limited per identifier (`policy.recovery.per_window`)
    /// and per client address (four times that).
    ///
    /// # Errors
    /// [`MfaError::InvalidInput`] for a malformed identifier or client,
    /// [`MfaError::RateLimited`], [`MfaError::MethodUnavailable`] when no
    /// email channel is configured.
    pub async fn request_password_reset(
        &self,
        identifier: &str,
        client: &ClientInfo,
    ) -> MfaResult<()> {
        step!("mfa.request_password_reset", async {
            let client = &self.inner.admit(client).await?;
            let identifier = normalize_identifier(identifier)?;
            let channel = self
                .inner
                .email
                .clone()
                .ok_or(MfaError::MethodUnavailable)?;
            let policy = self.inner.policy.recovery;
            unit!(&self.inner, |inner| {
                let id_key = rate_key("reset:id", &identifier);
                let ip_key = client.ip_text().map(|ip| rate_key("reset:ip", &ip));
                let mut hits = Vec::with_capacity(2);
                if let Some(key) = &ip_key {
                    hits.push(RateHit {
                        key,
                        limit: policy.per_window.saturating_mul(4),
                        window: policy.window,
                    });
                }
                hits.push(RateHit {
                    key: &id_key,
                    limit: policy.per_window,
                    window: policy.window,
                });
                inner.limit_all(&hits).await?;
                let Some(user) = inner
                    .users
                    .find_user_by_identifier(&identifier)
                    .await?
                    .filter(|u| u.deleted_at.is_none() && u.status == UserStatus::Active)
                else {
                    return Ok(());
                };
                let now = inner.now();
                let audit = |outcome| {
                    Audit::new(AuditKind::PasswordResetRequested, outcome, now).user(user.id)
                };
                let email = match (&user.email, user.email_verified_at) {
                    (Some(email), Some(_)) => email.clone(),
                    _ => {
                        return inner
                            .record(
                                audit(AuditOutcome::Denied)
                                    .client(client)
                                    .meta_field("reason", "no verified email"),
                            )
                            .await;
                    }
                };
                inner
                    .send_link(LinkSend {
                        user: &user,
                        email,
                        purpose: LinkPurpose::PasswordReset,
                        lifetime: policy.reset_lifetime,
                        channel: channel.clone(),
                        audit: &|outcome| audit(outcome).client(client),
                        fail_step: false,
                    })
                    .await?;
                Ok(())
            })
        })
    }

    /// Sets a new password with a reset link's token.
    ///
    /// The new password is checked first (a refusal keeps the link
    /// usable). Then, in one unit: the link is used up, the password set,
    /// every session and all device trust end, the password lock lifts, and
    /// the user is told. Nobody is signed in: the user signs in as always,
    /// with the second factor if one is enrolled.
    ///
    /// # Errors
    /// [`MfaError::InvalidToken`] for a malformed, unknown, used, expired
    /// or stale link (the password or email changed since it was sent),
    /// or a disabled account; [`MfaError::InvalidInput`] for a new password
    /// outside the policy or used before.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &SecretString,
        client: &ClientInfo,
    ) -> MfaResult<()> {
        step!("mfa.reset_password", async {
            let client = &self.inner.admit(client).await?;
            let (user_id, token) = parse_token(token)?;
            let history_limit = self.inner.policy.password.history;
            let (user, ticket, mut history) = direct!(&self.inner, |inner| {
                let user = inner
                    .users
                    .get_user(user_id)
                    .await?
                    .filter(|u| u.deleted_at.is_none() && u.status == UserStatus::Active)
                    .ok_or(MfaError::InvalidToken)?;
                let ticket = inner
                    .challenges
                    .find_ticket(&reset_digest(&token, &user))
                    .await?
                    .filter(|t| {
                        t.kind == TicketKind::PasswordReset
                            && t.user_id == user.id
                            && t.is_open(inner.now())
                    })
                    .ok_or(MfaError::InvalidToken)?;
                let history = inner.users.password_history(user.id, history_limit).await?;
                Ok((user, ticket, history))
            })?;
            self.check_new_password(new_password, &user.identifier)?;
            history.extend(user.password_hash.clone());
            if self.inner.passwords.is_in_history(new_password, &history) {
                return Err(MfaError::invalid_input("password", "used before"));
            }
            // The argon2 work runs before the unit, never inside it.
            let hash = self
                .hash_password(new_password)
                .await
                .map_err(MfaError::Crypto)?;
            unit!(&self.inner, |inner| {
                let now = inner.now();
                if !inner.challenges.consume_ticket(ticket.id, now).await? {
                    return Err(MfaError::InvalidToken);
                }
                // Changed since the link was read: the link is stale.
                let current = inner.user(user.id).await?;
                if current.password_hash != user.password_hash || current.email != user.email {
                    return Err(MfaError::InvalidToken);
                }
                inner
                    .users
                    .set_password(user.id, &hash, history_limit, now)
                    .await?;
                inner.devices.revoke_all_device_trust(user.id).await?;
                inner
                    .sessions
                    .revoke_user_sessions(user.id, None, RevocationReason::PasswordChanged, now)
                    .await?;
                inner.clear_failures(user.id, LockScope::Password).await?;
                inner
                    .record(
                        Audit::new(AuditKind::PasswordReset, AuditOutcome::Success, now)
                            .user(user.id)
                            .client(client),
                    )
                    .await?;
                inner.notify(
                    &current,
                    NotificationKind::PasswordChanged,
                    serde_json::json!({}),
                );
                Ok(())
            })
        })
    }

    /// Sends a link that proves the signed-in user's email address
    /// receives mail ([`Mfa::verify_email`]); returns when it expires.
    /// Limited per account (`policy.recovery.per_window`).
    ///
    /// # Errors
    /// [`MfaError::InvalidToken`] for an ended session,
    /// [`MfaError::InvalidInput`] (`email`) when the account has no email
    /// address, [`MfaError::Conflict`] when it is verified already,
    /// [`MfaError::RateLimited`], [`MfaError::MethodUnavailable`] without an
    /// email channel, [`MfaError::Delivery`] when the link could not be
    /// sent.
    pub async fn send_email_verification(&self, claims: &AccessClaims) -> MfaResult<DateTime<Utc>> {
        step!("mfa.send_email_verification", async {
            let channel = self
                .inner
                .email
                .clone()
                .ok_or(MfaError::MethodUnavailable)?;
            let policy = self.inner.policy.recovery;
            unit!(&self.inner, |inner| {
                let session = inner.live_session(claims).await?;
                let user = inner.user(session.user_id).await?;
                let email = user
                    .email
                    .clone()
                    .ok_or(MfaError::invalid_input("email", "none on the account"))?;
                if user.email_verified_at.is_some() {
                    return Err(MfaError::Conflict("email already verified"));
                }
                let key = rate_key("verify:user", &user.id.to_string());
                inner
                    .limit_all(&[RateHit {
                        key: &key,
                        limit: policy.per_window,
                        window: policy.window,
                    }])
                    .await?;
                let now = inner.now();
                inner
                    .send_link(LinkSend {
                        user: &user,
                        email,
                        purpose: LinkPurpose::EmailVerification,
                        lifetime: policy.verification_lifetime,
                        channel: channel.clone(),
                        audit: &|outcome| {
                            Audit::new(AuditKind::EmailVerificationSent, outcome, now)
                                .user(user.id)
                                .session(session.id)
                        },
                        fail_step: true,
                    })
                    .await
            })
        })
    }

    /// Marks the account's email address verified with a verification
    /// link's token (single use; stale once the address changed).
    ///
    /// # Errors
    /// [`MfaError::InvalidToken`] for a malformed, unknown, used, expired
    /// or stale link.
    pub async fn verify_email(&self, token: &str) -> MfaResult<()> {
        step!("mfa.verify_email", async {
            let (user_id, token) = parse_token(token)?;
            unit!(&self.inner, |inner| {
                let now = inner.now();
                let user = inner
                    .users
                    .get_user(user_id)
                    .await?
                    .filter(|u| u.deleted_at.is_none())
                    .ok_or(MfaError::InvalidToken)?;
                let email = user.email.clone().ok_or(MfaError::InvalidToken)?;
                let ticket = inner
                    .challenges
                    .find_ticket(&verification_digest(&token, &email))
                    .await?
                    .filter(|t| {
                        t.kind == TicketKind::EmailVerification
                            && t.user_id == user.id
                            && t.is_open(now)
                    })
                    .ok_or(MfaError::InvalidToken)?;
                if !inner.challenges.consume_ticket(ticket.id, now).await?
                    || !inner
                        .users
                        .mark_email_verified(user.id, &email, now)
                        .await?
                {
                    return Err(MfaError::InvalidToken);
                }
                inner
                    .record(
                        Audit::new(AuditKind::EmailVerified, AuditOutcome::Success, now)
                            .user(user.id),
                    )
                    .await
            })
        })
    }
}

/// A ticket standing for a link: no session, device, methods or risk.
fn link_ticket(
    user: UserId,
    kind: TicketKind,
    token_hash: TokenHash,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> LoginTicket {
    LoginTicket {
        id: TicketId::new(),
        token_hash,
        user_id: user,
        session_id: None,
        device_id: None,
        kind,
        amr: Vec::new(),
        risk_score: 0,
        created_at: now,
        expires_at,
        consumed_at: None,
    }
}

/// A link to issue and send within a step ([`Step::send_link`]).
struct LinkSend<'a> {
    user: &'a User,
    email: String,
    purpose: LinkPurpose,
    lifetime: TimeDelta,
    channel: Arc<dyn DeliveryChannel>,
    /// The step's audit event of the send, given its outcome.
    audit: &'a (dyn Fn(AuditOutcome) -> Audit + Sync),
    /// Whether a failed send fails the step (see [`After::Link`]).
    fail_step: bool,
}

impl Step<'_> {
    /// Issues a link (a ticket whose digest is bound to the account, see
    /// [`reset_digest`], [`verification_digest`]), audits it, and queues
    /// its message for after the commit. Returns when it expires.
    async fn send_link(&self, link: LinkSend<'_>) -> MfaResult<DateTime<Utc>> {
        let now = self.now();
        let token = OpaqueToken::generate();
        let expires_at = now + link.lifetime;
        let (kind, digest) = match link.purpose {
            LinkPurpose::PasswordReset => {
                (TicketKind::PasswordReset, reset_digest(&token, link.user))
            }
            LinkPurpose::EmailVerification => (
                TicketKind::EmailVerification,
                verification_digest(&token, &link.email),
            ),
        };
        self.challenges
            .create_ticket(&link_ticket(link.user.id, kind, digest, now, expires_at))
            .await?;
        self.record((link.audit)(AuditOutcome::Success)).await?;
        self.after_commit(After::Link {
            channel: link.channel,
            message: self.link_message(link.user, link.email, link.purpose, &token, expires_at),
            failure: Box::new((link.audit)(AuditOutcome::Failure)),
            fail_step: link.fail_step,
        });
        Ok(expires_at)
    }
}

impl super::Inner {
    /// The message carrying a link for `user` to `to`.
    fn link_message(
        &self,
        user: &User,
        to: String,
        purpose: LinkPurpose,
        token: &OpaqueToken,
        expires_at: DateTime<Utc>,
    ) -> Message {
        let text = format!("{}.{}", user.id, token.expose());
        let url = self
            .links
            .for_purpose(purpose)
            .map(|template| LinkSecret::new(template.replacen(TOKEN_PLACEHOLDER, &text, 1)));
        Message::Link(LinkMessage {
            to,
            purpose,
            token: LinkSecret::new(text),
            url,
            expires_at,
            product_name: self.policy.product_name.clone(),
            locale: user.locale.clone(),
        })
    }
}

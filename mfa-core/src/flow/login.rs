//! Sign-in: the first factor, device recognition, risk, and the decision
//! whether a second factor is needed.

use super::client::Admitted;
use super::support::{Audit, SessionIssue, TicketIssue, rate_key};
use super::unit::{Step, unit};
use super::{ClientInfo, Inner, Mfa, Tokens};
use crate::crypto::{
    ExposeSecret, KeyRing, OpaqueToken, PasswordCheck, SecretString, TokenPurpose,
};
use crate::error::{MfaError, MfaResult};
use crate::model::{
    Aal, AuditKind, AuditOutcome, AuthMethod, Device, DeviceInfo, DeviceSighting, Factor,
    FactorKind, FingerprintHash, LockScope, LoginTicket, MfaSettings, NotificationKind, TicketKind,
    User, UserId, UserStatus,
};
use crate::observability::step;
use crate::policy::Enforcement;
use crate::risk::{PreviousSighting, RiskAssessment, RiskContext};
use crate::store::{Durability, RateHit, SignInContext};
use chrono::{DateTime, Utc};
use std::fmt;
use std::net::IpAddr;

/// What the first unit of a password sign-in found.
enum Gate {
    /// Go on to the password check; the attempt is counted.
    Open {
        user: User,
        phc: String,
        lock_started: Option<DateTime<Utc>>,
    },
    /// Refused without a password check (unknown or locked), with the
    /// audit reason.
    Refused(Option<User>, &'static str),
}

/// Longest accepted login identifier, in bytes.
pub const MAX_IDENTIFIER_LEN: usize = 254;

/// A password sign-in.
pub struct LoginRequest {
    /// The login name (an email address, a user name…). Trimmed and
    /// lower-cased before lookup.
    pub identifier: String,
    /// The password.
    pub password: SecretString,
    /// The client.
    pub client: ClientInfo,
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("identifier", &self.identifier)
            .field("password", &"[redacted]")
            .field("client", &self.client)
            .finish()
    }
}

/// What happens after the first factor.
#[derive(Debug)]
pub enum LoginOutcome {
    /// Signed in; no second factor was needed (none required, or a trusted
    /// device below the step-up threshold).
    Authenticated(Box<Tokens>),
    /// A second factor is needed: call [`Mfa::send_challenge`] for email or
    /// SMS, then [`Mfa::verify`] with the ticket.
    MfaRequired {
        /// Opaque ticket; give it to the client, it comes back with the code.
        ticket: String,
        /// Methods the user can complete, preferred first.
        methods: Vec<FactorKind>,
        /// The ticket expires at this time.
        expires_at: DateTime<Utc>,
    },
    /// The user must enrol a second factor. With the ticket the client can
    /// enrol ([`Mfa::enroll_totp`] with [`super::Actor::Ticket`]); while
    /// `can_skip` is true (grace period) [`Mfa::continue_without_mfa`] signs
    /// in without one.
    EnrollmentRequired {
        /// Opaque ticket for enrolment.
        ticket: String,
        /// End of the grace period.
        deadline: Option<DateTime<Utc>>,
        /// Whether the grace period still allows signing in without MFA.
        can_skip: bool,
    },
}

/// The stored digest of a sighted fingerprint and the known device it
/// belongs to: the device whose digest matches under any loaded root
/// secret (a device first seen before a root rotation keeps its digest
/// under the older root), else a new digest under the current root.
pub(crate) fn sighted_device<'d>(
    keys: &KeyRing,
    user: UserId,
    fingerprint: &str,
    known: &'d [Device],
) -> (FingerprintHash, Option<&'d Device>) {
    let current = keys.hash_fingerprint(user, fingerprint);
    let known_as = |hash: FingerprintHash| known.iter().find(|d| d.fingerprint_hash == hash);
    match known_as(current).or_else(|| {
        keys.older_fingerprint_digests(user, fingerprint)
            .find_map(known_as)
    }) {
        Some(device) => (device.fingerprint_hash, Some(device)),
        None => (current, None),
    }
}

/// The device description to record: what the client sent, its gaps
/// filled from the user agent ([`ClientInfo::described_device`]); when the
/// client sent no description of its own, what its user agent says now
/// over what is already known (a bare sign-in must not erase a
/// description registered earlier).
pub(crate) fn sighted_info(client: &ClientInfo, existing: Option<&Device>) -> DeviceInfo {
    let described = client.described_device();
    match existing {
        Some(device) if client.device == DeviceInfo::default() => {
            let mut info = described;
            info.fill_gaps(device.info.clone(), true);
            info
        }
        _ => described,
    }
}

/// Normalises a login identifier: trimmed and lower-cased.
pub(crate) fn normalize_identifier(identifier: &str) -> MfaResult<String> {
    let trimmed = identifier.trim();
    if trimmed.is_empty() {
        return Err(MfaError::invalid_input("identifier", "empty"));
    }
    if trimmed.len() > MAX_IDENTIFIER_LEN {
        return Err(MfaError::invalid_input("identifier", "too long"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(MfaError::invalid_input("identifier", "control characters"));
    }
    Ok(trimmed.to_lowercase())
}

pub(crate) fn check_password_shape(inner: &Inner, password: &SecretString) -> MfaResult<()> {
    let p = password.expose_secret();
    if p.is_empty() {
        return Err(MfaError::invalid_input("password", "empty"));
    }
    if p.len() > inner.policy.password.max_bytes {
        return Err(MfaError::invalid_input("password", "too long"));
    }
    Ok(())
}

impl Mfa {
    /// Signs in with identifier and password.
    ///
    /// Unknown identifiers, disabled accounts, locked passwords and wrong
    /// passwords all answer [`MfaError::InvalidCredentials`] after the same
    /// argon2 work, so neither the answer nor its timing tells whether an
    /// account exists. The password check is counted before it runs: after
    /// `policy.password_lockout.threshold` failures the password is locked
    /// (separately from the second factor) and the user notified.
    ///
    /// # Errors
    /// [`MfaError::InvalidInput`] for a malformed request,
    /// [`MfaError::RateLimited`], [`MfaError::InvalidCredentials`],
    /// [`MfaError::LoginBlocked`] when the risk score reaches the block
    /// threshold.
    pub async fn login(&self, request: LoginRequest) -> MfaResult<LoginOutcome> {
        step!("mfa.login", async {
            let client = &self.inner.admit(&request.client).await?;
            let identifier = normalize_identifier(&request.identifier)?;
            check_password_shape(&self.inner, &request.password)?;
            // Two units around the password hash: the first counts the attempt
            // (R56) and commits it, the second records the outcome. A write
            // transaction is never held open across the argon2 work. The first
            // commit need not wait for the log flush (`Durability::Carried`):
            // every path that answers more than a refusal goes through the
            // second unit, whose flushed commit makes the first durable too.
            let gate = unit!(&self.inner, Durability::Carried, |inner| {
                let limits = inner.policy.login_rate;
                let ip_key = client.ip_text().map(|ip| rate_key("login:ip", &ip));
                let id_key = rate_key("login:id", &identifier);
                let mut hits = Vec::with_capacity(2);
                if let Some(key) = &ip_key {
                    hits.push(RateHit {
                        key,
                        limit: limits.per_ip,
                        window: limits.window,
                    });
                }
                hits.push(RateHit {
                    key: &id_key,
                    limit: limits.per_identifier,
                    window: limits.window,
                });
                let limited = inner.limit_all(&hits).await;
                if let Err(e) = limited {
                    // R46: a refusal by a rate limit is audited like any other.
                    if matches!(e, MfaError::RateLimited { .. }) {
                        inner
                            .record(
                                Audit::new(
                                    AuditKind::RateLimited,
                                    AuditOutcome::Denied,
                                    inner.now(),
                                )
                                .client(client)
                                .meta(serde_json::json!({ "action": "login" })),
                            )
                            .await?;
                    }
                    return Err(e);
                }
                let user = inner
                    .users
                    .find_user_by_identifier(&identifier)
                    .await?
                    .filter(|u| u.status == UserStatus::Active);
                let Some((user, phc)) = user.and_then(|u| u.password_hash.clone().map(|h| (u, h)))
                else {
                    return Ok(Gate::Refused(None, "unknown"));
                };
                match inner.reserve_attempt(user.id, LockScope::Password).await {
                    Ok(lock_started) => Ok(Gate::Open {
                        user,
                        phc,
                        lock_started,
                    }),
                    Err(MfaError::AccountLocked { .. }) => Ok(Gate::Refused(Some(user), "locked")),
                    Err(e) => Err(e),
                }
            })?;
            let (user, phc, lock_started) = match gate {
                Gate::Open {
                    user,
                    phc,
                    lock_started,
                } => (user, phc, lock_started),
                Gate::Refused(user, reason) => {
                    // The same argon2 work and the same second unit as a wrong
                    // password: neither answer nor timing tells them apart.
                    self.dummy_verify_password(&request.password).await;
                    unit!(&self.inner, |inner| {
                        inner.refuse_password(user.as_ref(), client, reason).await
                    })?;
                    return Err(MfaError::InvalidCredentials);
                }
            };
            let check = self
                .verify_password(&request.password, &phc)
                .await
                .map_err(MfaError::Crypto)?;
            let rehashed = match check {
                PasswordCheck::Valid { needs_rehash: true } => Some(
                    self.hash_password(&request.password)
                        .await
                        .map_err(MfaError::Crypto)?,
                ),
                _ => None,
            };
            unit!(&self.inner, |inner| {
                match check {
                    PasswordCheck::Valid { .. } => {
                        // Read first: a store may lock the user's row with it
                        // and decide the reset below on what it read.
                        let context = inner.sign_in_context(user.id).await?;
                        inner.clear_failures(user.id, LockScope::Password).await?;
                        if let Some(fresh) = &rehashed {
                            inner
                                .users
                                .set_password(
                                    user.id,
                                    fresh,
                                    inner.policy.password.history,
                                    inner.now(),
                                )
                                .await?;
                        }
                        inner
                            .record(
                                Audit::new(
                                    AuditKind::PasswordLogin,
                                    AuditOutcome::Success,
                                    inner.now(),
                                )
                                .user(user.id)
                                .client(client)
                                .meta(serde_json::json!({ "rehashed": rehashed.is_some() })),
                            )
                            .await?;
                        inner
                            .after_first_factor(&user, context, &[AuthMethod::Pwd], None, client)
                            .await
                    }
                    PasswordCheck::Invalid => {
                        inner
                            .refuse_password(Some(&user), client, "wrong_password")
                            .await?;
                        if let Some(until) = lock_started {
                            inner
                                .lock_started(&user, LockScope::Password, until, Some(client))
                                .await?;
                        }
                        Err(MfaError::InvalidCredentials)
                    }
                }
            })
        })
    }

    /// Starts the second-factor part of a sign-in whose first factor the
    /// host verified itself (OAuth, magic link, passkey…). MFA applies to
    /// every sign-in path: the outcome is the same as [`Mfa::login`]'s.
    ///
    /// # Errors
    /// [`MfaError::InvalidCredentials`] for an unknown or disabled user,
    /// [`MfaError::LoginBlocked`], [`MfaError::InvalidInput`].
    pub async fn begin_after_primary_auth(
        &self,
        user: UserId,
        client: ClientInfo,
    ) -> MfaResult<LoginOutcome> {
        step!("mfa.begin_after_primary_auth", user = user, async {
            let client = &self.inner.admit(&client).await?;
            unit!(&self.inner, |inner| {
                let mut context = inner.sign_in_context(user).await?;
                let user = match context.user.take() {
                    Some(found) => Some(found),
                    None if inner.host_users.is_some() => inner.users.get_user(user).await?,
                    None => None,
                }
                .filter(|u| u.deleted_at.is_none() && u.status == UserStatus::Active)
                .ok_or(MfaError::InvalidCredentials)?;
                inner
                    .record(
                        Audit::new(
                            AuditKind::PrimaryAuthAccepted,
                            AuditOutcome::Success,
                            inner.now(),
                        )
                        .user(user.id)
                        .client(client),
                    )
                    .await?;
                inner
                    .after_first_factor(&user, context, &[AuthMethod::Ext], None, client)
                    .await
            })
        })
    }

    /// Signs in without a second factor during the enrolment grace period.
    ///
    /// # Errors
    /// [`MfaError::InvalidTicket`] / [`MfaError::ChallengeExpired`] for a bad
    /// ticket, [`MfaError::EnrollmentRequired`] once the grace period is over,
    /// [`MfaError::MfaRequired`] when the user has enrolled a second factor
    /// since the ticket was issued.
    pub async fn continue_without_mfa(
        &self,
        ticket: &str,
        client: ClientInfo,
    ) -> MfaResult<Tokens> {
        step!("mfa.continue_without_mfa", async {
            let client = &self.inner.admit(&client).await?;
            unit!(&self.inner, |inner| {
                let ticket = inner.open_ticket(ticket, &[TicketKind::Enrollment]).await?;
                // The user enrolled a factor since the ticket was issued: the grace
                // period no longer applies to them (R37).
                if inner
                    .usable_methods(ticket.user_id)
                    .await?
                    .iter()
                    .any(|k| *k != FactorKind::BackupCodes)
                {
                    return Err(MfaError::MfaRequired);
                }
                let settings = inner.factors.get_settings(ticket.user_id).await?;
                let deadline = settings.and_then(|s| s.grace_deadline);
                if deadline.is_none_or(|d| inner.now() >= d) {
                    return Err(MfaError::EnrollmentRequired);
                }
                inner.consume_ticket(&ticket).await?;
                inner
                    .start_session(SessionIssue {
                        user_id: ticket.user_id,
                        device: ticket.device_id,
                        client,
                        aal: Aal::Aal1,
                        amr: ticket.amr.clone(),
                        mfa_at: None,
                        risk_score: ticket.risk_score,
                    })
                    .await
            })
        })
    }
}

impl Step<'_> {
    async fn refuse_password(
        &self,
        user: Option<&User>,
        client: &ClientInfo,
        reason: &str,
    ) -> MfaResult<()> {
        let inner = self;
        let (kind, outcome) = if reason == "locked" {
            (AuditKind::LoginRefused, AuditOutcome::Denied)
        } else {
            (AuditKind::PasswordLogin, AuditOutcome::Failure)
        };
        let mut audit = Audit::new(kind, outcome, inner.now())
            .client(client)
            .meta(serde_json::json!({ "reason": reason }));
        if let Some(user) = user {
            audit = audit.user(user.id);
        }
        inner.record(audit).await
    }

    /// Device recognition, risk, and the MFA decision, shared by every
    /// first-factor path. `primary` is what the first step proved (its
    /// `amr`); `complete` is the assurance it gives on its own when it was
    /// multi-factor already (a passkey with user verification), which
    /// skips the second-factor decision but not the risk check.
    pub(crate) async fn after_first_factor(
        &self,
        user: &User,
        context: SignInContext,
        primary: &[AuthMethod],
        complete: Option<Aal>,
        client: &Admitted<'_>,
    ) -> MfaResult<LoginOutcome> {
        let inner = self;
        let now = inner.now();
        let SignInContext {
            factors,
            devices: known,
            mut settings,
            backup_codes_left,
            ..
        } = context;
        let (fingerprint, existing) = client
            .fingerprint
            .as_deref()
            .map(|fp| sighted_device(&inner.keys, user.id, fp, &known))
            .unzip();
        let existing = existing.flatten();
        let assessment = self.assess(client, &known, existing, user, now).await;

        let device = match fingerprint {
            Some(fingerprint_hash) => {
                let up = inner
                    .devices
                    .upsert_device(&DeviceSighting {
                        user_id: user.id,
                        fingerprint_hash,
                        info: sighted_info(client, existing),
                        ip: client.ip_text(),
                        country: client.country.clone(),
                        risk_score: assessment.score,
                        metadata: serde_json::Value::Null,
                        at: now,
                    })
                    .await?;
                if up.created {
                    inner
                        .record(
                            Audit::new(AuditKind::DeviceRegistered, AuditOutcome::Success, now)
                                .user(user.id)
                                .device(Some(up.device.id))
                                .client(client),
                        )
                        .await?;
                }
                Some((up.device, up.created))
            }
            None => None,
        };
        let device_id = device.as_ref().map(|(d, _)| d.id);
        let signals: Vec<&str> = assessment.signals.iter().map(|s| s.as_str()).collect();
        let risk = inner.policy.risk;

        if assessment.score >= risk.block {
            inner
                .record(
                    Audit::new(AuditKind::LoginRefused, AuditOutcome::Denied, now)
                        .user(user.id)
                        .device(device_id)
                        .client(client)
                        .risk(assessment.score)
                        .meta(serde_json::json!({ "reason": "high_risk", "signals": signals })),
                )
                .await?;
            inner.notify(
                user,
                NotificationKind::SuspiciousSignIn,
                serde_json::json!({ "ip": client.ip_text(), "country": client.country }),
            );
            return Err(MfaError::LoginBlocked);
        }
        if assessment.score >= risk.step_up {
            inner
                .record(
                    Audit::new(AuditKind::RiskAssessed, AuditOutcome::Success, now)
                        .user(user.id)
                        .device(device_id)
                        .client(client)
                        .risk(assessment.score)
                        .meta(serde_json::json!({ "decision": "step_up", "signals": signals })),
                )
                .await?;
        }
        if let Some((d, true)) = &device
            && !known.is_empty()
        {
            inner
                .notify(
                    user,
                    NotificationKind::NewDeviceLogin,
                    serde_json::json!({
                        "device": d.info.description().unwrap_or_else(|| d.info.kind.as_str().to_owned()),
                        "ip": client.ip_text(),
                        "country": client.country,
                    }),
                );
        }

        if let Some(aal) = complete {
            let tokens = inner
                .start_session(SessionIssue {
                    user_id: user.id,
                    device: device_id,
                    client,
                    aal,
                    amr: primary.to_vec(),
                    mfa_at: (aal == Aal::Aal2).then_some(now),
                    risk_score: assessment.score,
                })
                .await?;
            return Ok(LoginOutcome::Authenticated(Box::new(tokens)));
        }

        let mut factors = self.methods_of(&factors);
        drop_spent_backup_codes(&mut factors, backup_codes_left);
        let has_primary = factors
            .iter()
            .any(|k| !matches!(k, FactorKind::BackupCodes));
        let required = match inner.policy.enforcement {
            Enforcement::Off => false,
            Enforcement::All => true,
            Enforcement::PerUser => settings.as_ref().is_some_and(|s| s.enforced),
            Enforcement::HighestAvailable => {
                has_primary || settings.as_ref().is_some_and(|s| s.enforced)
            }
        };

        if !required {
            let tokens = inner
                .start_session(SessionIssue {
                    user_id: user.id,
                    device: device_id,
                    client,
                    aal: Aal::Aal1,
                    amr: primary.to_vec(),
                    mfa_at: None,
                    risk_score: assessment.score,
                })
                .await?;
            return Ok(LoginOutcome::Authenticated(Box::new(tokens)));
        }

        if !has_primary {
            let deadline = match settings.as_mut() {
                Some(s) if s.grace_deadline.is_some() => s.grace_deadline,
                _ => {
                    // Enforcement began without a deadline (policy `All`):
                    // the grace period starts at this first sign-in.
                    let mut s = settings.unwrap_or_else(|| MfaSettings::new(user.id, now));
                    s.grace_deadline = Some(now + inner.policy.grace_period);
                    s.updated_at = now;
                    inner.factors.put_settings(&s).await?;
                    s.grace_deadline
                }
            };
            let (ticket, _) = self
                .second_step_ticket(
                    TicketIssue {
                        user,
                        kind: TicketKind::Enrollment,
                        amr: primary.to_vec(),
                        device: device_id,
                        risk_score: assessment.score,
                        replaces: None,
                    },
                    client,
                    serde_json::json!({ "enrollment": true, "deadline": deadline }),
                )
                .await?;
            return Ok(LoginOutcome::EnrollmentRequired {
                ticket,
                deadline,
                can_skip: deadline.is_some_and(|d| now < d),
            });
        }

        // A remembered device skips the second factor below the step-up
        // threshold. The session stays at AAL1 (R27): trust replaces a
        // factor for convenience, it does not raise assurance.
        if let Some((d, _)) = &device
            && assessment.score < risk.step_up
            && inner.policy.device_trust.enabled
            && let Some(presented) = client
                .trust_token
                .as_deref()
                .and_then(|t| OpaqueToken::parse(t).ok())
        {
            let old = presented.hash(TokenPurpose::DeviceTrust);
            let trusted = inner
                .devices
                .find_trusted_device(user.id, &old, now)
                .await?;
            if trusted.as_ref().is_some_and(|t| t.id == d.id) {
                let fresh = OpaqueToken::generate();
                let rotated = inner
                    .devices
                    .rotate_trust_token(d.id, &old, &fresh.hash(TokenPurpose::DeviceTrust), now)
                    .await?;
                if rotated {
                    inner
                        .record(
                            Audit::new(AuditKind::DeviceTrustUsed, AuditOutcome::Success, now)
                                .user(user.id)
                                .device(Some(d.id))
                                .client(client)
                                .risk(assessment.score),
                        )
                        .await?;
                    let mut tokens = inner
                        .start_session(SessionIssue {
                            user_id: user.id,
                            device: Some(d.id),
                            client,
                            aal: Aal::Aal1,
                            amr: [primary, &[AuthMethod::Device]].concat(),
                            mfa_at: None,
                            risk_score: assessment.score,
                        })
                        .await?;
                    tokens.trust_token = Some(fresh.expose().to_owned());
                    return Ok(LoginOutcome::Authenticated(Box::new(tokens)));
                }
            }
        }

        let (ticket, issued) = self
            .second_step_ticket(
                TicketIssue {
                    user,
                    kind: TicketKind::Mfa,
                    amr: primary.to_vec(),
                    device: device_id,
                    risk_score: assessment.score,
                    replaces: None,
                },
                client,
                serde_json::json!({ "methods": factors }),
            )
            .await?;
        let preferred = settings.and_then(|s| s.preferred);
        let mut methods = factors;
        if let Some(p) = preferred
            && let Some(pos) = methods.iter().position(|m| *m == p)
        {
            methods.swap(0, pos);
        }
        Ok(LoginOutcome::MfaRequired {
            ticket,
            methods,
            expires_at: issued.expires_at,
        })
    }

    /// Issues the ticket for an enrolment or second-factor step and audits
    /// that the step is required.
    async fn second_step_ticket(
        &self,
        issue: TicketIssue<'_>,
        client: &ClientInfo,
        metadata: serde_json::Value,
    ) -> MfaResult<(String, LoginTicket)> {
        let inner = self;
        let (user, device, risk) = (issue.user.id, issue.device, issue.risk_score);
        let issued = inner.issue_ticket(issue).await?;
        inner
            .record(
                Audit::new(AuditKind::MfaRequired, AuditOutcome::Success, inner.now())
                    .user(user)
                    .device(device)
                    .client(client)
                    .risk(risk)
                    .meta(metadata),
            )
            .await?;
        Ok(issued)
    }

    async fn assess(
        &self,
        client: &Admitted<'_>,
        known: &[Device],
        existing: Option<&Device>,
        user: &User,
        now: DateTime<Utc>,
    ) -> RiskAssessment {
        let inner = self;
        let previous = known.iter().max_by_key(|d| d.last_seen_at);
        let previous = match previous {
            Some(p) => {
                // Stored as text by the engine; anything else is no address.
                let last_ip = p.last_ip.as_deref().and_then(|s| s.parse::<IpAddr>().ok());
                let location = match (&inner.geo, last_ip) {
                    (Some(geo), Some(ip)) => geo.locate(ip).await,
                    _ => None,
                };
                Some(PreviousSighting {
                    at: p.last_seen_at,
                    ip: last_ip,
                    country: p.last_country.clone(),
                    location,
                })
            }
            None => None,
        };
        let mut known_countries: Vec<String> = known
            .iter()
            .filter_map(|d| d.last_country.clone())
            .collect();
        known_countries.sort_unstable();
        known_countries.dedup();
        let context = RiskContext {
            now,
            ip: client.ip.map(|ip| ip.to_canonical()),
            // The host's country, or else the located one (`Inner::admit`).
            country: client.country.clone(),
            location: client.location.clone(),
            new_device: client.fingerprint.is_some() && existing.is_none() && !known.is_empty(),
            unknown_device: client.fingerprint.is_none(),
            compromised_device: existing.is_some_and(|d| d.compromised_at.is_some()),
            known_countries,
            previous,
            recent_failures: user
                .password_failures
                .failures
                .saturating_add(user.mfa_failures.failures),
        };
        inner.risk.assess(&context).await
    }

    /// The second-factor methods a user can complete now, in a stable order.
    pub(crate) async fn usable_methods(&self, user: UserId) -> MfaResult<Vec<FactorKind>> {
        let inner = self;
        let factors = inner.factors.list_factors(user).await?;
        let mut kinds = self.methods_of(&factors);
        if kinds.contains(&FactorKind::BackupCodes) {
            let left = inner.backup_codes.remaining_backup_codes(user).await?;
            drop_spent_backup_codes(&mut kinds, left);
        }
        Ok(kinds)
    }
}

/// Backup codes are no method once none is left.
fn drop_spent_backup_codes(kinds: &mut Vec<FactorKind>, left: u32) {
    if left == 0 {
        kinds.retain(|k| *k != FactorKind::BackupCodes);
    }
}

impl Inner {
    /// The enabled kinds among active `factors`, sorted, without checking
    /// whether backup codes remain.
    pub(crate) fn methods_of(&self, factors: &[Factor]) -> Vec<FactorKind> {
        let enabled = self.policy.methods;
        let mut kinds: Vec<FactorKind> = factors
            .iter()
            .filter(|f| f.is_active())
            .map(|f| f.kind)
            .filter(|k| match k {
                FactorKind::Totp => enabled.totp,
                FactorKind::Email => enabled.email,
                FactorKind::Sms => enabled.sms,
                FactorKind::BackupCodes => enabled.backup_codes,
                FactorKind::Webauthn => self.passkeys_enabled(),
                FactorKind::Push => self.push.is_some(),
            })
            .collect();
        kinds.sort_unstable();
        kinds.dedup();
        kinds
    }
}

//! Every tunable number of the engine, with safe defaults and validation.
//!
//! [`Policy::validate`] runs once, in [`crate::Mfa::builder`]'s `build()`;
//! a policy that would weaken a requirement below its standard is refused
//! there, never discovered at run time.

use crate::crypto::Argon2Params;
use crate::model::{Aal, FactorKind, LockoutRule, TotpParams};
use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

/// When a second factor is required at sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = EnforcementPolicy))]
#[serde(rename_all = "snake_case")]
pub enum Enforcement {
    /// Never: second factors are neither offered nor checked.
    Off,
    /// Required for every user; users without a factor get a grace period
    /// to enrol.
    All,
    /// Required for users whose settings say so
    /// ([`crate::Mfa::set_enforcement`]).
    PerUser,
    /// Required once a user has enrolled a factor (or is enforced per user).
    #[default]
    HighestAvailable,
}

/// Which second factors users may enrol and use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Methods {
    /// Authenticator apps.
    pub totp: bool,
    /// Codes by email.
    pub email: bool,
    /// Codes by SMS (a restricted authenticator: NIST SP 800-63B §5.1.3.3).
    pub sms: bool,
    /// Backup codes.
    pub backup_codes: bool,
    /// Assurance an email code gives. NIST SP 800-63B §5.1.3.1 does not
    /// accept email as an out-of-band authenticator: set [`Aal::Aal1`] for a
    /// NIST-aligned deployment, where email codes still gate sign-in but a
    /// session verified by email fails `Aal2` and step-up checks.
    pub email_aal: Aal,
    /// Whether SMS, a restricted authenticator, may be a user's only second
    /// factor. When `false`, enrolling SMS needs an active authenticator app
    /// (or an email factor at [`Aal::Aal2`]) first, and the SMS factor
    /// cannot be enrolled as the first one (NIST SP 800-63B §5.1.3.3: offer
    /// an unrestricted alternative; ASVS 5.0 6.6.1). [`Policy::nist`] sets
    /// it to `false`.
    #[serde(default = "allow")]
    pub sms_as_only_factor: bool,
    /// Passwordless sign-in with a passkey (a discoverable WebAuthn
    /// credential, user verification required): `None` refuses it; the
    /// level is the assurance the sign-in gives. At [`Aal::Aal2`] (the
    /// default: a multi-factor cryptographic authenticator, NIST SP
    /// 800-63B-4 §3.1.7) it completes the sign-in; at [`Aal::Aal1`] it
    /// replaces the password only, and the second factor is decided as
    /// after a password.
    #[serde(default = "passwordless_default")]
    pub passwordless: Option<Aal>,
}

#[allow(clippy::unnecessary_wraps)]
const fn passwordless_default() -> Option<Aal> {
    Some(Aal::Aal2)
}

fn allow() -> bool {
    true
}

impl Default for Methods {
    fn default() -> Self {
        Self {
            totp: true,
            email: false,
            sms: false,
            backup_codes: true,
            email_aal: Aal::Aal2,
            sms_as_only_factor: true,
            passwordless: passwordless_default(),
        }
    }
}

impl Methods {
    /// The assurance a verified second factor of `kind` gives.
    #[must_use]
    pub fn aal_of(&self, kind: FactorKind) -> Aal {
        match kind {
            FactorKind::Email => self.email_aal,
            _ => Aal::Aal2,
        }
    }
}

/// Email or SMS one-time codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtpPolicy {
    /// Code length, 6 to 10 digits.
    pub digits: u8,
    /// How long a code is valid (at most 10 minutes: NIST SP 800-63B §5.1.3.2).
    pub ttl: TimeDelta,
    /// Wrong codes allowed per challenge.
    pub max_attempts: u32,
    /// Minimum time between two sends for the same factor.
    pub resend_after: TimeDelta,
    /// Sends allowed per destination per hour.
    pub sends_per_destination_per_hour: u32,
    /// Sends allowed per user per hour, all destinations together.
    pub sends_per_user_per_hour: u32,
}

impl OtpPolicy {
    /// Defaults for email codes: 6 digits, 10 minutes, 5 attempts.
    #[must_use]
    pub fn email() -> Self {
        Self {
            digits: 6,
            ttl: TimeDelta::minutes(10),
            max_attempts: 5,
            resend_after: TimeDelta::seconds(30),
            sends_per_destination_per_hour: 5,
            sends_per_user_per_hour: 10,
        }
    }

    /// Defaults for SMS codes: 6 digits, 5 minutes, 5 attempts.
    #[must_use]
    pub fn sms() -> Self {
        Self {
            ttl: TimeDelta::minutes(5),
            ..Self::email()
        }
    }

    fn validate(&self, what: &str) -> Result<(), String> {
        if !(6..=10).contains(&self.digits) {
            return Err(format!("{what}: digits must be 6 to 10"));
        }
        if self.ttl <= TimeDelta::zero() || self.ttl > TimeDelta::minutes(10) {
            return Err(format!(
                "{what}: ttl must be positive and at most 10 minutes"
            ));
        }
        if self.max_attempts == 0 || self.max_attempts > 10 {
            return Err(format!("{what}: max_attempts must be 1 to 10"));
        }
        if self.resend_after < TimeDelta::zero() || self.resend_after >= self.ttl {
            return Err(format!("{what}: resend_after must be shorter than ttl"));
        }
        if self.sends_per_destination_per_hour == 0 || self.sends_per_user_per_hour == 0 {
            return Err(format!("{what}: send caps must be at least 1"));
        }
        Ok(())
    }
}

/// TOTP (authenticator apps).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpPolicy {
    /// Parameters of new factors.
    pub params: TotpParams,
    /// Steps accepted either side of the current one (default 1, at most
    /// [`crate::crypto::totp::MAX_SKEW`]).
    pub skew: u8,
    /// Issuer shown in authenticator apps.
    pub issuer: String,
}

impl Default for TotpPolicy {
    fn default() -> Self {
        Self {
            params: TotpParams::default(),
            skew: 1,
            issuer: "mfa-rs".into(),
        }
    }
}

/// Backup codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupCodePolicy {
    /// Codes per set (1 to 20).
    pub count: u32,
    /// Alert the user when this many or fewer remain.
    pub low_threshold: u32,
}

impl Default for BackupCodePolicy {
    fn default() -> Self {
        Self {
            count: 10,
            low_threshold: 2,
        }
    }
}

/// Passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordPolicy {
    /// Shortest accepted password, in characters (NIST SP 800-63B §5.1.1.2: 8).
    pub min_length: usize,
    /// Longest accepted password, in bytes.
    pub max_bytes: usize,
    /// Previous passwords that may not be reused.
    pub history: u32,
    /// argon2id cost.
    pub argon2: Argon2Params,
    /// Refuse a new password that is on the shipped list of common
    /// passwords, or that contains the account's identifier (or an email
    /// identifier's local part) or [`Policy::product_name`] (NIST SP
    /// 800-63B §5.1.1.2; see [`crate::blocklist`]). On by default, and when
    /// a policy serialised without it is read. A host's own list
    /// ([`crate::MfaBuilder::password_blocklist`]) is checked whatever this
    /// says.
    #[serde(default = "allow")]
    pub refuse_common: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 8,
            max_bytes: 1024,
            history: 5,
            argon2: Argon2Params::default(),
            refuse_common: true,
        }
    }
}

/// Sessions and tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionPolicy {
    /// Access-token lifetime (default 15 minutes).
    pub access_ttl: TimeDelta,
    /// Refresh-token lifetime, renewed on each rotation (default 30 days).
    pub refresh_sliding: TimeDelta,
    /// Reuse grace for network retries (default zero: off; at most 60
    /// seconds). Within this interval after a rotation, presenting the
    /// just-rotated token again answers with the same new refresh token
    /// (and a fresh access token) instead of revoking the family, as long
    /// as that new token is still the family's active one: a client that
    /// lost the response gets what it missed. Any other reuse still revokes
    /// the family. While it is on, each rotation keeps the new token
    /// sealed with the key ring beside the spent one (see
    /// [`crate::Mfa::refresh`]).
    #[serde(default)]
    pub refresh_reuse_grace: TimeDelta,
    /// Session lifetime whatever the activity (default 90 days).
    pub absolute: TimeDelta,
    /// Login-ticket lifetime: time to complete the second factor.
    pub ticket_ttl: TimeDelta,
    /// Factor changes need a second factor verified this recently.
    pub reauth_window: TimeDelta,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            access_ttl: TimeDelta::minutes(15),
            refresh_sliding: TimeDelta::days(30),
            refresh_reuse_grace: TimeDelta::zero(),
            absolute: TimeDelta::days(90),
            ticket_ttl: TimeDelta::minutes(10),
            reauth_window: TimeDelta::minutes(10),
        }
    }
}

/// Trusted devices ("remember this device").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceTrustPolicy {
    /// Whether users may trust devices.
    pub enabled: bool,
    /// How long trust lasts (default 30 days).
    pub lifetime: TimeDelta,
}

impl Default for DeviceTrustPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            lifetime: TimeDelta::days(30),
        }
    }
}

/// Risk thresholds on the 0–100 score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskPolicy {
    /// At or above: a second factor is required even on a trusted device.
    pub step_up: u8,
    /// At or above: the sign-in is refused and the user alerted.
    pub block: u8,
}

impl Default for RiskPolicy {
    fn default() -> Self {
        Self {
            step_up: 50,
            block: 90,
        }
    }
}

/// Push approval: how long a request lives, and the limits that keep a
/// phone from being flooded into approving (MFA fatigue).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PushPolicy {
    /// How long the app may answer a request, and the browser complete
    /// an approved one (30 seconds to 5 minutes).
    pub request_ttl: TimeDelta,
    /// How long an enrolment challenge may be signed (at most 10 minutes).
    pub enrolment_ttl: TimeDelta,
    /// Requests of one user waiting for an answer at once; one more is
    /// refused until one is answered or expires.
    pub max_pending: u32,
    /// Least time between two requests of one user.
    pub cooldown: TimeDelta,
    /// Requests per user per [`PushPolicy::window`].
    pub per_window: u32,
    /// The window of [`PushPolicy::per_window`].
    pub window: TimeDelta,
    /// At or above this risk score a sign-in may not ask for a push: a
    /// risky sign-in is exactly the one an attacker hopes a tired user
    /// approves. Other methods stay offered.
    pub refuse_at_risk: u8,
    /// Approvals must say the user unlocked the device key with a
    /// biometric or PIN (`amr` then includes `user`).
    pub require_user_verification: bool,
    /// How far the time an app signed its answer may be from the server's.
    pub answer_skew: TimeDelta,
    /// Apps one user may enrol.
    pub max_devices: u32,
}

impl Default for PushPolicy {
    fn default() -> Self {
        Self {
            request_ttl: TimeDelta::minutes(2),
            enrolment_ttl: TimeDelta::minutes(5),
            max_pending: 2,
            cooldown: TimeDelta::seconds(10),
            per_window: 5,
            window: TimeDelta::minutes(15),
            refuse_at_risk: 70,
            require_user_verification: false,
            answer_skew: TimeDelta::minutes(2),
            max_devices: 5,
        }
    }
}

impl PushPolicy {
    fn validate(&self) -> Result<(), String> {
        if self.request_ttl < TimeDelta::seconds(30) || self.request_ttl > TimeDelta::minutes(5) {
            return Err("push: request_ttl must be 30 seconds to 5 minutes".into());
        }
        if self.enrolment_ttl <= TimeDelta::zero() || self.enrolment_ttl > TimeDelta::minutes(10) {
            return Err("push: enrolment_ttl must be positive and at most 10 minutes".into());
        }
        if !(1..=10).contains(&self.max_pending) {
            return Err("push: max_pending must be 1 to 10".into());
        }
        if self.cooldown < TimeDelta::zero() || self.cooldown > self.window {
            return Err("push: cooldown must be 0 to window".into());
        }
        if self.per_window == 0 || self.window <= TimeDelta::zero() {
            return Err("push: per_window and window must be positive".into());
        }
        if !(1..=100).contains(&self.refuse_at_risk) {
            return Err("push: refuse_at_risk must be 1 to 100".into());
        }
        if self.answer_skew <= TimeDelta::zero() || self.answer_skew > TimeDelta::minutes(10) {
            return Err("push: answer_skew must be positive and at most 10 minutes".into());
        }
        if !(1..=20).contains(&self.max_devices) {
            return Err("push: max_devices must be 1 to 20".into());
        }
        Ok(())
    }
}

/// The tamper-evident audit log (see [`crate::audit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditPolicy {
    /// How often the engine writes a signed checkpoint of its chains'
    /// heads, when they moved (5 seconds to 1 day). Deleting the newest
    /// events is found once a checkpoint covers them: this is the longest
    /// stretch of newest events that can go unnoticed.
    pub checkpoint_interval: TimeDelta,
}

impl Default for AuditPolicy {
    fn default() -> Self {
        Self {
            checkpoint_interval: TimeDelta::minutes(1),
        }
    }
}

impl AuditPolicy {
    fn validate(&self) -> Result<(), String> {
        if self.checkpoint_interval < TimeDelta::seconds(5)
            || self.checkpoint_interval > TimeDelta::days(1)
        {
            return Err("audit: checkpoint_interval must be 5 seconds to 1 day".into());
        }
        Ok(())
    }
}

/// Password reset and email verification links
/// ([`crate::Mfa::request_password_reset`],
/// [`crate::Mfa::send_email_verification`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecoveryPolicy {
    /// How long a reset link works (5 minutes to 1 day; OWASP's Forgot
    /// Password cheat sheet asks for a short life).
    pub reset_lifetime: TimeDelta,
    /// How long a verification link works (5 minutes to 7 days).
    pub verification_lifetime: TimeDelta,
    /// Links sent per account, and reset requests per client address, in
    /// `window` (at least 1).
    pub per_window: u32,
    /// The window of `per_window`.
    pub window: TimeDelta,
    /// Send security notifications to an email address nobody has proved
    /// yet. Off (the default), a notification waits for
    /// [`crate::Mfa::verify_email`] (and goes by SMS when the account has a
    /// phone number), so an address typed wrong at sign-up, or someone
    /// else's, is never told of the account's security events; on, an
    /// address is trusted as given (for a host whose own sign-up has
    /// verified it already).
    pub notify_unverified_email: bool,
}

impl Default for RecoveryPolicy {
    fn default() -> Self {
        Self {
            reset_lifetime: TimeDelta::minutes(30),
            verification_lifetime: TimeDelta::days(2),
            per_window: 5,
            window: TimeDelta::hours(1),
            notify_unverified_email: false,
        }
    }
}

impl RecoveryPolicy {
    fn validate(&self) -> Result<(), String> {
        if self.reset_lifetime < TimeDelta::minutes(5) || self.reset_lifetime > TimeDelta::days(1) {
            return Err("recovery: reset_lifetime must be 5 minutes to 1 day".into());
        }
        if self.verification_lifetime < TimeDelta::minutes(5)
            || self.verification_lifetime > TimeDelta::days(7)
        {
            return Err("recovery: verification_lifetime must be 5 minutes to 7 days".into());
        }
        if self.per_window == 0 || self.window <= TimeDelta::zero() {
            return Err("recovery: per_window and window must be positive".into());
        }
        Ok(())
    }
}

/// Limits on sign-in attempts before any password is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRateLimits {
    /// Attempts per identifier per window.
    pub per_identifier: u32,
    /// Attempts per client IP per window.
    pub per_ip: u32,
    /// The window.
    pub window: TimeDelta,
}

impl Default for LoginRateLimits {
    fn default() -> Self {
        Self {
            per_identifier: 20,
            per_ip: 100,
            window: TimeDelta::minutes(15),
        }
    }
}

/// Every tunable of the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// When MFA is required.
    pub enforcement: Enforcement,
    /// Time a user who must enrol may still sign in without MFA.
    pub grace_period: TimeDelta,
    /// Enabled methods.
    pub methods: Methods,
    /// TOTP.
    pub totp: TotpPolicy,
    /// Email codes.
    pub email_otp: OtpPolicy,
    /// SMS codes.
    pub sms_otp: OtpPolicy,
    /// Backup codes.
    pub backup_codes: BackupCodePolicy,
    /// Lockout of the second factor (all methods share one counter).
    pub mfa_lockout: LockoutRule,
    /// Lockout of the password.
    pub password_lockout: LockoutRule,
    /// Passwords.
    pub password: PasswordPolicy,
    /// Sessions and tokens.
    pub session: SessionPolicy,
    /// Trusted devices.
    pub device_trust: DeviceTrustPolicy,
    /// Risk thresholds.
    pub risk: RiskPolicy,
    /// Sign-in rate limits.
    pub login_rate: LoginRateLimits,
    /// Push approval.
    #[serde(default)]
    pub push: PushPolicy,
    /// The tamper-evident audit log.
    #[serde(default)]
    pub audit: AuditPolicy,
    /// Password reset and email verification.
    #[serde(default)]
    pub recovery: RecoveryPolicy,
    /// How long soft-deleted rows are kept before [`crate::Mfa::purge`]
    /// removes them.
    pub retention: TimeDelta,
    /// Product name used in messages.
    pub product_name: String,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            enforcement: Enforcement::default(),
            grace_period: TimeDelta::days(7),
            methods: Methods::default(),
            totp: TotpPolicy::default(),
            email_otp: OtpPolicy::email(),
            sms_otp: OtpPolicy::sms(),
            backup_codes: BackupCodePolicy::default(),
            mfa_lockout: LockoutRule::default(),
            password_lockout: LockoutRule {
                threshold: 10,
                ..LockoutRule::default()
            },
            password: PasswordPolicy::default(),
            session: SessionPolicy::default(),
            device_trust: DeviceTrustPolicy::default(),
            risk: RiskPolicy::default(),
            login_rate: LoginRateLimits::default(),
            push: PushPolicy::default(),
            audit: AuditPolicy::default(),
            recovery: RecoveryPolicy::default(),
            retention: TimeDelta::days(30),
            product_name: "mfa-rs".into(),
        }
    }
}

/// The longest [`SessionPolicy::refresh_reuse_grace`]: long enough for a
/// client's retry after a lost response, short enough that a stolen
/// rotated token is of little use.
pub const MAX_REFRESH_REUSE_GRACE: TimeDelta = TimeDelta::seconds(60);

/// Upper bound on the chance that online guessing of one TOTP code succeeds
/// before the hard lockout cap: s·v / 10^digits (RFC 4226 §6), where s is the
/// number of accepted steps and v the number of attempts.
pub const MAX_GUESS_PROBABILITY: f64 = 1e-3;

impl Policy {
    /// The defaults tightened for a NIST SP 800-63B AAL2 deployment: email
    /// codes give only [`Aal::Aal1`] (§5.1.3.1: email is not an out-of-band
    /// authenticator); SMS, a restricted authenticator (§5.1.3.3), is never a
    /// user's only second factor; and a session ends after 30 minutes without
    /// activity and 12 hours after sign-in whatever the activity (§4.2.3;
    /// each refresh is activity and resets only the idle timer, a new
    /// sign-in starts a new session). Methods stay as enabled by
    /// [`Methods::default`]; turn email or SMS on as needed.
    #[must_use]
    pub fn nist() -> Self {
        let mut policy = Self::default();
        policy.methods.email_aal = Aal::Aal1;
        policy.methods.sms_as_only_factor = false;
        policy.session.refresh_sliding = TimeDelta::minutes(30);
        policy.session.absolute = TimeDelta::hours(12);
        policy
    }

    /// Probability that an attacker guesses a TOTP code within the hard
    /// lockout cap: s·v / 10^digits (RFC 4226 §6).
    #[must_use]
    pub fn max_guess_probability(&self) -> f64 {
        let steps = 2.0 * f64::from(self.totp.skew) + 1.0;
        let attempts = f64::from(self.mfa_lockout.hard_cap);
        steps * attempts / 10f64.powi(i32::from(self.totp.params.digits))
    }

    /// Checks every number against its bound.
    ///
    /// # Errors
    /// A description of the first value out of bounds.
    pub fn validate(&self) -> Result<(), String> {
        self.totp
            .params
            .validate()
            .map_err(|e| format!("totp: {e}"))?;
        if self.totp.skew > crate::crypto::totp::MAX_SKEW {
            return Err("totp: skew above the maximum".into());
        }
        if self.totp.issuer.is_empty() || self.totp.issuer.contains(':') {
            return Err("totp: issuer must be non-empty and contain no ':'".into());
        }
        self.email_otp.validate("email_otp")?;
        self.sms_otp.validate("sms_otp")?;
        if !(1..=20).contains(&self.backup_codes.count) {
            return Err("backup_codes: count must be 1 to 20".into());
        }
        if self.backup_codes.low_threshold >= self.backup_codes.count {
            return Err("backup_codes: low_threshold must be below count".into());
        }
        self.mfa_lockout
            .validate()
            .map_err(|e| format!("mfa_lockout: {e}"))?;
        self.password_lockout
            .validate()
            .map_err(|e| format!("password_lockout: {e}"))?;
        if self.password.min_length < 8 {
            return Err("password: min_length must be at least 8".into());
        }
        if self.password.max_bytes < 64 || self.password.max_bytes > 4096 {
            return Err("password: max_bytes must be 64 to 4096".into());
        }
        if self.password.history > 24 {
            return Err("password: history must be at most 24".into());
        }
        self.password
            .argon2
            .validate()
            .map_err(|e| format!("password: {e}"))?;
        let s = &self.session;
        if s.access_ttl <= TimeDelta::zero() || s.access_ttl > TimeDelta::hours(1) {
            return Err("session: access_ttl must be positive and at most 1 hour".into());
        }
        if s.refresh_sliding <= TimeDelta::zero() || s.refresh_sliding > s.absolute {
            return Err("session: refresh_sliding must be positive and at most absolute".into());
        }
        if s.refresh_reuse_grace < TimeDelta::zero()
            || s.refresh_reuse_grace > MAX_REFRESH_REUSE_GRACE
        {
            return Err("session: refresh_reuse_grace must be 0 to 60 seconds".into());
        }
        if s.ticket_ttl <= TimeDelta::zero() || s.ticket_ttl > TimeDelta::minutes(30) {
            return Err("session: ticket_ttl must be positive and at most 30 minutes".into());
        }
        if s.reauth_window <= TimeDelta::zero() || s.reauth_window > TimeDelta::hours(12) {
            return Err("session: reauth_window must be positive and at most 12 hours".into());
        }
        if self.device_trust.lifetime <= TimeDelta::zero()
            || self.device_trust.lifetime > TimeDelta::days(365)
        {
            return Err("device_trust: lifetime must be positive and at most 365 days".into());
        }
        if self.risk.step_up == 0 || self.risk.step_up >= self.risk.block || self.risk.block > 100 {
            return Err("risk: need 0 < step_up < block <= 100".into());
        }
        self.push.validate()?;
        self.audit.validate()?;
        if self.login_rate.per_identifier == 0
            || self.login_rate.per_ip == 0
            || self.login_rate.window <= TimeDelta::zero()
        {
            return Err("login_rate: limits and window must be positive".into());
        }
        if self.grace_period < TimeDelta::zero() || self.retention < TimeDelta::zero() {
            return Err("grace_period and retention must not be negative".into());
        }
        if self.max_guess_probability() > MAX_GUESS_PROBABILITY {
            return Err(format!(
                "totp: skew and lockout cap allow a guess probability above {MAX_GUESS_PROBABILITY}"
            ));
        }
        if self.product_name.is_empty() {
            return Err("product_name must not be empty".into());
        }
        self.recovery.validate()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_is_valid() {
        Policy::default().validate().unwrap();
    }

    /// R14(a)/(c), R36: the NIST profile is valid, gives email codes AAL1 and
    /// keeps SMS from being a user's only factor; a policy serialised before
    /// `sms_as_only_factor` existed still reads (and allows it).
    #[test]
    fn r14_nist_profile_restricts_email_and_sms() {
        let nist = Policy::nist();
        nist.validate().unwrap();
        assert_eq!(nist.methods.email_aal, Aal::Aal1);
        assert!(!nist.methods.sms_as_only_factor);
        assert_eq!(nist.session.refresh_sliding, TimeDelta::minutes(30));
        assert_eq!(nist.session.absolute, TimeDelta::hours(12));
        let mut old = serde_json::to_value(Policy::default().methods).unwrap();
        old.as_object_mut().unwrap().remove("sms_as_only_factor");
        let read: Methods = serde_json::from_value(old).unwrap();
        assert!(read.sms_as_only_factor);
    }

    #[test]
    fn r9_otp_ttl_above_ten_minutes_is_rejected() {
        let mut p = Policy::default();
        p.email_otp.ttl = TimeDelta::minutes(10) + TimeDelta::seconds(1);
        assert!(p.validate().is_err());
    }

    #[test]
    fn r20_lockout_cap_above_100_is_rejected() {
        let mut p = Policy::default();
        p.mfa_lockout.hard_cap = 101;
        assert!(p.validate().is_err());
    }

    #[test]
    fn r24_guess_probability_is_s_times_v_over_ten_to_the_digits() {
        let p = Policy::default();
        // 3 steps (T-1..T+1) × 100 attempts / 10^6.
        assert!((p.max_guess_probability() - 3e-4).abs() < 1e-12);
        let mut weak = Policy::default();
        weak.totp.skew = 2;
        weak.totp.params.digits = 6;
        // 5 × 100 / 10^6 = 5e-4 is still under the ceiling; the skew bound
        // itself caps how far the window can widen.
        assert!(weak.validate().is_ok());
        weak.totp.skew = 3;
        assert!(weak.validate().is_err());
    }

    #[test]
    fn r5_skew_above_maximum_is_rejected() {
        let mut p = Policy::default();
        p.totp.skew = crate::crypto::totp::MAX_SKEW + 1;
        assert!(p.validate().is_err());
    }

    #[test]
    fn risk_thresholds_must_be_ordered() {
        let mut p = Policy::default();
        p.risk.step_up = 95;
        assert!(p.validate().is_err());
    }

    /// NIST SP 800-63B §5.1.1.2: the common-password check is on by
    /// default, and a policy serialised before it existed reads with it on.
    #[test]
    fn nist_63b_5_1_1_2_common_password_check_is_on_by_default() {
        assert!(Policy::default().password.refuse_common);
        assert!(Policy::nist().password.refuse_common);
        let mut old = serde_json::to_value(PasswordPolicy::default()).unwrap();
        old.as_object_mut().unwrap().remove("refuse_common");
        let read: PasswordPolicy = serde_json::from_value(old).unwrap();
        assert!(read.refuse_common);
    }

    #[test]
    fn refresh_reuse_grace_is_off_by_default_bounded_and_defaults_when_absent() {
        assert_eq!(
            Policy::default().session.refresh_reuse_grace,
            TimeDelta::zero()
        );
        let mut p = Policy::default();
        p.session.refresh_reuse_grace = MAX_REFRESH_REUSE_GRACE;
        p.validate().unwrap();
        p.session.refresh_reuse_grace = MAX_REFRESH_REUSE_GRACE + TimeDelta::milliseconds(1);
        assert!(p.validate().is_err());
        p.session.refresh_reuse_grace = TimeDelta::seconds(-1);
        assert!(p.validate().is_err());
        let mut old = serde_json::to_value(SessionPolicy::default()).unwrap();
        old.as_object_mut().unwrap().remove("refresh_reuse_grace");
        let read: SessionPolicy = serde_json::from_value(old).unwrap();
        assert_eq!(read, SessionPolicy::default());
    }

    #[test]
    fn audit_checkpoint_interval_is_bounded_and_defaults_when_absent() {
        let mut p = Policy::default();
        p.audit.checkpoint_interval = TimeDelta::seconds(4);
        assert!(p.validate().is_err());
        p.audit.checkpoint_interval = TimeDelta::days(1) + TimeDelta::seconds(1);
        assert!(p.validate().is_err());
        let mut old = serde_json::to_value(Policy::default()).unwrap();
        old.as_object_mut().unwrap().remove("audit");
        let read: Policy = serde_json::from_value(old).unwrap();
        assert_eq!(read.audit, AuditPolicy::default());
    }
}

//! The engine under test, wired to a store, a manual clock and capturing
//! delivery channels, with shortcuts for the steps most tests repeat.
//!
//! Time only moves through [`Harness::advance`]; nothing sleeps and nothing
//! reads the system clock. The clock starts at a whole TOTP step, so
//! [`Harness::next_step`] always lands on the start of the next one.

use crate::clock::{Clock, ManualClock};
use crate::crypto::{
    ExposeSecret, JwtConfig, JwtKeys, KeyRing, PasswordHasher, SecretString, Totp, TotpSecret,
};
use crate::delivery::Message;
use crate::error::{MfaError, MfaResult};
use crate::model::{
    AuditEvent, Contact, FactorId, FactorKind, NotificationKind, OtpChannel, TotpParams, User,
    UserId,
};
use crate::policy::Policy;
use crate::risk::{RiskAssessment, RiskContext, RiskEngine};
use crate::store::{AuditFilter, PageRequest, Store};
use crate::template::Templates;
use crate::testing::capture::{CapturingChannel, CapturingPush};
use crate::{
    Actor, ClientInfo, LoginOutcome, LoginRequest, Mfa, MfaBuilder, NewUser, Tokens, Verified,
    VerifyRequest,
};
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use std::fmt;
use std::sync::Arc;

/// Length of a TOTP step under the default parameters.
pub const STEP: TimeDelta = TimeDelta::seconds(30);

/// The policy of most tests: [`Policy::default`] with email and SMS codes
/// enabled.
#[must_use]
pub fn test_policy() -> Policy {
    let mut policy = Policy::default();
    policy.methods.email = true;
    policy.methods.sms = true;
    // The suites count the notifications of users who never verified
    // their address; the recovery suite checks the default (off).
    policy.recovery.notify_unverified_email = true;
    policy
}

/// A risk engine that gives every sign-in the same score.
#[derive(Debug, Clone, Copy)]
pub struct FixedRisk(pub u8);

#[async_trait]
impl RiskEngine for FixedRisk {
    async fn assess(&self, _context: &RiskContext) -> RiskAssessment {
        RiskAssessment {
            score: self.0,
            signals: Vec::new(),
        }
    }
}

/// A user created by [`Harness::create_user`], with everything a test needs
/// to sign in as them.
#[derive(Clone)]
pub struct TestUser {
    /// The account id.
    pub id: UserId,
    /// Login name.
    pub identifier: String,
    /// Contact address (notifications go here).
    pub email: String,
    /// Contact phone number (E.164).
    pub phone: String,
    /// The password.
    pub password: SecretString,
}

impl fmt::Debug for TestUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestUser")
            .field("id", &self.id)
            .field("identifier", &self.identifier)
            .finish_non_exhaustive()
    }
}

/// A user with a confirmed authenticator app.
#[derive(Clone)]
pub struct TotpUser {
    /// The account.
    pub user: TestUser,
    /// The TOTP factor.
    pub factor_id: FactorId,
    /// The seed in base32, as the authenticator app holds it.
    pub secret: SecretString,
    /// The backup codes issued with the factor.
    pub backup_codes: Vec<SecretString>,
}

impl fmt::Debug for TotpUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpUser")
            .field("user", &self.user)
            .field("factor_id", &self.factor_id)
            .finish_non_exhaustive()
    }
}

/// The relying-party id of the test engine's passkeys.
pub const PASSKEY_RP_ID: &str = "app.example.com";
/// The one origin the test engine's passkeys accept.
pub const PASSKEY_ORIGIN: &str = "https://app.example.com";

/// The engine and everything around it.
pub struct Harness<S: Store> {
    /// The engine.
    pub mfa: Mfa,
    /// The store behind it.
    pub store: Arc<S>,
    /// The engine's clock.
    pub clock: Arc<ManualClock>,
    /// The email channel.
    pub email: Arc<CapturingChannel>,
    /// The SMS channel.
    pub sms: Arc<CapturingChannel>,
    /// The push sender: what the phone apps would have received.
    pub push: Arc<CapturingPush>,
}

/// What a [`Harness`] keeps beside its engine and store.
struct Parts {
    clock: Arc<ManualClock>,
    email: Arc<CapturingChannel>,
    sms: Arc<CapturingChannel>,
    push: Arc<CapturingPush>,
}

impl Parts {
    fn into_harness<S: Store>(self, mfa: Mfa, store: Arc<S>) -> Harness<S> {
        Harness {
            mfa,
            store,
            clock: self.clock,
            email: self.email,
            sms: self.sms,
            push: self.push,
        }
    }
}

impl<S: Store> fmt::Debug for Harness<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Harness")
            .field("mfa", &self.mfa)
            .field("now", &self.clock.now())
            .finish_non_exhaustive()
    }
}

/// Asserts that `result` failed with the error code `code` and returns the
/// error.
///
/// # Panics
/// When `result` succeeded or failed with another code.
#[track_caller]
pub fn expect_err<T: fmt::Debug>(result: MfaResult<T>, code: &str) -> MfaError {
    match result {
        Ok(value) => panic!("expected error `{code}`, got success: {value:?}"),
        Err(e) => {
            assert_eq!(e.code(), code, "expected error `{code}`, got {e:?}");
            e
        }
    }
}

/// Whether `haystack` contains `needle` as a whole token: not directly
/// preceded or followed by an ASCII letter or digit. Used to look for short
/// numeric codes in text full of ids and timestamps.
#[must_use]
pub fn contains_token(haystack: &str, needle: &str) -> bool {
    let bytes = haystack.as_bytes();
    haystack.match_indices(needle).any(|(start, _)| {
        let end = start + needle.len();
        let before = start
            .checked_sub(1)
            .and_then(|i| bytes.get(i))
            .is_some_and(u8::is_ascii_alphanumeric);
        let after = bytes.get(end).is_some_and(u8::is_ascii_alphanumeric);
        !before && !after
    })
}

impl<S: Store> Harness<S> {
    /// An engine on `store` with [`test_policy`].
    ///
    /// # Panics
    /// When the engine does not build.
    #[must_use]
    pub fn new(store: Arc<S>) -> Self {
        Self::build(store, test_policy(), |b| b)
    }

    /// An engine on `store` with [`test_policy`] changed by `change`.
    ///
    /// # Panics
    /// When the engine does not build.
    #[must_use]
    pub fn with_policy(store: Arc<S>, change: impl FnOnce(&mut Policy)) -> Self {
        let mut policy = test_policy();
        change(&mut policy);
        Self::build(store, policy, |b| b)
    }

    /// An engine on `store` with [`test_policy`] and another risk engine.
    ///
    /// # Panics
    /// When the engine does not build.
    #[must_use]
    pub fn with_risk(store: Arc<S>, risk: impl RiskEngine + 'static) -> Self {
        Self::build(store, test_policy(), |b| b.risk(risk))
    }

    /// An engine on `store` with [`test_policy`], its builder changed by
    /// `extra` before it builds (an IP locator, a risk engine of one's
    /// own…).
    ///
    /// # Panics
    /// When the engine does not build.
    #[must_use]
    pub fn with_builder(store: Arc<S>, extra: impl FnOnce(MfaBuilder) -> MfaBuilder) -> Self {
        Self::build(store, test_policy(), extra)
    }

    /// An engine on `store` with [`test_policy`] and another passkey
    /// relying party.
    ///
    /// # Panics
    /// When the engine does not build.
    #[must_use]
    pub fn with_passkeys(store: Arc<S>, passkeys: crate::passkey::PasskeyConfig) -> Self {
        Self::build(store, test_policy(), |b| b.passkeys(passkeys))
    }

    /// An engine on `store` with [`test_policy`] and the host's own list of
    /// passwords to refuse ([`MfaBuilder::password_blocklist`]).
    ///
    /// # Panics
    /// When the engine does not build.
    #[must_use]
    pub fn with_password_blocklist(
        store: Arc<S>,
        list: crate::blocklist::PasswordBlocklist,
    ) -> Self {
        Self::build(store, test_policy(), |b| b.password_blocklist(list))
    }

    /// An engine on `store` with [`test_policy`] and the key ring `keys`,
    /// started with [`MfaBuilder::open`]: the keys are compared with the
    /// store's key checks, as a service does at start-up.
    ///
    /// # Errors
    /// As [`MfaBuilder::open`].
    pub async fn open_with_keys(store: Arc<S>, keys: KeyRing) -> MfaResult<Self> {
        let (builder, parts) = Self::parts(&store, test_policy(), keys);
        let mfa = builder.open().await?;
        Ok(parts.into_harness(mfa, store))
    }

    fn build(store: Arc<S>, policy: Policy, extra: impl FnOnce(MfaBuilder) -> MfaBuilder) -> Self {
        let (builder, parts) = Self::parts(&store, policy, KeyRing::generate());
        let mfa = extra(builder).build().expect("the test engine builds");
        parts.into_harness(mfa, store)
    }

    fn parts(store: &Arc<S>, policy: Policy, keys: KeyRing) -> (MfaBuilder, Parts) {
        let clock = Arc::new(ManualClock::default());
        let email = Arc::new(CapturingChannel::email());
        let sms = Arc::new(CapturingChannel::sms());
        let push = Arc::new(CapturingPush::new());
        let builder = Mfa::builder()
            .store(Arc::clone(store))
            .email(email.clone())
            .sms(sms.clone())
            .keys(keys)
            .tokens(
                JwtConfig::new("https://issuer.test", "mfa-tests"),
                JwtKeys::generate_ed25519("k1").expect("an Ed25519 key is generated"),
            )
            .password_hasher(PasswordHasher::insecure_fast_for_tests())
            .clock(clock.clone())
            .passkeys(crate::passkey::PasskeyConfig::new(
                PASSKEY_RP_ID,
                "Flow tests",
                PASSKEY_ORIGIN,
            ))
            .push(push.clone())
            .policy(policy);
        (
            builder,
            Parts {
                clock,
                email,
                sms,
                push,
            },
        )
    }

    /// The current time of the engine's clock.
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Moves the clock.
    pub fn advance(&self, by: TimeDelta) {
        self.clock.advance(by);
    }

    /// Moves the clock to the start of the next TOTP step, so a new code is
    /// due (a step's code is accepted once).
    pub fn next_step(&self) {
        self.advance(STEP);
    }

    /// The client of most tests: a known IP, user agent, fingerprint
    /// `fp-main` and country `CH`.
    #[must_use]
    pub fn client(&self) -> ClientInfo {
        self.client_on("fp-main")
    }

    /// [`Harness::client`] on another device.
    #[must_use]
    pub fn client_on(&self, fingerprint: &str) -> ClientInfo {
        ClientInfo {
            ip: Some([192u8, 0, 2, 10].into()),
            user_agent: Some("flow-tests/1.0".into()),
            fingerprint: Some(fingerprint.into()),
            country: Some("CH".into()),
            ..ClientInfo::default()
        }
    }

    /// Creates a user `name` with a password, email `name@example.test` and
    /// a phone number.
    ///
    /// # Panics
    /// When the user cannot be created.
    pub async fn create_user(&self, name: &str) -> TestUser {
        let email = format!("{name}@example.test");
        // A number of its own per name, so send caps per destination do not
        // couple users.
        let digits = name
            .bytes()
            .fold(7_u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
            % 10_000_000;
        let phone = format!("+4179{digits:07}");
        // Unique per user, and without the name: a password containing the
        // identifier is refused (NIST SP 800-63B §5.1.1.2).
        let password = SecretString::from(format!("pw-{digits:07}-correct-horse-battery"));
        let user = self
            .mfa
            .create_user(NewUser {
                identifier: email.clone(),
                password: Some(password.clone()),
                contact: Contact {
                    email: Some(email.clone()),
                    phone: Some(phone.clone()),
                    locale: None,
                },
            })
            .await
            .expect("create_user failed");
        TestUser {
            id: user.id,
            identifier: email.clone(),
            email,
            phone,
            password,
        }
    }

    /// [`Harness::create_user`], with the email address verified through
    /// the engine ([`Mfa::send_email_verification`], [`Mfa::verify_email`]).
    pub async fn verified_user(&self, name: &str) -> TestUser {
        let user = self.create_user(name).await;
        self.verify_email_of(&user).await;
        user
    }

    /// Verifies the user's email address through the engine, with a
    /// session of its own (ended afterwards).
    pub async fn verify_email_of(&self, user: &TestUser) {
        let tokens = expect_authenticated(self.login(user).await);
        let claims = self
            .mfa
            .authenticate(&tokens.access_token)
            .await
            .expect("authenticate");
        self.mfa
            .send_email_verification(&claims)
            .await
            .expect("send_email_verification");
        let token = self
            .email
            .last_link(&user.email, crate::delivery::LinkPurpose::EmailVerification)
            .expect("a verification link");
        self.mfa.verify_email(&token).await.expect("verify_email");
        self.mfa.logout(&claims).await.expect("logout");
    }

    /// Signs in with the user's password from `client`.
    ///
    /// # Errors
    /// As [`Mfa::login`].
    pub async fn login_from(&self, user: &TestUser, client: ClientInfo) -> MfaResult<LoginOutcome> {
        self.mfa
            .login(LoginRequest {
                identifier: user.identifier.clone(),
                password: user.password.clone(),
                client,
            })
            .await
    }

    /// Signs in with the user's password from [`Harness::client`].
    ///
    /// # Errors
    /// As [`Mfa::login`].
    pub async fn login(&self, user: &TestUser) -> MfaResult<LoginOutcome> {
        self.login_from(user, self.client()).await
    }

    /// Signs in with `password` instead of the user's.
    ///
    /// # Errors
    /// As [`Mfa::login`].
    pub async fn login_with_password(
        &self,
        user: &TestUser,
        password: &str,
    ) -> MfaResult<LoginOutcome> {
        self.mfa
            .login(LoginRequest {
                identifier: user.identifier.clone(),
                password: SecretString::from(password.to_owned()),
                client: self.client(),
            })
            .await
    }

    /// Signs in a user who needs no second factor.
    ///
    /// # Panics
    /// Unless the sign-in completes at once.
    pub async fn sign_in(&self, user: &TestUser) -> Tokens {
        match self.login(user).await.expect("login failed") {
            LoginOutcome::Authenticated(tokens) => *tokens,
            other => panic!("expected Authenticated, got {other:?}"),
        }
    }

    /// Signs in with the password and returns the second-factor ticket.
    ///
    /// # Panics
    /// Unless the sign-in asks for a second factor.
    pub async fn mfa_ticket(&self, user: &TestUser) -> String {
        expect_mfa_ticket(self.login(user).await)
    }

    /// Signs `user` in with the password and answers the second-factor
    /// ticket with `code` as a backup code.
    ///
    /// # Errors
    /// What [`Mfa::verify`](crate::Mfa::verify) answers.
    pub async fn verify_backup_code(&self, user: &TestUser, code: &str) -> MfaResult<Verified> {
        let ticket = self.mfa_ticket(user).await;
        self.verify(&ticket, FactorKind::BackupCodes, code).await
    }

    /// The TOTP code for `secret` at the current time.
    ///
    /// # Panics
    /// When `secret` is not a valid base32 seed.
    #[must_use]
    pub fn totp_code(&self, secret: &SecretString) -> String {
        self.totp_code_at(secret, 0)
    }

    /// The TOTP code for `secret`, `steps` steps from the current one.
    ///
    /// # Panics
    /// When `secret` is not a valid base32 seed.
    #[must_use]
    pub fn totp_code_at(&self, secret: &SecretString, steps: i64) -> String {
        let seed = TotpSecret::from_base32(secret.expose_secret()).expect("a base32 TOTP seed");
        let totp =
            Totp::new(seed, TotpParams::default(), "tests", "user").expect("TOTP parameters");
        let at = self.clock.now().timestamp() + steps * STEP.num_seconds();
        totp.generate_at(at)
            .expect("a code for the time")
            .expose()
            .to_owned()
    }

    /// Creates `name`, signs in and enrols a confirmed authenticator app
    /// (which brings backup codes). The current step's code is spent: call
    /// [`Harness::next_step`] before the next TOTP code.
    ///
    /// # Panics
    /// When any step fails.
    pub async fn user_with_totp(&self, name: &str) -> TotpUser {
        let user = self.create_user(name).await;
        let tokens = self.sign_in(&user).await;
        let (factor_id, secret, backup_codes) = self.enroll_totp_for(&tokens).await;
        TotpUser {
            user,
            factor_id,
            secret,
            backup_codes,
        }
    }

    /// Creates `name`, signs in and enrols `name@example.test` (email) or
    /// the user's phone (SMS) as the second factor, confirmed with the code
    /// sent there. Returns the user and the backup codes.
    ///
    /// # Panics
    /// When any step fails.
    pub async fn user_with_otp(
        &self,
        name: &str,
        channel: OtpChannel,
    ) -> (TestUser, Vec<SecretString>) {
        let user = self.create_user(name).await;
        let tokens = self.sign_in(&user).await;
        let claims = self
            .mfa
            .authenticate(&tokens.access_token)
            .await
            .expect("authenticate failed");
        let actor = Actor::Session(&claims);
        let (pending, to) = match channel {
            OtpChannel::Email => (self.mfa.enroll_email(actor, &user.email).await, &user.email),
            OtpChannel::Sms => (self.mfa.enroll_sms(actor, &user.phone).await, &user.phone),
        };
        let pending = pending.expect("enrolment of the destination failed");
        let code = self.last_code(channel, to);
        let enrolled = self
            .mfa
            .confirm_factor(actor, pending.factor_id, &code, &self.client())
            .await
            .expect("confirm_factor failed");
        let codes = enrolled.backup_codes.map(|b| b.codes).unwrap_or_default();
        (user, codes)
    }

    /// Enrols and confirms an authenticator app from a session; returns the
    /// factor, its seed and the backup codes (empty when none came with it).
    ///
    /// # Panics
    /// When any step fails.
    pub async fn enroll_totp_for(
        &self,
        tokens: &Tokens,
    ) -> (FactorId, SecretString, Vec<SecretString>) {
        let claims = self
            .mfa
            .authenticate(&tokens.access_token)
            .await
            .expect("authenticate failed");
        let enrollment = self
            .mfa
            .enroll_totp(Actor::Session(&claims), None)
            .await
            .expect("enroll_totp failed");
        let code = self.totp_code(&enrollment.secret);
        let enrolled = self
            .mfa
            .confirm_factor(
                Actor::Session(&claims),
                enrollment.factor_id,
                &code,
                &self.client(),
            )
            .await
            .expect("confirm_factor failed");
        let codes = enrolled.backup_codes.map(|b| b.codes).unwrap_or_default();
        (enrollment.factor_id, enrollment.secret, codes)
    }

    /// Answers `ticket` with `code` for `method` from [`Harness::client`].
    ///
    /// # Errors
    /// As [`Mfa::verify`].
    pub async fn verify(
        &self,
        ticket: &str,
        method: FactorKind,
        code: &str,
    ) -> MfaResult<Verified> {
        self.verify_from(ticket, method, code, false, &self.client())
            .await
    }

    /// Answers `ticket` with every option.
    ///
    /// # Errors
    /// As [`Mfa::verify`].
    pub async fn verify_from(
        &self,
        ticket: &str,
        method: FactorKind,
        code: &str,
        remember_device: bool,
        client: &ClientInfo,
    ) -> MfaResult<Verified> {
        self.mfa
            .verify(VerifyRequest {
                ticket,
                method,
                code,
                remember_device,
                client,
            })
            .await
    }

    /// A complete sign-in with password and a fresh TOTP code (the clock
    /// moves one step first).
    ///
    /// # Panics
    /// When any step fails.
    pub async fn sign_in_with_totp(&self, user: &TotpUser) -> Verified {
        let ticket = self.mfa_ticket(&user.user).await;
        self.next_step();
        let code = self.totp_code(&user.secret);
        self.verify(&ticket, FactorKind::Totp, &code)
            .await
            .expect("verify with a fresh TOTP code failed")
    }

    /// Like [`Harness::sign_in_with_totp`] from `client`, remembering the
    /// device; returns the tokens with the trust token.
    ///
    /// # Panics
    /// When any step fails or no trust token comes back.
    pub async fn sign_in_remembered(&self, user: &TotpUser, client: &ClientInfo) -> Tokens {
        let ticket = expect_mfa_ticket(self.login_from(&user.user, client.clone()).await);
        self.next_step();
        let code = self.totp_code(&user.secret);
        let verified = self
            .verify_from(&ticket, FactorKind::Totp, &code, true, client)
            .await
            .expect("verify with remember_device failed");
        assert!(
            verified.tokens.trust_token.is_some(),
            "remember_device must return a trust token"
        );
        verified.tokens
    }

    /// The user's row as stored.
    ///
    /// # Panics
    /// When the user is gone.
    pub async fn stored_user(&self, id: UserId) -> User {
        self.store
            .get_user(id)
            .await
            .expect("get_user failed")
            .expect("the user exists")
    }

    /// Consecutive second-factor failures counted for the user.
    pub async fn mfa_failures(&self, id: UserId) -> u32 {
        self.stored_user(id).await.mfa_failures.failures
    }

    /// Every audit event, newest first.
    ///
    /// # Panics
    /// When the query fails.
    pub async fn audit(&self) -> Vec<AuditEvent> {
        self.audit_matching(&AuditFilter::default()).await
    }

    /// Every audit event matching `filter`, newest first (all pages).
    ///
    /// # Panics
    /// When the query fails.
    pub async fn audit_matching(&self, filter: &AuditFilter) -> Vec<AuditEvent> {
        let mut events = Vec::new();
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let got = self
                .mfa
                .audit_events(filter, &page)
                .await
                .expect("audit_events failed");
            events.extend(got.items);
            match got.next {
                Some(cursor) => page.after = Some(cursor),
                None => return events,
            }
        }
    }

    /// Every audit event serialised as JSON, one string per event.
    pub async fn audit_json(&self) -> Vec<String> {
        self.audit()
            .await
            .iter()
            .map(|e| serde_json::to_string(e).expect("audit events serialise"))
            .collect()
    }

    /// Notifications sent to the user's email address, oldest first.
    #[must_use]
    pub fn notifications(&self, user: &TestUser) -> Vec<NotificationKind> {
        self.email.notifications(&user.email)
    }

    /// How many notifications of `kind` the user received.
    #[must_use]
    pub fn notified(&self, user: &TestUser, kind: NotificationKind) -> usize {
        self.notifications(user)
            .iter()
            .filter(|k| **k == kind)
            .count()
    }

    /// The text and details of every notification on both channels.
    #[must_use]
    pub fn notification_texts(&self) -> Vec<String> {
        self.email
            .messages()
            .into_iter()
            .chain(self.sms.messages())
            .filter_map(|m| match &m {
                Message::Notification(n) => {
                    let r = Templates::shipped()
                        .render(&m)
                        .expect("the shipped templates render every notification");
                    Some(format!(
                        "{} {} {} {} {}",
                        r.subject, r.text, r.html, r.short, n.details
                    ))
                }
                Message::Otp(_) | Message::Link(_) => None,
            })
            .collect()
    }

    /// The latest code sent to `to` on `channel`.
    ///
    /// # Panics
    /// When no code was sent there.
    #[must_use]
    pub fn last_code(&self, channel: OtpChannel, to: &str) -> String {
        let capture = match channel {
            OtpChannel::Email => &self.email,
            OtpChannel::Sms => &self.sms,
        };
        capture
            .last_code(to)
            .unwrap_or_else(|| panic!("no code was sent to {to}"))
    }
}

/// The ticket of an [`LoginOutcome::MfaRequired`].
///
/// # Panics
/// For any other outcome.
#[track_caller]
pub fn expect_mfa_ticket(outcome: MfaResult<LoginOutcome>) -> String {
    match outcome {
        Ok(LoginOutcome::MfaRequired { ticket, .. }) => ticket,
        other => panic!("expected MfaRequired, got {other:?}"),
    }
}

/// The tokens of an [`LoginOutcome::Authenticated`].
///
/// # Panics
/// For any other outcome.
#[track_caller]
pub fn expect_authenticated(outcome: MfaResult<LoginOutcome>) -> Tokens {
    match outcome {
        Ok(LoginOutcome::Authenticated(tokens)) => *tokens,
        other => panic!("expected Authenticated, got {other:?}"),
    }
}

//! Shared set-up for the benchmarks: an engine on a round-trip-counting
//! memory store with a manual clock, and users in the states each step
//! needs.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use chrono::TimeDelta;
use mfa_core::clock::{Clock, ManualClock};
use mfa_core::crypto::{
    ExposeSecret, JwtConfig, JwtKeys, KeyRing, PasswordHasher, SecretString, Totp, TotpSecret,
};
use mfa_core::model::{Contact, FactorKind, TotpParams, UserId};
use mfa_core::testing::counting::CountingStore;
use mfa_core::{
    Actor, ClientInfo, LoginOutcome, LoginRequest, Mfa, NewUser, Tokens, VerifyRequest,
};
use mfa_store_memory::MemoryStore;
use std::sync::Arc;

/// An engine with everything a benchmark needs to drive it.
pub struct Bench {
    /// The engine.
    pub mfa: Mfa,
    /// The counting store behind it.
    pub store: Arc<CountingStore<MemoryStore>>,
    /// The clock; advance it to get fresh TOTP steps.
    pub clock: Arc<ManualClock>,
    /// The client every request comes from.
    pub client: ClientInfo,
}

/// A signed-up user with an authenticator app and backup codes.
pub struct EnrolledUser {
    /// Id.
    pub id: UserId,
    /// Login name.
    pub identifier: String,
    /// Password.
    pub password: SecretString,
    /// TOTP seed (base32).
    pub secret: SecretString,
    /// Unused backup codes.
    pub backup_codes: Vec<SecretString>,
}

impl Bench {
    /// An engine; `fast_passwords` swaps argon2 at OWASP parameters for
    /// cheap test parameters so the library's own cost is visible.
    ///
    /// # Panics
    /// When the engine cannot be built.
    #[must_use]
    pub fn new(fast_passwords: bool) -> Self {
        let store = Arc::new(CountingStore::new(MemoryStore::new()));
        let clock = Arc::new(ManualClock::default());
        let mut builder = Mfa::builder()
            .store(store.clone())
            .keys(KeyRing::generate())
            .tokens(
                JwtConfig::new("https://bench.test", "bench"),
                JwtKeys::generate_ed25519("k1").expect("key generation"),
            )
            .clock(clock.clone());
        if fast_passwords {
            builder = builder.password_hasher(PasswordHasher::insecure_fast_for_tests());
        }
        let mut policy = mfa_core::policy::Policy::default();
        // Benchmarks sign in thousands of times from one address.
        policy.login_rate.per_ip = u32::MAX;
        policy.login_rate.per_identifier = u32::MAX;
        Self {
            mfa: builder.policy(policy).build().expect("engine"),
            store,
            clock,
            client: ClientInfo {
                ip: Some("192.0.2.10".into()),
                user_agent: Some("bench".into()),
                fingerprint: Some("bench-device".into()),
                country: Some("CH".into()),
                ..ClientInfo::default()
            },
        }
    }

    /// Moves the clock to the next TOTP step.
    pub fn next_step(&self) {
        self.clock.advance(TimeDelta::seconds(30));
    }

    /// The current code for a base32 seed.
    ///
    /// # Panics
    /// On a malformed seed.
    #[must_use]
    pub fn totp_code(&self, secret: &SecretString) -> String {
        let totp = Totp::new(
            TotpSecret::from_base32(secret.expose_secret()).expect("seed"),
            TotpParams::default(),
            "bench",
            "user",
        )
        .expect("totp");
        totp.generate_at(self.clock.now().timestamp())
            .expect("code")
            .expose()
            .to_owned()
    }

    /// A login request for `user`.
    #[must_use]
    pub fn login_request(&self, identifier: &str, password: &SecretString) -> LoginRequest {
        LoginRequest {
            identifier: identifier.to_owned(),
            password: password.clone(),
            client: self.client.clone(),
        }
    }

    /// Creates a user and enrols TOTP (with backup codes).
    ///
    /// # Panics
    /// When any step fails.
    pub async fn enrolled_user(&self, n: usize) -> EnrolledUser {
        let identifier = format!("user{n}@bench.test");
        let password = SecretString::from("bench password 123");
        let user = self
            .mfa
            .create_user(NewUser {
                identifier: identifier.clone(),
                password: Some(password.clone()),
                contact: Contact::default(),
            })
            .await
            .expect("create_user");
        let LoginOutcome::Authenticated(tokens) = self
            .mfa
            .login(self.login_request(&identifier, &password))
            .await
            .expect("login")
        else {
            panic!("a user without factors signs in with the password");
        };
        let claims = self
            .mfa
            .authenticate(&tokens.access_token)
            .await
            .expect("claims");
        let enrollment = self
            .mfa
            .enroll_totp(Actor::Session(&claims), None)
            .await
            .expect("enroll");
        let code = self.totp_code(&enrollment.secret);
        let enrolled = self
            .mfa
            .confirm_factor(
                Actor::Session(&claims),
                enrollment.factor_id,
                &code,
                &self.client,
            )
            .await
            .expect("confirm");
        EnrolledUser {
            id: user.id,
            identifier,
            password,
            secret: enrollment.secret,
            backup_codes: enrolled.backup_codes.map(|b| b.codes).unwrap_or_default(),
        }
    }

    /// A fresh MFA ticket for `user`.
    ///
    /// # Panics
    /// When the login does not ask for MFA.
    pub async fn ticket(&self, user: &EnrolledUser) -> String {
        match self
            .mfa
            .login(self.login_request(&user.identifier, &user.password))
            .await
            .expect("login")
        {
            LoginOutcome::MfaRequired { ticket, .. } => ticket,
            other => panic!("expected MfaRequired, got {other:?}"),
        }
    }

    /// Completes a sign-in with TOTP and returns the tokens.
    ///
    /// # Panics
    /// When any step fails.
    pub async fn signed_in(&self, user: &EnrolledUser) -> Tokens {
        let ticket = self.ticket(user).await;
        self.next_step();
        let code = self.totp_code(&user.secret);
        self.mfa
            .verify(VerifyRequest {
                ticket: &ticket,
                method: FactorKind::Totp,
                code: &code,
                remember_device: false,
                client: &self.client,
            })
            .await
            .expect("verify")
            .tokens
    }
}

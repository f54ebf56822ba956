//! Configuration of [`Mfa`], validated once in [`MfaBuilder::build`]; at
//! start-up, [`MfaBuilder::open`] also checks the keys against the store.

use super::{Inner, Mfa};
use crate::blocklist::PasswordBlocklist;
use crate::clock::{Clock, SystemClock};
use crate::crypto::{JwtConfig, JwtKeys, KeyRing, PasswordHasher, TokenService};
use crate::delivery::DeliveryChannel;
use crate::error::{MfaError, MfaResult};
use crate::model::OtpChannel;
use crate::policy::Policy;
use crate::risk::{DefaultRiskEngine, GeoLocator, RiskEngine};
use crate::store::{AuditRepository, Store, UserRepository};
use std::sync::Arc;

/// Builder of [`Mfa`]. Every setting is checked in [`MfaBuilder::build`]: an
/// engine that builds cannot fail later for a configuration reason.
/// [`MfaBuilder::open`] builds and then checks that the key ring is the one
/// the store's data was written with: use it when a service starts on a
/// store that outlives the process.
#[derive(Default)]
pub struct MfaBuilder {
    store: Option<Arc<dyn Store>>,
    users: Option<Arc<dyn UserRepository>>,
    audit: Option<Arc<dyn AuditRepository>>,
    email: Option<Arc<dyn DeliveryChannel>>,
    sms: Option<Arc<dyn DeliveryChannel>>,
    keys: Option<KeyRing>,
    jwt: Option<(JwtConfig, JwtKeys)>,
    passwords: Option<PasswordHasher>,
    policy: Option<Policy>,
    risk: Option<Arc<dyn RiskEngine>>,
    geo: Option<Arc<dyn GeoLocator>>,
    clock: Option<Arc<dyn Clock>>,
    #[cfg(feature = "passkeys")]
    passkeys: Option<crate::passkey::PasskeyConfig>,
    push: Option<Arc<dyn crate::delivery::PushSender>>,
    password_blocklist: Option<PasswordBlocklist>,
    links: super::recovery::LinkUrls,
    templates: Option<crate::template::Templates>,
}

impl std::fmt::Debug for MfaBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaBuilder")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl MfaBuilder {
    /// Uses one store for every repository; every step runs in one unit of
    /// work of it.
    #[must_use]
    pub fn store<S: Store>(mut self, store: Arc<S>) -> Self {
        self.store = Some(store);
        self
    }

    /// Uses the host's own user table instead of the store's.
    ///
    /// Its calls are made outside the step's unit of work, each committed
    /// on its own: a failure counted on it stays counted whatever the step
    /// does next (the order is the same, count first, then check), but a
    /// step that fails after writing to it does not undo that write. To
    /// keep users inside the units, keep them in the store (its user
    /// table can be a view or be synchronised from the host's).
    #[must_use]
    pub fn users(mut self, users: Arc<dyn UserRepository>) -> Self {
        self.users = Some(users);
        self
    }

    /// Uses another audit log (for example the host's SIEM) instead of the
    /// store's. Its events are written as they happen, outside the step's
    /// unit of work.
    #[must_use]
    pub fn audit_log(mut self, audit: Arc<dyn AuditRepository>) -> Self {
        self.audit = Some(audit);
        self
    }

    /// The channel for email codes and email notifications.
    #[must_use]
    pub fn email(mut self, channel: Arc<dyn DeliveryChannel>) -> Self {
        self.email = Some(channel);
        self
    }

    /// The channel for SMS codes and SMS notifications.
    #[must_use]
    pub fn sms(mut self, channel: Arc<dyn DeliveryChannel>) -> Self {
        self.sms = Some(channel);
        self
    }

    /// Sealing keys and the root secret of keyed digests.
    #[must_use]
    pub fn keys(mut self, keys: KeyRing) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Issuer/audience of access tokens and their signing keys. The token
    /// lifetime comes from [`Policy::session`].
    #[must_use]
    pub fn tokens(mut self, config: JwtConfig, keys: JwtKeys) -> Self {
        self.jwt = Some((config, keys));
        self
    }

    /// The policy (defaults to [`Policy::default`]).
    #[must_use]
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// A password hasher other than the policy's (tests use cheap parameters).
    #[must_use]
    pub fn password_hasher(mut self, hasher: PasswordHasher) -> Self {
        self.passwords = Some(hasher);
        self
    }

    /// The risk engine (defaults to [`DefaultRiskEngine`]).
    #[must_use]
    pub fn risk(mut self, engine: impl RiskEngine + 'static) -> Self {
        self.risk = Some(Arc::new(engine));
        self
    }

    /// An IP geolocation source: the client's country when the host gives
    /// none (recorded on sessions, devices and audit events), and the
    /// "new country" and "impossible travel" risk signals. Without one,
    /// only a country the host puts in
    /// [`ClientInfo::country`](crate::ClientInfo::country) is known
    /// and travel is never judged. With feature `geoip`,
    /// `mfa_core::geoip::MaxMindLocator` reads a MaxMind database.
    #[must_use]
    pub fn geo(mut self, geo: Arc<dyn GeoLocator>) -> Self {
        self.geo = Some(geo);
        self
    }

    /// The clock (defaults to [`SystemClock`]; tests pass a
    /// [`crate::clock::ManualClock`]).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Turns on passkeys and security keys (WebAuthn) for this relying
    /// party. Its id and origins are checked by [`MfaBuilder::build`].
    #[cfg(feature = "passkeys")]
    #[must_use]
    pub fn passkeys(mut self, config: crate::passkey::PasskeyConfig) -> Self {
        self.passkeys = Some(config);
        self
    }

    /// Turns on push approval: phone apps enrol a device key and approve
    /// sign-ins with number matching; `sender` delivers the notices
    /// (`mfa_delivery::push::PushRouter` implements it). The limits are
    /// `policy.push`.
    #[must_use]
    pub fn push(mut self, sender: Arc<dyn crate::delivery::PushSender>) -> Self {
        self.push = Some(sender);
        self
    }

    /// Where the password reset and email verification links point: each
    /// a URL with `{token}` where the token goes, e.g.
    /// `https://app.example.com/reset#token={token}` (a fragment keeps the
    /// token out of server logs). Without one, the message carries the
    /// token to paste. Checked at [`MfaBuilder::build`].
    #[must_use]
    pub fn links(mut self, links: super::recovery::LinkUrls) -> Self {
        self.links = links;
        self
    }

    /// The host's own list of passwords to refuse at sign-up and password
    /// change ([`Mfa::create_user`], [`Mfa::change_password`]), besides the
    /// shipped one: words of its business, or a larger list of breached
    /// passwords it may use. Compared in the same normalised form (see
    /// [`crate::blocklist`]) and checked even when
    /// `policy.password.refuse_common` is off; a listed password is
    /// refused with reason `too common`.
    #[must_use]
    pub fn password_blocklist(mut self, list: PasswordBlocklist) -> Self {
        self.password_blocklist = Some(list);
        self
    }

    /// The wording of the texts the engine writes itself: the title and
    /// body of a push approval notice (see [`crate::template`]; the shipped
    /// templates unless set). Messages sent through a delivery channel are
    /// rendered by the channel with the templates it was given; pass the
    /// same [`Templates`](crate::template::Templates) to both.
    #[must_use]
    pub fn templates(mut self, templates: crate::template::Templates) -> Self {
        self.templates = Some(templates);
        self
    }

    /// Checks the configuration and builds the engine, then checks the key
    /// ring against the store ([`Mfa::check_keys`]): the way to start a
    /// service on a store that outlives the process (a file or a database).
    /// A store opened with other keys than its data was written with fails
    /// here, with a message saying which key and what to do, instead of
    /// failing sign-ins later. It then reads the newest audit checkpoints,
    /// so that this instance's first checkpoint vouches for those of the
    /// instances before it (see [`crate::audit`], "Guarantees").
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use mfa_core::{Mfa, MfaError};
    /// # use mfa_core::crypto::{JwtConfig, JwtKeys, KeyRing};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = Arc::new(mfa_store_memory::MemoryStore::new());
    /// let tokens = || JwtKeys::generate_ed25519("k1");
    /// let config = || JwtConfig::new("https://auth.example", "api");
    /// let _mfa = Mfa::builder()
    ///     .store(store.clone())
    ///     .keys(KeyRing::generate()) // production: KeyRing::from_env()?
    ///     .tokens(config(), tokens()?)
    ///     .open()
    ///     .await?;
    ///
    /// // The same store with other keys: refused at start-up.
    /// let other = Mfa::builder()
    ///     .store(store)
    ///     .keys(KeyRing::generate())
    ///     .tokens(config(), tokens()?)
    ///     .open()
    ///     .await;
    /// assert!(matches!(other, Err(MfaError::KeyMismatch(_))));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`MfaBuilder::build`], then as [`Mfa::check_keys`]:
    /// [`MfaError::KeyMismatch`] or a store error; a store error reading
    /// the audit log.
    pub async fn open(self) -> MfaResult<Mfa> {
        let mfa = self.build()?;
        mfa.check_keys().await?;
        mfa.inner.anchor_audit().await?;
        Ok(mfa)
    }

    /// Checks the configuration and builds the engine, without touching the
    /// store: the key ring is not compared with the store's data. A
    /// service starting on a store that outlives the process calls
    /// [`MfaBuilder::open`] instead (or [`Mfa::check_keys`] before it
    /// serves).
    ///
    /// # Errors
    /// [`MfaError::Config`] naming what is missing or invalid: a repository,
    /// the keys, the token configuration, a policy value out of bounds, or an
    /// enabled method without its delivery channel.
    pub fn build(self) -> MfaResult<Mfa> {
        fn need<T>(value: Option<T>, what: &str) -> MfaResult<T> {
            value.ok_or_else(|| MfaError::Config(format!("missing {what}")))
        }
        let policy = self.policy.unwrap_or_default();
        policy.validate().map_err(MfaError::Config)?;
        if policy.methods.email && self.email.is_none() {
            return Err(MfaError::Config(
                "email codes are enabled but no email channel is set".into(),
            ));
        }
        if policy.methods.sms && self.sms.is_none() {
            return Err(MfaError::Config(
                "SMS codes are enabled but no SMS channel is set".into(),
            ));
        }
        for (channel, expected) in [
            (&self.email, OtpChannel::Email),
            (&self.sms, OtpChannel::Sms),
        ] {
            if let Some(c) = channel
                && c.channel() != expected
            {
                return Err(MfaError::Config(format!(
                    "the {} channel delivers to {} destinations",
                    expected.as_str(),
                    c.channel().as_str()
                )));
            }
        }
        let (mut jwt_config, jwt_keys) = need(self.jwt, "token configuration (tokens)")?;
        jwt_config.ttl = policy.session.access_ttl;
        let tokens = TokenService::new(jwt_config, jwt_keys)
            .map_err(|e| MfaError::Config(format!("tokens: {e}")))?;
        let passwords = match self.passwords {
            Some(hasher) => hasher,
            None => PasswordHasher::new(policy.password.argon2)
                .map_err(|e| MfaError::Config(format!("password hasher: {e}")))?,
        };
        let inner = Inner {
            store: need(self.store, "store")?,
            host_users: self.users,
            host_audit: self.audit,
            email: self.email,
            sms: self.sms,
            keys: Arc::new(need(self.keys, "key ring (keys)")?),
            tokens,
            passwords,
            policy,
            risk: self
                .risk
                .unwrap_or_else(|| Arc::new(DefaultRiskEngine::default())),
            geo: self.geo,
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            #[cfg(feature = "passkeys")]
            passkeys: match &self.passkeys {
                Some(config) => Some(Arc::new(
                    crate::passkey::RelyingParty::new(config).map_err(MfaError::Config)?,
                )),
                None => None,
            },
            push: self.push,
            password_blocklist: self.password_blocklist,
            links: self.links.checked().map_err(MfaError::Config)?,
            templates: self.templates.unwrap_or_default(),
            chains: super::chains::Chains::default(),
        };
        Ok(Mfa {
            inner: Arc::new(inner),
        })
    }
}

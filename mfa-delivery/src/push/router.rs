//! [`PushRouter`]: one [`PushTransport`] over the senders you configured.

use super::{EndpointPolicy, PushAddress, PushKind, PushMessage, PushTransport};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mfa_core::clock::{Clock, SystemClock};
use mfa_core::delivery::DeliveryError;
use std::fmt;
use std::sync::Arc;

/// Sends each message with the sender for its address's kind. A kind with
/// no sender is [`DeliveryError::Rejected`] (the address may be fine; this
/// server cannot reach it).
///
/// It is also the engine's
/// [`PushSender`](mfa_core::delivery::PushSender): the engine hands it a
/// device's address as the JSON the app registered (the serde form of
/// [`PushAddress`]) and a
/// [`PushNotice`](mfa_core::delivery::PushNotice), which the router turns
/// into a [`PushMessage`] with [`message_of`](super::message_of).
///
/// ```
/// use std::sync::Arc;
/// use mfa_core::delivery::PushSender;
/// use mfa_delivery::push::{PushKind, PushRouter};
///
/// let router = PushRouter::new(); // add senders with `with_web_push`, `with_fcm`, `with_apns`
/// assert!(!router.supports(PushKind::Apns));
/// // What `MfaBuilder::push` takes.
/// let _sender: Arc<dyn PushSender> = Arc::new(router);
/// ```
#[derive(Clone)]
pub struct PushRouter {
    web_push: Option<Arc<dyn PushTransport>>,
    fcm: Option<Arc<dyn PushTransport>>,
    apns: Option<Arc<dyn PushTransport>>,
    policy: EndpointPolicy,
    clock: Arc<dyn Clock>,
}

impl Default for PushRouter {
    fn default() -> Self {
        Self {
            web_push: None,
            fcm: None,
            apns: None,
            policy: EndpointPolicy::HttpsOnly,
            clock: Arc::new(SystemClock),
        }
    }
}

impl PushRouter {
    /// A router with no senders, the system clock and
    /// [`EndpointPolicy::HttpsOnly`].
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `clock` for the time to live of the engine's notices (until
    /// [`PushNotice::expires_at`](mfa_core::delivery::PushNotice::expires_at)).
    /// Give it the engine's clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Which Web Push endpoints the engine's addresses may have
    /// ([`PushSender::check_address`](mfa_core::delivery::PushSender::check_address)
    /// and `send_push` validate them with
    /// [`PushAddress::validate_with`]). Leave it at
    /// [`EndpointPolicy::HttpsOnly`] (the default) outside tests.
    #[must_use]
    pub fn with_endpoint_policy(mut self, policy: EndpointPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sends [`PushAddress::WebPush`] addresses with `sender`, usually a
    /// [`WebPushSender`](super::web_push::WebPushSender).
    #[must_use]
    pub fn with_web_push(mut self, sender: Arc<dyn PushTransport>) -> Self {
        self.web_push = Some(sender);
        self
    }

    /// Sends [`PushAddress::Fcm`] addresses with `sender`, usually an
    /// [`FcmSender`](super::fcm::FcmSender).
    #[must_use]
    pub fn with_fcm(mut self, sender: Arc<dyn PushTransport>) -> Self {
        self.fcm = Some(sender);
        self
    }

    /// Sends [`PushAddress::Apns`] addresses with `sender`, usually an
    /// [`ApnsSender`](super::apns::ApnsSender).
    #[must_use]
    pub fn with_apns(mut self, sender: Arc<dyn PushTransport>) -> Self {
        self.apns = Some(sender);
        self
    }

    /// Whether a sender is configured for `kind`: offer only those kinds
    /// when a device registers.
    #[must_use]
    pub fn supports(&self, kind: PushKind) -> bool {
        self.sender(kind).is_some()
    }

    /// The endpoint policy the engine's addresses are validated with.
    pub(super) fn endpoint_policy(&self) -> EndpointPolicy {
        self.policy
    }

    /// The router's time.
    pub(super) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn sender(&self, kind: PushKind) -> Option<&Arc<dyn PushTransport>> {
        match kind {
            PushKind::WebPush => self.web_push.as_ref(),
            PushKind::Fcm => self.fcm.as_ref(),
            PushKind::Apns => self.apns.as_ref(),
        }
    }
}

impl fmt::Debug for PushRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushRouter")
            .field("web_push", &self.web_push.is_some())
            .field("fcm", &self.fcm.is_some())
            .field("apns", &self.apns.is_some())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl PushTransport for PushRouter {
    async fn send(&self, to: &PushAddress, message: &PushMessage) -> Result<(), DeliveryError> {
        let kind = to.kind();
        match self.sender(kind) {
            Some(sender) => sender.send(to, message).await,
            None => Err(DeliveryError::Rejected(format!(
                "no push sender is configured for {kind} addresses"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    struct Counting(AtomicUsize);

    #[async_trait]
    impl PushTransport for Counting {
        async fn send(&self, _: &PushAddress, _: &PushMessage) -> Result<(), DeliveryError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test]
    async fn router_dispatches_by_kind_and_rejects_unconfigured_kinds() {
        let fcm = Arc::new(Counting::default());
        let router = PushRouter::new().with_fcm(fcm.clone());
        let message = PushMessage::new("t", "b");
        let to_fcm = PushAddress::Fcm { token: "t".into() };
        router.send(&to_fcm, &message).await.unwrap();
        assert_eq!(fcm.0.load(Ordering::SeqCst), 1);

        let to_apns = PushAddress::Apns {
            device_token: "00".repeat(32),
        };
        let r = router.send(&to_apns, &message).await;
        assert!(matches!(r, Err(DeliveryError::Rejected(_))), "{r:?}");
        assert!(router.supports(PushKind::Fcm) && !router.supports(PushKind::Apns));
        // Not "gone": the address may be fine, this server just cannot reach it.
        assert!(!super::super::address_is_gone(&r.unwrap_err()));
    }
}

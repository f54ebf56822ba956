//! [`PushRouter`] as the engine's [`PushSender`]: the address the engine
//! stored (the JSON of a [`PushAddress`]) is parsed and checked here, and
//! a [`PushNotice`] becomes a [`PushMessage`].

use super::{PushAddress, PushMessage, PushRouter, PushTransport};
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use mfa_core::delivery::{DeliveryError, PushNotice, PushSender};
use std::io;
use std::time::Duration;

/// The longest push address the engine may store: the engine's own bound,
/// [`mfa_core::MAX_PUSH_ADDRESS_LEN`] (4096 bytes of compact JSON). A real
/// one is under 1 KiB (a Web Push endpoint is at most 2048 bytes, an FCM
/// token a few hundred).
pub const MAX_ADDRESS_LEN: usize = mfa_core::MAX_PUSH_ADDRESS_LEN;

/// The `type` data value of an approval push, for the app to tell it from
/// other pushes.
const PUSH_APPROVAL: &str = "push_approval";

/// Counts serialised bytes and stops past [`MAX_ADDRESS_LEN`], so an
/// oversized address is refused without being copied.
struct Limited(usize);

impl io::Write for Limited {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 = self.0.saturating_add(buf.len());
        if self.0 > MAX_ADDRESS_LEN {
            return Err(io::Error::other("push address too long"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The address in `value`, exactly as a [`PushAddress`] serialises (any
/// other field, a missing one or a wrong type is refused), valid under the
/// router's endpoint policy. Every refusal is
/// [`DeliveryError::InvalidDestination`], and the error never quotes the
/// value.
fn parse(router: &PushRouter, value: &serde_json::Value) -> Result<PushAddress, DeliveryError> {
    serde_json::to_writer(Limited(0), value).map_err(|_| DeliveryError::InvalidDestination)?;
    let address = deserialize_strict(value)?;
    address
        .validate_with(router.endpoint_policy())
        .map_err(|_| DeliveryError::InvalidDestination)?;
    Ok(address)
}

/// `value` as an address, only if it serialises back to exactly `value`:
/// serde alone would ignore unknown fields.
fn deserialize_strict(value: &serde_json::Value) -> Result<PushAddress, DeliveryError> {
    let address: PushAddress =
        serde_json::from_value(value.clone()).map_err(|_| DeliveryError::InvalidDestination)?;
    if serde_json::to_value(&address).ok().as_ref() == Some(value) {
        Ok(address)
    } else {
        Err(DeliveryError::InvalidDestination)
    }
}

/// The message an engine's notice becomes at time `now`:
///
/// - the notice's title and body;
/// - data `{"type": "push_approval", "request_id": "<uuid>", "expires_at":
///   "<RFC 3339, UTC>"}`: the app fetches what it shows with the request id;
/// - a time to live until `expires_at`, in whole seconds rounded down (a
///   service never holds it past the request's end), at least 1 s;
/// - the request id's 32 hex digits as collapse id (within every service's
///   limit: Web Push `Topic` 32 characters, APNs 64 bytes), so a repeated
///   push for one request replaces the undelivered one.
#[must_use]
pub fn message_of(notice: &PushNotice, now: DateTime<Utc>) -> PushMessage {
    let left = (notice.expires_at - now).to_std().unwrap_or_default();
    PushMessage::new(notice.title.clone(), notice.body.clone())
        .with_data("type", PUSH_APPROVAL.into())
        .with_data("request_id", notice.request.to_string().into())
        .with_data(
            "expires_at",
            notice
                .expires_at
                .to_rfc3339_opts(SecondsFormat::AutoSi, true)
                .into(),
        )
        .with_ttl(Duration::from_secs(left.as_secs().max(1)))
        .with_collapse_id(notice.request.as_uuid().simple().to_string())
}

#[async_trait]
impl PushSender for PushRouter {
    /// Accepts `address` if it is the exact JSON of a [`PushAddress`]
    /// (at most [`MAX_ADDRESS_LEN`] bytes, no unknown field), passes
    /// [`PushAddress::validate_with`] under the router's endpoint policy,
    /// and the router has a sender for its kind.
    ///
    /// # Errors
    /// [`DeliveryError::InvalidDestination`] otherwise.
    fn check_address(&self, address: &serde_json::Value) -> Result<(), DeliveryError> {
        let address = parse(self, address)?;
        if self.supports(address.kind()) {
            Ok(())
        } else {
            Err(DeliveryError::InvalidDestination)
        }
    }

    /// Sends [`message_of`] the notice (at the router's clock's time) with
    /// the sender for the address's kind.
    ///
    /// # Errors
    /// [`DeliveryError::InvalidDestination`] for a stored address that no
    /// longer parses or validates (nothing is sent);
    /// [`DeliveryError::Rejected`] when no sender serves its kind any more;
    /// [`DeliveryError::Gone`] when the service no longer knows it; or the
    /// sender's other errors.
    async fn send_push(
        &self,
        address: &serde_json::Value,
        notice: &PushNotice,
    ) -> Result<(), DeliveryError> {
        let address = parse(self, address)?;
        let message = message_of(notice, self.now());
        self.send(&address, &message).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push::{EndpointPolicy, PushKind, address_is_gone};
    use chrono::TimeDelta;
    use mfa_core::clock::{Clock, ManualClock};
    use mfa_core::model::PushRequestId;
    use serde_json::{Value, json};
    use std::sync::{Arc, Mutex};

    /// Records what it is asked to send; answers `Ok` or a fixed error.
    #[derive(Default)]
    struct Recording {
        sent: Mutex<Vec<(PushAddress, PushMessage)>>,
        answer: Option<fn() -> DeliveryError>,
    }

    impl Recording {
        fn answering(answer: fn() -> DeliveryError) -> Self {
            Self {
                answer: Some(answer),
                ..Self::default()
            }
        }

        fn sent(&self) -> Vec<(PushAddress, PushMessage)> {
            self.sent.lock().unwrap().clone()
        }
    }

    #[async_trait]
    impl PushTransport for Recording {
        async fn send(&self, to: &PushAddress, message: &PushMessage) -> Result<(), DeliveryError> {
            self.sent
                .lock()
                .unwrap()
                .push((to.clone(), message.clone()));
            match self.answer {
                Some(error) => Err(error()),
                None => Ok(()),
            }
        }
    }

    /// P-256's generator, uncompressed: a valid subscription key.
    const P256DH: &str =
        "BGsX0fLhLEJH-Lzm5WOkQPJ3A32BLeszoPShOUXYmMKWT-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU";
    const AUTH: &str = "AAECAwQFBgcICQoLDA0ODw";

    fn web_push(endpoint: &str) -> Value {
        json!({"kind": "web_push", "endpoint": endpoint, "p256dh": P256DH, "auth": AUTH})
    }

    fn web() -> Value {
        web_push("https://updates.push.services.mozilla.com/wpush/v2/gAAAA")
    }

    fn fcm() -> Value {
        json!({"kind": "fcm", "token": "dGVzdA:APA91bH-x_y.z"})
    }

    fn apns() -> Value {
        json!({"kind": "apns", "device_token": "ab".repeat(32)})
    }

    fn invalid(result: Result<(), DeliveryError>) -> bool {
        matches!(result, Err(DeliveryError::InvalidDestination))
    }

    fn clock() -> Arc<ManualClock> {
        Arc::new(ManualClock::default())
    }

    fn notice(expires_at: DateTime<Utc>) -> PushNotice {
        PushNotice {
            request: PushRequestId::random(),
            title: "Approve sign-in?".into(),
            body: "Firefox on Linux, CH".into(),
            expires_at,
            product_name: "Acme".into(),
        }
    }

    #[test]
    fn the_test_addresses_are_valid() {
        for address in [web(), fcm(), apns()] {
            let parsed: PushAddress = serde_json::from_value(address).unwrap();
            assert_eq!(parsed.validate(), Ok(()), "{parsed:?}");
        }
    }

    #[test]
    fn each_kind_is_accepted_only_when_the_router_has_a_sender_for_it() {
        let t = || Arc::new(Recording::default());
        let none = PushRouter::new();
        let web_only = PushRouter::new().with_web_push(t());
        let fcm_only = PushRouter::new().with_fcm(t());
        let apns_only = PushRouter::new().with_apns(t());
        let all = PushRouter::new()
            .with_web_push(t())
            .with_fcm(t())
            .with_apns(t());
        for (router, accepts) in [
            (&none, [false, false, false]),
            (&web_only, [true, false, false]),
            (&fcm_only, [false, true, false]),
            (&apns_only, [false, false, true]),
            (&all, [true, true, true]),
        ] {
            for (address, accepted) in [web(), fcm(), apns()].into_iter().zip(accepts) {
                let r = router.check_address(&address);
                if accepted {
                    assert!(r.is_ok(), "{router:?} {address}: {r:?}");
                } else {
                    assert!(invalid(r), "{router:?} {address}");
                }
            }
        }
    }

    #[test]
    fn malformed_addresses_are_invalid_destinations() {
        let all = PushRouter::new()
            .with_web_push(Arc::new(Recording::default()))
            .with_fcm(Arc::new(Recording::default()))
            .with_apns(Arc::new(Recording::default()));
        let mut with_extra = web();
        with_extra["keys"] = json!({"p256dh": P256DH, "auth": AUTH});
        for bad in [
            json!({"kind": "fcm"}),
            json!({"token": "abc"}),
            json!({"kind": "fcm", "token": 7}),
            json!({"kind": "fcm", "token": null}),
            json!({"kind": "fcm", "token": "abc", "extra": true}),
            json!({"kind": "FCM", "token": "abc"}),
            json!({"kind": "carrier_pigeon", "token": "abc"}),
            json!({"kind": "apns", "token": "ab".repeat(32)}),
            json!({"kind": "web_push", "endpoint": "https://p.example/x", "p256dh": P256DH}),
            with_extra,
            json!("fcm"),
            json!(["fcm", "abc"]),
            Value::Null,
            // Parses, fails validation.
            json!({"kind": "fcm", "token": "has space"}),
            json!({"kind": "apns", "device_token": "zz".repeat(32)}),
            json!({"kind": "web_push", "endpoint": "https://p.example/x", "p256dh": "AAAA", "auth": AUTH}),
            web_push("http://push.example.com/x"),
            web_push("http://127.0.0.1:8080/x"),
        ] {
            assert!(invalid(all.check_address(&bad)), "{bad}");
        }
    }

    #[test]
    fn oversized_addresses_are_refused_before_parsing() {
        let router = PushRouter::new().with_fcm(Arc::new(Recording::default()));
        // A token FCM's own check accepts (at most 4096 bytes), in JSON
        // longer than MAX_ADDRESS_LEN.
        let token = "t".repeat(MAX_ADDRESS_LEN - 20);
        let address = PushAddress::Fcm {
            token: token.clone(),
        };
        assert_eq!(address.validate(), Ok(()));
        let value = serde_json::to_value(&address).unwrap();
        assert!(serde_json::to_vec(&value).unwrap().len() > MAX_ADDRESS_LEN);
        assert!(invalid(router.check_address(&value)));

        // Just under the limit passes.
        let fits = json!({"kind": "fcm", "token": "t".repeat(MAX_ADDRESS_LEN - 40)});
        assert!(serde_json::to_vec(&fits).unwrap().len() <= MAX_ADDRESS_LEN);
        assert!(router.check_address(&fits).is_ok());
    }

    #[test]
    fn loopback_endpoints_pass_only_under_the_test_policy() {
        let sender = || Arc::new(Recording::default());
        let loopback = web_push("http://127.0.0.1:8080/push/x");
        assert!(invalid(
            PushRouter::new()
                .with_web_push(sender())
                .check_address(&loopback)
        ));
        let test = PushRouter::new()
            .with_web_push(sender())
            .with_endpoint_policy(EndpointPolicy::AllowLoopbackHttp);
        assert!(test.check_address(&loopback).is_ok());
        assert!(invalid(
            test.check_address(&web_push("http://push.example.com/x"))
        ));
    }

    #[tokio::test]
    async fn a_notice_is_sent_as_a_message_naming_the_request_until_it_expires() {
        let clock = clock();
        let fcm_sender = Arc::new(Recording::default());
        let apns_sender = Arc::new(Recording::default());
        let router = PushRouter::new()
            .with_fcm(fcm_sender.clone())
            .with_apns(apns_sender.clone())
            .with_clock(clock.clone());
        let expires_at = clock.now() + TimeDelta::seconds(90);
        let notice = notice(expires_at);
        router.send_push(&fcm(), &notice).await.unwrap();

        assert!(apns_sender.sent().is_empty());
        let sent = fcm_sender.sent();
        assert_eq!(sent.len(), 1);
        let (to, m) = &sent[0];
        assert_eq!(
            to,
            &PushAddress::Fcm {
                token: "dGVzdA:APA91bH-x_y.z".into()
            }
        );
        assert_eq!(m.title, "Approve sign-in?");
        assert_eq!(m.body, "Firefox on Linux, CH");
        let data: Value = m.data.clone().into();
        assert_eq!(
            data,
            json!({
                "type": "push_approval",
                "request_id": notice.request.to_string(),
                "expires_at": expires_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            })
        );
        assert_eq!(
            m.data["request_id"]
                .as_str()
                .unwrap()
                .parse::<PushRequestId>()
                .ok(),
            Some(notice.request)
        );
        assert_eq!(
            DateTime::parse_from_rfc3339(m.data["expires_at"].as_str().unwrap()).unwrap(),
            expires_at
        );
        assert_eq!(m.ttl, Duration::from_secs(90));
        let collapse = m.collapse_id.as_deref().unwrap();
        assert_eq!(collapse, notice.request.as_uuid().simple().to_string());
        assert_eq!(collapse.len(), 32);
        assert!(m.check().is_ok(), "the collapse id fits every service");

        // Later, less time is left: the router's clock decides.
        clock.advance(TimeDelta::seconds(60));
        router.send_push(&apns(), &notice).await.unwrap();
        assert_eq!(apns_sender.sent()[0].1.ttl, Duration::from_secs(30));
    }

    #[test]
    fn the_time_to_live_is_whole_seconds_and_at_least_one() {
        let now = ManualClock::default().now();
        let ttl = |left: TimeDelta| message_of(&notice(now + left), now).ttl;
        assert_eq!(ttl(TimeDelta::seconds(300)), Duration::from_secs(300));
        assert_eq!(ttl(TimeDelta::milliseconds(2_900)), Duration::from_secs(2));
        assert_eq!(ttl(TimeDelta::milliseconds(400)), Duration::from_secs(1));
        assert_eq!(ttl(TimeDelta::zero()), Duration::from_secs(1));
        assert_eq!(ttl(TimeDelta::seconds(-5)), Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_gone_device_is_reported_as_gone() {
        let router = PushRouter::new()
            .with_clock(clock())
            .with_fcm(Arc::new(Recording::answering(|| DeliveryError::Gone)));
        let r = router
            .send_push(&fcm(), &notice(ManualClock::default().now()))
            .await;
        assert!(matches!(r, Err(DeliveryError::Gone)), "{r:?}");
        assert!(address_is_gone(&r.unwrap_err()));
    }

    #[tokio::test]
    async fn other_sender_errors_pass_through_unchanged() {
        let router =
            PushRouter::new()
                .with_clock(clock())
                .with_fcm(Arc::new(Recording::answering(|| {
                    DeliveryError::Transient("503".into())
                })));
        let r = router
            .send_push(&fcm(), &notice(ManualClock::default().now()))
            .await;
        assert!(matches!(r, Err(DeliveryError::Transient(_))), "{r:?}");
    }

    #[tokio::test]
    async fn a_stored_address_that_no_longer_passes_is_invalid_and_nothing_is_sent() {
        let sender = Arc::new(Recording::default());
        let router = PushRouter::new()
            .with_clock(clock())
            .with_fcm(sender.clone());
        let notice = notice(ManualClock::default().now() + TimeDelta::seconds(60));
        for stored in [
            json!({"kind": "fcm", "token": "has space"}),
            json!({"kind": "fcm", "token": "abc", "extra": 1}),
            json!({"kind": "telegram", "token": "abc"}),
        ] {
            let r = router.send_push(&stored, &notice).await;
            assert!(matches!(r, Err(DeliveryError::InvalidDestination)), "{r:?}");
        }
        assert!(sender.sent().is_empty());
    }

    #[tokio::test]
    async fn a_kind_no_longer_configured_is_rejected_not_gone() {
        let router = PushRouter::new()
            .with_clock(clock())
            .with_fcm(Arc::new(Recording::default()));
        assert!(!router.supports(PushKind::Apns));
        let r = router
            .send_push(&apns(), &notice(ManualClock::default().now()))
            .await;
        assert!(matches!(r, Err(DeliveryError::Rejected(_))), "{r:?}");
        assert!(!address_is_gone(&r.unwrap_err()));
    }

    #[test]
    fn refusals_never_quote_the_address() {
        let router = PushRouter::new().with_fcm(Arc::new(Recording::default()));
        let secret = "secret-token-value";
        for bad in [
            json!({"kind": "fcm", "token": format!("{secret} x")}),
            json!({"kind": "apns", "device_token": secret}),
        ] {
            let e = router.check_address(&bad).unwrap_err();
            assert!(
                !format!("{e} {e:?}").contains(secret),
                "{e:?} quotes the address"
            );
        }
    }
}

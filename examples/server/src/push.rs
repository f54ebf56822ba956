//! Push approval for the service: the real transports (Web Push, FCM,
//! APNs) when they are configured, and in development a `dev` device kind
//! whose notices go to the outbox file or the log, so a test app (or a
//! developer with `curl`) can play the phone.

use crate::config::{Config, ConfigError, DevDelivery, Mode, PushSettings};
use crate::outbox::OUTBOX_FILE;
use async_trait::async_trait;
use mfa_core::crypto::SecretString;
use mfa_core::delivery::{DeliveryError, PushNotice, PushSender};
use mfa_delivery::push::PushRouter;
use mfa_delivery::push::apns::{APNS_SANDBOX, ApnsConfig, ApnsSender};
use mfa_delivery::push::fcm::{FcmConfig, FcmSender, ServiceAccountKey};
use mfa_delivery::push::web_push::{WebPushConfig, WebPushSender};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The address kind of a development device: `{"kind": "dev", "token":
/// "…"}` (1 to 64 characters of `[A-Za-z0-9._-]`).
pub const DEV_KIND: &str = "dev";

/// Where development notices go.
#[derive(Debug)]
enum DevSink {
    /// One JSON line per notice in the outbox file.
    Outbox { path: PathBuf, lock: Mutex<()> },
    /// The log.
    Log,
}

/// The service's push sender.
pub struct ServicePush {
    router: Option<PushRouter>,
    dev: Option<DevSink>,
}

impl std::fmt::Debug for ServicePush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServicePush")
            .field("router", &self.router)
            .field("dev", &self.dev)
            .finish()
    }
}

fn dev_token(address: &serde_json::Value) -> Option<&str> {
    let object = address.as_object()?;
    if object.len() != 2 || object.get("kind")?.as_str()? != DEV_KIND {
        return None;
    }
    object.get("token")?.as_str().filter(|t| {
        (1..=64).contains(&t.len())
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    })
}

fn is_dev(address: &serde_json::Value) -> bool {
    address.get("kind").and_then(serde_json::Value::as_str) == Some(DEV_KIND)
}

fn read_secret(variable: &'static str, path: &PathBuf) -> Result<SecretString, ConfigError> {
    std::fs::read_to_string(path)
        .map(SecretString::from)
        .map_err(|e| ConfigError::new(variable, format!("cannot read {}: {e}", path.display())))
}

impl ServicePush {
    /// The sender the configuration asks for, or `None` when there is no
    /// transport at all (push approval is then off).
    ///
    /// # Errors
    /// A transport whose settings do not build.
    pub fn from_config(config: &Config) -> Result<Option<Self>, ConfigError> {
        let settings: &PushSettings = &config.push;
        let mut router = PushRouter::new();
        let mut any = false;
        if let Some((key, subject)) = &settings.vapid {
            let sender = WebPushSender::new(WebPushConfig::new(key.clone(), subject.clone()))
                .map_err(|e| ConfigError::new("MFA_PUSH_VAPID_KEY", e.to_string()))?;
            router = router.with_web_push(Arc::new(sender));
            any = true;
        }
        if let Some(path) = &settings.fcm_service_account {
            let json = read_secret("MFA_PUSH_FCM_SERVICE_ACCOUNT", path)?;
            let key =
                ServiceAccountKey::from_json(mfa_core::crypto::ExposeSecret::expose_secret(&json))
                    .map_err(|e| ConfigError::new("MFA_PUSH_FCM_SERVICE_ACCOUNT", e.to_string()))?;
            let sender = FcmSender::new(FcmConfig::new(key))
                .map_err(|e| ConfigError::new("MFA_PUSH_FCM_SERVICE_ACCOUNT", e.to_string()))?;
            router = router.with_fcm(Arc::new(sender));
            any = true;
        }
        if let Some(apns) = &settings.apns {
            let key = read_secret("MFA_PUSH_APNS_KEY", &apns.key_path)?;
            let mut apns_config = ApnsConfig::new(
                apns.team_id.clone(),
                apns.key_id.clone(),
                key,
                apns.topic.clone(),
            );
            if apns.sandbox {
                apns_config.base_url = APNS_SANDBOX.into();
            }
            let sender = ApnsSender::new(apns_config)
                .map_err(|e| ConfigError::new("MFA_PUSH_APNS_KEY", e.to_string()))?;
            router = router.with_apns(Arc::new(sender));
            any = true;
        }
        let dev = match (config.mode, config.dev_delivery) {
            (Mode::Production, _) | (_, DevDelivery::None) => None,
            (Mode::Development, DevDelivery::Outbox) => Some(DevSink::Outbox {
                path: config.data_dir.join(OUTBOX_FILE),
                lock: Mutex::new(()),
            }),
            (Mode::Development, DevDelivery::Log) => Some(DevSink::Log),
        };
        if !any && dev.is_none() {
            return Ok(None);
        }
        Ok(Some(Self {
            router: any.then_some(router),
            dev,
        }))
    }

    fn dev_send(sink: &DevSink, token: &str, notice: &PushNotice) -> Result<(), DeliveryError> {
        match sink {
            DevSink::Outbox { path, lock } => {
                let line = serde_json::json!({
                    "at": chrono::Utc::now(),
                    "channel": "push",
                    "kind": "push",
                    "to": token,
                    "request": notice.request,
                    "subject": notice.title,
                    "text": notice.body,
                    "expires_at": notice.expires_at,
                });
                let _guard = lock
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| DeliveryError::Transient(e.kind().to_string()))?;
                writeln!(file, "{line}")
                    .map_err(|e| DeliveryError::Transient(e.kind().to_string()))?;
            }
            DevSink::Log => {
                tracing::info!(
                    request = %notice.request,
                    title = %notice.title,
                    "development push: a sign-in waits for approval"
                );
            }
        }
        Ok(())
    }
}

#[async_trait]
impl PushSender for ServicePush {
    fn check_address(&self, address: &serde_json::Value) -> Result<(), DeliveryError> {
        if is_dev(address) {
            return match (&self.dev, dev_token(address)) {
                (Some(_), Some(_)) => Ok(()),
                _ => Err(DeliveryError::InvalidDestination),
            };
        }
        match &self.router {
            Some(router) => router.check_address(address),
            None => Err(DeliveryError::InvalidDestination),
        }
    }

    async fn send_push(
        &self,
        address: &serde_json::Value,
        notice: &PushNotice,
    ) -> Result<(), DeliveryError> {
        if is_dev(address) {
            return match (&self.dev, dev_token(address)) {
                (Some(sink), Some(token)) => Self::dev_send(sink, token, notice),
                _ => Err(DeliveryError::InvalidDestination),
            };
        }
        match &self.router {
            Some(router) => router.send_push(address, notice).await,
            None => Err(DeliveryError::InvalidDestination),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_addresses_are_checked_strictly() {
        let mut config = Config::development(std::env::temp_dir());
        config.dev_delivery = DevDelivery::Log;
        let push = ServicePush::from_config(&config).unwrap().unwrap();
        assert!(
            push.check_address(&serde_json::json!({"kind": "dev", "token": "phone-1"}))
                .is_ok()
        );
        for bad in [
            serde_json::json!({"kind": "dev"}),
            serde_json::json!({"kind": "dev", "token": ""}),
            serde_json::json!({"kind": "dev", "token": "a b"}),
            serde_json::json!({"kind": "dev", "token": "x", "extra": 1}),
            serde_json::json!({"kind": "fcm", "token": "no fcm sender here"}),
            serde_json::json!("dev"),
        ] {
            assert!(push.check_address(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn production_has_no_dev_devices_and_no_push_without_a_transport() {
        let mut config = Config::development(std::env::temp_dir());
        config.mode = Mode::Production;
        config.dev_delivery = DevDelivery::Log;
        assert!(ServicePush::from_config(&config).unwrap().is_none());
    }
}

//! Google OAuth 2 access tokens for a service account: the JWT bearer
//! grant (RFC 7523) with an RS256 assertion, the token kept until shortly
//! before it expires.

use super::fcm::ServiceAccountKey;
use super::keys::rs256_key;
use super::{PushConfigError, base_url, provider_reason};
use crate::http::transport_error;
use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mfa_core::crypto::{ExposeSecret, SecretString};
use mfa_core::delivery::DeliveryError;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::fmt;

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Access tokens for one service account and scope.
pub(super) struct TokenSource {
    client_email: String,
    key_id: Option<String>,
    key: EncodingKey,
    token_uri: String,
    scope: &'static str,
    cached: tokio::sync::Mutex<Option<AccessToken>>,
}

struct AccessToken {
    value: SecretString,
    refresh_at: DateTime<Utc>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// Checks the key (it must sign RS256), the email and the token URI.
    pub(super) fn new(
        account: ServiceAccountKey,
        scope: &'static str,
    ) -> Result<Self, PushConfigError> {
        let key = rs256_key(account.private_key.expose_secret(), "service-account key")
            .map_err(PushConfigError::Invalid)?;
        if !account.client_email.contains('@') {
            return Err(PushConfigError::Invalid("client_email".into()));
        }
        Ok(Self {
            client_email: account.client_email,
            key_id: account.private_key_id,
            key,
            token_uri: base_url(&account.token_uri, "token_uri")?,
            scope,
            cached: tokio::sync::Mutex::new(None),
        })
    }

    /// The cached access token, or a new one. The lock is held while
    /// fetching, so concurrent sends make one token request.
    pub(super) async fn token(
        &self,
        client: &reqwest::Client,
        now: DateTime<Utc>,
    ) -> Result<SecretString, DeliveryError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| now < t.refresh_at) {
            return Ok(token.value.clone());
        }
        let fresh = self.fetch(client, now).await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    /// Drops the cached token (the service refused it).
    pub(super) async fn forget(&self) {
        *self.cached.lock().await = None;
    }

    async fn fetch(
        &self,
        client: &reqwest::Client,
        now: DateTime<Utc>,
    ) -> Result<AccessToken, DeliveryError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid.clone_from(&self.key_id);
        let claims = json!({
            "iss": self.client_email,
            "scope": self.scope,
            "aud": self.token_uri,
            "iat": now.timestamp(),
            "exp": (now + TimeDelta::hours(1)).timestamp(),
        });
        let assertion = jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|_| DeliveryError::Rejected("could not sign the token request".into()))?;
        let response = client
            .post(&self.token_uri)
            .form(&[("grant_type", JWT_BEARER), ("assertion", &assertion)])
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        if !status.is_success() {
            let error = response.json::<Value>().await.ok();
            let reason = provider_reason(error.as_ref().and_then(|e| e["error"].as_str()));
            return Err(if retryable(status) {
                DeliveryError::Transient(format!("token endpoint answered {status}"))
            } else {
                DeliveryError::Rejected(format!(
                    "token endpoint refused the service account: {status} {reason}"
                ))
            });
        }
        #[derive(Deserialize)]
        struct Answer {
            access_token: SecretString,
            expires_in: u32,
        }
        let answer: Answer = response
            .json()
            .await
            .map_err(|_| DeliveryError::Transient("token endpoint: unexpected answer".into()))?;
        let lifetime = TimeDelta::seconds(i64::from(answer.expires_in));
        // Renew shortly before expiry, so no request carries a token that
        // expires on the way.
        let margin = (lifetime / 2).min(TimeDelta::minutes(5));
        Ok(AccessToken {
            value: answer.access_token,
            refresh_at: now + lifetime - margin,
        })
    }
}

/// Whether a Google API answer may pass on a later attempt.
pub(super) fn retryable(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
}

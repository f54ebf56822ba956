//! The HTTP client shared by the SMS and webhook transports: timeouts, no
//! redirects, retries on 5xx / timeouts / connection errors, 4xx mapped to
//! [`DeliveryError::Rejected`].

use crate::retry::RetryPolicy;
use mfa_core::delivery::DeliveryError;
use std::time::Duration;

/// A configured client plus its retry policy.
#[derive(Debug, Clone)]
pub(crate) struct HttpSender {
    client: reqwest::Client,
    retry: RetryPolicy,
}

impl HttpSender {
    pub(crate) fn new(timeout: Duration, retry: RetryPolicy) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A provider answering with a redirect is misconfigured; never
            // follow it with credentials and a code in the body.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mfa-delivery/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self { client, retry })
    }

    /// Sends the request `build` makes, once per attempt.
    pub(crate) async fn send<F>(&self, build: F) -> Result<(), DeliveryError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        self.retry
            .run(|_| {
                let request = build(&self.client);
                async move { classify(request.send().await) }
            })
            .await
    }
}

/// Maps a response or error to the delivery outcome. Response bodies are
/// never read into the error: a provider might echo the message (and the
/// code) back.
fn classify(result: Result<reqwest::Response, reqwest::Error>) -> Result<(), DeliveryError> {
    match result {
        Ok(response) => {
            let status = response.status();
            if status.is_success() {
                Ok(())
            } else if status.is_server_error() {
                Err(DeliveryError::Transient(format!(
                    "provider answered {status}"
                )))
            } else {
                Err(DeliveryError::Rejected(format!(
                    "provider answered {status}"
                )))
            }
        }
        Err(e) => {
            let e = e.without_url();
            if e.is_builder() {
                Err(DeliveryError::Rejected(format!("invalid request: {e}")))
            } else if e.is_timeout() {
                Err(DeliveryError::Transient(
                    "provider request timed out".into(),
                ))
            } else if e.is_connect() {
                Err(DeliveryError::Transient(format!(
                    "could not connect to the provider: {e}"
                )))
            } else {
                Err(DeliveryError::Transient(format!(
                    "provider request failed: {e}"
                )))
            }
        }
    }
}

//! The HTTP client shared by the SMS, webhook and push transports:
//! timeouts, no redirects, retries on 5xx / timeouts / connection errors,
//! 4xx mapped to [`DeliveryError::Rejected`].

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
        Self::build(reqwest::Client::builder(), timeout, retry)
    }

    /// A sender that speaks HTTP/2 only: over TLS it offers only `h2` in
    /// ALPN, over cleartext it starts with HTTP/2 (prior knowledge).
    #[cfg(feature = "push")]
    pub(crate) fn http2_only(timeout: Duration, retry: RetryPolicy) -> Result<Self, String> {
        Self::build(
            reqwest::Client::builder().http2_prior_knowledge(),
            timeout,
            retry,
        )
    }

    fn build(
        builder: reqwest::ClientBuilder,
        timeout: Duration,
        retry: RetryPolicy,
    ) -> Result<Self, String> {
        let client = builder
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
    #[cfg(any(feature = "sms", feature = "webhook"))]
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

    /// Runs `attempt` under the retry policy: for transports that read the
    /// provider's answer themselves or fetch a credential first. The
    /// client is a cheap handle onto the same connection pool.
    #[cfg(feature = "push")]
    pub(crate) async fn run<F, Fut>(&self, attempt: F) -> Result<(), DeliveryError>
    where
        F: Fn(reqwest::Client) -> Fut,
        Fut: std::future::Future<Output = Result<(), DeliveryError>>,
    {
        self.retry.run(|_| attempt(self.client.clone())).await
    }
}

/// Maps a response or error to the delivery outcome. Response bodies are
/// never read into the error: a provider might echo the message (and the
/// code) back.
#[cfg(any(feature = "sms", feature = "webhook"))]
fn classify(result: Result<reqwest::Response, reqwest::Error>) -> Result<(), DeliveryError> {
    match result {
        Ok(response) => {
            let status = response.status();
            if status.is_success() {
                Ok(())
            } else {
                Err(status_error(status))
            }
        }
        Err(e) => Err(transport_error(e)),
    }
}

/// The outcome of a non-success status: 5xx may pass, 4xx will not.
pub(crate) fn status_error(status: reqwest::StatusCode) -> DeliveryError {
    if status.is_server_error() {
        DeliveryError::Transient(format!("provider answered {status}"))
    } else {
        DeliveryError::Rejected(format!("provider answered {status}"))
    }
}

/// The outcome of a request that got no answer. The URL is left out: it
/// may hold an address (a push endpoint or device token).
pub(crate) fn transport_error(e: reqwest::Error) -> DeliveryError {
    let e = e.without_url();
    if e.is_builder() {
        DeliveryError::Rejected(format!("invalid request: {e}"))
    } else if e.is_timeout() {
        DeliveryError::Transient("provider request timed out".into())
    } else if e.is_connect() {
        DeliveryError::Transient(format!("could not connect to the provider: {e}"))
    } else {
        DeliveryError::Transient(format!("provider request failed: {e}"))
    }
}

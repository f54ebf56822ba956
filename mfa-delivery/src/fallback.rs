//! [`FallbackChannel`]: try channels in order until one delivers.

use async_trait::async_trait;
use mfa_core::delivery::{DeliveryChannel, DeliveryError, Message};
use mfa_core::model::OtpChannel;
use std::fmt;
use std::sync::Arc;

/// Maps the engine's destination to the one a route sends to (`None`: skip
/// the route for this message).
pub type DestinationFn = Arc<dyn Fn(&Message) -> Option<String> + Send + Sync>;

/// One step of a [`FallbackChannel`].
#[derive(Clone)]
pub struct Route {
    channel: Arc<dyn DeliveryChannel>,
    destination: Option<DestinationFn>,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route")
            .field("channel", &self.channel.channel())
            .field("redirected", &self.destination.is_some())
            .finish()
    }
}

impl Route {
    /// Sends to the message's own destination.
    #[must_use]
    pub fn new(channel: Arc<dyn DeliveryChannel>) -> Self {
        Self {
            channel,
            destination: None,
        }
    }

    /// Sends to the destination `destination` returns, e.g. the user's
    /// email address when the engine addressed their phone (SMS, then
    /// email). The closure is synchronous: look the address up beforehand
    /// or keep a cache.
    #[must_use]
    pub fn with_destination<F>(channel: Arc<dyn DeliveryChannel>, destination: F) -> Self
    where
        F: Fn(&Message) -> Option<String> + Send + Sync + 'static,
    {
        Self {
            channel,
            destination: Some(Arc::new(destination)),
        }
    }
}

/// Tries each route in order and returns the first success; when all fail,
/// the last error. Use it for provider fail-over (two SMS providers) or
/// channel fail-over (SMS, then email through [`Route::with_destination`]).
/// Its [`DeliveryChannel::channel`] is the first route's.
///
/// ```
/// use std::sync::Arc;
/// use mfa_core::model::OtpChannel;
/// use mfa_delivery::fallback::{FallbackChannel, Route};
/// use mfa_delivery::log::LogChannel;
///
/// let primary = Arc::new(LogChannel::with_env(OtpChannel::Sms, |_| None)?);
/// let backup = Arc::new(LogChannel::with_env(OtpChannel::Sms, |_| None)?);
/// let sms = FallbackChannel::new(vec![primary, backup]);
/// assert_eq!(mfa_core::delivery::DeliveryChannel::channel(&sms), OtpChannel::Sms);
/// let _with_routes = FallbackChannel::from_routes(vec![Route::new(Arc::new(sms))]);
/// # Ok::<(), mfa_delivery::log::LogChannelError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FallbackChannel {
    routes: Vec<Route>,
}

impl FallbackChannel {
    /// Channels in order, each sending to the message's destination.
    #[must_use]
    pub fn new(channels: Vec<Arc<dyn DeliveryChannel>>) -> Self {
        Self::from_routes(channels.into_iter().map(Route::new).collect())
    }

    /// Routes in order.
    #[must_use]
    pub const fn from_routes(routes: Vec<Route>) -> Self {
        Self { routes }
    }
}

fn redirect(message: &Message, to: String) -> Message {
    let mut message = message.clone();
    match &mut message {
        Message::Otp(m) => m.to = to,
        Message::Notification(m) => m.to = to,
        Message::Link(m) => m.to = to,
    }
    message
}

#[async_trait]
impl DeliveryChannel for FallbackChannel {
    fn channel(&self) -> OtpChannel {
        self.routes
            .first()
            .map_or(OtpChannel::Email, |r| r.channel.channel())
    }

    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        let mut last = DeliveryError::InvalidDestination;
        for (i, route) in self.routes.iter().enumerate() {
            let result = match &route.destination {
                None => route.channel.send(message).await,
                Some(destination) => match destination(message) {
                    Some(to) => route.channel.send(&redirect(message, to)).await,
                    None => continue,
                },
            };
            match result {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::warn!(route = i, error = %e, "delivery failed; trying the next route");
                    last = e;
                }
            }
        }
        Err(last)
    }
}

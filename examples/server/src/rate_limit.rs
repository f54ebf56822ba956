//! A per-IP request cap for the whole API: a fixed one-minute window per
//! client address, answered with `429 rate_limited` and `Retry-After`.
//!
//! The engine has its own, finer limits (sign-ins per identifier and per IP,
//! code sends per destination); this layer only stops one client from
//! flooding the service.

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use mfa_axum::{ApiError, ClientConfig};
use mfa_core::MfaError;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Above this many tracked addresses, expired windows are dropped.
const PRUNE_AT: usize = 10_000;

/// Shared state of the limiter.
#[derive(Clone)]
pub struct IpRateLimit {
    limit: u32,
    client: ClientConfig,
    windows: Arc<Mutex<HashMap<IpAddr, (Instant, u32)>>>,
}

impl IpRateLimit {
    /// At most `limit` requests per client IP per minute.
    #[must_use]
    pub fn new(limit: u32, client: ClientConfig) -> Self {
        Self {
            limit,
            client,
            windows: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Counts one request from `ip`; `Err(retry_after)` when over the cap.
    fn hit(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        if windows.len() >= PRUNE_AT {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = windows.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            let left = WINDOW.saturating_sub(now.duration_since(entry.0));
            return Err(left.max(Duration::from_secs(1)));
        }
        entry.1 += 1;
        Ok(())
    }
}

/// The middleware: health probes are exempt.
pub async fn limit(State(limiter): State<IpRateLimit>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path == "/healthz" || path == "/readyz" {
        return next.run(request).await;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let (parts, body) = request.into_parts();
    let ip = limiter.client.client_ip(peer, &parts);
    let request = Request::from_parts(parts, body);
    if let Some(ip) = ip
        && let Err(retry_after) = limiter.hit(ip, Instant::now())
    {
        tracing::warn!(%ip, "per-IP request cap reached");
        return ApiError(MfaError::RateLimited {
            retry_after: Duration::from_secs(retry_after.as_secs_f64().ceil() as u64),
        })
        .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_applies_per_address_and_resets_after_the_window() {
        let limiter = IpRateLimit::new(2, ClientConfig::default());
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let t0 = Instant::now();
        assert!(limiter.hit(a, t0).is_ok());
        assert!(limiter.hit(a, t0).is_ok());
        let retry = limiter.hit(a, t0).unwrap_err();
        assert!(retry <= WINDOW && retry >= Duration::from_secs(1));
        assert!(limiter.hit(b, t0).is_ok());
        assert!(limiter.hit(a, t0 + WINDOW).is_ok());
    }
}

//! A per-client request cap for the whole API, answered with
//! `429 rate_limited` and `Retry-After`.
//!
//! The engine has its own, finer limits (sign-ins per identifier and per IP,
//! code sends per destination); this layer only stops one client from
//! flooding the service.
//!
//! A client is its address as [`ClientConfig::client_ip`] sees it: an IPv4
//! address, or the **/64** of an IPv6 address (one host usually owns a whole
//! /64, so keying by address would give it 2⁶⁴ buckets). IPv4-mapped IPv6
//! (`::ffff:192.0.2.1`) counts as the IPv4 address.
//!
//! Each client has a GCRA bucket (the `governor` crate): a quota of `N` per
//! minute lets a burst of `N` through, then one request every `60 s / N`.
//! Checking a request is one lookup in a sharded map, whatever the number of
//! clients tracked. Memory stays bounded in two ways:
//!
//! - [`prune_until`] drops, once per [`WINDOW`], every client whose bucket
//!   is full again (indistinguishable from a new client), off the request
//!   path;
//! - between two prunes, at most [`MAX_TRACKED_CLIENTS`] clients are
//!   tracked. A flood of distinct addresses (an IPv6 /32 holds 2³² /64s)
//!   would otherwise grow the map with the request rate. When the map is
//!   full, a request from a client not yet tracked is judged as a new
//!   client's first request and passes, without being remembered, until the
//!   next prune makes room: an attacker who owns that many addresses is
//!   not stopped by a per-address cap anyway, and refusing instead would let
//!   them lock every new client out. Clients already tracked keep their cap.

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::state::{InMemoryState, NotKeyed, StateStore};
use governor::{Quota, RateLimiter};
use mfa_axum::{ApiError, ClientConfig};
use mfa_core::MfaError;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The period of the quota, and of the pruning.
pub const WINDOW: Duration = Duration::from_secs(60);

/// At most this many clients are tracked between two prunes (a few tens of
/// MB; see `docs/performance.md`).
pub const MAX_TRACKED_CLIENTS: usize = 1_000_000;

/// Whose bucket a request counts against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// An IPv4 address (also written IPv4-mapped in IPv6).
    V4(Ipv4Addr),
    /// The upper 64 bits (the /64 network) of an IPv6 address.
    V6Net(u64),
}

impl From<IpAddr> for ClientKey {
    fn from(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self::V4(v4),
            IpAddr::V6(v6) => Self::V6Net((v6.to_bits() >> 64) as u64),
        }
    }
}

/// governor's concurrent keyed store with a cap on the number of keys: a
/// key that would exceed it is judged as new and not stored.
pub struct BoundedStore {
    map: DashMapStateStore<ClientKey>,
    /// Keys in `map`: counted on insertion, reset to the exact count by
    /// each prune (so [`StateStore::measure_and_replace`] never asks the
    /// map for its length, which locks every shard).
    tracked: AtomicUsize,
    capacity: usize,
}

impl BoundedStore {
    fn new(capacity: usize) -> Self {
        Self {
            map: DashMapStateStore::default(),
            tracked: AtomicUsize::new(0),
            capacity,
        }
    }
}

impl StateStore for BoundedStore {
    type Key = ClientKey;

    fn measure_and_replace<T, F, E>(&self, key: &ClientKey, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        if let Some(state) = self.map.get(key) {
            return state.measure_and_replace(&NotKeyed::NonKey, f);
        }
        if self.tracked.load(Ordering::Relaxed) >= self.capacity {
            // Full: decided like a new client's first request, not stored.
            return f(None).map(|(outcome, _)| outcome);
        }
        let mut inserted = false;
        let state = self.map.entry(*key).or_insert_with(|| {
            inserted = true;
            InMemoryState::default()
        });
        if inserted {
            self.tracked.fetch_add(1, Ordering::Relaxed);
        }
        state.measure_and_replace(&NotKeyed::NonKey, f)
    }
}

impl ShrinkableKeyedStateStore<ClientKey> for BoundedStore {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&self.map, drop_below);
        self.tracked.store(self.map.len(), Ordering::Relaxed);
    }

    fn shrink_to_fit(&self) {
        self.map.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

type Limiter<C> = RateLimiter<ClientKey, BoundedStore, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Shared state of the limiter; clones share the buckets.
pub struct IpRateLimit<C: Clock = DefaultClock> {
    client: ClientConfig,
    limiter: Arc<Limiter<C>>,
}

impl<C: Clock> Clone for IpRateLimit<C> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            limiter: Arc::clone(&self.limiter),
        }
    }
}

impl IpRateLimit {
    /// At most `limit` requests per client per minute (0 counts as 1),
    /// tracking at most [`MAX_TRACKED_CLIENTS`] clients.
    #[must_use]
    pub fn new(limit: u32, client: ClientConfig) -> Self {
        Self::with_clock(limit, client, DefaultClock::default(), MAX_TRACKED_CLIENTS)
    }
}

impl<C: Clock> IpRateLimit<C> {
    /// As [`IpRateLimit::new`], on `clock` and with a cap of `capacity`
    /// tracked clients (tests and benchmarks).
    #[must_use]
    pub fn with_clock(limit: u32, client: ClientConfig, clock: C, capacity: usize) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(limit).unwrap_or(NonZeroU32::MIN));
        Self {
            client,
            limiter: Arc::new(RateLimiter::new(quota, BoundedStore::new(capacity), clock)),
        }
    }

    /// Counts one request from `ip`; `Err(retry_after)` when over the cap.
    ///
    /// # Errors
    /// The time until the client may send again.
    pub fn hit(&self, ip: IpAddr) -> Result<(), Duration> {
        self.limiter
            .check_key(&ClientKey::from(ip))
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }

    /// Forgets every client whose bucket is full again, and gives the
    /// memory back. Takes time in proportion to the clients tracked; run it
    /// off the request path ([`prune_until`]).
    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// The number of clients tracked.
    #[must_use]
    pub fn tracked(&self) -> usize {
        self.limiter.len()
    }
}

/// Prunes `limiter` every [`WINDOW`] until `closed` turns `true` (the
/// service's shutdown).
pub async fn prune_until<C: Clock>(
    limiter: IpRateLimit<C>,
    closed: tokio::sync::watch::Receiver<bool>,
) {
    crate::every(WINDOW, closed, || async {
        let before = limiter.tracked();
        limiter.prune();
        tracing::debug!(
            before,
            after = limiter.tracked(),
            "per-client rate limiter pruned"
        );
    })
    .await;
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
        && let Err(retry_after) = limiter.hit(ip)
    {
        tracing::warn!(%ip, "per-client request cap reached");
        return ApiError(MfaError::RateLimited {
            retry_after: Duration::from_secs(retry_after.as_secs_f64().ceil().max(1.0) as u64),
        })
        .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;
    use std::net::Ipv6Addr;

    fn limiter(limit: u32, capacity: usize) -> (IpRateLimit<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let limiter =
            IpRateLimit::with_clock(limit, ClientConfig::default(), clock.clone(), capacity);
        (limiter, clock)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// An address in the `n`-th /64 of 2001:db8::/32 (a flood of clients).
    fn nth_v6_net(n: u32) -> IpAddr {
        IpAddr::V6(Ipv6Addr::from_bits(
            (0x2001_0db8_u128 << 96) | (u128::from(n) << 64) | 1,
        ))
    }

    #[test]
    fn the_cap_applies_per_address_and_resets_after_the_window() {
        let (limiter, clock) = limiter(2, MAX_TRACKED_CLIENTS);
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        assert!(limiter.hit(a).is_ok());
        assert!(limiter.hit(a).is_ok());
        let retry = limiter.hit(a).unwrap_err();
        // One request comes back every 60 s / 2.
        assert_eq!(retry, Duration::from_secs(30));
        assert!(limiter.hit(b).is_ok());
        clock.advance(WINDOW);
        assert!(limiter.hit(a).is_ok());
        assert!(limiter.hit(a).is_ok());
        assert!(limiter.hit(a).is_err());
    }

    #[test]
    fn ipv6_addresses_in_one_64_share_a_bucket() {
        let (limiter, _clock) = limiter(2, MAX_TRACKED_CLIENTS);
        assert!(limiter.hit(ip("2001:db8:1:2::1")).is_ok());
        assert!(limiter.hit(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")).is_ok());
        assert!(limiter.hit(ip("2001:db8:1:2:abcd::9")).is_err());
        // The next /64 is another client.
        assert!(limiter.hit(ip("2001:db8:1:3::1")).is_ok());
        assert_eq!(limiter.tracked(), 2);
    }

    #[test]
    fn ipv4_mapped_ipv6_counts_as_the_ipv4_address() {
        let (limiter, _clock) = limiter(1, MAX_TRACKED_CLIENTS);
        assert!(limiter.hit(ip("192.0.2.7")).is_ok());
        assert!(limiter.hit(ip("::ffff:192.0.2.7")).is_err());
        // Another IPv4 address in the same mapped /64 is not the same client.
        assert!(limiter.hit(ip("::ffff:192.0.2.8")).is_ok());
        assert_eq!(
            ClientKey::from(ip("::ffff:192.0.2.7")),
            ClientKey::V4(Ipv4Addr::new(192, 0, 2, 7))
        );
    }

    #[test]
    fn pruning_drops_idle_clients_and_keeps_limited_ones() {
        let (limiter, clock) = limiter(2, MAX_TRACKED_CLIENTS);
        let (idle, busy) = (ip("192.0.2.1"), ip("192.0.2.2"));
        assert!(limiter.hit(idle).is_ok());
        clock.advance(Duration::from_secs(60));
        assert!(limiter.hit(busy).is_ok());
        assert!(limiter.hit(busy).is_ok());
        limiter.prune();
        // `idle`'s bucket is full again; `busy` is still limited.
        assert_eq!(limiter.tracked(), 1);
        assert!(limiter.hit(busy).is_err());
    }

    #[test]
    fn a_flood_of_distinct_addresses_stays_bounded_and_is_pruned() {
        const FLOOD: u32 = 100_000;
        let capacity = 60_000;
        let (limiter, clock) = limiter(300, capacity);
        for n in 0..FLOOD {
            assert!(limiter.hit(nth_v6_net(n)).is_ok());
        }
        // Never more than the cap, however many addresses come.
        assert_eq!(limiter.tracked(), capacity);
        // A tracked client keeps its cap while the map is full.
        let tracked = nth_v6_net(0);
        for _ in 1..300 {
            assert!(limiter.hit(tracked).is_ok());
        }
        assert!(limiter.hit(tracked).is_err());
        // One window later the flood is gone; only the limited client stays.
        clock.advance(WINDOW - Duration::from_secs(1));
        limiter.prune();
        assert_eq!(limiter.tracked(), 1);
        clock.advance(WINDOW);
        limiter.prune();
        assert_eq!(limiter.tracked(), 0);
        // And new clients are tracked again.
        assert!(limiter.hit(ip("192.0.2.1")).is_ok());
        assert_eq!(limiter.tracked(), 1);
    }

    #[tokio::test]
    async fn over_the_cap_is_429_with_retry_after_and_health_probes_are_exempt() {
        use axum::body::Body;
        use axum::routing::get;
        use tower::ServiceExt;

        let app = axum::Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/api/x", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(
                IpRateLimit::new(1, ClientConfig::default()),
                limit,
            ));
        let peer = ConnectInfo(SocketAddr::from(([192, 0, 2, 1], 40_000)));
        let send = |path: &str| {
            let mut request = Request::get(path).body(Body::empty()).unwrap();
            request.extensions_mut().insert(peer);
            app.clone().oneshot(request)
        };
        assert_eq!(send("/api/x").await.unwrap().status(), 200);
        let refused = send("/api/x").await.unwrap();
        assert_eq!(refused.status(), 429);
        let retry: u64 = refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry));
        assert_eq!(send("/healthz").await.unwrap().status(), 200);
    }
}

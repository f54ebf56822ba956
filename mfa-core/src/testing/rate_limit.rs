//! The sliding-window rate limiter.

use super::fixtures::{Era, at, era, rate_key};
use crate::store::*;
use chrono::{DateTime, TimeDelta, Utc};
use std::sync::Arc;

async fn hit<S: Store>(
    store: &S,
    key: &str,
    limit: u32,
    window: TimeDelta,
    now: DateTime<Utc>,
) -> RateDecision {
    store
        .hit(key, limit, window, now)
        .await
        .expect("hit failed")
}

/// The contract as a model: the hits allowed so far, in time order.
struct Model {
    limit: u32,
    window: TimeDelta,
    allowed: Vec<DateTime<Utc>>,
}

impl Model {
    fn hit(&mut self, now: DateTime<Utc>) -> RateDecision {
        let in_window: Vec<_> = self
            .allowed
            .iter()
            .copied()
            .filter(|t| *t > now - self.window && *t <= now)
            .collect();
        let count = u32::try_from(in_window.len()).expect("few hits");
        if count < self.limit {
            self.allowed.push(now);
            RateDecision::Allowed {
                remaining: self.limit - count - 1,
            }
        } else {
            let oldest = in_window
                .iter()
                .min()
                .copied()
                .expect("limit is at least 1");
            RateDecision::Limited {
                retry_after: oldest + self.window - now,
            }
        }
    }
}

/// `limit` hits are allowed, counting down `remaining`; the next is
/// `Limited` until the oldest hit leaves the window.
pub async fn hits_up_to_the_limit_are_allowed<S: Store>(store: Arc<S>) {
    let key = rate_key("limit");
    let window = TimeDelta::seconds(60);
    for (n, remaining) in [2, 1, 0].into_iter().enumerate() {
        let got = hit(&*store, &key, 3, window, at(n as i64)).await;
        assert_eq!(
            got,
            RateDecision::Allowed { remaining },
            "hit {} of 3 must be allowed",
            n + 1
        );
    }
    let got = hit(&*store, &key, 3, window, at(3)).await;
    assert_eq!(
        got,
        RateDecision::Limited {
            retry_after: TimeDelta::seconds(57)
        },
        "the 4th hit must be limited until the oldest hit + window"
    );
}

/// A refused hit is not recorded: hammering does not extend the lock-out.
pub async fn refused_hits_are_not_recorded<S: Store>(store: Arc<S>) {
    let key = rate_key("refused");
    let window = TimeDelta::seconds(60);
    for s in [0, 1] {
        assert!(
            matches!(
                hit(&*store, &key, 2, window, at(s)).await,
                RateDecision::Allowed { .. }
            ),
            "the first two hits must be allowed"
        );
    }
    for s in [10, 20, 30, 59] {
        assert!(
            matches!(
                hit(&*store, &key, 2, window, at(s)).await,
                RateDecision::Limited { .. }
            ),
            "hits over the limit must be limited"
        );
    }
    let got = hit(&*store, &key, 2, window, at(60)).await;
    assert_eq!(
        got,
        RateDecision::Allowed { remaining: 0 },
        "at t=60 the hit of t=0 has left the window"
    );
    let got = hit(&*store, &key, 2, window, at(60)).await;
    assert_eq!(
        got,
        RateDecision::Limited {
            retry_after: TimeDelta::seconds(1)
        },
        "the hits of t=1 and t=60 fill the window until t=61"
    );
    let got = hit(&*store, &key, 2, window, at(61)).await;
    assert_eq!(
        got,
        RateDecision::Allowed { remaining: 0 },
        "refused hits must not count: at t=61 only the hit of t=60 is in the window"
    );
}

/// The window slides: a hit is allowed again exactly when the oldest hit in
/// the window falls out of it, since windows are half open `(now - window, now]`.
pub async fn hits_are_allowed_again_once_the_window_slides<S: Store>(store: Arc<S>) {
    let key = rate_key("slide");
    let window = TimeDelta::seconds(60);
    hit(&*store, &key, 2, window, at(0)).await;
    hit(&*store, &key, 2, window, at(30)).await;
    let got = hit(&*store, &key, 2, window, at(59)).await;
    assert_eq!(
        got,
        RateDecision::Limited {
            retry_after: TimeDelta::seconds(1)
        },
        "limited until t=60"
    );
    let got = hit(&*store, &key, 2, window, at(60)).await;
    assert_eq!(
        got,
        RateDecision::Allowed { remaining: 0 },
        "allowed at t=60: (0, 60] no longer holds t=0"
    );
    let got = hit(&*store, &key, 2, window, at(61)).await;
    assert_eq!(
        got,
        RateDecision::Limited {
            retry_after: TimeDelta::seconds(29)
        },
        "limited until the hit of t=30 leaves"
    );
    let got = hit(&*store, &key, 2, window, at(200)).await;
    assert_eq!(
        got,
        RateDecision::Allowed { remaining: 1 },
        "after a whole window every hit has left"
    );
}

/// Keys are counted independently.
pub async fn rate_limit_keys_are_independent<S: Store>(store: Arc<S>) {
    let (a, b) = (rate_key("a"), rate_key("b"));
    let window = TimeDelta::minutes(10);
    assert_eq!(
        hit(&*store, &a, 1, window, at(0)).await,
        RateDecision::Allowed { remaining: 0 },
        "first hit on a"
    );
    assert!(
        matches!(
            hit(&*store, &a, 1, window, at(1)).await,
            RateDecision::Limited { .. }
        ),
        "a is at its limit"
    );
    assert_eq!(
        hit(&*store, &b, 1, window, at(1)).await,
        RateDecision::Allowed { remaining: 0 },
        "b must not be limited by a's hits"
    );
}

/// `hit_in_order` makes each hit as `hit` would, in order, and stops at
/// the first refusal: the keys after it are not hit, the ones before it
/// stay hit.
pub async fn hits_in_order_stop_at_the_first_refusal<S: Store>(store: Arc<S>) {
    let (a, b, c) = (rate_key("a"), rate_key("b"), rate_key("c"));
    let window = TimeDelta::minutes(10);
    let hits = [
        RateHit {
            key: &a,
            limit: 3,
            window,
        },
        RateHit {
            key: &b,
            limit: 1,
            window,
        },
        RateHit {
            key: &c,
            limit: 5,
            window,
        },
    ];
    let in_order = |now| {
        let store = Arc::clone(&store);
        async move {
            store
                .hit_in_order(&hits, now)
                .await
                .expect("hit_in_order failed")
        }
    };
    assert_eq!(
        in_order(at(0)).await,
        vec![
            RateDecision::Allowed { remaining: 2 },
            RateDecision::Allowed { remaining: 0 },
            RateDecision::Allowed { remaining: 4 },
        ]
    );
    assert_eq!(
        in_order(at(60)).await,
        vec![
            RateDecision::Allowed { remaining: 1 },
            RateDecision::Limited {
                retry_after: TimeDelta::seconds(540)
            },
        ],
        "b refuses: c is not hit"
    );
    assert_eq!(
        hit(&*store, &c, 5, window, at(61)).await,
        RateDecision::Allowed { remaining: 3 },
        "c holds its first hit only"
    );
    assert_eq!(
        hit(&*store, &a, 3, window, at(61)).await,
        RateDecision::Allowed { remaining: 0 },
        "a holds the hits made before the refusal"
    );
    // The first key refused: nothing after it is hit.
    let refused = store
        .hit_in_order(&hits[..2], at(62))
        .await
        .expect("hit_in_order failed");
    assert!(
        matches!(refused.as_slice(), [RateDecision::Limited { .. }]),
        "{refused:?}"
    );
    assert_eq!(
        store
            .hit_in_order(&[], at(62))
            .await
            .expect("hit_in_order failed"),
        Vec::new()
    );
}

/// The sliding-window contract over a long, irregular sequence of hits
/// (several at the same instant, gaps shorter and longer than the window):
/// every decision, `remaining` and `retry_after` matches the model, and no
/// half-open interval of length `window` ever holds more than `limit`
/// allowed hits.
pub async fn sliding_window_never_allows_more_than_the_limit<S: Store>(store: Arc<S>) {
    let key = rate_key("sliding");
    let (limit, window) = (4, TimeDelta::seconds(20));
    let mut model = Model {
        limit,
        window,
        allowed: Vec::new(),
    };
    let gaps = [0, 0, 1, 2, 3, 5, 8, 13, 30];
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut now = at(0);
    for n in 0..300 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let gap = gaps[usize::try_from(state >> 60).expect("4 bits") % gaps.len()];
        now += TimeDelta::seconds(gap);
        let got = hit(&*store, &key, limit, window, now).await;
        let expected = model.hit(now);
        assert_eq!(
            got,
            expected,
            "hit {n} at t={}s",
            (now - at(0)).num_seconds()
        );
    }
    let allowed = &model.allowed;
    assert!(allowed.len() > 40, "the sequence must exercise the limiter");
    for start in allowed {
        let in_interval = allowed
            .iter()
            .filter(|t| *t >= start && **t < *start + window)
            .count();
        assert!(
            in_interval <= limit as usize,
            "more than {limit} hits in [{start}, +{window})"
        );
    }
}

/// `purge_rate_limits` forgets only hits whose window ended, and counts
/// them; live hits still count.
pub async fn purge_forgets_only_expired_hits<S: Store>(store: Arc<S>) {
    let base = era(Era::RateLimits);
    let window = TimeDelta::seconds(60);
    let (old, live) = (rate_key("purge-old"), rate_key("purge-live"));
    hit(&*store, &old, 1, window, base).await;
    hit(&*store, &live, 1, window, base + TimeDelta::seconds(100)).await;
    let now = base + TimeDelta::seconds(120);
    let purged = store
        .purge_rate_limits(now)
        .await
        .expect("purge_rate_limits failed");
    assert_eq!(purged, 1, "only the hit whose window ended must be purged");
    let got = hit(&*store, &live, 1, window, now).await;
    assert_eq!(
        got,
        RateDecision::Limited {
            retry_after: TimeDelta::seconds(40)
        },
        "a hit still in its window must survive the purge"
    );
    let got = hit(&*store, &old, 1, window, now).await;
    assert_eq!(
        got,
        RateDecision::Allowed { remaining: 0 },
        "the purged key starts afresh"
    );
}

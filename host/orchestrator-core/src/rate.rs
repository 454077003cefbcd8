//! Per-app request rate limits: token buckets, one per app, or one per app
//! and client address (docs/apps.md, "Rate limits").

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use shared::{AppId, RateLimit};

/// Buckets are forgotten once this many exist and they are full again (a
/// full bucket is the same as none), so addresses cannot grow the map
/// without bound.
const MAX_BUCKETS: usize = 100_000;

#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    buckets: Mutex<HashMap<(AppId, Option<IpAddr>), Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// Takes one request's token, or says how many whole seconds until the
    /// next one.
    pub(crate) fn take(
        &self,
        app: AppId,
        client: Option<IpAddr>,
        limit: &RateLimit,
    ) -> Result<(), u64> {
        let key = (app, client.filter(|_| limit.per_client_ip));
        let capacity = limit.capacity();
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&key) {
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.at).as_secs_f64() * limit.requests_per_second
                    < capacity
            });
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * limit.requests_per_second;
        bucket.tokens = (bucket.tokens + refill).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / limit.requests_per_second;
            Err((wait.ceil() as u64).max(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_refusals_per_app_or_per_client() {
        let limiter = RateLimiter::default();
        let app = AppId::new();
        let limit = RateLimit {
            requests_per_second: 0.5,
            burst: Some(3),
            per_client_ip: true,
        };
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(limiter.take(app, Some(a), &limit), Ok(()));
        }
        // One token every two seconds.
        assert_eq!(limiter.take(app, Some(a), &limit), Err(2));
        // Another client has its own bucket; another app too.
        assert_eq!(limiter.take(app, Some(b), &limit), Ok(()));
        assert_eq!(limiter.take(AppId::new(), Some(a), &limit), Ok(()));
        // One bucket for the whole app when not per client.
        let shared = RateLimit {
            per_client_ip: false,
            burst: Some(1),
            ..limit
        };
        let app = AppId::new();
        assert_eq!(limiter.take(app, Some(a), &shared), Ok(()));
        assert!(limiter.take(app, Some(b), &shared).is_err());
    }
}

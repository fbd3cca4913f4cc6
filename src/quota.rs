//! A tenant's call quotas: calls in flight (`max_concurrent_calls`) and calls per minute
//! (`calls_per_minute`, a token bucket refilled continuously). Knows nothing of MCP or tenants:
//! a call takes a [`Permit`] that gives its place back when the call's answer is delivered
//! (or the call is dropped for any reason).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::Limits;
use crate::sync::LockExt;

/// Why a call was refused: which limit, its value, and when trying again may succeed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("quota exceeded: `{limit}` is {value}; retry after {} ms", retry_after.as_millis())]
pub struct QuotaError {
    pub limit: &'static str,
    pub value: u64,
    pub retry_after: Duration,
}

/// A call's place among the tenant's calls in flight; given back on drop.
#[derive(Clone, Debug)]
pub struct Permit(#[allow(dead_code, reason = "held for its Drop")] Arc<Slot>);

#[derive(Debug)]
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What the quotas are using now, for the admin API and `status`.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Usage {
    pub calls_in_flight: usize,
    pub calls_refused: u64,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

pub struct Quota {
    limits: Mutex<Limits>,
    in_flight: Arc<AtomicUsize>,
    bucket: Mutex<Bucket>,
    refused: AtomicU64,
}

/// How long a refused concurrent call is told to wait: calls usually take about this long.
const CONCURRENCY_RETRY: Duration = Duration::from_millis(1000);

impl Quota {
    pub fn new(limits: Limits) -> Self {
        Self {
            bucket: Mutex::new(Bucket {
                tokens: f64::from(limits.calls_per_minute.unwrap_or(0)),
                at: Instant::now(),
            }),
            limits: Mutex::new(limits),
            in_flight: Arc::new(AtomicUsize::new(0)),
            refused: AtomicU64::new(0),
        }
    }

    pub fn limits(&self) -> Limits {
        *self.limits.locked()
    }

    /// New limits (a reload); calls in flight keep their places.
    pub fn set_limits(&self, limits: Limits) {
        *self.limits.locked() = limits;
    }

    pub fn usage(&self) -> Usage {
        Usage {
            calls_in_flight: self.in_flight.load(Ordering::Acquire),
            calls_refused: self.refused.load(Ordering::Relaxed),
        }
    }

    /// Takes a place for one call, or says which limit refuses it.
    pub fn try_call(&self) -> Result<Permit, QuotaError> {
        let limits = self.limits();
        let refuse = |e: QuotaError| {
            self.refused.fetch_add(1, Ordering::Relaxed);
            Err(e)
        };
        let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
        let permit = Permit(Arc::new(Slot(self.in_flight.clone())));
        if let Some(max) = limits.max_concurrent_calls.filter(|m| before >= *m) {
            return refuse(QuotaError {
                limit: "max_concurrent_calls",
                value: max as u64,
                retry_after: CONCURRENCY_RETRY,
            });
        }
        if let Some(per_minute) = limits.calls_per_minute {
            let rate = f64::from(per_minute) / 60.0;
            let mut b = self.bucket.locked();
            let now = Instant::now();
            let elapsed = now.duration_since(b.at).as_secs_f64();
            b.tokens = (b.tokens + elapsed * rate).min(f64::from(per_minute));
            b.at = now;
            if b.tokens < 1.0 {
                let wait = Duration::from_secs_f64((1.0 - b.tokens) / rate);
                return refuse(QuotaError {
                    limit: "calls_per_minute",
                    value: u64::from(per_minute),
                    retry_after: wait.max(Duration::from_millis(1)),
                });
            }
            b.tokens -= 1.0;
        }
        Ok(permit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(concurrent: Option<usize>, per_minute: Option<u32>) -> Limits {
        Limits {
            max_concurrent_calls: concurrent,
            calls_per_minute: per_minute,
            ..Limits::default()
        }
    }

    #[test]
    fn concurrency_is_capped_and_places_come_back_when_calls_end() {
        let q = Quota::new(limits(Some(2), None));
        let a = q.try_call().unwrap();
        let b = q.try_call().unwrap();
        let e = q.try_call().unwrap_err();
        assert_eq!((e.limit, e.value), ("max_concurrent_calls", 2));
        assert_eq!(
            q.usage().calls_in_flight,
            2,
            "a refused call holds no place"
        );
        drop(a);
        let _c = q.try_call().unwrap();
        drop(b);
        assert_eq!(q.usage().calls_in_flight, 1);
        assert_eq!(q.usage().calls_refused, 1);
    }

    #[test]
    fn the_rate_is_a_bucket_of_one_minute_with_a_retry_hint() {
        let q = Quota::new(limits(None, Some(3)));
        for _ in 0..3 {
            q.try_call().unwrap();
        }
        let e = q.try_call().unwrap_err();
        assert_eq!(e.limit, "calls_per_minute");
        assert!(
            e.retry_after > Duration::from_secs(15) && e.retry_after <= Duration::from_secs(20),
            "{e}"
        );
    }

    #[test]
    fn no_limits_no_refusals() {
        let q = Quota::new(Limits::default());
        let held: Vec<_> = (0..1000).map(|_| q.try_call().unwrap()).collect();
        assert_eq!(q.usage().calls_in_flight, 1000);
        drop(held);
        assert_eq!(q.usage().calls_in_flight, 0);
    }
}

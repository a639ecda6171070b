//! Flow control shared by every command that sends more than one request: the retry policy
//! (exponential backoff with full jitter, `Retry-After` honoured up to `--max-retry-wait`),
//! the adaptive (AIMD) concurrency limit, and the request pacer (`--max-rps`).

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use rand::Rng;
use tokio::sync::Notify;

use crate::protocol::Outcome;

/// First retry delay bound and the largest one (AWS's "exponential backoff and jitter").
pub const BACKOFF_BASE: Duration = Duration::from_millis(100);
pub const BACKOFF_CAP: Duration = Duration::from_secs(10);
/// The default `--max-retry-wait`: the longest wait before a retry, `Retry-After` included.
pub const DEFAULT_MAX_RETRY_WAIT: Duration = Duration::from_secs(30);

/// When to send a failed request again, and after how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// No wait is longer, whatever `Retry-After` says.
    pub max_wait: Duration,
}

impl RetryPolicy {
    pub fn new(max_attempts: u32, max_wait: Duration) -> Self {
        RetryPolicy {
            max_attempts: max_attempts.max(1),
            max_wait,
        }
    }

    /// No retries: every failure is reported as it is.
    pub fn none() -> Self {
        Self::new(1, DEFAULT_MAX_RETRY_WAIT)
    }

    /// Attempt number `attempt` (from 1) ended with `outcome`: send again?
    pub fn should_retry(&self, attempt: u32, outcome: Outcome) -> bool {
        outcome.retryable() && attempt < self.max_attempts
    }

    /// The wait before attempt `attempt + 1`: full-jitter backoff, at least what the server's
    /// `Retry-After` asked, never more than `max_wait`.
    pub fn delay(
        &self,
        attempt: u32,
        headers: Option<&reqwest::header::HeaderMap>,
        rng: &mut impl Rng,
    ) -> Duration {
        let asked = headers.and_then(retry_after).unwrap_or_default();
        backoff(attempt, rng).max(asked).min(self.max_wait)
    }
}

/// The delay bound before attempt `attempt + 1` (attempt counts from 1):
/// `min(cap, base * 2^(attempt-1))`.
pub fn backoff_bound(attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(20);
    BACKOFF_BASE.saturating_mul(1 << exp).min(BACKOFF_CAP)
}

/// Full jitter: uniform in `[0, bound]`, so retrying clients spread out instead of
/// synchronising.
pub fn backoff(attempt: u32, rng: &mut impl Rng) -> Duration {
    let bound = backoff_bound(attempt).as_secs_f64();
    Duration::from_secs_f64(rng.random_range(0.0..=bound))
}

/// `Retry-After`: delay-seconds or an HTTP date (a day at most; the policy caps it further).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    const DAY: f64 = 86_400.0;
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    let d = if let Ok(secs) = v.parse::<f64>() {
        if !(secs.is_finite() && secs >= 0.0) {
            return None;
        }
        Duration::from_secs_f64(secs.min(DAY))
    } else {
        let at = httpdate::parse_http_date(v).ok()?;
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
            .min(Duration::from_secs_f64(DAY))
    };
    Some(d)
}

/// Sleep for `d`, waking early when `stopping()` says the run stops; false if it did.
pub async fn sleep_unless_stopped(d: Duration, stopping: impl Fn() -> bool) -> bool {
    let until = tokio::time::Instant::now() + d;
    loop {
        if stopping() {
            return false;
        }
        let now = tokio::time::Instant::now();
        if now >= until {
            return true;
        }
        tokio::time::sleep((until - now).min(Duration::from_millis(50))).await;
    }
}

struct LimitState {
    limit: f64,
    in_flight: usize,
    last_cut: Option<Instant>,
    /// Smoothed request latency: decreases happen at most once per such window, so one burst
    /// of 429s (all from requests sent under the old limit) halves the limit once, not N times.
    rtt: Duration,
}

/// AIMD concurrency limit: halves on throttling (at most once per round trip), grows by one
/// per round trip's worth of successes, never above `max` or below 1. A run against a throttled
/// endpoint converges on what it sustains instead of hammering it.
pub struct Limiter {
    max: usize,
    state: Mutex<LimitState>,
    notify: Notify,
}

/// A slot under the limit; released on drop.
pub struct Permit<'a> {
    limiter: &'a Limiter,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut s = self.limiter.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
        drop(s);
        self.limiter.notify.notify_one();
    }
}

impl Limiter {
    pub fn new(max: usize) -> Self {
        Limiter {
            max: max.max(1),
            state: Mutex::new(LimitState {
                limit: max.max(1) as f64,
                in_flight: 0,
                last_cut: None,
                rtt: Duration::from_millis(50),
            }),
            notify: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LimitState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current limit (whole requests).
    pub fn limit(&self) -> usize {
        (self.lock().limit.floor() as usize).max(1)
    }

    pub fn try_acquire(&self) -> Option<Permit<'_>> {
        let mut s = self.lock();
        if s.in_flight < (s.limit.floor() as usize).max(1) {
            s.in_flight += 1;
            Some(Permit { limiter: self })
        } else {
            None
        }
    }

    /// Wait for a slot; None when the run stops first.
    pub async fn acquire(&self, stopping: impl Fn() -> bool) -> Option<Permit<'_>> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(p) = self.try_acquire() {
                return Some(p);
            }
            if stopping() {
                return None;
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    }

    /// A request was throttled (429).
    pub fn on_throttle(&self, now: Instant) {
        let mut s = self.lock();
        let window = s.rtt.max(Duration::from_millis(20));
        if s.last_cut
            .is_none_or(|t| now.saturating_duration_since(t) >= window)
        {
            s.limit = (s.limit / 2.0).max(1.0);
            s.last_cut = Some(now);
        }
    }

    /// A request succeeded after `latency`.
    pub fn on_success(&self, latency: Duration) {
        let mut s = self.lock();
        s.rtt = (s.rtt * 7 + latency) / 8;
        let before = s.limit.floor();
        s.limit = (s.limit + 1.0 / s.limit).min(self.max as f64);
        let grew = s.limit.floor() > before;
        drop(s);
        if grew {
            self.notify.notify_waiters();
        }
    }
}

/// `--max-rps`: request starts spaced by `1/rps`, scheduled from the intended instant (not
/// from when the previous request happened to start), so the rate holds under load.
pub struct Pacer {
    interval: Duration,
    next: Mutex<Option<tokio::time::Instant>>,
}

impl Pacer {
    pub fn new(rps: f64) -> Self {
        Pacer {
            interval: Duration::from_secs_f64(1.0 / rps),
            next: Mutex::new(None),
        }
    }

    /// The instant the caller may start; reserves it.
    pub fn reserve(&self, now: tokio::time::Instant) -> tokio::time::Instant {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        // Never bank more than one interval of idle time (no bursts after a pause).
        let slot = match *next {
            Some(n) if n > now => n,
            _ => now,
        };
        *next = Some(slot + self.interval);
        slot
    }

    pub async fn wait(&self) {
        let at = self.reserve(tokio::time::Instant::now());
        tokio::time::sleep_until(at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_grows_exponentially_within_the_cap() {
        assert_eq!(backoff_bound(1), Duration::from_millis(100));
        assert_eq!(backoff_bound(2), Duration::from_millis(200));
        assert_eq!(backoff_bound(4), Duration::from_millis(800));
        assert_eq!(backoff_bound(30), BACKOFF_CAP);
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let mut max_seen = Duration::ZERO;
        let mut min_seen = Duration::MAX;
        for _ in 0..2000 {
            let d = backoff(3, &mut rng);
            assert!(d <= Duration::from_millis(400));
            max_seen = max_seen.max(d);
            min_seen = min_seen.min(d);
        }
        // Full jitter: the whole range is used.
        assert!(max_seen > Duration::from_millis(380), "{max_seen:?}");
        assert!(min_seen < Duration::from_millis(20), "{min_seen:?}");
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after", "99999999".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(86_400)));
        let policy = RetryPolicy::new(3, Duration::from_secs(30));
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        assert_eq!(policy.delay(1, Some(&h), &mut rng), Duration::from_secs(30));
        assert!(policy.should_retry(2, Outcome::Throttled));
        assert!(!policy.should_retry(3, Outcome::Throttled));
        assert!(!policy.should_retry(1, Outcome::Rejected));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        h.insert("retry-after", later.parse().unwrap());
        let d = retry_after(&h).unwrap();
        assert!(
            d > Duration::from_secs(27) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        h.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn aimd_halves_once_per_window_and_grows_additively() {
        let l = Limiter::new(16);
        assert_eq!(l.limit(), 16);
        let t0 = Instant::now();
        l.on_throttle(t0);
        // A burst of 429s within one round trip cuts once.
        l.on_throttle(t0 + Duration::from_millis(1));
        l.on_throttle(t0 + Duration::from_millis(2));
        assert_eq!(l.limit(), 8);
        l.on_throttle(t0 + Duration::from_secs(1));
        assert_eq!(l.limit(), 4);
        // About `limit` successes add one (4 -> 5 takes 5: each adds 1/limit).
        for _ in 0..4 {
            l.on_success(Duration::from_millis(50));
        }
        assert_eq!(l.limit(), 4);
        for _ in 0..1 {
            l.on_success(Duration::from_millis(50));
        }
        assert_eq!(l.limit(), 5);
        for _ in 0..1000 {
            l.on_success(Duration::from_millis(50));
        }
        assert_eq!(l.limit(), 16, "never above the maximum");
        for i in 0..20 {
            l.on_throttle(t0 + Duration::from_secs(2 + i));
        }
        assert_eq!(l.limit(), 1, "never below one");
    }

    #[test]
    fn permits_respect_the_limit() {
        let l = Limiter::new(2);
        let a = l.try_acquire().unwrap();
        let _b = l.try_acquire().unwrap();
        assert!(l.try_acquire().is_none());
        drop(a);
        assert!(l.try_acquire().is_some());
    }

    #[test]
    fn pacer_spaces_starts_from_intended_instants() {
        let p = Pacer::new(100.0);
        let t0 = tokio::time::Instant::now();
        let slots: Vec<_> = (0..5).map(|_| p.reserve(t0) - t0).collect();
        assert_eq!(
            slots,
            (0..5)
                .map(|i| Duration::from_millis(10 * i))
                .collect::<Vec<_>>()
        );
        // After an idle second, no burst is banked: the next slot is now.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(p.reserve(t1), t1);
        assert_eq!(p.reserve(t1), t1 + Duration::from_millis(10));
    }
}

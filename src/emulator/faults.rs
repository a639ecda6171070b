//! Fault and latency injection: durations, latency distributions, the seeded per-request RNG,
//! and API Gateway's token bucket.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

pub use crate::duration::parse as parse_duration;

/// Sleeps for `d`, to within about 0.1 ms: what an injected latency means.
///
/// tokio's timer has a 1 ms tick and rounds every deadline up to the next one, so
/// `tokio::time::sleep(20ms)` took 20.5-21.5 ms (21.0 ms on average here), and four Lambda
/// environments at `model=20ms` held 4 / 21 ms = 190 rps instead of Little's 200. tokio
/// covers all but the last 2 ms; a blocking-pool thread sleeps the rest on the kernel's
/// high-resolution timer. Dropped mid-way (a client gone), the pool thread finishes its
/// under-2 ms nap alone.
pub async fn sleep(d: Duration) {
    const TICK_SLACK: Duration = Duration::from_millis(2);
    if d.is_zero() {
        return;
    }
    let deadline = Instant::now() + d;
    if d > TICK_SLACK {
        tokio::time::sleep_until((deadline - TICK_SLACK).into()).await;
    }
    let rest = deadline.saturating_duration_since(Instant::now());
    if !rest.is_zero() {
        // A closed runtime cannot run the nap: then the coarse timer is all there is.
        if tokio::task::spawn_blocking(move || std::thread::sleep(rest))
            .await
            .is_err()
        {
            tokio::time::sleep_until(deadline.into()).await;
        }
    }
}

/// A latency to add at one tier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LatencyDist {
    Fixed(Duration),
    /// Uniform between the two bounds.
    Uniform(Duration, Duration),
    /// Log-normal given by its median and its 99th percentile.
    LogNormal {
        median: Duration,
        p99: Duration,
    },
}

/// z-score of the 99th percentile of the standard normal distribution.
const Z99: f64 = 2.326_347_874_040_841;

impl LatencyDist {
    /// `5ms`, `uniform:1ms:5ms` or `lognormal:5ms:20ms` (median, p99).
    pub fn parse(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        match parts.as_slice() {
            [d] => Ok(LatencyDist::Fixed(parse_duration(d)?)),
            ["fixed", d] => Ok(LatencyDist::Fixed(parse_duration(d)?)),
            ["uniform", lo, hi] => {
                let (lo, hi) = (parse_duration(lo)?, parse_duration(hi)?);
                if lo > hi {
                    return Err(format!("uniform latency '{s}': low bound above high bound"));
                }
                Ok(LatencyDist::Uniform(lo, hi))
            }
            ["lognormal", m, p] => {
                let (median, p99) = (parse_duration(m)?, parse_duration(p)?);
                if median.is_zero() || p99 < median {
                    return Err(format!("lognormal latency '{s}': need 0 < median <= p99"));
                }
                Ok(LatencyDist::LogNormal { median, p99 })
            }
            _ => Err(format!(
                "invalid latency '{s}' (expected 5ms, uniform:1ms:5ms or lognormal:MEDIAN:P99)"
            )),
        }
    }

    pub fn sample(&self, rng: &mut SmallRng) -> Duration {
        match *self {
            LatencyDist::Fixed(d) => d,
            LatencyDist::Uniform(lo, hi) => {
                if lo == hi {
                    lo
                } else {
                    Duration::from_secs_f64(rng.random_range(lo.as_secs_f64()..=hi.as_secs_f64()))
                }
            }
            LatencyDist::LogNormal { median, p99 } => {
                let mu = median.as_secs_f64().ln();
                let sigma = (p99.as_secs_f64().ln() - mu) / Z99;
                // Box-Muller: one standard normal from two uniforms.
                let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
                let u2: f64 = rng.random();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                // Capped so a far tail sample cannot hold a request for hours.
                Duration::from_secs_f64((mu + sigma * z).exp().min(3600.0))
            }
        }
    }
}

/// Added latency per tier (`--latency apigw=..,lambda=..,sagemaker=..,model=..`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Latencies {
    pub apigw: Option<LatencyDist>,
    pub lambda: Option<LatencyDist>,
    /// SageMaker runtime overhead (OverheadLatency).
    pub sagemaker: Option<LatencyDist>,
    /// Time inside the container (ModelLatency).
    pub model: Option<LatencyDist>,
}

impl Latencies {
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut out = Latencies::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| format!("latency item '{item}' should be TIER=DURATION"))?;
            let dist = Some(LatencyDist::parse(value)?);
            match key.trim() {
                "apigw" => out.apigw = dist,
                "lambda" => out.lambda = dist,
                "sagemaker" => out.sagemaker = dist,
                "model" => out.model = dist,
                other => {
                    return Err(format!(
                        "unknown latency tier '{other}' (apigw, lambda, sagemaker, model)"
                    ))
                }
            }
        }
        Ok(out)
    }

    pub fn is_empty(&self) -> bool {
        self == &Latencies::default()
    }
}

/// The RNG of request number `seq`: each request draws from its own stream, so a run with the
/// same seed and the same request order makes the same decisions whatever the interleaving.
pub fn request_rng(seed: u64, seq: u64) -> SmallRng {
    // splitmix64 of the pair, so neighbouring sequence numbers give unrelated streams.
    let mut z = seed ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    SmallRng::seed_from_u64(z ^ (z >> 31))
}

/// API Gateway's stage throttle: a token bucket of `burst` tokens refilled at `rate` per second.
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    pub fn new(rate: f64, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        TokenBucket {
            rate,
            burst,
            state: Mutex::new((burst, now)),
        }
    }

    /// Take one token; false when the bucket is empty (→ 429).
    pub fn try_take(&self, now: Instant) -> bool {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, last) = &mut *guard;
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * self.rate).min(self.burst);
        *last = now.max(*last);
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5ms"), Ok(Duration::from_millis(5)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0ms"), Ok(Duration::ZERO));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-5ms").is_err());
    }

    #[test]
    fn latency_specs() {
        let l =
            Latencies::parse("model=5ms, lambda=lognormal:5ms:20ms,apigw=uniform:1ms:2ms").unwrap();
        assert_eq!(l.model, Some(LatencyDist::Fixed(Duration::from_millis(5))));
        assert_eq!(
            l.lambda,
            Some(LatencyDist::LogNormal {
                median: Duration::from_millis(5),
                p99: Duration::from_millis(20)
            })
        );
        assert!(l.sagemaker.is_none());
        assert!(Latencies::parse("db=5ms").is_err());
        assert!(Latencies::parse("model").is_err());
        assert!(Latencies::parse("model=lognormal:20ms:5ms").is_err());
        assert!(Latencies::parse("").unwrap().is_empty());
    }

    #[test]
    fn lognormal_quantiles_match_the_spec() {
        let d = LatencyDist::parse("lognormal:5ms:20ms").unwrap();
        let mut rng = request_rng(7, 0);
        let mut v: Vec<f64> = (0..20_000)
            .map(|_| d.sample(&mut rng).as_secs_f64())
            .collect();
        v.sort_by(f64::total_cmp);
        let median = v[v.len() / 2];
        let p99 = v[v.len() * 99 / 100];
        assert!((median - 0.005).abs() < 0.0005, "median {median}");
        assert!((p99 - 0.020).abs() < 0.003, "p99 {p99}");
    }

    #[test]
    fn request_rng_is_deterministic_per_seed_and_sequence() {
        let a: u64 = request_rng(1, 5).random();
        let b: u64 = request_rng(1, 5).random();
        let c: u64 = request_rng(1, 6).random();
        let d: u64 = request_rng(2, 5).random();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    #[test]
    fn token_bucket_allows_burst_then_refills() {
        let t0 = Instant::now();
        let b = TokenBucket::new(10.0, 3, t0);
        assert!(b.try_take(t0));
        assert!(b.try_take(t0));
        assert!(b.try_take(t0));
        assert!(!b.try_take(t0));
        // 0.1 s at 10 rps refills exactly one token.
        let t1 = t0 + Duration::from_millis(100);
        assert!(b.try_take(t1));
        assert!(!b.try_take(t1));
        // Never more than the burst.
        let t2 = t1 + Duration::from_secs(60);
        assert!((0..3).all(|_| b.try_take(t2)));
        assert!(!b.try_take(t2));
    }
}

//! The SageMaker endpoint's capacity: how many invocations it takes at once, and for a
//! serverless endpoint, its instances scaling from zero (AWS_WIRE §9).
//!
//! Real-time (`--sagemaker-concurrency N`): at most N invocations in flight; one more is
//! refused with SageMaker's throttling answer (400 ThrottlingException). Without the flag the
//! endpoint takes everything, as a well-provisioned one does.
//!
//! Serverless (`--sagemaker-mode serverless`): at most `--max-concurrency` in flight (beyond:
//! ThrottlingException, as for real-time). Instances are created on demand and reclaimed after
//! `--idle-timeout`. When there is none at all, the first request starts provisioning one and
//! waits `--model-setup-time` for it (a cold start, reported as the `ModelSetupTime` metric);
//! requests arriving while that scale-from-zero is under way get 429 ModelNotReadyException.
//! Scaling out from one instance to more adds the setup time to the request that needed the new
//! instance, without refusing others. Unverified: AWS does not document which requests see
//! ModelNotReadyException during a cold start; this is the plausible reading of its
//! description ("a serverless endpoint variant's resources are still being provisioned").

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How the emulated endpoint is hosted.
#[derive(Debug, Clone, PartialEq)]
pub enum SageMakerMode {
    /// Instance-backed; `concurrency` caps in-flight invocations (None: no cap).
    RealTime {
        concurrency: Option<usize>,
    },
    Serverless(Serverless),
}

impl Default for SageMakerMode {
    fn default() -> Self {
        SageMakerMode::RealTime { concurrency: None }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Serverless {
    /// `MaxConcurrency`, 1 to 200 (AWS's default is 20).
    pub max_concurrency: usize,
    /// `MemorySizeInMB`, 1024 to 6144 in steps of 1024. Only validated and reported.
    pub memory_mb: u32,
    /// Time to provision a new instance (the `ModelSetupTime` metric).
    pub setup_time: Duration,
}

impl Serverless {
    /// Request and response payload limit of a serverless endpoint (4 MB).
    pub const MAX_PAYLOAD: usize = 4 * 1024 * 1024;
}

/// Why an invocation was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 400 ThrottlingException.
    Throttled,
    /// 429 ModelNotReadyException.
    NotReady,
}

pub struct Capacity {
    limit: Option<usize>,
    busy: AtomicUsize,
    serverless: Option<(Duration, Duration, Mutex<Instances>)>,
}

#[derive(Default)]
struct Instances {
    /// Last-use instants of idle instances, most recent last.
    idle: Vec<Instant>,
    /// Instances running an invocation.
    busy: usize,
    /// End of a scale-from-zero under way.
    provisioning_until: Option<Instant>,
}

/// An admitted invocation; dropping it frees the slot (and returns the instance to the pool).
pub struct Admission<'a> {
    cap: &'a Capacity,
    /// Setup time this invocation waits for a new serverless instance.
    pub setup: Option<Duration>,
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        if let Some((_, _, m)) = &self.cap.serverless {
            let mut s = m.lock().unwrap_or_else(|e| e.into_inner());
            s.busy = s.busy.saturating_sub(1);
            s.idle.push(Instant::now());
        }
        self.cap.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Capacity {
    pub fn new(mode: &SageMakerMode, idle_timeout: Duration) -> Self {
        match mode {
            SageMakerMode::RealTime { concurrency } => Capacity {
                limit: *concurrency,
                busy: AtomicUsize::new(0),
                serverless: None,
            },
            SageMakerMode::Serverless(s) => Capacity {
                limit: Some(s.max_concurrency),
                busy: AtomicUsize::new(0),
                serverless: Some((s.setup_time, idle_timeout, Mutex::default())),
            },
        }
    }

    /// In-flight invocations now.
    pub fn in_flight(&self) -> usize {
        self.busy.load(Ordering::Acquire)
    }

    pub fn admit(&self, now: Instant) -> Result<Admission<'_>, Refusal> {
        let mut busy = self.busy.load(Ordering::Acquire);
        loop {
            if self.limit.is_some_and(|l| busy >= l) {
                return Err(Refusal::Throttled);
            }
            match self.busy.compare_exchange_weak(
                busy,
                busy + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(b) => busy = b,
            }
        }
        let admitted = |setup| Ok(Admission { cap: self, setup });
        let Some((setup, idle_timeout, m)) = &self.serverless else {
            return admitted(None);
        };
        let mut s = m.lock().unwrap_or_else(|e| e.into_inner());
        let expired = s
            .idle
            .iter()
            .take_while(|t| now.saturating_duration_since(**t) >= *idle_timeout)
            .count();
        s.idle.drain(..expired);
        if s.idle.pop().is_some() {
            s.busy += 1;
            return admitted(None);
        }
        if s.provisioning_until.is_some_and(|t| now < t) {
            // Refused before it took an instance: only the in-flight count is given back.
            self.busy.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::NotReady);
        }
        if s.busy == 0 {
            s.provisioning_until = Some(now + *setup);
        }
        s.busy += 1;
        admitted(Some(*setup))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_time_limit_throttles_beyond_n() {
        let c = Capacity::new(
            &SageMakerMode::RealTime {
                concurrency: Some(2),
            },
            Duration::from_secs(60),
        );
        let t = Instant::now();
        let a = c.admit(t).unwrap();
        let _b = c.admit(t).unwrap();
        assert_eq!(c.admit(t).err(), Some(Refusal::Throttled));
        drop(a);
        assert!(c.admit(t).is_ok());
        let unlimited = Capacity::new(&SageMakerMode::default(), Duration::from_secs(60));
        let all: Vec<_> = (0..100).map(|_| unlimited.admit(t).unwrap()).collect();
        assert_eq!(unlimited.in_flight(), all.len());
    }

    #[test]
    fn serverless_scale_from_zero_refuses_while_provisioning() {
        let setup = Duration::from_secs(2);
        let c = Capacity::new(
            &SageMakerMode::Serverless(Serverless {
                max_concurrency: 3,
                memory_mb: 2048,
                setup_time: setup,
            }),
            Duration::from_secs(600),
        );
        let t0 = Instant::now();
        let first = c.admit(t0).unwrap();
        assert_eq!(first.setup, Some(setup), "scale from zero is a cold start");
        assert_eq!(
            c.admit(t0 + Duration::from_millis(500)).err(),
            Some(Refusal::NotReady)
        );
        assert_eq!(c.in_flight(), 1, "a refused request holds no slot");
        // Provisioned: another request scales out (cold, but admitted).
        let second = c.admit(t0 + setup).unwrap();
        assert_eq!(second.setup, Some(setup));
        drop(first);
        drop(second);
        // Warm instances are reused; a third instance is a scale-out, not a scale from zero.
        let t1 = t0 + setup + Duration::from_millis(1);
        let warm = c.admit(t1).unwrap();
        assert_eq!(warm.setup, None);
        let _a = c.admit(t1).unwrap();
        let b = c.admit(t1).unwrap();
        assert_eq!(b.setup, Some(setup));
        assert_eq!(c.admit(t1).err(), Some(Refusal::Throttled));
    }
}

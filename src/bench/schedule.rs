//! When each request is due. Pure math: request `i` is due at the instant where the integral
//! of the target rate reaches `i`, so a constant rate gives `t0 + i/R` and a linear ramp places
//! arrivals by solving the quadratic. Due times are computed from the index, never stamped
//! after a sleep, so a late wake-up never shifts the rest of the schedule.
//!
//! Scale-out: copy `k` of `N` (`--copy k/N`) owns requests `k, k+N, k+2N, ...` of one global
//! schedule, so N copies started at the same wall-clock instant (`--start-at`) interleave into
//! exactly the global schedule, rather than N schedules firing in step.

//!
//! Poisson arrivals (`--arrival poisson`) replace the integer `i` by the `i`-th arrival of a
//! unit-rate Poisson process (a sum of seeded exponential gaps), then invert the same integral:
//! time rescaling, so ramps stay exact on average. Each request is still measured from its own
//! computed due time; copies share out the one global process.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How arrivals are spaced at a given rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Arrival {
    /// Evenly: request `i` at the instant the integral of the rate reaches `i`.
    #[default]
    Uniform,
    /// A Poisson process: independent exponential gaps, drawn from this seed.
    Poisson { seed: u64 },
}

/// Gaps between Poisson arrivals: gap `k` is a pure function of (seed, k), and the sums of
/// every [`BLOCK`] gaps are cached, so `due(i)` is random access at O(BLOCK) cost and memory
/// grows by one float per BLOCK requests.
struct PoissonClock {
    seed: u64,
    /// `sums[b]`: the sum of the first `b * BLOCK` gaps.
    sums: Mutex<Vec<f64>>,
}

const BLOCK: u64 = 64;

impl PoissonClock {
    /// Exp(1) from a splitmix64 hash of (seed, k): -ln(U) with U in (0, 1].
    fn gap(&self, k: u64) -> f64 {
        let mut z = self.seed ^ k.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let u = ((z >> 11) + 1) as f64 / (1u64 << 53) as f64;
        -u.ln()
    }

    /// The `i`-th arrival (from 0) of a unit-rate Poisson process started at 0. Arrival 0 is
    /// at the first gap, not at 0: a process has no arrival at its origin.
    fn arrival(&self, i: u64) -> f64 {
        let b = i / BLOCK;
        let base = {
            let mut sums = self.sums.lock().unwrap_or_else(|e| e.into_inner());
            while sums.len() as u64 <= b {
                let n = sums.len() as u64;
                let last = *sums.last().unwrap_or(&0.0);
                let next = if n == 0 {
                    0.0
                } else {
                    last + ((n - 1) * BLOCK..n * BLOCK)
                        .map(|k| self.gap(k))
                        .sum::<f64>()
                };
                sums.push(next);
            }
            sums[b as usize]
        };
        base + (b * BLOCK..=i).map(|k| self.gap(k)).sum::<f64>()
    }
}

/// One stage of a ramp: the rate goes linearly from `from` to `to` over `secs`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    pub from: f64,
    pub to: f64,
    pub secs: f64,
}

/// An arrival schedule: stages, then the last stage's final rate for ever.
#[derive(Clone)]
pub struct Schedule {
    stages: Vec<Stage>,
    /// Arrivals (fractional) before each stage, and at the end of the last one.
    counts: Vec<f64>,
    /// Start time of each stage (seconds), and the end of the last one.
    starts: Vec<f64>,
    /// This copy's share: requests `copy.k + j * copy.n` of the global schedule.
    copy: CopyIndex,
    arrival: Arrival,
    /// With Poisson arrivals: the gap cache, shared by clones (the pacer's and the workers').
    poisson: Option<Arc<PoissonClock>>,
}

impl std::fmt::Debug for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schedule")
            .field("stages", &self.stages)
            .field("copy", &self.copy)
            .field("arrival", &self.arrival)
            .finish()
    }
}

impl PartialEq for Schedule {
    fn eq(&self, o: &Schedule) -> bool {
        self.stages == o.stages && self.copy == o.copy && self.arrival == o.arrival
    }
}

/// `--copy K/N`: copy `k` (from 0) of `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyIndex {
    pub k: u64,
    pub n: u64,
}

impl CopyIndex {
    pub const ALONE: CopyIndex = CopyIndex { k: 0, n: 1 };
}

impl std::fmt::Display for CopyIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

/// Parse `--copy K/N` (K from 0, as `JOB_COMPLETION_INDEX` counts).
pub fn parse_copy(s: &str) -> Result<CopyIndex, String> {
    // clap names the flag and the value around this message.
    let bad = |why: &str| format!("{why} (expected K/N with 0 <= K < N, e.g. 0/4)");
    let (k, n) = s.trim().split_once('/').ok_or_else(|| bad("no '/'"))?;
    let k: u64 = k
        .trim()
        .parse()
        .map_err(|_| bad("K is not a whole number"))?;
    let n: u64 = n
        .trim()
        .parse()
        .map_err(|_| bad("N is not a whole number"))?;
    if n == 0 {
        return Err(bad("N must be at least 1"));
    }
    if k >= n {
        return Err(bad("K must be less than N"));
    }
    Ok(CopyIndex { k, n })
}

impl Schedule {
    /// A constant rate of `rps` requests per second.
    pub fn constant(rps: f64) -> Schedule {
        Schedule::stages(Vec::new(), rps)
    }

    /// Ramp stages; after them the rate holds at the last `to`.
    pub fn ramp(stages: Vec<Stage>) -> Schedule {
        let tail = stages.last().map_or(0.0, |s| s.to);
        Schedule::stages(stages, tail)
    }

    fn stages(mut stages: Vec<Stage>, tail: f64) -> Schedule {
        // The tail is a stage without end.
        stages.push(Stage {
            from: tail,
            to: tail,
            secs: f64::INFINITY,
        });
        let mut counts = vec![0.0];
        let mut starts = vec![0.0];
        for s in &stages[..stages.len() - 1] {
            counts.push(counts.last().unwrap() + (s.from + s.to) / 2.0 * s.secs);
            starts.push(starts.last().unwrap() + s.secs);
        }
        Schedule {
            stages,
            counts,
            starts,
            copy: CopyIndex::ALONE,
            arrival: Arrival::Uniform,
            poisson: None,
        }
    }

    /// The same rates with arrivals spaced as `arrival` says.
    pub fn with_arrival(mut self, arrival: Arrival) -> Schedule {
        self.arrival = arrival;
        self.poisson = match arrival {
            Arrival::Uniform => None,
            Arrival::Poisson { seed } => Some(Arc::new(PoissonClock {
                seed,
                sums: Mutex::new(Vec::new()),
            })),
        };
        self
    }

    pub fn arrival(&self) -> Arrival {
        self.arrival
    }

    /// This schedule as copy `copy.k` of `copy.n` sees it: its own request `j` is global
    /// request `k + j*n`, and every rate and count is this copy's share.
    pub fn for_copy(mut self, copy: CopyIndex) -> Schedule {
        self.copy = copy;
        self
    }

    pub fn copy(&self) -> CopyIndex {
        self.copy
    }

    /// Length of the ramp stages (zero for a constant rate).
    pub fn ramp_secs(&self) -> f64 {
        *self.starts.last().unwrap()
    }

    /// This copy's rate at `t` seconds.
    pub fn rate_at(&self, t: f64) -> f64 {
        self.global_rate_at(t) / self.copy.n as f64
    }

    fn global_rate_at(&self, t: f64) -> f64 {
        let k = self.stage_at_time(t);
        let s = &self.stages[k];
        let tau = t - self.starts[k];
        if s.secs.is_infinite() {
            s.from
        } else {
            s.from + (s.to - s.from) * (tau / s.secs)
        }
    }

    fn stage_at_time(&self, t: f64) -> usize {
        (0..self.stages.len())
            .rev()
            .find(|&k| self.starts[k] <= t)
            .unwrap_or(0)
    }

    /// This copy's share of the arrivals scheduled in `[0, t)` (the integral of the rate),
    /// fractional: the shares of all copies add up to the whole.
    pub fn count_by(&self, t: f64) -> f64 {
        self.global_count_by(t) / self.copy.n as f64
    }

    fn global_count_by(&self, t: f64) -> f64 {
        let k = self.stage_at_time(t);
        let s = &self.stages[k];
        let tau = t - self.starts[k];
        let slope = if s.secs.is_infinite() {
            0.0
        } else {
            (s.to - s.from) / s.secs
        };
        self.counts[k] + s.from * tau + slope * tau * tau / 2.0
    }

    /// Requests due strictly before `t` seconds: the first index due at or after `t`.
    pub fn index_at(&self, t: f64) -> u64 {
        // The first index due at or after `t` (`due` is monotonic), starting from the
        // integral's estimate. The estimate is off by float rounding, usually by one, but by
        // up to 2^64 for absurd rates (`--ramp 5..1e29/1h`, found by fuzzing): so the search
        // gallops from it and bisects, never stepping one index at a time.
        let at_or_after = |i: u64| self.due(i).is_none_or(|d| d.as_secs_f64() >= t);
        let est = self.count_by(t).ceil().max(0.0);
        let start = if est >= u64::MAX as f64 {
            u64::MAX
        } else {
            est as u64
        };
        // `lo` is before `t` (or none is), `hi` is at or after it.
        let (mut lo, mut hi): (Option<u64>, u64) = if at_or_after(start) {
            let mut step = 1u64;
            let mut hi = start;
            loop {
                let probe = hi.saturating_sub(step);
                if probe == hi {
                    break (None, hi);
                }
                if at_or_after(probe) {
                    hi = probe;
                    step = step.saturating_mul(2);
                } else {
                    break (Some(probe), hi);
                }
            }
        } else {
            let mut step = 1u64;
            let mut lo = start;
            loop {
                let probe = lo.saturating_add(step);
                if probe == lo || at_or_after(probe) {
                    break (Some(lo), probe);
                }
                lo = probe;
                step = step.saturating_mul(2);
            }
        };
        while let Some(l) = lo {
            if hi - l <= 1 {
                break;
            }
            let mid = l + (hi - l) / 2;
            if at_or_after(mid) {
                hi = mid;
            } else {
                lo = Some(mid);
            }
        }
        if lo.is_none() && hi > 0 && at_or_after(0) {
            return 0;
        }
        hi
    }

    /// When this copy's request `i` (from 0) is due, after the start; `None` if the rate
    /// falls to zero for ever before it.
    pub fn due(&self, i: u64) -> Option<Duration> {
        let global = i.checked_mul(self.copy.n)?.checked_add(self.copy.k)?;
        self.global_due(global)
    }

    fn global_due(&self, i: u64) -> Option<Duration> {
        let target = match &self.poisson {
            Some(p) => p.arrival(i),
            None => i as f64,
        };
        // The stage in which the count reaches `target`.
        let k = (0..self.stages.len())
            .find(|&k| k + 1 == self.stages.len() || self.counts[k + 1] > target)
            .unwrap_or(0);
        let s = &self.stages[k];
        if s.secs.is_infinite() && s.from <= 0.0 {
            return None;
        }
        let d = target - self.counts[k];
        let tau = if d <= 0.0 {
            0.0
        } else {
            let slope = if s.secs.is_infinite() {
                0.0
            } else {
                (s.to - s.from) / s.secs
            };
            // r0*tau + slope*tau^2/2 = d, in the form that is stable when slope is ~0.
            let disc = (s.from * s.from + 2.0 * slope * d).max(0.0);
            let denom = s.from + disc.sqrt();
            if denom <= 0.0 {
                return None;
            }
            let tau = 2.0 * d / denom;
            if s.secs.is_finite() {
                tau.min(s.secs)
            } else {
                tau
            }
        };
        let t = self.starts[k] + tau;
        if !t.is_finite() {
            return None;
        }
        Some(Duration::from_secs_f64(t))
    }
}

/// `--start-at`: an RFC 3339 instant (`2026-12-01T10:00:00Z`, any offset, fractions of a
/// second), or `+DURATION` from now (`+30s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    At(SystemTime),
    FromNow(Duration),
}

impl StartAt {
    /// The instant, for a relative time counted from `now`.
    pub fn instant(self, now: SystemTime) -> SystemTime {
        match self {
            StartAt::At(t) => t,
            StartAt::FromNow(d) => now + d,
        }
    }
}

pub fn parse_start_at(s: &str) -> Result<StartAt, String> {
    let s = s.trim();
    if let Some(rel) = s.strip_prefix('+') {
        return crate::cli::parse_duration(rel)
            .map(StartAt::FromNow)
            .map_err(|e| format!("{e} (expected +DURATION, e.g. +30s)"));
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("{e} (expected RFC 3339, e.g. 2026-12-01T10:00:00Z, or +30s)"))?;
    let nanos = t.unix_timestamp_nanos();
    let at = u64::try_from(nanos)
        .ok()
        .map(|n| UNIX_EPOCH + Duration::from_nanos(n))
        .ok_or_else(|| "before 1970".to_string())?;
    Ok(StartAt::At(at))
}

/// RFC 3339 in UTC with milliseconds, for messages and logs.
pub fn fmt_rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let nanos = i128::from(d.as_secs()) * 1_000_000_000 + i128::from(d.subsec_millis()) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{:.3}", d.as_secs_f64()))
}

/// Parse `--ramp 0..200/30s,200/60s`: stages separated by commas; `A..B/D` ramps linearly
/// from A to B rps over D, `A/D` holds A for D.
pub fn parse_ramp(s: &str) -> Result<Vec<Stage>, String> {
    let mut stages = Vec::new();
    for (n, part) in s.split(',').enumerate() {
        let part = part.trim();
        let bad = |why: &str| {
            format!(
                "--ramp stage {} '{part}': {why} (expected e.g. 0..200/30s or 200/60s)",
                n + 1
            )
        };
        let (rates, dur) = part.split_once('/').ok_or_else(|| bad("no '/DURATION'"))?;
        let secs = crate::cli::parse_duration(dur)
            .map_err(|e| bad(&e))?
            .as_secs_f64();
        if secs <= 0.0 {
            return Err(bad("the duration must be positive"));
        }
        let rate = |r: &str| -> Result<f64, String> {
            let v: f64 = r
                .trim()
                .parse()
                .map_err(|_| bad(&format!("'{r}' is not a rate")))?;
            if v.is_finite() && v >= 0.0 {
                Ok(v)
            } else {
                Err(bad("rates must be finite and not negative"))
            }
        };
        let (from, to) = match rates.split_once("..") {
            Some((a, b)) => (rate(a)?, rate(b)?),
            None => {
                let r = rate(rates)?;
                (r, r)
            }
        };
        stages.push(Stage { from, to, secs });
    }
    if stages.iter().all(|s| s.from == 0.0 && s.to == 0.0) {
        return Err("--ramp: every stage has rate 0".into());
    }
    Ok(stages)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(d: Option<Duration>) -> f64 {
        d.unwrap().as_secs_f64()
    }

    #[test]
    fn constant_rate_is_i_over_r() {
        let s = Schedule::constant(200.0);
        for i in [0u64, 1, 2, 199, 200, 12_345, 3_600_000] {
            assert!((secs(s.due(i)) - i as f64 / 200.0).abs() < 1e-9, "{i}");
        }
        assert_eq!(s.index_at(1.0), 200);
        assert_eq!(s.index_at(0.0), 0);
        assert_eq!(s.index_at(2.5), 500);
    }

    #[test]
    fn linear_ramp_from_zero_places_arrivals_by_the_integral() {
        // 0 -> 200 rps over 30 s: N(t) = 200/30 * t^2 / 2, so 3000 arrivals in the ramp.
        let s = Schedule::ramp(parse_ramp("0..200/30s,200/60s").unwrap());
        assert_eq!(s.ramp_secs(), 90.0);
        assert!((s.count_by(30.0) - 3000.0).abs() < 1e-9);
        let k = 200.0 / 30.0;
        for i in [1u64, 10, 100, 2999] {
            let expect = (2.0 * i as f64 / k).sqrt();
            assert!((secs(s.due(i)) - expect).abs() < 1e-9, "{i}");
        }
        // Hold stage: one request every 5 ms after the 30 s mark.
        assert!((secs(s.due(3000)) - 30.0).abs() < 1e-9);
        assert!((secs(s.due(3200)) - 31.0).abs() < 1e-9);
        // After the stages the last rate holds.
        assert!((s.count_by(90.0) - 15_000.0).abs() < 1e-6);
        assert!((secs(s.due(15_200)) - 91.0).abs() < 1e-9);
        assert_eq!(s.index_at(90.0), 15_000);
        // Due times never go backwards.
        let mut last = 0.0;
        for i in 0..16_000 {
            let t = secs(s.due(i));
            assert!(t >= last, "{i}: {t} < {last}");
            last = t;
        }
    }

    #[test]
    fn ramp_down_and_pause_stages() {
        let s = Schedule::ramp(parse_ramp("100..0/10s,0/5s,50/2s").unwrap());
        // 500 arrivals while ramping down, none in the pause, then 50 rps.
        assert!((s.count_by(10.0) - 500.0).abs() < 1e-9);
        assert!((s.count_by(15.0) - 500.0).abs() < 1e-9);
        assert!((secs(s.due(500)) - 15.0).abs() < 1e-9);
        assert!((secs(s.due(550)) - 16.0).abs() < 1e-9);
        assert!(secs(s.due(499)) < 10.0);
        assert_eq!(s.rate_at(5.0), 50.0);
        assert_eq!(s.rate_at(12.0), 0.0);
    }

    #[test]
    fn ramp_ending_at_zero_ends_the_schedule() {
        let s = Schedule::ramp(parse_ramp("10/1s,0/1s").unwrap());
        assert!(s.due(9).is_some());
        assert_eq!(s.due(10), None);
    }

    #[test]
    fn bad_ramps_name_the_stage() {
        for (input, needle) in [
            ("0..200", "stage 1"),
            ("0..200/30s,x/2s", "stage 2"),
            ("0..-1/2s", "negative"),
            ("0/2s", "every stage has rate 0"),
            ("5/0s", "positive"),
        ] {
            let e = parse_ramp(input).unwrap_err();
            assert!(e.contains(needle), "{input}: {e}");
        }
    }

    #[test]
    fn copies_interleave_into_the_global_schedule() {
        for global in [
            Schedule::constant(400.0),
            Schedule::ramp(parse_ramp("0..300/2s,300/1s").unwrap()),
        ] {
            let n = 4;
            let copies: Vec<Schedule> = (0..n)
                .map(|k| global.clone().for_copy(CopyIndex { k, n }))
                .collect();
            // Every global request is sent by exactly one copy, at the same due time.
            for i in 0..2000u64 {
                let c = &copies[(i % n) as usize];
                assert_eq!(c.due(i / n), global.due(i), "{i}");
            }
            // Counts and rates are each copy's share; together they are the whole.
            for t in [0.0, 0.0101, 0.5, 1.0, 2.345, 2.9] {
                let sum: f64 = copies.iter().map(|c| c.count_by(t)).sum();
                assert!((sum - global.count_by(t)).abs() <= 2.0, "{t}: {sum}");
                let rates: f64 = copies.iter().map(|c| c.rate_at(t)).sum();
                assert!((rates - global.rate_at(t)).abs() < 1e-9);
                let idx: u64 = copies.iter().map(|c| c.index_at(t)).sum();
                assert_eq!(idx, global.index_at(t), "{t}");
            }
        }
        let c = Schedule::constant(400.0).for_copy(CopyIndex { k: 3, n: 4 });
        assert!((secs(c.due(0)) - 3.0 / 400.0).abs() < 1e-12);
        assert!((secs(c.due(1)) - 7.0 / 400.0).abs() < 1e-12);
        assert_eq!(c.due(u64::MAX), None);
    }

    #[test]
    fn copy_and_start_at_parsing() {
        assert_eq!(parse_copy("2/4"), Ok(CopyIndex { k: 2, n: 4 }));
        assert_eq!(parse_copy("0/1"), Ok(CopyIndex::ALONE));
        for (bad, needle) in [
            ("4/4", "less than N"),
            ("1/0", "at least 1"),
            ("x/4", "K is not"),
            ("3", "no '/'"),
        ] {
            let e = parse_copy(bad).unwrap_err();
            assert!(
                e.contains(needle) && e.contains("expected K/N"),
                "{bad}: {e}"
            );
        }
        let at = |s: &str| match parse_start_at(s).unwrap() {
            StartAt::At(t) => t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64(),
            other => panic!("{other:?}"),
        };
        assert_eq!(at("2026-12-01T10:00:00Z"), 1_796_119_200.0);
        assert_eq!(at("2026-12-01T11:00:00.250+01:00"), 1_796_119_200.25);
        assert_eq!(
            parse_start_at("+30s"),
            Ok(StartAt::FromNow(Duration::from_secs(30)))
        );
        for bad in ["2026-12-01 10:00", "tomorrow", "+x", "1969-01-01T00:00:00Z"] {
            let e = parse_start_at(bad).unwrap_err();
            assert!(e.contains("expected") || e.contains("1970"), "{bad}: {e}");
        }
        assert_eq!(
            fmt_rfc3339(UNIX_EPOCH + Duration::from_millis(1_796_119_200_250)),
            "2026-12-01T10:00:00.25Z"
        );
    }

    /// Over 100 000 Poisson arrivals at R the gaps have mean 1/R and a coefficient of
    /// variation of 1 (an exponential's), each within 1%; the same seed gives the same times.
    #[test]
    fn poisson_gaps_are_exponential() {
        let r = 250.0;
        let s = Schedule::constant(r).with_arrival(Arrival::Poisson { seed: 42 });
        let n = 100_000u64;
        let times: Vec<f64> = (0..=n).map(|i| secs(s.due(i))).collect();
        let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().all(|g| *g >= 0.0));
        let mean = gaps.iter().sum::<f64>() / n as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let cv = var.sqrt() / mean;
        assert!(
            (mean * r - 1.0).abs() < 0.01,
            "mean gap {mean} vs {}",
            1.0 / r
        );
        assert!((cv - 1.0).abs() < 0.01, "cv {cv}");
        // Random access agrees with the sequential walk, across clones; the seed decides.
        let again = s.clone();
        for i in [99_999u64, 5, 64, 63, 12_345] {
            assert_eq!(again.due(i), s.due(i));
        }
        let other = Schedule::constant(r).with_arrival(Arrival::Poisson { seed: 43 });
        assert_ne!(other.due(10), s.due(10));
        // Uniform stays i/R; index_at still finds the first index due at or after t.
        assert_eq!(s.index_at(0.0), 0);
        let i = s.index_at(100.0);
        assert!(secs(s.due(i)) >= 100.0 && secs(s.due(i - 1)) < 100.0);
    }

    #[test]
    fn poisson_ramp_follows_the_rate() {
        // 0 -> 400 rps over 20 s: 4000 arrivals expected, about 1000 in the first 10 s.
        let s = Schedule::ramp(parse_ramp("0..400/20s").unwrap())
            .with_arrival(Arrival::Poisson { seed: 1 });
        let first = s.index_at(10.0) as f64;
        let all = s.index_at(20.0) as f64;
        assert!((first - 1000.0).abs() < 4.0 * 1000f64.sqrt(), "{first}");
        assert!((all - 4000.0).abs() < 4.0 * 4000f64.sqrt(), "{all}");
    }

    /// The dispatcher sleeps until the computed instants: under paused time the wake-ups land
    /// exactly on them.
    #[tokio::test(start_paused = true)]
    async fn sleeping_until_due_wakes_on_schedule() {
        let s = Schedule::constant(1000.0);
        let t0 = tokio::time::Instant::now();
        for i in 0..50 {
            let due = t0 + s.due(i).unwrap();
            tokio::time::sleep_until(due).await;
            assert_eq!(tokio::time::Instant::now() - t0, s.due(i).unwrap());
        }
    }
}

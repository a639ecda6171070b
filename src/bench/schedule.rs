//! When each request is due. Pure math: request `i` is due at the instant where the integral
//! of the target rate reaches `i`, so a constant rate gives `t0 + i/R` and a linear ramp places
//! arrivals by solving the quadratic. Due times are computed from the index, never stamped
//! after a sleep, so a late wake-up never shifts the rest of the schedule.

use std::time::Duration;

/// One stage of a ramp: the rate goes linearly from `from` to `to` over `secs`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    pub from: f64,
    pub to: f64,
    pub secs: f64,
}

/// An arrival schedule: stages, then the last stage's final rate for ever.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    stages: Vec<Stage>,
    /// Arrivals (fractional) before each stage, and at the end of the last one.
    counts: Vec<f64>,
    /// Start time of each stage (seconds), and the end of the last one.
    starts: Vec<f64>,
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
        }
    }

    /// Length of the ramp stages (zero for a constant rate).
    pub fn ramp_secs(&self) -> f64 {
        *self.starts.last().unwrap()
    }

    /// The rate at `t` seconds.
    pub fn rate_at(&self, t: f64) -> f64 {
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

    /// Arrivals scheduled in `[0, t)` (the integral of the rate), fractional.
    pub fn count_by(&self, t: f64) -> f64 {
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

    /// When request `i` (from 0) is due, after the start; `None` if the rate falls to zero
    /// for ever before it.
    pub fn due(&self, i: u64) -> Option<Duration> {
        let target = i as f64;
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

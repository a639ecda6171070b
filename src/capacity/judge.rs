//! Whether one probe passed, and why not: pure functions of its measurements, unit-tested
//! on synthetic numbers.
//!
//! A probe passes when every SLO term holds, the achieved rate is at least 99% of the target,
//! the generator kept up (lag p99 under `--max-lag`), and the response time does not trend
//! upward across the probe. The trend is the least-squares slope of the per-second median
//! response time against time; it fails the probe when it is significant (one-sided t-test,
//! p < 0.001) and the rise it predicts over the probe exceeds both 1 ms and a quarter of the
//! probe's median: a backlog that grows at a fixed rate, even while p99 is still in bounds.

use serde::Serialize;

use crate::bench::recorder::Second;

/// What limited the rate (the `limited_by` of the JSON output).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// A latency term of the SLO, the trend check, or an endpoint that could not keep up.
    Slo,
    /// An `errors` term of the SLO (throttles count as errors).
    Errors,
    /// The load generator could not send at the rate: the answer says nothing about the
    /// endpoint beyond it.
    Client,
    /// `--max` passed.
    Max,
}

impl Limit {
    pub fn name(self) -> &'static str {
        match self {
            Limit::Slo => "slo",
            Limit::Errors => "errors",
            Limit::Client => "client",
            Limit::Max => "max",
        }
    }
}

/// The least-squares trend of per-second medians.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Trend {
    /// Seconds used (those with at least [`MIN_PER_SECOND`] answers).
    pub points: usize,
    /// ms per second.
    pub slope_ms_per_s: f64,
    /// The slope over its standard error (0 with fewer than 3 points).
    pub t: f64,
    /// slope x probe length: how much the median rose across the probe.
    pub rise_ms: f64,
    /// Significant and large enough to fail the probe.
    pub rising: bool,
}

/// A second with fewer answers says little about the median.
pub const MIN_PER_SECOND: u64 = 5;
/// The smallest rise across a probe that counts as a trend, whatever the median.
pub const MIN_RISE_MS: f64 = 1.0;
/// ... and the smallest as a share of the probe's median.
pub const MIN_RISE_SHARE: f64 = 0.25;

/// One-sided critical values of Student's t at p = 0.001, by degrees of freedom.
fn t_critical(df: usize) -> f64 {
    const TABLE: [(usize, f64); 16] = [
        (1, 318.31),
        (2, 22.327),
        (3, 10.215),
        (4, 7.173),
        (5, 5.893),
        (6, 5.208),
        (7, 4.785),
        (8, 4.501),
        (9, 4.297),
        (10, 4.144),
        (12, 3.930),
        (15, 3.733),
        (20, 3.552),
        (30, 3.385),
        (60, 3.232),
        (120, 3.160),
    ];
    // The largest tabulated df not above `df`: conservative in between.
    TABLE
        .iter()
        .rev()
        .find(|(d, _)| *d <= df)
        .map_or(f64::INFINITY, |(_, t)| *t)
}

/// The trend of `seconds` (per-second summaries) over a probe of `probe_s` seconds whose
/// median response time is `median_ms`.
pub fn trend(seconds: &[Second], probe_s: f64, median_ms: f64) -> Trend {
    let pts: Vec<(f64, f64)> = seconds
        .iter()
        .filter(|s| s.requests >= MIN_PER_SECOND)
        .map(|s| (s.t as f64 + 0.5, s.p50_ms))
        .collect();
    let n = pts.len();
    let none = Trend {
        points: n,
        slope_ms_per_s: 0.0,
        t: 0.0,
        rise_ms: 0.0,
        rising: false,
    };
    if n < 3 {
        return none;
    }
    let nf = n as f64;
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / nf;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / nf;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx <= 0.0 {
        return none;
    }
    let slope = sxy / sxx;
    let sse: f64 = pts
        .iter()
        .map(|p| (p.1 - (my + slope * (p.0 - mx))).powi(2))
        .sum();
    let se = (sse / (nf - 2.0) / sxx).sqrt();
    let t = if se > 0.0 {
        slope / se
    } else if slope > 0.0 {
        f64::INFINITY
    } else {
        0.0
    };
    let rise = slope * probe_s;
    let rising = t > t_critical(n - 2) && rise > MIN_RISE_MS.max(MIN_RISE_SHARE * median_ms);
    Trend {
        points: n,
        slope_ms_per_s: slope,
        t: if t.is_finite() { t } else { f64::MAX },
        rise_ms: rise,
        rising,
    }
}

/// What the verdict needs from one probe.
#[derive(Debug, Clone)]
pub struct Facts {
    pub target_rps: f64,
    pub achieved_rps: f64,
    /// Requests sent over requests scheduled: whether the rate was delivered (a count, so
    /// one late last send does not move it as it moves (n-1)/(last-first) on a short probe).
    pub sent_share: f64,
    pub lag_p99_ms: f64,
    pub max_lag_ms: f64,
    /// Mean requests in flight (achieved rate x mean service time) over the slots.
    pub slot_use: f64,
    /// Share of the machine's CPU time that was busy during the probe (Linux), if known.
    pub cpu_busy: Option<f64>,
    /// `(expr, ok, is_errors, actual)` of each SLO term.
    pub slo: Vec<(String, bool, bool, f64)>,
    pub trend: Trend,
    pub interrupted: bool,
    /// The reason the probe was ended early, if it was.
    pub stopped_early: Option<String>,
}

/// The smallest share of the target rate a passing probe must achieve.
pub const MIN_ACHIEVED: f64 = 0.99;
/// A machine this busy cannot be trusted to generate load on time.
pub const BUSY_CPU: f64 = 0.9;
/// Below this slot use, lateness cannot be blamed on the endpoint holding every slot.
pub const FREE_SLOTS: f64 = 0.5;

/// Pass (None) or the limit and the reasons, most telling first.
pub fn verdict(f: &Facts) -> Option<(Limit, Vec<String>)> {
    let mut why = Vec::new();
    let ratio = f.sent_share;
    let late = f.lag_p99_ms > f.max_lag_ms;
    let short = ratio < MIN_ACHIEVED && f.stopped_early.is_none() && !f.interrupted;
    let starved = f.cpu_busy.is_some_and(|c| c >= BUSY_CPU) || f.slot_use < FREE_SLOTS;
    if f.interrupted {
        why.push("interrupted".to_string());
    }
    // Errors are the endpoint's own answer (a throttle is a throttle however late it was
    // sent); anything else that broke on a starved client says nothing about the endpoint.
    let errors_broke = f.slo.iter().any(|(_, ok, is_errors, _)| !ok && *is_errors);
    if (late || short) && starved && !errors_broke {
        let cause = match f.cpu_busy {
            Some(c) if c >= BUSY_CPU => format!("this machine's CPU was {:.0}% busy", c * 100.0),
            _ => format!("{:.0}% of the slots were in use", f.slot_use * 100.0),
        };
        why.push(format!(
            "the client is the limit: it sent {:.1}% of the requests due at {:.1} rps (achieved {:.1} rps), lag p99 {} (bound {}), and {cause}; the endpoint may take more",
            ratio * 100.0,
            f.target_rps,
            f.achieved_rps,
            crate::bench::report::fmt_ms(f.lag_p99_ms),
            crate::bench::report::fmt_ms(f.max_lag_ms),
        ));
        return Some((Limit::Client, why));
    }
    let mut limit = None;
    for (expr, ok, is_errors, actual) in &f.slo {
        if !ok {
            why.push(format!("{expr} broken (actual {})", round(*actual)));
            if *is_errors {
                limit = Some(Limit::Errors);
            } else {
                limit = limit.or(Some(Limit::Slo));
            }
        }
    }
    if let Some(reason) = &f.stopped_early {
        why.push(reason.clone());
    }
    if short {
        why.push(format!(
            "sent {:.1}% (< 99%) of the requests due at {:.1} rps (achieved {:.1} rps): every slot was busy, the endpoint did not keep up",
            ratio * 100.0,
            f.target_rps,
            f.achieved_rps,
        ));
        limit = limit.or(Some(Limit::Slo));
    } else if late {
        why.push(format!(
            "lag p99 {} over the bound {}: requests waited for a free slot",
            crate::bench::report::fmt_ms(f.lag_p99_ms),
            crate::bench::report::fmt_ms(f.max_lag_ms)
        ));
        limit = limit.or(Some(Limit::Slo));
    }
    if f.trend.rising {
        why.push(format!(
            "response time rising {:+.2} ms/s (t = {:.1}, +{} over the probe): a backlog is growing",
            f.trend.slope_ms_per_s,
            f.trend.t.min(9999.0),
            crate::bench::report::fmt_ms(f.trend.rise_ms)
        ));
        limit = limit.or(Some(Limit::Slo));
    }
    if f.interrupted {
        limit = limit.or(Some(Limit::Slo));
    }
    limit.map(|l| (l, why))
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The machine's CPU counters from `/proc/stat` (busy, total jiffies); None off Linux.
pub fn cpu_sample() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 5 {
        return None;
    }
    // user nice system idle iowait irq softirq steal ...; guest time is already in user.
    let total: u64 = v.iter().take(8).sum();
    let idle = v[3] + v[4];
    Some((total - idle, total))
}

/// Busy share between two samples.
pub fn cpu_busy(a: Option<(u64, u64)>, b: Option<(u64, u64)>) -> Option<f64> {
    let ((b0, t0), (b1, t1)) = (a?, b?);
    let dt = t1.checked_sub(t0)?;
    (dt > 0).then(|| (b1.saturating_sub(b0)) as f64 / dt as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(p50: &[f64]) -> Vec<Second> {
        p50.iter()
            .enumerate()
            .map(|(t, &p)| Second {
                t: t as u64,
                requests: 100,
                errors: 0,
                p50_ms: p,
                p99_ms: p * 2.0,
            })
            .collect()
    }

    #[test]
    fn a_linear_rise_is_a_trend_and_noise_is_not() {
        let t = trend(&secs(&[10.0, 60.0, 110.0, 161.0, 209.0]), 5.0, 110.0);
        assert!(t.rising, "{t:?}");
        assert!((t.slope_ms_per_s - 49.9).abs() < 0.5, "{t:?}");
        // Flat with noise.
        let t = trend(&secs(&[20.1, 20.4, 19.8, 20.3, 20.0, 20.2]), 6.0, 20.0);
        assert!(!t.rising, "{t:?}");
        // Significant but tiny (sub-millisecond drift on a fast endpoint).
        let t = trend(&secs(&[0.30, 0.31, 0.32, 0.33, 0.34]), 5.0, 0.32);
        assert!(t.t > 100.0 && !t.rising, "{t:?}");
        // A large but erratic change is not significant.
        let t = trend(&secs(&[10.0, 80.0, 5.0, 90.0, 12.0]), 5.0, 12.0);
        assert!(!t.rising, "{t:?}");
        // Too few points.
        assert!(!trend(&secs(&[1.0, 100.0]), 2.0, 50.0).rising);
    }

    fn facts() -> Facts {
        Facts {
            target_rps: 100.0,
            achieved_rps: 100.0,
            sent_share: 1.0,
            lag_p99_ms: 0.2,
            max_lag_ms: 10.0,
            slot_use: 0.05,
            cpu_busy: Some(0.3),
            slo: vec![
                ("p99<200ms".into(), true, false, 12.0),
                ("errors<1%".into(), true, true, 0.0),
            ],
            trend: trend(&secs(&[1.0, 1.0, 1.0]), 3.0, 1.0),
            interrupted: false,
            stopped_early: None,
        }
    }

    #[test]
    fn verdicts() {
        assert_eq!(verdict(&facts()), None);
        let mut f = facts();
        f.slo[1].1 = false;
        f.slo[1].3 = 2.5;
        let (l, why) = verdict(&f).unwrap();
        assert_eq!(l, Limit::Errors);
        assert!(why[0].contains("errors<1% broken (actual 2.5)"), "{why:?}");
        // Late with a busy CPU: the client, whatever else broke.
        let mut f = facts();
        f.achieved_rps = 60.0;
        f.sent_share = 0.6;
        f.lag_p99_ms = 800.0;
        f.slot_use = 1.0;
        f.cpu_busy = Some(0.99);
        f.slo[0].1 = false;
        let (l, why) = verdict(&f).unwrap();
        assert_eq!(l, Limit::Client);
        assert!(why[0].starts_with("the client is the limit"), "{why:?}");
        // ... unless the endpoint refused requests: its errors are its own.
        f.slo[1].1 = false;
        assert_eq!(verdict(&f).unwrap().0, Limit::Errors);
        f.slo[1].1 = true;
        // Short with every slot held and an idle CPU: the endpoint.
        f.cpu_busy = Some(0.2);
        f.slo[0].1 = true;
        let (l, why) = verdict(&f).unwrap();
        assert_eq!(l, Limit::Slo);
        assert!(why[0].contains("every slot was busy"), "{why:?}");
        // A rising median fails even with the SLO met.
        let mut f = facts();
        f.trend = trend(&secs(&[10.0, 30.0, 50.0, 70.0]), 4.0, 40.0);
        let (l, why) = verdict(&f).unwrap();
        assert_eq!(l, Limit::Slo);
        assert!(why[0].contains("backlog"), "{why:?}");
    }

    #[test]
    fn cpu_share() {
        assert_eq!(cpu_busy(Some((10, 100)), Some((55, 200))), Some(0.45));
        assert_eq!(cpu_busy(None, Some((1, 2))), None);
        if std::path::Path::new("/proc/stat").exists() {
            assert!(cpu_sample().is_some());
        }
    }
}

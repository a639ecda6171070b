//! The emulator's own CloudWatch metrics (AWS_WIRE §7), kept so `GetMetricData` can answer with
//! server-side truth: the same names, units and dimensions AWS publishes for API Gateway,
//! Lambda and SageMaker.
//!
//! Each metric is a series of buckets: one per second for the last 5 minutes, then one per
//! minute for 3 hours (AWS too keeps sub-minute data only for 3 hours and aggregates older
//! data). A bucket holds the exact count, sum, minimum and maximum, and an HdrHistogram (2
//! significant digits, like CloudWatch's own approximate percentiles) for percentile, trimmed
//! and percentile-rank statistics. Memory is bounded whatever the load: at most
//! 300 + 180 buckets per metric.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;

const SECOND_BUCKETS: u64 = 300;
const MINUTE_BUCKETS: usize = 180;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Milliseconds,
    Microseconds,
    Count,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Milliseconds => "Milliseconds",
            Unit::Microseconds => "Microseconds",
            Unit::Count => "Count",
        }
    }

    /// Recorded integers are microseconds for both time units, so a millisecond value is raw/1000.
    fn scale(self) -> f64 {
        match self {
            Unit::Milliseconds => 0.001,
            Unit::Microseconds | Unit::Count => 1.0,
        }
    }
}

/// Which API a metric belongs to; the dimensions follow from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    RestApi,
    HttpApi,
    Lambda,
    SageMaker,
}

/// Every metric the emulator publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    ApiLatency,
    ApiIntegrationLatency,
    ApiCount,
    Api4xx,
    Api5xx,
    HttpLatency,
    HttpIntegrationLatency,
    HttpCount,
    Http4xx,
    Http5xx,
    LambdaDuration,
    LambdaInvocations,
    LambdaErrors,
    LambdaThrottles,
    LambdaConcurrentExecutions,
    SmInvocations,
    SmModelLatency,
    SmOverheadLatency,
    SmInvocation4xx,
    SmInvocation5xx,
    SmModelSetupTime,
}

impl Metric {
    pub const ALL: [Metric; 21] = [
        Metric::ApiLatency,
        Metric::ApiIntegrationLatency,
        Metric::ApiCount,
        Metric::Api4xx,
        Metric::Api5xx,
        Metric::HttpLatency,
        Metric::HttpIntegrationLatency,
        Metric::HttpCount,
        Metric::Http4xx,
        Metric::Http5xx,
        Metric::LambdaDuration,
        Metric::LambdaInvocations,
        Metric::LambdaErrors,
        Metric::LambdaThrottles,
        Metric::LambdaConcurrentExecutions,
        Metric::SmInvocations,
        Metric::SmModelLatency,
        Metric::SmOverheadLatency,
        Metric::SmInvocation4xx,
        Metric::SmInvocation5xx,
        Metric::SmModelSetupTime,
    ];

    /// Namespace, metric name, unit, source.
    pub fn spec(self) -> (&'static str, &'static str, Unit, Source) {
        use Metric::*;
        use Source::*;
        use Unit::*;
        const AG: &str = "AWS/ApiGateway";
        const L: &str = "AWS/Lambda";
        const SM: &str = "AWS/SageMaker";
        match self {
            ApiLatency => (AG, "Latency", Milliseconds, RestApi),
            ApiIntegrationLatency => (AG, "IntegrationLatency", Milliseconds, RestApi),
            ApiCount => (AG, "Count", Count, RestApi),
            Api4xx => (AG, "4XXError", Count, RestApi),
            Api5xx => (AG, "5XXError", Count, RestApi),
            // HTTP APIs publish lower-case 4xx/5xx, with ApiId instead of ApiName.
            HttpLatency => (AG, "Latency", Milliseconds, HttpApi),
            HttpIntegrationLatency => (AG, "IntegrationLatency", Milliseconds, HttpApi),
            HttpCount => (AG, "Count", Count, HttpApi),
            Http4xx => (AG, "4xx", Count, HttpApi),
            Http5xx => (AG, "5xx", Count, HttpApi),
            LambdaDuration => (L, "Duration", Milliseconds, Lambda),
            LambdaInvocations => (L, "Invocations", Count, Lambda),
            LambdaErrors => (L, "Errors", Count, Lambda),
            LambdaThrottles => (L, "Throttles", Count, Lambda),
            LambdaConcurrentExecutions => (L, "ConcurrentExecutions", Count, Lambda),
            SmInvocations => (SM, "Invocations", Count, SageMaker),
            SmModelLatency => (SM, "ModelLatency", Microseconds, SageMaker),
            SmOverheadLatency => (SM, "OverheadLatency", Microseconds, SageMaker),
            SmInvocation4xx => (SM, "Invocation4XXErrors", Count, SageMaker),
            SmInvocation5xx => (SM, "Invocation5XXErrors", Count, SageMaker),
            SmModelSetupTime => (SM, "ModelSetupTime", Microseconds, SageMaker),
        }
    }
}

/// The names the dimensions take (from the emulator's configuration).
#[derive(Debug, Clone)]
pub struct Names {
    pub api_name: String,
    pub api_id: String,
    pub stage: String,
    pub function_name: String,
    pub endpoint_name: String,
    pub variant_name: String,
}

impl Names {
    /// Every dimension set AWS publishes the source's metrics under (CloudWatch matches a
    /// query's dimensions exactly). The emulator has one API, function and endpoint, so each
    /// set names the same data.
    fn dimension_sets(&self, source: Source) -> Vec<Vec<(&'static str, String)>> {
        match source {
            Source::RestApi => vec![
                vec![("ApiName", self.api_name.clone())],
                vec![
                    ("ApiName", self.api_name.clone()),
                    ("Stage", self.stage.clone()),
                ],
            ],
            Source::HttpApi => vec![
                vec![("ApiId", self.api_id.clone())],
                vec![("ApiId", self.api_id.clone()), ("Stage", "$default".into())],
            ],
            Source::Lambda => vec![vec![], vec![("FunctionName", self.function_name.clone())]],
            Source::SageMaker => vec![vec![
                ("EndpointName", self.endpoint_name.clone()),
                ("VariantName", self.variant_name.clone()),
            ]],
        }
    }
}

struct Bucket {
    /// Start, seconds since the epoch.
    start: u64,
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    hist: Histogram<u32>,
}

impl Bucket {
    fn new(start: u64) -> Self {
        Bucket {
            start,
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            // Auto-resizing, so a bucket of 0/1 counts stays tiny.
            hist: Histogram::new(2).expect("2 significant digits is valid"),
        }
    }

    fn merge(&mut self, other: &Bucket) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        let _ = self.hist.add(&other.hist);
    }
}

#[derive(Default)]
struct Series {
    seconds: VecDeque<Bucket>,
    minutes: VecDeque<Bucket>,
}

impl Series {
    fn record(&mut self, now: u64, raw: u64, value: f64) {
        if self.seconds.back().is_none_or(|b| b.start != now) {
            // Roll seconds older than the window into their minute.
            while self
                .seconds
                .front()
                .is_some_and(|b| b.start + SECOND_BUCKETS <= now)
            {
                let Some(old) = self.seconds.pop_front() else {
                    break;
                };
                let minute = old.start - old.start % 60;
                if self.minutes.back().is_none_or(|m| m.start != minute) {
                    self.minutes.push_back(Bucket::new(minute));
                    if self.minutes.len() > MINUTE_BUCKETS {
                        self.minutes.pop_front();
                    }
                }
                if let Some(m) = self.minutes.back_mut() {
                    m.merge(&old);
                }
            }
            self.seconds.push_back(Bucket::new(now));
        }
        if let Some(b) = self.seconds.back_mut() {
            b.count += 1;
            b.sum += value;
            b.min = b.min.min(value);
            b.max = b.max.max(value);
            let _ = b.hist.record(raw);
        }
    }
}

/// All series, indexed like [`Metric::ALL`].
pub struct MetricStore {
    names: Names,
    series: Vec<Mutex<Series>>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl MetricStore {
    pub fn new(names: Names) -> Self {
        MetricStore {
            names,
            series: Metric::ALL.iter().map(|_| Mutex::default()).collect(),
        }
    }

    fn index(m: Metric) -> usize {
        Metric::ALL.iter().position(|x| *x == m).unwrap_or(0)
    }

    /// Record a count-like value (1 for an event, 0 for a non-event, a level).
    pub fn count(&self, m: Metric, v: u64) {
        self.record_raw(m, v, v as f64);
    }

    /// Record a duration in the metric's unit.
    pub fn duration(&self, m: Metric, d: Duration) {
        let us = d.as_micros().min(u128::from(u64::MAX)) as u64;
        let (_, _, unit, _) = m.spec();
        self.record_raw(m, us, d.as_secs_f64() * 1e6 * unit.scale());
    }

    fn record_raw(&self, m: Metric, raw: u64, value: f64) {
        let now = now_secs();
        let mut s = self.series[Self::index(m)]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        s.record(now, raw, value);
    }

    /// The metric a query names: namespace, name and exactly one of its dimension sets.
    pub fn find(&self, namespace: &str, name: &str, dims: &[(String, String)]) -> Option<Metric> {
        let mut want: Vec<(&str, &str)> =
            dims.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        want.sort_unstable();
        Metric::ALL.into_iter().find(|m| {
            let (ns, n, _, source) = m.spec();
            ns == namespace
                && n == name
                && self.names.dimension_sets(source).iter().any(|set| {
                    let mut have: Vec<(&str, &str)> =
                        set.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    have.sort_unstable();
                    have == want
                })
        })
    }

    /// Datapoints of `stat` per `period` seconds over `[start, end)`, oldest first. Periods are
    /// aligned to the epoch; a minute bucket counts in the period holding its start.
    pub fn query(
        &self,
        m: Metric,
        start: f64,
        end: f64,
        period: u64,
        stat: &Stat,
    ) -> Vec<(u64, f64)> {
        let (_, _, unit, _) = m.spec();
        let s = self.series[Self::index(m)]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let period = period.max(1);
        let mut groups: Vec<Bucket> = Vec::new();
        for b in s.minutes.iter().chain(s.seconds.iter()) {
            let t = b.start as f64;
            if t < start || t >= end || b.count == 0 {
                continue;
            }
            let p = b.start - b.start % period;
            if groups.last().is_none_or(|g| g.start != p) {
                groups.push(Bucket::new(p));
            }
            if let Some(g) = groups.last_mut() {
                g.merge(b);
            }
        }
        drop(s);
        groups.sort_by_key(|g| g.start);
        groups
            .iter()
            .filter_map(|g| stat.compute(g, unit.scale()).map(|v| (g.start, v)))
            .collect()
    }
}

/// A bound of a trimmed statistic or percentile rank: a percentage or an absolute value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    Percent(f64),
    Value(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    Mean,
    Count,
    Sum,
}

/// A CloudWatch statistic (`Stat` of a `MetricStat`).
#[derive(Debug, Clone, PartialEq)]
pub enum Stat {
    SampleCount,
    Sum,
    Average,
    Minimum,
    Maximum,
    /// `p99`, `p99.9`
    Percentile(f64),
    /// `tm99` = `tm(0%:99%)`, `tm(10%:90%)`, `tc(..)`, `ts(..)`: over values with
    /// lower < v <= upper.
    Trimmed(Trim, Option<Bound>, Option<Bound>),
    /// `PR(:300)`, `PR(100:2000)`: the percentage of values with lower < v <= upper.
    PercentileRank(Option<f64>, Option<f64>),
}

impl Stat {
    pub fn parse(s: &str) -> Option<Stat> {
        let pct = |t: &str| -> Option<f64> {
            let v: f64 = t.parse().ok()?;
            (v.is_finite() && (0.0..=100.0).contains(&v)).then_some(v)
        };
        match s {
            "SampleCount" => return Some(Stat::SampleCount),
            "Sum" => return Some(Stat::Sum),
            "Average" => return Some(Stat::Average),
            "Minimum" => return Some(Stat::Minimum),
            "Maximum" => return Some(Stat::Maximum),
            _ => {}
        }
        let lower = s.to_ascii_lowercase();
        if let Some(p) = lower.strip_prefix('p').filter(|r| !r.starts_with('r')) {
            return pct(p).map(Stat::Percentile);
        }
        if let Some(inner) = lower.strip_prefix("pr(").and_then(|r| r.strip_suffix(')')) {
            let (a, b) = inner.split_once(':')?;
            let num = |t: &str| -> Option<Option<f64>> {
                if t.is_empty() {
                    Some(None)
                } else {
                    t.parse::<f64>().ok().filter(|v| v.is_finite()).map(Some)
                }
            };
            return Some(Stat::PercentileRank(num(a)?, num(b)?));
        }
        for (prefix, trim) in [("tm", Trim::Mean), ("tc", Trim::Count), ("ts", Trim::Sum)] {
            let Some(rest) = lower.strip_prefix(prefix) else {
                continue;
            };
            if let Some(inner) = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
                let (a, b) = inner.split_once(':')?;
                let bound = |t: &str| -> Option<Option<Bound>> {
                    if t.is_empty() {
                        Some(None)
                    } else if let Some(p) = t.strip_suffix('%') {
                        pct(p).map(|v| Some(Bound::Percent(v)))
                    } else {
                        t.parse::<f64>()
                            .ok()
                            .filter(|v| v.is_finite())
                            .map(|v| Some(Bound::Value(v)))
                    }
                };
                return Some(Stat::Trimmed(trim, bound(a)?, bound(b)?));
            }
            return pct(rest).map(|p| Stat::Trimmed(trim, None, Some(Bound::Percent(p))));
        }
        None
    }

    fn compute(&self, b: &Bucket, scale: f64) -> Option<f64> {
        if b.count == 0 {
            return None;
        }
        let h = &b.hist;
        let to_unit = |raw: u64| raw as f64 * scale;
        // A histogram value, clamped to the exact extremes.
        let quantile = |q: f64| -> f64 {
            to_unit(h.median_equivalent(h.value_at_quantile(q / 100.0))).clamp(b.min, b.max)
        };
        let in_range = |lo: f64, hi: f64| {
            let mut n = 0u64;
            let mut sum = 0.0;
            for v in h.iter_recorded() {
                let raw = v.value_iterated_to();
                // Compared by the bucket's lowest value, so a recorded value equal to a bound
                // falls on the right side of it; summed by its middle.
                let at = to_unit(h.lowest_equivalent(raw));
                if at > lo && at <= hi {
                    let x = to_unit(h.median_equivalent(raw)).clamp(b.min, b.max);
                    n += u64::from(v.count_at_value());
                    sum += x * v.count_at_value() as f64;
                }
            }
            (n, sum)
        };
        Some(match self {
            Stat::SampleCount => b.count as f64,
            Stat::Sum => b.sum,
            Stat::Average => b.sum / b.count as f64,
            Stat::Minimum => b.min,
            Stat::Maximum => b.max,
            Stat::Percentile(p) => quantile(*p),
            Stat::Trimmed(kind, lo, hi) => {
                let resolve = |bound: &Option<Bound>, open: f64| match bound {
                    None => open,
                    Some(Bound::Value(v)) => *v,
                    Some(Bound::Percent(p)) if *p <= 0.0 => f64::NEG_INFINITY,
                    Some(Bound::Percent(p)) => quantile(*p),
                };
                let (n, sum) = in_range(resolve(lo, f64::NEG_INFINITY), resolve(hi, f64::INFINITY));
                match kind {
                    Trim::Count => n as f64,
                    Trim::Sum => sum,
                    Trim::Mean if n == 0 => return None,
                    Trim::Mean => sum / n as f64,
                }
            }
            Stat::PercentileRank(lo, hi) => {
                let (n, _) = in_range(lo.unwrap_or(f64::NEG_INFINITY), hi.unwrap_or(f64::INFINITY));
                100.0 * n as f64 / b.count as f64
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names {
            api_name: "iris".into(),
            api_id: "abc".into(),
            stage: "species".into(),
            function_name: "iris-predict".into(),
            endpoint_name: "iris-xgb".into(),
            variant_name: "AllTraffic".into(),
        }
    }

    #[test]
    fn stats_parse() {
        assert_eq!(Stat::parse("p99"), Some(Stat::Percentile(99.0)));
        assert_eq!(Stat::parse("p99.9"), Some(Stat::Percentile(99.9)));
        assert_eq!(
            Stat::parse("tm99"),
            Some(Stat::Trimmed(Trim::Mean, None, Some(Bound::Percent(99.0))))
        );
        assert_eq!(
            Stat::parse("TM(10%:90%)"),
            Some(Stat::Trimmed(
                Trim::Mean,
                Some(Bound::Percent(10.0)),
                Some(Bound::Percent(90.0))
            ))
        );
        assert_eq!(
            Stat::parse("PR(:300)"),
            Some(Stat::PercentileRank(None, Some(300.0)))
        );
        assert_eq!(Stat::parse("p101"), None);
        assert_eq!(Stat::parse("Median"), None);
    }

    #[test]
    fn percentiles_of_recorded_latencies() {
        let store = MetricStore::new(names());
        for ms in 1..=100u64 {
            store.duration(Metric::ApiLatency, Duration::from_millis(ms));
            store.count(Metric::Api4xx, u64::from(ms > 90));
        }
        let m = store
            .find(
                "AWS/ApiGateway",
                "Latency",
                &[
                    ("Stage".into(), "species".into()),
                    ("ApiName".into(), "iris".into()),
                ],
            )
            .unwrap();
        assert_eq!(m, Metric::ApiLatency);
        let now = now_secs() as f64;
        let q = |stat: &str| {
            let pts = store.query(m, now - 60.0, now + 60.0, 3600, &Stat::parse(stat).unwrap());
            assert_eq!(pts.len(), 1, "{stat}: {pts:?}");
            pts[0].1
        };
        assert_eq!(q("SampleCount"), 100.0);
        assert_eq!(q("Minimum"), 1.0);
        assert_eq!(q("Maximum"), 100.0);
        assert!((q("Average") - 50.5).abs() < 1e-9);
        assert!((q("p50") - 50.0).abs() <= 0.5, "{}", q("p50"));
        assert!((q("p99") - 99.0).abs() <= 1.0, "{}", q("p99"));
        assert!((q("PR(:10)") - 10.0).abs() < 1e-9);
        assert!(
            (q("tm(10%:90%)") - 50.5).abs() < 1.0,
            "{}",
            q("tm(10%:90%)")
        );
        let errors = store.find(
            "AWS/ApiGateway",
            "4XXError",
            &[("ApiName".into(), "iris".into())],
        );
        let pts = store.query(errors.unwrap(), now - 60.0, now + 60.0, 60, &Stat::Sum);
        assert_eq!(pts.iter().map(|p| p.1).sum::<f64>(), 10.0);
        // Wrong or partial dimensions name nothing, as in CloudWatch.
        assert!(store
            .find(
                "AWS/ApiGateway",
                "Latency",
                &[("Stage".into(), "species".into())]
            )
            .is_none());
        assert!(store.find("AWS/Lambda", "Duration", &[]).is_some());
    }

    #[test]
    fn old_seconds_roll_into_minutes() {
        let mut s = Series::default();
        let t0 = 1_700_000_000u64;
        for i in 0..400u64 {
            s.record(t0 + i, 5, 5.0);
        }
        assert!(s.seconds.len() as u64 <= SECOND_BUCKETS);
        let total: u64 = s
            .seconds
            .iter()
            .chain(s.minutes.iter())
            .map(|b| b.count)
            .sum();
        assert_eq!(total, 400);
    }
}

//! The report of a run (or of merged runs): built from histograms and counts, printed for
//! people or as versioned JSON, and checked against `--fail-if` thresholds.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::recorder::{ms, ErrorKind, Hist, Measurements, Series};

/// Bumped when a field changes meaning or disappears (new fields do not bump it).
pub const SCHEMA_VERSION: u32 = 1;

/// The percentiles in every table.
pub const QUANTILES: [(&str, f64); 7] = [
    ("p50", 0.50),
    ("p75", 0.75),
    ("p90", 0.90),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p999", 0.999),
    ("p9999", 0.9999),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Fixed arrival rate (or ramp).
    Open,
    /// N workers, each sending its next request when the previous one completes.
    Closed,
}

/// Facts about a run besides its measurements. Times are seconds since the Unix epoch so
/// runs from several machines line up.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct RunMeta {
    pub mode: String,
    /// Mean target rate over the measured window (open loop).
    pub target_rps: Option<f64>,
    pub started_epoch: f64,
    /// First and last actual send of a measured request.
    pub first_send_epoch: Option<f64>,
    pub last_send_epoch: Option<f64>,
    pub warmup_requests: u64,
    pub interrupted: bool,
    /// Worker count: `--max-in-flight` or `--concurrency`.
    pub concurrency: usize,
    /// Open loop: requests due before the end that were never sent (the run reached its hard
    /// stop at `--duration` with the target unable to keep up).
    #[serde(default)]
    pub unsent: u64,
    /// Connections the engine opened itself, and the TLS handshakes among them (reqwest's
    /// pool, used behind a proxy, is not counted).
    #[serde(default)]
    pub connections_opened: u64,
    #[serde(default)]
    pub tls_handshakes: u64,
}

/// Everything needed to print a report.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub meta: RunMeta,
    pub totals: Measurements,
    pub series: Series,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p75: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub p9999: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(h: &Hist) -> Percentiles {
        let q = |x: f64| ms(h.value_at_quantile(x));
        Percentiles {
            count: h.len(),
            min: if h.is_empty() { 0.0 } else { ms(h.min()) },
            mean: h.mean().round() / 1000.0,
            p50: q(0.5),
            p75: q(0.75),
            p90: q(0.9),
            p95: q(0.95),
            p99: q(0.99),
            p999: q(0.999),
            p9999: q(0.9999),
            max: if h.is_empty() { 0.0 } else { ms(h.max()) },
        }
    }

    pub fn values(&self) -> [f64; 8] {
        [
            self.p50, self.p75, self.p90, self.p95, self.p99, self.p999, self.p9999, self.max,
        ]
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Requests {
    pub sent: u64,
    pub completed: u64,
    pub ok: u64,
    pub errors: u64,
    /// Sent more than 5 ms after their due time.
    pub late: u64,
    /// Sent but abandoned when the run was interrupted or reached its hard stop.
    pub unfinished: u64,
    /// Due before the end but never sent (hard stop at `--duration` + grace).
    pub unsent: u64,
    /// Attempts that were retries (`--retries`), included in `sent`.
    pub retries: u64,
    /// Sent during `--warmup`, not in any statistic.
    pub warmup: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Errors {
    #[serde(flatten)]
    pub counts: BTreeMap<String, u64>,
    /// The most frequent failure messages, most first (at most 5).
    pub top: Vec<TopError>,
}

impl std::ops::Index<&str> for Errors {
    type Output = u64;
    fn index(&self, k: &str) -> &u64 {
        &self.counts[k]
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TopError {
    pub message: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Connections {
    pub opened: u64,
    pub tls_handshakes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Completion - due time: what a user arriving on schedule saw.
    pub response: Percentiles,
    /// Completion - actual send.
    pub service: Percentiles,
    /// Actual send - due time: how far the generator fell behind.
    pub lag: Percentiles,
    /// Response times of cold starts (`Server-Timing: init`), not in `response`/`service`.
    pub cold: Percentiles,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetLatency {
    pub response: Percentiles,
    pub service: Percentiles,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    pub sent: u64,
    pub ok: u64,
    pub errors: u64,
    pub latency_ms: TargetLatency,
    pub hops: BTreeMap<String, Percentiles>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThresholdResult {
    pub expr: String,
    pub actual: f64,
    pub ok: bool,
}

/// The report; `--output json` prints exactly this.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub mode: String,
    pub target_rps: Option<f64>,
    pub achieved_rps: f64,
    /// From the first to the last measured send.
    pub duration_ms: f64,
    pub interrupted: bool,
    pub concurrency: usize,
    pub requests: Requests,
    pub connections: Connections,
    pub latency_ms: Latency,
    pub status_codes: BTreeMap<String, u64>,
    /// Every error kind, zero or not, and the most frequent messages.
    pub errors: Errors,
    /// `Server-Timing` durations by hop, all targets together.
    pub hops: BTreeMap<String, Percentiles>,
    pub targets: BTreeMap<String, TargetReport>,
    /// With two targets: first minus second (e.g. apigw - sagemaker) response time at each
    /// percentile, the cost of the hops in between.
    pub target_diff_ms: Option<BTreeMap<String, f64>>,
    pub timeseries: Vec<super::recorder::Second>,
    pub thresholds: Vec<ThresholdResult>,
    /// `--cloudwatch`: AWS's own metrics for the run's window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloudwatch: Option<super::cloudwatch::CloudWatchReport>,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl Report {
    pub fn build(run: &RunResult) -> Report {
        let m = &run.totals;
        let window = match (run.meta.first_send_epoch, run.meta.last_send_epoch) {
            (Some(a), Some(b)) if b > a => b - a,
            _ => 0.0,
        };
        // n sends span n-1 gaps: (n-1)/window is the rate, exactly R for a perfect schedule.
        let achieved = if m.sent >= 2 && window > 0.0 {
            (m.sent - 1) as f64 / window
        } else {
            m.sent as f64
        };
        let hops_of = |h: &super::recorder::Hops| -> BTreeMap<String, Percentiles> {
            h.0.iter()
                .filter(|(_, h)| !h.is_empty())
                .map(|(n, h)| (n.clone(), Percentiles::of(h)))
                .collect()
        };
        let targets: BTreeMap<String, TargetReport> = m
            .targets
            .iter()
            .map(|t| {
                (
                    t.name.clone(),
                    TargetReport {
                        sent: t.sent,
                        ok: t.ok,
                        errors: t.errors,
                        latency_ms: TargetLatency {
                            response: Percentiles::of(&t.response),
                            service: Percentiles::of(&t.service),
                        },
                        hops: hops_of(&t.hops),
                    },
                )
            })
            .collect();
        let target_diff_ms = (m.targets.len() == 2).then(|| {
            let (a, b) = (&m.targets[0].response, &m.targets[1].response);
            QUANTILES
                .iter()
                .map(|(name, q)| {
                    (
                        name.to_string(),
                        round3(ms(a.value_at_quantile(*q)) - ms(b.value_at_quantile(*q))),
                    )
                })
                .chain(std::iter::once((
                    "max".to_string(),
                    round3(ms(a.max()) - ms(b.max())),
                )))
                .collect()
        });
        Report {
            schema_version: SCHEMA_VERSION,
            mode: run.meta.mode.clone(),
            target_rps: run.meta.target_rps.map(round3),
            achieved_rps: round3(achieved),
            duration_ms: round3(window * 1000.0),
            interrupted: run.meta.interrupted,
            concurrency: run.meta.concurrency,
            requests: Requests {
                sent: m.sent,
                completed: m.completed,
                ok: m.ok,
                errors: m.errors_total(),
                late: m.late,
                unfinished: m.unfinished,
                unsent: run.meta.unsent,
                retries: m.retries,
                warmup: run.meta.warmup_requests,
            },
            connections: Connections {
                opened: run.meta.connections_opened,
                tls_handshakes: run.meta.tls_handshakes,
            },
            latency_ms: Latency {
                response: Percentiles::of(&m.response),
                service: Percentiles::of(&m.service),
                lag: Percentiles::of(&m.lag),
                cold: Percentiles::of(&m.cold),
            },
            status_codes: m.status.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            errors: Errors {
                counts: ErrorKind::ALL
                    .iter()
                    .map(|k| (k.name().to_string(), m.error_count(*k)))
                    .collect(),
                top: {
                    let mut top: Vec<TopError> = m
                        .messages
                        .iter()
                        .map(|(message, &count)| TopError {
                            message: message.clone(),
                            count,
                        })
                        .collect();
                    top.sort_by(|a, b| b.count.cmp(&a.count).then(a.message.cmp(&b.message)));
                    top.truncate(5);
                    top
                },
            },
            hops: hops_of(&m.hops),
            targets,
            target_diff_ms,
            timeseries: run.series.seconds.iter().copied().collect(),
            thresholds: Vec::new(),
            cloudwatch: None,
        }
    }

    pub fn error_rate(&self) -> f64 {
        if self.requests.completed == 0 {
            0.0
        } else {
            self.requests.errors as f64 / self.requests.completed as f64
        }
    }
}

/// `0.412ms`, `12.3ms`, `1.25s`.
pub fn fmt_ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2}s", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0}ms")
    } else if v >= 10.0 {
        format!("{v:.1}ms")
    } else {
        format!("{v:.2}ms")
    }
}

const HEAD: [&str; 8] = ["p50", "p75", "p90", "p95", "p99", "p99.9", "p99.99", "max"];

pub(crate) fn table_row(out: &mut String, label: &str, p: &Percentiles) {
    let _ = write!(out, "  {label:<22}");
    for v in p.values() {
        let _ = write!(out, "{:>9}", fmt_ms(v));
    }
    let _ = writeln!(out, "{:>10}", p.count);
}

pub(crate) fn table_head(out: &mut String, title: &str) {
    let _ = write!(out, "  {title:<22}");
    for h in HEAD {
        let _ = write!(out, "{h:>9}");
    }
    let _ = writeln!(out, "{:>10}", "count");
}

/// The human report (stdout).
pub fn render_human(r: &Report) -> String {
    let mut out = String::new();
    let rate = match r.target_rps {
        Some(t) => format!(
            "target {t:.1} rps, achieved {:.1} rps ({:.1}%)",
            r.achieved_rps,
            if t > 0.0 {
                r.achieved_rps / t * 100.0
            } else {
                0.0
            }
        ),
        None => format!(
            "closed loop, {} workers, achieved {:.1} rps",
            r.concurrency, r.achieved_rps
        ),
    };
    let _ = writeln!(
        out,
        "{rate} over {:.2}s{}",
        r.duration_ms / 1000.0,
        if r.interrupted { " (interrupted)" } else { "" }
    );
    let q = &r.requests;
    let _ = writeln!(
        out,
        "requests: {} sent, {} ok, {} errors ({:.2}%), {} late (sent > 5ms after due){}{}",
        q.sent,
        q.ok,
        q.errors,
        r.error_rate() * 100.0,
        q.late,
        if q.warmup > 0 {
            format!(", {} warmup not counted", q.warmup)
        } else {
            String::new()
        },
        if q.unfinished > 0 {
            format!(", {} unfinished", q.unfinished)
        } else {
            String::new()
        }
    );
    if r.connections.opened > 0 {
        let _ = writeln!(
            out,
            "connections: {} opened, {} TLS handshakes",
            r.connections.opened, r.connections.tls_handshakes
        );
    }
    if q.retries > 0 {
        let _ = writeln!(out, "retries: {} of the attempts were retries", q.retries);
    }
    if q.unsent > 0 {
        let _ = writeln!(
            out,
            "unsent: {} requests were due but never sent: the target could not keep up with the rate before the hard stop",
            q.unsent
        );
    }
    let _ = writeln!(out);
    table_head(&mut out, "latency");
    table_row(&mut out, "response (from due)", &r.latency_ms.response);
    table_row(&mut out, "service (from send)", &r.latency_ms.service);
    table_row(&mut out, "lag (send - due)", &r.latency_ms.lag);
    if r.latency_ms.cold.count > 0 {
        table_row(&mut out, "cold start (init)", &r.latency_ms.cold);
    }
    if !r.hops.is_empty() {
        let _ = writeln!(out);
        table_head(&mut out, "hop (Server-Timing)");
        for (name, p) in &r.hops {
            table_row(&mut out, name, p);
        }
    }
    if r.targets.len() > 1 {
        let _ = writeln!(out);
        table_head(&mut out, "per target");
        for (name, t) in &r.targets {
            table_row(
                &mut out,
                &format!("{name} response"),
                &t.latency_ms.response,
            );
            table_row(&mut out, &format!("{name} service"), &t.latency_ms.service);
            for (hop, p) in &t.hops {
                table_row(&mut out, &format!("{name} hop {hop}"), p);
            }
        }
        if let Some(diff) = &r.target_diff_ms {
            let names: Vec<&String> = r.targets.keys().collect();
            let _ = write!(out, "  {:<22}", format!("{} - {}", names[0], names[1]));
            for k in ["p50", "p75", "p90", "p95", "p99", "p999", "p9999", "max"] {
                let v = diff.get(k).copied().unwrap_or(0.0);
                let s = if v < 0.0 {
                    format!("-{}", fmt_ms(-v))
                } else {
                    format!("+{}", fmt_ms(v))
                };
                let _ = write!(out, "{s:>9}");
            }
            let _ = writeln!(out);
        }
    }
    let _ = writeln!(out);
    let codes: Vec<String> = r
        .status_codes
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    let _ = writeln!(
        out,
        "status codes: {}",
        if codes.is_empty() {
            "none".to_string()
        } else {
            codes.join(", ")
        }
    );
    let errors: Vec<String> = r
        .errors
        .counts
        .iter()
        .filter(|(_, v)| **v > 0)
        .map(|(k, v)| format!("{}: {v}", k.replace('_', " ")))
        .collect();
    let _ = writeln!(
        out,
        "errors: {}",
        if errors.is_empty() {
            "none".to_string()
        } else {
            errors.join(", ")
        }
    );
    for e in &r.errors.top {
        let _ = writeln!(out, "  {:>8} × {}", e.count, e.message);
    }
    for t in &r.thresholds {
        let _ = writeln!(
            out,
            "threshold {}: {} (actual {})",
            t.expr,
            if t.ok { "passed" } else { "FAILED" },
            round3(t.actual)
        );
    }
    out
}

/// One `--fail-if` condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub expr: String,
    metric: Metric,
    op: Op,
    value: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Series3 {
    Response,
    Service,
    Lag,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Metric {
    /// Percentile (0..=1; 1 = max) of a latency series, in ms.
    Latency(Series3, f64),
    ErrorPercent,
    ErrorCount,
    Rps,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

fn parse_quantile(s: &str) -> Option<f64> {
    if s == "max" {
        return Some(1.0);
    }
    let digits = s.strip_prefix('p')?;
    // ASCII only: `p᧐` (a non-ASCII digit) must not be sliced mid-character below.
    if !digits.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let q = if digits.contains('.') || digits.len() <= 2 {
        digits.parse::<f64>().ok()? / 100.0
    } else {
        // p999 = 99.9, p9999 = 99.99
        format!("{}.{}", &digits[..2], &digits[2..])
            .parse::<f64>()
            .ok()?
            / 100.0
    };
    let q = (q * 1e9).round() / 1e9;
    (q > 0.0 && q < 1.0).then_some(q)
}

/// Parse `--fail-if 'p99<200ms,errors<1%'`. Metrics: `pNN`/`max` (response time),
/// `service.pNN`, `lag.pNN`, `errors` (with `%`: share of completed requests; without: a
/// count), `rps` (achieved). Operators `<`, `<=`, `>`, `>=`.
pub fn parse_thresholds(s: &str) -> Result<Vec<Threshold>, String> {
    let mut out = Vec::new();
    for expr in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let bad = |why: &str| format!("--fail-if '{expr}': {why}");
        let pos = expr
            .find(['<', '>'])
            .ok_or_else(|| bad("no comparison (use <, <=, > or >=)"))?;
        let (lhs, rest) = expr.split_at(pos);
        let (op, rhs) = if let Some(r) = rest.strip_prefix("<=") {
            (Op::Le, r)
        } else if let Some(r) = rest.strip_prefix(">=") {
            (Op::Ge, r)
        } else if let Some(r) = rest.strip_prefix('<') {
            (Op::Lt, r)
        } else {
            (Op::Gt, &rest[1..])
        };
        let lhs = lhs.trim().to_ascii_lowercase();
        let rhs = rhs.trim();
        let (metric, value) = match lhs.as_str() {
            "errors" | "error_rate" => match rhs.strip_suffix('%') {
                Some(p) => (
                    Metric::ErrorPercent,
                    p.trim()
                        .parse::<f64>()
                        .map_err(|_| bad(&format!("'{rhs}' is not a percentage")))?,
                ),
                None => (
                    Metric::ErrorCount,
                    rhs.parse::<f64>()
                        .map_err(|_| bad(&format!("'{rhs}' is not a count")))?,
                ),
            },
            "rps" => (
                Metric::Rps,
                rhs.parse::<f64>()
                    .map_err(|_| bad(&format!("'{rhs}' is not a rate")))?,
            ),
            other => {
                let (series, q) = match other.split_once('.') {
                    Some(("service", q)) => (Series3::Service, q),
                    Some(("lag", q)) => (Series3::Lag, q),
                    Some(("response", q)) => (Series3::Response, q),
                    _ => (Series3::Response, other),
                };
                let q = parse_quantile(q).ok_or_else(|| {
                    bad(&format!(
                        "unknown metric '{other}' (use p50, p99, p999, max, service.p99, lag.p99, errors, rps)"
                    ))
                })?;
                let d = crate::cli::parse_duration(rhs).map_err(|e| bad(&e))?;
                if !rhs.trim_end().ends_with(|c: char| c.is_ascii_alphabetic()) {
                    return Err(bad("give a unit on latencies, e.g. 200ms"));
                }
                (Metric::Latency(series, q), d.as_secs_f64() * 1000.0)
            }
        };
        if !value.is_finite() {
            return Err(bad("not a finite number"));
        }
        out.push(Threshold {
            expr: expr.to_string(),
            metric,
            op,
            value,
        });
    }
    if out.is_empty() {
        return Err("--fail-if: no conditions given".into());
    }
    Ok(out)
}

impl Threshold {
    /// An `errors` condition (share or count).
    pub fn is_errors(&self) -> bool {
        matches!(self.metric, Metric::ErrorPercent | Metric::ErrorCount)
    }

    /// An `errors<N%` bound: N, for charts.
    pub fn errors_percent_limit(&self) -> Option<f64> {
        (self.metric == Metric::ErrorPercent && matches!(self.op, Op::Lt | Op::Le))
            .then_some(self.value)
    }

    /// A response-time bound `pNN < X` / `max < X`: (quantile, X in ms), for charts.
    pub fn response_limit_ms(&self) -> Option<(f64, f64)> {
        match (self.metric, self.op) {
            (Metric::Latency(Series3::Response, q), Op::Lt | Op::Le) => Some((q, self.value)),
            _ => None,
        }
    }

    /// Whether the condition is already certain to break once `planned` requests complete,
    /// from what `so_far` holds: an error or a slow answer can only add to the tail. Used to
    /// end a capacity probe early; `false` when it cannot be known yet.
    pub fn certain_to_fail(&self, so_far: &Measurements, planned: u64) -> bool {
        let planned = planned.max(so_far.completed) as f64;
        let errors = so_far.errors_total() as f64;
        let breaks = |bad: f64, allowed: f64| match self.op {
            Op::Lt => bad >= allowed,
            Op::Le => bad > allowed,
            Op::Gt | Op::Ge => false,
        };
        match self.metric {
            Metric::ErrorPercent => breaks(errors, self.value / 100.0 * planned),
            Metric::ErrorCount => breaks(errors, self.value),
            Metric::Latency(series, q) => {
                let h = match series {
                    Series3::Response => &so_far.response,
                    Series3::Service => &so_far.service,
                    Series3::Lag => &so_far.lag,
                };
                let limit_us = (self.value * 1000.0) as u64;
                let over = h.len() - h.count_between(0, limit_us).min(h.len());
                if q >= 1.0 {
                    over > 0 && matches!(self.op, Op::Lt | Op::Le)
                } else {
                    // More answers above the limit than the quantile leaves room for.
                    matches!(self.op, Op::Lt | Op::Le) && over as f64 > (1.0 - q) * planned
                }
            }
            Metric::Rps => false,
        }
    }
}

/// Evaluate thresholds on `run`; the actual values are the same ones the report prints.
pub fn check(thresholds: &[Threshold], run: &RunResult, report: &Report) -> Vec<ThresholdResult> {
    thresholds
        .iter()
        .map(|t| {
            let actual = match t.metric {
                Metric::Latency(s, q) => {
                    let h = match s {
                        Series3::Response => &run.totals.response,
                        Series3::Service => &run.totals.service,
                        Series3::Lag => &run.totals.lag,
                    };
                    if q >= 1.0 {
                        ms(h.max())
                    } else {
                        ms(h.value_at_quantile(q))
                    }
                }
                Metric::ErrorPercent => report.error_rate() * 100.0,
                Metric::ErrorCount => report.requests.errors as f64,
                Metric::Rps => report.achieved_rps,
            };
            let ok = match t.op {
                Op::Lt => actual < t.value,
                Op::Le => actual <= t.value,
                Op::Gt => actual > t.value,
                Op::Ge => actual >= t.value,
            };
            ThresholdResult {
                expr: t.expr.clone(),
                actual,
                ok,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::recorder::Sample;

    /// 1..=1000 ms, one sample each: every percentile is known exactly (to 3 digits).
    fn synthetic() -> RunResult {
        let mut m = Measurements::new(&["apigw", "sagemaker"]);
        for v in 1..=1000u64 {
            m.record(&Sample {
                target: (v % 2) as usize,
                response_us: v * 1000,
                service_us: v * 100,
                lag_us: 0,
                status: Some(if v.is_multiple_of(100) { 503 } else { 200 }),
                error: v.is_multiple_of(100).then_some(ErrorKind::Server5xx),
                server_timing: Some("apigw;dur=2, lambda;dur=1.5, sagemaker;dur=1"),
                retry: false,
                message: None,
            });
        }
        RunResult {
            meta: RunMeta {
                mode: "open".into(),
                target_rps: Some(100.0),
                started_epoch: 1000.0,
                first_send_epoch: Some(1000.0),
                last_send_epoch: Some(1009.99),
                warmup_requests: 0,
                interrupted: false,
                unsent: 0,
                connections_opened: 0,
                tls_handshakes: 0,
                concurrency: 64,
            },
            totals: m,
            series: Series::default(),
        }
    }

    #[test]
    fn percentiles_from_a_synthetic_histogram() {
        let run = synthetic();
        let r = Report::build(&run);
        let p = &r.latency_ms.response;
        assert_eq!(p.count, 1000);
        assert_eq!(p.p50, 500.223); // 500 ms lies in a bucket of width 0.256 ms
        assert!((p.p99 - 990.0).abs() < 1.0, "{}", p.p99);
        assert!((p.max - 1000.0).abs() < 1.0);
        assert_eq!(p.min, 1.0);
        assert!((r.achieved_rps - 100.0).abs() < 0.01, "{}", r.achieved_rps);
        assert_eq!(r.requests.errors, 10);
        assert_eq!(r.errors["server_5xx"], 10);
        assert_eq!(r.errors["throttled"], 0);
        assert_eq!(r.status_codes["503"], 10);
        assert_eq!(r.hops["lambda"].p50, 1.5);
        assert_eq!(r.targets["apigw"].sent, 500);
        let diff = r.target_diff_ms.as_ref().unwrap();
        // apigw got the even values, sagemaker the odd ones: 1 ms apart at the median.
        assert!((diff["p50"] - 1.0).abs() < 0.3, "{diff:?}");
    }

    #[test]
    fn human_report_has_every_section() {
        let run = synthetic();
        let mut r = Report::build(&run);
        r.thresholds = check(&parse_thresholds("p99<200ms").unwrap(), &run, &r);
        let text = render_human(&r);
        for needle in [
            "target 100.0 rps, achieved 100.0 rps (100.0%)",
            "requests: 1000 sent, 990 ok, 10 errors (1.00%)",
            "p99.99",
            "response (from due)",
            "service (from send)",
            "lag (send - due)",
            "hop (Server-Timing)",
            "lambda",
            "apigw hop sagemaker",
            "apigw - sagemaker",
            "status codes: 200: 990, 503: 10",
            "errors: server 5xx: 10",
            "threshold p99<200ms: FAILED",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }

    #[test]
    fn thresholds_parse_and_check() {
        let run = synthetic();
        let r = Report::build(&run);
        let t = parse_thresholds(
            "p99<2s, errors<1%, errors<=10, service.p50<60ms, lag.p99<1ms, rps>=99, max<999ms",
        )
        .unwrap();
        let res = check(&t, &run, &r);
        let ok: Vec<bool> = res.iter().map(|r| r.ok).collect();
        assert_eq!(ok, [true, false, true, true, true, true, false], "{res:?}");
        for bad in ["p99", "p99<fast", "p99<200", "q99<1s", "errors<x%", ""] {
            assert!(parse_thresholds(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_quantile("p999"), Some(0.999));
        assert_eq!(parse_quantile("p99.99"), Some(0.9999));
        assert_eq!(parse_quantile("p9999"), Some(0.9999));
    }

    #[test]
    fn certain_failure_is_known_before_the_end() {
        let run = synthetic(); // 1000 requests, 10 errors, 1..=1000 ms
        let t = parse_thresholds("errors<1%, errors<20, p999<995ms, p90<2s, rps>=1").unwrap();
        // 10 errors of 1000 planned: errors<1% is already broken; of 2000 it may still hold.
        assert!(t[0].certain_to_fail(&run.totals, 1000));
        assert!(!t[0].certain_to_fail(&run.totals, 2000));
        assert!(!t[1].certain_to_fail(&run.totals, 1000));
        // 5 answers above 995 ms: p99.9 of 1000 cannot hold (1 allowed), of 10 000 it can.
        assert!(t[2].certain_to_fail(&run.totals, 1000));
        assert!(!t[2].certain_to_fail(&run.totals, 10_000));
        assert!(!t[3].certain_to_fail(&run.totals, 1000));
        assert!(!t[4].certain_to_fail(&run.totals, 1000));
        assert!(t[0].is_errors() && !t[2].is_errors());
        assert_eq!(t[2].response_limit_ms(), Some((0.999, 995.0)));
    }

    #[test]
    fn fmt_ms_picks_units() {
        assert_eq!(fmt_ms(0.4123), "0.41ms");
        assert_eq!(fmt_ms(12.34), "12.3ms");
        assert_eq!(fmt_ms(250.0), "250ms");
        assert_eq!(fmt_ms(1250.0), "1.25s");
    }
}

//! What `capacity` prints: the knee table, per-hop percentiles at `max_rps`, the settings to
//! put in AWS with their formulas, and the same as versioned JSON (`docs/schema/capacity.json`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::judge::{Limit, Trend};
use super::{CapacityOptions, Estimate, Outcome, Phase, Probe};
use crate::bench::recorder::ErrorKind;
use crate::bench::report::{fmt_ms, table_head, table_row, Percentiles, ThresholdResult};
use crate::bench::schedule::Arrival;

/// Bumped when a field changes meaning or disappears (new fields do not bump it).
pub const SCHEMA_VERSION: u32 = 1;

/// AWS's target-tracking guidance for SageMaker: aim at half the sustained peak.
pub const SAGEMAKER_SAFETY: f64 = 0.5;
/// The API Gateway stage throttle sits this far under `max_rps`.
pub const APIGW_MARGIN: f64 = 0.95;

#[derive(Debug, Clone, Serialize)]
pub struct Document {
    pub schema_version: u32,
    pub max_rps: Option<f64>,
    pub limited_by: Option<Limit>,
    /// One plain sentence: the answer and what limited it.
    pub verdict: String,
    pub slo: Vec<String>,
    pub arrival: &'static str,
    pub probe_ms: f64,
    pub tolerance: f64,
    pub confirm_ms: f64,
    pub interrupted: bool,
    pub estimate: Option<Estimate>,
    pub probes: Vec<ProbeDoc>,
    pub at_max: Option<AtMax>,
    pub settings: Settings,
    /// `--cloudwatch`: AWS's own metrics for the whole search (see bench.json's
    /// `$defs/cloudwatch`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloudwatch: Option<crate::bench::cloudwatch::CloudWatchReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProbeRequests {
    pub sent: u64,
    pub ok: u64,
    pub errors: u64,
    pub unsent: u64,
    pub unfinished: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProbeLatency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cold {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProbeDoc {
    pub phase: Phase,
    pub target_rps: f64,
    pub achieved_rps: f64,
    pub duration_ms: f64,
    pub pass: bool,
    pub limited_by: Option<Limit>,
    pub why: Vec<String>,
    pub stopped_early: bool,
    pub requests: ProbeRequests,
    /// Response time (from due time) of warm answers.
    pub latency_ms: ProbeLatency,
    pub service_p99_ms: f64,
    pub lag_p99_ms: f64,
    /// Answers marked as cold starts (`Server-Timing: init`), kept out of the SLO.
    pub cold: Cold,
    /// Every error kind, zero or not (throttles are `throttled`).
    pub errors: BTreeMap<String, u64>,
    pub trend: Trend,
    /// Busy share of this machine's CPU during the probe (Linux only).
    pub cpu_busy: Option<f64>,
    pub slo: Vec<ThresholdResult>,
}

/// The statistics of the probe at `max_rps`.
#[derive(Debug, Clone, Serialize)]
pub struct AtMax {
    pub target_rps: f64,
    pub phase: Phase,
    pub response_ms: Percentiles,
    pub hops: BTreeMap<String, Percentiles>,
    pub targets: BTreeMap<String, Percentiles>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Setting {
    pub value: u64,
    pub formula: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Throttle {
    pub rate: u64,
    pub burst: u64,
    pub formula: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Settings {
    /// Target tracking on `SageMakerVariantInvocationsPerInstance` (per minute).
    pub sagemaker_invocations_per_instance: Option<Setting>,
    /// Lambda reserved concurrency, by Little's law from the `lambda` hop.
    pub lambda_reserved_concurrency: Option<Setting>,
    /// API Gateway stage throttle (requests per second, and the bucket).
    pub apigw_stage_throttle: Option<Throttle>,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn probe_doc(p: &Probe) -> ProbeDoc {
    let r = &p.report;
    let l = &r.latency_ms;
    ProbeDoc {
        phase: p.phase,
        target_rps: p.target_rps,
        achieved_rps: r.achieved_rps,
        duration_ms: r.duration_ms,
        pass: p.passed(),
        limited_by: p.verdict.as_ref().map(|(l, _)| *l),
        why: p
            .verdict
            .as_ref()
            .map(|(_, w)| w.clone())
            .unwrap_or_default(),
        stopped_early: p.stopped_early,
        requests: ProbeRequests {
            sent: r.requests.sent,
            ok: r.requests.ok,
            errors: r.requests.errors,
            unsent: if p.stopped_early {
                0
            } else {
                r.requests.unsent
            },
            unfinished: r.requests.unfinished,
        },
        latency_ms: ProbeLatency {
            p50: l.response.p50,
            p90: l.response.p90,
            p99: l.response.p99,
            p999: l.response.p999,
            max: l.response.max,
        },
        service_p99_ms: l.service.p99,
        lag_p99_ms: l.lag.p99,
        cold: Cold {
            count: l.cold.count,
            p50_ms: l.cold.p50,
            p99_ms: l.cold.p99,
        },
        errors: r.errors.counts.clone(),
        trend: Trend {
            slope_ms_per_s: round3(p.trend.slope_ms_per_s),
            t: round3(p.trend.t.min(1e9)),
            rise_ms: round3(p.trend.rise_ms),
            ..p.trend
        },
        cpu_busy: p.cpu_busy.map(round3),
        slo: r.thresholds.clone(),
    }
}

/// The settings `max_rps` implies, with their formulas.
pub fn settings(max_rps: f64, best: &Probe, instances: u32) -> Settings {
    let instances = instances.max(1);
    let per_instance = max_rps / f64::from(instances) * SAGEMAKER_SAFETY * 60.0;
    let sagemaker = Setting {
        value: per_instance.floor() as u64,
        formula: format!(
            "max_rps / instances x 0.5 x 60 = {max_rps:.1} / {instances} x 0.5 x 60 (AWS's target-tracking guidance: half the sustained peak, per minute)"
        ),
    };
    let lambda = best.report.hops.get("lambda").map(|h| Setting {
        value: (max_rps * h.p99 / 1000.0).ceil().max(1.0) as u64,
        formula: format!(
            "ceil(max_rps x Lambda p99) = ceil({max_rps:.1}/s x {}) (Little's law: arrivals x time in the function)",
            fmt_ms(h.p99)
        ),
    });
    let through_api = best.report.targets.contains_key("apigw");
    let throttle = through_api.then(|| {
        let rate = (max_rps * APIGW_MARGIN).floor().max(1.0) as u64;
        let (burst, why) = match &lambda {
            Some(l) => (l.value, "the Lambda concurrency above".to_string()),
            None => {
                let p99 = best.report.latency_ms.response.p99;
                (
                    (max_rps * p99 / 1000.0).ceil().max(1.0) as u64,
                    format!(
                        "ceil(max_rps x response p99) = ceil({max_rps:.1}/s x {})",
                        fmt_ms(p99)
                    ),
                )
            }
        };
        Throttle {
            rate,
            burst,
            formula: format!(
                "rate = floor(0.95 x max_rps) = floor(0.95 x {max_rps:.1}), just under max_rps; burst = {why}: what the backend holds at once"
            ),
        }
    });
    Settings {
        sagemaker_invocations_per_instance: Some(sagemaker),
        lambda_reserved_concurrency: lambda,
        apigw_stage_throttle: throttle,
    }
}

fn verdict(out: &Outcome, slo: &str) -> String {
    let limiting = out.limiting();
    let reason = limiting
        .and_then(|p| p.verdict.as_ref())
        .and_then(|(_, why)| why.first().cloned())
        .unwrap_or_default();
    let at = limiting.map_or(0.0, |p| p.target_rps);
    let prefix = if out.interrupted {
        "interrupted; so far: "
    } else {
        ""
    };
    let body = match (out.max_rps, out.limited_by) {
        (Some(m), Some(Limit::Max)) => format!(
            "max_rps {m:.1}: every probe up to --max passed within {slo}; the endpoint may take more"
        ),
        (Some(m), Some(Limit::Client)) => format!(
            "max_rps {m:.1} rps, but the client is the limit, not the endpoint: at {at:.1} rps {}",
            reason.trim_start_matches("the client is the limit: ")
        ),
        (Some(m), Some(_)) => {
            format!("max_rps {m:.1} rps within {slo}; at {at:.1} rps: {reason}")
        }
        (Some(m), None) => format!("max_rps {m:.1} rps within {slo}"),
        (None, Some(Limit::Client)) => format!(
            "no capacity measured: the client is the limit, not the endpoint: at {at:.1} rps {}",
            reason.trim_start_matches("the client is the limit: ")
        ),
        (None, _) if limiting.is_some() => {
            format!("no rate passed {slo} (lowest tried {at:.1} rps: {reason})")
        }
        (None, _) => "no probe finished".to_string(),
    };
    format!("{prefix}{body}")
}

impl Document {
    pub fn build(out: &Outcome, opts: &CapacityOptions) -> Document {
        let slo: Vec<String> = opts.slo.iter().map(|t| t.expr.clone()).collect();
        let best = out.best();
        let at_max = best.map(|b| AtMax {
            target_rps: b.target_rps,
            phase: b.phase,
            response_ms: b.report.latency_ms.response.clone(),
            hops: b.report.hops.clone(),
            targets: b
                .report
                .targets
                .iter()
                .map(|(k, t)| (k.clone(), t.latency_ms.response.clone()))
                .collect(),
        });
        let settings = match (out.max_rps, best) {
            (Some(m), Some(b)) => settings(m, b, opts.instances),
            _ => Settings::default(),
        };
        Document {
            schema_version: SCHEMA_VERSION,
            max_rps: out.max_rps,
            limited_by: out.limited_by,
            verdict: verdict(out, &slo.join(",")),
            slo,
            arrival: match opts.arrival {
                Arrival::Uniform => "uniform",
                Arrival::Poisson { .. } => "poisson",
            },
            probe_ms: opts.probe.as_secs_f64() * 1000.0,
            tolerance: opts.tolerance,
            confirm_ms: opts.confirm.as_secs_f64() * 1000.0,
            interrupted: out.interrupted,
            estimate: out.estimate,
            probes: out.probes.iter().map(probe_doc).collect(),
            at_max,
            settings,
            cloudwatch: None,
        }
    }
}

fn errors_cell(p: &ProbeDoc) -> String {
    if p.requests.errors == 0 {
        return "0".into();
    }
    let kinds: Vec<String> = ErrorKind::ALL
        .iter()
        .filter_map(|k| {
            let n = p.errors.get(k.name()).copied().unwrap_or(0);
            (n > 0).then(|| format!("{} {n}", k.name()))
        })
        .collect();
    format!("{} ({})", p.requests.errors, kinds.join(", "))
}

/// One line per probe on stderr as the search goes.
pub fn probe_line(p: &Probe) -> String {
    let d = probe_doc(p);
    format!(
        "capacity: {:<7} {:>9.1} rps for {:.0}s: achieved {:.1}, p50 {}, p99 {}, errors {}: {}",
        match d.phase {
            Phase::Search => "probe",
            Phase::Confirm => "confirm",
        },
        d.target_rps,
        p.planned.as_secs_f64(),
        d.achieved_rps,
        fmt_ms(d.latency_ms.p50),
        fmt_ms(d.latency_ms.p99),
        errors_cell(&d),
        if d.pass {
            "pass".to_string()
        } else {
            format!("FAIL ({})", d.why.join("; "))
        }
    )
}

/// The human report (stdout).
pub fn render_human(doc: &Document, out: &Outcome) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "max_rps: {}",
        doc.max_rps
            .map_or("none".to_string(), |m| format!("{m:.1}"))
    );
    let _ = writeln!(
        s,
        "limited by: {}",
        doc.limited_by.map_or("unknown", Limit::name)
    );
    let _ = writeln!(s, "{}", doc.verdict);
    if let Some(e) = &doc.estimate {
        let _ = writeln!(
            s,
            "start: closed loop, {} workers for 1s: {:.1} successful answers/s (Little's law {} / {} = {:.1} rps), first probe at 90%",
            e.concurrency,
            e.ok_rps,
            e.concurrency,
            fmt_ms(e.mean_service_ms),
            e.littles_law_rps
        );
    }
    let _ = writeln!(
        s,
        "\nknee ({} arrivals, {}s probes, SLO {}):",
        doc.arrival,
        doc.probe_ms / 1000.0,
        doc.slo.join(",")
    );
    let _ = writeln!(
        s,
        "  {:>2}  {:<7} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8}  {:<28} result",
        "#", "phase", "target", "achieved", "p50", "p90", "p99", "p99.9", "errors"
    );
    for (i, p) in doc.probes.iter().enumerate() {
        let _ = writeln!(
            s,
            "  {:>2}  {:<7} {:>9.1} {:>9.1} {:>8} {:>8} {:>8} {:>8}  {:<28} {}",
            i + 1,
            match p.phase {
                Phase::Search => "search",
                Phase::Confirm => "confirm",
            },
            p.target_rps,
            p.achieved_rps,
            fmt_ms(p.latency_ms.p50),
            fmt_ms(p.latency_ms.p90),
            fmt_ms(p.latency_ms.p99),
            fmt_ms(p.latency_ms.p999),
            errors_cell(p),
            if p.pass {
                "pass".to_string()
            } else {
                format!("FAIL: {}", p.why.join("; "))
            }
        );
    }
    let cold: u64 = doc.probes.iter().map(|p| p.cold.count).sum();
    if cold > 0 {
        let _ = writeln!(
            s,
            "cold starts: {cold} answers marked Server-Timing init, reported apart and kept out of the SLO"
        );
    }
    if let (Some(a), Some(best)) = (&doc.at_max, out.best()) {
        let _ = writeln!(
            s,
            "\nat max_rps ({:.1} rps, {} probe):",
            a.target_rps,
            match a.phase {
                Phase::Search => "search",
                Phase::Confirm => "confirmation",
            }
        );
        table_head(&mut s, "latency");
        table_row(&mut s, "response (from due)", &a.response_ms);
        if best.report.latency_ms.cold.count > 0 {
            table_row(&mut s, "cold start (init)", &best.report.latency_ms.cold);
        }
        for (name, p) in &a.hops {
            table_row(&mut s, &format!("hop {name}"), p);
        }
        if a.targets.len() > 1 {
            for (name, p) in &a.targets {
                table_row(&mut s, &format!("{name} response"), p);
            }
        }
    }
    let st = &doc.settings;
    if st.sagemaker_invocations_per_instance.is_some() {
        let _ = writeln!(s, "\nsettings:");
    }
    if let Some(x) = &st.sagemaker_invocations_per_instance {
        let _ = writeln!(
            s,
            "  SageMakerVariantInvocationsPerInstance = {}\n      {}",
            x.value, x.formula
        );
    }
    if let Some(x) = &st.lambda_reserved_concurrency {
        let _ = writeln!(
            s,
            "  Lambda reserved concurrency            = {}\n      {}",
            x.value, x.formula
        );
    }
    if let Some(x) = &st.apigw_stage_throttle {
        let _ = writeln!(
            s,
            "  API Gateway stage throttle             = rate {} rps, burst {}\n      {}",
            x.rate, x.burst, x.formula
        );
    }
    s
}

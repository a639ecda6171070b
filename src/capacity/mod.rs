//! `iris-cli capacity`: the highest rate the endpoint sustains within an SLO, found by a
//! series of open-loop probes on the bench engine, and what to set in AWS for it.
//!
//! Each probe is a `bench` run at one fixed rate (same signing, same measurement from due
//! time, same per-hop and per-target statistics), judged by [`judge::verdict`]. The search
//! starts at `--start` or at 90% of a one-second closed-loop throughput (Little's law with the
//! workers as N), doubles until a probe fails, then bisects until the bracket is narrower
//! than `--tolerance`; a probe that can no longer pass is ended early; the winner is run
//! again for `--confirm`. A first probe that fails halves the rate down to `--min`.
//! Ctrl-C or SIGTERM stops the current probe and prints what was found.
//!
//! Layout: `judge` (the pass rules), `report` (tables, JSON, derived settings), `html`
//! (the knee chart).

pub mod html;
pub mod judge;
pub mod report;

use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::watch;

use crate::bench::recorder::{ErrorKind, Measurements};
use crate::bench::report::{self as bench_report, Report, Threshold};
use crate::bench::schedule::{Arrival, Schedule};
use crate::bench::worker::{self, Control, EngineConfig, Load, Plan};
use crate::bench::{LoadTarget, Prepared};
use crate::error::{CliError, Exit};
use crate::flow::RetryPolicy;
use crate::output::Format;
use judge::{Facts, Limit, Trend};

/// Validated settings of `capacity` (no clap types).
#[derive(Debug)]
pub struct CapacityOptions {
    pub load: LoadTarget,
    /// The SLO terms (an `errors<1%` is added when none limits errors).
    pub slo: Vec<Threshold>,
    pub start: Option<f64>,
    pub min: f64,
    pub max: f64,
    pub probe: Duration,
    /// Relative width of the final bracket, e.g. 0.05.
    pub tolerance: f64,
    /// Zero: no confirmation run.
    pub confirm: Duration,
    pub arrival: Arrival,
    pub max_in_flight: usize,
    /// Generator lag p99 above this fails a probe (and, with a starved client, blames it).
    pub max_lag: Duration,
    /// SageMaker instances behind the endpoint during the test (for the per-instance setting).
    pub instances: u32,
    pub output: Format,
    pub html: Option<PathBuf>,
    pub hdr_log: Option<PathBuf>,
    pub quiet: bool,
    /// `--start-at`/`--start-file`: when the search's first run starts.
    pub start_at: Option<crate::bench::schedule::StartAt>,
    pub start_file: Option<PathBuf>,
    /// `--cloudwatch`: AWS's metrics for the search's window afterwards.
    pub cloudwatch: Option<crate::bench::cloudwatch::CloudWatchOptions>,
}

/// Which part of the search a probe belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Search,
    Confirm,
}

/// One probe's result.
#[derive(Debug, Clone)]
pub struct Probe {
    pub phase: Phase,
    pub target_rps: f64,
    pub planned: Duration,
    pub report: Report,
    pub verdict: Option<(Limit, Vec<String>)>,
    pub trend: Trend,
    pub stopped_early: bool,
    pub cpu_busy: Option<f64>,
}

impl Probe {
    pub fn passed(&self) -> bool {
        self.verdict.is_none()
    }
}

/// The closed-loop estimate the search starts from.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Estimate {
    pub concurrency: usize,
    /// Successful answers per second.
    pub ok_rps: f64,
    pub mean_service_ms: f64,
    /// N / mean service time: what Little's law says N workers can carry.
    pub littles_law_rps: f64,
}

/// The bracket of the search; pure, so its steps are unit-tested.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    pub min: f64,
    pub max: f64,
    pub tolerance: f64,
    /// Highest rate that passed, lowest that failed.
    pub lo: Option<f64>,
    pub hi: Option<f64>,
}

/// Rates are probed to 0.1 rps.
fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

impl Search {
    pub fn record(&mut self, rate: f64, passed: bool) {
        if passed {
            self.lo = Some(self.lo.map_or(rate, |l| l.max(rate)));
        } else {
            self.hi = Some(self.hi.map_or(rate, |h| h.min(rate)));
        }
    }

    /// The next rate to probe, or None when the search is over.
    pub fn next(&self) -> Option<f64> {
        match (self.lo, self.hi) {
            (None, None) => Some(self.max.min(self.min.max(1.0))),
            (Some(l), None) => (l < self.max).then(|| round1((l * 2.0).min(self.max))),
            (None, Some(h)) => (h > self.min).then(|| round1((h / 2.0).max(self.min))),
            (Some(l), Some(h)) => {
                let mid = round1((l + h) / 2.0);
                ((h - l) / l > self.tolerance && mid > l && mid < h).then_some(mid)
            }
        }
    }
}

/// At most this many probes in one search (a bisection to 1% from a factor of 1000 takes 20).
const MAX_PROBES: usize = 40;
/// Confirmations before giving up on a shaky winner.
const MAX_CONFIRMS: usize = 3;
/// Quiet time between probes, so one probe's backlog does not spill into the next.
const SETTLE: Duration = Duration::from_millis(250);
/// Length and workers of the closed-loop estimate.
const ESTIMATE_FOR: Duration = Duration::from_secs(1);
const ESTIMATE_WORKERS: usize = 16;

struct Ctx<'a> {
    opts: &'a CapacityOptions,
    prepared: &'a Prepared,
    interrupt: watch::Receiver<bool>,
    /// Where the current probe writes its interval log (kept when it is the new best).
    hdr_tmp: Option<PathBuf>,
    /// 2xx answers over the whole search (the estimate's too), for `--cloudwatch`'s counts.
    ok_total: std::sync::atomic::AtomicU64,
    /// `--start-at`: the first engine run's t0, taken by that run.
    first_start: std::sync::Mutex<Option<std::time::SystemTime>>,
}

impl Ctx<'_> {
    fn engine(
        &self,
        plan: Plan,
        monitor: Option<worker::MonitorFn>,
        schedule: String,
    ) -> EngineConfig {
        let http = &self.opts.load.http;
        let start_at = self
            .first_start
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let run_info = crate::bench::hdrlog::RunInfo {
            target: self
                .prepared
                .targets
                .iter()
                .map(|t| t.signer.target.url.as_str())
                .collect::<Vec<_>>()
                .join(","),
            schedule,
            start_at_epoch: start_at.map(crate::bench::hdrlog::started_epoch),
            copy: None,
        };
        EngineConfig {
            plan,
            targets: self.prepared.targets.clone(),
            client: self.prepared.client.clone(),
            timeout: http.timeout,
            connect_timeout: http.connect_timeout,
            hdr_log: if monitor.is_some() {
                self.hdr_tmp.clone()
            } else {
                None
            },
            progress: !self.opts.quiet && std::io::stderr().is_terminal(),
            // A capacity test counts failures; it does not hide them.
            retry: RetryPolicy::new(1, Duration::ZERO),
            control: Some(Control {
                interrupt: self.interrupt.clone(),
                monitor: monitor.unwrap_or_else(|| Box::new(|_, _| false)),
            }),
            connector: self.prepared.connector.clone(),
            start_at,
            run_info,
        }
    }

    async fn estimate(&self) -> anyhow::Result<Estimate> {
        let workers = ESTIMATE_WORKERS.min(self.opts.max_in_flight);
        let plan = Plan::new(
            Load::Closed,
            workers,
            Duration::ZERO,
            Some(ESTIMATE_FOR),
            None,
        );
        let run =
            worker::run(self.engine(plan, None, format!("--concurrency {workers} --duration 1s")))
                .await?;
        let r = Report::build(&run);
        let m = &run.totals;
        self.ok_total
            .fetch_add(m.ok, std::sync::atomic::Ordering::Relaxed);
        if m.ok == 0 && !run.meta.interrupted {
            let kinds: Vec<String> = ErrorKind::ALL
                .iter()
                .filter(|k| m.error_count(**k) > 0)
                .map(|k| format!("{} {}", m.error_count(*k), k.name()))
                .collect();
            let network = m.completed > 0
                && m.error_count(ErrorKind::Connection) + m.error_count(ErrorKind::Timeout)
                    == m.completed;
            return Err(CliError::new(
                if network { Exit::Network } else { Exit::Failure },
                format!(
                    "capacity: no successful answer in the {}s closed-loop estimate ({}); fix the target, or give --start",
                    ESTIMATE_FOR.as_secs(),
                    if kinds.is_empty() { "no answers".to_string() } else { kinds.join(", ") }
                ),
            )
            .into());
        }
        let window = (r.duration_ms / 1000.0).max(ESTIMATE_FOR.as_secs_f64() * 0.5);
        let mean = r.latency_ms.service.mean;
        Ok(Estimate {
            concurrency: workers,
            ok_rps: m.ok as f64 / window,
            mean_service_ms: mean,
            littles_law_rps: if mean > 0.0 {
                workers as f64 / (mean / 1000.0)
            } else {
                0.0
            },
        })
    }

    async fn probe(&self, rate: f64, length: Duration, phase: Phase) -> anyhow::Result<Probe> {
        let opts = self.opts;
        let schedule = Schedule::constant(rate).with_arrival(opts.arrival);
        let plan = Plan::new(
            Load::Open(schedule),
            opts.max_in_flight,
            Duration::ZERO,
            Some(length),
            None,
        );
        let planned = (rate * length.as_secs_f64()).floor() as u64;
        let early: Arc<Mutex<Option<String>>> = Arc::default();
        let monitor: worker::MonitorFn = {
            let slo = opts.slo.clone();
            let early = early.clone();
            Box::new(move |m: &Measurements, at: Duration| {
                let Some(t) = slo.iter().find(|t| t.certain_to_fail(m, planned)) else {
                    return false;
                };
                *early.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!(
                    "stopped early at {:.1}s: {} could no longer hold",
                    at.as_secs_f64(),
                    t.expr
                ));
                true
            })
        };
        let cpu0 = judge::cpu_sample();
        let run = worker::run(self.engine(
            plan,
            Some(monitor),
            format!(
                "capacity probe --rps {rate} --duration {}s",
                length.as_secs_f64()
            ),
        ))
        .await?;
        let cpu_busy = judge::cpu_busy(cpu0, judge::cpu_sample());
        let mut report = Report::build(&run);
        self.ok_total.fetch_add(
            report.requests.ok + report.requests.warmup,
            std::sync::atomic::Ordering::Relaxed,
        );
        report.thresholds = bench_report::check(&opts.slo, &run, &report);
        let stopped = early.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let trend = judge::trend(
            &report.timeseries,
            length.as_secs_f64(),
            report.latency_ms.response.p50,
        );
        let service_s = report.latency_ms.service.mean / 1000.0;
        let facts = Facts {
            target_rps: rate,
            achieved_rps: report.achieved_rps,
            sent_share: if planned == 0 {
                1.0
            } else {
                (report.requests.sent as f64 / planned as f64).min(1.0)
            },
            lag_p99_ms: report.latency_ms.lag.p99,
            max_lag_ms: opts.max_lag.as_secs_f64() * 1000.0,
            slot_use: report.achieved_rps * service_s / opts.max_in_flight.max(1) as f64,
            cpu_busy,
            slo: report
                .thresholds
                .iter()
                .zip(&opts.slo)
                .map(|(r, t)| (r.expr.clone(), r.ok, t.is_errors(), r.actual))
                .collect(),
            trend,
            interrupted: run.meta.interrupted,
            stopped_early: stopped.clone(),
        };
        Ok(Probe {
            phase,
            target_rps: rate,
            planned: length,
            verdict: judge::verdict(&facts),
            trend,
            stopped_early: stopped.is_some(),
            cpu_busy,
            report,
        })
    }
}

/// Everything the search found (also after an interruption).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub estimate: Option<Estimate>,
    pub probes: Vec<Probe>,
    pub max_rps: Option<f64>,
    pub limited_by: Option<Limit>,
    pub interrupted: bool,
}

impl Outcome {
    /// The probe the answer rests on: the confirmation of `max_rps`, else its search probe.
    pub fn best(&self) -> Option<&Probe> {
        let max = self.max_rps?;
        self.probes
            .iter()
            .rev()
            .find(|p| p.passed() && p.target_rps == max && p.phase == Phase::Confirm)
            .or_else(|| {
                self.probes
                    .iter()
                    .rev()
                    .find(|p| p.passed() && p.target_rps == max)
            })
    }

    /// The lowest failing probe above `max_rps` (what limited it).
    pub fn limiting(&self) -> Option<&Probe> {
        let floor = self.max_rps.unwrap_or(0.0);
        self.probes
            .iter()
            .filter(|p| !p.passed() && !p.report.interrupted && p.target_rps >= floor)
            .min_by(|a, b| a.target_rps.total_cmp(&b.target_rps))
    }
}

fn say(quiet: bool, line: &str) {
    if !quiet {
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

/// `iris-cli capacity`.
pub async fn run(opts: CapacityOptions) -> anyhow::Result<Exit> {
    let prepared = crate::bench::prepare(&opts.load, opts.quiet).await?;
    let first_start = crate::bench::start_at(
        opts.start_at,
        opts.start_file.as_deref(),
        None,
        opts.quiet,
        "capacity: search",
    )?;
    let started_epoch = first_start
        .unwrap_or_else(std::time::SystemTime::now)
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let (int_tx, int_rx) = watch::channel(false);
    let mut signals = crate::signal::Signals::new()?;
    let forward = tokio::spawn(async move {
        let sig = signals.recv().await;
        let _ = int_tx.send(true);
        sig
    });
    let hdr_tmp = opts.hdr_log.as_deref().map(|p| temp_beside(p, "probe"));
    let ctx = Ctx {
        opts: &opts,
        prepared: &prepared,
        interrupt: int_rx.clone(),
        hdr_tmp: hdr_tmp.clone(),
        ok_total: Default::default(),
        first_start: std::sync::Mutex::new(first_start),
    };
    let interrupted = || *int_rx.borrow();
    let mut out = Outcome {
        estimate: None,
        probes: Vec::new(),
        max_rps: None,
        limited_by: None,
        interrupted: false,
    };
    let start = match opts.start {
        Some(s) => s,
        None => {
            let e = ctx.estimate().await?;
            say(
                opts.quiet,
                &format!(
                    "capacity: closed loop, {} workers, 1s: {:.1} ok/s (Little's law: {} / {} = {:.1} rps); starting at 90%",
                    e.concurrency,
                    e.ok_rps,
                    e.concurrency,
                    bench_report::fmt_ms(e.mean_service_ms),
                    e.littles_law_rps
                ),
            );
            out.estimate = Some(e);
            (e.ok_rps * 0.9).max(opts.min)
        }
    };
    let mut search = Search {
        min: opts.min,
        max: opts.max,
        tolerance: opts.tolerance,
        lo: None,
        hi: None,
    };
    let mut next = Some(round1(start.clamp(opts.min, opts.max)));
    let mut confirms = 0;
    while !interrupted() && out.probes.len() < MAX_PROBES {
        let Some(rate) = next else {
            // The search is over: confirm the winner, or stop.
            let Some(lo) = search.lo else { break };
            if opts.confirm.is_zero() || confirms >= MAX_CONFIRMS {
                break;
            }
            confirms += 1;
            let p = ctx.probe(lo, opts.confirm, Phase::Confirm).await?;
            say(opts.quiet, &report::probe_line(&p));
            let passed = p.passed();
            let was_interrupted = p.report.interrupted;
            out.probes.push(p);
            keep_log(&hdr_tmp, opts.hdr_log.as_deref(), passed)?;
            if passed || was_interrupted {
                break;
            }
            // The winner did not hold for longer: it is the new upper bound.
            search.hi = Some(lo);
            search.lo = out
                .probes
                .iter()
                .filter(|p| p.passed() && p.target_rps < lo)
                .map(|p| p.target_rps)
                .max_by(f64::total_cmp);
            next = search.next();
            tokio::time::sleep(SETTLE).await;
            continue;
        };
        let p = ctx.probe(rate, opts.probe, Phase::Search).await?;
        say(opts.quiet, &report::probe_line(&p));
        let passed = p.passed();
        let was_interrupted = p.report.interrupted;
        let new_best = passed && search.lo.is_none_or(|l| rate > l);
        out.probes.push(p);
        if was_interrupted {
            break;
        }
        search.record(rate, passed);
        keep_log(&hdr_tmp, opts.hdr_log.as_deref(), new_best)?;
        next = search.next();
        tokio::time::sleep(SETTLE).await;
    }
    forward.abort();
    if let Some(tmp) = &hdr_tmp {
        let _ = std::fs::remove_file(tmp);
    }
    out.interrupted = interrupted() || out.probes.iter().any(|p| p.report.interrupted);
    out.max_rps = search.lo.filter(|l| {
        // A winner whose every confirmation failed is no winner.
        !out.probes
            .iter()
            .any(|p| p.phase == Phase::Confirm && p.target_rps == *l && !p.passed())
    });
    out.limited_by = match out.limiting() {
        Some(p) => p.verdict.as_ref().map(|(l, _)| *l),
        None if out.max_rps.is_some_and(|m| m >= opts.max) => Some(Limit::Max),
        None => None,
    };
    let mut doc = report::Document::build(&out, &opts);
    let mut cw_err = None;
    if let (Some(c), Some(best)) = (&opts.cloudwatch, out.best()) {
        let kind = prepared.targets[0].signer.target.kind;
        let mut side = crate::bench::client_side(&best.report, kind);
        // Every probe's answers count at AWS, not just the best one's.
        let ok = ctx.ok_total.load(std::sync::atomic::Ordering::Relaxed);
        side.warmup = 0;
        if side.api_ok.is_some() {
            side.api_ok = Some(ok);
        } else {
            side.sagemaker_ok = ok;
        }
        match crate::bench::cloudwatch_after(&prepared, &opts.load, c, side, started_epoch).await {
            Ok(r) => doc.cloudwatch = Some(r),
            Err(e) => cw_err = Some(e),
        }
    }
    if let Some(p) = &opts.html {
        crate::bench::write_atomic(p, html::render(&doc, &out, &opts).as_bytes())
            .with_context(|| format!("cannot write --html {}", p.display()))?;
    }
    let text = match opts.output {
        Format::Json => serde_json::to_string_pretty(&doc)? + "\n",
        Format::Human => {
            let mut t = report::render_human(&doc, &out);
            if let Some(c) = &doc.cloudwatch {
                t += "\n";
                t += &crate::bench::cloudwatch::render(c);
            }
            t
        }
    };
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
    {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
    }
    if let Some(e) = cw_err {
        return Err(e.into());
    }
    Ok(if out.interrupted {
        Exit::Interrupted
    } else if out.max_rps.is_some() {
        Exit::Ok
    } else {
        Exit::Failure
    })
}

fn temp_beside(path: &Path, tag: &str) -> PathBuf {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    dir.join(format!(
        ".{}.{tag}{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("out"),
        std::process::id()
    ))
}

/// The interval log of a new best probe replaces `--hdr-log`; others are dropped.
fn keep_log(tmp: &Option<PathBuf>, dest: Option<&Path>, keep: bool) -> anyhow::Result<()> {
    let (Some(tmp), Some(dest)) = (tmp, dest) else {
        return Ok(());
    };
    if keep && tmp.exists() {
        std::fs::rename(tmp, dest)
            .with_context(|| format!("cannot write --hdr-log {}", dest.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drive the search against an endpoint that holds exactly `knee` rps.
    fn search_to(knee: f64, start: f64, tol: f64, max: f64) -> (Option<f64>, Vec<f64>) {
        let mut s = Search {
            min: 1.0,
            max,
            tolerance: tol,
            lo: None,
            hi: None,
        };
        let mut tried = Vec::new();
        let mut next = Some(start);
        while let Some(r) = next {
            tried.push(r);
            s.record(r, r <= knee);
            next = s.next();
            assert!(tried.len() < MAX_PROBES, "{tried:?}");
        }
        (s.lo, tried)
    }

    #[test]
    fn doubles_then_bisects_to_the_tolerance() {
        let (lo, tried) = search_to(300.0, 100.0, 0.05, 1e6);
        assert_eq!(&tried[..3], &[100.0, 200.0, 400.0]);
        let lo = lo.unwrap();
        assert!((300.0 / 1.05..=300.0).contains(&lo), "{lo} {tried:?}");
        // Starting above the knee halves first.
        let (lo, tried) = search_to(300.0, 1000.0, 0.05, 1e6);
        assert_eq!(&tried[..3], &[1000.0, 500.0, 250.0]);
        assert!(lo.unwrap() >= 300.0 / 1.05);
        // The ceiling ends it.
        let (lo, tried) = search_to(1e9, 100.0, 0.05, 500.0);
        assert_eq!(tried, vec![100.0, 200.0, 400.0, 500.0]);
        assert_eq!(lo, Some(500.0));
        // Nothing passes down to the floor.
        let (lo, tried) = search_to(0.5, 8.0, 0.05, 1e6);
        assert_eq!(tried, vec![8.0, 4.0, 2.0, 1.0]);
        assert_eq!(lo, None);
    }
}

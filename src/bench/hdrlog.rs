//! `--hdr-log FILE`: the standard HdrHistogram interval log (what HdrHistogram's
//! `HistogramLogProcessor` reads), one line per series per second, values in microseconds,
//! V2 compressed encoding. Tags: `response`, `service`, `lag`, `errors` (response times of the
//! failed requests: its count is the error count), `hop.<name>`, and with two targets
//! `target.<name>.response|service|hop.<name>`. A last comment line
//! `#iris-cli-summary {json}` carries the counts a histogram cannot (status codes, error
//! kinds); other readers skip it as a comment.
//!
//! `report merge` adds the histograms of each tag across files; percentiles are computed from
//! the sums, never averaged.
//!
//! Scale-out: a first comment line `#iris-cli-run {json}` says what ran (target, schedule,
//! `--start-at`, `--copy`) and the summary carries this copy's clock against the target's
//! (from its `Date` headers), so `report merge` can tell whether N logs are the N copies of
//! one schedule and warn, with numbers, when they are not.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use super::recorder::{add, ErrorKind, Hist, Measurements, Series};
use super::report::{RunMeta, RunResult};

const SUMMARY_PREFIX: &str = "#iris-cli-summary ";
const RUN_PREFIX: &str = "#iris-cli-run ";

/// What ran, written at the top of the log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Where requests went (URLs, comma-separated).
    pub target: String,
    /// The load in canonical form, e.g. `--rps 400 --duration 3s`.
    pub schedule: String,
    /// `--start-at`, seconds since the epoch (the log's StartTime too).
    pub start_at_epoch: Option<f64>,
    /// `--copy K/N` as `[K, N]`.
    pub copy: Option<[u64; 2]>,
}

/// Bounds on the target's clock minus ours, from the `Date` headers of its answers: a
/// response dated second `S` was written while the server's clock read `[S, S+1)`, at a local
/// instant between our send and our receipt, so the offset lies in
/// `[S - received, S + 1 - sent]`. Every answer narrows the bound; those near the server's
/// second boundaries make it about one round trip wide, so copies on different machines can
/// be compared against the same clock.
#[derive(Debug)]
pub struct ClockBound {
    lo_us: AtomicI64,
    hi_us: AtomicI64,
}

impl Default for ClockBound {
    fn default() -> ClockBound {
        ClockBound {
            lo_us: AtomicI64::new(i64::MIN),
            hi_us: AtomicI64::new(i64::MAX),
        }
    }
}

impl ClockBound {
    /// One answer dated `date_secs`, sent and received at these local epoch microseconds.
    pub fn observe(&self, date_secs: u64, sent_us: i64, received_us: i64) {
        let s = i64::try_from(date_secs).unwrap_or(i64::MAX / 4) * 1_000_000;
        let (lo, hi) = (s - received_us, s + 1_000_000 - sent_us);
        // Most answers narrow nothing: read before writing, to keep the cache line shared.
        if lo > self.lo_us.load(Relaxed) {
            self.lo_us.fetch_max(lo, Relaxed);
        }
        if hi < self.hi_us.load(Relaxed) {
            self.hi_us.fetch_min(hi, Relaxed);
        }
    }

    pub fn get(&self) -> Option<ClockOffset> {
        let (lo, hi) = (self.lo_us.load(Relaxed), self.hi_us.load(Relaxed));
        (lo != i64::MIN && hi != i64::MAX).then(|| ClockOffset {
            // A server whose clock stepped (or several behind a balancer) can cross them.
            lo_ms: lo.min(hi) as f64 / 1000.0,
            hi_ms: lo.max(hi) as f64 / 1000.0,
        })
    }
}

/// The target's clock minus this copy's, in milliseconds: between `lo_ms` and `hi_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClockOffset {
    pub lo_ms: f64,
    pub hi_ms: f64,
}

/// Copies whose clocks differ by more than this start their shares of the schedule that far
/// apart: warn.
pub const CLOCK_BOUND_MS: f64 = 50.0;
/// Copies whose first or last sends are further apart than this did not run one window.
pub const WINDOW_BOUND_S: f64 = 1.0;

/// Counts that are not histograms, written once at the end.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Summary {
    meta: RunMeta,
    targets: Vec<TargetCounts>,
    status_codes: BTreeMap<u16, u64>,
    errors: BTreeMap<String, u64>,
    sent: u64,
    completed: u64,
    ok: u64,
    late: u64,
    unfinished: u64,
    #[serde(default)]
    clock: Option<ClockOffset>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TargetCounts {
    name: String,
    sent: u64,
    ok: u64,
    errors: u64,
}

fn epoch_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// A tag may not hold ',', ' ', or line breaks; hop names come from servers, so anything odd
/// is left out of the log rather than corrupting it.
fn safe_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Writes the log as the run goes (one flush per second), so an interrupted run leaves a
/// valid log of what it measured.
pub struct HdrLogWriter {
    out: std::io::BufWriter<std::fs::File>,
    ser: V2DeflateSerializer,
    path: PathBuf,
}

impl HdrLogWriter {
    pub fn create(
        path: &Path,
        started: SystemTime,
        info: &RunInfo,
    ) -> anyhow::Result<HdrLogWriter> {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create --hdr-log {}", path.display()))?;
        let mut w = HdrLogWriter {
            out: std::io::BufWriter::new(file),
            ser: V2DeflateSerializer::new(),
            path: path.to_path_buf(),
        };
        IntervalLogWriterBuilder::new()
            .add_comment(concat!(
                "iris-cli ",
                env!("CARGO_PKG_VERSION"),
                " bench interval log: values in microseconds (HistogramLogProcessor: -outputValueUnitRatio 1000 -tag response)"
            ))
            .add_comment("tags: response service lag errors cold hop.<name> target.<name>.<series>")
            .add_comment(&format!(
                "{}{}",
                &RUN_PREFIX[1..],
                serde_json::to_string(info)?
            ))
            .with_start_time(started)
            .with_base_time(started)
            .begin_log_with(&mut w.out, &mut w.ser)
            .map_err(|e| anyhow::anyhow!("cannot write --hdr-log {}: {e}", path.display()))?;
        Ok(w)
    }

    fn io_error(&self, e: impl std::fmt::Display) -> anyhow::Error {
        anyhow::anyhow!("cannot write --hdr-log {}: {e}", self.path.display())
    }

    fn write_one(
        &mut self,
        h: &Hist,
        tag: &str,
        start: Duration,
        dur: Duration,
    ) -> anyhow::Result<()> {
        let Some(tag) = Tag::new(tag) else {
            return Ok(());
        };
        // No headers are configured here, so this builder writes nothing itself.
        let mut writer = IntervalLogWriterBuilder::new()
            .begin_log_with(&mut self.out, &mut self.ser)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        writer
            .write_histogram(h, start, dur, Some(tag))
            .map_err(|e| anyhow::anyhow!("{e}"))
            .map_err(|e| self.io_error(e))
    }

    /// One interval: `start` is the offset from the run's start.
    pub fn write_interval(
        &mut self,
        m: &Measurements,
        start: Duration,
        dur: Duration,
    ) -> anyhow::Result<()> {
        self.write_one(&m.response, "response", start, dur)?;
        self.write_one(&m.service, "service", start, dur)?;
        self.write_one(&m.lag, "lag", start, dur)?;
        self.write_one(&m.failed, "errors", start, dur)?;
        self.write_one(&m.cold, "cold", start, dur)?;
        for (name, h) in &m.hops.0 {
            if !h.is_empty() && safe_name(name) {
                self.write_one(h, &format!("hop.{name}"), start, dur)?;
            }
        }
        if m.targets.len() > 1 {
            for t in &m.targets {
                self.write_one(
                    &t.response,
                    &format!("target.{}.response", t.name),
                    start,
                    dur,
                )?;
                self.write_one(
                    &t.service,
                    &format!("target.{}.service", t.name),
                    start,
                    dur,
                )?;
                for (name, h) in &t.hops.0 {
                    if !h.is_empty() && safe_name(name) {
                        self.write_one(h, &format!("target.{}.hop.{name}", t.name), start, dur)?;
                    }
                }
            }
        }
        self.out.flush().map_err(|e| self.io_error(e))
    }

    /// The summary comment; closes the log.
    pub fn finish(
        mut self,
        meta: &RunMeta,
        totals: &Measurements,
        clock: Option<ClockOffset>,
    ) -> anyhow::Result<()> {
        let summary = Summary {
            meta: meta.clone(),
            targets: totals
                .targets
                .iter()
                .map(|t| TargetCounts {
                    name: t.name.clone(),
                    sent: t.sent,
                    ok: t.ok,
                    errors: t.errors,
                })
                .collect(),
            status_codes: totals.status.clone(),
            errors: ErrorKind::ALL
                .iter()
                .map(|k| (k.name().to_string(), totals.error_count(*k)))
                .collect(),
            sent: totals.sent,
            completed: totals.completed,
            ok: totals.ok,
            late: totals.late,
            unfinished: totals.unfinished,
            clock,
        };
        let line = serde_json::to_string(&summary)?;
        writeln!(self.out, "{SUMMARY_PREFIX}{line}").map_err(|e| self.io_error(e))?;
        self.out.flush().map_err(|e| self.io_error(e))
    }
}

/// One interval, still encoded: a long log's decoded histograms would not fit in memory, so
/// each is decoded when it is added.
struct Interval {
    tag: String,
    /// Seconds since the epoch.
    start_epoch: f64,
    encoded: String,
}

impl Interval {
    fn hist(&self) -> Hist {
        // Checked by `read_log`.
        decode(&self.encoded).unwrap_or_else(|_| super::recorder::new_hist())
    }
}

struct LogFile {
    intervals: Vec<Interval>,
    summary: Option<Summary>,
    info: Option<RunInfo>,
}

/// Decode one base64 V2 histogram (compressed or not). The encoding carries its own lengths
/// and bounds, and hdrhistogram's deserializer allocates whatever they say (a 4 KB line could
/// ask for 2 GB), so they are checked against the bytes actually present first: the payload
/// length against what follows the header, the compressed stream against a decompressed cap,
/// and the bounds against a cap on the counts array.
pub fn decode(encoded: &str) -> Result<Hist, String> {
    /// `0x1c849303 | 0x10` and `0x1c849304 | 0x10` (hdrhistogram's V2 cookies).
    const V2: u32 = 0x1c84_9313;
    const V2_DEFLATE: u32 = 0x1c84_9314;
    /// cookie, payload length, normalizing offset, significant digits, lowest, highest, ratio.
    const HEADER: usize = 40;
    /// At most 9 bytes per count (a varint) for at most `MAX_COUNTS` counts.
    const MAX_COUNTS: u64 = 1 << 20;
    const MAX_PLAIN: u64 = HEADER as u64 + 9 * MAX_COUNTS;
    let be32 = |b: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    let be64 = |b: &[u8], at: usize| -> Option<u64> {
        Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|e| format!("bad base64: {e}"))?;
    let plain: std::borrow::Cow<'_, [u8]> = match be32(&bytes, 0) {
        Some(V2_DEFLATE) => {
            let len = be32(&bytes, 4).ok_or("truncated histogram header")? as usize;
            let stream = bytes.get(8..8 + len).ok_or_else(|| {
                format!(
                    "histogram says {len} compressed bytes, {} present",
                    bytes.len().saturating_sub(8)
                )
            })?;
            let mut out = Vec::new();
            std::io::Read::read_to_end(
                &mut std::io::Read::take(flate2::read::ZlibDecoder::new(stream), MAX_PLAIN + 1),
                &mut out,
            )
            .map_err(|e| format!("bad compressed histogram: {e}"))?;
            if out.len() as u64 > MAX_PLAIN {
                return Err(format!(
                    "histogram decompresses to more than {MAX_PLAIN} bytes"
                ));
            }
            std::borrow::Cow::Owned(out)
        }
        Some(V2) => std::borrow::Cow::Borrowed(&bytes[..]),
        _ => return Err("bad histogram encoding: not a V2 histogram".into()),
    };
    let (Some(V2), Some(payload), Some(digits), Some(low), Some(high)) = (
        be32(&plain, 0),
        be32(&plain, 4),
        be32(&plain, 12),
        be64(&plain, 16),
        be64(&plain, 24),
    ) else {
        return Err("truncated or bad histogram header".into());
    };
    let present = plain.len().saturating_sub(HEADER);
    if payload as usize > present {
        return Err(format!(
            "histogram says {payload} payload bytes, {present} present"
        ));
    }
    // The counts array `Histogram::new_with_bounds(low, high, digits)` would allocate
    // (its own formula); the library itself refuses digits above 5 and high < 2 * low.
    if digits <= 5 && low >= 1 && high >= low.saturating_mul(2) {
        let sub_bucket_count = (2.0 * 10f64.powi(digits as i32)).log2().ceil().exp2() as u64;
        let unit = 63 - low.leading_zeros();
        let mut buckets: u64 = 1;
        let mut untrackable = u128::from(sub_bucket_count) << unit;
        while untrackable <= u128::from(high) {
            untrackable <<= 1;
            buckets += 1;
        }
        let counts = (buckets + 1) * (sub_bucket_count / 2);
        if counts > MAX_COUNTS {
            return Err(format!(
                "histogram too large: {counts} counts (lowest {low}, highest {high}, {digits} digits), at most {MAX_COUNTS}"
            ));
        }
    }
    Deserializer::new()
        .deserialize::<u64, _>(&mut &plain[..])
        .map_err(|e| format!("bad histogram encoding: {e:?}"))
}

fn read_log(path: &Path) -> anyhow::Result<LogFile> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut base = 0.0;
    let mut start: Option<f64> = None;
    let mut intervals = Vec::new();
    let mut summary = None;
    let mut info = None;
    for (n, line) in text.split_inclusive(|b| *b == b'\n').enumerate() {
        let lineno = n + 1;
        let where_ = || format!("{}:{lineno}", path.display());
        if let Some(json) = line.strip_prefix(SUMMARY_PREFIX.as_bytes()) {
            summary = Some(
                serde_json::from_slice(json)
                    .with_context(|| format!("{}: bad iris-cli summary line", where_()))?,
            );
            continue;
        }
        if let Some(json) = line.strip_prefix(RUN_PREFIX.as_bytes()) {
            info = Some(
                serde_json::from_slice(json)
                    .with_context(|| format!("{}: bad iris-cli run line", where_()))?,
            );
            continue;
        }
        let mut owned;
        let line = if line.ends_with(b"\n") {
            line
        } else {
            owned = line.to_vec();
            owned.push(b'\n');
            &owned[..]
        };
        for entry in IntervalLogIterator::new(line) {
            match entry {
                Ok(LogEntry::BaseTime(d)) => base = d.as_secs_f64(),
                Ok(LogEntry::StartTime(d)) => start = Some(d.as_secs_f64()),
                Ok(LogEntry::Interval(h)) => {
                    decode(h.encoded_histogram())
                        .map_err(|e| anyhow::anyhow!("{}: {e}", where_()))?;
                    let tag = h.tag().map(|t| t.as_str().to_string()).unwrap_or_default();
                    // Without BaseTime, timestamps are absolute (Java's convention).
                    let offset = h.start_timestamp().as_secs_f64();
                    intervals.push(Interval {
                        tag,
                        start_epoch: base + offset,
                        encoded: h.encoded_histogram().to_string(),
                    });
                }
                Err(_) => anyhow::bail!("{}: not an HdrHistogram interval log line", where_()),
            }
        }
    }
    let _ = start;
    if intervals.is_empty() && summary.is_none() {
        anyhow::bail!("{}: no histograms in this file", path.display());
    }
    Ok(LogFile {
        intervals,
        summary,
        info,
    })
}

/// Read and combine interval logs from one or more runs.
pub fn merge(paths: &[PathBuf]) -> anyhow::Result<RunResult> {
    let files: Vec<LogFile> = paths
        .iter()
        .map(|p| read_log(p))
        .collect::<anyhow::Result<_>>()?;
    // Target names, in the order the first file that has them lists them.
    let mut names: Vec<String> = Vec::new();
    for f in &files {
        if let Some(s) = &f.summary {
            for t in &s.targets {
                if !names.contains(&t.name) {
                    names.push(t.name.clone());
                }
            }
        }
        for i in &f.intervals {
            if let Some(rest) = i.tag.strip_prefix("target.") {
                if let Some((name, _)) = rest.split_once('.') {
                    if !names.iter().any(|n| n == name) {
                        names.push(name.to_string());
                    }
                }
            }
        }
    }
    if names.is_empty() {
        names.push("target".into());
    }
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut totals = Measurements::new(&name_refs);
    let origin = files
        .iter()
        .flat_map(|f| f.intervals.iter().map(|i| i.start_epoch))
        .chain(
            files
                .iter()
                .filter_map(|f| f.summary.as_ref().map(|s| s.meta.started_epoch)),
        )
        .fold(f64::INFINITY, f64::min);
    // Per-second series: each second's histograms from every file added, then summarised
    // and dropped, one second at a time.
    let mut per_second: Vec<(u64, bool, &Interval)> = Vec::new();
    for f in &files {
        for i in &f.intervals {
            let hist = i.hist();
            let target = |tag: &str| -> Option<(usize, String)> {
                let rest = tag.strip_prefix("target.")?;
                let (name, series) = rest.split_once('.')?;
                Some((names.iter().position(|n| n == name)?, series.to_string()))
            };
            let sec = (i.start_epoch - origin).max(0.0).round() as u64;
            match i.tag.as_str() {
                "response" => {
                    add(&mut totals.response, &hist);
                    per_second.push((sec, false, i));
                }
                "service" => add(&mut totals.service, &hist),
                "cold" => add(&mut totals.cold, &hist),
                "lag" => add(&mut totals.lag, &hist),
                "errors" => {
                    add(&mut totals.failed, &hist);
                    per_second.push((sec, true, i));
                }
                tag => {
                    if let Some(hop) = tag.strip_prefix("hop.") {
                        add(totals.hops.get_or_insert(hop), &hist);
                    } else if let Some((t, series)) = target(tag) {
                        let ts = &mut totals.targets[t];
                        match series.as_str() {
                            "response" => add(&mut ts.response, &hist),
                            "service" => add(&mut ts.service, &hist),
                            s => {
                                if let Some(hop) = s.strip_prefix("hop.") {
                                    add(ts.hops.get_or_insert(hop), &hist);
                                }
                            }
                        }
                    }
                    // Unknown tags (another tool's log) are ignored.
                }
            }
        }
    }
    per_second.sort_by_key(|(sec, _, _)| *sec);
    let mut series = Series::default();
    for group in per_second.chunk_by(|a, b| a.0 == b.0) {
        let (mut resp, mut failed) = pair();
        for (_, is_err, i) in group {
            add(if *is_err { &mut failed } else { &mut resp }, &i.hist());
        }
        series.push(Series::summarize(group[0].0, &resp, &failed));
    }
    // With one target, its histograms are the totals.
    if totals.targets.len() == 1 {
        let t = &mut totals.targets[0];
        t.response = totals.response.clone();
        t.service = totals.service.clone();
        t.hops = totals.hops.clone();
    }
    // Counts from the summaries; a log without one (a killed run) gives what its
    // histograms can tell.
    let mut metas = Vec::new();
    for (f, path) in files.iter().zip(paths) {
        match &f.summary {
            Some(s) => {
                totals.sent += s.sent;
                totals.completed += s.completed;
                totals.ok += s.ok;
                totals.late += s.late;
                totals.unfinished += s.unfinished;
                for (k, v) in &s.status_codes {
                    *totals.status.entry(*k).or_insert(0) += v;
                }
                for (k, v) in &s.errors {
                    if let Some(kind) = ErrorKind::from_name(k) {
                        let now = totals.error_count(kind);
                        totals.set_error_count(kind, now + v);
                    }
                }
                for tc in &s.targets {
                    if let Some(t) = totals.targets.iter_mut().find(|t| t.name == tc.name) {
                        t.sent += tc.sent;
                        t.ok += tc.ok;
                        t.errors += tc.errors;
                    }
                }
                metas.push(s.meta.clone());
            }
            None => {
                eprintln!(
                    "iris-cli: warning: {} has no summary line (the run did not finish): its histograms are merged, its status and error counts are unknown",
                    path.display()
                );
                let count = |tag: &str| -> u64 {
                    f.intervals
                        .iter()
                        .filter(|i| i.tag == tag)
                        .map(|i| i.hist().len())
                        .sum()
                };
                let (lag, resp, failed) = (count("lag"), count("response"), count("errors"));
                totals.sent += lag;
                totals.completed += resp;
                totals.ok += resp.saturating_sub(failed);
            }
        }
    }
    let facts: Vec<CopyFacts> = files
        .iter()
        .zip(paths)
        .map(|(f, p)| CopyFacts {
            file: p.display().to_string(),
            info: f.info.clone(),
            first_send: f.summary.as_ref().and_then(|s| s.meta.first_send_epoch),
            last_send: f.summary.as_ref().and_then(|s| s.meta.last_send_epoch),
            clock: f.summary.as_ref().and_then(|s| s.clock),
        })
        .collect();
    let check = check_copies(&facts);
    for w in &check.warnings {
        eprintln!("iris-cli: warning: {w}");
    }
    if let Some(note) = &check.note {
        eprintln!("iris-cli: {note}");
    }
    let mut meta = merge_meta(&metas, origin);
    if check.one_schedule {
        // The copies' shares add up to the schedule's rate (time-weighting would shave off
        // the few milliseconds between the copies' first sends).
        meta.target_rps = Some(metas.iter().filter_map(|m| m.target_rps).sum());
    }
    Ok(RunResult {
        meta,
        totals,
        series,
    })
}

/// What `report merge` knows of one log for the copy checks.
#[derive(Debug, Clone, Default)]
pub struct CopyFacts {
    pub file: String,
    pub info: Option<RunInfo>,
    pub first_send: Option<f64>,
    pub last_send: Option<f64>,
    pub clock: Option<ClockOffset>,
}

#[derive(Debug, Default)]
pub struct CopyCheck {
    pub warnings: Vec<String>,
    /// One line saying what was checked, when the logs are copies.
    pub note: Option<String>,
    /// Every copy of one schedule, present once, over one window, clocks in agreement.
    pub one_schedule: bool,
}

fn spread(xs: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = xs.clone().fold(f64::NEG_INFINITY, f64::max);
    let min = xs.fold(f64::INFINITY, f64::min);
    if max >= min {
        max - min
    } else {
        0.0
    }
}

/// Are these logs the copies of one schedule (`--copy K/N`, same `--start-at`)? Logs of
/// plain runs (no `--copy`) are merged without comment, as before.
pub fn check_copies(files: &[CopyFacts]) -> CopyCheck {
    let mut out = CopyCheck::default();
    let copies: Vec<(&CopyFacts, &RunInfo, [u64; 2])> = files
        .iter()
        .filter_map(|f| {
            let info = f.info.as_ref()?;
            Some((f, info, info.copy?))
        })
        .collect();
    if copies.is_empty() {
        return out;
    }
    let w = &mut out.warnings;
    let others: Vec<&str> = files
        .iter()
        .filter(|f| f.info.as_ref().and_then(|i| i.copy).is_none())
        .map(|f| f.file.as_str())
        .collect();
    if !others.is_empty() {
        w.push(format!(
            "{} not a --copy run: merged with the copies, it adds load outside their schedule",
            others.join(", ")
        ));
    }
    let n = copies[0].2[1];
    if let Some((f, _, c)) = copies.iter().find(|(_, _, c)| c[1] != n) {
        w.push(format!(
            "{} is copy {}/{} but {} is copy {}/{n}: not one schedule",
            f.file, c[0], c[1], copies[0].0.file, copies[0].2[0]
        ));
    }
    let mut by_k: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
    for (f, _, c) in &copies {
        by_k.entry(c[0]).or_default().push(&f.file);
    }
    for (k, fs) in &by_k {
        if fs.len() > 1 {
            w.push(format!(
                "copy {k}/{n} appears {} times ({}): its requests are counted more than once",
                fs.len(),
                fs.join(", ")
            ));
        }
    }
    let missing: Vec<String> = (0..n)
        .filter(|k| !by_k.contains_key(k))
        .map(|k| k.to_string())
        .collect();
    if !missing.is_empty() {
        w.push(format!(
            "copies {} of {n} are missing: the merged run is {}/{n} of the schedule",
            missing.join(", "),
            n - missing.len() as u64
        ));
    }
    for (what, get) in [
        (
            "targets",
            (|i: &RunInfo| i.target.clone()) as fn(&RunInfo) -> String,
        ),
        ("schedules", |i: &RunInfo| i.schedule.clone()),
    ] {
        let first = get(copies[0].1);
        if let Some((f, i, _)) = copies.iter().find(|(_, i, _)| get(i) != first) {
            w.push(format!(
                "the copies ran different {what}: {} has '{first}', {} has '{}'",
                copies[0].0.file,
                f.file,
                get(i)
            ));
        }
    }
    let start = |i: &RunInfo| match i.start_at_epoch {
        Some(e) => super::schedule::fmt_rfc3339(UNIX_EPOCH + Duration::from_secs_f64(e)),
        None => "none (no --start-at)".into(),
    };
    let first_start = copies[0].1.start_at_epoch;
    if let Some((f, i, _)) = copies
        .iter()
        .find(|(_, i, _)| match (i.start_at_epoch, first_start) {
            (Some(a), Some(b)) => (a - b).abs() > 0.001,
            (a, b) => a.is_some() != b.is_some(),
        })
    {
        w.push(format!(
            "the copies ran different start times: {} has {}, {} has {}",
            copies[0].0.file,
            start(copies[0].1),
            f.file,
            start(i)
        ));
    }
    // Windows: the copies' first and last sends.
    let firsts = copies.iter().filter_map(|(f, _, _)| f.first_send);
    let lasts = copies.iter().filter_map(|(f, _, _)| f.last_send);
    let (sf, sl) = (spread(firsts.clone()), spread(lasts.clone()));
    let overlap = lasts.clone().fold(f64::INFINITY, f64::min)
        - firsts.clone().fold(f64::NEG_INFINITY, f64::max);
    let union = lasts.fold(f64::NEG_INFINITY, f64::max) - firsts.fold(f64::INFINITY, f64::min);
    let share = if union > 0.0 {
        (overlap / union).max(0.0) * 100.0
    } else {
        100.0
    };
    if sf > WINDOW_BOUND_S || sl > WINDOW_BOUND_S {
        w.push(format!(
            "the copies' windows differ: first sends span {sf:.3} s, last sends {sl:.3} s; they overlap for {:.3} s of {union:.3} s ({share:.1}%), so the merged rate and percentiles mix different loads",
            overlap.max(0.0)
        ));
    }
    // Clocks, against the target's.
    let clocks: Vec<ClockOffset> = copies.iter().filter_map(|(f, _, _)| f.clock).collect();
    let clock_note = if clocks.len() < copies.len() {
        w.push(format!(
            "{} of {} copies saw no Date header from the target: their clocks cannot be compared",
            copies.len() - clocks.len(),
            copies.len()
        ));
        "clocks not compared".to_string()
    } else {
        let at_least = clocks
            .iter()
            .map(|c| c.lo_ms)
            .fold(f64::NEG_INFINITY, f64::max)
            - clocks.iter().map(|c| c.hi_ms).fold(f64::INFINITY, f64::min);
        let est = spread(clocks.iter().map(|c| (c.lo_ms + c.hi_ms) / 2.0));
        let width = clocks.iter().map(|c| c.hi_ms - c.lo_ms).fold(0.0, f64::max);
        if at_least > CLOCK_BOUND_MS {
            w.push(format!(
                "the copies' clocks differ by {est:.1} ms (at least {at_least:.1} ms, from the target's Date headers), more than {CLOCK_BOUND_MS} ms: their shares of the schedule did not interleave; synchronise the nodes' clocks (NTP, chrony)"
            ));
        }
        format!(
            "clocks agree within {est:.1} ms (each measured to ±{:.1} ms)",
            width / 2.0
        )
    };
    out.one_schedule = out.warnings.is_empty();
    out.note = Some(format!(
        "report merge: {} logs of copies of {n}; windows overlap {share:.1}% (first sends span {sf:.3} s, last {sl:.3} s); {clock_note}",
        copies.len()
    ));
    out
}

fn pair() -> (Hist, Hist) {
    (super::recorder::new_hist(), super::recorder::new_hist())
}

/// Combine run facts: rates are time-weighted over the merged window, so N concurrent runs at
/// R/N each merge to R, and back-to-back runs merge to their average.
fn merge_meta(metas: &[RunMeta], origin: f64) -> RunMeta {
    let first = metas
        .iter()
        .filter_map(|m| m.first_send_epoch)
        .fold(f64::INFINITY, f64::min);
    let last = metas
        .iter()
        .filter_map(|m| m.last_send_epoch)
        .fold(f64::NEG_INFINITY, f64::max);
    let window = last - first;
    let target_rps = if metas.iter().any(|m| m.target_rps.is_some()) {
        Some(
            metas
                .iter()
                .map(|m| {
                    let t = m.target_rps.unwrap_or(0.0);
                    match (m.first_send_epoch, m.last_send_epoch) {
                        (Some(a), Some(b)) if window > 0.0 => t * (b - a) / window,
                        _ => t,
                    }
                })
                .sum(),
        )
    } else {
        None
    };
    let mode = match metas.first() {
        Some(m) if metas.iter().all(|x| x.mode == m.mode) => m.mode.clone(),
        Some(_) => "mixed".into(),
        None => "unknown".into(),
    };
    RunMeta {
        mode,
        target_rps,
        started_epoch: if origin.is_finite() { origin } else { 0.0 },
        first_send_epoch: first.is_finite().then_some(first),
        last_send_epoch: last.is_finite().then_some(last),
        warmup_requests: metas.iter().map(|m| m.warmup_requests).sum(),
        interrupted: metas.iter().any(|m| m.interrupted),
        concurrency: metas.iter().map(|m| m.concurrency).sum(),
        unsent: metas.iter().map(|m| m.unsent).sum(),
        connections_opened: metas.iter().map(|m| m.connections_opened).sum(),
        tls_handshakes: metas.iter().map(|m| m.tls_handshakes).sum(),
    }
}

pub fn started_epoch(t: SystemTime) -> f64 {
    epoch_secs(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::recorder::Sample;

    fn sample(v: u64, target: usize) -> Sample<'static> {
        Sample {
            target,
            response_us: v,
            service_us: v / 2,
            lag_us: v / 10,
            status: Some(if v.is_multiple_of(7) { 429 } else { 200 }),
            error: v.is_multiple_of(7).then_some(ErrorKind::Throttled),
            server_timing: Some("apigw;dur=1.5, lambda;dur=1"),
            retry: false,
            message: None,
        }
    }

    fn meta(started: f64, rps: f64) -> RunMeta {
        RunMeta {
            mode: "open".into(),
            target_rps: Some(rps),
            started_epoch: started,
            first_send_epoch: Some(started),
            last_send_epoch: Some(started + 2.0),
            warmup_requests: 0,
            interrupted: false,
            unsent: 0,
            connections_opened: 0,
            tls_handshakes: 0,
            concurrency: 8,
        }
    }

    /// Write a two-interval log of `values`, return the totals recorded.
    fn write_log(path: &Path, started: f64, values: &[u64]) -> Measurements {
        let t0 = UNIX_EPOCH + Duration::from_secs_f64(started);
        let mut w = HdrLogWriter::create(path, t0, &RunInfo::default()).unwrap();
        let mut totals = Measurements::new(&["apigw", "sagemaker"]);
        let mut interval = Measurements::new(&["apigw", "sagemaker"]);
        for (sec, chunk) in values.chunks(values.len() / 2 + 1).enumerate() {
            for &v in chunk {
                interval.record(&sample(v, (v % 2) as usize));
            }
            w.write_interval(
                &interval,
                Duration::from_secs(sec as u64),
                Duration::from_secs(1),
            )
            .unwrap();
            totals.add(&interval);
            interval.reset();
        }
        w.finish(&meta(started, 50.0), &totals, None).unwrap();
        totals
    }

    #[test]
    fn merged_logs_equal_one_histogram_of_both_runs() {
        let dir = tempfile::tempdir().unwrap();
        let a: Vec<u64> = (1..=3000).map(|i| i * 37 % 250_000 + 100).collect();
        let b: Vec<u64> = (1..=2000).map(|i| i * 911 % 2_000_000 + 5).collect();
        let ta = write_log(&dir.path().join("a.hlog"), 1_700_000_000.0, &a);
        let tb = write_log(&dir.path().join("b.hlog"), 1_700_000_000.5, &b);
        let merged = merge(&[dir.path().join("a.hlog"), dir.path().join("b.hlog")]).unwrap();
        let mut both = crate::bench::recorder::new_hist();
        for v in a.iter().chain(&b) {
            both.record(*v).unwrap();
        }
        let m = &merged.totals;
        assert_eq!(m.response.len(), 5000);
        assert!(m.response == both, "histograms differ");
        for q in [0.0, 0.25, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0] {
            assert_eq!(
                m.response.value_at_quantile(q),
                both.value_at_quantile(q),
                "{q}"
            );
        }
        let mut lag = ta.lag.clone();
        lag.add(&tb.lag).unwrap();
        assert!(m.lag == lag, "lag histograms differ");
        assert_eq!(m.sent, 5000);
        assert_eq!(m.ok, ta.ok + tb.ok);
        assert_eq!(
            m.error_count(ErrorKind::Throttled),
            ta.errors_total() + tb.errors_total()
        );
        assert_eq!(m.status[&429], ta.status[&429] + tb.status[&429]);
        assert_eq!(m.hops.get("lambda").unwrap().len(), 5000);
        assert_eq!(
            m.targets[0].response.len(),
            ta.targets[0].response.len() + tb.targets[0].response.len()
        );
        assert_eq!(m.targets[1].sent, ta.targets[1].sent + tb.targets[1].sent);
        // Concurrent runs at 50 rps each over the same window merge to ~100 rps.
        let t = merged.meta.target_rps.unwrap();
        assert!((t - 100.0 * 2.0 / 2.5).abs() < 1e-9, "{t}");
        // Both files' two seconds land in seconds 0..=2 of the merged series.
        let total: u64 = merged.series.seconds.iter().map(|s| s.requests).sum();
        assert_eq!(total, 5000);
    }

    fn copy_facts(k: u64, n: u64, first: f64, clock_ms: f64) -> CopyFacts {
        CopyFacts {
            file: format!("bench-{k}.hlog"),
            info: Some(RunInfo {
                target: "https://x.example/species/irispredict".into(),
                schedule: "--rps 400 --end 300s".into(),
                start_at_epoch: Some(1_796_119_200.0),
                copy: Some([k, n]),
            }),
            first_send: Some(first),
            last_send: Some(first + 300.0),
            clock: Some(ClockOffset {
                lo_ms: clock_ms - 2.0,
                hi_ms: clock_ms + 2.0,
            }),
        }
    }

    #[test]
    fn copies_of_one_schedule_pass_and_every_mismatch_is_named_with_numbers() {
        let t = 1_796_119_200.0;
        let good: Vec<CopyFacts> = (0..4)
            .map(|k| copy_facts(k, 4, t + k as f64 / 400.0, k as f64))
            .collect();
        let c = check_copies(&good);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert!(c.one_schedule);
        let note = c.note.unwrap();
        assert!(note.contains("4 logs of copies of 4"), "{note}");
        assert!(note.contains("clocks agree within 3.0 ms"), "{note}");

        let warned = |facts: &[CopyFacts], needle: &str| {
            let c = check_copies(facts);
            assert!(!c.one_schedule);
            assert!(
                c.warnings.iter().any(|w| w.contains(needle)),
                "{needle}: {:?}",
                c.warnings
            );
        };
        warned(
            &good[..3],
            "copies 3 of 4 are missing: the merged run is 3/4",
        );
        let mut dup = good.clone();
        dup[3] = copy_facts(2, 4, t, 0.0);
        warned(&dup, "copy 2/4 appears 2 times");
        warned(&dup, "copies 3 of 4 are missing");
        let mut sched = good.clone();
        sched[1].info.as_mut().unwrap().schedule = "--rps 100 --end 300s".into();
        warned(&sched, "different schedules: bench-0.hlog has '--rps 400 --end 300s', bench-1.hlog has '--rps 100 --end 300s'");
        let mut start = good.clone();
        start[2].info.as_mut().unwrap().start_at_epoch = None;
        warned(&start, "different start times");
        // Pods started seconds apart, without --start-at: the windows say so.
        let mut late = good.clone();
        late[3] = copy_facts(3, 4, t + 4.5, 3.0);
        warned(&late, "first sends span 4.500 s");
        warned(&late, "overlap for 295.500 s of 304.500 s (97.0%)");
        // One node's clock 200 ms off.
        let mut skew = good.clone();
        skew[1] = copy_facts(1, 4, t, 201.0);
        warned(&skew, "clocks differ by 201.0 ms (at least 197.0 ms");
        let mut no_date = good.clone();
        no_date[0].clock = None;
        warned(&no_date, "1 of 4 copies saw no Date header");
        let mut mixed = good.clone();
        mixed.push(CopyFacts {
            file: "plain.hlog".into(),
            ..Default::default()
        });
        warned(&mixed, "plain.hlog not a --copy run");
        // Plain runs: merged without comment.
        let plain = check_copies(&[CopyFacts::default(), CopyFacts::default()]);
        assert!(plain.warnings.is_empty() && plain.note.is_none());
    }

    #[test]
    fn clock_bound_narrows_to_the_round_trip() {
        let c = ClockBound::default();
        assert_eq!(c.get(), None);
        // The server's clock is 30 ms ahead; 1 ms round trips every 10 ms for 3 s.
        let ahead_us = 30_000i64;
        for i in 0..300i64 {
            let sent = 1_796_119_200_000_000 + i * 10_000 + 3_333;
            let at_server = sent + 500 + ahead_us;
            c.observe((at_server / 1_000_000) as u64, sent, sent + 1000);
        }
        let o = c.get().unwrap();
        assert!(o.lo_ms <= 30.0 && o.hi_ms >= 30.0, "{o:?}");
        assert!(o.hi_ms - o.lo_ms <= 11.0, "{o:?}");
    }

    #[test]
    fn bad_logs_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.hlog");
        std::fs::write(
            &p,
            "#[StartTime: 1.000 (seconds since epoch)]\nTag=response,0.0,1.0,1.0,!!!notbase64\n",
        )
        .unwrap();
        let e = format!("{:#}", merge(std::slice::from_ref(&p)).unwrap_err());
        assert!(e.contains("x.hlog:2"), "{e}");
        std::fs::write(&p, "hello world\n").unwrap();
        let e = format!("{:#}", merge(std::slice::from_ref(&p)).unwrap_err());
        assert!(e.contains("x.hlog:1"), "{e}");
        let e = format!(
            "{:#}",
            merge(&[dir.path().join("missing.hlog")]).unwrap_err()
        );
        assert!(e.contains("missing.hlog"), "{e}");
    }
}

//! What one run measured: histograms in microseconds (3 significant digits, auto-resizing, so
//! memory depends on the range of values, never on how many were recorded), counts by status
//! and error kind, and a bounded per-second series.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

/// Significant digits of every histogram.
pub const SIGFIG: u8 = 3;
/// Hop names kept per target; more distinct `Server-Timing` names are ignored, so a server
/// sending odd names cannot grow memory.
pub const MAX_HOPS: usize = 8;
/// Per-second summaries kept (6 hours at 1 s); older seconds are dropped first.
pub const SERIES_CAP: usize = 6 * 3600;
/// A request sent more than this after its due time counts as late.
pub const LATE_US: u64 = 5_000;

pub type Hist = Histogram<u64>;

pub fn new_hist() -> Hist {
    Histogram::new(SIGFIG).expect("3 significant digits is valid")
}

/// Record, growing the histogram as needed (`saturating_record` would clamp to its current
/// top instead of resizing).
pub fn rec(h: &mut Hist, v: u64) {
    if h.record(v).is_err() {
        h.saturating_record(v);
    }
}

/// Why a request failed: the counting category of the shared outcome taxonomy.
pub use crate::protocol::Category as ErrorKind;

/// `Server-Timing: apigw;dur=1.2, lambda;dur=0.8` -> `[("apigw", 1200us), ...]`.
pub fn parse_server_timing(value: &str) -> impl Iterator<Item = (&str, u64)> {
    value.split(',').filter_map(|entry| {
        let mut parts = entry.split(';');
        let name = parts.next()?.trim();
        if name.is_empty() {
            return None;
        }
        let dur = parts.find_map(|p| p.trim().strip_prefix("dur="))?;
        let ms: f64 = dur.trim().trim_matches('"').parse().ok()?;
        (ms.is_finite() && ms >= 0.0).then(|| (name, (ms * 1000.0).round() as u64))
    })
}

/// The `Server-Timing` entry that marks a cold start (`init;dur=..`: the emulator and a Lambda
/// that sets it on the invocation that initialised its environment).
pub const COLD_HOP: &str = "init";

/// Whether a `Server-Timing` value marks a cold start. An `init` of zero took no time (the
/// emulator without `--cold-start` marks new environments so): nothing to keep apart.
pub fn is_cold(server_timing: &str) -> bool {
    parse_server_timing(server_timing).any(|(name, us)| name == COLD_HOP && us > 0)
}

/// Named histograms, at most [`MAX_HOPS`].
#[derive(Debug, Clone, Default)]
pub struct Hops(pub Vec<(String, Hist)>);

impl Hops {
    pub fn record(&mut self, name: &str, us: u64) {
        if let Some((_, h)) = self.0.iter_mut().find(|(n, _)| n == name) {
            rec(h, us);
        } else if self.0.len() < MAX_HOPS {
            let mut h = new_hist();
            rec(&mut h, us);
            self.0.push((name.to_string(), h));
        }
    }

    pub fn add(&mut self, other: &Hops) {
        for (name, h) in &other.0 {
            match self.0.iter().position(|(n, _)| n == name) {
                Some(i) => add(&mut self.0[i].1, h),
                None if self.0.len() < MAX_HOPS => self.0.push((name.clone(), h.clone())),
                None => {}
            }
        }
    }

    pub fn reset(&mut self) {
        for (_, h) in &mut self.0 {
            h.reset();
        }
    }

    pub fn get(&self, name: &str) -> Option<&Hist> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, h)| h)
    }

    pub fn get_or_insert(&mut self, name: &str) -> &mut Hist {
        if let Some(i) = self.0.iter().position(|(n, _)| n == name) {
            return &mut self.0[i].1;
        }
        self.0.push((name.to_string(), new_hist()));
        &mut self.0.last_mut().unwrap().1
    }
}

/// Add `b` into `a`. Auto-resizing histograms cannot fail to add.
pub fn add(a: &mut Hist, b: &Hist) {
    if b.is_empty() {
        return;
    }
    a.add(b).expect("auto-resizing histograms accept any value");
}

/// One target's share (with `--target both` there are two).
#[derive(Debug, Clone)]
pub struct TargetStats {
    pub name: String,
    pub response: Hist,
    pub service: Hist,
    pub hops: Hops,
    pub sent: u64,
    pub ok: u64,
    pub errors: u64,
}

impl TargetStats {
    pub fn new(name: &str) -> TargetStats {
        TargetStats {
            name: name.to_string(),
            response: new_hist(),
            service: new_hist(),
            hops: Hops::default(),
            sent: 0,
            ok: 0,
            errors: 0,
        }
    }
}

/// What one request gave.
#[derive(Debug)]
pub struct Sample<'a> {
    pub target: usize,
    /// Completion - due.
    pub response_us: u64,
    /// Completion - send.
    pub service_us: u64,
    /// Send - due.
    pub lag_us: u64,
    /// HTTP status, or None for a transport failure.
    pub status: Option<u16>,
    pub error: Option<ErrorKind>,
    pub server_timing: Option<&'a str>,
    /// A retry of a failed attempt (`--retries`), measured from its own due time.
    pub retry: bool,
    /// A failed attempt's one-line message (AWS's error, or the transport failure).
    pub message: Option<&'a str>,
}

/// Distinct error messages kept with their counts; more are counted under the last key.
pub const MAX_MESSAGES: usize = 16;
pub const OTHER_MESSAGES: &str = "(other messages)";

/// Histograms and counters, mergeable by addition.
#[derive(Debug, Clone)]
pub struct Measurements {
    pub response: Hist,
    pub service: Hist,
    pub lag: Hist,
    /// Response times of failed requests (its count is the error count; in the hdr log it
    /// carries errors per interval).
    pub failed: Hist,
    /// Response times of answers marked as cold starts (`Server-Timing: init`), kept out of
    /// `response` and `service` so a warm SLO is not broken by the first seconds.
    pub cold: Hist,
    pub hops: Hops,
    pub targets: Vec<TargetStats>,
    pub status: BTreeMap<u16, u64>,
    pub errors: [u64; 8],
    pub sent: u64,
    pub completed: u64,
    pub ok: u64,
    pub late: u64,
    /// Sent but abandoned when the run was interrupted or hit its hard stop.
    pub unfinished: u64,
    /// Attempts that were retries (`--retries`); included in `sent`.
    pub retries: u64,
    /// Failed attempts by message, at most [`MAX_MESSAGES`] distinct ones.
    pub messages: BTreeMap<String, u64>,
}

impl Measurements {
    pub fn new(targets: &[&str]) -> Measurements {
        Measurements {
            response: new_hist(),
            service: new_hist(),
            lag: new_hist(),
            failed: new_hist(),
            cold: new_hist(),
            hops: Hops::default(),
            targets: targets.iter().map(|t| TargetStats::new(t)).collect(),
            status: BTreeMap::new(),
            errors: [0; 8],
            sent: 0,
            completed: 0,
            ok: 0,
            late: 0,
            unfinished: 0,
            retries: 0,
            messages: BTreeMap::new(),
        }
    }

    fn count_message(&mut self, message: &str, n: u64) {
        if let Some(c) = self.messages.get_mut(message) {
            *c += n;
        } else if self.messages.len() < MAX_MESSAGES {
            self.messages.insert(message.to_string(), n);
        } else {
            *self.messages.entry(OTHER_MESSAGES.to_string()).or_insert(0) += n;
        }
    }

    pub fn record(&mut self, s: &Sample) {
        self.sent += 1;
        if s.retry {
            self.retries += 1;
        }
        self.completed += 1;
        rec(&mut self.lag, s.lag_us);
        if s.lag_us > LATE_US {
            self.late += 1;
        }
        let t = &mut self.targets[s.target];
        t.sent += 1;
        if let Some(status) = s.status {
            *self.status.entry(status).or_insert(0) += 1;
            if s.server_timing.is_some_and(is_cold) {
                rec(&mut self.cold, s.response_us);
            } else {
                rec(&mut self.response, s.response_us);
                rec(&mut self.service, s.service_us);
                rec(&mut t.response, s.response_us);
                rec(&mut t.service, s.service_us);
            }
        }
        match s.error {
            Some(kind) => {
                self.errors[kind.index()] += 1;
                rec(&mut self.failed, s.response_us);
                t.errors += 1;
            }
            None => {
                self.ok += 1;
                t.ok += 1;
            }
        }
        if let Some(kind) = s.error {
            self.count_message(s.message.unwrap_or(kind.name()), 1);
        }
        if let Some(st) = s.server_timing {
            for (name, us) in parse_server_timing(st) {
                self.hops.record(name, us);
                self.targets[s.target].hops.record(name, us);
            }
        }
    }

    /// A request that was sent but abandoned (Ctrl-C).
    pub fn record_unfinished(&mut self, target: usize, lag_us: u64) {
        self.sent += 1;
        self.unfinished += 1;
        rec(&mut self.lag, lag_us);
        if lag_us > LATE_US {
            self.late += 1;
        }
        self.targets[target].sent += 1;
    }

    pub fn errors_total(&self) -> u64 {
        self.errors.iter().sum()
    }

    pub fn error_count(&self, kind: ErrorKind) -> u64 {
        self.errors[kind.index()]
    }

    pub fn set_error_count(&mut self, kind: ErrorKind, n: u64) {
        self.errors[kind.index()] = n;
    }

    pub fn add(&mut self, o: &Measurements) {
        add(&mut self.response, &o.response);
        add(&mut self.service, &o.service);
        add(&mut self.lag, &o.lag);
        add(&mut self.failed, &o.failed);
        add(&mut self.cold, &o.cold);
        self.hops.add(&o.hops);
        for (mine, theirs) in self.targets.iter_mut().zip(&o.targets) {
            add(&mut mine.response, &theirs.response);
            add(&mut mine.service, &theirs.service);
            mine.hops.add(&theirs.hops);
            mine.sent += theirs.sent;
            mine.ok += theirs.ok;
            mine.errors += theirs.errors;
        }
        for (k, v) in &o.status {
            *self.status.entry(*k).or_insert(0) += v;
        }
        for (a, b) in self.errors.iter_mut().zip(o.errors) {
            *a += b;
        }
        self.sent += o.sent;
        self.completed += o.completed;
        self.ok += o.ok;
        self.late += o.late;
        self.unfinished += o.unfinished;
        self.retries += o.retries;
        for (m, n) in &o.messages {
            self.count_message(m, *n);
        }
    }

    /// Zero everything, keeping the allocations.
    pub fn reset(&mut self) {
        self.response.reset();
        self.service.reset();
        self.lag.reset();
        self.failed.reset();
        self.cold.reset();
        self.hops.reset();
        for t in &mut self.targets {
            t.response.reset();
            t.service.reset();
            t.hops.reset();
            t.sent = 0;
            t.ok = 0;
            t.errors = 0;
        }
        self.status.clear();
        self.errors = [0; 8];
        self.sent = 0;
        self.completed = 0;
        self.ok = 0;
        self.late = 0;
        self.unfinished = 0;
        self.retries = 0;
        self.messages.clear();
    }
}

/// One second of the run.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Second {
    /// Seconds since the start of the run (warmup included).
    pub t: u64,
    /// Requests completed in this second.
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Per-second summaries in a bounded ring.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub seconds: std::collections::VecDeque<Second>,
}

impl Series {
    pub fn push(&mut self, s: Second) {
        if self.seconds.len() == SERIES_CAP {
            self.seconds.pop_front();
        }
        self.seconds.push_back(s);
    }

    /// The summary of one interval's histograms.
    pub fn summarize(t: u64, response: &Hist, failed: &Hist) -> Second {
        Second {
            t,
            requests: response.len(),
            errors: failed.len(),
            p50_ms: ms(response.value_at_quantile(0.5)),
            p99_ms: ms(response.value_at_quantile(0.99)),
        }
    }
}

pub fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_timing_is_parsed_in_microseconds() {
        let v: Vec<_> = parse_server_timing(
            "apigw;dur=1.234, lambda;dur=0.5;desc=\"x\", sagemaker;dur=0.125, bad, junk;dur=x",
        )
        .collect();
        assert_eq!(
            v,
            vec![("apigw", 1234), ("lambda", 500), ("sagemaker", 125)]
        );
    }

    #[test]
    fn cold_starts_are_kept_apart() {
        let mut m = Measurements::new(&["apigw"]);
        for (timing, us) in [
            ("init;dur=250, apigw;dur=260", 300_000),
            ("apigw;dur=2", 3_000),
            ("apigw;dur=2", 4_000),
        ] {
            m.record(&Sample {
                target: 0,
                response_us: us,
                service_us: us,
                lag_us: 0,
                status: Some(200),
                error: None,
                server_timing: Some(timing),
                retry: false,
                message: None,
            });
        }
        assert_eq!(m.cold.len(), 1);
        assert_eq!(m.response.len(), 2);
        assert!(m.response.max() < 5_000);
        assert_eq!(m.ok, 3);
        assert_eq!(m.hops.get("init").unwrap().len(), 1);
        assert!(!is_cold("apigw;dur=1, initial;dur=2"));
        assert!(!is_cold("apigw;dur=1, init;dur=0.000"));
    }

    #[test]
    fn hops_are_bounded() {
        let mut h = Hops::default();
        for i in 0..20 {
            h.record(&format!("h{i}"), 5);
        }
        assert_eq!(h.0.len(), MAX_HOPS);
    }

    #[test]
    fn measurements_add_and_reset() {
        let mut a = Measurements::new(&["apigw"]);
        let mut b = Measurements::new(&["apigw"]);
        for v in 1..=100 {
            a.record(&Sample {
                target: 0,
                response_us: v * 1000,
                service_us: v * 500,
                lag_us: v * 100,
                status: Some(200),
                error: None,
                server_timing: Some("apigw;dur=3, lambda;dur=2"),
                retry: false,
                message: None,
            });
        }
        b.record(&Sample {
            target: 0,
            response_us: 7,
            service_us: 7,
            lag_us: 0,
            status: Some(503),
            error: Some(ErrorKind::Server5xx),
            server_timing: None,
            retry: false,
            message: None,
        });
        b.record_unfinished(0, 10_000);
        a.add(&b);
        assert_eq!(a.sent, 102);
        assert_eq!(a.completed, 101);
        assert_eq!(a.ok, 100);
        assert_eq!(a.errors_total(), 1);
        assert_eq!(a.unfinished, 1);
        assert_eq!(a.late, 50 + 1); // lag > 5 ms: v in 51..=100, plus the unfinished one
        assert_eq!(a.status[&200], 100);
        assert_eq!(a.status[&503], 1);
        assert_eq!(a.response.len(), 101);
        assert_eq!(a.hops.get("lambda").unwrap().len(), 100);
        assert_eq!(a.targets[0].sent, 102);
        a.reset();
        assert_eq!(a.sent, 0);
        assert!(a.response.is_empty());
        assert!(a.hops.get("lambda").unwrap().is_empty());
    }

    #[test]
    fn series_is_bounded() {
        let mut s = Series::default();
        let h = new_hist();
        for t in 0..(SERIES_CAP as u64 + 10) {
            s.push(Series::summarize(t, &h, &h));
        }
        assert_eq!(s.seconds.len(), SERIES_CAP);
        assert_eq!(s.seconds.front().unwrap().t, 10);
    }
}

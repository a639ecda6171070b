//! Run counters, the progress bar (stderr, only on a terminal) and the final summary.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::Report;

/// Shared counters, updated with relaxed atomics.
#[derive(Debug, Default)]
pub struct Counters {
    read: AtomicU64,
    scored: AtomicU64,
    rejected: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
    throttled: AtomicU64,
    splits: AtomicU64,
    done_before: AtomicU64,
}

fn inc(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl Counters {
    pub fn add_read(&self, n: u64) {
        inc(&self.read, n);
    }
    pub fn add_scored(&self, n: u64) {
        inc(&self.scored, n);
    }
    pub fn add_rejected(&self, n: u64) {
        inc(&self.rejected, n);
    }
    pub fn add_request(&self) {
        inc(&self.requests, 1);
    }
    pub fn add_retry(&self) {
        inc(&self.retries, 1);
    }
    pub fn add_throttled(&self) {
        inc(&self.throttled, 1);
    }
    pub fn add_split(&self) {
        inc(&self.splits, 1);
    }
    pub fn add_done_before(&self, n: u64) {
        inc(&self.done_before, n);
    }
    pub fn read(&self) -> u64 {
        get(&self.read)
    }
    pub fn scored(&self) -> u64 {
        get(&self.scored)
    }
    pub fn rejected(&self) -> u64 {
        get(&self.rejected)
    }
    pub fn requests(&self) -> u64 {
        get(&self.requests)
    }
    pub fn retries(&self) -> u64 {
        get(&self.retries)
    }
    pub fn throttled(&self) -> u64 {
        get(&self.throttled)
    }
    pub fn splits(&self) -> u64 {
        get(&self.splits)
    }
    pub fn done_before(&self) -> u64 {
        get(&self.done_before)
    }
}

/// The progress bar and the task that refreshes it.
pub struct Bar {
    bar: Option<indicatif::ProgressBar>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Bar {
    /// `total_bytes`: the input's size, for the ETA (bytes read track rows well enough, and
    /// for gzip input they are the compressed bytes read).
    pub fn start(
        enabled: bool,
        stats: Arc<Counters>,
        bytes_read: Arc<AtomicU64>,
        total_bytes: Option<u64>,
    ) -> Bar {
        if !enabled {
            return Bar {
                bar: None,
                task: None,
            };
        }
        let bar = match total_bytes {
            Some(n) => indicatif::ProgressBar::with_draw_target(
                Some(n),
                indicatif::ProgressDrawTarget::stderr_with_hz(5),
            ),
            None => indicatif::ProgressBar::with_draw_target(
                None,
                indicatif::ProgressDrawTarget::stderr_with_hz(5),
            ),
        };
        let style = if total_bytes.is_some() {
            "{bar:30} {percent:>3}% {msg} · ETA {eta}"
        } else {
            "{spinner} {msg}"
        };
        if let Ok(s) = indicatif::ProgressStyle::with_template(style) {
            bar.set_style(s);
        }
        let b = bar.clone();
        let task = tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let secs = started.elapsed().as_secs_f64().max(1e-3);
                let done = stats.scored() + stats.rejected();
                b.set_position(bytes_read.load(Ordering::Relaxed));
                b.set_message(format!(
                    "{} rows · {:.0} rows/s · {} retries · {} rejected",
                    done + stats.done_before(),
                    done as f64 / secs,
                    stats.retries(),
                    stats.rejected()
                ));
            }
        });
        Bar {
            bar: Some(bar),
            task: Some(task),
        }
    }

    pub fn finish(self) {
        if let Some(t) = self.task {
            t.abort();
        }
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// The summary line(s) printed to stderr at the end.
pub fn summary(report: &Report, elapsed: Duration) -> String {
    let s = &report.stats;
    let secs = elapsed.as_secs_f64().max(1e-6);
    let rows = s.scored() + s.rejected();
    let mut out = format!(
        "iris-cli: scored {} rows, rejected {} in {:.2} s ({:.0} rows/s); {} requests, {} retried, {} throttled, {} split",
        s.scored(),
        s.rejected(),
        secs,
        rows as f64 / secs,
        s.requests(),
        s.retries(),
        s.throttled(),
        s.splits()
    );
    if report.resumed_from > 0 {
        out.push_str(&format!(
            "; resumed after {} rows done earlier",
            report.resumed_from
        ));
    }
    let h = &report.latency;
    if !h.is_empty() {
        out.push_str(&format!(
            "\niris-cli: request latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; concurrency limit at the end {}",
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max()),
            report.final_limit
        ));
    }
    out
}

pub fn print_summary(report: &Report, elapsed: Duration) {
    eprintln!("{}", summary(report, elapsed));
}

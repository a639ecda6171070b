//! `iris-cli batch FILE`: score a whole CSV through the signed endpoint, fast, in input order,
//! losing nothing.
//!
//! The pipeline (every stage bounded, so memory does not grow with the file):
//!
//! ```text
//! reader thread ──batches──▶ workers (N tasks, AIMD limit, pacing, retries, bisection)
//!   │  (csv, .gz, validation;                       │
//!   │   invalid rows pre-rejected)                  ▼
//!   └─ blocks on the window ◀── releases ── writer thread (reorder buffer, output, rejects,
//!                                                       checkpoints)
//! ```
//!
//! Every data record gets a sequence number. A batch is a contiguous range of sequence numbers;
//! the writer writes batches strictly in sequence order, each row either to the output or to the
//! rejects, so a checkpoint `{rows written, output bytes, rejects bytes}` taken after an fsync
//! describes a consistent prefix of the run. `--resume` truncates both files to the recorded
//! lengths and skips that many input records: the result is byte-for-byte what an uninterrupted
//! run writes.

pub mod checkpoint;
pub mod input;
pub mod output;
pub mod paths;
pub mod progress;
pub mod send;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::TargetKind;
use crate::error::{CliError, Exit};

/// Lambda's synchronous payload limit and SageMaker's InvokeEndpoint body limit (6 MB). The
/// API Gateway path wraps the rows in `{"data": ...}` and Lambda counts the whole event, so
/// requests stay a little under it.
pub const MAX_BODY_BYTES: usize = 6_000_000;

/// A prediction is ~110 bytes of response JSON on the API path; 10 000 rows keep the response
/// (also limited to 6 MB by Lambda) far from the limit.
pub const MAX_ROWS_PER_REQUEST: usize = 10_000;

/// `--output` of `batch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFormat {
    Csv,
    Jsonl,
}

/// How the first line is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderMode {
    Detect,
    Yes,
    No,
}

/// Validated settings of one `batch` run (no clap types).
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// None: standard input.
    pub input: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub format: BatchFormat,
    pub rejects: Option<PathBuf>,
    pub header: HeaderMode,
    pub features: Vec<String>,
    pub allow_missing: bool,
    pub classes: Vec<String>,
    pub rows_per_request: usize,
    pub concurrency: usize,
    pub max_rps: Option<f64>,
    pub max_attempts: u32,
    pub max_retry_wait: Duration,
    pub resume: bool,
    pub restart: bool,
    pub checkpoint_interval: Duration,
    pub progress: bool,
    pub summary: bool,
    pub extra_headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub http: crate::client::HttpSettings,
}

impl BatchOptions {
    /// Rows read but not yet written: the reorder window. Large enough to keep every worker
    /// busy while one request waits out a retry; small enough that memory stays flat.
    pub fn window(&self) -> usize {
        (self.concurrency * self.rows_per_request * 4).max(8192)
    }
}

/// `path` + `suffix` (`out.csv` -> `out.csv.partial`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Why a run stopped early.
#[derive(Debug, Default)]
pub struct Stop {
    /// Ctrl-C or SIGTERM.
    pub interrupted: AtomicBool,
    /// Any reason at all: the reader and the workers check this.
    pub stopping: AtomicBool,
    /// The error that stopped the run (auth rejected, endpoint unreachable, ...).
    pub fatal: Mutex<Option<CliError>>,
}

impl Stop {
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    pub fn interrupt(&self) {
        self.interrupted.store(true, Ordering::Relaxed);
        self.stopping.store(true, Ordering::Relaxed);
    }

    pub fn fail(&self, err: CliError) {
        let mut f = self.fatal.lock().unwrap_or_else(|e| e.into_inner());
        if f.is_none() {
            *f = Some(err);
        }
        self.stopping.store(true, Ordering::Relaxed);
    }

    pub fn take_fatal(&self) -> Option<CliError> {
        self.fatal.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// The command line to continue this run, with secrets replaced by placeholders.
pub fn resume_command() -> String {
    let mut out = vec!["iris-cli".to_string()];
    let mut args = std::env::args().skip(1).peekable();
    while let Some(a) = args.next() {
        let secret_flag = |f: &str| matches!(f, "--secret-key" | "--session-token");
        if let Some((flag, _)) = a.split_once('=').filter(|(f, _)| secret_flag(f)) {
            out.push(format!("{flag}=<{}>", placeholder(flag)));
            continue;
        }
        if secret_flag(&a) {
            out.push(a.clone());
            if args.next().is_some() {
                out.push(format!("<{}>", placeholder(&a)));
            }
            continue;
        }
        if matches!(a.as_str(), "--resume" | "--restart" | "--force") {
            continue;
        }
        out.push(shell_word(&a));
    }
    out.push("--resume".into());
    out.join(" ")
}

fn placeholder(flag: &str) -> &'static str {
    if flag == "--secret-key" {
        "SECRET_KEY"
    } else {
        "SESSION_TOKEN"
    }
}

fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,@%+".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `iris-cli batch`: validate, open the session, run the pipeline, map the outcome to an exit
/// code (README, "Exit codes").
pub async fn run(
    opts: BatchOptions,
    target: crate::session::TargetOptions,
    auth: crate::session::AuthOptions,
) -> anyhow::Result<Exit> {
    // Before anything is opened for writing (even --restart's removals).
    paths::check_distinct(&opts)?;
    let session = crate::session::Session::open(&target, &auth).await?;
    let http = crate::client::http_client(&opts.http, &session.signer.target.url)?;
    let started = Instant::now();
    let report = pipeline(&opts, session, http).await?;
    if opts.summary {
        progress::print_summary(&report, started.elapsed());
    }
    report.exit()
}

/// What a run did.
pub struct Report {
    pub stats: Arc<progress::Counters>,
    pub latency: hdrhistogram::Histogram<u64>,
    pub final_limit: usize,
    pub complete: bool,
    pub interrupted: bool,
    pub fatal: Option<CliError>,
    pub resumable: bool,
    /// Rows already done by earlier runs (from the checkpoint).
    pub resumed_from: u64,
    pub out: Option<PathBuf>,
    pub rejects: Option<PathBuf>,
}

impl Report {
    fn exit(self) -> anyhow::Result<Exit> {
        let resume_hint = || {
            if self.resumable {
                format!("resume with: {}", resume_command())
            } else {
                "the output went to stdout, so this run cannot be resumed".to_string()
            }
        };
        if !self.complete {
            if let Some(err) = self.fatal {
                // A usage error (the model refuses the feature count) needs other options,
                // and --resume refuses changed output-shaping options: say --restart.
                if err.exit == Exit::Usage {
                    return Err(if self.resumable {
                        err.hint("then start over with --restart (a run with other --features cannot be resumed)")
                    } else {
                        err
                    }
                    .into());
                }
                return Err(err.hint(resume_hint()).into());
            }
            if self.interrupted {
                eprintln!("iris-cli: interrupted; {}", resume_hint());
                return Ok(Exit::Interrupted);
            }
            return Err(CliError::new(
                Exit::Failure,
                "the run stopped before every row was written",
            )
            .hint(resume_hint())
            .into());
        }
        let rejected = self.stats.rejected();
        if rejected > 0 {
            let whereto = match &self.rejects {
                Some(p) => format!("see {}", p.display()),
                None => "listed above".to_string(),
            };
            eprintln!("iris-cli: {rejected} row(s) rejected; {whereto}");
            return Ok(Exit::Rejected);
        }
        Ok(Exit::Ok)
    }
}

async fn pipeline(
    opts: &BatchOptions,
    session: crate::session::Session,
    http: reqwest::Client,
) -> anyhow::Result<Report> {
    let session = Arc::new(session);
    let kind = session.signer.target.kind;
    let stop = Arc::new(Stop::default());
    let stats = Arc::new(progress::Counters::default());

    // Resolve the checkpoint before touching any file.
    let mut files = checkpoint::prepare(opts)?;

    // Everything up to the writer may still refuse the run; then the FILE.partial created
    // only to lock it goes again.
    let opened = open_writer(opts, &mut files, &stats, stop.clone());
    if opened.is_err() {
        files.forget_partial();
    }
    let Opened {
        writer,
        layout,
        records,
        total_bytes,
        bytes_read,
        skip,
        window,
        eof,
    } = opened?;
    let (batch_tx, batch_rx) = tokio::sync::mpsc::channel::<input::Batch>(opts.concurrency * 2);
    let (done_tx, done_rx) = tokio::sync::mpsc::unbounded_channel::<output::Done>();
    let writer_stats = stats.clone();
    let writer_handle = std::thread::Builder::new()
        .name("batch-writer".into())
        .spawn(move || writer.run(done_rx, writer_stats))?;

    let reader_handle = {
        let (stop, stats, window, opts, layout, eof) = (
            stop.clone(),
            stats.clone(),
            window.clone(),
            opts.clone(),
            layout.clone(),
            eof.clone(),
        );
        std::thread::Builder::new()
            .name("batch-reader".into())
            .spawn(move || {
                let end = input::read_batches(
                    records, &layout, &opts, kind, skip, &window, &batch_tx, &stop, &stats,
                );
                if let Ok(e) = &end {
                    if e.eof {
                        eof.store(e.records, Ordering::Release);
                    }
                } else {
                    stop.stopping.store(true, Ordering::Relaxed);
                }
                // `batch_tx` drops here, after `eof` is set: the workers finish, then the
                // writer, which reads `eof` once its channel closes.
                end
            })?
    };

    // Signals: the first stops the run gracefully, the second exits at once (the last
    // checkpoint is still consistent with the files on disk).
    let signal_stop = stop.clone();
    let resumable = opts.out.is_some() && opts.input.is_some();
    let mut signal_rx = crate::signal::Signals::new()?;
    let signals = tokio::spawn(async move {
        let mut count = 0;
        loop {
            signal_rx.recv().await;
            count += 1;
            if count == 1 {
                eprintln!(
                    "\niris-cli: stopping: waiting for requests in flight (Ctrl-C again to quit at once)"
                );
                signal_stop.interrupt();
            } else {
                if resumable {
                    eprintln!("iris-cli: quit; resume with: {}", resume_command());
                }
                std::process::exit(i32::from(Exit::Interrupted.code()));
            }
        }
    });

    let bar = progress::Bar::start(opts.progress, stats.clone(), bytes_read, total_bytes);

    let ctx = Arc::new(send::Ctx {
        http,
        session: session.clone(),
        kind,
        classes: opts.classes.clone(),
        format: opts.format,
        headers: send::request_headers(kind, &opts.extra_headers),
        retry: crate::flow::RetryPolicy::new(opts.max_attempts, opts.max_retry_wait),
        limiter: crate::flow::Limiter::new(opts.concurrency),
        pacer: opts.max_rps.map(crate::flow::Pacer::new),
        stop: stop.clone(),
        stats: stats.clone(),
        any_success: AtomicBool::new(false),
    });
    let latency = send::run_workers(ctx.clone(), batch_rx, done_tx, opts.concurrency).await;
    let final_limit = ctx.limiter.limit();
    drop(ctx);

    let read_result = tokio::task::spawn_blocking(move || reader_handle.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the input reader panicked"))?;
    let written = tokio::task::spawn_blocking(move || writer_handle.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the output writer panicked"))?;
    signals.abort();
    bar.finish();

    let written = written?;
    let read_end = match read_result {
        Ok(end) => end,
        Err(e) => return Err(read_failed(e, written.checkpointed).into()),
    };
    let interrupted = stop.interrupted.load(Ordering::Relaxed);
    let fatal = stop.take_fatal();
    let complete = written.complete && read_end.eof && read_end.records == written.rows_done;
    Ok(Report {
        stats,
        latency,
        final_limit,
        complete,
        interrupted,
        fatal,
        resumable: written.checkpointed,
        resumed_from: skip,
        out: opts.out.clone(),
        rejects: opts.rejects.clone(),
    })
}

/// What the run needs once its files are checked and its writer is ready.
struct Opened {
    writer: output::Writer,
    layout: input::Layout,
    records: input::Records,
    total_bytes: Option<u64>,
    bytes_read: Arc<AtomicU64>,
    skip: u64,
    window: Arc<input::Window>,
    eof: output::EofTotal,
}

/// Open the input, learn its layout (before anything is written), check a resumed run's
/// checkpoint against it, and open the writer.
fn open_writer(
    opts: &BatchOptions,
    files: &mut checkpoint::Files,
    stats: &progress::Counters,
    stop: Arc<Stop>,
) -> anyhow::Result<Opened> {
    let input = input::open(opts.input.as_deref())?;
    let total_bytes = input.len;
    let bytes_read = input.bytes_read.clone();
    let identity = input.identity.clone();
    let (layout, records) = input::Layout::detect(input, opts)?;
    if let Some(state) = &files.resume {
        checkpoint::check_compatible(state, &identity, &layout, opts)?;
    }
    let out_header = match opts.format {
        BatchFormat::Csv => output::csv_header(&layout, &opts.classes),
        BatchFormat::Jsonl => String::new(),
    };
    checkpoint::verify_prefixes(files, &out_header)?;
    let skip = files.resume.as_ref().map_or(0, |s| s.rows_done);
    stats.add_done_before(skip);
    let window = Arc::new(input::Window::new(opts.window()));
    let eof: output::EofTotal = Arc::new(AtomicU64::new(u64::MAX));
    let writer = output::Writer::open(
        opts,
        &layout,
        files,
        &identity,
        window.clone(),
        stop,
        eof.clone(),
    )?;
    Ok(Opened {
        writer,
        layout,
        records,
        total_bytes,
        bytes_read,
        skip,
        window,
        eof,
    })
}

/// An input that stopped reading part-way (a damaged or truncated gzip stream, an I/O
/// error): the rows before it are written and checkpointed, so say what resuming can do.
fn read_failed(e: anyhow::Error, checkpointed: bool) -> CliError {
    let (exit, hints) = crate::error::classify(&e);
    let mut err = CliError::new(exit, format!("{e:#}"));
    err.hints = hints;
    if checkpointed {
        err.hint(format!(
            "the rows before it are written and checkpointed; if the input is unchanged (a passing read error), continue with: {}",
            resume_command()
        ))
        .hint("if the file is damaged, --resume will refuse it once it changes: fix it and start over with --restart")
    } else {
        err
    }
}

/// Where a target kind's rows go, for messages.
pub fn describe(kind: TargetKind) -> &'static str {
    kind.protocol().describe()
}

/// Context for an error about a path.
pub fn io_context(what: &str, path: &Path) -> String {
    format!("{what} {}", path.display())
}

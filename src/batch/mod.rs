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
pub mod control;
pub mod input;
pub mod output;
pub mod progress;
pub mod send;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};

use crate::cli::{AuthArgs, HttpArgs, TargetArgs};
use crate::config::TargetKind;
use crate::error::{CliError, Exit};

/// Lambda's synchronous payload limit and SageMaker's InvokeEndpoint body limit (6 MB). The
/// API Gateway path wraps the rows in `{"data": ...}` and Lambda counts the whole event, so
/// requests stay a little under it.
pub const MAX_BODY_BYTES: usize = 6_000_000;

/// A prediction is ~110 bytes of response JSON on the API path; 10 000 rows keep the response
/// (also limited to 6 MB by Lambda) far from the limit.
pub const MAX_ROWS_PER_REQUEST: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BatchFormat {
    Csv,
    Jsonl,
}

#[derive(Debug, Args)]
pub struct BatchArgs {
    /// Input CSV file, '-' for standard input; gzip input (.gz) is detected and read as is.
    #[arg(value_name = "FILE")]
    pub input: PathBuf,

    /// Write the scored rows to FILE (via FILE.partial, renamed at the end) instead of stdout.
    /// Needed for --resume.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = BatchFormat::Csv)]
    pub output: BatchFormat,

    /// Invalid and failed rows go to FILE as CSV (line,column,reason,input). Default with
    /// --out: FILE.rejects.csv beside it; without --out: one line each on stderr.
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,

    /// The first line is a header (default: detected: a first line with no numeric cell).
    /// (`--header` itself is `-H`, an HTTP header, as in `predict`.)
    #[arg(long, conflicts_with = "no_header")]
    pub has_header: bool,

    /// The first line is data.
    #[arg(long)]
    pub no_header: bool,

    /// Feature columns in model order, by header name or 1-based index (default: every
    /// column). Other columns are passed through to the output.
    #[arg(long, value_delimiter = ',', value_name = "COLS")]
    pub features: Vec<String>,

    /// Empty feature cells are sent as missing values (XGBoost handles them). The default.
    #[arg(long, overrides_with = "no_missing")]
    pub allow_missing: bool,

    /// Reject rows with an empty feature cell.
    #[arg(long)]
    pub no_missing: bool,

    /// Class names, comma-separated, in class-index order (output columns p_NAME).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "setosa,versicolor,virginica"
    )]
    pub classes: Vec<String>,

    /// Rows per request (multi-row `data` for the API, multi-line text/csv for SageMaker).
    #[arg(long, default_value_t = 100)]
    pub rows_per_request: usize,

    /// Most requests in flight; the adaptive limit stays at or below it.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,

    /// Most requests started per second (default: unlimited).
    #[arg(long, value_name = "RPS")]
    pub max_rps: Option<f64>,

    /// Attempts per request before its rows go to the rejects (429, 5xx, timeouts and dropped
    /// connections are retried with exponential backoff and full jitter).
    #[arg(long, default_value_t = 6)]
    pub max_attempts: u32,

    /// Continue an interrupted run from the checkpoint beside --out.
    #[arg(long)]
    pub resume: bool,

    /// Discard a checkpoint left by an interrupted run and start over.
    #[arg(long, alias = "force", conflicts_with = "resume")]
    pub restart: bool,

    /// How often the checkpoint is written (after an fsync of the output).
    #[arg(long, value_parser = crate::cli::parse_duration, default_value = "1s")]
    pub checkpoint_interval: Duration,

    /// No progress bar and no summary.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub postman: crate::cli::PostmanArgs,

    #[command(flatten)]
    pub auth: AuthArgs,

    #[command(flatten)]
    pub http: HttpArgs,
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
    pub resume: bool,
    pub restart: bool,
    pub checkpoint_interval: Duration,
    pub progress: bool,
    pub summary: bool,
    pub extra_headers: Vec<(String, String)>,
    pub timeout: Duration,
}

impl BatchOptions {
    pub fn from_args(args: &BatchArgs) -> Result<BatchOptions, CliError> {
        let input = (args.input.as_os_str() != "-").then(|| args.input.clone());
        if input.is_none() && args.auth.secret_key_stdin {
            return Err(CliError::usage(
                "--secret-key-stdin and input from standard input cannot both read stdin",
            ));
        }
        if args.rows_per_request == 0 || args.rows_per_request > MAX_ROWS_PER_REQUEST {
            return Err(CliError::usage(format!(
                "--rows-per-request must be between 1 and {MAX_ROWS_PER_REQUEST}"
            )));
        }
        if args.concurrency == 0 || args.concurrency > 4096 {
            return Err(CliError::usage("--concurrency must be between 1 and 4096"));
        }
        if args.max_attempts == 0 {
            return Err(CliError::usage("--max-attempts must be at least 1"));
        }
        if let Some(rps) = args.max_rps {
            if !(rps.is_finite() && rps > 0.0) {
                return Err(CliError::usage("--max-rps must be a positive number"));
            }
        }
        if args.classes.iter().any(|c| c.trim().is_empty()) {
            return Err(CliError::usage("--classes: empty class name"));
        }
        if (args.resume || args.restart) && args.out.is_none() {
            return Err(CliError::usage(format!(
                "--{} needs --out FILE: only a file output has a checkpoint",
                if args.resume { "resume" } else { "restart" }
            )));
        }
        if args.resume && input.is_none() {
            return Err(CliError::usage(
                "--resume needs an input file: standard input cannot be read again",
            ));
        }
        if args.checkpoint_interval.is_zero() {
            return Err(CliError::usage("--checkpoint-interval must be above zero"));
        }
        let features: Vec<String> = args.features.iter().map(|f| f.trim().to_string()).collect();
        if features.iter().any(String::is_empty) {
            return Err(CliError::usage("--features: empty column name"));
        }
        let header = match (args.has_header, args.no_header) {
            (true, _) => HeaderMode::Yes,
            (_, true) => HeaderMode::No,
            _ => HeaderMode::Detect,
        };
        let rejects = args
            .rejects
            .clone()
            .or_else(|| args.out.as_ref().map(|o| with_suffix(o, ".rejects.csv")));
        if let (Some(out), Some(rej)) = (&args.out, &rejects) {
            if out == rej {
                return Err(CliError::usage("--rejects must differ from --out"));
            }
        }
        let extra_headers = args
            .http
            .headers
            .iter()
            .map(|h| crate::predict::parse_header(h))
            .collect::<Result<Vec<_>, _>>()?;
        let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
        Ok(BatchOptions {
            input,
            out: args.out.clone(),
            format: args.output,
            rejects,
            header,
            features,
            allow_missing: !args.no_missing || args.allow_missing,
            classes: args.classes.iter().map(|c| c.trim().to_string()).collect(),
            rows_per_request: args.rows_per_request,
            concurrency: args.concurrency,
            max_rps: args.max_rps,
            max_attempts: args.max_attempts,
            resume: args.resume,
            restart: args.restart,
            checkpoint_interval: args.checkpoint_interval,
            progress: tty && !args.quiet && std::env::var_os("CI").is_none(),
            summary: !args.quiet,
            extra_headers,
            timeout: args.http.timeout,
        })
    }

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
pub async fn run(args: BatchArgs) -> anyhow::Result<Exit> {
    let opts = BatchOptions::from_args(&args)?;
    let session = crate::session::Session::open(&args.target, &args.auth).await?;
    let http = crate::client::http_client(&crate::client::HttpSettings {
        timeout: args.http.timeout,
        connect_timeout: args.http.connect_timeout,
        ca_bundle: args.http.ca_bundle.clone(),
        insecure: args.http.insecure,
    })?;
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
    let files = checkpoint::prepare(opts)?;

    // The layout (header, features) is known before anything is written.
    let input = input::open(opts.input.as_deref())?;
    let total_bytes = input.len;
    let bytes_read = input.bytes_read.clone();
    let identity = input.identity.clone();
    let (layout, records) = input::Layout::detect(input, opts)?;
    if let Some(state) = &files.resume {
        checkpoint::check_compatible(state, &identity, &layout, opts)?;
    }
    let skip = files.resume.as_ref().map_or(0, |s| s.rows_done);
    stats.add_done_before(skip);

    let window = Arc::new(input::Window::new(opts.window()));
    let eof: output::EofTotal = Arc::new(AtomicU64::new(u64::MAX));
    let (batch_tx, batch_rx) = tokio::sync::mpsc::channel::<input::Batch>(opts.concurrency * 2);
    let (done_tx, done_rx) = tokio::sync::mpsc::unbounded_channel::<output::Done>();

    let writer = output::Writer::open(
        opts,
        &layout,
        &files,
        &identity,
        window.clone(),
        stop.clone(),
        eof.clone(),
    )?;
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
    let signals = tokio::spawn(async move {
        let mut count = 0;
        loop {
            wait_for_signal().await;
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
        max_attempts: opts.max_attempts,
        limiter: control::Limiter::new(opts.concurrency),
        pacer: opts.max_rps.map(control::Pacer::new),
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

    let read_end = read_result?;
    let written = written?;
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

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

/// Where a target kind's rows go, for messages.
pub fn describe(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::ApiGateway => "API",
        TargetKind::SageMaker => "SageMaker endpoint",
    }
}

/// Context for an error about a path.
pub fn io_context(what: &str, path: &Path) -> String {
    format!("{what} {}", path.display())
}

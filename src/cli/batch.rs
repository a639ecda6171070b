//! `iris-cli batch` arguments and their conversion into [`BatchOptions`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{values, AuthArgs, HttpArgs, TargetArgs};
use crate::batch::{with_suffix, BatchFormat, BatchOptions, HeaderMode, MAX_ROWS_PER_REQUEST};
use crate::error::CliError;
use crate::session::{AuthOptions, TargetOptions};

fn rows_per_request(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_ROWS_PER_REQUEST).contains(&n) => Ok(n),
        _ => Err(format!(
            "'{s}' must be between 1 and {MAX_ROWS_PER_REQUEST}"
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BatchFormatArg {
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
    #[arg(long, short = 'o', value_enum, default_value_t = BatchFormatArg::Csv)]
    pub output: BatchFormatArg,

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
    #[arg(long, default_value_t = 100, value_parser = rows_per_request)]
    pub rows_per_request: usize,

    /// Most requests in flight; the adaptive limit stays at or below it.
    #[arg(long, default_value_t = 8, value_parser = values::count)]
    pub concurrency: usize,

    /// Most requests started per second (default: unlimited).
    #[arg(long, value_name = "RPS", value_parser = values::positive_f64)]
    pub max_rps: Option<f64>,

    /// Attempts per request before its rows go to the rejects (429, 5xx, timeouts and dropped
    /// connections are retried with exponential backoff and full jitter).
    #[arg(long, default_value_t = 6, value_parser = values::attempts)]
    pub max_attempts: u32,

    /// Longest wait before a retry, whatever Retry-After asks for.
    #[arg(long, default_value = "30s", value_parser = values::parse_duration)]
    pub max_retry_wait: Duration,

    /// Continue an interrupted run from the checkpoint beside --out.
    #[arg(long)]
    pub resume: bool,

    /// Discard a checkpoint left by an interrupted run and start over.
    #[arg(long, alias = "force", conflicts_with = "resume")]
    pub restart: bool,

    /// How often the checkpoint is written (after an fsync of the output).
    #[arg(long, value_parser = values::positive_duration, default_value = "1s")]
    pub checkpoint_interval: Duration,

    /// No progress bar and no summary.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub postman: super::PostmanArgs,

    #[command(flatten)]
    pub auth: AuthArgs,

    #[command(flatten)]
    pub http: HttpArgs,
}

impl BatchArgs {
    pub fn options(&self) -> Result<(BatchOptions, TargetOptions, AuthOptions), CliError> {
        let args = self;
        let input = (args.input.as_os_str() != "-").then(|| args.input.clone());
        if input.is_none() && args.auth.secret_key_stdin {
            return Err(CliError::usage(
                "--secret-key-stdin and input from standard input cannot both read stdin",
            ));
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
        // Which files may not be the same is batch::paths::check_distinct's one check.
        let extra_headers = args.http.extra_headers()?;
        let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let opts = BatchOptions {
            input,
            out: args.out.clone(),
            format: match args.output {
                BatchFormatArg::Csv => BatchFormat::Csv,
                BatchFormatArg::Jsonl => BatchFormat::Jsonl,
            },
            rejects,
            header,
            features,
            allow_missing: !args.no_missing || args.allow_missing,
            classes: args.classes.iter().map(|c| c.trim().to_string()).collect(),
            rows_per_request: args.rows_per_request,
            concurrency: args.concurrency,
            max_rps: args.max_rps,
            max_attempts: args.max_attempts,
            max_retry_wait: args.max_retry_wait,
            resume: args.resume,
            restart: args.restart,
            checkpoint_interval: args.checkpoint_interval,
            progress: tty && !args.quiet && std::env::var_os("CI").is_none(),
            summary: !args.quiet,
            extra_headers,
            timeout: args.http.timeout,
            http: args.http.settings(),
        };
        Ok((opts, args.target.options(), args.auth.options()))
    }
}

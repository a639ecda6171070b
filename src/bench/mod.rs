//! `iris-cli bench` (open- or closed-loop load test of a signed model API) and
//! `iris-cli report merge` (combine interval logs from several machines).
//!
//! Layout: `schedule` (when each request is due), `worker` (the one worker loop and the run
//! around it), `recorder` (histograms and counters), `report` (human/JSON report and
//! `--fail-if`), `hdrlog` (HdrHistogram interval logs, merge), `html` (self-contained page).

pub mod hdrlog;
pub mod html;
pub mod recorder;
pub mod report;
pub mod schedule;
pub mod worker;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use clap::{Args, Subcommand, ValueEnum};

use crate::cli::{parse_duration, AuthArgs, HttpArgs, OutputFormat, TargetArgs};
use crate::client::Signer;
use crate::config::TargetKind;
use crate::error::{CliError, Exit};
use report::{Report, RunResult, Threshold};
use schedule::Schedule;
use worker::{BenchTarget, EngineConfig, Load, Plan};

/// Where `bench` sends requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetChoice {
    /// The API Gateway invoke URL (--url, or the emulator with --local).
    Apigw,
    /// The SageMaker endpoint directly (--endpoint-name, or the emulator's with --local).
    Sagemaker,
    /// Both, alternating on one schedule: statistics side by side, with the difference.
    Both,
}

/// Load test: a fixed arrival rate (--rps, --ramp) that never waits for responses, latency
/// measured from when each request was due; or a closed loop (--concurrency).
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Open loop: requests per second (request i is due at start + i/R).
    #[arg(long, conflicts_with = "ramp")]
    pub rps: Option<f64>,

    /// Open loop with stages: `0..200/30s,200/60s` ramps 0->200 rps over 30 s, then holds 200
    /// for 60 s.
    #[arg(long, value_name = "STAGES")]
    pub ramp: Option<String>,

    /// Open loop: most requests in flight at once (late requests wait for a slot and are
    /// measured from their due time).
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub max_in_flight: usize,

    /// Closed loop (without --rps/--ramp): N workers, each sending when its previous request
    /// completes.
    #[arg(long, short = 'c', value_name = "N", conflicts_with_all = ["rps", "ramp"])]
    pub concurrency: Option<usize>,

    /// Run time after the warmup (default 10s, or the length of --ramp).
    #[arg(long, short = 'z', value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Measured requests to send (the run stops at --requests or --duration, whichever first).
    #[arg(long, short = 'n')]
    pub requests: Option<u64>,

    /// Send but leave out of every statistic the requests of the first DURATION (cold starts).
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub warmup: Duration,

    /// apigw, sagemaker or both.
    #[arg(long = "target", value_enum, default_value_t = TargetChoice::Apigw)]
    pub target_choice: TargetChoice,

    /// With --target both: the SageMaker endpoint name (default with --local: the emulator's).
    #[arg(long, value_name = "NAME")]
    pub sagemaker_endpoint: Option<String>,

    /// With --target both: the SageMaker runtime base URL.
    #[arg(long, value_name = "URL")]
    pub sagemaker_endpoint_url: Option<String>,

    /// Features as CSV for every request, e.g. 5.1,3.5,1.4,0.2 (the default).
    #[arg(long, short = 'd', conflicts_with_all = ["body_file", "payload_csv"])]
    pub data: Option<String>,

    /// Raw request body for every request.
    #[arg(long, value_name = "FILE", conflicts_with = "payload_csv")]
    pub body_file: Option<PathBuf>,

    /// Raw request body for every request, given inline (JSON for the API).
    #[arg(long, conflicts_with_all = ["data", "body_file", "payload_csv"])]
    pub body: Option<String>,

    /// Rotate over the rows of this CSV file (a header row is skipped).
    #[arg(long, value_name = "FILE")]
    pub payload_csv: Option<PathBuf>,

    /// Content-Type (default: application/json for the API, text/csv for SageMaker).
    #[arg(long)]
    pub content_type: Option<String>,

    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,

    /// Write an HdrHistogram interval log (one interval per second; `report merge` reads it).
    #[arg(long, value_name = "FILE")]
    pub hdr_log: Option<PathBuf>,

    /// Write a self-contained HTML report (inline SVG charts).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,

    /// Exit 1 when a condition breaks, e.g. 'p99<200ms,errors<1%' (also service.p99, lag.p99,
    /// p999, max, errors<N, rps>=N).
    #[arg(long, value_name = "CONDITIONS")]
    pub fail_if: Option<String>,

    /// No progress line on stderr.
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

/// Work with saved results.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: ReportCommand,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Combine `bench --hdr-log` files (e.g. from several machines): histograms are added per
    /// series, then the usual report is printed.
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Interval logs written by `iris-cli bench --hdr-log`.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,

    /// Write a self-contained HTML report.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,

    /// Exit 1 when a condition breaks (as for `bench`).
    #[arg(long, value_name = "CONDITIONS")]
    pub fail_if: Option<String>,
}

/// A payload as feature rows (encoded per target) or raw bytes.
enum Payload {
    Rows(Vec<String>),
    Raw(Vec<u8>),
}

/// Read `--payload-csv`: one request per row, its feature columns only (the rule `batch`
/// uses, `columns`); the note says which columns were left out.
pub fn read_payload_csv(path: &Path) -> Result<(Vec<String>, Option<String>), CliError> {
    crate::columns::payload_rows(path)
}

fn bodies(payload: &Payload, kind: TargetKind) -> Vec<Bytes> {
    match payload {
        Payload::Raw(b) => vec![Bytes::from(b.clone())],
        Payload::Rows(rows) => rows
            .iter()
            .map(|r| match kind {
                TargetKind::ApiGateway => Bytes::from(serde_json::json!({ "data": r }).to_string()),
                TargetKind::SageMaker => Bytes::from(r.clone()),
            })
            .collect(),
    }
}

fn plan(args: &BenchArgs) -> Result<Plan, CliError> {
    let load = if let Some(r) = args.rps {
        if !(r.is_finite() && r > 0.0) {
            return Err(CliError::usage("--rps must be a positive number"));
        }
        Load::Open(Schedule::constant(r))
    } else if let Some(ramp) = &args.ramp {
        Load::Open(Schedule::ramp(
            schedule::parse_ramp(ramp).map_err(CliError::usage)?,
        ))
    } else {
        Load::Closed
    };
    let workers = match (&load, args.concurrency) {
        (Load::Closed, c) => c.unwrap_or(10),
        (Load::Open(_), _) => args.max_in_flight,
    };
    if workers == 0 {
        return Err(CliError::usage(
            "--max-in-flight and --concurrency must be at least 1",
        ));
    }
    if args.requests == Some(0) {
        return Err(CliError::usage("--requests must be at least 1"));
    }
    if args.duration == Some(Duration::ZERO) {
        return Err(CliError::usage("--duration must be positive"));
    }
    let end = match (args.duration, &load) {
        (Some(d), _) => Some(args.warmup + d),
        (None, Load::Open(s)) if s.ramp_secs() > 0.0 => {
            Some(Duration::from_secs_f64(s.ramp_secs()).max(args.warmup))
        }
        (None, _) if args.requests.is_some() => None,
        (None, _) => Some(args.warmup + Duration::from_secs(10)),
    };
    Ok(Plan {
        load,
        workers,
        warmup: args.warmup,
        end,
        requests: args.requests,
    })
}

fn parse_fail_if(s: Option<&str>) -> Result<Vec<Threshold>, CliError> {
    match s {
        Some(s) => report::parse_thresholds(s).map_err(CliError::usage),
        None => Ok(Vec::new()),
    }
}

/// The SageMaker side of `--target both`: its own session (so temporary credentials refresh
/// on both sides), aimed at the same emulator with `--local`.
async fn sagemaker_session(
    args: &BenchArgs,
    first: &Signer,
) -> anyhow::Result<crate::session::Session> {
    let u = &first.target.url;
    let origin = format!(
        "{}://{}{}",
        u.scheme(),
        u.host_str().unwrap_or_default(),
        u.port().map(|p| format!(":{p}")).unwrap_or_default()
    );
    let (name, url) = match (&args.sagemaker_endpoint, args.target.local) {
        (Some(n), _) => (n.clone(), args.sagemaker_endpoint_url.clone()),
        (None, true) => (
            crate::emulator::EmulatorConfig::default().endpoint_name,
            Some(args.sagemaker_endpoint_url.clone().unwrap_or(origin)),
        ),
        (None, false) => {
            return Err(CliError::usage(
                "--target both needs --sagemaker-endpoint NAME (and --sagemaker-endpoint-url for a non-AWS host)",
            )
            .into())
        }
    };
    let target = TargetArgs {
        url: None,
        endpoint_name: Some(name),
        endpoint_url: url,
        local: false,
        region: Some(first.target.scope.region.clone()),
        service: None,
    };
    let mut auth = args.auth.clone();
    let creds = first.credentials();
    if args.target.local && auth.access_key.is_none() || auth.secret_key_stdin {
        // Static keys already known (the emulator's, or read once from stdin).
        auth.access_key = Some(creds.access_key_id().to_string());
        auth.secret_key = Some(creds.secret_access_key().to_string());
        auth.secret_key_stdin = false;
        auth.session_token = creds.session_token().map(str::to_string);
    }
    crate::session::Session::open(&target, &auth).await
}

/// `iris-cli bench`.
pub async fn run_bench(args: BenchArgs) -> anyhow::Result<Exit> {
    let plan = plan(&args)?;
    let thresholds = parse_fail_if(args.fail_if.as_deref())?;
    if args.auth.secret_key_stdin && args.body_file.as_deref() == Some(Path::new("-")) {
        return Err(CliError::usage(
            "--secret-key-stdin and --body-file - cannot both read standard input",
        )
        .into());
    }
    let payload = if let Some(d) = &args.data {
        Payload::Rows(crate::predict::parse_rows(d)?)
    } else if let Some(p) = &args.body_file {
        if args.target_choice == TargetChoice::Both {
            return Err(CliError::usage(
                "--target both sends a JSON body to the API and CSV to SageMaker: use --data or --payload-csv, not --body-file",
            )
            .into());
        }
        Payload::Raw(crate::predict::read_body_file(p)?)
    } else if let Some(b) = &args.body {
        Payload::Raw(b.clone().into_bytes())
    } else if let Some(p) = &args.payload_csv {
        let (rows, note) = read_payload_csv(p)?;
        if let (Some(note), false) = (note, args.quiet) {
            eprintln!("iris-cli: {}: {note}", p.display());
        }
        Payload::Rows(rows)
    } else {
        Payload::Rows(vec!["5.1,3.5,1.4,0.2".into()])
    };
    let extra_headers = args
        .http
        .headers
        .iter()
        .map(|h| crate::predict::parse_header(h))
        .collect::<Result<Vec<_>, _>>()?;
    let mut target_args = args.target.clone();
    if args.target_choice == TargetChoice::Sagemaker
        && target_args.local
        && target_args.endpoint_name.is_none()
    {
        target_args.endpoint_name = Some(crate::emulator::EmulatorConfig::default().endpoint_name);
    }
    if args.target_choice == TargetChoice::Both && target_args.endpoint_name.is_some() {
        return Err(CliError::usage(
            "--target both: give the API with --url (or --local) and the endpoint with --sagemaker-endpoint",
        )
        .into());
    }
    let session = crate::session::Session::open(&target_args, &args.auth).await?;
    let kind = session.signer.target.kind;
    match (args.target_choice, kind) {
        (TargetChoice::Sagemaker, TargetKind::ApiGateway) => {
            return Err(CliError::usage(
                "--target sagemaker needs --endpoint-name (or --local)",
            )
            .into())
        }
        (TargetChoice::Apigw | TargetChoice::Both, TargetKind::SageMaker) => {
            return Err(CliError::usage(
                "--target apigw/both needs the API's --url (or --local); --endpoint-name is for --target sagemaker",
            )
            .into())
        }
        _ => {}
    }
    let second = if args.target_choice == TargetChoice::Both {
        Some(sagemaker_session(&args, &session.signer).await?)
    } else {
        None
    };
    // Only the signer moves out: the rest of `session` (with --local, the emulator) lives to
    // the end of this function.
    let first = Arc::new(session.signer);
    let mut signers = vec![first];
    if let Some(s) = second {
        signers.push(Arc::new(s.signer));
    }
    let targets: Vec<BenchTarget> = signers
        .into_iter()
        .map(|signer| {
            let kind = signer.target.kind;
            let content_type = args
                .content_type
                .clone()
                .unwrap_or_else(|| kind.default_content_type().to_string());
            let mut headers = vec![("content-type".to_string(), content_type)];
            headers.extend(extra_headers.iter().cloned());
            BenchTarget {
                name: match kind {
                    TargetKind::ApiGateway => "apigw",
                    TargetKind::SageMaker => "sagemaker",
                }
                .into(),
                bodies: bodies(&payload, kind),
                headers,
                signer,
            }
        })
        .collect();
    // Fail on a signing problem now rather than counting it on every request.
    for t in &targets {
        t.signer.sign(&t.headers, &t.bodies[0])?;
    }
    let client = crate::client::http_client(&crate::client::HttpSettings {
        timeout: args.http.timeout,
        connect_timeout: args.http.connect_timeout,
        ca_bundle: args.http.ca_bundle.clone(),
        insecure: args.http.insecure,
    })?;
    let progress = !args.quiet && std::io::stderr().is_terminal();
    let run = worker::run(EngineConfig {
        plan,
        targets,
        client,
        timeout: args.http.timeout,
        connect_timeout: args.http.connect_timeout,
        hdr_log: args.hdr_log.clone(),
        progress,
    })
    .await?;
    finish(&run, args.output, args.html.as_deref(), &thresholds, true)
}

/// `iris-cli report merge`.
pub async fn run_report(args: ReportArgs) -> anyhow::Result<Exit> {
    match args.command {
        ReportCommand::Merge(m) => {
            let thresholds = parse_fail_if(m.fail_if.as_deref())?;
            let run = hdrlog::merge(&m.files)
                .map_err(|e| CliError::new(Exit::Failure, format!("{e:#}")))?;
            finish(&run, m.output, m.html.as_deref(), &thresholds, false)
        }
    }
}

/// Print the report, write the HTML page, decide the exit code.
fn finish(
    run: &RunResult,
    output: OutputFormat,
    html_path: Option<&Path>,
    thresholds: &[Threshold],
    live: bool,
) -> anyhow::Result<Exit> {
    let mut r = Report::build(run);
    r.thresholds = report::check(thresholds, run, &r);
    if let Some(p) = html_path {
        write_atomic(p, html::render(run, &r).as_bytes())
            .with_context(|| format!("cannot write --html {}", p.display()))?;
    }
    let text = match output {
        OutputFormat::Json => serde_json::to_string_pretty(&r)? + "\n",
        OutputFormat::Human => report::render_human(&r),
    };
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
    }
    let broken: Vec<&str> = r
        .thresholds
        .iter()
        .filter(|t| !t.ok)
        .map(|t| t.expr.as_str())
        .collect();
    if !broken.is_empty() {
        eprintln!("iris-cli: --fail-if broken: {}", broken.join(", "));
        return Ok(Exit::Failure);
    }
    let m = &run.totals;
    if live
        && m.completed > 0
        && m.error_count(recorder::ErrorKind::Connection)
            + m.error_count(recorder::ErrorKind::Timeout)
            == m.completed
    {
        eprintln!("iris-cli: error: every request failed to connect or timed out");
        return Ok(Exit::Network);
    }
    Ok(Exit::Ok)
}

/// Write to a temporary file beside `path`, then rename: no half-written file is left.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("out"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_per_target() {
        let p = Payload::Rows(vec!["5.1,3.5,1.4,0.2".into()]);
        assert_eq!(
            bodies(&p, TargetKind::ApiGateway)[0],
            Bytes::from_static(br#"{"data":"5.1,3.5,1.4,0.2"}"#)
        );
        assert_eq!(
            bodies(&p, TargetKind::SageMaker)[0],
            Bytes::from_static(b"5.1,3.5,1.4,0.2")
        );
    }
}

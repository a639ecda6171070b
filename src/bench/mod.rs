//! `iris-cli bench` (open- or closed-loop load test of a signed model API) and
//! `iris-cli report merge` (combine interval logs from several machines).
//!
//! Layout: `schedule` (when each request is due), `worker` (the one worker loop and the run
//! around it), `recorder` (histograms and counters), `report` (human/JSON report and
//! `--fail-if`), `hdrlog` (HdrHistogram interval logs, merge), `html` (self-contained page).

pub mod cloudwatch;
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

use crate::config::TargetKind;
use crate::error::{CliError, Exit};
use crate::flow::RetryPolicy;
use crate::output::Format;
use crate::protocol::{Protocol, RequestSpec};
use crate::session::{AuthOptions, TargetOptions};
use report::{Report, RunResult, Threshold};
use schedule::{CopyIndex, StartAt};

use worker::{BenchTarget, EngineConfig, Plan};

/// Where `bench` sends requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetChoice {
    /// The API Gateway invoke URL (--url, or the emulator with --local).
    Apigw,
    /// The SageMaker endpoint directly (--endpoint-name, or the emulator's with --local).
    Sagemaker,
    /// Both, alternating on one schedule: statistics side by side, with the difference.
    Both,
}

/// Where the request bodies come from.
#[derive(Debug, Clone)]
pub enum PayloadSource {
    /// `--data`: feature rows.
    Data(String),
    /// `--body-file` ('-' for standard input).
    BodyFile(PathBuf),
    /// `--body` (or a Postman request's body): raw bytes.
    Body(Vec<u8>),
    /// `--payload-csv`: one request per row.
    PayloadCsv(PathBuf),
    /// One iris row.
    Default,
}

/// Validated settings of one `bench` run (no clap types).
#[derive(Debug)]
pub struct BenchOptions {
    pub plan: Plan,
    pub thresholds: Vec<Threshold>,
    pub load: LoadTarget,
    pub output: Format,
    pub hdr_log: Option<PathBuf>,
    pub html: Option<PathBuf>,
    pub quiet: bool,
    /// Attempts after the first for a failed request (0: report failures as they are).
    pub retries: u32,
    pub max_retry_wait: Duration,
    /// `--start-at`, `--start-file`, `--copy`.
    pub start_at: Option<StartAt>,
    pub start_file: Option<PathBuf>,
    pub copy: Option<CopyIndex>,
    /// The load in a canonical form, equal for every copy of one schedule (in the log).
    pub schedule: String,
    /// `--cloudwatch`: AWS's metrics for the run's window afterwards.
    pub cloudwatch: Option<cloudwatch::CloudWatchOptions>,
}

/// `report cloudwatch`.
#[derive(Debug)]
pub struct CloudWatchReportOptions {
    /// Epoch seconds.
    pub start: i64,
    pub end: i64,
    pub sagemaker_endpoint: Option<String>,
    pub output: Format,
    pub cloudwatch: cloudwatch::CloudWatchOptions,
    pub target: TargetOptions,
    pub auth: AuthOptions,
}

/// Where the load goes and what it sends: the part `bench` and `capacity` share.
#[derive(Debug, Clone)]
pub struct LoadTarget {
    pub target_choice: TargetChoice,
    pub sagemaker_endpoint: Option<String>,
    pub sagemaker_endpoint_url: Option<String>,
    pub payload: PayloadSource,
    pub content_type: Option<String>,
    pub extra_headers: Vec<(String, String)>,
    pub http: crate::client::HttpSettings,
    pub target: TargetOptions,
    pub auth: AuthOptions,
}

/// The targets of a run, signed and ready, with the HTTP client and the engine's connector.
/// Holds the sessions' remains (with `--local`, the embedded emulator), so keep it alive for
/// as long as requests go out.
pub struct Prepared {
    pub targets: Vec<BenchTarget>,
    pub client: reqwest::Client,
    pub connector: worker::Connector,
    /// With `--local`: the embedded emulator's main URL (it serves GetMetricData too).
    pub emulator_endpoint_url: Option<String>,
    _keep: crate::session::KeepAlive,
}

/// `report merge`.
#[derive(Debug)]
pub struct MergeOptions {
    pub files: Vec<PathBuf>,
    pub output: Format,
    pub html: Option<PathBuf>,
    pub thresholds: Vec<Threshold>,
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

fn bodies(payload: &Payload, protocol: &dyn Protocol) -> Vec<Bytes> {
    match payload {
        Payload::Raw(b) => vec![Bytes::from(b.clone())],
        Payload::Rows(rows) => rows
            .iter()
            .map(|r| Bytes::from(protocol.body(&[r.as_str()])))
            .collect(),
    }
}

/// `--start-at` as an instant, refused when already past: a copy that starts late would
/// leave a hole in the shared schedule (or burst to catch up).
fn start_instant(args: &BenchOptions) -> Result<Option<std::time::SystemTime>, CliError> {
    start_at(
        args.start_at,
        args.start_file.as_deref(),
        args.copy,
        args.quiet,
        "bench: schedule",
    )
}

/// `--start-at` (with `--start-file`) as an instant, for bench and capacity; `what` names
/// what starts then in the message.
pub fn start_at(
    start: Option<StartAt>,
    start_file: Option<&Path>,
    copy: Option<CopyIndex>,
    quiet: bool,
    what: &str,
) -> Result<Option<std::time::SystemTime>, CliError> {
    let Some(start) = start else {
        return Ok(None);
    };
    let now = std::time::SystemTime::now();
    let mut at = start.instant(now);
    if let Some(file) = start_file {
        at = rendezvous(file, at)?;
    }
    if let Ok(ago) = now.duration_since(at) {
        if ago > Duration::from_secs(1) {
            return Err(CliError::usage(format!(
                "--start-at {} was {:.1} s ago{}: give every copy time to start (pick an instant further ahead)",
                schedule::fmt_rfc3339(at),
                ago.as_secs_f64(),
                start_file
                    .map(|f| format!(" (from --start-file {}, left by an earlier run?)", f.display()))
                    .unwrap_or_default()
            )));
        }
    }
    if copy.is_some_and(|c| c.n > 1) && matches!(start, StartAt::FromNow(_)) && start_file.is_none()
    {
        eprintln!(
            "iris-cli: warning: a relative --start-at counts from this process's start; copies started separately need one absolute time (RFC 3339)"
        );
    }
    if !quiet {
        let wait = at.duration_since(now).unwrap_or_default().as_secs_f64();
        let copy = copy.map(|c| format!(" as copy {c}")).unwrap_or_default();
        eprintln!(
            "iris-cli: {what} starts at {}{copy} (in {wait:.1} s)",
            schedule::fmt_rfc3339(at)
        );
    }
    Ok(Some(at))
}

/// `--start-file`: the first copy creates FILE (O_EXCL, so exactly one wins, also on NFS)
/// holding its instant; every copy returns the instant FILE holds.
fn rendezvous(file: &Path, mine: std::time::SystemTime) -> Result<std::time::SystemTime, CliError> {
    let bad = |e: String| CliError::usage(format!("--start-file {}: {e}", file.display()));
    // The file holds milliseconds: the first copy starts at what it writes, as the others do.
    let since = mine
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mine = std::time::UNIX_EPOCH + Duration::from_millis(since.as_millis() as u64);
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(file)
    {
        Ok(mut f) => {
            let line = schedule::fmt_rfc3339(mine) + "\n";
            f.write_all(line.as_bytes())
                .and_then(|_| f.sync_all())
                .map_err(|e| bad(e.to_string()))?;
            return Ok(mine);
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(bad(e.to_string())),
    }
    // Another copy created it; its one short write may not have landed yet.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(file).map_err(|e| bad(e.to_string()))?;
        if text.ends_with('\n') {
            return match schedule::parse_start_at(&text) {
                Ok(StartAt::At(t)) => Ok(t),
                Ok(StartAt::FromNow(_)) => Err(bad("holds a relative time".into())),
                Err(e) => Err(bad(format!("'{}': {e}", text.trim()))),
            };
        }
        if std::time::Instant::now() > deadline {
            return Err(bad(format!("'{}' is incomplete after 5 s", text.trim())));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The SageMaker side of `--target both`: its own session (so temporary credentials refresh
/// on both sides), aimed at the same emulator with `--local`.
async fn sagemaker_session(
    opts: &LoadTarget,
    first: &crate::session::Session,
) -> anyhow::Result<crate::session::Session> {
    // The emulator's main port: with --api function-url the first URL is on the function
    // URL's own port, which serves nothing else.
    let emulator = first.emulator_endpoint_url();
    let first = &first.signer;
    let u = &first.target.url;
    let origin = format!(
        "{}://{}{}",
        u.scheme(),
        u.host_str().unwrap_or_default(),
        u.port().map(|p| format!(":{p}")).unwrap_or_default()
    );
    let (name, url) = match (&opts.sagemaker_endpoint, opts.target.local) {
        (Some(n), _) => (n.clone(), opts.sagemaker_endpoint_url.clone()),
        (None, true) => (
            crate::emulator::EmulatorConfig::default().endpoint_name,
            Some(
                opts.sagemaker_endpoint_url
                    .clone()
                    .or(emulator)
                    .unwrap_or(origin),
            ),
        ),
        (None, false) => {
            return Err(CliError::usage(
                "--target both needs --sagemaker-endpoint NAME (and --sagemaker-endpoint-url for a non-AWS host)",
            )
            .into())
        }
    };
    let target = TargetOptions {
        url: None,
        endpoint_name: Some(name),
        endpoint_url: url,
        local: false,
        region: Some(first.target.scope.region.clone()),
        service: None,
        api: None,
    };
    let mut auth = opts.auth.clone();
    let creds = first.credentials();
    if opts.target.local && auth.access_key.is_none() || auth.secret_key_stdin {
        // Static keys already known (the emulator's, or read once from stdin).
        auth.access_key = Some(creds.access_key_id().to_string());
        auth.secret_key = Some(creds.secret_access_key().to_string());
        auth.secret_key_stdin = false;
        auth.session_token = creds.session_token().map(str::to_string);
    }
    crate::session::Session::open(&target, &auth).await
}

/// Open the sessions (one per target), encode the bodies, check that signing works.
/// `quiet` silences the note on which `--payload-csv` columns were sent.
pub async fn prepare(opts: &LoadTarget, quiet: bool) -> anyhow::Result<Prepared> {
    let payload = match &opts.payload {
        PayloadSource::Data(d) => Payload::Rows(crate::predict::parse_rows(d)?),
        PayloadSource::BodyFile(p) => Payload::Raw(crate::predict::read_body_file(p)?),
        PayloadSource::Body(b) => Payload::Raw(b.clone()),
        PayloadSource::PayloadCsv(p) => {
            let (rows, note) = read_payload_csv(p)?;
            if let (Some(note), false) = (note, quiet) {
                eprintln!("iris-cli: {}: {note}", p.display());
            }
            Payload::Rows(rows)
        }
        PayloadSource::Default => Payload::Rows(vec!["5.1,3.5,1.4,0.2".into()]),
    };
    let mut target_opts = opts.target.clone();
    if opts.target_choice == TargetChoice::Sagemaker
        && target_opts.local
        && target_opts.endpoint_name.is_none()
    {
        target_opts.endpoint_name = Some(crate::emulator::EmulatorConfig::default().endpoint_name);
    }
    let session = crate::session::Session::open(&target_opts, &opts.auth).await?;
    let kind = session.signer.target.kind;
    match (opts.target_choice, kind) {
        (TargetChoice::Sagemaker, k) if k.is_api() => {
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
    let second = if opts.target_choice == TargetChoice::Both {
        Some(sagemaker_session(opts, &session).await?)
    } else {
        None
    };
    // The signer is shared by the workers; the rest of `session` (with --local, the emulator)
    // lives in `Prepared`.
    let emulator_endpoint_url = session.emulator_endpoint_url();
    let (signer, keep) = session.split();
    let first = Arc::new(signer);
    let mut signers = vec![first];
    if let Some(s) = second {
        signers.push(Arc::new(s.signer));
    }
    let targets: Vec<BenchTarget> = signers
        .into_iter()
        .map(|signer| {
            let protocol = signer.target.kind.protocol();
            let request = RequestSpec {
                content_type: opts.content_type.clone(),
                accept: None,
                extra_headers: opts.extra_headers.clone(),
            };
            BenchTarget {
                name: protocol.name().into(),
                bodies: bodies(&payload, protocol),
                headers: protocol.headers(&request),
                signer,
            }
        })
        .collect();
    // Fail on a signing problem now rather than counting it on every request.
    for t in &targets {
        t.signer.sign(&t.headers, &t.bodies[0])?;
    }
    let client = crate::client::http_client(&opts.http, &targets[0].signer.target.url)?;
    // TLS roots are loaded only when a target needs them.
    let tls = if targets
        .iter()
        .any(|t| t.signer.target.url.scheme() == "https")
    {
        Some(crate::tls::client_config(&opts.http)?)
    } else {
        None
    };
    let connector = worker::Connector::new(tls, opts.http.http_version);
    Ok(Prepared {
        targets,
        client,
        connector,
        emulator_endpoint_url,
        _keep: keep,
    })
}

/// `iris-cli bench`.
pub async fn run_bench(opts: BenchOptions) -> anyhow::Result<Exit> {
    let start_at = start_instant(&opts)?;
    let prepared = prepare(&opts.load, opts.quiet).await?;
    let progress = !opts.quiet && std::io::stderr().is_terminal();
    let targets = prepared.targets.clone();
    let run_info = hdrlog::RunInfo {
        target: targets
            .iter()
            .map(|t| t.signer.target.url.as_str())
            .collect::<Vec<_>>()
            .join(","),
        schedule: opts.schedule.clone(),
        start_at_epoch: start_at.map(hdrlog::started_epoch),
        copy: opts.copy.map(|c| [c.k, c.n]),
    };
    let run = worker::run(EngineConfig {
        plan: opts.plan.clone(),
        targets,
        client: prepared.client.clone(),
        timeout: opts.load.http.timeout,
        connect_timeout: opts.load.http.connect_timeout,
        hdr_log: opts.hdr_log.clone(),
        progress,
        retry: RetryPolicy::new(opts.retries + 1, opts.max_retry_wait),
        connector: prepared.connector.clone(),
        start_at,
        run_info,
        control: None,
    })
    .await?;
    let (cw, cw_err) = match &opts.cloudwatch {
        Some(c) => {
            let r = Report::build(&run);
            let side = client_side(&r, prepared.targets[0].signer.target.kind);
            match cloudwatch_after(&prepared, &opts.load, c, side, run.meta.started_epoch).await {
                Ok(c) => (Some(c), None),
                Err(e) => (None, Some(e)),
            }
        }
        None => (None, None),
    };
    let exit = finish(
        &run,
        opts.output,
        opts.html.as_deref(),
        &opts.thresholds,
        true,
        cw,
    )?;
    match cw_err {
        Some(e) => Err(e.into()),
        None => Ok(exit),
    }
}

/// `--cloudwatch` after a run (bench's, or capacity's whole search): AWS's metrics from
/// `started_epoch` to now, beside the client's numbers in `r`.
pub async fn cloudwatch_after(
    prepared: &Prepared,
    load: &LoadTarget,
    c: &cloudwatch::CloudWatchOptions,
    side: cloudwatch::ClientSide,
    started_epoch: f64,
) -> Result<cloudwatch::CloudWatchReport, CliError> {
    let signer = &prepared.targets[0].signer;
    let t = &signer.target;
    let local = prepared.emulator_endpoint_url.is_some();
    let endpoint = c
        .endpoint_url
        .clone()
        .or_else(|| prepared.emulator_endpoint_url.clone());
    let client = cloudwatch::client(
        signer.credentials_provider(),
        &t.scope.region,
        endpoint.as_deref(),
    );
    let (dims, notes) =
        cloudwatch::infer(t.kind, &t.url, local, load.sagemaker_endpoint.as_deref(), c);
    let end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    cloudwatch::collect(
        &client,
        &t.scope.region,
        dims,
        t.kind == TargetKind::HttpApi,
        cloudwatch::Window {
            start: started_epoch,
            end,
        },
        Some(&side),
        notes,
        c,
        local,
    )
    .await
}

/// The client's numbers the CloudWatch table sits beside: the API target's when there is one.
pub fn client_side(r: &Report, kind: TargetKind) -> cloudwatch::ClientSide {
    let api = r.targets.get("apigw");
    let sm = r.targets.get("sagemaker");
    let lat = api.or(sm).map(|t| &t.latency_ms);
    let server_errors = r
        .status_codes
        .iter()
        .filter(|(k, _)| k.starts_with('5'))
        .map(|(_, v)| *v)
        .sum();
    cloudwatch::ClientSide {
        response_p50: lat.map(|l| l.response.p50),
        response_p99: lat.map(|l| l.response.p99),
        response_mean: lat.map(|l| l.response.mean),
        service_p50: lat.map(|l| l.service.p50),
        service_p99: lat.map(|l| l.service.p99),
        api_ok: if kind.is_api() {
            Some(api.map(|t| t.ok).unwrap_or(0))
        } else {
            None
        },
        sagemaker_ok: sm.map(|t| t.ok).unwrap_or(0),
        server_errors,
        warmup: r.requests.warmup,
    }
}

/// `iris-cli report cloudwatch`: AWS's metrics for a past window, no client side.
pub async fn run_cloudwatch_report(opts: CloudWatchReportOptions) -> anyhow::Result<Exit> {
    let session = crate::session::Session::open(&opts.target, &opts.auth).await?;
    let endpoint = opts
        .cloudwatch
        .endpoint_url
        .clone()
        .or_else(|| session.emulator_endpoint_url());
    let t = &session.signer.target;
    let client = cloudwatch::client(
        session.signer.credentials_provider(),
        &t.scope.region,
        endpoint.as_deref(),
    );
    let (dims, notes) = cloudwatch::infer(
        t.kind,
        &t.url,
        session.is_local(),
        opts.sagemaker_endpoint.as_deref(),
        &opts.cloudwatch,
    );
    let once = cloudwatch::CloudWatchOptions {
        wait: Duration::ZERO,
        ..opts.cloudwatch.clone()
    };
    let r = cloudwatch::collect(
        &client,
        &t.scope.region,
        dims,
        t.kind == TargetKind::HttpApi,
        cloudwatch::Window {
            start: opts.start as f64,
            end: opts.end as f64,
        },
        None,
        notes,
        &once,
        session.is_local(),
    )
    .await?;
    let text = match opts.output {
        Format::Json => serde_json::to_string_pretty(&r)? + "\n",
        Format::Human => cloudwatch::render(&r),
    };
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
    }
    Ok(Exit::Ok)
}

/// `iris-cli report merge`.
pub async fn run_merge(opts: MergeOptions) -> anyhow::Result<Exit> {
    let run =
        hdrlog::merge(&opts.files).map_err(|e| CliError::new(Exit::Failure, format!("{e:#}")))?;
    finish(
        &run,
        opts.output,
        opts.html.as_deref(),
        &opts.thresholds,
        false,
        None,
    )
}

/// Print the report, write the HTML page, decide the exit code.
fn finish(
    run: &RunResult,
    output: Format,
    html_path: Option<&Path>,
    thresholds: &[Threshold],
    live: bool,
    cloudwatch: Option<cloudwatch::CloudWatchReport>,
) -> anyhow::Result<Exit> {
    let mut r = Report::build(run);
    r.thresholds = report::check(thresholds, run, &r);
    r.cloudwatch = cloudwatch;
    if let Some(p) = html_path {
        write_atomic(p, html::render(run, &r).as_bytes())
            .with_context(|| format!("cannot write --html {}", p.display()))?;
    }
    let text = match output {
        Format::Json => serde_json::to_string_pretty(&r)? + "\n",
        Format::Human => {
            let mut t = report::render_human(&r);
            if let Some(c) = &r.cloudwatch {
                t += "\n";
                t += &cloudwatch::render(c);
            }
            t
        }
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
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
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
    fn the_first_copy_at_the_start_file_sets_everyones_start() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("start");
        let t = |ms: u64| std::time::UNIX_EPOCH + Duration::from_millis(ms);
        assert_eq!(
            rendezvous(&f, t(1_796_119_200_250)).unwrap(),
            t(1_796_119_200_250)
        );
        // Later copies computed other instants; they all take the first one.
        for later in [1_796_119_201_000, 1_796_119_260_000] {
            assert_eq!(rendezvous(&f, t(later)).unwrap(), t(1_796_119_200_250));
        }
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "2026-12-01T10:00:00.25Z\n"
        );
        std::fs::write(&f, "soon\n").unwrap();
        let e = rendezvous(&f, t(0)).unwrap_err().to_string();
        assert!(e.contains("--start-file") && e.contains("'soon'"), "{e}");
        let e = rendezvous(&dir.path().join("no/such/dir"), t(0))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no/such/dir"), "{e}");
    }

    #[test]
    fn bodies_per_target() {
        let p = Payload::Rows(vec!["5.1,3.5,1.4,0.2".into()]);
        assert_eq!(
            bodies(&p, TargetKind::ApiGateway.protocol())[0],
            Bytes::from_static(br#"{"data":"5.1,3.5,1.4,0.2"}"#)
        );
        assert_eq!(
            bodies(&p, TargetKind::SageMaker.protocol())[0],
            Bytes::from_static(b"5.1,3.5,1.4,0.2")
        );
    }
}

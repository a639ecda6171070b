//! `iris-cli bench` and `iris-cli report` arguments and their conversion into
//! [`BenchOptions`] / [`MergeOptions`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use super::{values, AuthArgs, HttpArgs, OutputFormat, TargetArgs};
use crate::bench::report::{self, Threshold};
use crate::bench::schedule::{self, Arrival, CopyIndex, Schedule, StartAt};
use crate::bench::worker::{Load, Plan};
use crate::bench::{BenchOptions, LoadTarget, MergeOptions, PayloadSource, TargetChoice};
use crate::error::CliError;

/// Where `bench` sends requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetChoiceArg {
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
    #[arg(long, conflicts_with = "ramp", value_parser = values::positive_f64)]
    pub rps: Option<f64>,

    /// Open loop with stages: `0..200/30s,200/60s` ramps 0->200 rps over 30 s, then holds 200
    /// for 60 s.
    #[arg(long, value_name = "STAGES")]
    pub ramp: Option<String>,

    /// Open loop: most requests in flight at once (late requests wait for a slot and are
    /// measured from their due time).
    #[arg(long, default_value_t = 256, value_name = "N", value_parser = values::in_flight)]
    pub max_in_flight: usize,

    /// Start the schedule at this wall-clock instant: RFC 3339 (2026-12-01T10:00:00Z) or
    /// +DURATION from now (+30s). Copies given the same instant run one schedule together.
    #[arg(long, value_name = "TIME", value_parser = schedule::parse_start_at)]
    pub start_at: Option<StartAt>,

    /// With --start-at: agree on it through FILE, on storage every copy shares. The first
    /// copy to get there writes the instant it computed (e.g. from +60s); every copy then
    /// starts at the instant in FILE.
    #[arg(long, value_name = "FILE", requires = "start_at")]
    pub start_file: Option<PathBuf>,

    /// Be copy K (from 0) of N: send requests K, K+N, K+2N... of the one schedule that every
    /// copy computes from the same --rps/--ramp and --start-at (Indexed Job: --copy
    /// $(JOB_COMPLETION_INDEX)/N).
    #[arg(long, value_name = "K/N", value_parser = schedule::parse_copy)]
    pub copy: Option<CopyIndex>,

    /// Closed loop (without --rps/--ramp): N workers, each sending when its previous request
    /// completes [default: 10].
    #[arg(long, short = 'c', value_name = "N", conflicts_with_all = ["rps", "ramp"], value_parser = values::in_flight)]
    pub concurrency: Option<usize>,

    /// Run time after the warmup (default 10s, or the length of --ramp).
    #[arg(long, short = 'z', value_parser = values::positive_duration)]
    pub duration: Option<Duration>,

    /// Measured requests to send (the run stops at --requests or --duration, whichever first).
    #[arg(long, short = 'n', value_parser = values::count_u64)]
    pub requests: Option<u64>,

    /// Send but leave out of every statistic the requests of the first DURATION (cold starts).
    #[arg(long, value_parser = values::parse_duration, default_value = "0s")]
    pub warmup: Duration,

    #[command(flatten)]
    pub arrival: ArrivalArgs,

    #[command(flatten)]
    pub load: LoadTargetArgs,

    /// After the run, wait for AWS's own metrics for its window (CloudWatch GetMetricData)
    /// and print them beside the client's percentiles, with the gaps between the hops named
    /// and the counts cross-checked (needs cloudwatch:GetMetricData).
    #[arg(long)]
    pub cloudwatch: bool,

    #[command(flatten)]
    pub cw: CloudWatchArgs,

    /// Output format of the report.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,

    /// Retry a failed attempt (throttled, 5xx, timeout, dropped connection) up to N times with
    /// exponential backoff and full jitter. Each attempt is measured from its own due time and
    /// retries are counted apart. 0: a load test reports failures, it does not hide them.
    #[arg(long, default_value_t = 0, value_name = "N", value_parser = values::retries)]
    pub retries: u32,

    /// Longest wait before a retry, whatever Retry-After asks for.
    #[arg(long, default_value = "30s", value_parser = values::parse_duration)]
    pub max_retry_wait: Duration,

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
}

/// How open-loop arrivals are spaced (`bench` and `capacity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ArrivalArg {
    /// Evenly: request i is due at start + i/R.
    Uniform,
    /// A Poisson process: seeded exponential gaps with mean 1/R.
    Poisson,
}

#[derive(Debug, Clone, Args)]
pub struct ArrivalArgs {
    /// Spacing of open-loop arrivals; every request is still measured from its own due time.
    #[arg(long, value_enum, default_value_t = ArrivalArg::Uniform)]
    pub arrival: ArrivalArg,

    /// Seed of --arrival poisson (the same seed gives the same schedule).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub seed: u64,
}

impl ArrivalArgs {
    pub fn arrival(&self) -> Arrival {
        match self.arrival {
            ArrivalArg::Uniform => Arrival::Uniform,
            ArrivalArg::Poisson => Arrival::Poisson { seed: self.seed },
        }
    }
}

/// Where the load goes and what it sends (`bench` and `capacity`).
#[derive(Debug, Args)]
pub struct LoadTargetArgs {
    /// apigw, sagemaker or both [default: sagemaker with --endpoint-name, else apigw].
    #[arg(long = "target", value_enum)]
    pub target_choice: Option<TargetChoiceArg>,

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

    /// Rotate over the rows of this CSV file, sending its feature columns: a header row, its
    /// id and label columns, and scikit-learn's label column are left out, as in `batch`.
    #[arg(long, value_name = "FILE")]
    pub payload_csv: Option<PathBuf>,

    /// Content-Type (default: application/json for the API, text/csv for SageMaker).
    #[arg(long)]
    pub content_type: Option<String>,

    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub postman: super::PostmanArgs,

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
    /// AWS's own metrics (CloudWatch GetMetricData) for a past window: API Gateway Latency and
    /// IntegrationLatency, Lambda Duration, SageMaker ModelLatency and OverheadLatency, the
    /// gaps between them and the counts.
    Cloudwatch(Box<CloudWatchReportArgs>),
}

/// CloudWatch settings shared by `bench --cloudwatch` and `report cloudwatch`.
#[derive(Debug, Args)]
pub struct CloudWatchArgs {
    /// How long to wait for the run's metrics to land (AWS publishes them within a few
    /// minutes); polled until the counts match the client's or stop changing.
    #[arg(long, value_parser = values::parse_duration, default_value = "3m", value_name = "DURATION")]
    pub cloudwatch_wait: Duration,
    /// Send GetMetricData here instead of CloudWatch's regional endpoint (the emulator, moto);
    /// with --local the embedded emulator's.
    #[arg(long, value_name = "URL")]
    pub cloudwatch_endpoint_url: Option<String>,
    /// The Lambda function behind the API, for its Duration, Invocations and Throttles (the
    /// seed stack's FunctionName output).
    #[arg(long, value_name = "NAME")]
    pub function_name: Option<String>,
    /// The REST API's name (its metrics are keyed by name and stage, not by the id in the
    /// URL; the seed stack's is <stack>-iris).
    #[arg(long, value_name = "NAME")]
    pub api_name: Option<String>,
    /// The SageMaker endpoint's production variant.
    #[arg(long, default_value = "AllTraffic", value_name = "NAME")]
    pub variant_name: String,
    /// The deploy stack's outputs, for the names above that are not given: the JSON of
    /// `aws cloudformation describe-stacks --stack-name iris` (or of its
    /// `--query 'Stacks[0].Outputs'`); reads FunctionName and ApiName.
    #[arg(long, value_name = "FILE")]
    pub stack_outputs: Option<PathBuf>,
}

impl CloudWatchArgs {
    pub fn options(
        &self,
        quiet: bool,
    ) -> Result<crate::bench::cloudwatch::CloudWatchOptions, CliError> {
        let outputs = match &self.stack_outputs {
            Some(path) => crate::bench::cloudwatch::stack_outputs(path)?,
            None => Vec::new(),
        };
        let output = |key: &str| {
            outputs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        Ok(crate::bench::cloudwatch::CloudWatchOptions {
            wait: self.cloudwatch_wait,
            endpoint_url: self.cloudwatch_endpoint_url.clone(),
            function_name: self
                .function_name
                .clone()
                .or_else(|| output("FunctionName")),
            api_name: self.api_name.clone().or_else(|| output("ApiName")),
            variant_name: self.variant_name.clone(),
            quiet,
        })
    }
}

#[derive(Debug, Args)]
pub struct CloudWatchReportArgs {
    /// Start of the window (RFC 3339, e.g. 2026-12-01T10:00:00Z).
    #[arg(long, value_name = "TIME", value_parser = rfc3339_epoch)]
    pub start: i64,
    /// End of the window (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = rfc3339_epoch)]
    pub end: i64,
    /// The SageMaker endpoint behind the API (or give --endpoint-name as the target).
    #[arg(long, value_name = "NAME")]
    pub sagemaker_endpoint: Option<String>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,

    #[command(flatten)]
    pub cw: CloudWatchArgs,

    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub auth: AuthArgs,
}

fn rfc3339_epoch(s: &str) -> Result<i64, String> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| format!("'{s}' is not an RFC 3339 time (e.g. 2026-12-01T10:00:00Z): {e}"))
}

impl CloudWatchReportArgs {
    pub fn options(&self) -> Result<crate::bench::CloudWatchReportOptions, CliError> {
        if self.end <= self.start {
            return Err(CliError::usage(
                "report cloudwatch: --end must be after --start",
            ));
        }
        Ok(crate::bench::CloudWatchReportOptions {
            start: self.start,
            end: self.end,
            sagemaker_endpoint: self.sagemaker_endpoint.clone(),
            output: self.output.into(),
            cloudwatch: self.cw.options(false)?,
            target: self.target.options(),
            auth: self.auth.options(),
        })
    }
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Interval logs written by `iris-cli bench --hdr-log`.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Output format of the report.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,

    /// Write a self-contained HTML report.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,

    /// Exit 1 when a condition breaks (as for `bench`).
    #[arg(long, value_name = "CONDITIONS")]
    pub fail_if: Option<String>,
}

fn thresholds(s: Option<&str>) -> Result<Vec<Threshold>, CliError> {
    match s {
        Some(s) => {
            report::parse_thresholds(s).map_err(|e| CliError::usage(format!("--fail-if: {e}")))
        }
        None => Ok(Vec::new()),
    }
}

impl BenchArgs {
    fn pacing(&self) -> Result<Load, CliError> {
        let copy = self.copy.unwrap_or(CopyIndex::ALONE);
        let arrival = self.arrival.arrival();
        Ok(if let Some(r) = self.rps {
            Load::Open(Schedule::constant(r).for_copy(copy).with_arrival(arrival))
        } else if let Some(ramp) = &self.ramp {
            Load::Open(
                Schedule::ramp(
                    schedule::parse_ramp(ramp)
                        .map_err(|e| CliError::usage(format!("--ramp: {e}")))?,
                )
                .for_copy(copy)
                .with_arrival(arrival),
            )
        } else {
            if self.copy.is_some() {
                return Err(CliError::usage(
                    "--copy shares out one arrival schedule: it needs --rps or --ramp",
                ));
            }
            Load::Closed
        })
    }

    /// The load, in a canonical form that is equal for every copy of one schedule.
    fn describe_schedule(&self, plan: &Plan) -> String {
        let mut s = match (&self.rps, &self.ramp) {
            (Some(r), _) => format!("--rps {r}"),
            (None, Some(ramp)) => format!("--ramp {}", ramp.replace(' ', "")),
            (None, None) => format!("--concurrency {}", plan.workers),
        };
        if !plan.warmup.is_zero() {
            s += &format!(" --warmup {}s", plan.warmup.as_secs_f64());
        }
        if let Some(end) = plan.end {
            s += &format!(" --end {}s", end.as_secs_f64());
        }
        if let Some(n) = plan.requests {
            s += &format!(" --requests {n}");
        }
        if let Arrival::Poisson { seed } = self.arrival.arrival() {
            s += &format!(" --arrival poisson --seed {seed}");
        }
        s
    }

    pub fn options(&self) -> Result<BenchOptions, CliError> {
        let load = self.pacing()?;
        let workers = match &load {
            Load::Closed => self.concurrency.unwrap_or(10),
            Load::Open(_) => self.max_in_flight,
        };
        let plan = Plan::new(load, workers, self.warmup, self.duration, self.requests);
        Ok(BenchOptions {
            schedule: self.describe_schedule(&plan),
            start_at: self.start_at,
            start_file: self.start_file.clone(),
            copy: self.copy,
            plan,
            thresholds: thresholds(self.fail_if.as_deref())?,
            load: self.load.options()?,
            output: self.output.into(),
            hdr_log: self.hdr_log.clone(),
            html: self.html.clone(),
            quiet: self.quiet,
            retries: self.retries,
            max_retry_wait: self.max_retry_wait,
            cloudwatch: if self.cloudwatch {
                Some(self.cw.options(self.quiet)?)
            } else {
                None
            },
        })
    }
}

impl LoadTargetArgs {
    /// `--postman-collection`/`--request`: the request's URL, headers, body and content type
    /// fill what the command line left open.
    pub fn apply_postman(&mut self) -> Result<(), CliError> {
        if let Some(req) =
            crate::postman::apply(&self.postman, &mut self.target, &mut self.http.headers)?
        {
            let given =
                self.data.is_some() || self.body_file.is_some() || self.payload_csv.is_some();
            if !given && self.body.is_none() {
                self.body = req.body.map(|b| String::from_utf8_lossy(&b).into_owned());
            }
            self.content_type = self.content_type.take().or(req.content_type);
        }
        Ok(())
    }

    pub fn options(&self) -> Result<LoadTarget, CliError> {
        if self.auth.secret_key_stdin
            && self.body_file.as_deref() == Some(std::path::Path::new("-"))
        {
            return Err(CliError::usage(
                "--secret-key-stdin and --body-file - cannot both read standard input",
            ));
        }
        let target_choice =
            match self
                .target_choice
                .unwrap_or(if self.target.endpoint_name.is_some() {
                    TargetChoiceArg::Sagemaker
                } else {
                    TargetChoiceArg::Apigw
                }) {
                TargetChoiceArg::Apigw => TargetChoice::Apigw,
                TargetChoiceArg::Sagemaker => TargetChoice::Sagemaker,
                TargetChoiceArg::Both => TargetChoice::Both,
            };
        let payload = if let Some(d) = &self.data {
            PayloadSource::Data(d.clone())
        } else if let Some(p) = &self.body_file {
            if target_choice == TargetChoice::Both {
                return Err(CliError::usage(
                    "--target both sends a JSON body to the API and CSV to SageMaker: use --data or --payload-csv, not --body-file",
                ));
            }
            PayloadSource::BodyFile(p.clone())
        } else if let Some(b) = &self.body {
            PayloadSource::Body(b.clone().into_bytes())
        } else if let Some(p) = &self.payload_csv {
            PayloadSource::PayloadCsv(p.clone())
        } else {
            PayloadSource::Default
        };
        if target_choice == TargetChoice::Both && self.target.endpoint_name.is_some() {
            return Err(CliError::usage(
                "--target both: give the API with --url (or --local) and the endpoint with --sagemaker-endpoint",
            ));
        }
        Ok(LoadTarget {
            target_choice,
            sagemaker_endpoint: self.sagemaker_endpoint.clone(),
            sagemaker_endpoint_url: self.sagemaker_endpoint_url.clone(),
            payload,
            content_type: self.content_type.clone(),
            extra_headers: self.http.extra_headers()?,
            http: self.http.settings(),
            target: self.target.options(),
            auth: self.auth.options(),
        })
    }
}

impl MergeArgs {
    pub fn options(&self) -> Result<MergeOptions, CliError> {
        Ok(MergeOptions {
            files: self.files.clone(),
            output: self.output.into(),
            html: self.html.clone(),
            thresholds: thresholds(self.fail_if.as_deref())?,
        })
    }
}

//! `iris-cli capacity` arguments and their conversion into [`CapacityOptions`].

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::bench::{ArrivalArgs, LoadTargetArgs};
use super::{values, OutputFormat};
use crate::bench::report;
use crate::capacity::CapacityOptions;
use crate::error::CliError;

/// Find the highest rate the endpoint sustains within an SLO: open-loop probes at fixed rates
/// (doubling, then bisecting), each judged on the SLO, the achieved rate, the generator's lag
/// and the response-time trend; then the AWS settings that rate implies.
#[derive(Debug, Args)]
pub struct CapacityArgs {
    /// The service level each probe must meet, as bench --fail-if: e.g. 'p99<200ms,errors<1%'
    /// (throttles count as errors; without an errors term, errors<1% is added).
    #[arg(long, value_name = "CONDITIONS")]
    pub slo: String,

    /// First rate to probe [default: 90% of a 1 s closed-loop throughput with 16 workers].
    #[arg(long, value_name = "RPS", value_parser = values::positive_f64)]
    pub start: Option<f64>,

    /// Lowest rate worth probing: a failing first probe halves the rate down to it.
    #[arg(long, value_name = "RPS", default_value_t = 1.0, value_parser = values::positive_f64)]
    pub min: f64,

    /// Highest rate to probe: passing it ends the search ("limited by max").
    #[arg(long, value_name = "RPS", default_value_t = 100_000.0, value_parser = values::positive_f64)]
    pub max: f64,

    /// Length of each probe (a probe that can no longer pass stops early).
    #[arg(long, default_value = "20s", value_parser = values::positive_duration)]
    pub probe: Duration,

    /// Bisect until the highest pass and the lowest fail are this close (relative).
    #[arg(long, default_value = "5%", value_parser = values::tolerance)]
    pub tolerance: f64,

    /// Run the winner once more for this long before answering (0: skip).
    #[arg(long, default_value = "60s", value_parser = values::parse_duration)]
    pub confirm: Duration,

    #[command(flatten)]
    pub arrival: ArrivalArgs,

    /// Most requests in flight at once, as bench --max-in-flight.
    #[arg(long, default_value_t = 256, value_name = "N", value_parser = values::in_flight)]
    pub max_in_flight: usize,

    /// A probe whose generator lag p99 is above this fails (and when this machine was the
    /// bottleneck, the answer says the client is the limit).
    #[arg(long, default_value = "10ms", value_parser = values::positive_duration)]
    pub max_lag: Duration,

    /// SageMaker instances behind the endpoint during the test (for the per-instance setting).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = values::attempts)]
    pub instances: u32,

    /// Output format of the report.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,

    /// Write the knee curve as a self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,

    /// Write the HdrHistogram interval log of the probe at max_rps (the confirmation run when
    /// there is one).
    #[arg(long, value_name = "FILE")]
    pub hdr_log: Option<PathBuf>,

    /// Neither the per-probe lines nor the progress line on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// Start the search (its first probe, or the closed-loop estimate before it) at this
    /// wall-clock instant: RFC 3339 (2026-12-01T10:00:00Z) or +DURATION from now (+30s), as
    /// bench's. The probes follow one another from there.
    #[arg(long, value_name = "TIME", value_parser = crate::bench::schedule::parse_start_at)]
    pub start_at: Option<crate::bench::schedule::StartAt>,

    /// With --start-at: agree on it through FILE, as bench's --start-file (the first process
    /// to get there writes the instant; every other one starts at the instant in FILE).
    #[arg(long, value_name = "FILE", requires = "start_at")]
    pub start_file: Option<PathBuf>,

    /// After the search, AWS's own metrics (CloudWatch GetMetricData) for its whole window
    /// beside the client's numbers at the maximum rate, counts checked against every probe's.
    #[arg(long)]
    pub cloudwatch: bool,

    #[command(flatten)]
    pub cw: super::bench::CloudWatchArgs,

    #[command(flatten)]
    pub load: LoadTargetArgs,
}

impl CapacityArgs {
    pub fn options(&self) -> Result<CapacityOptions, CliError> {
        let mut slo = report::parse_thresholds(&self.slo)
            .map_err(|e| CliError::usage(e.replace("--fail-if", "--slo")))?;
        if !slo.iter().any(|t| t.is_errors()) {
            slo.extend(report::parse_thresholds("errors<1%").expect("a valid default"));
        }
        if self.min > self.max {
            return Err(CliError::usage(format!(
                "--min {} is above --max {}",
                self.min, self.max
            )));
        }
        if let Some(s) = self.start {
            if s < self.min || s > self.max {
                return Err(CliError::usage(format!(
                    "--start {s} is outside --min {} .. --max {}",
                    self.min, self.max
                )));
            }
        }
        Ok(CapacityOptions {
            load: self.load.options()?,
            slo,
            start: self.start,
            min: self.min,
            max: self.max,
            probe: self.probe,
            tolerance: self.tolerance,
            confirm: self.confirm,
            arrival: self.arrival.arrival(),
            max_in_flight: self.max_in_flight,
            max_lag: self.max_lag,
            instances: self.instances,
            output: self.output.into(),
            html: self.html.clone(),
            hdr_log: self.hdr_log.clone(),
            quiet: self.quiet,
            start_at: self.start_at,
            start_file: self.start_file.clone(),
            cloudwatch: if self.cloudwatch {
                Some(self.cw.options(self.quiet)?)
            } else {
                None
            },
        })
    }
}

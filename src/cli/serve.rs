//! `iris-cli serve` arguments and their conversion into [`EmulatorConfig`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use super::values;
use crate::emulator::auth::KeyStore;
use crate::emulator::model::Model;
use crate::emulator::serve::ServeOptions;
use crate::emulator::{
    EmulatorConfig, Faults, Integration, Latencies, Limits, SageMakerMode, Serverless, UsagePlan,
    IRIS_CLASSES,
};
use crate::error::CliError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IntegrationArg {
    NonProxy,
    Proxy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SageMakerModeArg {
    /// Instance-backed real-time endpoint.
    RealTime,
    /// Serverless endpoint: `--max-concurrency`, `--memory-mb`, 4 MB payloads, cold starts.
    Serverless,
}

fn fmt_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// A duration within AWS's bounds for the setting.
fn bounded_duration(s: &str, lo: Duration, hi: Duration) -> Result<Duration, String> {
    let d = values::parse_duration(s)?;
    if d < lo || d > hi {
        return Err(format!(
            "'{s}' is outside {}..={} (AWS's limits)",
            fmt_duration(lo),
            fmt_duration(hi)
        ));
    }
    Ok(d)
}

/// API Gateway REST: 50 ms to 29 s (AWS_WIRE §9).
fn integration_timeout(s: &str) -> Result<Duration, String> {
    bounded_duration(s, Duration::from_millis(50), Duration::from_secs(29))
}

/// HTTP API: 50 ms to 30 s.
fn http_api_timeout(s: &str) -> Result<Duration, String> {
    bounded_duration(s, Duration::from_millis(50), Duration::from_secs(30))
}

/// Any positive duration up to an hour (AWS's is fixed at 60 s; shorter values make tests fast).
fn container_timeout(s: &str) -> Result<Duration, String> {
    bounded_duration(s, Duration::from_millis(1), Duration::from_secs(3600))
}

/// Serverless `MaxConcurrency`: 1 to 200.
fn max_concurrency(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=200).contains(&n) => Ok(n),
        _ => Err(format!(
            "'{s}' is not between 1 and 200 (SageMaker's MaxConcurrency range)"
        )),
    }
}

/// Serverless `MemorySizeInMB`: 1024 to 6144 in steps of 1024.
fn memory_mb(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if (1024..=6144).contains(&n) && n.is_multiple_of(1024) => Ok(n),
        _ => Err(format!(
            "'{s}' is not one of 1024, 2048, 3072, 4096, 5120, 6144 (SageMaker's MemorySizeInMB values)"
        )),
    }
}

/// A usage-plan API key: API Gateway's keys are 20 to 128 printable ASCII characters.
fn api_key(s: &str) -> Result<String, String> {
    if (20..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(s.to_string())
    } else {
        Err("an API key must be 20 to 128 printable ASCII characters without spaces".into())
    }
}

/// Serve a local API Gateway -> Lambda -> SageMaker XGBoost endpoint that behaves like AWS on
/// the wire (SigV4 verified). Prints `export` lines for the client, then serves until Ctrl-C.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// API Gateway stage (first path segment of the invoke URL).
    #[arg(long, default_value = "species")]
    pub stage: String,
    /// API Gateway resource (path after the stage).
    #[arg(long, default_value = "irispredict")]
    pub resource: String,
    /// SageMaker endpoint name.
    #[arg(long, default_value = "iris-xgb")]
    pub endpoint_name: String,
    /// Region in the signing scope, the URLs and the ARNs.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// AWS account id in ARNs and IAM deny messages.
    #[arg(long, default_value = "123456789012")]
    pub account: String,
    /// JSON file of the accepted keys and what each may call: {"keys": [{"access_key",
    /// "secret_key", "session_token" (optional), "arn", "actions": ["execute-api:Invoke",
    /// "sagemaker:InvokeEndpoint"]}]} (default: the built-in test keys).
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
    /// Serve this XGBoost JSON model (`Booster.save_model("model.json")`) instead of iris.
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Names of the classes by index, comma-separated (default: the iris species; a class
    /// beyond the list is named by its number).
    #[arg(long, value_delimiter = ',')]
    pub classes: Option<Vec<String>>,
    /// How API Gateway calls the Lambda: non-proxy (the seed's: the function's return value is
    /// the body, errors as 200 with errorMessage) or proxy (the function returns statusCode,
    /// headers and body).
    #[arg(long, value_enum, default_value = "non-proxy")]
    pub integration: IntegrationArg,
    /// Lambda concurrency limit; beyond it API Gateway answers 500.
    #[arg(long, default_value_t = 1000, value_parser = values::count)]
    pub lambda_concurrency: usize,
    /// Added to a new Lambda environment's first invocation, e.g. `300ms`.
    #[arg(long, value_parser = values::parse_duration, default_value = "0ms")]
    pub cold_start: Duration,
    /// An environment idle for this long is reclaimed (next call is cold).
    #[arg(long, value_parser = values::parse_duration, default_value = "15m")]
    pub idle_timeout: Duration,
    /// Added latency per tier: `model=5ms,lambda=1ms,sagemaker=..,apigw=..`; a value may be a
    /// duration, `uniform:LO:HI` or `lognormal:MEDIAN:P99`.
    #[arg(long, value_parser = Latencies::parse)]
    pub latency: Option<Latencies>,
    /// API Gateway stage throttle rate (token bucket, 429 beyond it).
    #[arg(long, value_parser = values::positive_f64)]
    pub throttle_rps: Option<f64>,
    /// Token bucket size (default: the rate).
    #[arg(long, requires = "throttle_rps")]
    pub burst: Option<u32>,
    /// Fraction of requests answered with an injected 5xx.
    #[arg(long, value_parser = values::fraction, default_value = "0")]
    pub error_rate: f64,
    /// Start of a stall window, from server start.
    #[arg(long, value_parser = values::parse_duration)]
    pub stall_at: Option<Duration>,
    /// Length of the stall window: every response is held until it ends.
    #[arg(long, value_parser = values::parse_duration)]
    pub stall_for: Option<Duration>,
    /// Fraction of requests whose connection is closed without a response.
    #[arg(long, value_parser = values::fraction, default_value = "0")]
    pub drop_rate: f64,
    /// Seed for every injected fault and latency.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write one JSON line per request.
    #[arg(long, value_name = "FILE")]
    pub access_log: Option<PathBuf>,

    /// Also write a Postman collection (every route, with tests) and an environment (this
    /// server's URLs, region and keys, for Postman's AWS Signature auth) into DIR.
    #[arg(long, value_name = "DIR")]
    pub postman: Option<PathBuf>,

    /// Serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) with a certificate for 127.0.0.1, ::1 and
    /// localhost made at start by a CA of its own; the CA goes to --tls-ca-file and the export
    /// lines add IRIS_CA_BUNDLE and AWS_CA_BUNDLE.
    #[arg(long)]
    pub tls: bool,

    /// Where --tls writes its CA certificate (PEM) [default: iris-cli-serve-PID-ca.pem in the
    /// temporary directory].
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub tls_ca_file: Option<PathBuf>,
    /// REST API integration timeout (AWS: 50ms..29s, default 29s): a slower Lambda gets
    /// `504 {"message": "Endpoint request timed out"}`.
    #[arg(long, value_parser = integration_timeout, default_value = "29s")]
    pub integration_timeout: Duration,
    /// HTTP API integration timeout (at most 30s): 503 Service Unavailable beyond it.
    #[arg(long, value_parser = http_api_timeout, default_value = "30s")]
    pub http_api_timeout: Duration,
    /// How long SageMaker waits for the container (AWS: 60s): 424 ModelError beyond it.
    #[arg(long, value_parser = container_timeout, default_value = "60s")]
    pub container_timeout: Duration,
    /// Close a connection whose request head has not arrived whole within this (slow clients;
    /// also the longest an HTTP/1 connection may sit idle between requests); over HTTP/2, the
    /// ping interval and the wait for its answer. 60s as nginx's `client_header_timeout`:
    /// long enough for a person stepping through requests in Postman on one connection.
    #[arg(long, value_parser = values::positive_duration, default_value = "60s")]
    pub header_read_timeout: Duration,
    /// A request body must arrive whole within this after its head: `408` and a close beyond
    /// it.
    #[arg(long, value_parser = values::positive_duration, default_value = "30s")]
    pub body_read_timeout: Duration,
    /// In-flight invocations the real-time endpoint takes; beyond them SageMaker's
    /// 400 ThrottlingException (default: no limit).
    #[arg(long, value_parser = values::count, value_name = "N")]
    pub sagemaker_concurrency: Option<usize>,
    /// How the endpoint is hosted.
    #[arg(long, value_enum, default_value = "real-time")]
    pub sagemaker_mode: SageMakerModeArg,
    /// Serverless MaxConcurrency (1..200): ThrottlingException beyond it.
    #[arg(long, value_parser = max_concurrency, default_value = "20")]
    pub max_concurrency: usize,
    /// Serverless MemorySizeInMB (1024..6144, steps of 1024).
    #[arg(long, value_parser = memory_mb, default_value = "2048")]
    pub memory_mb: u32,
    /// Serverless: time to provision an instance (ModelSetupTime); while an endpoint scales from
    /// zero, other requests get 429 ModelNotReadyException.
    #[arg(long, value_parser = values::parse_duration, default_value = "2s")]
    pub model_setup_time: Duration,
    /// Require this usage-plan API key in `x-api-key` on the REST API (repeatable); a missing
    /// or unknown key gets 403 Forbidden.
    #[arg(long = "api-key", value_parser = api_key, value_name = "KEY")]
    pub api_keys: Vec<String>,
    /// Requests each API key may make; then 429 "Limit Exceeded".
    #[arg(long, requires = "api_keys", value_parser = values::count_u64, value_name = "N")]
    pub api_key_quota: Option<u64>,
    /// Address of the Lambda function URL (its own port: a function URL takes every path).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub function_url_listen: SocketAddr,
}

impl ServeArgs {
    /// Validate the flags and load the files they name.
    pub fn to_config(&self) -> anyhow::Result<EmulatorConfig> {
        let keys = match &self.credentials {
            Some(p) => KeyStore::from_file(p)
                .with_context(|| format!("reading credentials from {}", p.display()))?,
            None => KeyStore::builtin(),
        };
        if keys.principals().is_empty() {
            anyhow::bail!("no keys: the credentials file lists none");
        }
        let model = match &self.model {
            Some(p) => Model::from_path(p)?,
            None => Model::iris(),
        };
        // The iris names by default even with --model, as deploy/lambda/handler.py's
        // CLASS_NAMES default does.
        let classes = match &self.classes {
            Some(c) => c.clone(),
            None => IRIS_CLASSES.iter().map(|s| s.to_string()).collect(),
        };
        if !crate::emulator::sagemaker::valid_endpoint_name(&self.endpoint_name) {
            return Err(CliError::usage(format!(
                "--endpoint-name '{}' is not a valid SageMaker endpoint name (1-63 of [a-zA-Z0-9-], no leading or trailing '-')",
                self.endpoint_name
            ))
            .into());
        }
        for (flag, v) in [("--stage", &self.stage), ("--resource", &self.resource)] {
            if v.is_empty() || v.contains('/') || v == "endpoints" && flag == "--stage" {
                return Err(CliError::usage(format!("{flag} '{v}' must be a single non-empty path segment (and the stage cannot be 'endpoints')")).into());
            }
        }
        if self.stall_at.is_some() && self.stall_for.is_none() {
            return Err(CliError::usage("--stall-at needs --stall-for").into());
        }
        let sagemaker = match self.sagemaker_mode {
            SageMakerModeArg::RealTime => SageMakerMode::RealTime {
                concurrency: self.sagemaker_concurrency,
            },
            SageMakerModeArg::Serverless => {
                if self.sagemaker_concurrency.is_some() {
                    return Err(CliError::usage(
                        "--sagemaker-concurrency is for real-time endpoints; a serverless endpoint takes --max-concurrency",
                    )
                    .into());
                }
                SageMakerMode::Serverless(Serverless {
                    max_concurrency: self.max_concurrency,
                    memory_mb: self.memory_mb,
                    setup_time: self.model_setup_time,
                })
            }
        };
        Ok(EmulatorConfig {
            listen: self.listen,
            stage: self.stage.clone(),
            resource: self.resource.clone(),
            endpoint_name: self.endpoint_name.clone(),
            region: self.region.clone(),
            account: self.account.clone(),
            keys,
            model: Arc::new(model),
            classes,
            integration: match self.integration {
                IntegrationArg::NonProxy => Integration::NonProxy,
                IntegrationArg::Proxy => Integration::Proxy,
            },
            lambda_concurrency: self.lambda_concurrency,
            cold_start: self.cold_start,
            idle_timeout: self.idle_timeout,
            faults: Faults {
                latency: self.latency.clone().unwrap_or_default(),
                throttle_rps: self.throttle_rps,
                burst: self.burst,
                error_rate: self.error_rate,
                stall_at: self.stall_at,
                stall_for: self.stall_for,
                drop_rate: self.drop_rate,
            },
            seed: self.seed,
            access_log: self.access_log.clone(),
            limits: Limits {
                integration_timeout: self.integration_timeout,
                http_api_timeout: self.http_api_timeout,
                container_timeout: self.container_timeout,
                header_read_timeout: self.header_read_timeout,
                body_read_timeout: self.body_read_timeout,
                ..Limits::default()
            },
            sagemaker,
            usage_plan: (!self.api_keys.is_empty()).then(|| UsagePlan {
                keys: self.api_keys.clone(),
                quota: self.api_key_quota,
            }),
            function_url_listen: self.function_url_listen,
            ..EmulatorConfig::default()
        })
    }
}

impl ServeArgs {
    pub fn options(&self) -> anyhow::Result<ServeOptions> {
        let mut config = self.to_config()?;
        if self.tls {
            let mut names = vec!["127.0.0.1".to_string(), "::1".into(), "localhost".into()];
            let ip = self.listen.ip();
            if !ip.is_unspecified() && !names.contains(&ip.to_string()) {
                names.push(ip.to_string());
            }
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let ca = crate::tls::local_ca(&names)?;
            let path = self.tls_ca_file.clone().unwrap_or_else(|| {
                std::env::temp_dir().join(format!("iris-cli-serve-{}-ca.pem", std::process::id()))
            });
            std::fs::write(&path, &ca.ca_pem)
                .with_context(|| format!("cannot write --tls-ca-file {}", path.display()))?;
            config.tls = Some(crate::tls::server_config(&ca)?);
            config.tls_ca_file = Some(path);
        }
        Ok(ServeOptions {
            config,
            credentials_file: self.credentials.clone(),
            postman_dir: self.postman.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn flags_become_config() {
        let cli = Cli::try_parse_from([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--integration",
            "proxy",
            "--latency",
            "model=5ms,lambda=lognormal:1ms:4ms",
            "--throttle-rps",
            "100",
            "--burst",
            "10",
            "--error-rate",
            "0.05",
            "--stall-at",
            "3s",
            "--stall-for",
            "1s",
            "--drop-rate",
            "0.01",
            "--seed",
            "42",
            "--cold-start",
            "250ms",
            "--classes",
            "a,b,c",
            "--header-read-timeout",
            "2s",
            "--body-read-timeout",
            "500ms",
        ])
        .unwrap();
        let cfg = cli.serve.to_config().unwrap();
        assert_eq!(cfg.integration, Integration::Proxy);
        assert_eq!(cfg.faults.throttle_rps, Some(100.0));
        assert_eq!(cfg.faults.burst, Some(10));
        assert_eq!(cfg.faults.error_rate, 0.05);
        assert_eq!(cfg.faults.stall_at, Some(Duration::from_secs(3)));
        assert_eq!(cfg.faults.drop_rate, 0.01);
        assert_eq!(cfg.seed, 42);
        assert_eq!(cfg.cold_start, Duration::from_millis(250));
        assert_eq!(cfg.classes, vec!["a", "b", "c"]);
        assert!(cfg.faults.latency.model.is_some());
        assert_eq!(cfg.limits.header_read_timeout, Duration::from_secs(2));
        assert_eq!(cfg.limits.body_read_timeout, Duration::from_millis(500));
    }

    #[test]
    fn bad_flags_are_refused() {
        assert!(Cli::try_parse_from(["serve", "--error-rate", "1.5"]).is_err());
        assert!(Cli::try_parse_from(["serve", "--cold-start", "fast"]).is_err());
        // One duration grammar everywhere: a bare number is seconds.
        let cli = Cli::try_parse_from(["serve", "--cold-start", "5"]).unwrap();
        assert_eq!(cli.serve.cold_start, Duration::from_secs(5));
        assert!(Cli::try_parse_from(["serve", "--lambda-concurrency", "0"]).is_err());
        assert!(Cli::try_parse_from(["serve", "--header-read-timeout", "0s"]).is_err());
        assert!(Cli::try_parse_from(["serve", "--body-read-timeout", "slow"]).is_err());
        assert!(Cli::try_parse_from(["serve", "--latency", "disk=5ms"]).is_err());
        let cli = Cli::try_parse_from(["serve", "--endpoint-name=-bad"]).unwrap();
        assert!(cli.serve.to_config().is_err());
        let cli = Cli::try_parse_from(["serve", "--stall-at", "1s"]).unwrap();
        assert!(cli.serve.to_config().is_err());
    }
}

//! Every clap type of the command line, and the one conversion of each into the validated
//! options the core takes (`predict::PredictOptions`, `batch::BatchOptions`,
//! `bench::BenchOptions`, `emulator::EmulatorConfig`). Core modules never see clap.
//!
//! Values are checked where clap parses them (`value_parser`), so a bad value is a usage error
//! (exit 2) that names the flag, in every subcommand alike; `values` holds those parsers and
//! the one duration grammar.

pub mod batch;
pub mod bench;
pub mod capacity;
pub mod predict;
pub mod serve;
pub mod values;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::client::{HttpSettings, HttpVersion};
use crate::error::CliError;
use crate::session::{AuthOptions, TargetOptions};

pub use values::parse_duration;

#[derive(Debug, Parser)]
#[command(
    name = "iris-cli",
    version,
    about = "Signed client, batch scorer, load tester and local emulator for ML models behind \
             API Gateway (IAM auth) -> Lambda -> SageMaker",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Send one signed prediction request and print the result.
    Predict(predict::PredictArgs),
    /// Score a whole CSV file: in order, with retries, resumable; nothing lost.
    Batch(batch::BatchArgs),
    /// Run the local API Gateway -> Lambda -> SageMaker emulator until Ctrl-C or SIGTERM.
    Serve(serve::ServeArgs),
    /// Load test: fixed arrival rate, latency from due time, per-hop percentiles.
    Bench(Box<bench::BenchArgs>),
    /// The highest rate the endpoint sustains within an SLO, and what to set in AWS for it.
    Capacity(Box<capacity::CapacityArgs>),
    /// Work with saved bench results (merge interval logs from several machines).
    Report(bench::ReportArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell to write the completion script for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print a man page (roff), or write them all with --dir.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Subcommand whose page to print, e.g. `predict` or `report merge` (default: the top-level page).
    #[arg(value_name = "SUBCOMMAND")]
    pub subcommand: Vec<String>,

    /// Write every page (iris-cli.1, iris-cli-predict.1, ...) into DIR and print their paths.
    #[arg(long, value_name = "DIR", conflicts_with = "subcommand")]
    pub dir: Option<PathBuf>,
}

/// A request from a Postman collection instead of --url/--endpoint-name.
#[derive(Debug, Clone, Default, Args)]
pub struct PostmanArgs {
    /// Postman collection (v2.1 JSON) holding the request to send (with --request): its URL, body, headers and the region/service of its AWS Signature auth; credentials still come from --access-key or the AWS chain, never from the file.
    #[arg(long, value_name = "FILE", requires = "request", conflicts_with_all = ["url", "endpoint_name", "local"])]
    pub postman_collection: Option<PathBuf>,

    /// Name of the request in --postman-collection (`folder/name` when names repeat).
    #[arg(long, value_name = "NAME", requires = "postman_collection")]
    pub request: Option<String>,

    /// Postman environment file for the collection's {{variables}} (else the collection's own variables, then environment variables).
    #[arg(long, value_name = "FILE", requires = "postman_collection")]
    pub postman_environment: Option<PathBuf>,
}

/// Where requests go.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// API Gateway invoke URL, e.g. https://abc123.execute-api.us-east-1.amazonaws.com/species/irispredict [env: IRIS_URL]
    #[arg(long, conflicts_with_all = ["endpoint_name", "local"])]
    pub url: Option<String>,

    /// Call the SageMaker endpoint directly (InvokeEndpoint) instead of the API [env: IRIS_ENDPOINT_NAME]
    #[arg(long, value_name = "NAME")]
    pub endpoint_name: Option<String>,

    /// SageMaker runtime base URL (VPC endpoint, emulator); default https://runtime.sagemaker.{region}.amazonaws.com [env: IRIS_ENDPOINT_URL]
    #[arg(long, value_name = "URL", requires = "endpoint_name")]
    pub endpoint_url: Option<String>,

    /// Start the embedded emulator on 127.0.0.1 and target it with its test credentials.
    #[arg(long)]
    pub local: bool,

    /// Signing region (inferred from AWS hostnames; required for custom domains).
    #[arg(long)]
    pub region: Option<String>,

    /// Signing service name (inferred: execute-api, sagemaker, or lambda for a function URL).
    #[arg(long)]
    pub service: Option<String>,

    /// Which kind of API --url (or --local) is: rest, http (API Gateway HTTP API) or
    /// function-url (Lambda function URL, signed for lambda). Inferred from AWS hostnames: a
    /// `*.lambda-url.*.on.aws` host is a function URL, an execute-api URL with one path
    /// segment an HTTP API; otherwise rest. Without --url, `http` and `function-url` read
    /// IRIS_HTTP_API_URL and IRIS_FUNCTION_URL.
    #[arg(long, value_enum, conflicts_with = "endpoint_name")]
    pub api: Option<ApiArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ApiArg {
    Rest,
    Http,
    FunctionUrl,
}

impl ApiArg {
    pub fn kind(self) -> crate::config::ApiKind {
        match self {
            ApiArg::Rest => crate::config::ApiKind::Rest,
            ApiArg::Http => crate::config::ApiKind::Http,
            ApiArg::FunctionUrl => crate::config::ApiKind::FunctionUrl,
        }
    }
}

impl TargetArgs {
    pub fn options(&self) -> TargetOptions {
        TargetOptions {
            url: self.url.clone(),
            endpoint_name: self.endpoint_name.clone(),
            endpoint_url: self.endpoint_url.clone(),
            local: self.local,
            region: self.region.clone(),
            service: self.service.clone(),
            api: self.api.map(ApiArg::kind),
        }
    }
}

/// Which credentials sign the request.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// Access key id (otherwise the AWS credential chain is used).
    #[arg(long, requires = "secret_key_source")]
    pub access_key: Option<String>,

    /// Secret access key. Prefer --secret-key-stdin: arguments end up in shell history.
    #[arg(long, group = "secret_key_source", requires = "access_key")]
    pub secret_key: Option<String>,

    /// Read the secret access key from the first line of standard input.
    #[arg(long, group = "secret_key_source", requires = "access_key")]
    pub secret_key_stdin: bool,

    /// Session token for temporary credentials given with --access-key.
    #[arg(long, requires = "access_key")]
    pub session_token: Option<String>,

    /// Named profile from the shared config/credentials files (default: AWS_PROFILE or "default").
    #[arg(long)]
    pub profile: Option<String>,

    /// Longest wait for credentials from the AWS chain (a credential_process that hangs, an
    /// SSO or STS call); then the command fails with exit 3.
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub credentials_timeout: Duration,
}

impl AuthArgs {
    pub fn options(&self) -> AuthOptions {
        AuthOptions {
            access_key: self.access_key.clone(),
            secret_key: self.secret_key.clone(),
            secret_key_stdin: self.secret_key_stdin,
            session_token: self.session_token.clone(),
            profile: self.profile.clone(),
            credentials_timeout: Some(self.credentials_timeout),
        }
    }
}

/// How the HTTP connection behaves.
#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Extra header to send and sign, "Name: value" (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,

    /// Whole-request timeout (a bare number is seconds).
    #[arg(long, value_parser = values::positive_duration, default_value = "30s")]
    pub timeout: Duration,

    /// Connection timeout (a bare number is seconds).
    #[arg(long, value_parser = values::positive_duration, default_value = "10s")]
    pub connect_timeout: Duration,

    /// Extra PEM CA certificates to trust [env: IRIS_CA_BUNDLE, then AWS_CA_BUNDLE].
    #[arg(long, value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,

    /// Do not verify TLS certificates (dangerous; prints a warning).
    #[arg(long)]
    pub insecure: bool,

    /// Use HTTP/1.1 only (as curl's --http1.1).
    #[arg(long = "http1.1", conflicts_with = "http2")]
    pub http1: bool,

    /// Use HTTP/2 (prior knowledge, as curl's --http2-prior-knowledge; without either flag the
    /// version is negotiated by ALPN over TLS).
    #[arg(long)]
    pub http2: bool,
}

impl HttpArgs {
    pub fn settings(&self) -> HttpSettings {
        // Read here, not by clap: the AWS CLI's variable must not show up as a clap default.
        let env_bundle = || {
            ["IRIS_CA_BUNDLE", "AWS_CA_BUNDLE"]
                .iter()
                .find_map(|k| std::env::var_os(k).filter(|v| !v.is_empty()))
                .map(PathBuf::from)
        };
        HttpSettings {
            timeout: self.timeout,
            connect_timeout: self.connect_timeout,
            ca_bundle: self.ca_bundle.clone().or_else(env_bundle),
            insecure: self.insecure,
            http_version: match (self.http1, self.http2) {
                (true, _) => HttpVersion::Http1,
                (_, true) => HttpVersion::Http2,
                _ => HttpVersion::Negotiate,
            },
        }
    }

    /// The `-H` headers, each checked.
    pub fn extra_headers(&self) -> Result<Vec<(String, String)>, CliError> {
        self.headers
            .iter()
            .map(|h| crate::protocol::parse_header(h))
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
}

impl From<OutputFormat> for crate::output::Format {
    fn from(f: OutputFormat) -> Self {
        match f {
            OutputFormat::Human => crate::output::Format::Human,
            OutputFormat::Json => crate::output::Format::Json,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}

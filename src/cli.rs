//! Command-line arguments (clap derive). Turned into validated settings in `config` before any
//! core code sees them.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    Predict(PredictArgs),
    /// Score a whole CSV file: in order, with retries, resumable; nothing lost.
    Batch(crate::batch::BatchArgs),
    /// Run the local API Gateway -> Lambda -> SageMaker emulator until Ctrl-C.
    Serve(crate::emulator::serve::ServeArgs),
    /// Load test: fixed arrival rate, latency from due time, per-hop percentiles.
    Bench(Box<crate::bench::BenchArgs>),
    /// Work with saved bench results (merge interval logs from several machines).
    Report(crate::bench::ReportArgs),
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

    /// Signing service name (inferred: execute-api or sagemaker).
    #[arg(long)]
    pub service: Option<String>,
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
}

/// How the HTTP connection behaves.
#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Extra header to send and sign, "Name: value" (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,

    /// Whole-request timeout.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub timeout: Duration,

    /// Connection timeout.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub connect_timeout: Duration,

    /// Extra PEM CA certificates to trust.
    #[arg(long, value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,

    /// Do not verify TLS certificates (dangerous; prints a warning).
    #[arg(long)]
    pub insecure: bool,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Features as CSV; several rows separated by newlines or ';'. Sent as {"data": "..."} to the
    /// API, as text/csv to SageMaker.
    #[arg(long, short = 'd', conflicts_with_all = ["body", "body_file"])]
    pub data: Option<String>,

    /// Raw request body (JSON for the API).
    #[arg(long, conflicts_with = "body_file")]
    pub body: Option<String>,

    /// Read the raw request body from FILE ('-' for standard input).
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,

    /// '-' reads the raw request body from standard input.
    #[arg(value_name = "-", conflicts_with_all = ["data", "body", "body_file"])]
    pub stdin_body: Option<String>,

    /// Content-Type of the request (default: application/json for the API, text/csv for SageMaker).
    #[arg(long)]
    pub content_type: Option<String>,

    /// Accept header for SageMaker (text/csv, application/json, application/jsonlines).
    #[arg(long)]
    pub accept: Option<String>,

    /// Class names, comma-separated, in class-index order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "setosa,versicolor,virginica"
    )]
    pub classes: Vec<String>,

    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,

    /// Print the canonical request, string-to-sign, signed headers and a curl command; send nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Print request and response headers to stderr (secrets redacted).
    #[arg(long, short = 'v')]
    pub verbose: bool,

    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub postman: PostmanArgs,

    #[command(flatten)]
    pub auth: AuthArgs,

    #[command(flatten)]
    pub http: HttpArgs,
}

/// Parse `250ms`, `1.5s`, `2m`, `100us`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::duration::parse_or_seconds(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }
}

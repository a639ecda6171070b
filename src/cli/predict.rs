//! `iris-cli predict` arguments and their conversion into [`PredictOptions`].

use std::path::{Path, PathBuf};

use clap::Args;

use super::{AuthArgs, HttpArgs, OutputFormat, TargetArgs};
use crate::error::CliError;
use crate::predict::{self, BodySource, PredictOptions};
use crate::session::{AuthOptions, TargetOptions};

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Features as CSV; several rows separated by newlines or ';'. Sent as {"data":"..."} to the
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

    /// Accept header for SageMaker (default text/csv; also application/json, application/jsonlines).
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
    pub postman: super::PostmanArgs,

    #[command(flatten)]
    pub auth: AuthArgs,

    #[command(flatten)]
    pub http: HttpArgs,
}

impl PredictArgs {
    /// Validate and read what the run needs (the body file, standard input).
    pub fn into_options(self) -> anyhow::Result<(PredictOptions, TargetOptions, AuthOptions)> {
        let reads_stdin_body = self.stdin_body.is_some()
            || self
                .body_file
                .as_deref()
                .is_some_and(|p| p.as_os_str() == "-");
        if let Some(other) = self.stdin_body.as_deref().filter(|s| *s != "-") {
            return Err(CliError::usage(format!(
                "unexpected argument '{other}': use --data, --body, --body-file or '-' for standard input"
            ))
            .into());
        }
        if reads_stdin_body && self.auth.secret_key_stdin {
            return Err(CliError::usage(
                "--secret-key-stdin and a body from standard input cannot both read stdin",
            )
            .into());
        }
        let body = if let Some(data) = &self.data {
            BodySource::Rows(predict::parse_rows(data)?)
        } else if let Some(body) = &self.body {
            BodySource::Raw(body.clone().into_bytes().into())
        } else if let Some(path) = &self.body_file {
            BodySource::Raw(predict::read_body_file(path)?.into())
        } else if reads_stdin_body {
            BodySource::Raw(predict::read_body_file(Path::new("-"))?.into())
        } else {
            return Err(CliError::usage(
                "nothing to send: give --data, --body, --body-file FILE or '-'",
            )
            .hint("for example: iris-cli predict --local --data 5.1,3.5,1.4,0.2")
            .into());
        };
        let opts = PredictOptions {
            body,
            content_type: self.content_type.clone(),
            accept: self.accept.clone(),
            extra_headers: self.http.extra_headers()?,
            classes: self.classes.clone(),
            output: self.output.into(),
            dry_run: self.dry_run,
            verbose: self.verbose,
            http: self.http.settings(),
        };
        Ok((opts, self.target.options(), self.auth.options()))
    }
}

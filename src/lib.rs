//! iris-cli: a signed client, batch scorer, load tester and local emulator for ML models
//! served as API Gateway (IAM auth) -> Lambda -> SageMaker real-time endpoints.

pub mod awserror;
pub mod batch;
pub mod bench;
pub mod cli;
pub mod client;
pub mod columns;
pub mod completions;
pub mod config;
pub mod credentials;
pub mod duration;
pub mod emulator;
pub mod error;
pub mod man;
pub mod postman;
pub mod predict;
pub mod redact;
pub mod response;
pub mod session;
pub mod sign;

use crate::cli::{Cli, Command, OutputFormat, PredictArgs};
use crate::client::HttpSettings;
use crate::error::{CliError, Exit};
use crate::predict::{BodySource, Output, PredictOptions};

/// Run a parsed command line; the caller maps errors to exit codes with `error::classify`.
pub async fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Predict(mut args) => {
            if let Some(req) =
                postman::apply(&args.postman, &mut args.target, &mut args.http.headers)?
            {
                let given = args.data.is_some()
                    || args.body.is_some()
                    || args.body_file.is_some()
                    || args.stdin_body.is_some();
                if !given {
                    args.body = req.body.map(|b| String::from_utf8_lossy(&b).into_owned());
                }
                args.content_type = args.content_type.or(req.content_type);
            }
            run_predict(args).await
        }
        Command::Batch(mut args) => {
            if let Some(req) =
                postman::apply(&args.postman, &mut args.target, &mut args.http.headers)?
            {
                if req.body.is_some() && !args.quiet {
                    eprintln!(
                        "iris-cli: --request '{}': its body is replaced by the rows of {}",
                        req.name,
                        args.input.display()
                    );
                }
            }
            batch::run(args).await
        }
        Command::Serve(args) => {
            emulator::serve::serve(args).await?;
            Ok(Exit::Ok)
        }
        Command::Bench(mut args) => {
            if let Some(req) =
                postman::apply(&args.postman, &mut args.target, &mut args.http.headers)?
            {
                let given =
                    args.data.is_some() || args.body_file.is_some() || args.payload_csv.is_some();
                if !given {
                    args.body = req.body.map(|b| String::from_utf8_lossy(&b).into_owned());
                }
                args.content_type = args.content_type.or(req.content_type);
            }
            bench::run_bench(*args).await
        }
        Command::Report(args) => bench::run_report(args).await,
        Command::Completions { shell } => {
            completions::write(shell, &mut std::io::stdout().lock())?;
            Ok(Exit::Ok)
        }
        Command::Man(args) => man::run(&args.subcommand, args.dir.as_deref()),
    }
}

fn http_settings(args: &cli::HttpArgs) -> HttpSettings {
    HttpSettings {
        timeout: args.timeout,
        connect_timeout: args.connect_timeout,
        ca_bundle: args.ca_bundle.clone(),
        insecure: args.insecure,
    }
}

async fn run_predict(args: PredictArgs) -> anyhow::Result<Exit> {
    let reads_stdin_body = args.stdin_body.is_some()
        || args
            .body_file
            .as_deref()
            .is_some_and(|p| p.as_os_str() == "-");
    if let Some(other) = args.stdin_body.as_deref().filter(|s| *s != "-") {
        return Err(CliError::usage(format!(
            "unexpected argument '{other}': use --data, --body, --body-file or '-' for standard input"
        ))
        .into());
    }
    if reads_stdin_body && args.auth.secret_key_stdin {
        return Err(CliError::usage(
            "--secret-key-stdin and a body from standard input cannot both read stdin",
        )
        .into());
    }
    let body = if let Some(data) = &args.data {
        BodySource::Rows(predict::parse_rows(data)?)
    } else if let Some(body) = &args.body {
        BodySource::Raw(body.clone().into_bytes())
    } else if let Some(path) = &args.body_file {
        BodySource::Raw(predict::read_body_file(path)?)
    } else if reads_stdin_body {
        BodySource::Raw(predict::read_body_file(std::path::Path::new("-"))?)
    } else {
        return Err(CliError::usage(
            "nothing to send: give --data, --body, --body-file FILE or '-'",
        )
        .hint("for example: iris-cli predict --local --data 5.1,3.5,1.4,0.2")
        .into());
    };
    let extra_headers = args
        .http
        .headers
        .iter()
        .map(|h| predict::parse_header(h))
        .collect::<Result<Vec<_>, _>>()?;
    let opts = PredictOptions {
        body,
        content_type: args.content_type.clone(),
        accept: args.accept.clone(),
        extra_headers,
        classes: args.classes.clone(),
        output: match args.output {
            OutputFormat::Human => Output::Human,
            OutputFormat::Json => Output::Json,
        },
        dry_run: args.dry_run,
        verbose: args.verbose,
        http: http_settings(&args.http),
    };
    let session = session::Session::open(&args.target, &args.auth).await?;
    predict::run(&session, &opts).await
}

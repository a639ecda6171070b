//! iris-cli: a signed client, batch scorer, load tester and local emulator for ML models
//! served as API Gateway (IAM auth) -> Lambda -> SageMaker real-time endpoints.

/// `eprintln!` for the whole crate, without the panic: std's panics when stderr cannot be
/// written (`2>/dev/full`, `2>&1 | head -1`), and a diagnostic must never take the command
/// down with it. Defined before the `mod` lines, so its textual scope shadows std's macro in
/// every module.
macro_rules! eprintln {
    () => {
        $crate::write_stderr(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::write_stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprint!` without the panic (see `eprintln!`).
#[allow(unused_macros)]
macro_rules! eprint {
    ($($arg:tt)*) => {
        $crate::write_stderr(format_args!($($arg)*))
    };
}

/// Write to stderr, ignoring errors: the one stderr writer behind `eprintln!`/`eprint!`.
#[doc(hidden)]
pub fn write_stderr(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// A warning on stderr, `iris-cli: warning: ...`; a stderr that cannot be written is ignored
/// (a warning is never worth a panic).
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => {
        $crate::write_stderr(format_args!("iris-cli: warning: {}\n", format_args!($($arg)*)))
    };
}

pub mod awserror;
pub mod batch;
pub mod bench;
pub mod capacity;
pub mod cli;
pub mod client;
pub mod columns;
pub mod completions;
pub mod config;
pub mod credentials;
pub mod duration;
pub mod emulator;
pub mod error;
pub mod flow;
pub mod man;
pub mod output;
pub mod postman;
pub mod predict;
pub mod protocol;
pub mod pyfloat;
pub mod redact;
pub mod response;
pub mod session;
pub mod sign;
pub mod signal;
pub mod tls;

use crate::cli::{Cli, Command};
use crate::error::Exit;

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
            let (opts, target, auth) = args.into_options()?;
            let session = session::Session::open(&target, &auth).await?;
            predict::run(&session, &opts).await
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
            let (opts, target, auth) = args.options()?;
            batch::run(opts, target, auth).await
        }
        Command::Serve(args) => {
            emulator::serve::serve(args.options()?).await?;
            Ok(Exit::Ok)
        }
        Command::Bench(mut args) => {
            args.load.apply_postman()?;
            bench::run_bench(args.options()?).await
        }
        Command::Capacity(mut args) => {
            args.load.apply_postman()?;
            capacity::run(args.options()?).await
        }
        Command::Report(args) => match args.command {
            cli::bench::ReportCommand::Merge(m) => bench::run_merge(m.options()?).await,
            cli::bench::ReportCommand::Cloudwatch(c) => {
                bench::run_cloudwatch_report(c.options()?).await
            }
        },
        Command::Completions { shell } => {
            completions::write(shell, &mut std::io::stdout().lock())?;
            Ok(Exit::Ok)
        }
        Command::Man(args) => man::run(&args.subcommand, args.dir.as_deref()),
    }
}

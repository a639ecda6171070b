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
pub mod cli;
pub mod client;
pub mod config;
pub mod credentials;
pub mod duration;
pub mod emulator;
pub mod error;
pub mod flow;
pub mod output;
pub mod predict;
pub mod protocol;
pub mod pyfloat;
pub mod redact;
pub mod response;
pub mod session;
pub mod sign;
pub mod signal;
pub mod tls;

use clap::CommandFactory;

use crate::cli::{Cli, Command};
use crate::error::Exit;

/// Run a parsed command line; the caller maps errors to exit codes with `error::classify`.
pub async fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Predict(args) => {
            let (opts, target, auth) = args.into_options()?;
            let session = session::Session::open(&target, &auth).await?;
            predict::run(&session, &opts).await
        }
        Command::Batch(args) => {
            let (opts, target, auth) = args.options()?;
            batch::run(opts, target, auth).await
        }
        Command::Serve(args) => {
            emulator::serve::serve(args.options()?).await?;
            Ok(Exit::Ok)
        }
        Command::Bench(args) => bench::run_bench(args.options()?).await,
        Command::Report(args) => match args.command {
            cli::bench::ReportCommand::Merge(m) => bench::run_merge(m.options()?).await,
        },
        Command::Completions { shell } => {
            // clap_complete panics on a write error; render to memory, then write (a closed
            // pipe is then an error, not a panic).
            let mut cmd = Cli::command();
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut cmd, "iris-cli", &mut text);
            std::io::Write::write_all(&mut std::io::stdout(), &text)?;
            Ok(Exit::Ok)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(Exit::Ok)
        }
    }
}

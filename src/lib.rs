//! iris-cli: a signed client, batch scorer, load tester and local emulator for ML models
//! served as API Gateway (IAM auth) -> Lambda -> SageMaker real-time endpoints.

/// A warning on stderr, `iris-cli: warning: ...`; a stderr that cannot be written is ignored
/// (a warning is never worth a panic).
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), "iris-cli: warning: {}", format_args!($($arg)*));
    }};
}

pub mod awserror;
pub mod batch;
pub mod bench;
pub mod capacity;
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
        Command::Capacity(args) => capacity::run(args.options()?).await,
        Command::Report(args) => match args.command {
            cli::bench::ReportCommand::Merge(m) => bench::run_merge(m.options()?).await,
        },
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "iris-cli", &mut std::io::stdout());
            Ok(Exit::Ok)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(Exit::Ok)
        }
    }
}

use std::process::ExitCode;

use clap::Parser;
use iris_cli::cli::Cli;
use iris_cli::error::{classify, Exit};

/// std's `eprintln!` panics when stderr cannot be written; the library's writer does not.
macro_rules! eprintln {
    ($($arg:tt)*) => {
        iris_cli::write_stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("iris-cli: error: cannot start the async runtime: {e}");
            return ExitCode::from(Exit::Failure.code());
        }
    };
    match runtime.block_on(iris_cli::run(cli)) {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(err) => {
            let (exit, hints) = classify(&err);
            eprintln!("iris-cli: error: {err:#}");
            for hint in hints {
                eprintln!("  hint: {hint}");
            }
            ExitCode::from(exit.code())
        }
    }
}

//! Exit codes and the error type that carries one, with hints for the user.

use std::fmt;

/// The documented exit codes (README, "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    /// Anything else: bad local input, unreadable file, unexpected response.
    Failure = 1,
    /// Command-line usage error (clap uses 2 as well).
    Usage = 2,
    /// Credentials missing, or the request was rejected by authentication/authorization.
    Auth = 3,
    /// Any other 4xx, including a model error caused by the input.
    Client = 4,
    /// 5xx, throttling (429) or a failed function invocation.
    Server = 5,
    /// Timeout, connection refused or reset, TLS or DNS failure.
    Network = 6,
    /// `batch` finished but some rows were rejected (see the rejects file).
    Rejected = 7,
    /// Stopped by Ctrl-C or SIGTERM (128 + SIGINT).
    Interrupted = 130,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// An error with its exit code and hints; `main` prints `iris-cli: error: <message>` then
/// each hint.
#[derive(Debug)]
pub struct CliError {
    pub exit: Exit,
    pub message: String,
    pub hints: Vec<String>,
}

impl CliError {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        CliError {
            exit,
            message: message.into(),
            hints: Vec::new(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// The exit code and hints for any error that reaches `main`.
pub fn classify(err: &anyhow::Error) -> (Exit, Vec<String>) {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<CliError>() {
            return (e.exit, e.hints.clone());
        }
    }
    (Exit::Failure, Vec::new())
}

//! SIGINT and SIGTERM mean the same everywhere: stop gracefully. Ctrl-C in a terminal sends
//! SIGINT; Kubernetes, systemd and docker send SIGTERM. `batch` finishes the requests in flight
//! and checkpoints, `bench` prints its report and closes its log, `serve` stops accepting and
//! drains.

use std::fmt;

/// Which signal asked the run to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Interrupt,
    Terminate,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stop::Interrupt => "SIGINT",
            Stop::Terminate => "SIGTERM",
        })
    }
}

/// Both signals, registered at once (a signal that arrives during start-up is not lost).
pub struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    /// Must be called inside the tokio runtime.
    pub fn new() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                int: signal(SignalKind::interrupt())?,
                term: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next SIGINT or SIGTERM.
    pub async fn recv(&mut self) -> Stop {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.int.recv() => Stop::Interrupt,
                _ = self.term.recv() => Stop::Terminate,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Stop::Interrupt
        }
    }
}

//! `iris-cli serve`: the export lines and the foreground loop (flags: `cli::serve`).

use std::io::Write;
use std::path::PathBuf;

use super::auth;
use super::{Emulator, EmulatorConfig};

/// The `export` lines `serve` prints first. The built-in keys are public test keys, so the
/// secret is printed; keys from a file are not.
pub fn export_lines(emu: &Emulator, credentials: Option<&std::path::Path>) -> String {
    let cfg = emu.config();
    let mut s = format!(
        "export IRIS_URL={}\nexport IRIS_ENDPOINT_URL={}\nexport IRIS_ENDPOINT_NAME={}\nexport AWS_REGION={}\n",
        emu.invoke_url(),
        emu.endpoint_url(),
        emu.endpoint_name(),
        emu.region()
    );
    let first = cfg.keys.principals().first();
    match (credentials, first) {
        (Some(path), Some(p)) => {
            s.push_str(&format!(
                "export AWS_ACCESS_KEY_ID={}\n# secret: from {}\n",
                p.access_key,
                path.display()
            ));
        }
        _ => {
            s.push_str(&format!(
                "export AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\n",
                auth::TEST_ACCESS_KEY,
                auth::TEST_SECRET_KEY
            ));
        }
    }
    s
}

/// Run the emulator in the foreground until Ctrl-C.
/// What `serve` runs: the emulator's configuration and where its keys came from (a file's keys
/// are not printed).
#[derive(Debug)]
pub struct ServeOptions {
    pub config: EmulatorConfig,
    pub credentials_file: Option<PathBuf>,
}

pub async fn serve(opts: ServeOptions) -> anyhow::Result<()> {
    let mut signals = crate::signal::Signals::new()?;
    let emu = Emulator::start(opts.config).await?;
    {
        let mut out = std::io::stdout().lock();
        out.write_all(export_lines(&emu, opts.credentials_file.as_deref()).as_bytes())?;
        out.flush()?;
    }
    eprintln!(
        "iris-cli serve: listening on http://{}; Ctrl-C (or SIGTERM) to stop",
        emu.local_addr()
    );
    let sig = signals.recv().await;
    eprintln!("iris-cli serve: {sig}: stopping");
    let stats = emu.stats();
    emu.shutdown().await;
    eprintln!(
        "iris-cli serve: {} requests, {} signatures accepted, {} predictions",
        stats.requests, stats.accepted, stats.predictions
    );
    Ok(())
}

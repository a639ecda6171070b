//! `iris-cli serve`: the export lines and the foreground loop (flags: `cli::serve`).

use std::io::Write;
use std::path::PathBuf;

use super::auth;
use super::{Emulator, EmulatorConfig};

/// A POSIX shell word that stands for `value` exactly: single-quoted, with each `'` written as
/// `'\''`.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

/// The `export` lines `serve` prints first: enough for iris-cli, the AWS CLI (which reads only
/// `AWS_DEFAULT_REGION`), boto3 and the AWS SDKs (`AWS_ENDPOINT_URL_<SERVICE>` sends SageMaker
/// runtime and CloudWatch calls to the emulator). Every value is shell-quoted. The built-in keys
/// are public test keys, so the secret is printed; keys from a file are not.
pub fn export_lines(emu: &Emulator, credentials: Option<&std::path::Path>) -> String {
    let cfg = emu.config();
    let mut vars: Vec<(&str, String)> = vec![
        ("IRIS_URL", emu.invoke_url()),
        ("IRIS_HTTP_API_URL", emu.http_api_url()),
        ("IRIS_FUNCTION_URL", emu.function_url()),
        ("IRIS_ENDPOINT_URL", emu.endpoint_url()),
        ("IRIS_ENDPOINT_NAME", emu.endpoint_name().to_string()),
        ("AWS_REGION", emu.region().to_string()),
        ("AWS_DEFAULT_REGION", emu.region().to_string()),
        ("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", emu.endpoint_url()),
        ("AWS_ENDPOINT_URL_CLOUDWATCH", emu.endpoint_url()),
    ];
    if let Some(ca) = &cfg.tls_ca_file {
        // `--tls`: iris-cli reads IRIS_CA_BUNDLE, the AWS CLI and the SDKs AWS_CA_BUNDLE.
        let ca = ca.display().to_string();
        vars.push(("IRIS_CA_BUNDLE", ca.clone()));
        vars.push(("AWS_CA_BUNDLE", ca));
    }
    let first = cfg.keys.principals().first();
    let mut comment = None;
    match (credentials, first) {
        (Some(path), Some(p)) => {
            vars.push(("AWS_ACCESS_KEY_ID", p.access_key.clone()));
            comment = Some(format!("# secret: from {}\n", path.display()));
        }
        _ => {
            vars.push(("AWS_ACCESS_KEY_ID", auth::TEST_ACCESS_KEY.to_string()));
            vars.push(("AWS_SECRET_ACCESS_KEY", auth::TEST_SECRET_KEY.to_string()));
        }
    }
    let mut s = String::new();
    for (name, value) in vars {
        s.push_str(&format!("export {name}={}\n", shell_quote(&value)));
    }
    if let Some(c) = comment {
        s.push_str(&c);
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
    /// `--postman DIR`.
    pub postman_dir: Option<PathBuf>,
}

/// `--postman DIR`: the same facts as the export lines, and the same rule for secrets.
fn write_postman(
    emu: &Emulator,
    dir: &std::path::Path,
    credentials: Option<&std::path::Path>,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let (invoke_url, endpoint_url) = (emu.invoke_url(), emu.endpoint_url());
    let first = emu.config().keys.principals().first();
    let (access_key, secret_key) = match (credentials, first) {
        (Some(_), Some(p)) => (p.access_key.clone(), None),
        _ => (
            auth::TEST_ACCESS_KEY.to_string(),
            Some(auth::TEST_SECRET_KEY),
        ),
    };
    crate::postman::write_export(
        dir,
        &crate::postman::ServeVars {
            invoke_url: &invoke_url,
            endpoint_url: &endpoint_url,
            endpoint_name: emu.endpoint_name(),
            region: emu.region(),
            access_key: &access_key,
            secret_key,
            secret_from: credentials,
        },
    )
}

pub async fn serve(opts: ServeOptions) -> anyhow::Result<()> {
    let mut signals = crate::signal::Signals::new()?;
    let emu = Emulator::start(opts.config).await?;
    // Before the export lines: whoever reads those may open the files at once.
    if let Some(dir) = &opts.postman_dir {
        let (collection, environment) = write_postman(&emu, dir, opts.credentials_file.as_deref())?;
        eprintln!(
            "iris-cli serve: Postman: import {} and {} (or: newman run {} -e {})",
            collection.display(),
            environment.display(),
            collection.display(),
            environment.display()
        );
    }
    {
        let mut out = std::io::stdout().lock();
        out.write_all(export_lines(&emu, opts.credentials_file.as_deref()).as_bytes())?;
        out.flush()?;
    }
    eprintln!(
        "iris-cli serve: listening on {}://{} (function URL on {}://{}); Ctrl-C (or SIGTERM) to stop",
        emu.scheme(),
        emu.local_addr(),
        emu.scheme(),
        emu.function_url_addr()
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

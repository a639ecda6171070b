//! `iris-cli predict`: one signed prediction request.

use std::io::{Read, Write};

use anyhow::Context as _;
use bytes::Bytes;
use serde_json::json;

use crate::awserror::{self, AwsError};
use crate::client::{self, Exchange, HttpSettings, Signer};
use crate::config::{Target, TargetKind};
use crate::error::{CliError, Exit};
use crate::output::Format;
use crate::protocol::RequestSpec;
use crate::redact;
use crate::response::{self, Parsed, Prediction};
use crate::session::Session;

/// What to send.
#[derive(Debug, Clone)]
pub enum BodySource {
    /// Feature rows as CSV cells.
    Rows(Vec<String>),
    /// A raw body (`--body`, `--body-file`): shared, never copied (a 100 MB file is held once).
    Raw(Bytes),
}

/// Validated settings of one `predict` run.
#[derive(Debug)]
pub struct PredictOptions {
    pub body: BodySource,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    pub extra_headers: Vec<(String, String)>,
    pub classes: Vec<String>,
    pub output: Format,
    pub dry_run: bool,
    pub verbose: bool,
    pub http: HttpSettings,
}

/// Split `--data` into rows (newlines or ';') and check each cell is a number or empty.
pub fn parse_rows(data: &str) -> Result<Vec<String>, CliError> {
    let rows: Vec<String> = data
        .split(['\n', ';'])
        .map(|r| r.trim().trim_end_matches('\r').to_string())
        .filter(|r| !r.is_empty())
        .collect();
    if rows.is_empty() {
        return Err(CliError::usage(
            "--data is empty: give features as CSV, e.g. --data 5.1,3.5,1.4,0.2",
        ));
    }
    let mut width = None;
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<&str> = row.split(',').collect();
        for (j, cell) in cells.iter().enumerate() {
            let cell = cell.trim();
            if !cell.is_empty() && cell.parse::<f64>().is_err() {
                return Err(CliError::usage(format!(
                    "--data row {}, column {}: '{cell}' is not a number",
                    i + 1,
                    j + 1
                )));
            }
        }
        match width {
            None => width = Some(cells.len()),
            Some(w) if w != cells.len() => {
                return Err(CliError::usage(format!(
                    "--data row {} has {} columns but row 1 has {w}",
                    i + 1,
                    cells.len()
                )))
            }
            _ => {}
        }
    }
    Ok(rows)
}

/// Read a body from a file or `-` (stdin), naming the file in errors.
pub fn read_body_file(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("cannot read the request body from standard input")?;
        return Ok(buf);
    }
    std::fs::read(path).with_context(|| format!("cannot read --body-file {}", path.display()))
}

fn request_body(kind: TargetKind, body: &BodySource) -> Bytes {
    match body {
        BodySource::Raw(b) => b.clone(),
        BodySource::Rows(rows) => {
            let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
            Bytes::from(kind.protocol().body(&rows))
        }
    }
}

fn request_headers(opts: &PredictOptions, kind: TargetKind) -> Vec<(String, String)> {
    kind.protocol().headers(&RequestSpec {
        content_type: opts.content_type.clone(),
        accept: opts.accept.clone(),
        extra_headers: opts.extra_headers.clone(),
    })
}

/// Parse `-H 'Name: value'` (see `protocol::parse_header`).
pub fn parse_header(raw: &str) -> Result<(String, String), CliError> {
    crate::protocol::parse_header(raw)
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn dry_run(
    out: &mut dyn Write,
    signer: &Signer,
    headers: &[(String, String)],
    body: &[u8],
    local: bool,
) -> anyhow::Result<()> {
    let signed = signer.sign(headers, body)?;
    let req = signer.unsigned(headers, body);
    let ex = crate::sign::explain(&req, &signed, &signer.target.scope);
    let canonical: Vec<String> = ex
        .canonical_request
        .lines()
        .map(|l| match l.split_once(':') {
            Some((n, v)) => format!("{n}:{}", redact::header_value(n, v)),
            None => l.to_string(),
        })
        .collect();
    writeln!(out, "# Canonical request")?;
    writeln!(out, "{}", canonical.join("\n"))?;
    writeln!(out, "\n# String to sign")?;
    writeln!(out, "{}", ex.string_to_sign)?;
    writeln!(out, "\n# Signed headers")?;
    writeln!(out, "{}", ex.signed_headers)?;
    writeln!(out, "\n# Request (not sent)")?;
    writeln!(out, "POST {}", signer.target.url)?;
    for (n, v) in &signed.headers {
        writeln!(out, "{n}: {}", redact::header_value(n, v))?;
    }
    let scope = &signer.target.scope;
    let mut curl = format!(
        "curl --aws-sigv4 {} --user \"$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY\"",
        shell_quote(&format!("aws:amz:{}:{}", scope.region, scope.service))
    );
    if signer.credentials().session_token().is_some() {
        curl.push_str(" -H \"x-amz-security-token: $AWS_SESSION_TOKEN\"");
    }
    for (n, v) in headers {
        curl.push_str(&format!(" -H {}", shell_quote(&format!("{n}: {v}"))));
    }
    let url = if local {
        local_curl_url(&signer.target)
    } else {
        shell_quote(signer.target.url.as_str())
    };
    curl.push_str(&format!(
        " --data-binary {} {url}",
        shell_quote(&String::from_utf8_lossy(body)),
    ));
    writeln!(
        out,
        "\n# Equivalent curl command (curl signs with the keys in your environment)"
    )?;
    if local {
        let port = signer.target.url.port().unwrap_or(80);
        writeln!(
            out,
            "# --local: the embedded emulator on port {port} closes when this command exits. To run \
             this curl,\n# start `iris-cli serve` in another shell and paste its export lines \
             (the URL and the keys) here first."
        )?;
    }
    writeln!(out, "{curl}")?;
    Ok(())
}

/// The URL for `--local`'s curl line: the one `iris-cli serve` prints (its `IRIS_URL` or
/// `IRIS_ENDPOINT_URL` export), else serve's default address; the embedded emulator's own port
/// is gone by the time anyone runs it.
fn local_curl_url(target: &crate::config::Target) -> String {
    let path = target.url.path();
    let escaped = |s: &str| {
        s.chars()
            .flat_map(|c| match c {
                '$' | '`' | '"' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect::<String>()
    };
    match target.kind.protocol().serve_export() {
        (var, false) => format!("\"${{{var}:-http://127.0.0.1:8080}}{}\"", escaped(path)),
        (var, true) => format!("\"${{{var}:-http://127.0.0.1:8080{}}}\"", escaped(path)),
    }
}

fn print_exchange_headers(signer: &Signer, signed: &crate::sign::Signed, ex: &Exchange) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "> POST {}", signer.target.url);
    for (n, v) in &signed.headers {
        let _ = writeln!(err, "> {n}: {}", redact::header_value(n, v));
    }
    let _ = writeln!(err, "< {}", ex.status);
    for (n, v) in &ex.headers {
        let v = v.to_str().unwrap_or("<binary>");
        let _ = writeln!(err, "< {n}: {}", redact::header_value(n.as_str(), v));
    }
    let _ = writeln!(err, "* {:.1} ms", ex.latency.as_secs_f64() * 1e3);
}

pub async fn run(session: &Session, opts: &PredictOptions) -> anyhow::Result<Exit> {
    let signer = &session.signer;
    let target: &Target = &signer.target;
    let body = request_body(target.kind, &opts.body);
    let headers = request_headers(opts, target.kind);
    if opts.verbose {
        eprintln!(
            "* credentials: {} (access key {})",
            session.credentials_origin,
            signer.credentials().access_key_id()
        );
        eprintln!(
            "* signing for region {} service {}",
            target.scope.region, target.scope.service
        );
    }
    if opts.dry_run {
        let mut out = std::io::stdout().lock();
        dry_run(&mut out, signer, &headers, &body, session.is_local())?;
        return Ok(Exit::Ok);
    }
    let http = client::http_client(&opts.http, &signer.target.url)?;
    let verbose = opts.verbose;
    let mut observe = |signed: &crate::sign::Signed, ex: &Exchange| {
        if verbose {
            print_exchange_headers(signer, signed, ex);
        }
    };
    let answer = client::call(&http, signer, &headers, &body, &mut observe)
        .await
        .map_err(|n| n.error)?;
    let (ex, signed) = (&answer.exchange, &answer.signed);
    if ex.status >= 300 {
        let err = AwsError::parse(ex.status, &ex.headers, &ex.body);
        let req = signer.unsigned(&headers, &body);
        let ours = crate::sign::explain(&req, signed, &target.scope);
        return Err(awserror::to_cli_error(
            &err,
            answer.detail,
            Some(&ours),
            signer.credentials().access_key_id(),
        )
        .into());
    }
    let ex = &answer.exchange;
    let request_id = awserror::request_id(&ex.headers);
    match response::parse(&ex.body, &opts.classes) {
        Parsed::Predictions(preds) => {
            print_predictions(opts.output, &opts.classes, &preds, ex, request_id.as_deref())?;
            Ok(Exit::Ok)
        }
        Parsed::FunctionError {
            message,
            error_type,
        } => Err(CliError::new(
            match answer.detail.outcome() {
                crate::protocol::Outcome::Rejected => Exit::Server,
                other => other.exit(),
            },
            format!("the Lambda function failed: {error_type}: {message}"),
        )
        .hint("a non-proxy integration returns a function's error with status 200; see the function's CloudWatch logs")
        .into()),
        Parsed::Unknown => {
            eprintln!(
                "iris-cli: warning: unrecognised response shape ({} bytes, content-type {}); printing it as is",
                ex.body.len(),
                ex.headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("none")
            );
            let mut out = std::io::stdout().lock();
            out.write_all(&ex.body)?;
            if !ex.body.ends_with(b"\n") {
                out.write_all(b"\n")?;
            }
            Ok(Exit::Ok)
        }
    }
}

fn print_predictions(
    output: Format,
    classes: &[String],
    preds: &[Prediction],
    ex: &Exchange,
    request_id: Option<&str>,
) -> anyhow::Result<()> {
    let latency_ms = (ex.latency.as_secs_f64() * 1e6).round() / 1e3;
    let mut out = std::io::stdout().lock();
    match output {
        Format::Json => {
            let first = &preds[0];
            let value = json!({
                "species": first.species,
                "class_index": first.class_index,
                "probabilities": first.probabilities,
                "score": first.score,
                "status": ex.status,
                "latency_ms": latency_ms,
                "request_id": request_id,
                "predictions": preds,
            });
            writeln!(out, "{value}")?;
        }
        Format::Human => {
            for (i, p) in preds.iter().enumerate() {
                if preds.len() > 1 {
                    writeln!(out, "row {}:", i + 1)?;
                }
                let label = match (&p.species, p.class_index, p.score) {
                    (Some(s), Some(c), _) => format!("{s} (class {c})"),
                    (Some(s), None, _) => s.clone(),
                    (None, Some(c), _) => format!("class {c}"),
                    (None, None, Some(v)) => format!("score {v}"),
                    (None, None, None) => "(no label)".into(),
                };
                writeln!(out, "{label}")?;
                for (c, prob) in p.probabilities.iter().enumerate() {
                    let name = classes
                        .get(c)
                        .cloned()
                        .unwrap_or_else(|| format!("class {c}"));
                    let bar = "█".repeat((prob * 30.0).round().clamp(0.0, 30.0) as usize);
                    writeln!(out, "  {name:<12} {prob:>8.4}  {bar}")?;
                }
            }
            eprintln!(
                "{} · {:.1} ms{}",
                ex.status,
                latency_ms,
                request_id
                    .map(|r| format!(" · request id {r}"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}

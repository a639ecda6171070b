//! The wire protocol of each target kind, in one place: how rows become a request body and
//! headers, how an answer becomes predictions, and how an answer or a transport failure
//! becomes one [`Outcome`] of the shared taxonomy (`outcome`).
//!
//! A new target kind is one file here implementing [`Protocol`], plus its line in
//! [`TargetKind::protocol`](crate::config::TargetKind::protocol).

pub mod apigw;
pub mod function_url;
pub mod http_api;
pub mod outcome;
pub mod sagemaker;

use std::time::SystemTime;

use reqwest::header::HeaderMap;

pub use outcome::{Category, Detail, Outcome};

use crate::awserror::AwsError;
use crate::error::CliError;
use crate::response::{self, Parsed};

/// What a command asks for besides the rows: overrides and `-H` headers.
#[derive(Debug, Clone, Default)]
pub struct RequestSpec {
    pub content_type: Option<String>,
    pub accept: Option<String>,
    pub extra_headers: Vec<(String, String)>,
}

/// One target kind's wire format.
pub trait Protocol: Sync + Send {
    /// Short name: bench's target name, JSON keys.
    fn name(&self) -> &'static str;
    /// For messages: "API", "SageMaker endpoint".
    fn describe(&self) -> &'static str;
    /// The SigV4 signing service.
    fn service(&self) -> &'static str;
    fn default_content_type(&self) -> &'static str;
    /// The Accept header sent unless the user gives one.
    fn default_accept(&self) -> Option<&'static str> {
        None
    }
    /// Append the body carrying `rows` (validated CSV feature rows) to `out`.
    fn write_body(&self, rows: &mut dyn Iterator<Item = &str>, out: &mut Vec<u8>);
    /// The kind-specific part of classifying an error status (>= 300); `None` falls back to
    /// the shared rules in [`classify`].
    fn classify_error(&self, status: u16, err: &AwsError) -> Option<Detail>;

    /// The headers every request carries (and signs), in this order: content-type, accept,
    /// the user's.
    fn headers(&self, spec: &RequestSpec) -> Vec<(String, String)> {
        let mut h = vec![(
            "content-type".to_string(),
            spec.content_type
                .clone()
                .unwrap_or_else(|| self.default_content_type().to_string()),
        )];
        match (&spec.accept, self.default_accept()) {
            (Some(a), _) => h.push(("accept".to_string(), a.clone())),
            (None, Some(a)) => h.push(("accept".to_string(), a.to_string())),
            (None, None) => {}
        }
        h.extend(spec.extra_headers.iter().cloned());
        h
    }

    /// The body for `rows`.
    fn body(&self, rows: &[&str]) -> Vec<u8> {
        let mut out = Vec::with_capacity(rows.iter().map(|r| r.len() + 2).sum::<usize>() + 16);
        self.write_body(&mut rows.iter().copied(), &mut out);
        out
    }

    /// The predictions (or function error) in a 2xx body.
    fn predictions(&self, body: &[u8], classes: &[String]) -> Parsed {
        response::parse(body, classes)
    }

    /// Bytes the body adds per row beyond the row itself, for batch's size budget: a JSON
    /// body's `\n` escape (2); a CSV body's newline (1).
    fn per_row_overhead(&self) -> usize {
        2
    }

    /// The variable `iris-cli serve` exports for this kind, and whether it holds the whole URL
    /// (an invoke URL: `true`) or the endpoint's base that the path is appended to.
    fn serve_export(&self) -> (&'static str, bool) {
        ("IRIS_URL", true)
    }
}

/// Classify an answer. Cheap for a success: a 2xx body is only searched for `errorMessage`
/// (a non-proxy function error arrives as 200).
pub fn classify(protocol: &dyn Protocol, status: u16, headers: &HeaderMap, body: &[u8]) -> Detail {
    if (200..300).contains(&status) {
        let marker: &[u8] = b"\"errorMessage\"";
        if !body.windows(marker.len()).any(|w| w == marker) {
            return Detail::Ok;
        }
        return match response::parse(body, &[]) {
            Parsed::FunctionError {
                message,
                error_type,
            } => outcome::function_error(&error_type, &message),
            _ => Detail::Ok,
        };
    }
    if (300..400).contains(&status) {
        return Detail::Redirect;
    }
    let err = AwsError::parse(status, headers, body);
    if let Some(d) = protocol.classify_error(status, &err) {
        return d;
    }
    classify_common(status, &err)
}

/// The rules every AWS front door shares.
fn classify_common(status: u16, err: &AwsError) -> Detail {
    let t = err.error_type.as_deref().unwrap_or("");
    match status {
        401 | 403 => {
            if err.is_clock_skew() {
                Detail::ClockSkew
            } else if matches!(
                t,
                "InvalidSignatureException"
                    | "SignatureDoesNotMatch"
                    | "IncompleteSignatureException"
            ) || err.headline().to_ascii_lowercase().contains("signature")
            {
                Detail::Signature
            } else if t == "AccessDeniedException" || err.headline().contains("not authorized") {
                Detail::Denied
            } else if t == "MissingAuthenticationTokenException"
                || err.headline() == "Missing Authentication Token"
            {
                Detail::MissingToken
            } else {
                Detail::Credentials
            }
        }
        404 => Detail::NotFound,
        408 => Detail::RequestTimeout,
        413 => Detail::TooLarge,
        424 => {
            if err.message.contains("timed out") {
                Detail::ContainerTimeout
            } else {
                Detail::ModelError
            }
        }
        400..=499 => Detail::OtherClient,
        _ => Detail::Server5xx,
    }
}

/// One line for a failed answer, safe to print: AWS's error, or the function error a
/// non-proxy API returns with 200.
pub fn describe(status: u16, headers: &HeaderMap, body: &[u8], detail: Detail) -> String {
    if (200..300).contains(&status) {
        if let Parsed::FunctionError {
            message,
            error_type,
        } = response::parse(body, &[])
        {
            return crate::redact::server_text(&format!(
                "the Lambda function failed: {error_type}: {}",
                message.lines().next().unwrap_or_default()
            ));
        }
        return format!("unexpected answer ({})", detail.name());
    }
    AwsError::parse(status, headers, body).one_line()
}

/// A transport failure (no answer).
pub fn classify_transport(timed_out: bool) -> Detail {
    if timed_out {
        Detail::Timeout
    } else {
        Detail::Connection
    }
}

/// Parse `-H 'Name: value'`.
pub fn parse_header(raw: &str) -> Result<(String, String), CliError> {
    let (name, value) = raw
        .split_once(':')
        .ok_or_else(|| CliError::usage(format!("invalid -H '{raw}': expected 'Name: value'")))?;
    let name = name.trim();
    let value = value.trim();
    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(CliError::usage(format!(
            "invalid -H '{}': bad header name",
            crate::redact::server_text(name)
        )));
    }
    // The value is never echoed: `-H` carries API keys and bearer tokens.
    if reqwest::header::HeaderValue::from_str(value).is_err() {
        return Err(CliError::usage(format!(
            "invalid -H {name}: the value holds a control character or non-ASCII byte"
        )));
    }
    // SigV4's canonical form trims a value and collapses its runs of spaces; signers disagree
    // on tabs (botocore collapses every whitespace run, aws-sigv4 only spaces), so a tab
    // would be signed one way and perhaps checked another: refused, not guessed.
    if value.contains('\t') {
        return Err(CliError::usage(format!(
            "invalid -H {name}: the value holds a tab, which AWS signers canonicalise \
             differently (botocore as a space, the AWS SDK for Rust as a tab); use spaces"
        )));
    }
    let lower = name.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "host"
            | "authorization"
            | "x-amz-date"
            | "x-amz-security-token"
            | "x-amz-content-sha256"
            | "content-length"
            | "transfer-encoding"
    ) {
        return Err(CliError::usage(format!(
            "-H {name}: this header is set by signing or by the HTTP layer and cannot be given"
        )));
    }
    Ok((name.to_string(), value.to_string()))
}

/// The skew (milliseconds, positive: the server is ahead) a server's `Date` shows against our
/// clock, from an answer that said the signature's time was off. The `Date` is compared with
/// the midpoint of send and receive (the server stamped it somewhere in between), and one more
/// than 24 hours away is ignored: no real clock is that far off, and believing it would break
/// every later signature.
pub fn skew_from_date(headers: &HeaderMap, sent: SystemTime, received: SystemTime) -> Option<i64> {
    const BOUND_MS: i64 = 24 * 3600 * 1000;
    let date = headers.get("date")?.to_str().ok()?;
    let server = httpdate::parse_http_date(date).ok()?;
    let local = sent + received.duration_since(sent).unwrap_or_default() / 2;
    let ms = match server.duration_since(local) {
        Ok(ahead) => i64::try_from(ahead.as_millis()).ok()?,
        Err(behind) => -i64::try_from(behind.duration().as_millis()).ok()?,
    };
    (ms.abs() <= BOUND_MS).then_some(ms)
}

#[cfg(test)]
mod tests;

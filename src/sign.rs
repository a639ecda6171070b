//! SigV4 signing of one request with aws-sigv4, plus the canonical request and string-to-sign
//! that explain it (for `--dry-run` and for diffing against the echo in an
//! `InvalidSignatureException`).
//!
//! The signing time is always passed in; nothing here reads the clock.

use std::borrow::Cow;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign as sigv4_sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
    SigningSettings,
};
use aws_sigv4::sign::v4;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};
use url::Url;

/// Where a signature is valid: the credential scope's region and service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub region: String,
    pub service: String,
}

/// A request as it will go on the wire, before signing.
#[derive(Debug, Clone)]
pub struct Unsigned<'a> {
    pub method: &'a str,
    pub url: &'a Url,
    /// Headers to send and sign, besides `host` and the ones signing adds. Names as given.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// The outcome of signing: every header to send, in order, none to be changed afterwards.
#[derive(Clone)]
pub struct Signed {
    /// `host`, the caller's headers, then `x-amz-date`, `x-amz-content-sha256` (non-empty body),
    /// `x-amz-security-token` (temporary credentials) and `authorization`.
    pub headers: Vec<(String, String)>,
    pub signature: String,
    pub amz_date: String,
}

impl std::fmt::Debug for Signed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<_> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), crate::redact::header_value(n, v)))
            .collect();
        f.debug_struct("Signed")
            .field("headers", &headers)
            .field("signature", &"<redacted>")
            .field("amz_date", &self.amz_date)
            .finish()
    }
}

impl Signed {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot sign the request: {0}")]
pub struct SignError(String);

/// The `host` header value for `url`: host, plus the port when it is not the scheme's default.
pub fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// Hex SHA-256, as SigV4 uses for payloads and canonical requests.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Variations of signing, for the AWS test-suite vectors; `Default` is what iris-cli sends.
#[derive(Debug, Clone, Copy)]
pub struct SignOptions {
    /// Send and sign `x-amz-content-sha256` for a non-empty body (Postman parity).
    pub content_sha256: bool,
    /// Remove `.`/`..` and empty path segments before signing (all non-S3 services do).
    pub normalize_path: bool,
}

impl Default for SignOptions {
    fn default() -> Self {
        SignOptions {
            content_sha256: true,
            normalize_path: true,
        }
    }
}

fn settings(body: &[u8], opts: SignOptions) -> SigningSettings {
    let mut settings = SigningSettings::default();
    // Non-S3 services check a double-encoded path (AWS_WIRE section 8).
    settings.percent_encoding_mode = PercentEncodingMode::Double;
    settings.uri_path_normalization_mode = opts.normalize_path.into();
    if opts.content_sha256 && !body.is_empty() {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    // Sign every header the user gave (the default would skip User-Agent and X-Amzn-Trace-Id).
    settings.excluded_headers = Some(vec![Cow::Borrowed("authorization")]);
    settings
}

/// Sign `req` for `scope` at `time`, as iris-cli sends requests.
pub fn sign(
    req: &Unsigned<'_>,
    creds: &Credentials,
    scope: &Scope,
    time: SystemTime,
) -> Result<Signed, SignError> {
    sign_with(req, creds, scope, time, SignOptions::default())
}

/// `sign` with explicit options.
pub fn sign_with(
    req: &Unsigned<'_>,
    creds: &Credentials,
    scope: &Scope,
    time: SystemTime,
    opts: SignOptions,
) -> Result<Signed, SignError> {
    let host = host_header(req.url);
    let mut headers: Vec<(String, String)> = Vec::with_capacity(req.headers.len() + 5);
    headers.push(("host".to_string(), host));
    headers.extend(req.headers.iter().cloned());

    let identity = creds.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&scope.region)
        .name(&scope.service)
        .time(time)
        .settings(settings(req.body, opts))
        .build()
        .map_err(|e| SignError(e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        req.method,
        req.url.as_str(),
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(req.body),
    )
    .map_err(|e| SignError(e.to_string()))?;
    let (instructions, signature) = sigv4_sign(signable, &params)
        .map_err(|e| SignError(e.to_string()))?
        .into_parts();
    let mut amz_date = String::new();
    for (name, value) in instructions.headers() {
        if name.eq_ignore_ascii_case("x-amz-date") {
            amz_date = value.to_string();
        }
        headers.push((name.to_ascii_lowercase(), value.to_string()));
    }
    Ok(Signed {
        headers,
        signature,
        amz_date,
    })
}

/// The canonical request and string-to-sign behind a signature, rebuilt from what was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub canonical_request: String,
    pub string_to_sign: String,
    pub signed_headers: String,
}

/// RFC 3986 unreserved characters stay; everything else is percent-encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
const UNRESERVED_AND_SLASH: &AsciiSet = &UNRESERVED.remove(b'/');

/// Remove `.`/`..` segments and empty segments, as the signer does for non-S3 services.
fn normalize_path(path: &str) -> Cow<'_, str> {
    if path.is_empty() {
        return Cow::Borrowed("/");
    }
    if !path.contains('.') && !path.contains("//") && path.starts_with('/') {
        return Cow::Borrowed(path);
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = format!("/{}", segments.join("/"));
    let trailing = ["/", "/.", "/./", "/..", "/../"]
        .iter()
        .any(|s| path.ends_with(s));
    if trailing && !out.ends_with('/') {
        out.push('/');
    }
    Cow::Owned(out)
}

/// The canonical URI: the path as sent, normalized, then encoded once more.
pub fn canonical_uri(url: &Url) -> String {
    utf8_percent_encode(&normalize_path(url.path()), UNRESERVED_AND_SLASH).to_string()
}

/// The canonical query string: pairs decoded, re-encoded, sorted; empty values and duplicate
/// keys kept.
pub fn canonical_query(url: &Url) -> String {
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            (
                utf8_percent_encode(&k, UNRESERVED).to_string(),
                utf8_percent_encode(&v, UNRESERVED).to_string(),
            )
        })
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

fn trim_all(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut last_space = false;
    for c in value.trim_matches(' ').chars() {
        if c == ' ' && last_space {
            continue;
        }
        last_space = c == ' ';
        out.push(c);
    }
    out
}

/// Rebuild the canonical request and string-to-sign of a signed request.
pub fn explain(req: &Unsigned<'_>, signed: &Signed, scope: &Scope) -> Explanation {
    let mut headers: Vec<(String, String)> = Vec::new();
    for (name, value) in &signed.headers {
        let name = name.to_ascii_lowercase();
        if name == "authorization" {
            continue;
        }
        let value = trim_all(value);
        match headers.iter_mut().find(|(n, _)| *n == name) {
            Some((_, existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            None => headers.push((name, value)),
        }
    }
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let signed_headers = headers
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let mut creq = String::new();
    creq.push_str(req.method);
    creq.push('\n');
    creq.push_str(&canonical_uri(req.url));
    creq.push('\n');
    creq.push_str(&canonical_query(req.url));
    creq.push('\n');
    for (n, v) in &headers {
        creq.push_str(n);
        creq.push(':');
        creq.push_str(v);
        creq.push('\n');
    }
    creq.push('\n');
    creq.push_str(&signed_headers);
    creq.push('\n');
    creq.push_str(&sha256_hex(req.body));

    let date = signed.amz_date.get(..8).unwrap_or_default();
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{}/{}/{}/aws4_request\n{}",
        signed.amz_date,
        date,
        scope.region,
        scope.service,
        sha256_hex(creq.as_bytes())
    );
    Explanation {
        canonical_request: creq,
        string_to_sign,
        signed_headers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn creds(token: Option<&str>) -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            token.map(str::to_string),
            None,
            "test",
        )
    }

    fn scope() -> Scope {
        Scope {
            region: "us-east-1".into(),
            service: "execute-api".into(),
        }
    }

    fn t0() -> SystemTime {
        // 2015-08-30T12:36:00Z, the test suite's date.
        UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    /// Our explanation must reproduce aws-sigv4's signature exactly, or diagnostics would lie.
    fn assert_explains(url: &str, headers: &[(&str, &str)], body: &[u8], token: Option<&str>) {
        let url = Url::parse(url).unwrap();
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let req = Unsigned {
            method: "POST",
            url: &url,
            headers: &headers,
            body,
        };
        let c = creds(token);
        let signed = sign(&req, &c, &scope(), t0()).unwrap();
        let ex = explain(&req, &signed, &scope());
        let key = v4::generate_signing_key(
            c.secret_access_key(),
            t0(),
            &scope().region,
            &scope().service,
        );
        let sig = v4::calculate_signature(key, ex.string_to_sign.as_bytes());
        assert_eq!(
            sig, signed.signature,
            "explanation disagrees for {url}:\n{}",
            ex.canonical_request
        );
        let auth = signed.header("authorization").unwrap();
        assert!(auth.contains(&format!("SignedHeaders={}", ex.signed_headers)));
    }

    #[test]
    fn explanation_matches_signature() {
        assert_explains(
            "https://abc123.execute-api.us-east-1.amazonaws.com/species/irispredict",
            &[("content-type", "application/json")],
            br#"{"data":"5.1,3.5,1.4,0.2"}"#,
            None,
        );
        assert_explains(
            "http://127.0.0.1:8080/a%20b/c:d@e/./f/../g?b=2&a=1&a=&c=x%3Dy&z",
            &[("X-Custom", "  two  spaces  "), ("x-custom", "again")],
            b"",
            Some("token/with+chars=="),
        );
        assert_explains(
            "https://h.example.com/%E2%82%AC/~tilde!$'()*,;?q=%E2%82%AC&r=a+b",
            &[("User-Agent", "mine")],
            b"x",
            None,
        );
    }

    #[test]
    fn signs_expected_headers() {
        let url = Url::parse("http://127.0.0.1:8080/species/irispredict").unwrap();
        let headers = vec![("content-type".to_string(), "application/json".to_string())];
        let req = Unsigned {
            method: "POST",
            url: &url,
            headers: &headers,
            body: b"{}",
        };
        let signed = sign(&req, &creds(Some("TOKEN")), &scope(), t0()).unwrap();
        assert_eq!(signed.header("host"), Some("127.0.0.1:8080"));
        assert_eq!(signed.amz_date, "20150830T123600Z");
        assert_eq!(signed.header("x-amz-security-token"), Some("TOKEN"));
        assert_eq!(
            signed.header("x-amz-content-sha256"),
            Some(sha256_hex(b"{}").as_str())
        );
        let auth = signed.header("authorization").unwrap();
        assert!(auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/execute-api/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature="
        ), "{auth}");
        let dbg = format!("{signed:?}");
        assert!(
            !dbg.contains(&signed.signature) && !dbg.contains("TOKEN"),
            "{dbg}"
        );
    }

    #[test]
    fn empty_body_has_no_hash_header() {
        let url = Url::parse("https://x.execute-api.eu-west-1.amazonaws.com:443/p").unwrap();
        let req = Unsigned {
            method: "GET",
            url: &url,
            headers: &[],
            body: b"",
        };
        let signed = sign(&req, &creds(None), &scope(), t0()).unwrap();
        assert_eq!(signed.header("x-amz-content-sha256"), None);
        assert_eq!(
            signed.header("host"),
            Some("x.execute-api.eu-west-1.amazonaws.com")
        );
    }

    #[test]
    fn canonical_query_rules() {
        let url = Url::parse("http://h/p?b=%3D&a=2&a=1&empty=&novalue").unwrap();
        assert_eq!(canonical_query(&url), "a=1&a=2&b=%3D&empty=&novalue=");
        let url = Url::parse("http://h/a%20b/c:d@e").unwrap();
        assert_eq!(canonical_uri(&url), "/a%2520b/c%3Ad%40e");
    }
}

//! API Gateway REST API with IAM auth, non-proxy ("Lambda custom", the seed's) or Lambda proxy
//! integration: the rows travel as `{"data":"r1\nr2"}`; a non-proxy function error comes back
//! as 200 with `errorMessage`, a proxy one as 502.

use super::{Detail, Protocol};
use crate::awserror::AwsError;

pub struct ApiGateway;

impl Protocol for ApiGateway {
    fn name(&self) -> &'static str {
        "apigw"
    }

    fn describe(&self) -> &'static str {
        "API"
    }

    fn service(&self) -> &'static str {
        "execute-api"
    }

    fn default_content_type(&self) -> &'static str {
        "application/json"
    }

    fn default_accept(&self) -> Option<&'static str> {
        // Signed and sent by every command (else the HTTP client adds its own `*/*`).
        Some("application/json")
    }

    fn write_body(&self, rows: &mut dyn Iterator<Item = &str>, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"data\":\"");
        for (i, row) in rows.enumerate() {
            if i > 0 {
                out.extend_from_slice(b"\\n");
            }
            push_json_str_content(out, row);
        }
        out.extend_from_slice(b"\"}");
    }

    fn classify_error(&self, status: u16, err: &AwsError) -> Option<Detail> {
        let untyped = err.error_type.is_none();
        match status {
            429 if err.message == "Limit Exceeded" => Some(Detail::QuotaExceeded),
            429 => Some(Detail::GatewayThrottle),
            // AWS_WIRE §2: the invoke itself was rejected (Lambda throttled it); a proxy
            // function's own failure is the typed 502.
            500 if untyped && err.message == "Internal server error" => {
                Some(Detail::LambdaThrottle)
            }
            _ => None,
        }
    }
}

/// JSON string content (without the quotes). Feature rows are validated numbers, so this is
/// a plain copy for them; anything else is escaped as JSON requires.
pub fn push_json_str_content(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
}

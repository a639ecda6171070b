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
            // Feature rows are validated numbers: a plain copy for them.
            out.extend_from_slice(crate::output::json_escaped(row).as_bytes());
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

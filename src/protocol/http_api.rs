//! API Gateway HTTP API with IAM authorization (payload format 2.0, usually the `$default`
//! stage, so no stage in the path): the same `{"data":"r1\nr2"}` body as the REST API, signed
//! for `execute-api`. Its own answers (AWS_WIRE §9): a deny or an unsigned request is
//! `403 {"message":"Forbidden"}` without an error type, a failed function
//! `500 {"message":"Internal Server Error"}`, the 30 s integration limit
//! `503 {"message":"Service Unavailable"}`.

use super::apigw::ApiGateway;
use super::{Detail, Protocol};
use crate::awserror::AwsError;

pub struct HttpApi;

impl Protocol for HttpApi {
    /// bench's `--target apigw` names "the API" whatever its kind.
    fn name(&self) -> &'static str {
        "apigw"
    }

    fn serve_export(&self) -> (&'static str, bool) {
        ("IRIS_HTTP_API_URL", true)
    }

    fn describe(&self) -> &'static str {
        "HTTP API"
    }

    fn service(&self) -> &'static str {
        "execute-api"
    }

    fn default_content_type(&self) -> &'static str {
        "application/json"
    }

    fn write_body(&self, rows: &mut dyn Iterator<Item = &str>, out: &mut Vec<u8>) {
        ApiGateway.write_body(rows, out);
    }

    fn classify_error(&self, status: u16, err: &AwsError) -> Option<Detail> {
        match status {
            403 if err.message == "Forbidden" => Some(Detail::Denied),
            429 => Some(Detail::GatewayThrottle),
            // A function error, a refused invoke or a timeout: worth retrying, as the REST
            // API's 502 is.
            500 | 503 => Some(Detail::Server5xx),
            _ => None,
        }
    }
}

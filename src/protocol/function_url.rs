//! A Lambda function URL with `AuthType: AWS_IAM` (`https://<id>.lambda-url.<region>.on.aws/`):
//! the same `{"data":"r1\nr2"}` body, signed for `lambda`. A deny or an unsigned request is
//! `403 AccessDeniedException` `{"Message":"Forbidden. For troubleshooting Function URL
//! authorization issues, ..."}`; Lambda's own throttle is a 429.

use super::apigw::ApiGateway;
use super::{Detail, Protocol};
use crate::awserror::AwsError;

pub struct FunctionUrl;

impl Protocol for FunctionUrl {
    /// bench's `--target apigw` names "the API" whatever its kind.
    fn name(&self) -> &'static str {
        "apigw"
    }

    fn serve_export(&self) -> (&'static str, bool) {
        ("IRIS_FUNCTION_URL", true)
    }

    fn describe(&self) -> &'static str {
        "function URL"
    }

    fn service(&self) -> &'static str {
        "lambda"
    }

    fn default_content_type(&self) -> &'static str {
        "application/json"
    }

    fn write_body(&self, rows: &mut dyn Iterator<Item = &str>, out: &mut Vec<u8>) {
        ApiGateway.write_body(rows, out);
    }

    fn classify_error(&self, status: u16, err: &AwsError) -> Option<Detail> {
        match status {
            403 if err.message.starts_with("Forbidden") => Some(Detail::Denied),
            429 => Some(Detail::LambdaThrottle),
            _ => None,
        }
    }
}

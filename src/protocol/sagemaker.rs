//! SageMaker runtime InvokeEndpoint for the built-in XGBoost container: rows as `text/csv`
//! lines, answers read as CSV lines (`Accept: text/csv`). Throttling is a 400 with
//! `x-amzn-ErrorType: ThrottlingException`, not a 429.

use super::{Detail, Protocol};
use crate::awserror::AwsError;

pub struct SageMaker;

impl Protocol for SageMaker {
    fn name(&self) -> &'static str {
        "sagemaker"
    }

    fn per_row_overhead(&self) -> usize {
        1
    }

    fn serve_export(&self) -> (&'static str, bool) {
        ("IRIS_ENDPOINT_URL", false)
    }

    fn describe(&self) -> &'static str {
        "SageMaker endpoint"
    }

    fn service(&self) -> &'static str {
        "sagemaker"
    }

    fn default_content_type(&self) -> &'static str {
        "text/csv"
    }

    fn default_accept(&self) -> Option<&'static str> {
        // The CSV lines every command reads, whatever the container would default to.
        Some("text/csv")
    }

    fn write_body(&self, rows: &mut dyn Iterator<Item = &str>, out: &mut Vec<u8>) {
        for (i, row) in rows.enumerate() {
            if i > 0 {
                out.push(b'\n');
            }
            out.extend_from_slice(row.as_bytes());
        }
    }

    fn classify_error(&self, status: u16, err: &AwsError) -> Option<Detail> {
        let t = err.error_type.as_deref().unwrap_or("");
        match (status, t) {
            (_, "ThrottlingException") => Some(Detail::SageMakerThrottle),
            (_, "ModelNotReadyException") => Some(Detail::ModelNotReady),
            (_, "ServiceUnavailable" | "InternalFailure" | "InternalDependencyException") => {
                Some(Detail::Server5xx)
            }
            (400, "ValidationError") if err.message.contains("not found") => Some(Detail::NotFound),
            (400, "ValidationError") => Some(Detail::Validation),
            _ => None,
        }
    }
}

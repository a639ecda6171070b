//! `--access-log FILE`: one JSON object per request, in the style of API Gateway access logs
//! (`$context.requestId`, `$context.status`, `$context.error.responseType`-like `errorType`,
//! `$context.integrationLatency`, `$context.responseLatency`).
//!
//! Latencies are milliseconds with three decimals (API Gateway writes whole milliseconds,
//! which would read 0 for almost every local request). `errorType` is the `x-amzn-ErrorType`
//! sent (or `LambdaFunctionError` for a non-proxy function error, which API Gateway returns
//! as a 200 without that header), `"-"` when none (API Gateway's spelling of an absent value); `integrationLatency` is
//! `"-"` when the request never reached the integration. A connection closed by `--drop-rate`
//! is logged with `"status": 0` and `"dropped": true`.

use std::fs::File;
use std::io::{LineWriter, Write};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

pub struct AccessLog {
    out: Mutex<LineWriter<File>>,
}

pub struct LogRecord<'a> {
    pub request_id: &'a str,
    pub ip: IpAddr,
    pub method: &'a str,
    pub path: &'a str,
    /// `apigw`, `httpapi`, `function-url`, `sagemaker`, `cloudwatch` or `none`.
    pub route: &'a str,
    pub status: u16,
    pub error_type: Option<&'a str>,
    pub integration_latency: Option<Duration>,
    pub response_latency: Duration,
    pub response_length: u64,
    pub dropped: bool,
}

impl AccessLog {
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let f = File::create(path)
            .map_err(|e| anyhow::anyhow!("cannot create access log {}: {e}", path.display()))?;
        Ok(AccessLog {
            out: Mutex::new(LineWriter::new(f)),
        })
    }

    pub fn write(&self, r: &LogRecord<'_>) {
        let line = format_record(r, SystemTime::now());
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // A full disk must not fail requests; the log is best effort.
        let _ = out.write_all(line.as_bytes());
    }

    pub fn flush(&self) {
        let _ = self.out.lock().unwrap_or_else(|e| e.into_inner()).flush();
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

pub fn format_record(r: &LogRecord<'_>, now: SystemTime) -> String {
    let epoch_ms = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let s = |v: &str| serde_json::to_string(v).unwrap_or_else(|_| "\"\"".into());
    format!(
        "{{\"requestId\":{},\"ip\":{},\"requestTimeEpoch\":{epoch_ms},\"httpMethod\":{},\"path\":{},\"route\":{},\"status\":{},\"errorType\":{},\"integrationLatency\":{},\"responseLatency\":{},\"responseLength\":{},\"dropped\":{}}}\n",
        s(r.request_id),
        s(&r.ip.to_string()),
        s(r.method),
        s(r.path),
        s(r.route),
        r.status,
        s(r.error_type.unwrap_or("-")),
        r.integration_latency.map(ms).unwrap_or_else(|| "\"-\"".into()),
        ms(r.response_latency),
        r.response_length,
        r.dropped,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_json_object_per_line() {
        let r = LogRecord {
            request_id: "abc",
            ip: IpAddr::from([127, 0, 0, 1]),
            method: "POST",
            path: "/species/irispredict",
            route: "apigw",
            status: 403,
            error_type: Some("InvalidSignatureException"),
            integration_latency: None,
            response_latency: Duration::from_micros(1500),
            response_length: 42,
            dropped: false,
        };
        let line = format_record(&r, SystemTime::UNIX_EPOCH + Duration::from_millis(5));
        assert!(line.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["status"], 403);
        assert_eq!(v["errorType"], "InvalidSignatureException");
        assert_eq!(v["integrationLatency"], "-");
        assert_eq!(v["responseLatency"], 1.5);
        assert_eq!(v["requestTimeEpoch"], 5);
    }
}

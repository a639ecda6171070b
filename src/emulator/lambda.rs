//! The seed's Lambda function, emulated, with Lambda's concurrency limit and cold starts.
//!
//! The function behaves as this Python source would under the Python 3.12 runtime (line
//! numbers in the stack traces refer to it):
//!
//! ```python
//!  1 import json
//!  2 import os
//!  3
//!  4 import boto3
//!  5
//!  6 ENDPOINT_NAME = os.environ["ENDPOINT_NAME"]
//!  7 SPECIES = ["setosa", "versicolor", "virginica"]
//!  8 runtime = boto3.client("sagemaker-runtime")
//!  9
//! 10
//! 11 def lambda_handler(event, context):
//! 12     data = event["data"]
//! 13     response = runtime.invoke_endpoint(
//! 14         EndpointName=ENDPOINT_NAME, ContentType="text/csv", Body=data
//! 15     )
//! 16     text = response["Body"].read().decode("utf-8")
//! 17     predictions = []
//! 18     for line in text.splitlines():  # CSV, not json.loads (AWS_WIRE §3)
//! 19         if line:
//! 20             predictions.append(to_prediction([float(v) for v in line.split(",")]))
//! 21     return {"predictions": predictions}
//! ```
//!
//! `to_prediction` gives `{"species", "class_index", "probabilities"}` for a probability vector,
//! `{"species", "class_index", "probabilities": []}` for a multi:softmax class value, and
//! `{"score": v}` for any other single-output objective. In proxy mode the handler reads
//! `json.loads(event["body"])` instead of `event` and returns
//! `{"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(result)}`;
//! the proxy event itself is not materialised since the function reads only its body.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::metrics::Metric;
use super::model::Objective;
use super::server::{fault_body, invoke_endpoint, Ctx, Shared, SmFault};
use super::{faults, Counters};

/// What the integration got back from Lambda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LambdaOutcome {
    /// The function returned; `json.dumps` of its result.
    Result(String),
    /// The function raised; the runtime's error object, as `json.dumps` writes it.
    FunctionError(String),
    /// Lambda refused the invocation (throttled, event not JSON).
    InvokeError,
}

/// Execution environments: at most `limit` busy at once; idle ones are reused (warm) until
/// they have been idle for `idle_timeout`.
pub struct LambdaPool {
    limit: usize,
    busy: AtomicUsize,
    /// Last-use instants of idle environments, most recent last.
    idle: Mutex<Vec<Instant>>,
    cold_start: Duration,
    idle_timeout: Duration,
}

pub struct Lease<'a> {
    pool: &'a LambdaPool,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.pool
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Instant::now());
        self.pool.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

impl LambdaPool {
    /// Environments running an invocation now (`ConcurrentExecutions`).
    pub fn busy(&self) -> usize {
        self.busy.load(Ordering::Acquire)
    }

    pub fn new(limit: usize, cold_start: Duration, idle_timeout: Duration) -> Self {
        LambdaPool {
            limit,
            busy: AtomicUsize::new(0),
            idle: Mutex::new(Vec::new()),
            cold_start,
            idle_timeout,
        }
    }

    /// A lease on an environment and whether it is new (cold); None when at the limit.
    pub fn acquire(&self, now: Instant) -> Option<(Lease<'_>, bool)> {
        let mut busy = self.busy.load(Ordering::Acquire);
        loop {
            if busy >= self.limit {
                return None;
            }
            match self.busy.compare_exchange_weak(
                busy,
                busy + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(b) => busy = b,
            }
        }
        let lease = Lease { pool: self };
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        // Reclaim environments idle for too long (the oldest are first).
        let expired = idle
            .iter()
            .take_while(|t| now.saturating_duration_since(**t) >= self.idle_timeout)
            .count();
        idle.drain(..expired);
        let cold = idle.pop().is_none();
        Some((lease, cold))
    }
}

/// Invoke the function with the request body as the front delivers it: as the event itself
/// (REST non-proxy), or inside a proxy event (REST proxy, and payload format 2.0 for the HTTP
/// API and the function URL), from which the function reads `body`.
pub async fn invoke(shared: &Shared, ctx: &mut Ctx, body: &[u8], proxy: bool) -> LambdaOutcome {
    let cfg = &shared.cfg;
    // Non-proxy: the event is the body, which Lambda's Invoke API requires to be JSON; a
    // non-JSON body fails the invocation (InvalidRequestContentException) and API Gateway
    // answers 500 (unverified). An empty body is passed as `{}`.
    let event: Value = match proxy {
        false => {
            if body.iter().all(u8::is_ascii_whitespace) {
                Value::Object(Default::default())
            } else {
                match serde_json::from_slice(body) {
                    Ok(v) => v,
                    Err(_) => return LambdaOutcome::InvokeError,
                }
            }
        }
        true => match serde_json::from_slice(body) {
            Ok(v) => v,
            // json.loads(event["body"]) raised: a function error, hence 502.
            Err(_) => return LambdaOutcome::FunctionError(String::new()),
        },
    };

    let Some((lease, cold)) = shared.lambda.acquire(Instant::now()) else {
        // 429 TooManyRequestsException (ConcurrentInvocationLimitExceeded) from Lambda.
        Counters::inc(&shared.stats.lambda_throttled);
        shared.metrics.count(Metric::LambdaThrottles, 1);
        return LambdaOutcome::InvokeError;
    };
    Counters::inc(&shared.stats.lambda_invocations);
    let metrics = &shared.metrics;
    metrics.count(
        Metric::LambdaConcurrentExecutions,
        shared.lambda.busy() as u64,
    );
    metrics.count(Metric::LambdaInvocations, 1);
    metrics.count(Metric::LambdaThrottles, 0);
    if cold {
        Counters::inc(&shared.stats.cold_starts);
        // The init phase: reported in Server-Timing as `init`, not part of Duration.
        ctx.init_dur = Some(shared.lambda.cold_start);
        if !shared.lambda.cold_start.is_zero() {
            faults::sleep(shared.lambda.cold_start).await;
        }
    }
    let started = Instant::now();
    if let Some(d) = &cfg.faults.latency.lambda {
        let wait = d.sample(&mut ctx.rng);
        if !wait.is_zero() {
            faults::sleep(wait).await;
        }
    }
    let outcome = run_function(shared, ctx, &event).await;
    drop(lease);
    metrics.duration(Metric::LambdaDuration, started.elapsed());
    metrics.count(
        Metric::LambdaErrors,
        u64::from(matches!(outcome, LambdaOutcome::FunctionError(_))),
    );
    outcome
}

const HANDLER: &str = "  File \"/var/task/lambda_function.py\", line 12, in lambda_handler\n    data = event[\"data\"]\n";
const INVOKE: &str = "  File \"/var/task/lambda_function.py\", line 13, in lambda_handler\n    response = runtime.invoke_endpoint(\n";
const BOTO_CALL: &str = "  File \"/var/lang/lib/python3.12/site-packages/botocore/client.py\", line 569, in _api_call\n    return self._make_api_call(operation_name, kwargs)\n";
const BOTO_RAISE: &str = "  File \"/var/lang/lib/python3.12/site-packages/botocore/client.py\", line 1023, in _make_api_call\n    raise error_class(parsed_response, operation_name)\n";
const BOTO_CONVERT: &str = "  File \"/var/lang/lib/python3.12/site-packages/botocore/client.py\", line 992, in _make_api_call\n    request_dict = self._convert_to_request_dict(\n";
const BOTO_VALIDATE: &str = "  File \"/var/lang/lib/python3.12/site-packages/botocore/validate.py\", line 381, in serialize_to_request\n    raise ParamValidationError(report=report.generate_report())\n";

fn py_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// Python's `repr` of the object `json.loads` would have built.
fn py_repr(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("None"),
        Value::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => {
                if f.fract() == 0.0 && f.abs() < 1e16 {
                    out.push_str(&format!("{f:.1}"));
                } else {
                    out.push_str(&format!("{f:?}"));
                }
            }
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => out.push_str(&super::sagemaker::py_repr_str(s)),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_repr(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&super::sagemaker::py_repr_str(k));
                out.push_str(": ");
                py_repr(x, out);
            }
            out.push('}');
        }
    }
}

/// `json.dumps` of a str (ensure_ascii: everything outside printable ASCII is `\uXXXX`).
pub fn push_py_json_str(out: &mut String, s: &str) {
    use std::fmt::Write;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            c => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// The runtime's error object for an unhandled exception, as `json.dumps` writes it.
fn error_object(error_type: &str, message: &str, stack: &[&str]) -> String {
    let mut s = String::with_capacity(128 + message.len());
    s.push_str("{\"errorMessage\": ");
    push_py_json_str(&mut s, message);
    s.push_str(", \"errorType\": ");
    push_py_json_str(&mut s, error_type);
    s.push_str(", \"stackTrace\": [");
    for (i, frame) in stack.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        push_py_json_str(&mut s, frame);
    }
    s.push_str("]}");
    s
}

async fn run_function(shared: &Shared, ctx: &mut Ctx, event: &Value) -> LambdaOutcome {
    // data = event["data"]
    let data = match event {
        Value::Object(m) => match m.get("data") {
            Some(d) => d,
            None => {
                return LambdaOutcome::FunctionError(error_object("KeyError", "'data'", &[HANDLER]))
            }
        },
        other => {
            let msg = match other {
                Value::Array(_) => "list indices must be integers or slices, not str".to_string(),
                Value::String(_) => "string indices must be integers, not 'str'".to_string(),
                v => format!("'{}' object is not subscriptable", py_type(v)),
            };
            return LambdaOutcome::FunctionError(error_object("TypeError", &msg, &[HANDLER]));
        }
    };
    let Value::String(data) = data else {
        let mut value = String::new();
        py_repr(data, &mut value);
        let msg = format!(
            "Parameter validation failed:\nInvalid type for parameter Body, value: {value}, type: <class '{}'>, valid types: <class 'bytes'>, <class 'bytearray'>, file-like object",
            py_type(data)
        );
        return LambdaOutcome::FunctionError(error_object(
            "ParamValidationError",
            &msg,
            &[INVOKE, BOTO_CALL, BOTO_CONVERT, BOTO_VALIDATE],
        ));
    };

    let started = Instant::now();
    let c = invoke_endpoint(shared, ctx, Some("text/csv"), None, data.as_bytes()).await;
    ctx.sagemaker_dur = Some(started.elapsed());
    let c = match c {
        Ok(c) => c,
        Err(fault) => return client_error(shared, ctx, fault),
    };
    if !(200..300).contains(&c.status) {
        // botocore raises ClientError: "An error occurred (ModelError) when calling the
        // InvokeEndpoint operation: <Message>".
        let cfg = &shared.cfg;
        let body =
            super::sagemaker::model_error_body(&cfg.region, &cfg.account, &cfg.endpoint_name, &c);
        let message = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["Message"].as_str().map(str::to_string))
            .unwrap_or_default();
        let msg = format!(
            "An error occurred (ModelError) when calling the InvokeEndpoint operation: {message}"
        );
        return LambdaOutcome::FunctionError(error_object(
            "ModelError",
            &msg,
            &[INVOKE, BOTO_CALL, BOTO_RAISE],
        ));
    }
    // In proxy mode this is the proxy result's body; the front sends it with its headers.
    LambdaOutcome::Result(render_predictions(shared, &c.body))
}

/// botocore's ClientError for a SageMaker error the endpoint answered: modelled errors raise
/// their own class (`ModelError`, `ValidationError`, `ModelNotReadyException`), others the
/// generic `ClientError`; a null message prints as `None`.
fn client_error(shared: &Shared, ctx: &Ctx, fault: SmFault) -> LambdaOutcome {
    let (_, code, body) = fault_body(shared, &ctx.request_id, fault);
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let message = v
        .get("Message")
        .or_else(|| v.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("None")
        .to_string();
    let class = match fault {
        SmFault::Throttled => "ClientError",
        _ => code,
    };
    let msg =
        format!("An error occurred ({code}) when calling the InvokeEndpoint operation: {message}");
    LambdaOutcome::FunctionError(error_object(class, &msg, &[INVOKE, BOTO_CALL, BOTO_RAISE]))
}

/// `json.dumps({"predictions": [...]})` from the container's CSV text.
fn render_predictions(shared: &Shared, csv: &str) -> String {
    let cfg = &shared.cfg;
    let softmax = cfg.model.objective() == Objective::MultiSoftmax;
    let mut s = String::with_capacity(32 + csv.len() * 2);
    s.push_str("{\"predictions\": [");
    let mut first = true;
    for line in csv.lines().filter(|l| !l.is_empty()) {
        if !first {
            s.push_str(", ");
        }
        first = false;
        let n = line.split(',').count();
        if n > 1 {
            // Python: probabilities.index(max(probabilities)), the first maximum.
            let mut best = 0usize;
            let mut best_v = f64::NEG_INFINITY;
            for (i, tok) in line.split(',').enumerate() {
                let v: f64 = tok.parse().unwrap_or(f64::NAN);
                if v > best_v {
                    best_v = v;
                    best = i;
                }
            }
            push_class(&mut s, cfg, best);
            s.push_str(", \"probabilities\": [");
            for (i, tok) in line.split(',').enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                push_py_float_token(&mut s, tok);
            }
            s.push_str("]}");
        } else if softmax {
            let class = line.parse::<f64>().unwrap_or(0.0).max(0.0) as usize;
            push_class(&mut s, cfg, class);
            s.push_str(", \"probabilities\": []}");
        } else {
            s.push_str("{\"score\": ");
            push_py_float_token(&mut s, line);
            s.push('}');
        }
    }
    s.push_str("]}");
    s
}

fn push_class(s: &mut String, cfg: &super::EmulatorConfig, class: usize) {
    s.push_str("{\"species\": ");
    match cfg.classes.get(class) {
        Some(name) => push_py_json_str(s, name),
        // Guess: with more classes than names, the index is returned as a string.
        None => push_py_json_str(s, &class.to_string()),
    }
    s.push_str(", \"class_index\": ");
    s.push_str(&class.to_string());
}

/// `json.dumps(float(tok))`: the container prints Python reprs, so the digits are kept as they
/// are; only non-finite values change spelling.
fn push_py_float_token(s: &mut String, tok: &str) {
    match tok {
        "nan" => s.push_str("NaN"),
        "inf" => s.push_str("Infinity"),
        "-inf" => s.push_str("-Infinity"),
        t => s.push_str(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_object_is_json_dumps_format() {
        let e = error_object("KeyError", "'data'", &[HANDLER]);
        assert_eq!(
            e,
            "{\"errorMessage\": \"'data'\", \"errorType\": \"KeyError\", \"stackTrace\": [\"  File \\\"/var/task/lambda_function.py\\\", line 12, in lambda_handler\\n    data = event[\\\"data\\\"]\\n\"]}"
        );
        let v: Value = serde_json::from_str(&e).unwrap();
        assert_eq!(v["errorMessage"], "'data'");
    }

    #[test]
    fn py_json_escapes_non_ascii() {
        let mut s = String::new();
        push_py_json_str(&mut s, "é\u{1F600}\u{7f}");
        assert_eq!(s, "\"\\u00e9\\ud83d\\ude00\\u007f\"");
    }

    #[test]
    fn python_reprs_of_json_values() {
        let v: Value =
            serde_json::from_str(r#"[1, 2.0, 2.5, null, true, "x", {"a": [1]}]"#).unwrap();
        let mut s = String::new();
        py_repr(&v, &mut s);
        assert_eq!(s, "[1, 2.0, 2.5, None, True, 'x', {'a': [1]}]");
    }

    #[test]
    fn pool_limits_and_reuses_environments() {
        let pool = LambdaPool::new(2, Duration::ZERO, Duration::from_secs(60));
        let t0 = Instant::now();
        let (a, cold_a) = pool.acquire(t0).unwrap();
        let (b, cold_b) = pool.acquire(t0).unwrap();
        assert!(cold_a && cold_b);
        assert!(pool.acquire(t0).is_none());
        drop(a);
        let (_c, cold_c) = pool.acquire(Instant::now()).unwrap();
        assert!(!cold_c, "a released environment is warm");
        drop(b);
        // Idle for longer than the timeout: reclaimed, so the next call is cold.
        let later = Instant::now() + Duration::from_secs(61);
        let (_d, cold_d) = pool.acquire(later).unwrap();
        assert!(cold_d);
    }
}

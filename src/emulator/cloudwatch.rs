//! CloudWatch `GetMetricData` on the emulator's port, over the emulator's own metrics
//! ([`super::metrics`]), so server-side numbers can be checked offline.
//!
//! CloudWatch speaks three protocols and clients pick different ones (checked against the
//! service models): the Rust SDK (aws-sdk-cloudwatch 1.140) sends Smithy RPC v2 CBOR,
//! `POST /service/GraniteServiceVersion20100801/operation/GetMetricData` with
//! `smithy-protocol: rpc-v2-cbor`; botocore 1.43 (boto3, the AWS CLI) sends awsJson1_0,
//! `POST /` with `X-Amz-Target: GraniteServiceVersion20100801.GetMetricData`. Both are served:
//! the request is decoded into one JSON value (CBOR timestamps, tag 1, become epoch seconds) and
//! the answer encoded back in the request's protocol. The awsQuery form is not served.
//!
//! Signing name `monitoring`, IAM action `cloudwatch:GetMetricData`. Errors carry
//! `x-amzn-query-error` as CloudWatch's awsQuery-compatible services do, so botocore reports the
//! query error code (`InvalidParameterValue`, `MissingParameter`).

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};
use serde_json::{json, Value};

use super::metrics::Stat;
use super::server::{authorize, Body, Ctx, Shared};
use super::{auth, Counters};

pub const JSON_TARGET_PREFIX: &str = "GraniteServiceVersion20100801.";
pub const CBOR_PATH_PREFIX: &str = "/service/GraniteServiceVersion20100801/operation/";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Json,
    Cbor,
}

/// A CloudWatch error: HTTP status, modelled shape name, query error code, message.
struct CwError {
    status: u16,
    shape: &'static str,
    code: &'static str,
    message: String,
}

fn invalid(message: impl Into<String>) -> CwError {
    CwError {
        status: 400,
        shape: "InvalidParameterValueException",
        code: "InvalidParameterValue",
        message: message.into(),
    }
}

fn missing(message: impl Into<String>) -> CwError {
    CwError {
        status: 400,
        shape: "MissingRequiredParameterException",
        code: "MissingParameter",
        message: message.into(),
    }
}

pub async fn handle(
    shared: &Shared,
    ctx: &mut Ctx,
    parts: &http::request::Parts,
    body: &Bytes,
    protocol: Protocol,
    operation: &str,
) -> Response<Body> {
    Counters::inc(&shared.stats.cloudwatch_requests);
    let resource = || "*".to_string();
    if let Err(rej) = authorize(
        shared,
        parts,
        body,
        auth::Action::CloudWatchGetMetricData,
        resource,
    ) {
        // Unverified: CloudWatch's own rendering of SigV4 failures is not captured; this is the
        // JSON services' form with the front end's error type.
        let e = CwError {
            status: rej.status,
            shape: rej.error_type,
            code: rej.error_type,
            message: rej.message.clone(),
        };
        return error(ctx, protocol, &e);
    }
    if operation != "GetMetricData" {
        let e = CwError {
            status: 400,
            shape: "UnknownOperationException",
            code: "UnknownOperationException",
            message: format!("the emulator serves only GetMetricData, not {operation}"),
        };
        return error(ctx, protocol, &e);
    }
    let request = match protocol {
        Protocol::Json => serde_json::from_slice::<Value>(body).map_err(|e| e.to_string()),
        Protocol::Cbor => ciborium::de::from_reader::<ciborium::Value, _>(&body[..])
            .map_err(|e| e.to_string())
            .map(cbor_to_json),
    };
    let request = match request {
        Ok(v) => v,
        Err(e) => {
            let e = CwError {
                status: 400,
                shape: "SerializationException",
                code: "SerializationException",
                message: format!("cannot decode the request body: {e}"),
            };
            return error(ctx, protocol, &e);
        }
    };
    match get_metric_data(shared, &request) {
        Ok(v) => ok(ctx, protocol, v),
        Err(e) => error(ctx, protocol, &e),
    }
}

fn number(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// Timestamps arrive as epoch seconds (both protocols); an ISO 8601 string is also accepted.
fn timestamp(v: &Value) -> Option<f64> {
    number(v).or_else(|| {
        let s = v.as_str()?;
        httpdate::parse_http_date(s)
            .ok()
            .or_else(|| parse_iso8601(s))
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64())
    })
}

fn parse_iso8601(s: &str) -> Option<std::time::SystemTime> {
    // YYYY-MM-DDTHH:MM:SS(.fff)Z
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':');
    let (h, mi) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let sec: f64 = t.next()?.parse().ok()?;
    // Days from civil (Howard Hinnant).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (mo + if mo > 2 { -3 } else { 9 }) + 2) / 5 + da - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60;
    let total = secs as f64 + sec;
    (total >= 0.0).then(|| std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(total))
}

fn get_metric_data(shared: &Shared, req: &Value) -> Result<Value, CwError> {
    let start = req
        .get("StartTime")
        .ok_or_else(|| missing("The parameter StartTime is required."))
        .and_then(|v| timestamp(v).ok_or_else(|| invalid("StartTime is not a timestamp")))?;
    let end = req
        .get("EndTime")
        .ok_or_else(|| missing("The parameter EndTime is required."))
        .and_then(|v| timestamp(v).ok_or_else(|| invalid("EndTime is not a timestamp")))?;
    if end <= start {
        return Err(invalid(
            "The parameter StartTime must be less than the parameter EndTime.",
        ));
    }
    let queries = req
        .get("MetricDataQueries")
        .and_then(Value::as_array)
        .ok_or_else(|| missing("The parameter MetricDataQueries is required."))?;
    if queries.is_empty() || queries.len() > 500 {
        return Err(invalid(
            "The collection MetricDataQueries must contain between 1 and 500 items.",
        ));
    }
    let ascending = req.get("ScanBy").and_then(Value::as_str) == Some("TimestampAscending");
    let max_points = req
        .get("MaxDatapoints")
        .and_then(number)
        .map(|n| n.max(1.0) as usize)
        .unwrap_or(100_800);
    let mut results = Vec::new();
    for (i, q) in queries.iter().enumerate() {
        let at = format!("MetricDataQueries.member.{}", i + 1);
        let id = q
            .get("Id")
            .and_then(Value::as_str)
            .ok_or_else(|| missing(format!("The parameter {at}.Id is required.")))?;
        if q.get("Expression").is_some() {
            return Err(invalid(format!(
                "{at}.Expression: metric math is not emulated; use MetricStat"
            )));
        }
        let ms = q
            .get("MetricStat")
            .ok_or_else(|| missing(format!("The parameter {at}.MetricStat is required.")))?;
        let metric = &ms["Metric"];
        let namespace = metric["Namespace"].as_str().unwrap_or("");
        let name = metric["MetricName"].as_str().unwrap_or("");
        let dims: Vec<(String, String)> = metric["Dimensions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|d| {
                        (
                            d["Name"].as_str().unwrap_or("").to_string(),
                            d["Value"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let period = ms
            .get("Period")
            .and_then(number)
            .ok_or_else(|| missing(format!("The parameter {at}.MetricStat.Period is required.")))?;
        let p = period as u64;
        if period.fract() != 0.0
            || !(matches!(p, 1 | 5 | 10 | 20 | 30) || (p > 0 && p.is_multiple_of(60)))
        {
            return Err(invalid(format!(
                "The value {period} for parameter {at}.MetricStat.Period is not valid: use 1, 5, 10, 20, 30 or a multiple of 60."
            )));
        }
        let stat_text = ms["Stat"]
            .as_str()
            .ok_or_else(|| missing(format!("The parameter {at}.MetricStat.Stat is required.")))?;
        let stat = Stat::parse(stat_text).ok_or_else(|| {
            invalid(format!(
                "The value {stat_text} for parameter {at}.MetricStat.Stat is not valid."
            ))
        })?;
        let unit_wanted = ms.get("Unit").and_then(Value::as_str);
        let mut points = match shared.metrics.find(namespace, name, &dims) {
            Some(m) if unit_wanted.is_none_or(|u| u == m.spec().2.as_str()) => {
                shared.metrics.query(m, start, end, p, &stat)
            }
            // An unknown metric, other dimensions or another unit: no data, not an error.
            _ => Vec::new(),
        };
        if !ascending {
            points.reverse();
        }
        points.truncate(max_points);
        if q.get("ReturnData").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let label = q
            .get("Label")
            .and_then(Value::as_str)
            .unwrap_or(name)
            .to_string();
        results.push(json!({
            "Id": id,
            "Label": label,
            "Timestamps": points.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
            "Values": points.iter().map(|(_, v)| *v).collect::<Vec<_>>(),
            "StatusCode": "Complete",
        }));
    }
    Ok(json!({"MetricDataResults": results, "Messages": []}))
}

fn cbor_to_json(v: ciborium::Value) -> Value {
    use ciborium::Value as C;
    match v {
        C::Integer(i) => {
            let n: i128 = i.into();
            i64::try_from(n)
                .map(Value::from)
                .unwrap_or_else(|_| Value::from(n as f64))
        }
        C::Float(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        C::Text(s) => Value::String(s),
        C::Bool(b) => Value::Bool(b),
        C::Null => Value::Null,
        C::Tag(_, inner) => cbor_to_json(*inner),
        C::Array(a) => Value::Array(a.into_iter().map(cbor_to_json).collect()),
        C::Map(m) => Value::Object(
            m.into_iter()
                .filter_map(|(k, v)| match k {
                    C::Text(k) => Some((k, cbor_to_json(v))),
                    _ => None,
                })
                .collect(),
        ),
        _ => Value::Null,
    }
}

/// JSON back to CBOR; arrays under `Timestamps` become tag-1 epoch seconds.
fn json_to_cbor(v: &Value, timestamps: bool) -> ciborium::Value {
    use ciborium::Value as C;
    match v {
        Value::Null => C::Null,
        Value::Bool(b) => C::Bool(*b),
        Value::Number(n) if timestamps => C::Tag(
            1,
            Box::new(match n.as_i64() {
                Some(i) => C::Integer(i.into()),
                None => C::Float(n.as_f64().unwrap_or(0.0)),
            }),
        ),
        Value::Number(n) => match n.as_i64() {
            Some(i) if !n.is_f64() => C::Integer(i.into()),
            _ => C::Float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => C::Text(s.clone()),
        Value::Array(a) => C::Array(a.iter().map(|x| json_to_cbor(x, timestamps)).collect()),
        Value::Object(m) => C::Map(
            m.iter()
                .map(|(k, x)| (C::Text(k.clone()), json_to_cbor(x, k == "Timestamps")))
                .collect(),
        ),
    }
}

fn encode(protocol: Protocol, v: &Value) -> Vec<u8> {
    match protocol {
        Protocol::Json => serde_json::to_vec(v).unwrap_or_default(),
        Protocol::Cbor => {
            let mut out = Vec::new();
            let _ = ciborium::ser::into_writer(&json_to_cbor(v, false), &mut out);
            out
        }
    }
}

fn respond(ctx: &mut Ctx, protocol: Protocol, status: u16, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let h = r.headers_mut();
    match protocol {
        Protocol::Json => {
            h.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-amz-json-1.0"),
            );
        }
        Protocol::Cbor => {
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/cbor"));
            h.insert(
                HeaderName::from_static("smithy-protocol"),
                HeaderValue::from_static("rpc-v2-cbor"),
            );
        }
    }
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        h.insert(HeaderName::from_static("x-amzn-requestid"), v);
    }
    r
}

fn ok(ctx: &mut Ctx, protocol: Protocol, v: Value) -> Response<Body> {
    let body = encode(protocol, &v);
    respond(ctx, protocol, 200, body)
}

fn error(ctx: &mut Ctx, protocol: Protocol, e: &CwError) -> Response<Body> {
    ctx.error_type = Some(e.shape);
    let v = json!({"__type": e.shape, "message": e.message});
    let body = encode(protocol, &v);
    let mut r = respond(ctx, protocol, e.status, body);
    let sender = if e.status < 500 { "Sender" } else { "Receiver" };
    if let Ok(v) = HeaderValue::from_str(&format!("{};{sender}", e.code)) {
        r.headers_mut()
            .insert(HeaderName::from_static("x-amzn-query-error"), v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_timestamps() {
        let t = parse_iso8601("2024-01-02T03:04:05Z").unwrap();
        let secs = t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs, 1_704_164_645);
    }

    #[test]
    fn cbor_round_trip_keeps_timestamps_tagged() {
        let v = json!({"MetricDataResults": [{"Id": "a", "Timestamps": [1_700_000_000u64], "Values": [1.5]}]});
        let bytes = encode(Protocol::Cbor, &v);
        let back: ciborium::Value = ciborium::de::from_reader(&bytes[..]).unwrap();
        let text = format!("{back:?}");
        assert!(text.contains("Tag(1"), "{text}");
        assert_eq!(cbor_to_json(back), v);
    }
}

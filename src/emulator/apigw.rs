//! The API Gateway REST API route (AWS_WIRE §2): IAM auth, stage throttle, injected gateway
//! errors, then the Lambda integration.

use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Response, StatusCode};
use rand::Rng;

use super::auth::{self, Rejection};
use super::lambda::{self, LambdaOutcome};
use super::server::{authorize, Body, Ctx, Shared};
use super::{faults, Counters, Integration};

/// Lambda's synchronous invocation payload limit.
pub const LAMBDA_MAX_PAYLOAD: usize = 6 * 1024 * 1024;

const URLSAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `x-amzn-RequestId`, `x-amz-apigw-id` and `X-Amzn-Trace-Id`, on every gateway response.
pub fn add_ids(ctx: &mut Ctx, h: &mut HeaderMap) {
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        h.insert(HeaderName::from_static("x-amzn-requestid"), v);
    }
    // Ids come from the thread RNG, not the seeded one, so fault decisions do not shift.
    let mut rng = rand::rng();
    let mut id = [0u8; 16];
    for b in id.iter_mut().take(15) {
        *b = URLSAFE[rng.random_range(0..64)];
    }
    id[15] = b'=';
    if let Ok(v) = HeaderValue::from_bytes(&id) {
        h.insert(HeaderName::from_static("x-amz-apigw-id"), v);
    }
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let tail: u128 = rng.random::<u128>() >> 32;
    let trace = format!("Root=1-{secs:08x}-{tail:024x}");
    if let Ok(v) = HeaderValue::from_str(&trace) {
        h.insert(HeaderName::from_static("x-amzn-trace-id"), v);
    }
}

/// A gateway response with a JSON body.
pub fn gateway_response(
    ctx: &mut Ctx,
    status: u16,
    error_type: Option<&'static str>,
    body: String,
) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(t) = error_type {
        h.insert(
            HeaderName::from_static("x-amzn-errortype"),
            HeaderValue::from_static(t),
        );
        ctx.error_type = Some(t);
    }
    add_ids(ctx, h);
    r
}

/// An auth-phase rejection (no space after the colon).
pub fn rejection_response(ctx: &mut Ctx, rej: &Rejection) -> Response<Body> {
    gateway_response(ctx, rej.status, Some(rej.error_type), rej.apigw_body())
}

/// `{"message": "Internal server error"}`: integration-phase format, with the space.
fn internal_error(ctx: &mut Ctx, status: u16) -> Response<Body> {
    gateway_response(
        ctx,
        status,
        Some("InternalServerErrorException"),
        "{\"message\": \"Internal server error\"}".into(),
    )
}

pub async fn handle(
    shared: &Shared,
    ctx: &mut Ctx,
    parts: &http::request::Parts,
    body: &Bytes,
) -> Response<Body> {
    let cfg = &shared.cfg;
    let resource = || {
        format!(
            "arn:aws:execute-api:{}:{}:{}/{}/{}/{}",
            cfg.region, cfg.account, cfg.api_id, cfg.stage, parts.method, cfg.resource
        )
    };
    if let Err(rej) = authorize(
        shared,
        parts,
        body,
        auth::Action::ExecuteApiInvoke,
        resource,
    ) {
        return rejection_response(ctx, &rej);
    }

    if let Some(plan) = &cfg.usage_plan {
        if let Some(r) = check_api_key(shared, ctx, parts, plan) {
            return r;
        }
    }

    // Guess: stage throttling applies after the method's IAM check, so unsigned floods get 403s.
    if let Some(bucket) = &shared.bucket {
        if !bucket.try_take(Instant::now()) {
            Counters::inc(&shared.stats.throttled);
            // Unverified error type; the body is AWS's.
            return gateway_response(
                ctx,
                429,
                Some("TooManyRequestsException"),
                "{\"message\":\"Too Many Requests\"}".into(),
            );
        }
    }

    let roll: f64 = ctx.rng.random();
    if roll < cfg.faults.error_rate {
        Counters::inc(&shared.stats.injected_errors);
        return injected_error(ctx, cfg.integration);
    }

    if let Some(d) = &cfg.faults.latency.apigw {
        let wait = d.sample(&mut ctx.rng);
        faults::sleep(wait).await;
    }

    if body.len() > LAMBDA_MAX_PAYLOAD {
        // AWS_WIRE gives this for proxy integrations; used for non-proxy as well (unverified),
        // as API Gateway can tell before invoking.
        return gateway_response(
            ctx,
            413,
            Some("BadRequestException"),
            "{\"message\": \"Request Too Long\"}".into(),
        );
    }

    let started = Instant::now();
    let proxy = cfg.integration == Integration::Proxy;
    let timeout = cfg.limits.integration_timeout;
    let outcome = tokio::time::timeout(timeout, lambda::invoke(shared, ctx, body, proxy)).await;
    ctx.lambda_dur = Some(started.elapsed());
    let Ok(outcome) = outcome else {
        // AWS_WIRE §9. Unverified: no captured x-amzn-ErrorType for the timeout; none is sent.
        return gateway_response(
            ctx,
            504,
            None,
            "{\"message\": \"Endpoint request timed out\"}".into(),
        );
    };
    if lambda_response_too_large(&outcome, proxy, cfg.limits.lambda_response_max) {
        // Lambda fails the invocation (RequestEntityTooLarge); API Gateway answers 502.
        return internal_error(ctx, 502);
    }
    match (outcome, cfg.integration) {
        (LambdaOutcome::Result(text), _) => {
            let mut r = Response::new(Body::from(text));
            let h = r.headers_mut();
            // In proxy mode this is the header the function's result sets.
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            add_ids(ctx, h);
            r
        }
        (LambdaOutcome::FunctionError(err), Integration::NonProxy) => {
            // No integration response maps the error: 200 with the runtime's error object.
            let mut r = Response::new(Body::from(err));
            let h = r.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            add_ids(ctx, h);
            ctx.error_type = Some("LambdaFunctionError");
            r
        }
        (LambdaOutcome::FunctionError(_), Integration::Proxy) => internal_error(ctx, 502),
        // Lambda refused the invocation (throttled, unparseable event): API Gateway answers
        // 500 whatever the integration type (AWS_WIRE §2 last row).
        (LambdaOutcome::InvokeError, _) => internal_error(ctx, 500),
    }
}

/// `--error-rate` on the gateway route. Proxy: 502 (function failure), 500 (invoke failure)
/// or 504 (integration timeout), uniformly. Non-proxy: a function failure is a 200, so only
/// 500 and 504. The 504 is answered at once, not after 29 s.
fn injected_error(ctx: &mut Ctx, integration: Integration) -> Response<Body> {
    let choices: &[u16] = match integration {
        Integration::Proxy => &[502, 500, 504],
        Integration::NonProxy => &[500, 504],
    };
    match choices[ctx.rng.random_range(0..choices.len())] {
        // Unverified: no captured x-amzn-ErrorType for integration timeouts; none is sent.
        504 => gateway_response(
            ctx,
            504,
            None,
            "{\"message\": \"Endpoint request timed out\"}".into(),
        ),
        s => internal_error(ctx, s),
    }
}

/// Whether the function's response exceeds Lambda's synchronous limit (6 291 556 bytes). A
/// proxy result is the body wrapped in the `statusCode`/`headers` object, so it is measured as
/// that object.
pub fn lambda_response_too_large(outcome: &LambdaOutcome, proxy: bool, max: usize) -> bool {
    let text = match outcome {
        LambdaOutcome::Result(t) | LambdaOutcome::FunctionError(t) => t,
        LambdaOutcome::InvokeError => return false,
    };
    // Escaping can only grow the text, so a short one needs no exact measure.
    if text.len() * 2 + 128 <= max {
        return false;
    }
    let len = if proxy {
        PROXY_RESULT_PREFIX.len() + serde_json::to_string(text).map(|s| s.len()).unwrap_or(0) + 1
    } else {
        text.len()
    };
    len > max
}

/// What precedes `json.dumps(body)` in the emulated function's proxy result.
const PROXY_RESULT_PREFIX: &str =
    "{\"statusCode\": 200, \"headers\": {\"Content-Type\": \"application/json\"}, \"body\": ";

/// The usage plan (AWS_WIRE §9): a missing or unknown `x-api-key` is 403 Forbidden, a key over
/// its quota 429 Limit Exceeded. Checked after IAM (unverified order).
fn check_api_key(
    shared: &Shared,
    ctx: &mut Ctx,
    parts: &http::request::Parts,
    plan: &super::UsagePlan,
) -> Option<Response<Body>> {
    let key = parts
        .headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| plan.keys.iter().any(|p| p == k));
    let Some(key) = key else {
        return Some(gateway_response(
            ctx,
            403,
            Some("ForbiddenException"),
            "{\"message\":\"Forbidden\"}".into(),
        ));
    };
    let mut used = shared.api_key_use.lock().unwrap_or_else(|e| e.into_inner());
    let n = used.entry(key.to_string()).or_default();
    if plan.quota.is_some_and(|q| *n >= q) {
        drop(used);
        return Some(gateway_response(
            ctx,
            429,
            Some("LimitExceededException"),
            "{\"message\":\"Limit Exceeded\"}".into(),
        ));
    }
    *n += 1;
    None
}

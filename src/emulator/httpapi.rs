//! The two other shapes of "a model behind an API" (AWS_WIRE §9), both handing the function a
//! payload format 2.0 event (`version: "2.0"`, `routeKey`, `rawPath`, `requestContext.http`,
//! `requestContext.authorizer.iam`, `body`) from which it reads `body`, and both expecting a
//! 2.0 result (`statusCode`, `headers`, `body`):
//!
//! - API Gateway **HTTP API** with IAM authorization: `POST /{resource}` on the main port (the
//!   `$default` stage has no path segment), signing name `execute-api`. A missing signature or
//!   an IAM deny is `403 {"message":"Forbidden"}`; a function error or a refused invocation is
//!   `500 {"message":"Internal Server Error"}`; the integration timeout (at most 30 s) is
//!   `503 {"message":"Service Unavailable"}`. Responses carry `apigw-requestid`.
//! - A **Lambda function URL** with `AuthType: AWS_IAM`, on its own port (a function URL
//!   takes every method and path), signing name `lambda`. A missing signature or a deny is
//!   `403` `AccessDeniedException` `{"Message":"Forbidden. For troubleshooting Function URL
//!   authorization issues, see: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"}`
//!   (captured in awsdocs/aws-lambda-developer-guide#494).
//!
//! Signature failures (mismatch, expired, wrong scope, unknown key) keep the SigV4 front end's
//! messages, as on the REST API, so a client can still diff the canonical request. Unverified:
//! no capture shows these two services' signature-mismatch bodies; the function URL's
//! function-error (502) and throttle (429) bodies are unverified as well.

use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Response, StatusCode};
use rand::Rng;

use super::apigw::lambda_response_too_large;
use super::auth::{self, Rejection};
use super::lambda::{self, LambdaOutcome};
use super::server::{authorize, Body, Ctx, Shared};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    HttpApi,
    FunctionUrl,
}

pub const FUNCTION_URL_FORBIDDEN: &str = "Forbidden. For troubleshooting Function URL authorization issues, see: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html";

fn respond(
    ctx: &mut Ctx,
    kind: Kind,
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
    }
    ctx.error_type = error_type.or(ctx.error_type);
    add_ids(ctx, kind, h);
    r
}

/// HTTP API: `apigw-requestid` (API Gateway's extended id). Function URL: `x-amzn-RequestId`
/// and a trace id.
fn add_ids(ctx: &Ctx, kind: Kind, h: &mut HeaderMap) {
    match kind {
        Kind::HttpApi => {
            let mut rng = rand::rng();
            const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
            let mut id: Vec<u8> = (0..15).map(|_| ALNUM[rng.random_range(0..62)]).collect();
            id.push(b'=');
            if let Ok(v) = HeaderValue::from_bytes(&id) {
                h.insert(HeaderName::from_static("apigw-requestid"), v);
            }
        }
        Kind::FunctionUrl => {
            if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
                h.insert(HeaderName::from_static("x-amzn-requestid"), v);
            }
            let secs = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let tail: u128 = rand::rng().random::<u128>() >> 32;
            if let Ok(v) = HeaderValue::from_str(&format!("Root=1-{secs:08x}-{tail:024x}")) {
                h.insert(HeaderName::from_static("x-amzn-trace-id"), v);
            }
        }
    }
}

fn rejection(ctx: &mut Ctx, kind: Kind, rej: &Rejection) -> Response<Body> {
    let forbidden = matches!(
        rej.error_type,
        auth::MISSING_AUTHENTICATION_TOKEN | auth::ACCESS_DENIED
    );
    ctx.error_type = Some(rej.error_type);
    match (kind, forbidden) {
        (Kind::HttpApi, true) => {
            respond(ctx, kind, 403, None, "{\"message\":\"Forbidden\"}".into())
        }
        (Kind::FunctionUrl, true) => respond(
            ctx,
            kind,
            403,
            Some(auth::ACCESS_DENIED),
            format!("{{\"Message\":\"{FUNCTION_URL_FORBIDDEN}\"}}"),
        ),
        (_, false) => respond(
            ctx,
            kind,
            rej.status,
            Some(rej.error_type),
            rej.apigw_body(),
        ),
    }
}

fn function_failed(ctx: &mut Ctx, kind: Kind) -> Response<Body> {
    ctx.error_type = Some("LambdaFunctionError");
    match kind {
        Kind::HttpApi => respond(
            ctx,
            kind,
            500,
            None,
            "{\"message\":\"Internal Server Error\"}".into(),
        ),
        Kind::FunctionUrl => respond(
            ctx,
            kind,
            502,
            None,
            "{\"Message\":\"Internal Server Error\"}".into(),
        ),
    }
}

pub async fn handle(
    shared: &Shared,
    ctx: &mut Ctx,
    parts: &http::request::Parts,
    body: &Bytes,
    kind: Kind,
) -> Response<Body> {
    let cfg = &shared.cfg;
    let (action, resource) = match kind {
        Kind::HttpApi => (
            auth::Action::ExecuteApiInvoke,
            format!(
                "arn:aws:execute-api:{}:{}:{}/$default/{}/{}",
                cfg.region, cfg.account, cfg.http_api_id, parts.method, cfg.resource
            ),
        ),
        Kind::FunctionUrl => (
            auth::Action::LambdaInvokeFunctionUrl,
            format!(
                "arn:aws:lambda:{}:{}:function:{}",
                cfg.region, cfg.account, cfg.function_name
            ),
        ),
    };
    if let Err(rej) = authorize(shared, parts, body, action, || resource) {
        return rejection(ctx, kind, &rej);
    }
    if body.len() > super::apigw::LAMBDA_MAX_PAYLOAD {
        // Unverified bodies for these two fronts; the status is Lambda's payload limit.
        return respond(
            ctx,
            kind,
            413,
            None,
            "{\"message\":\"Request Entity Too Large\"}".into(),
        );
    }
    let started = Instant::now();
    let invoke = lambda::invoke(shared, ctx, body, true);
    let outcome = match kind {
        Kind::HttpApi => match tokio::time::timeout(cfg.limits.http_api_timeout, invoke).await {
            Ok(o) => o,
            Err(_) => {
                ctx.lambda_dur = Some(started.elapsed());
                return respond(
                    ctx,
                    kind,
                    503,
                    None,
                    "{\"message\":\"Service Unavailable\"}".into(),
                );
            }
        },
        Kind::FunctionUrl => invoke.await,
    };
    ctx.lambda_dur = Some(started.elapsed());
    if lambda_response_too_large(&outcome, true, cfg.limits.lambda_response_max) {
        return function_failed(ctx, kind);
    }
    match outcome {
        LambdaOutcome::Result(text) => respond(ctx, kind, 200, None, text),
        LambdaOutcome::FunctionError(_) => function_failed(ctx, kind),
        LambdaOutcome::InvokeError => match kind {
            Kind::HttpApi => respond(
                ctx,
                kind,
                500,
                None,
                "{\"message\":\"Internal Server Error\"}".into(),
            ),
            Kind::FunctionUrl => respond(
                ctx,
                kind,
                429,
                Some("TooManyRequestsException"),
                "{\"Message\":\"Rate Exceeded.\"}".into(),
            ),
        },
    }
}

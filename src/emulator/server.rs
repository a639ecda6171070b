//! The HTTP front: accept loop, graceful shutdown, routing, common AWS headers, panic capture,
//! stall and drop faults.

use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, DATE};
use http::{HeaderMap, Method, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use rand::rngs::SmallRng;
use rand::Rng;

use super::accesslog::{AccessLog, LogRecord};
use super::auth::{self, KeyStore, Rejection};
use super::faults::{self, TokenBucket};
use super::lambda::LambdaPool;
use super::{apigw, sagemaker, Counters, EmulatorConfig};

pub type Body = Full<Bytes>;

/// API Gateway's maximum payload.
pub const APIGW_MAX_BODY: usize = 10 * 1024 * 1024;

/// State shared by every connection.
pub struct Shared {
    pub cfg: EmulatorConfig,
    pub stats: Counters,
    pub started: Instant,
    seq: AtomicU64,
    /// `/{stage}/{resource}`
    pub apigw_path: String,
    pub bucket: Option<TokenBucket>,
    pub lambda: LambdaPool,
    access_log: Option<AccessLog>,
}

impl Shared {
    pub fn new(cfg: EmulatorConfig) -> anyhow::Result<Self> {
        let now = Instant::now();
        let bucket = cfg.faults.throttle_rps.map(|rps| {
            // Unverified default: a burst equal to one second of the rate (AWS's own defaults
            // are 10 000 rps with a 5 000 burst).
            let burst = cfg.faults.burst.unwrap_or(rps.ceil().max(1.0) as u32);
            TokenBucket::new(rps, burst, now)
        });
        let access_log = match &cfg.access_log {
            Some(p) => Some(AccessLog::create(p)?),
            None => None,
        };
        Ok(Shared {
            apigw_path: format!("/{}/{}", cfg.stage, cfg.resource),
            lambda: LambdaPool::new(cfg.lambda_concurrency, cfg.cold_start, cfg.idle_timeout),
            bucket,
            access_log,
            stats: Counters::new(),
            started: now,
            seq: AtomicU64::new(0),
            cfg,
        })
    }

    pub fn keys(&self) -> &KeyStore {
        &self.cfg.keys
    }

    pub fn flush_access_log(&self) {
        if let Some(log) = &self.access_log {
            log.flush();
        }
    }
}

/// Accept until `shutdown` flips, then drain connections (at most 5 s).
pub async fn run(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // EMFILE and friends: back off briefly instead of spinning.
                        eprintln!("iris-cli serve: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                conns.spawn(serve_connection(stream, remote, shared.clone(), shutdown.clone()));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(Duration::from_secs(5), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
    shared.flush_access_log();
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    shared: Arc<Shared>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let io = hyper_util::rt::TokioIo::new(stream);
    let svc = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        CatchUnwind {
            inner: Box::pin(handle(shared.clone(), remote, req)),
            shared,
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// The error that makes hyper close the connection without writing a response.
#[derive(Debug)]
pub struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by --drop-rate")
    }
}

impl std::error::Error for DropConnection {}

type HandlerResult = Result<Response<Body>, DropConnection>;

/// Turns a handler panic into a counted 500 instead of a dead connection task.
struct CatchUnwind {
    inner: Pin<Box<dyn Future<Output = HandlerResult> + Send>>,
    shared: Arc<Shared>,
}

impl Future for CatchUnwind {
    type Output = HandlerResult;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<HandlerResult> {
        let inner = &mut self.inner;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.as_mut().poll(cx))) {
            Ok(p) => p,
            Err(_) => {
                Counters::inc(&self.shared.stats.panics);
                let mut r = Response::new(Body::from(
                    "{\"message\": \"Internal server error\"}".to_string(),
                ));
                *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                Poll::Ready(Ok(r))
            }
        }
    }
}

/// Per-request context: ids, timings, the RNG for fault decisions.
pub struct Ctx {
    pub request_id: String,
    pub received: Instant,
    pub rng: SmallRng,
    /// Integration (Lambda) and SageMaker durations, when reached.
    pub lambda_dur: Option<Duration>,
    pub sagemaker_dur: Option<Duration>,
    /// `x-amzn-ErrorType` of the answer, for the access log.
    pub error_type: Option<&'static str>,
    pub route: &'static str,
}

/// Which API the path addresses.
enum Route<'a> {
    ApiGateway,
    SageMaker { endpoint: &'a str },
    None,
}

fn route<'a>(shared: &Shared, method: &Method, path: &'a str) -> Route<'a> {
    if method != Method::POST {
        return Route::None;
    }
    if path == shared.apigw_path {
        return Route::ApiGateway;
    }
    if let Some(name) = path
        .strip_prefix("/endpoints/")
        .and_then(|r| r.strip_suffix("/invocations"))
    {
        if !name.is_empty() && !name.contains('/') {
            return Route::SageMaker { endpoint: name };
        }
    }
    Route::None
}

async fn handle(
    shared: Arc<Shared>,
    remote: SocketAddr,
    req: hyper::Request<Incoming>,
) -> HandlerResult {
    let received = Instant::now();
    Counters::inc(&shared.stats.requests);
    let seq = shared.seq.fetch_add(1, Ordering::Relaxed);
    let mut ctx = Ctx {
        request_id: new_request_id(),
        received,
        rng: faults::request_rng(shared.cfg.seed, seq),
        lambda_dur: None,
        sagemaker_dur: None,
        error_type: None,
        route: "none",
    };
    // Drawn first and unconditionally, so later draws do not depend on this one's outcome.
    let drop_roll: f64 = ctx.rng.random();
    let (parts, body) = req.into_parts();

    let too_long = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > APIGW_MAX_BODY as u64);
    let body = if too_long {
        None
    } else {
        match Limited::new(body, APIGW_MAX_BODY).collect().await {
            Ok(c) => Some(c.to_bytes()),
            Err(e) => {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    None
                } else {
                    // The client went away mid-body: nothing to answer.
                    return Err(DropConnection);
                }
            }
        }
    };

    if drop_roll < shared.cfg.faults.drop_rate {
        Counters::inc(&shared.stats.dropped);
        log(&shared, &ctx, &parts, remote, 0, 0);
        return Err(DropConnection);
    }

    let path = parts.uri.path();
    let mut resp = match (route(&shared, &parts.method, path), body) {
        (Route::None, _) => {
            Counters::inc(&shared.stats.unmatched_requests);
            ctx.route = "none";
            let rej = Rejection::missing_token();
            shared.stats.reject(rej.error_type);
            apigw::rejection_response(&mut ctx, &rej)
        }
        (_, None) => {
            // API Gateway's front door answers before routing or auth (unverified for the
            // SageMaker runtime, which is given the same answer).
            let mut r = Response::new(Body::from(format!(
                "HTTP content length exceeded {APIGW_MAX_BODY} bytes."
            )));
            *r.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            apigw::add_ids(&mut ctx, r.headers_mut());
            r
        }
        (Route::ApiGateway, Some(body)) => {
            Counters::inc(&shared.stats.apigw_requests);
            ctx.route = "apigw";
            apigw::handle(&shared, &mut ctx, &parts, &body).await
        }
        (Route::SageMaker { endpoint }, Some(body)) => {
            Counters::inc(&shared.stats.sagemaker_requests);
            ctx.route = "sagemaker";
            sagemaker_route(&shared, &mut ctx, &parts, endpoint, &body).await
        }
    };

    stall(&shared).await;

    let total = received.elapsed();
    let timing = server_timing(&ctx, total);
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&timing) {
        h.insert(HeaderName::from_static("server-timing"), v);
    }
    h.insert(DATE, http_date());
    let status = resp.status().as_u16();
    shared.stats.status(status);
    let len = resp.body().size_hint_len();
    log(&shared, &ctx, &parts, remote, status, len);
    Ok(resp)
}

trait SizeHintLen {
    fn size_hint_len(&self) -> u64;
}

impl SizeHintLen for Body {
    fn size_hint_len(&self) -> u64 {
        hyper::body::Body::size_hint(self).exact().unwrap_or(0)
    }
}

fn log(
    shared: &Shared,
    ctx: &Ctx,
    parts: &http::request::Parts,
    remote: SocketAddr,
    status: u16,
    len: u64,
) {
    if let Some(log) = &shared.access_log {
        log.write(&LogRecord {
            request_id: &ctx.request_id,
            ip: remote.ip(),
            method: parts.method.as_str(),
            path: parts.uri.path(),
            route: ctx.route,
            status,
            error_type: ctx.error_type,
            integration_latency: ctx.lambda_dur.or(ctx.sagemaker_dur),
            response_latency: ctx.received.elapsed(),
            response_length: len,
            dropped: status == 0,
        });
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `apigw;dur=0.412, lambda;dur=0.301, sagemaker;dur=0.120` (see the module docs).
pub fn server_timing(ctx: &Ctx, total: Duration) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(64);
    if ctx.route == "sagemaker" {
        let _ = write!(
            s,
            "sagemaker;dur={:.3}",
            ms(ctx.sagemaker_dur.unwrap_or(total))
        );
        return s;
    }
    let _ = write!(s, "apigw;dur={:.3}", ms(total));
    if let Some(l) = ctx.lambda_dur {
        let _ = write!(s, ", lambda;dur={:.3}", ms(l));
    }
    if let Some(m) = ctx.sagemaker_dur {
        let _ = write!(s, ", sagemaker;dur={:.3}", ms(m));
    }
    s
}

/// `--stall-at/--stall-for`: hold the response until the stall window ends.
async fn stall(shared: &Shared) {
    let f = &shared.cfg.faults;
    let Some(dur) = f.stall_for else { return };
    let from = shared.started + f.stall_at.unwrap_or(Duration::ZERO);
    let until = from + dur;
    let now = Instant::now();
    if now >= from && now < until {
        tokio::time::sleep_until(until.into()).await;
    }
}

/// A fresh `x-amzn-RequestId` (UUID v4). Not drawn from the seeded RNG: ids stay unique
/// across runs with the same seed.
pub fn new_request_id() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    id.hyphenated().encode_lower(&mut buf).to_string()
}

thread_local! {
    static DATE_CACHE: RefCell<(u64, HeaderValue)> =
        const { RefCell::new((u64::MAX, HeaderValue::from_static(""))) };
}

/// The `Date` header, formatted once per second per thread.
pub fn http_date() -> HeaderValue {
    let now = SystemTime::now();
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    DATE_CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            let v = httpdate::fmt_http_date(now);
            c.1 = HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""));
            c.0 = secs;
        }
        c.1.clone()
    })
}

/// Verify the signature for `action`'s service, then the caller's IAM permission on
/// `resource`, counting the outcome. Both routes render the rejection in their own format.
pub(super) fn authorize<'s>(
    shared: &'s Shared,
    parts: &http::request::Parts,
    body: &Bytes,
    action: auth::Action,
    resource: impl FnOnce() -> String,
) -> Result<&'s auth::Principal, Rejection> {
    let view = auth::RequestView {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body,
    };
    let service = match action {
        auth::Action::ExecuteApiInvoke => "execute-api",
        auth::Action::SageMakerInvokeEndpoint => "sagemaker",
    };
    let checked = auth::verify(
        &view,
        shared.keys(),
        service,
        &shared.cfg.region,
        SystemTime::now(),
    )
    .and_then(|principal| {
        Counters::inc(&shared.stats.accepted);
        if principal.may(action) {
            Ok(principal)
        } else {
            Err(Rejection::access_denied(
                &principal.arn,
                action,
                &resource(),
            ))
        }
    });
    if let Err(rej) = &checked {
        shared.stats.reject(rej.error_type);
    }
    checked
}

/// The SageMaker runtime route (AWS_WIRE §4).
async fn sagemaker_route(
    shared: &Shared,
    ctx: &mut Ctx,
    parts: &http::request::Parts,
    endpoint: &str,
    body: &Bytes,
) -> Response<Body> {
    let cfg = &shared.cfg;
    // SageMaker ARNs are lower-case.
    let resource = || {
        format!(
            "arn:aws:sagemaker:{}:{}:endpoint/{}",
            cfg.region,
            cfg.account,
            endpoint.to_ascii_lowercase()
        )
    };
    if let Err(rej) = authorize(
        shared,
        parts,
        body,
        auth::Action::SageMakerInvokeEndpoint,
        resource,
    ) {
        return sm_error(ctx, rej.status, rej.error_type, rej.sagemaker_body());
    }
    if !sagemaker::valid_endpoint_name(endpoint) {
        let msg = format!(
            "1 validation error detected: Value '{endpoint}' at 'endpointName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*"
        );
        return sm_message_error(ctx, 400, "ValidationError", &msg);
    }
    if endpoint != cfg.endpoint_name {
        let msg = format!("Endpoint {endpoint} of account {} not found.", cfg.account);
        return sm_message_error(ctx, 400, "ValidationError", &msg);
    }
    if body.len() > 6_291_456 {
        // Unverified: the modelled length constraint on Body, in Coral's validation wording.
        return sm_message_error(
            ctx,
            400,
            "ValidationError",
            "1 validation error detected: Value at 'body' failed to satisfy constraint: Member must have length less than or equal to 6291456",
        );
    }
    let roll: f64 = ctx.rng.random();
    if roll < cfg.faults.error_rate {
        Counters::inc(&shared.stats.injected_errors);
        // Unverified messages: the service's own wording for these is not captured anywhere.
        return if ctx.rng.random_bool(0.5) {
            sm_message_error(
                ctx,
                503,
                "ServiceUnavailable",
                "The service is unavailable. Please try again later.",
            )
        } else {
            sm_message_error(
                ctx,
                500,
                "InternalFailure",
                "An internal failure occurred. Please try again later.",
            )
        };
    }
    let started = Instant::now();
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let accept = parts
        .headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let c = invoke_endpoint(shared, ctx, content_type, accept, body).await;
    ctx.sagemaker_dur = Some(started.elapsed());
    sagemaker_response(shared, ctx, endpoint, c)
}

/// The endpoint itself (runtime overhead + container), shared by the direct route and Lambda.
pub async fn invoke_endpoint(
    shared: &Shared,
    ctx: &mut Ctx,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: &[u8],
) -> sagemaker::ContainerResponse {
    let lat = &shared.cfg.faults.latency;
    let mut wait = Duration::ZERO;
    if let Some(d) = &lat.sagemaker {
        wait += d.sample(&mut ctx.rng);
    }
    if let Some(d) = &lat.model {
        wait += d.sample(&mut ctx.rng);
    }
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    let (c, rows) = sagemaker::invoke_container(&shared.cfg.model, content_type, accept, body);
    shared
        .stats
        .predictions
        .fetch_add(rows as u64, Ordering::Relaxed);
    c
}

fn sagemaker_response(
    shared: &Shared,
    ctx: &mut Ctx,
    endpoint: &str,
    c: sagemaker::ContainerResponse,
) -> Response<Body> {
    if (200..300).contains(&c.status) {
        let status = StatusCode::from_u16(c.status).unwrap_or(StatusCode::OK);
        let mut r = Response::new(Body::from(c.body));
        *r.status_mut() = status;
        let h = r.headers_mut();
        // Unverified: a 204 from the container is passed through as 204 with no body.
        if status != StatusCode::NO_CONTENT {
            h.insert(CONTENT_TYPE, HeaderValue::from_static(c.content_type));
        }
        sm_headers(ctx, h);
        return r;
    }
    let body = sagemaker::model_error_body(&shared.cfg.region, &shared.cfg.account, endpoint, &c);
    let mut r = sm_error(ctx, 424, "ModelError", body);
    // The variant was invoked, so the runtime names it even on a model error (unverified).
    r.headers_mut().insert(
        HeaderName::from_static("x-amzn-invoked-production-variant"),
        HeaderValue::from_static("AllTraffic"),
    );
    r
}

fn sm_headers(ctx: &Ctx, h: &mut HeaderMap) {
    h.insert(
        HeaderName::from_static("x-amzn-invoked-production-variant"),
        HeaderValue::from_static("AllTraffic"),
    );
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        h.insert(HeaderName::from_static("x-amzn-requestid"), v);
    }
}

fn sm_message_error(
    ctx: &mut Ctx,
    status: u16,
    error_type: &'static str,
    msg: &str,
) -> Response<Body> {
    sm_error(
        ctx,
        status,
        error_type,
        format!("{{\"message\":{}}}", sagemaker::json_str(msg)),
    )
}

/// A SageMaker runtime error: rest-json, `x-amzn-ErrorType`, JSON body.
pub fn sm_error(
    ctx: &mut Ctx,
    status: u16,
    error_type: &'static str,
    body: String,
) -> Response<Body> {
    ctx.error_type = Some(error_type);
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(
        HeaderName::from_static("x-amzn-errortype"),
        HeaderValue::from_static(error_type),
    );
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        h.insert(HeaderName::from_static("x-amzn-requestid"), v);
    }
    r
}

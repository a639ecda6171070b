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
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use rand::rngs::SmallRng;
use rand::Rng;

use super::accesslog::{AccessLog, LogRecord};
use super::auth::{self, KeyStore, Rejection};
use super::cloudwatch;
use super::endpoint::{Capacity, Refusal, SageMakerMode, Serverless};
use super::faults::{self, TokenBucket};
use super::httpapi;
use super::lambda::LambdaPool;
use super::metrics::{Metric, MetricStore, Names};
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
    /// The SageMaker endpoint's in-flight limit and serverless instances.
    pub capacity: Capacity,
    pub metrics: MetricStore,
    /// Requests made with each usage-plan API key.
    pub api_key_use: std::sync::Mutex<std::collections::HashMap<String, u64>>,
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
            capacity: Capacity::new(&cfg.sagemaker, cfg.idle_timeout),
            metrics: MetricStore::new(Names {
                api_name: cfg.api_name.clone(),
                api_id: cfg.http_api_id.clone(),
                stage: cfg.stage.clone(),
                function_name: cfg.function_name.clone(),
                endpoint_name: cfg.endpoint_name.clone(),
                variant_name: "AllTraffic".into(),
            }),
            api_key_use: Default::default(),
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

/// Which listener a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    /// API Gateway (REST and HTTP API), SageMaker runtime, CloudWatch.
    Main,
    /// The Lambda function URL: every method and path reach the function.
    FunctionUrl,
}

/// Accept until `shutdown` flips, then drain connections (at most 5 s).
pub async fn run(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    front: Front,
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
                conns.spawn(serve_connection(stream, remote, shared.clone(), shutdown.clone(), front));
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
    front: Front,
) {
    let tls = shared.cfg.tls.clone();
    let shared_limits = shared.cfg.limits.clone();
    let svc = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        CatchUnwind {
            inner: Box::pin(handle(shared.clone(), remote, req, front)),
            shared,
        }
    });
    if let Some(tls) = tls {
        // HTTPS: HTTP/2 or HTTP/1.1 as ALPN chose. A failed handshake is the client's problem.
        let Ok(Ok(stream)) = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_rustls::TlsAcceptor::from(tls).accept(stream),
        )
        .await
        else {
            return;
        };
        let limits = &shared_limits;
        // Neither HTTP/2's wait for the client preface nor the auto builder's version sniffing
        // has a timeout: a client that sends nothing after the handshake would be held forever.
        let mut stream = stream;
        let mut first = vec![0u8; 8192];
        let n = match tokio::time::timeout(
            limits.header_read_timeout,
            tokio::io::AsyncReadExt::read(&mut stream, &mut first),
        )
        .await
        {
            Ok(Ok(n)) if n > 0 => n,
            _ => return,
        };
        first.truncate(n);
        // ALPN picks the protocol where the client offered one.
        let alpn = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        let stream = Prefixed {
            prefix: Bytes::from(first),
            inner: stream,
        };
        let mut builder =
            hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
        builder
            .http1()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout);
        // HTTP/2 has no header read timeout in hyper: a peer that stops answering pings is
        // closed; one that answers them but never finishes a request's headers (or trickles its
        // preface) is not.
        builder
            .http2()
            .timer(hyper_util::rt::TokioTimer::new())
            .keep_alive_interval(limits.header_read_timeout)
            .keep_alive_timeout(limits.header_read_timeout);
        let builder = match alpn.as_deref() {
            Some(b"h2") => builder.http2_only(),
            Some(b"http/1.1") => builder.http1_only(),
            _ => builder,
        };
        let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
        tokio::pin!(conn);
        tokio::select! {
            _ = conn.as_mut() => {}
            _ = shutdown.changed() => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
        return;
    }
    let io = hyper_util::rt::TokioIo::new(stream);
    // A head that has not arrived whole within the timeout (slowloris), or a kept-alive
    // connection idle for as long, is closed without an answer.
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(shared_limits.header_read_timeout)
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

/// A stream whose first bytes were already read: they are read again first.
struct Prefixed<S> {
    prefix: Bytes,
    inner: S,
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            let head = self.prefix.split_to(n);
            buf.put_slice(&head);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
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
    /// Lambda init duration, on a cold invocation.
    pub init_dur: Option<Duration>,
    /// `x-amzn-ErrorType` of the answer, for the access log.
    pub error_type: Option<&'static str>,
    pub route: &'static str,
}

/// Which API the path addresses.
enum Route<'a> {
    ApiGateway,
    HttpApi,
    FunctionUrl,
    SageMaker { endpoint: &'a str },
    CloudWatch(cloudwatch::Protocol, &'a str),
    None,
}

fn route<'a>(
    shared: &Shared,
    front: Front,
    method: &Method,
    path: &'a str,
    headers: &'a HeaderMap,
) -> Route<'a> {
    if front == Front::FunctionUrl {
        return Route::FunctionUrl;
    }
    if method != Method::POST {
        return Route::None;
    }
    if path == shared.apigw_path {
        return Route::ApiGateway;
    }
    if path.strip_prefix('/') == Some(shared.cfg.resource.as_str()) {
        return Route::HttpApi;
    }
    if path == "/" {
        if let Some(op) = headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.strip_prefix(cloudwatch::JSON_TARGET_PREFIX))
        {
            return Route::CloudWatch(cloudwatch::Protocol::Json, op);
        }
    }
    if let Some(op) = path.strip_prefix(cloudwatch::CBOR_PATH_PREFIX) {
        return Route::CloudWatch(cloudwatch::Protocol::Cbor, op);
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
    mut req: hyper::Request<Incoming>,
    front: Front,
) -> HandlerResult {
    // HTTP/2 carries the host as `:authority`; the signature covers it as `host`, as AWS's
    // front ends see it.
    if !req.headers().contains_key(http::header::HOST) {
        if let Some(v) = req
            .uri()
            .authority()
            .and_then(|a| http::HeaderValue::from_str(a.as_str()).ok())
        {
            req.headers_mut().insert(http::header::HOST, v);
        }
    }
    let received = Instant::now();
    Counters::inc(&shared.stats.requests);
    let seq = shared.seq.fetch_add(1, Ordering::Relaxed);
    let mut ctx = Ctx {
        request_id: new_request_id(),
        received,
        rng: faults::request_rng(shared.cfg.seed, seq),
        lambda_dur: None,
        sagemaker_dur: None,
        init_dur: None,
        error_type: None,
        route: "none",
    };
    // Drawn first and unconditionally, so later draws do not depend on this one's outcome.
    let drop_roll: f64 = ctx.rng.random();
    let (parts, body) = req.into_parts();

    let limit = match route(
        &shared,
        front,
        &parts.method,
        parts.uri.path(),
        &parts.headers,
    ) {
        Route::SageMaker { .. } => SAGEMAKER_MAX_BODY,
        _ => APIGW_MAX_BODY,
    };
    let read = read_body(
        body,
        &parts.headers,
        limit,
        shared.cfg.limits.body_read_timeout,
    )
    .await;
    let (body, unread) = match read {
        ReadBody::Whole(b) => (Ok(b), None),
        ReadBody::TooLong(rest) => (Err(BodyFault::TooLong), Some(rest)),
        ReadBody::TimedOut => (Err(BodyFault::TimedOut), None),
        ReadBody::Malformed => (Err(BodyFault::Malformed), None),
        // The client went away mid-body: nothing to answer.
        ReadBody::Gone => return Err(DropConnection),
    };

    if drop_roll < shared.cfg.faults.drop_rate {
        Counters::inc(&shared.stats.dropped);
        log(&shared, &ctx, &parts, remote, 0, 0);
        return Err(DropConnection);
    }

    let path = parts.uri.path();
    let route = route(&shared, front, &parts.method, path, &parts.headers);
    let must_close = body.is_err();
    let mut resp = match (route, body) {
        (_, Err(fault @ (BodyFault::TimedOut | BodyFault::Malformed))) => {
            front_door_answer(&mut ctx, fault)
        }
        (Route::None, _) => {
            Counters::inc(&shared.stats.unmatched_requests);
            ctx.route = "none";
            let rej = Rejection::missing_token();
            shared.stats.reject(rej.error_type);
            apigw::rejection_response(&mut ctx, &rej)
        }
        (route, Err(_)) => {
            // API Gateway's front door answers before auth; the SageMaker runtime's with its
            // own limit (AWS_WIRE §9: its wording at 6 MB is unverified).
            let mut r = Response::new(Body::from(format!(
                "HTTP content length exceeded {limit} bytes."
            )));
            *r.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            if matches!(route, Route::SageMaker { .. }) {
                sm_headers_id(&ctx, r.headers_mut());
            } else {
                apigw::add_ids(&mut ctx, r.headers_mut());
            }
            r
        }
        (Route::ApiGateway, Ok(body)) => {
            Counters::inc(&shared.stats.apigw_requests);
            ctx.route = "apigw";
            apigw::handle(&shared, &mut ctx, &parts, &body).await
        }
        (Route::SageMaker { endpoint }, Ok(body)) => {
            Counters::inc(&shared.stats.sagemaker_requests);
            ctx.route = "sagemaker";
            sagemaker_route(&shared, &mut ctx, &parts, endpoint, &body).await
        }
        (Route::HttpApi, Ok(body)) => {
            Counters::inc(&shared.stats.http_api_requests);
            ctx.route = "httpapi";
            httpapi::handle(&shared, &mut ctx, &parts, &body, httpapi::Kind::HttpApi).await
        }
        (Route::FunctionUrl, Ok(body)) => {
            Counters::inc(&shared.stats.function_url_requests);
            ctx.route = "function-url";
            httpapi::handle(&shared, &mut ctx, &parts, &body, httpapi::Kind::FunctionUrl).await
        }
        (Route::CloudWatch(protocol, op), Ok(body)) => {
            ctx.route = "cloudwatch";
            cloudwatch::handle(&shared, &mut ctx, &parts, &body, protocol, op).await
        }
    };
    if must_close && parts.version < http::Version::HTTP_2 {
        // The body was not read to its end: the connection cannot carry another request.
        resp.headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    if let Some(rest) = unread {
        // HTTP/1: a client still writing when the server closes gets a reset and loses the
        // answer (a broken pipe instead of the 413). Reading on while the answer goes out
        // lets it finish writing and read the 413. HTTP/2 would end the stream with
        // RST_STREAM(NO_ERROR), which curl 7.88 takes for a failed transfer: read on there too.
        // A client waiting for `100 Continue` sends no body: nothing to read.
        let expects_continue = parts
            .headers
            .get(http::header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        if !expects_continue {
            let until = Instant::now() + shared.cfg.limits.body_read_timeout;
            tokio::spawn(drain(rest, DRAIN_MAX, until));
        }
    }

    stall(&shared).await;

    let total = received.elapsed();
    let h = resp.headers_mut();
    // CloudWatch is not on the model's path: no hops to report.
    if ctx.route != "cloudwatch" {
        let timing = server_timing(&ctx, total);
        if let Ok(v) = HeaderValue::from_str(&timing) {
            h.insert(HeaderName::from_static("server-timing"), v);
        }
    }
    h.insert(DATE, http_date());
    let status = resp.status().as_u16();
    shared.stats.status(status);
    record_gateway_metrics(&shared, &ctx, status, total);
    let len = resp.body().size_hint_len();
    log(&shared, &ctx, &parts, remote, status, len);
    Ok(resp)
}

/// What is read of an oversize body after its 413, at most: enough for a 100 MB upload.
const DRAIN_MAX: u64 = 128 * 1024 * 1024;

/// How reading a request body ended.
enum ReadBody {
    Whole(Bytes),
    /// Longer than the route's limit (declared or streamed); the rest is still unread.
    TooLong(Incoming),
    /// Not whole within `--body-read-timeout`.
    TimedOut,
    /// Framing hyper could not parse (e.g. a bad chunk size).
    Malformed,
    /// The client went away mid-body.
    Gone,
}

/// Why a request got a front-door answer instead of reaching its route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyFault {
    TooLong,
    TimedOut,
    Malformed,
}

/// Read the whole body, at most `limit` bytes (judged from `Content-Length` before reading a
/// byte, and as it streams), within `timeout`. Never buffers more than `limit`.
async fn read_body(
    mut body: Incoming,
    headers: &HeaderMap,
    limit: usize,
    timeout: Duration,
) -> ReadBody {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return ReadBody::TooLong(body);
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = bytes::BytesMut::with_capacity(declared.unwrap_or(0) as usize);
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return ReadBody::TimedOut,
            Ok(None) => return ReadBody::Whole(buf.freeze()),
            Ok(Some(Err(e))) if malformed(&e) => return ReadBody::Malformed,
            Ok(Some(Err(_))) => return ReadBody::Gone,
            Ok(Some(Ok(frame))) => frame,
        };
        if let Some(data) = frame.data_ref() {
            if buf.len() + data.len() > limit {
                return ReadBody::TooLong(body);
            }
            buf.extend_from_slice(data);
        }
    }
}

/// A body error from bytes that are not HTTP/1 framing (hyper reports them as `InvalidInput`
/// or `InvalidData` I/O errors), as opposed to the client going away (`UnexpectedEof`, resets).
fn malformed(e: &hyper::Error) -> bool {
    use std::error::Error as _;
    let mut cause = e.source();
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData
            );
        }
        cause = c.source();
    }
    false
}

/// Read and discard up to `max` bytes of what is left of a body, until `until`.
async fn drain(mut rest: Incoming, max: u64, until: Instant) {
    let mut left = max;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(until.into(), rest.frame()).await {
        if let Some(data) = frame.data_ref() {
            left = left.saturating_sub(data.len() as u64);
            if left == 0 {
                break;
            }
        }
    }
}

/// The answer to a body that stalled or could not be parsed. API Gateway's are unverified
/// (AWS_WIRE §2): a stalled body gets 408 rather than a bare close, as AWS's Classic Load
/// Balancer documents for a client that "failed to send a full request", so the client can
/// tell it from a dropped connection; broken chunked framing gets 400, as that guide documents
/// for a request that does not meet the HTTP specification. Bodies in API Gateway's
/// `{"message":...}` shape. Both close the connection (set by the caller).
fn front_door_answer(ctx: &mut Ctx, fault: BodyFault) -> Response<Body> {
    let (status, body) = match fault {
        BodyFault::TimedOut => (
            StatusCode::REQUEST_TIMEOUT,
            "{\"message\":\"Request Timeout\"}",
        ),
        _ => (StatusCode::BAD_REQUEST, "{\"message\":\"Bad Request\"}"),
    };
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    apigw::add_ids(ctx, r.headers_mut());
    r
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

/// API Gateway's Latency, IntegrationLatency, Count, 4XX and 5XX for the two gateway routes.
fn record_gateway_metrics(shared: &Shared, ctx: &Ctx, status: u16, total: Duration) {
    let m = &shared.metrics;
    let set = match ctx.route {
        "apigw" => [
            Metric::ApiLatency,
            Metric::ApiIntegrationLatency,
            Metric::ApiCount,
            Metric::Api4xx,
            Metric::Api5xx,
        ],
        "httpapi" => [
            Metric::HttpLatency,
            Metric::HttpIntegrationLatency,
            Metric::HttpCount,
            Metric::Http4xx,
            Metric::Http5xx,
        ],
        _ => return,
    };
    m.duration(set[0], total);
    if let Some(l) = ctx.lambda_dur {
        m.duration(set[1], l);
    }
    m.count(set[2], 1);
    m.count(set[3], u64::from((400..500).contains(&status)));
    m.count(set[4], u64::from(status >= 500));
}

/// `apigw;dur=0.412, lambda;dur=0.301, init;dur=250.112, sagemaker;dur=0.120` (see the module
/// docs); `init` only on a cold Lambda invocation, `apigw` not on the function URL.
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
    if ctx.route == "function-url" {
        let _ = write!(s, "lambda;dur={:.3}", ms(ctx.lambda_dur.unwrap_or(total)));
    } else {
        let _ = write!(s, "apigw;dur={:.3}", ms(total));
        if let Some(l) = ctx.lambda_dur {
            let _ = write!(s, ", lambda;dur={:.3}", ms(l));
        }
    }
    if let Some(i) = ctx.init_dur {
        let _ = write!(s, ", init;dur={:.3}", ms(i));
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
    let service = action.service();
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

/// SageMaker's real-time payload limit (request and response); over it the front door's 413.
pub const SAGEMAKER_MAX_BODY: usize = 6_291_456;

/// The SageMaker runtime route (AWS_WIRE §4, §9).
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
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    if header("x-amzn-sagemaker-target-model").is_some() {
        // Captured in aws/amazon-sagemaker-examples#1216 (body) and #1026 (message).
        let body = format!(
            "{{\"ErrorCode\":\"TARGET_MODEL_HEADER_NOT_SUPPORTED\",\"Message\":{}}}",
            sagemaker::json_str(&format!(
                "Endpoint {endpoint} is not a multi-model endpoint and does not support target model header."
            ))
        );
        return sm_error(ctx, 400, "ValidationError", body);
    }
    if let Some(variant) = header("x-amzn-sagemaker-target-variant") {
        if variant != VARIANT {
            // Unverified wording: no capture of an unknown TargetVariant.
            let msg = format!(
                "The variant {variant} is not a production variant of endpoint {endpoint}; its variants are: {VARIANT}."
            );
            return sm_message_error(ctx, 400, "ValidationError", &msg);
        }
    }
    if matches!(cfg.sagemaker, SageMakerMode::Serverless(_)) && body.len() > Serverless::MAX_PAYLOAD
    {
        return serverless_oversize(ctx);
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
    let content_type = header(CONTENT_TYPE.as_str());
    let accept = header(http::header::ACCEPT.as_str());
    let c = invoke_endpoint(shared, ctx, content_type, accept, body).await;
    ctx.sagemaker_dur = Some(started.elapsed());
    match c {
        Ok(c) => sagemaker_response(shared, ctx, endpoint, c),
        Err(fault) => fault_response(shared, ctx, fault),
    }
}

/// The only production variant of the emulated endpoint.
pub const VARIANT: &str = "AllTraffic";

/// Why the endpoint did not hand the request to the container, or gave up on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmFault {
    /// 400 ThrottlingException (`--sagemaker-concurrency`, serverless `--max-concurrency`).
    Throttled,
    /// 429 ModelNotReadyException (serverless scale-from-zero under way).
    NotReady,
    /// 424 ModelError: the container did not answer within `--container-timeout`.
    Timeout,
    /// 400 ValidationError: a serverless request or response over 4 MB.
    Oversize,
}

/// The message of the container timeout (AWS_WIRE §9; RamVegiraju/SageMaker-Deployment#3).
pub const CONTAINER_TIMEOUT_MESSAGE: &str = "Your invocation timed out while waiting for a response from container primary. Review the latency metrics for each container in Amazon CloudWatch, resolve the issue, and try again.";

/// The error body SageMaker sends for `fault`: (status, error type, body).
pub fn fault_body(
    shared: &Shared,
    request_id: &str,
    fault: SmFault,
) -> (u16, &'static str, String) {
    let cfg = &shared.cfg;
    match fault {
        // Status, type and the null message as SageMaker sends them (AWS_WIRE §9:
        // opensearch-project/ml-commons#2429 shows `{"message":null}`).
        SmFault::Throttled => (400, "ThrottlingException", "{\"message\":null}".into()),
        // Unverified message wording.
        SmFault::NotReady => (
            429,
            "ModelNotReadyException",
            format!(
                "{{\"message\":{}}}",
                sagemaker::json_str(&format!(
                    "Model for endpoint {} is not ready yet: its serverless resources are still being provisioned. Retry the request.",
                    cfg.endpoint_name
                ))
            ),
        ),
        SmFault::Timeout => (
            424,
            "ModelError",
            sagemaker::model_timeout_body(&cfg.region, &cfg.account, &cfg.endpoint_name),
        ),
        SmFault::Oversize => (
            400,
            "ValidationError",
            format!(
                "{{\"message\":{}}}",
                sagemaker::json_str(&format!("Request {request_id} has oversize body."))
            ),
        ),
    }
}

fn fault_response(shared: &Shared, ctx: &mut Ctx, fault: SmFault) -> Response<Body> {
    let (status, error_type, body) = fault_body(shared, &ctx.request_id, fault);
    let mut r = sm_error(ctx, status, error_type, body);
    if fault == SmFault::Timeout {
        r.headers_mut().insert(
            HeaderName::from_static("x-amzn-invoked-production-variant"),
            HeaderValue::from_static(VARIANT),
        );
    }
    r
}

fn serverless_oversize(ctx: &mut Ctx) -> Response<Body> {
    let msg = format!("Request {} has oversize body.", ctx.request_id);
    sm_message_error(ctx, 400, "ValidationError", &msg)
}

/// The endpoint itself (capacity, runtime overhead, container), shared by the direct route and
/// Lambda. Records the SageMaker metrics.
pub async fn invoke_endpoint(
    shared: &Shared,
    ctx: &mut Ctx,
    content_type: Option<&str>,
    accept: Option<&str>,
    body: &[u8],
) -> Result<sagemaker::ContainerResponse, SmFault> {
    let cfg = &shared.cfg;
    let metrics = &shared.metrics;
    let serverless = matches!(cfg.sagemaker, SageMakerMode::Serverless(_));
    if serverless && body.len() > Serverless::MAX_PAYLOAD {
        metrics.count(Metric::SmInvocation4xx, 1);
        return Err(SmFault::Oversize);
    }
    let admission = match shared.capacity.admit(Instant::now()) {
        Ok(a) => a,
        Err(refusal) => {
            metrics.count(Metric::SmInvocation4xx, 1);
            return Err(match refusal {
                Refusal::Throttled => {
                    Counters::inc(&shared.stats.sagemaker_throttled);
                    SmFault::Throttled
                }
                Refusal::NotReady => {
                    Counters::inc(&shared.stats.sagemaker_not_ready);
                    SmFault::NotReady
                }
            });
        }
    };
    let started = Instant::now();
    if let Some(setup) = admission.setup {
        faults::sleep(setup).await;
        metrics.duration(Metric::SmModelSetupTime, setup);
    }
    let lat = &cfg.faults.latency;
    let overhead = lat
        .sagemaker
        .map(|d| d.sample(&mut ctx.rng))
        .unwrap_or_default();
    let model_wait = lat
        .model
        .map(|d| d.sample(&mut ctx.rng))
        .unwrap_or_default();
    if !overhead.is_zero() {
        faults::sleep(overhead).await;
    }
    let model_started = Instant::now();
    if model_wait >= cfg.limits.container_timeout {
        tokio::time::sleep(cfg.limits.container_timeout).await;
        metrics.duration(Metric::SmModelLatency, model_started.elapsed());
        metrics.duration(
            Metric::SmOverheadLatency,
            started.elapsed() - model_started.elapsed(),
        );
        metrics.count(Metric::SmInvocations, 1);
        metrics.count(Metric::SmInvocation4xx, 1);
        metrics.count(Metric::SmInvocation5xx, 0);
        return Err(SmFault::Timeout);
    }
    if !model_wait.is_zero() {
        faults::sleep(model_wait).await;
    }
    let (c, rows) = sagemaker::invoke_container(&cfg.model, content_type, accept, body);
    let model = model_started.elapsed();
    drop(admission);
    shared
        .stats
        .predictions
        .fetch_add(rows as u64, Ordering::Relaxed);
    metrics.duration(Metric::SmModelLatency, model);
    metrics.duration(
        Metric::SmOverheadLatency,
        started.elapsed().saturating_sub(model),
    );
    metrics.count(Metric::SmInvocations, 1);
    metrics.count(Metric::SmInvocation4xx, u64::from(c.status >= 300));
    metrics.count(Metric::SmInvocation5xx, 0);
    if serverless && c.body.len() > Serverless::MAX_PAYLOAD {
        return Err(SmFault::Oversize);
    }
    Ok(c)
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
        HeaderValue::from_static(VARIANT),
    );
    r
}

fn sm_headers_id(ctx: &Ctx, h: &mut HeaderMap) {
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        h.insert(HeaderName::from_static("x-amzn-requestid"), v);
    }
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

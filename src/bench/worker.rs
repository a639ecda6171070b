//! The one worker loop behind every mode (open loop, ramp, closed loop, one or two targets),
//! and the run around it: workers, a once-a-second collector, Ctrl-C.
//!
//! Open loop: each worker claims the next request index `i`, sleeps until the computed instant
//! `t0 + due(i)` and sends. Workers are the `--max-in-flight` slots: when all are busy, the
//! next index is claimed by the first worker that frees up, sent at once, and measured from
//! its due time (response time = completion - due, lag = send - due), so a stall shows in the
//! percentiles instead of silently thinning the load (no coordinated omission). Closed loop:
//! the same loop with "due" = the moment the worker is free.
//!
//! Workers record into a few mutex-guarded shards (a worker always uses the same one, so locks
//! are rarely contended). Once a second the collector empties the shards into that second's
//! interval, writes it to the HdrHistogram log, keeps a small per-second summary and adds it
//! to the totals, so memory stays flat however long the run is.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::sync::watch;
use tokio::time::Instant;

use super::hdrlog::{ClockBound, HdrLogWriter, RunInfo};
use super::recorder::{ms, Measurements, Sample, Series};
use super::report::{RunMeta, RunResult};
use super::schedule::Schedule;
use crate::client::Signer;
use crate::flow::RetryPolicy;
use crate::protocol::{self, Detail};

/// How requests are paced.
#[derive(Debug, Clone)]
pub enum Load {
    Open(Schedule),
    Closed,
}

/// When to stop and what to count.
#[derive(Debug, Clone)]
pub struct Plan {
    pub load: Load,
    /// Worker count: `--max-in-flight` (open) or `--concurrency` (closed).
    pub workers: usize,
    /// The first part of the run, excluded from every statistic.
    pub warmup: Duration,
    /// End of the run from its start (warmup included).
    pub end: Option<Duration>,
    /// Measured requests to send (warmup excluded).
    pub requests: Option<u64>,
}

impl Plan {
    /// The plan for a run: `duration` after the warmup (default: the ramp's length, or 10 s
    /// unless a request count alone ends the run).
    pub fn new(
        load: Load,
        workers: usize,
        warmup: Duration,
        duration: Option<Duration>,
        requests: Option<u64>,
    ) -> Plan {
        let end = match (duration, &load) {
            (Some(d), _) => Some(warmup + d),
            (None, Load::Open(s)) if s.ramp_secs() > 0.0 => {
                Some(Duration::from_secs_f64(s.ramp_secs()).max(warmup))
            }
            (None, _) if requests.is_some() => None,
            (None, _) => Some(warmup + Duration::from_secs(10)),
        };
        Plan {
            load,
            workers: workers.max(1),
            warmup,
            end,
            requests,
        }
    }
}

/// One place requests go.
#[derive(Clone)]
pub struct BenchTarget {
    pub name: String,
    pub signer: Arc<Signer>,
    /// Headers to sign and send besides the signing ones.
    pub headers: Vec<(String, String)>,
    /// Bodies, used in turn.
    pub bodies: Vec<Bytes>,
}

pub struct EngineConfig {
    pub plan: Plan,
    pub targets: Vec<BenchTarget>,
    pub client: reqwest::Client,
    /// For the direct loopback connections (reqwest has its own copy).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub hdr_log: Option<std::path::PathBuf>,
    /// Redraw a progress line on stderr each second.
    pub progress: bool,
    /// `--retries`: failed attempts sent again, each measured from its own due time.
    pub retry: RetryPolicy,
    pub connector: Connector,
    /// `--start-at`: the wall-clock instant of the schedule's t0 (default: now).
    pub start_at: Option<SystemTime>,
    /// What the log's header says about this run (`report merge` checks copies against it).
    pub run_info: RunInfo,
    /// A caller driving several runs (`capacity`): its stop requests and a look each second.
    pub control: Option<Control>,
}

/// What a caller that drives several runs needs from each.
pub struct Control {
    /// Becomes true to stop as on Ctrl-C (the caller listens to the signals between runs).
    pub interrupt: watch::Receiver<bool>,
    /// Called once a second with the totals so far and the time since the start; `true` ends
    /// the run at once (what is in flight is abandoned: the run cannot pass anyway).
    pub monitor: MonitorFn,
}

pub type MonitorFn = Box<dyn FnMut(&Measurements, Duration) -> bool + Send>;

struct Shared {
    plan: Plan,
    targets: Vec<BenchTarget>,
    client: reqwest::Client,
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
    connector: Connector,
    t0: Instant,
    /// Open loop: claims stop at this index (warmup requests + `--requests`).
    index_limit: Option<u64>,
    next: AtomicU64,
    /// Open loop: one permit per request whose due time has come, released by the pacer.
    pacer: Option<Arc<tokio::sync::Semaphore>>,
    measured: AtomicU64,
    warmup_sent: AtomicU64,
    in_flight: AtomicI64,
    /// Nanoseconds from t0 of the first and last measured send.
    first_send: AtomicU64,
    last_send: AtomicU64,
    shards: Vec<Mutex<Measurements>>,
    /// Per target, the engine's idle connections (see `Idle`).
    idle: Vec<Arc<Idle>>,
    /// The wall clock at t0, microseconds since the epoch, and the target's clock against
    /// ours (see `ClockBound`).
    t0_epoch_us: i64,
    clock: ClockBound,
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A target's idle connections, shared by the workers and handed out last in, first out: the
/// connection freed most recently goes out next, so an open loop with 256 workers at 185 rps
/// keeps the handful of connections its in-flight peak needs, warm, instead of rotating
/// through 256 (each opened by its worker's first request, the first 1.4 s of the run a
/// stream of new connections whose setup bunched arrivals and showed in the latencies). An
/// HTTP/2 connection is not handed out but shared: every worker sends its streams on one
/// multiplexed connection per target, and a second opens only while the first is closed or
/// still being opened.
#[derive(Default)]
struct Idle {
    senders: Mutex<Vec<Sender>>,
    /// Held while a connection opens until one has said which protocol the target speaks:
    /// the workers of an HTTP/2 target wait for its one connection instead of each opening
    /// their own at the start; once a target is known to speak HTTP/1.1, they open at once.
    opening: tokio::sync::Mutex<()>,
    speaks_h1: std::sync::atomic::AtomicBool,
}

impl Idle {
    /// Gives `direct` (which holds none: each exchange hands its connection back) an idle
    /// connection, or opens one for an HTTP/2 target; an HTTP/1.1 target's new connection is
    /// opened by the exchange itself.
    async fn lend(&self, direct: &mut Direct, connect_timeout: Duration) -> Result<(), Detail> {
        direct.sender = self.take();
        if direct.sender.is_some() || self.speaks_h1.load(Relaxed) {
            return Ok(());
        }
        let _one = self.opening.lock().await;
        direct.sender = self.take();
        if direct.sender.is_some() {
            return Ok(());
        }
        match direct.connect(connect_timeout).await? {
            Sender::H2(s) => {
                let shared = Sender::H2(s.clone());
                self.put(shared);
            }
            Sender::H1(_) => self.speaks_h1.store(true, Relaxed),
        }
        Ok(())
    }

    fn take(&self) -> Option<Sender> {
        let mut idle = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(last) = idle.last() {
            match last {
                _ if last.is_closed() => {
                    idle.pop();
                }
                Sender::H2(s) => return Some(Sender::H2(s.clone())),
                Sender::H1(_) => return idle.pop(),
            }
        }
        None
    }

    fn put(&self, sender: Sender) {
        let mut idle = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        if let Sender::H2(_) = sender {
            // One shared HTTP/2 connection is enough: a clone of it is dropped here.
            if idle
                .iter()
                .any(|s| matches!(s, Sender::H2(_)) && !s.is_closed())
            {
                return;
            }
        }
        idle.push(sender);
    }
}

fn lock(m: &Mutex<Measurements>) -> std::sync::MutexGuard<'_, Measurements> {
    // A worker that panicked mid-record leaves valid (if partial) counts.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Answer {
    status: u16,
    server_timing: Option<String>,
    detail: Detail,
    /// Error answers only: their headers (`Retry-After`) and one-line message.
    headers: Option<HeaderMap>,
    message: Option<String>,
    /// The `Date` header, seconds since the epoch (the target's clock).
    date: Option<u64>,
}

/// The answer's `Date` in seconds since the epoch. It changes once a second while answers
/// arrive by the thousand, so each thread keeps the last value it parsed and compares bytes.
fn date_secs(headers: &HeaderMap) -> Option<u64> {
    thread_local! {
        static LAST: std::cell::RefCell<(Vec<u8>, u64)> = const {
            std::cell::RefCell::new((Vec::new(), 0))
        };
    }
    let raw = headers.get(http::header::DATE)?.as_bytes();
    if let Some(secs) = LAST.with_borrow(|(bytes, secs)| (bytes == raw).then_some(*secs)) {
        return Some(secs);
    }
    let t = httpdate::parse_http_date(std::str::from_utf8(raw).ok()?).ok()?;
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
    LAST.with_borrow_mut(|last| {
        last.0.clear();
        last.0.extend_from_slice(raw);
        last.1 = secs;
    });
    Some(secs)
}

fn transport_error(e: &reqwest::Error) -> Detail {
    protocol::classify_transport(e.is_timeout())
}

/// Signed headers per (target, body), reused within one second.
///
/// `x-amz-date` has a resolution of one second, so every request of the same body signed in
/// the same second with the same credentials carries byte-for-byte the same signature: signing
/// it again would only burn CPU that the load generator needs. The cache is keyed by the
/// signing second and the signer's generation (new credentials or a corrected clock), so each
/// request still goes out with a fresh, current `x-amz-date`, exactly as if signed at send time.
#[derive(Default)]
struct SignCache {
    slots: Vec<Option<(u64, u64, HeaderMap)>>,
}

impl SignCache {
    fn headers(
        &mut self,
        slot: usize,
        target: &BenchTarget,
        body: &[u8],
    ) -> Result<HeaderMap, Detail> {
        let second = target
            .signer
            .now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let generation = target.signer.generation();
        if self.slots.len() <= slot {
            self.slots.resize_with(slot + 1, || None);
        }
        if let Some((s, g, headers)) = &self.slots[slot] {
            if *s == second && *g == generation {
                return Ok(headers.clone());
            }
        }
        let signed = target
            .signer
            .sign(&target.headers, body)
            .map_err(|_| Detail::OtherClient)?;
        let mut headers = HeaderMap::with_capacity(signed.headers.len());
        for (name, value) in &signed.headers {
            // The connection writes it: `Host` on HTTP/1.1 (the signed value), `:authority`
            // on HTTP/2, reqwest from the URL.
            if name == "host" {
                continue;
            }
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.append(n, v);
            }
        }
        self.slots[slot] = Some((second, generation, headers.clone()));
        Ok(headers)
    }
}

/// Sign (a current `x-amz-date`) and send one request; read the whole body so the connection
/// can be reused.
async fn exchange(
    sh: &Shared,
    conns: &mut [Option<Direct>],
    ti: usize,
    cache: &mut SignCache,
    slot: usize,
    body: Bytes,
) -> Result<Answer, Detail> {
    let target = &sh.targets[ti];
    // Cheap unless temporary credentials are within minutes of expiry; a failure to refresh
    // expired credentials shows up as rejected signatures.
    let _ = target.signer.ensure_fresh().await;
    let headers = cache.headers(slot, target, &body)?;
    let sent_wall = SystemTime::now();
    if let Some(direct) = conns[ti].as_mut() {
        let answer = tokio::time::timeout(sh.timeout, async {
            sh.idle[ti].lend(direct, sh.connect_timeout).await?;
            direct
                .exchange(target, headers, body, sh.connect_timeout, sent_wall)
                .await
        })
        .await
        .unwrap_or(Err(Detail::Timeout));
        match direct.sender.take() {
            // The connection's state is unknown: it is dropped, not handed on.
            Some(_) if answer.is_err() => {}
            Some(sender) => sh.idle[ti].put(sender),
            None => {}
        }
        return answer;
    }
    let client = &sh.client;
    let response = client
        .post(target.signer.target.url.clone())
        .headers(headers)
        .body(body)
        .send()
        .await
        .map_err(|e| transport_error(&e))?;
    let status = response.status().as_u16();
    let date = date_secs(response.headers());
    let server_timing = response
        .headers()
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // Only error responses need their headers (error type, Date for skew correction).
    let headers = if status >= 400 {
        response.headers().clone()
    } else {
        HeaderMap::new()
    };
    let body = response.bytes().await.map_err(|e| transport_error(&e))?;
    let mut a = answer(target, status, headers, server_timing, &body, sent_wall);
    a.date = date;
    Ok(a)
}

/// Classify with the target's protocol. Only an answer that says the signature's time was off
/// corrects the signing clock (bounded; a wrong secret never moves it).
fn answer(
    target: &BenchTarget,
    status: u16,
    headers: HeaderMap,
    server_timing: Option<String>,
    body: &[u8],
    sent_wall: SystemTime,
) -> Answer {
    let detail = protocol::classify(target.signer.target.kind.protocol(), status, &headers, body);
    if detail == Detail::ClockSkew {
        target
            .signer
            .correct_skew(&headers, sent_wall, SystemTime::now());
    }
    let message =
        (detail != Detail::Ok).then(|| protocol::describe(status, &headers, body, detail));
    Answer {
        status,
        server_timing,
        detail,
        date: date_secs(&headers),
        headers: (detail != Detail::Ok).then_some(headers),
        message,
    }
}

type Body = http_body_util::Full<Bytes>;

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Body>),
    H2(hyper::client::conn::http2::SendRequest<Body>),
}

impl Sender {
    fn is_closed(&self) -> bool {
        match self {
            Sender::H1(s) => s.is_closed(),
            Sender::H2(s) => s.is_closed(),
        }
    }
}

/// How the engine opens its own connections (every target but those behind a proxy).
#[derive(Clone)]
pub struct Connector {
    /// For `https://` targets: rustls with the platform's roots and `--ca-bundle`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub version: crate::client::HttpVersion,
    /// Counters for the report.
    pub opened: Arc<AtomicU64>,
    pub tls_handshakes: Arc<AtomicU64>,
    /// Each target's idle connections (by URL), kept from one run to the next: capacity's
    /// probes start on the connections the estimate and the probe before them left warm,
    /// instead of each probe's first requests waiting for new ones.
    idle: Arc<Mutex<IdleByUrl>>,
}

type IdleByUrl = Vec<(String, Arc<Idle>)>;

impl Connector {
    pub fn new(
        tls: Option<Arc<rustls::ClientConfig>>,
        version: crate::client::HttpVersion,
    ) -> Self {
        Connector {
            tls,
            version,
            opened: Default::default(),
            tls_handshakes: Default::default(),
            idle: Default::default(),
        }
    }

    fn idle_for(&self, url: &url::Url) -> Arc<Idle> {
        let mut all = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, idle)) = all.iter().find(|(u, _)| u == url.as_str()) {
            return idle.clone();
        }
        let idle = Arc::new(Idle::default());
        all.push((url.to_string(), idle.clone()));
        idle
    }
}

/// How a worker reaches a target over the engine's own connections: HTTP/1.1 keep-alive, or
/// HTTP/2 (negotiated by ALPN over TLS, or `--http2`), plain or TLS. The connection itself is
/// borrowed from the target's `Idle` set for each exchange. Targets behind a proxy go through
/// reqwest instead.
struct Direct {
    addr: String,
    server_name: Option<rustls::pki_types::ServerName<'static>>,
    /// Origin-form path for HTTP/1.1; the absolute URI (`:authority`) for HTTP/2.
    path: http::Uri,
    absolute: http::Uri,
    /// `Host` on HTTP/1.1: exactly the value that was signed.
    host: HeaderValue,
    connector: Connector,
    sender: Option<Sender>,
}

/// A proxy variable that applies to `url` (then reqwest, which speaks proxies, is used).
fn behind_proxy(url: &url::Url) -> bool {
    if crate::client::is_loopback(url) {
        return false;
    }
    let names: &[&str] = if url.scheme() == "https" {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    names
        .iter()
        .any(|n| std::env::var_os(n).is_some_and(|v| !v.is_empty()))
}

impl Direct {
    /// `None` for targets behind a proxy, or https without a TLS configuration.
    fn for_url(url: &url::Url, connector: &Connector) -> Option<Direct> {
        if behind_proxy(url) {
            return None;
        }
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        if https && connector.tls.is_none() {
            return None;
        }
        let host = url.host_str()?;
        let addr = format!("{host}:{}", url.port_or_known_default()?);
        let server_name = if https {
            let name = match url.host()? {
                url::Host::Domain(d) => d.to_string(),
                url::Host::Ipv4(ip) => ip.to_string(),
                url::Host::Ipv6(ip) => ip.to_string(),
            };
            Some(rustls::pki_types::ServerName::try_from(name).ok()?)
        } else {
            None
        };
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        Some(Direct {
            // `host_str` keeps an IPv6 literal's brackets, as a socket address string wants.
            addr,
            server_name,
            path: path.parse().ok()?,
            absolute: url.as_str().parse().ok()?,
            host: HeaderValue::from_str(&crate::sign::host_header(url)).ok()?,
            connector: connector.clone(),
            sender: None,
        })
    }

    async fn connect(&mut self, connect_timeout: Duration) -> Result<&mut Sender, Detail> {
        use hyper_util::rt::{TokioExecutor, TokioIo};
        if self.sender.as_ref().is_none_or(Sender::is_closed) {
            let stream = tokio::time::timeout(
                connect_timeout,
                tokio::net::TcpStream::connect(self.addr.as_str()),
            )
            .await
            .map_err(|_| Detail::Timeout)?
            .map_err(|_| Detail::Connection)?;
            let _ = stream.set_nodelay(true);
            self.connector.opened.fetch_add(1, Relaxed);
            let version = self.connector.version;
            let sender = match (&self.server_name, &self.connector.tls) {
                (Some(name), Some(tls)) => {
                    let tls = tokio_rustls::TlsConnector::from(tls.clone());
                    let stream =
                        tokio::time::timeout(connect_timeout, tls.connect(name.clone(), stream))
                            .await
                            .map_err(|_| Detail::Timeout)?
                            .map_err(|_| Detail::Connection)?;
                    self.connector.tls_handshakes.fetch_add(1, Relaxed);
                    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                    if h2 {
                        let (s, conn) = hyper::client::conn::http2::handshake(
                            TokioExecutor::new(),
                            TokioIo::new(stream),
                        )
                        .await
                        .map_err(|_| Detail::Connection)?;
                        tokio::spawn(conn);
                        Sender::H2(s)
                    } else {
                        let (s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                            .await
                            .map_err(|_| Detail::Connection)?;
                        tokio::spawn(conn);
                        Sender::H1(s)
                    }
                }
                _ if version == crate::client::HttpVersion::Http2 => {
                    let (s, conn) = hyper::client::conn::http2::handshake(
                        TokioExecutor::new(),
                        TokioIo::new(stream),
                    )
                    .await
                    .map_err(|_| Detail::Connection)?;
                    tokio::spawn(conn);
                    Sender::H2(s)
                }
                _ => {
                    let (s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .map_err(|_| Detail::Connection)?;
                    tokio::spawn(conn);
                    Sender::H1(s)
                }
            };
            self.sender = Some(sender);
        }
        self.sender.as_mut().ok_or(Detail::Connection)
    }

    async fn exchange(
        &mut self,
        target: &BenchTarget,
        mut headers: HeaderMap,
        body: Bytes,
        connect_timeout: Duration,
        sent_wall: SystemTime,
    ) -> Result<Answer, Detail> {
        use http_body_util::BodyExt;
        let (path, absolute, host) = (self.path.clone(), self.absolute.clone(), self.host.clone());
        let sender = self.connect(connect_timeout).await?;
        let response = match sender {
            Sender::H1(s) => {
                s.ready().await.map_err(|_| Detail::Connection)?;
                headers.insert(http::header::HOST, host);
                let mut request = http::Request::post(path)
                    .body(Body::new(body))
                    .map_err(|_| Detail::Connection)?;
                *request.headers_mut() = headers;
                s.send_request(request).await
            }
            Sender::H2(s) => {
                s.ready().await.map_err(|_| Detail::Connection)?;
                let mut request = http::Request::post(absolute)
                    .version(http::Version::HTTP_2)
                    .body(Body::new(body))
                    .map_err(|_| Detail::Connection)?;
                *request.headers_mut() = headers;
                s.send_request(request).await
            }
        }
        .map_err(|_| Detail::Connection)?;
        let (parts, incoming) = response.into_parts();
        let body = incoming
            .collect()
            .await
            .map_err(|_| Detail::Connection)?
            .to_bytes();
        let status = parts.status.as_u16();
        let server_timing = parts
            .headers
            .get("server-timing")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(answer(
            target,
            status,
            parts.headers,
            server_timing,
            &body,
            sent_wall,
        ))
    }
}

/// The worker loop.
async fn worker(
    sh: Arc<Shared>,
    id: usize,
    mut stop: watch::Receiver<bool>,
    mut abort: watch::Receiver<bool>,
) {
    let shard = &sh.shards[id % sh.shards.len()];
    let n_targets = sh.targets.len() as u64;
    let max_bodies = sh.targets.iter().map(|t| t.bodies.len()).max().unwrap_or(1);
    let mut cache = SignCache::default();
    let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(id as u64);
    let mut conns: Vec<Option<Direct>> = sh
        .targets
        .iter()
        .map(|t| Direct::for_url(&t.signer.target.url, &sh.connector))
        .collect();
    loop {
        if *stop.borrow() {
            break;
        }
        if let Some(pacer) = &sh.pacer {
            // Wait for the pacer to say a request is due; permits pile up while every worker
            // is busy, so a late request is still sent (and measured from its due time).
            tokio::select! {
                permit = pacer.acquire() => match permit {
                    Ok(p) => p.forget(),
                    Err(_) => break,
                },
                _ = stop.wait_for(|v| *v) => break,
            }
        }
        let i = sh.next.fetch_add(1, Relaxed);
        let (due, warm) = match &sh.plan.load {
            Load::Open(schedule) => {
                if sh.index_limit.is_some_and(|limit| i >= limit) {
                    break;
                }
                let Some(offset) = schedule.due(i) else { break };
                if sh.plan.end.is_some_and(|end| offset >= end) {
                    break;
                }
                // The computed instant, never "now" after the sleep.
                let due = sh.t0 + offset;
                if due > Instant::now() {
                    tokio::select! {
                        _ = tokio::time::sleep_until(due) => {}
                        _ = stop.wait_for(|v| *v) => break,
                    }
                }
                (due, offset < sh.plan.warmup)
            }
            Load::Closed => {
                let now = Instant::now();
                let since = now - sh.t0;
                if sh.plan.end.is_some_and(|end| since >= end) {
                    break;
                }
                let warm = since < sh.plan.warmup;
                if !warm
                    && sh
                        .plan
                        .requests
                        .is_some_and(|limit| sh.measured.fetch_add(1, Relaxed) >= limit)
                {
                    break;
                }
                (now, warm)
            }
        };
        let ti = (i % n_targets) as usize;
        let target = &sh.targets[ti];
        let body_index = ((i / n_targets) % target.bodies.len() as u64) as usize;
        let body = target.bodies[body_index].clone();
        let slot = ti * max_bodies + body_index;
        let mut due = due;
        let mut attempt = 1;
        loop {
            let sent = Instant::now();
            sh.in_flight.fetch_add(1, Relaxed);
            let outcome = tokio::select! {
                biased;
                r = exchange(&sh, &mut conns, ti, &mut cache, slot, body.clone()) => Some(r),
                _ = abort.wait_for(|v| *v) => None,
            };
            let done = Instant::now();
            sh.in_flight.fetch_sub(1, Relaxed);
            if let Some(Ok(Answer { date: Some(d), .. })) = &outcome {
                let wall = |t: Instant| sh.t0_epoch_us + us(t - sh.t0) as i64;
                sh.clock.observe(*d, wall(sent), wall(done));
            }
            if warm {
                sh.warmup_sent.fetch_add(1, Relaxed);
                if outcome.is_none() {
                    return;
                }
                break;
            }
            let since = u64::try_from((sent - sh.t0).as_nanos()).unwrap_or(u64::MAX);
            sh.first_send.fetch_min(since, Relaxed);
            sh.last_send.fetch_max(since, Relaxed);
            let lag_us = us(sent.saturating_duration_since(due));
            let Some(result) = outcome else {
                lock(shard).record_unfinished(ti, lag_us);
                return;
            };
            let (status, detail, timing, headers, message) = match &result {
                Ok(a) => (
                    Some(a.status),
                    a.detail,
                    a.server_timing.as_deref(),
                    a.headers.as_ref(),
                    a.message.as_deref(),
                ),
                Err(detail) => (
                    None,
                    *detail,
                    None,
                    None,
                    Some(match detail {
                        Detail::Timeout => "timed out (--timeout)",
                        Detail::Connection => "connection failed or dropped",
                        _ => "request not sent (signing or headers)",
                    }),
                ),
            };
            lock(shard).record(&Sample {
                target: ti,
                response_us: us(done - due),
                service_us: us(done - sent),
                lag_us,
                status,
                error: detail.category(),
                server_timing: timing,
                retry: attempt > 1,
                message,
            });
            if !sh.retry.should_retry(attempt, detail.outcome()) {
                break;
            }
            // The retry is due after its backoff, and measured from then.
            let delay = sh.retry.delay(attempt, headers, &mut rng);
            due = done + delay;
            if sh.plan.end.is_some_and(|end| due - sh.t0 >= end) {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                _ = stop.wait_for(|v| *v) => return,
            }
            attempt += 1;
        }
    }
}

/// How long in-flight requests get to finish after Ctrl-C / SIGTERM.
const INTERRUPT_GRACE: Duration = Duration::from_secs(1);
/// How long after the run's end (`--duration`) late requests may still be sent and answered:
/// past it the run stops hard, whatever is still queued (`unsent`) or in flight
/// (`unfinished`); capped further by `--timeout`.
const END_GRACE: Duration = Duration::from_secs(2);

/// The open loop's clock: a plain thread that sleeps until each request's computed due time
/// (`std::thread::sleep` wakes within tens of microseconds, where tokio's timer wheel has 1 ms
/// ticks and would add up to a millisecond of lag to every request) and then releases one
/// permit. When the schedule ends it releases one more permit per worker: each claims an index
/// past the end, sees it, and stops (closing the semaphore instead would strand permits not
/// yet taken, and with them the last requests).
fn spawn_pacer(
    schedule: Schedule,
    t0: Instant,
    index_limit: Option<u64>,
    end: Option<Duration>,
    workers: usize,
    done: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<Arc<tokio::sync::Semaphore>> {
    let sem = Arc::new(tokio::sync::Semaphore::new(0));
    let permits = sem.clone();
    let t0 = t0.into_std();
    std::thread::Builder::new()
        .name("iris-bench-pacer".into())
        .spawn(move || {
            let mut i = 0u64;
            while !done.load(Relaxed) && index_limit.is_none_or(|limit| i < limit) {
                let Some(offset) = schedule.due(i) else { break };
                if end.is_some_and(|end| offset >= end) {
                    break;
                }
                let at = t0 + offset;
                // A backlog beyond what the workers can take is not worth counting out one
                // permit at a time (at `--rps 1e9` that would spin a core): wait for them.
                while permits.available_permits() > workers.saturating_mul(2) && !done.load(Relaxed)
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
                loop {
                    let now = std::time::Instant::now();
                    if now >= at || done.load(Relaxed) {
                        break;
                    }
                    // Short naps, so that the end of a run is noticed promptly.
                    std::thread::sleep((at - now).min(Duration::from_millis(50)));
                }
                permits.add_permits(1);
                i += 1;
            }
            permits.add_permits(workers);
        })?;
    Ok(sem)
}

/// Run the plan; returns the merged measurements.
pub async fn run(cfg: EngineConfig) -> anyhow::Result<RunResult> {
    let mut signals = crate::signal::Signals::new()?;
    let (mut interrupt, monitor) = match cfg.control {
        Some(c) => (Some(c.interrupt), Some(c.monitor)),
        None => (None, None),
    };
    let (early_tx, mut early_rx) = watch::channel(false);
    let names: Vec<&str> = cfg.targets.iter().map(|t| t.name.as_str()).collect();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let n_shards = (threads * 4).clamp(4, 64).min(cfg.plan.workers.max(1));
    let shards = (0..n_shards)
        .map(|_| Mutex::new(Measurements::new(&names)))
        .collect();
    // With --start-at, t0 is that wall-clock instant on the monotonic clock (copies on other
    // machines share it through their synchronised wall clocks).
    let (now_wall, now) = (SystemTime::now(), Instant::now());
    let (started_wall, t0) = match cfg.start_at {
        Some(at) => match at.duration_since(now_wall) {
            Ok(ahead) => (at, now + ahead),
            Err(e) => (at, now.checked_sub(e.duration()).unwrap_or(now)),
        },
        None => (now_wall, now),
    };
    let t0_epoch_us = started_wall
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    let mut log = match &cfg.hdr_log {
        Some(p) => Some(HdrLogWriter::create(p, started_wall, &cfg.run_info)?),
        None => None,
    };
    let (index_limit, target_rps) = match &cfg.plan.load {
        Load::Open(s) => {
            let warm_idx = s.index_at(cfg.plan.warmup.as_secs_f64());
            let limit = cfg.plan.requests.map(|n| warm_idx + n);
            // The mean scheduled rate over the measured window.
            let end = match (cfg.plan.end, limit.and_then(|l| s.due(l))) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let w = cfg.plan.warmup.as_secs_f64();
            let rate = match end.map(|e| e.as_secs_f64()) {
                Some(e) if e > w => (s.count_by(e) - s.count_by(w)) / (e - w),
                _ => s.rate_at(w),
            };
            (limit, Some(rate))
        }
        Load::Closed => (None, None),
    };
    let pacer_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pacer = match &cfg.plan.load {
        Load::Open(schedule) => Some(spawn_pacer(
            schedule.clone(),
            t0,
            index_limit,
            cfg.plan.end,
            cfg.plan.workers,
            pacer_done.clone(),
        )?),
        Load::Closed => None,
    };
    let idle = cfg
        .targets
        .iter()
        .map(|t| cfg.connector.idle_for(&t.signer.target.url))
        .collect();
    let sh = Arc::new(Shared {
        plan: cfg.plan.clone(),
        targets: cfg.targets,
        client: cfg.client,
        timeout: cfg.timeout,
        connect_timeout: cfg.connect_timeout,
        retry: cfg.retry,
        connector: cfg.connector.clone(),
        t0,
        index_limit,
        next: AtomicU64::new(0),
        pacer,
        measured: AtomicU64::new(0),
        warmup_sent: AtomicU64::new(0),
        in_flight: AtomicI64::new(0),
        first_send: AtomicU64::new(u64::MAX),
        last_send: AtomicU64::new(0),
        shards,
        idle,
        t0_epoch_us,
        clock: ClockBound::default(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let (abort_tx, abort_rx) = watch::channel(false);
    let mut interrupted = false;
    if t0 > Instant::now() {
        // Nothing is due before t0 (the pacer waits too); a closed loop starts then.
        tokio::select! {
            _ = tokio::time::sleep_until(t0) => {}
            sig = signals.recv() => {
                interrupted = true;
                crate::warn!("interrupted ({sig}) before the start: nothing sent");
                let _ = stop_tx.send(true);
            }
        }
    }
    let mut set = tokio::task::JoinSet::new();
    for id in 0..cfg.plan.workers {
        set.spawn(worker(sh.clone(), id, stop_rx.clone(), abort_rx.clone()));
    }
    let progress = cfg.progress.then(|| {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        pb
    });
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let collector = tokio::spawn(collect(
        sh.clone(),
        done_rx,
        log.take(),
        progress.clone(),
        monitor.map(|m| (m, early_tx)),
    ));

    // Requests due before the end may still go out late (and are measured from their due
    // time) for a grace period; then the run stops, whatever is queued or in flight.
    let hard_stop = cfg
        .plan
        .end
        .map(|end| t0 + end + END_GRACE.min(cfg.timeout));
    {
        let joined = async {
            while let Some(r) = set.join_next().await {
                if let Err(e) = r {
                    if e.is_panic() {
                        crate::warn!("a bench worker panicked: {e}");
                    }
                }
            }
        };
        tokio::pin!(joined);
        let deadline = async {
            match hard_stop {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        // Stop sending, give what is in flight `grace`, then abandon it.
        let wind_down = |grace: Duration| {
            let _ = stop_tx.send(true);
            async move { grace }
        };
        let asked = async {
            match interrupt.as_mut() {
                Some(rx) => {
                    if rx.wait_for(|v| *v).await.is_err() {
                        // Nobody can ask any more.
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending().await,
            }
        };
        let grace = tokio::select! {
            _ = &mut joined => None,
            sig = signals.recv() => {
                interrupted = true;
                if let Some(pb) = &progress { pb.suspend(|| {}); }
                {
                    use std::io::Write as _;
                    let _ = writeln!(std::io::stderr().lock(), "iris-cli: interrupted ({sig}): no new requests; in-flight ones get {}s", INTERRUPT_GRACE.as_secs());
                }
                Some(wind_down(INTERRUPT_GRACE).await)
            }
            _ = asked => {
                interrupted = true;
                Some(wind_down(INTERRUPT_GRACE).await)
            }
            Ok(_) = early_rx.wait_for(|v| *v) => Some(wind_down(Duration::ZERO).await),
            _ = deadline => Some(wind_down(Duration::ZERO).await),
        };
        if let Some(grace) = grace {
            if tokio::time::timeout(grace, &mut joined).await.is_err() {
                let _ = abort_tx.send(true);
                joined.await;
            }
        }
    }
    pacer_done.store(true, Relaxed);
    let _ = done_tx.send(());
    let (totals, series, log) = collector.await??;
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    let started_epoch = super::hdrlog::started_epoch(started_wall);
    let first = sh.first_send.load(Relaxed);
    let last = sh.last_send.load(Relaxed);
    let at = |ns: u64| started_epoch + ns as f64 / 1e9;
    let meta = RunMeta {
        mode: match cfg.plan.load {
            Load::Open(_) => "open",
            Load::Closed => "closed",
        }
        .into(),
        target_rps,
        started_epoch,
        first_send_epoch: (first != u64::MAX).then(|| at(first)),
        last_send_epoch: (first != u64::MAX).then(|| at(last)),
        warmup_requests: sh.warmup_sent.load(Relaxed),
        interrupted,
        concurrency: cfg.plan.workers,
        connections_opened: sh.connector.opened.load(Relaxed),
        tls_handshakes: sh.connector.tls_handshakes.load(Relaxed),
        unsent: match &cfg.plan.load {
            Load::Open(schedule) if !interrupted => {
                // Without an end the request count ends the run (a Poisson schedule is not
                // worth walking to a far-off time).
                let mut due = match cfg.plan.end {
                    Some(end) => schedule.index_at(end.as_secs_f64()),
                    None => index_limit.unwrap_or(0),
                };
                if let Some(limit) = index_limit {
                    due = due.min(limit);
                }
                let warm = schedule.index_at(cfg.plan.warmup.as_secs_f64());
                let measured_due = due.saturating_sub(warm);
                measured_due.saturating_sub(totals.sent.saturating_sub(totals.retries))
            }
            _ => 0,
        },
    };
    if let Some(log) = log {
        log.finish(&meta, &totals, sh.clock.get())?;
    }
    Ok(RunResult {
        meta,
        totals,
        series,
    })
}

type Collected = (Measurements, Series, Option<HdrLogWriter>);

/// Once a second: empty the shards into the interval, log it, summarise it, add it to the
/// totals. Runs a last time when the workers are done.
async fn collect(
    sh: Arc<Shared>,
    mut done: tokio::sync::oneshot::Receiver<()>,
    mut log: Option<HdrLogWriter>,
    progress: Option<indicatif::ProgressBar>,
    mut monitor: Option<(MonitorFn, watch::Sender<bool>)>,
) -> anyhow::Result<Collected> {
    let names: Vec<&str> = sh.targets.iter().map(|t| t.name.as_str()).collect();
    let mut totals = Measurements::new(&names);
    let mut interval = Measurements::new(&names);
    let mut series = Series::default();
    let mut ticks =
        tokio::time::interval_at(sh.t0 + Duration::from_secs(1), Duration::from_secs(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut prev = Duration::ZERO;
    loop {
        let last = tokio::select! {
            _ = ticks.tick() => false,
            _ = &mut done => true,
        };
        for shard in &sh.shards {
            let mut s = lock(shard);
            interval.add(&s);
            s.reset();
        }
        let now = Instant::now() - sh.t0;
        series.push(Series::summarize(
            prev.as_secs(),
            &interval.response,
            &interval.failed,
        ));
        if let Some(w) = log.as_mut() {
            w.write_interval(&interval, prev, now.saturating_sub(prev))?;
        }
        totals.add(&interval);
        interval.reset();
        if let Some((look, early)) = monitor.as_mut() {
            if !last && look(&totals, now) {
                let _ = early.send(true);
            }
        }
        if let Some(pb) = &progress {
            let secs = now.as_secs_f64().max(1e-3);
            pb.set_message(format!(
                "{:>4.0}s  {:>8.1} rps  in flight {:>4}  p50 {}  p99 {}  errors {}",
                secs,
                totals.sent as f64 / secs,
                sh.in_flight.load(Relaxed),
                super::report::fmt_ms(ms(totals.response.value_at_quantile(0.5))),
                super::report::fmt_ms(ms(totals.response.value_at_quantile(0.99))),
                totals.errors_total(),
            ));
            pb.tick();
        }
        prev = now;
        if last {
            break;
        }
    }
    Ok((totals, series, log))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microseconds_saturate() {
        assert_eq!(us(Duration::from_millis(3)), 3000);
        assert_eq!(us(Duration::MAX), u64::MAX);
    }

    #[test]
    fn dates_are_parsed_once_per_value() {
        let at = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(http::header::DATE, HeaderValue::from_str(v).unwrap());
            date_secs(&h)
        };
        assert_eq!(at("Tue, 01 Dec 2026 12:00:00 GMT"), Some(1_796_126_400));
        assert_eq!(at("Tue, 01 Dec 2026 12:00:00 GMT"), Some(1_796_126_400));
        assert_eq!(at("Tue, 01 Dec 2026 12:00:01 GMT"), Some(1_796_126_401));
        assert_eq!(at("not a date"), None);
        assert_eq!(at("Tue, 01 Dec 2026 12:00:01 GMT"), Some(1_796_126_401));
        assert_eq!(date_secs(&HeaderMap::new()), None);
    }
}

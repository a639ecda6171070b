//! A faithful local API Gateway -> Lambda -> SageMaker XGBoost endpoint (see AWS_WIRE.md and
//! docs/emulated-answers.md), with the other shapes of "a model behind an API": an HTTP API
//! route, a Lambda function URL on its own port, and CloudWatch `GetMetricData` for the
//! emulator's own metrics.
//!
//! [`Emulator::start`] binds, spawns the server on the current tokio runtime and returns; the
//! server stops when the [`Emulator`] is dropped. [`Emulator::start_in_thread`] does the same on
//! its own runtime in a background thread, for synchronous tests.
//!
//! Every response carries `Server-Timing` with nested durations in milliseconds (three decimals):
//! `apigw;dur=T, lambda;dur=L, sagemaker;dur=S` on the API Gateway routes, where `apigw` is the
//! whole time the gateway held the request (CloudWatch `Latency`), `lambda` the integration call
//! (`IntegrationLatency`, includes the SageMaker call), `sagemaker` the InvokeEndpoint call
//! (overhead + model). A cold Lambda invocation adds `init;dur=I` (inside `lambda`). Tiers that
//! were not reached are left out; the function URL has no `apigw`, the SageMaker route sends
//! only `sagemaker;dur=S`.

pub mod accesslog;
mod apigw;
pub mod auth;
mod cloudwatch;
pub mod endpoint;
pub mod faults;
mod httpapi;
mod lambda;
pub mod metrics;
pub mod model;
pub use crate::pyfloat;
pub mod sagemaker;
pub mod serve;
mod server;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use endpoint::{SageMakerMode, Serverless};
pub use faults::{Latencies, LatencyDist};

/// AWS's limits, on by default with AWS's values (AWS_WIRE §9).
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// REST API integration timeout (50 ms to 29 s; default 29 s): 504 beyond it.
    pub integration_timeout: Duration,
    /// HTTP API integration timeout (at most 30 s): 503 beyond it.
    pub http_api_timeout: Duration,
    /// SageMaker's wait for the container (60 s): 424 ModelError beyond it.
    pub container_timeout: Duration,
    /// Lambda's synchronous response limit, 6 MiB + 100 bytes: API Gateway answers 502.
    pub lambda_response_max: usize,
    /// HTTP/1: a request head (or, between requests, its first byte) must arrive within this,
    /// or the connection is closed without an answer. AWS's value is unverified.
    pub header_read_timeout: Duration,
    /// A request body must arrive whole within this after its head: 408 and a close beyond
    /// it. AWS's value is unverified.
    pub body_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            integration_timeout: Duration::from_secs(29),
            http_api_timeout: Duration::from_secs(30),
            container_timeout: Duration::from_secs(60),
            lambda_response_max: 6_291_556,
            header_read_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(30),
        }
    }
}

/// A usage plan on the REST API (`--api-key`): every request must carry one of `keys` in
/// `x-api-key`; each key may make at most `quota` requests (None: no quota).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsagePlan {
    pub keys: Vec<String>,
    pub quota: Option<u64>,
}

/// How API Gateway hands the request to Lambda.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Integration {
    /// "Lambda custom": the event is the body; function errors come back as 200 `errorMessage`.
    #[default]
    NonProxy,
    /// Lambda proxy: function errors and malformed results become 502.
    Proxy,
}

/// Injected faults. All decisions are drawn from the seeded per-request RNG.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    pub latency: Latencies,
    /// API Gateway stage throttle: tokens per second (None = off).
    pub throttle_rps: Option<f64>,
    /// Bucket size; defaults to the rate (at least 1).
    pub burst: Option<u32>,
    /// Fraction of requests answered with an injected 5xx.
    pub error_rate: f64,
    /// Hold every response that completes in `[stall_at, stall_at + stall_for)` after start
    /// until the end of that window.
    pub stall_at: Option<Duration>,
    pub stall_for: Option<Duration>,
    /// Fraction of requests whose connection is closed without a response.
    pub drop_rate: f64,
}

/// Everything the emulator needs; core code never sees clap types.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    pub listen: SocketAddr,
    pub stage: String,
    pub resource: String,
    pub endpoint_name: String,
    pub region: String,
    pub account: String,
    /// Shown in `x-amz-apigw-id`-style ids and the execute-api ARN.
    pub api_id: String,
    pub keys: auth::KeyStore,
    pub model: Arc<model::Model>,
    /// Species names by class index; an index beyond the list is returned as its number.
    pub classes: Vec<String>,
    pub integration: Integration,
    /// Lambda reserved concurrency (AWS's default account quota is 1 000).
    pub lambda_concurrency: usize,
    /// Init duration added to a new Lambda instance's first invocation.
    pub cold_start: Duration,
    /// An instance idle for longer than this is reclaimed (the next call is cold again).
    pub idle_timeout: Duration,
    pub faults: Faults,
    pub seed: u64,
    pub access_log: Option<PathBuf>,
    pub limits: Limits,
    pub sagemaker: SageMakerMode,
    /// API keys required on the REST API route (None: no usage plan).
    pub usage_plan: Option<UsagePlan>,
    /// The REST API's name (the `ApiName` metric dimension).
    pub api_name: String,
    /// The HTTP API's id (the `ApiId` metric dimension).
    pub http_api_id: String,
    /// The Lambda function's name (the `FunctionName` metric dimension).
    pub function_name: String,
    /// The function URL's id, `<url-id>.lambda-url.<region>.on.aws`.
    pub function_url_id: String,
    /// Where the function URL listens (its own port: a function URL takes every path).
    pub function_url_listen: SocketAddr,
    /// Serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) with this configuration (`serve --tls`).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Where `serve --tls` wrote the CA that signed its certificate (for the export lines).
    pub tls_ca_file: Option<PathBuf>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            stage: "species".into(),
            resource: "irispredict".into(),
            endpoint_name: "iris-xgb".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            api_id: "irislocal01".into(),
            keys: auth::KeyStore::builtin(),
            model: Arc::new(model::Model::iris()),
            classes: IRIS_CLASSES.iter().map(|s| s.to_string()).collect(),
            integration: Integration::NonProxy,
            lambda_concurrency: 1000,
            cold_start: Duration::ZERO,
            // Unverified: Lambda does not document when it reclaims idle instances; observed
            // lifetimes are 5 to 15 minutes.
            idle_timeout: Duration::from_secs(15 * 60),
            faults: Faults::default(),
            seed: 0,
            access_log: None,
            limits: Limits::default(),
            sagemaker: SageMakerMode::default(),
            usage_plan: None,
            api_name: "iris-api".into(),
            http_api_id: "irishttp01".into(),
            function_name: "iris-predict".into(),
            function_url_id: "irislocalfunctionurl0000000000001".into(),
            function_url_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: None,
            tls_ca_file: None,
        }
    }
}

pub const IRIS_CLASSES: [&str; 3] = ["setosa", "versicolor", "virginica"];

/// A snapshot of the emulator's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Every request read off a connection.
    pub requests: u64,
    /// Requests whose signature verified (and key was found).
    pub accepted: u64,
    /// Rejections by `x-amzn-ErrorType` (auth, IAM and routing rejections).
    pub rejected: BTreeMap<String, u64>,
    /// Requests to the API Gateway route (`POST /{stage}/{resource}`).
    pub apigw_requests: u64,
    /// Requests to `POST /endpoints/{name}/invocations`.
    pub sagemaker_requests: u64,
    /// Requests to the HTTP API route (`POST /{resource}`, stage `$default`).
    pub http_api_requests: u64,
    /// Requests to the function URL listener.
    pub function_url_requests: u64,
    /// CloudWatch requests.
    pub cloudwatch_requests: u64,
    /// SageMaker invocations refused by the endpoint's capacity (400 ThrottlingException) or
    /// while a serverless endpoint provisions (429 ModelNotReadyException).
    pub sagemaker_throttled: u64,
    pub sagemaker_not_ready: u64,
    /// Requests to any other path or method (403 Missing Authentication Token).
    pub unmatched_requests: u64,
    /// Lambda invocations started, and how many of them were cold starts.
    pub lambda_invocations: u64,
    pub cold_starts: u64,
    /// Lambda invocations refused by the concurrency limit.
    pub lambda_throttled: u64,
    /// Rows the model evaluated.
    pub predictions: u64,
    /// Requests answered 429 by the API Gateway token bucket.
    pub throttled: u64,
    /// Injected 5xx answers.
    pub injected_errors: u64,
    /// Connections closed without a response by `--drop-rate`.
    pub dropped: u64,
    /// Handler panics (a test should assert 0).
    pub panics: u64,
    /// Responses by status code.
    pub by_status: BTreeMap<u16, u64>,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub requests: AtomicU64,
    pub accepted: AtomicU64,
    pub rejected: Mutex<BTreeMap<String, u64>>,
    pub apigw_requests: AtomicU64,
    pub sagemaker_requests: AtomicU64,
    pub http_api_requests: AtomicU64,
    pub function_url_requests: AtomicU64,
    pub cloudwatch_requests: AtomicU64,
    pub sagemaker_throttled: AtomicU64,
    pub sagemaker_not_ready: AtomicU64,
    pub unmatched_requests: AtomicU64,
    pub lambda_invocations: AtomicU64,
    pub cold_starts: AtomicU64,
    pub lambda_throttled: AtomicU64,
    pub predictions: AtomicU64,
    pub throttled: AtomicU64,
    pub injected_errors: AtomicU64,
    pub dropped: AtomicU64,
    pub panics: AtomicU64,
    /// Index = status - 100, for 100..=599.
    pub by_status: Vec<AtomicU64>,
}

impl Counters {
    pub fn new() -> Self {
        Counters {
            by_status: (0..500).map(|_| AtomicU64::new(0)).collect(),
            ..Default::default()
        }
    }

    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn reject(&self, error_type: &str) {
        let mut m = self.rejected.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(error_type.to_string()).or_default() += 1;
    }

    pub fn status(&self, status: u16) {
        if let Some(c) = self.by_status.get(usize::from(status).wrapping_sub(100)) {
            Counters::inc(c);
        }
    }

    pub fn snapshot(&self) -> Stats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            requests: g(&self.requests),
            accepted: g(&self.accepted),
            rejected: self
                .rejected
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            apigw_requests: g(&self.apigw_requests),
            sagemaker_requests: g(&self.sagemaker_requests),
            http_api_requests: g(&self.http_api_requests),
            function_url_requests: g(&self.function_url_requests),
            cloudwatch_requests: g(&self.cloudwatch_requests),
            sagemaker_throttled: g(&self.sagemaker_throttled),
            sagemaker_not_ready: g(&self.sagemaker_not_ready),
            unmatched_requests: g(&self.unmatched_requests),
            lambda_invocations: g(&self.lambda_invocations),
            cold_starts: g(&self.cold_starts),
            lambda_throttled: g(&self.lambda_throttled),
            predictions: g(&self.predictions),
            throttled: g(&self.throttled),
            injected_errors: g(&self.injected_errors),
            dropped: g(&self.dropped),
            panics: g(&self.panics),
            by_status: self
                .by_status
                .iter()
                .enumerate()
                .filter_map(|(i, c)| {
                    let n = g(c);
                    (n > 0).then_some((i as u16 + 100, n))
                })
                .collect(),
        }
    }
}

/// A running emulator. Dropping it stops the server: the listener closes at once, idle
/// keep-alive connections are closed, in-flight requests get up to 5 s to finish.
pub struct Emulator {
    addr: SocketAddr,
    fn_addr: SocketAddr,
    shared: Arc<server::Shared>,
    shutdown: Option<tokio::sync::watch::Sender<bool>>,
    /// Set by `start_in_thread`: the runtime thread, joined on drop.
    thread: Option<std::thread::JoinHandle<()>>,
    /// Set by `start`: the server task, for `shutdown().await`.
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Emulator {
    /// Bind `cfg.listen` (and the function URL's own port), spawn the server on the current
    /// runtime and return.
    pub async fn start(cfg: EmulatorConfig) -> anyhow::Result<Emulator> {
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", cfg.listen))?;
        let fn_listener = tokio::net::TcpListener::bind(cfg.function_url_listen)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot listen on {} (function URL): {e}",
                    cfg.function_url_listen
                )
            })?;
        let addr = listener.local_addr()?;
        let fn_addr = fn_listener.local_addr()?;
        let shared = Arc::new(server::Shared::new(cfg)?);
        let (tx, rx) = tokio::sync::watch::channel(false);
        let s2 = shared.clone();
        let task = tokio::spawn(async move {
            tokio::join!(
                server::run(listener, s2.clone(), rx.clone(), server::Front::Main),
                server::run(fn_listener, s2, rx, server::Front::FunctionUrl),
            );
        });
        Ok(Emulator {
            addr,
            fn_addr,
            shared,
            shutdown: Some(tx),
            thread: None,
            task: Some(task),
        })
    }

    /// Start on a dedicated two-worker runtime in a background thread.
    pub fn start_in_thread(cfg: EmulatorConfig) -> anyhow::Result<Emulator> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("iris-emulator")
            .enable_all()
            .build()?;
        let bind = |a: SocketAddr, what: &str| -> anyhow::Result<std::net::TcpListener> {
            let l = std::net::TcpListener::bind(a)
                .map_err(|e| anyhow::anyhow!("cannot listen on {a}{what}: {e}"))?;
            l.set_nonblocking(true)?;
            Ok(l)
        };
        let std_listener = bind(cfg.listen, "")?;
        let std_fn_listener = bind(cfg.function_url_listen, " (function URL)")?;
        let addr = std_listener.local_addr()?;
        let fn_addr = std_fn_listener.local_addr()?;
        let shared = Arc::new(server::Shared::new(cfg)?);
        let (tx, rx) = tokio::sync::watch::channel(false);
        let s2 = shared.clone();
        let thread = std::thread::Builder::new()
            .name("iris-emulator-main".into())
            .spawn(move || {
                rt.block_on(async move {
                    let main = tokio::net::TcpListener::from_std(std_listener);
                    let func = tokio::net::TcpListener::from_std(std_fn_listener);
                    match (main, func) {
                        (Ok(main), Ok(func)) => {
                            tokio::join!(
                                server::run(main, s2.clone(), rx.clone(), server::Front::Main),
                                server::run(func, s2, rx, server::Front::FunctionUrl),
                            );
                        }
                        (Err(e), _) | (_, Err(e)) => {
                            eprintln!("iris-cli serve: cannot register listener: {e}")
                        }
                    }
                });
                // In-flight tasks were drained by `run`; do not wait on stragglers.
                rt.shutdown_timeout(Duration::from_millis(100));
            })?;
        Ok(Emulator {
            addr,
            fn_addr,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
            task: None,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/{stage}/{resource}`
    pub fn invoke_url(&self) -> String {
        format!(
            "{}://{}/{}/{}",
            self.scheme(),
            self.addr,
            self.shared.cfg.stage,
            self.shared.cfg.resource
        )
    }

    /// `http://127.0.0.1:PORT/{resource}`: the HTTP API's `$default` stage (no stage in the path).
    pub fn http_api_url(&self) -> String {
        format!(
            "{}://{}/{}",
            self.scheme(),
            self.addr,
            self.shared.cfg.resource
        )
    }

    /// `http://127.0.0.1:PORT2/`: the function URL (every path reaches the function).
    pub fn function_url(&self) -> String {
        format!("{}://{}/", self.scheme(), self.fn_addr)
    }

    pub fn function_url_addr(&self) -> SocketAddr {
        self.fn_addr
    }

    /// `http://127.0.0.1:PORT`, what a SageMaker or CloudWatch client takes as `endpoint_url`.
    pub fn endpoint_url(&self) -> String {
        format!("{}://{}", self.scheme(), self.addr)
    }

    /// `https` with `serve --tls`.
    pub fn scheme(&self) -> &'static str {
        if self.shared.cfg.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    pub fn endpoint_name(&self) -> &str {
        &self.shared.cfg.endpoint_name
    }

    pub fn region(&self) -> &str {
        &self.shared.cfg.region
    }

    pub fn config(&self) -> &EmulatorConfig {
        &self.shared.cfg
    }

    pub fn stats(&self) -> Stats {
        self.shared.stats.snapshot()
    }

    /// Stop and wait until every connection is closed (use from async code started with
    /// [`Emulator::start`]; dropping does the same without waiting).
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.shared.flush_access_log();
    }
}

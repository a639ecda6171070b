//! A tiny scripted HTTP server on 127.0.0.1:0 for answers the emulator does not give (or not
//! exactly when a test needs them): it records every request and answers with what the
//! test's closure returns. It stops when dropped.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub query: Option<String>,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    pub version: http::Version,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Check the SigV4 signature with the emulator's verifier and built-in keys.
    pub fn verify(&self, service: &str) -> Result<(), String> {
        use iris_cli::emulator::auth::{verify, KeyStore, RequestView};
        static KEYS: std::sync::OnceLock<KeyStore> = std::sync::OnceLock::new();
        let keys = KEYS.get_or_init(KeyStore::builtin);
        let view = RequestView {
            method: "POST",
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
            body: &self.body,
        };
        verify(
            &view,
            keys,
            service,
            "us-east-1",
            std::time::SystemTime::now(),
        )
        .map(|_| ())
        .map_err(|r| r.message)
    }

    /// `x-amz-date` as a time.
    pub fn amz_date(&self) -> std::time::SystemTime {
        let d = self.header("x-amz-date").expect("x-amz-date");
        let t = format!(
            "{}-{}-{}T{}:{}:{}Z",
            &d[0..4],
            &d[4..6],
            &d[6..8],
            &d[9..11],
            &d[11..13],
            &d[13..15]
        );
        httpdate::parse_http_date(&rfc3339_to_http(&t)).unwrap()
    }
}

fn rfc3339_to_http(t: &str) -> String {
    // 2024-01-02T03:04:05Z -> a SystemTime via days from civil (no date crate needed).
    let y: i64 = t[0..4].parse().unwrap();
    let m: i64 = t[5..7].parse().unwrap();
    let d: i64 = t[8..10].parse().unwrap();
    let (hh, mm, ss): (u64, u64, u64) = (
        t[11..13].parse().unwrap(),
        t[14..16].parse().unwrap(),
        t[17..19].parse().unwrap(),
    );
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days as u64 * 86_400 + hh * 3600 + mm * 60 + ss;
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// What to answer.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Answer after this long, without holding a server thread (unlike a sleep in the handler).
    pub delay: Option<std::time::Duration>,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
            delay: None,
        }
    }

    #[allow(dead_code)]
    pub fn delay(mut self, d: std::time::Duration) -> Reply {
        self.delay = Some(d);
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Handler = dyn Fn(usize, &Received) -> Reply + Send + Sync;

/// How the mock listens.
#[derive(Default, Clone)]
pub struct Options {
    /// Serve TLS with this configuration (ALPN h2 and http/1.1).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Answer HTTP/2 requests that carry a `host` header with nginx's 400 ("client sent
    /// duplicate host header").
    pub reject_h2_host: bool,
}

pub struct Mock {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Mock {
    /// Serve `handler(n, request)`, where n counts requests from 0.
    pub fn start(handler: impl Fn(usize, &Received) -> Reply + Send + Sync + 'static) -> Mock {
        Self::start_with(Options::default(), handler)
    }

    /// HTTP/1.1 and HTTP/2 (prior knowledge, or ALPN over TLS) as `opts` says.
    pub fn start_with(
        opts: Options,
        handler: impl Fn(usize, &Received) -> Reply + Send + Sync + 'static,
    ) -> Mock {
        let handler: Arc<Handler> = Arc::new(handler);
        let received = Arc::new(Mutex::new(Vec::new()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let rec = received.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let (stream, _) = tokio::select! {
                        r = listener.accept() => match r { Ok(s) => s, Err(_) => continue },
                        _ = &mut rx => break,
                    };
                    let (handler, rec, opts) = (handler.clone(), rec.clone(), opts.clone());
                    tokio::spawn(async move {
                        let reject_h2_host = opts.reject_h2_host;
                        let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                            let (handler, rec) = (handler.clone(), rec.clone());
                            async move {
                                if reject_h2_host
                                    && req.version() == http::Version::HTTP_2
                                    && req.headers().contains_key(http::header::HOST)
                                {
                                    return Ok::<_, Infallible>(
                                        http::Response::builder()
                                            .status(400)
                                            .body(Full::new(Bytes::from_static(b"<html><head><title>400 Bad Request</title></head><body>client sent duplicate host header</body></html>")))
                                            .unwrap(),
                                    );
                                }
                                let (parts, body) = req.into_parts();
                                let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                                let mut headers = parts.headers;
                                if let Some(a) = parts.uri.authority() {
                                    // HTTP/2's :authority, seen as the host it stands for.
                                    if !headers.contains_key(http::header::HOST) {
                                        headers.insert(http::header::HOST, a.as_str().parse().unwrap());
                                    }
                                }
                                let r = Received {
                                    path: parts.uri.path().to_string(),
                                    query: parts.uri.query().map(str::to_string),
                                    headers,
                                    body,
                                    version: parts.version,
                                };
                                let n = {
                                    let mut v = rec.lock().unwrap();
                                    v.push(r.clone());
                                    v.len() - 1
                                };
                                let reply = handler(n, &r);
                                if let Some(d) = reply.delay {
                                    tokio::time::sleep(d).await;
                                }
                                let mut resp = http::Response::builder().status(reply.status);
                                for (k, v) in &reply.headers {
                                    resp = resp.header(k, v);
                                }
                                Ok::<_, Infallible>(resp.body(Full::new(Bytes::from(reply.body))).unwrap())
                            }
                        });
                        let builder = hyper_util::server::conn::auto::Builder::new(
                            hyper_util::rt::TokioExecutor::new(),
                        );
                        match opts.tls {
                            Some(tls) => {
                                let Ok(stream) = tokio_rustls::TlsAcceptor::from(tls).accept(stream).await else {
                                    return;
                                };
                                let _ = builder
                                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                                    .await;
                            }
                            None => {
                                let _ = builder
                                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                                    .await;
                            }
                        }
                    });
                }
            });
        });
        Mock {
            addr,
            received,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn https_url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

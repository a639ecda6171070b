//! Benchmark of the emulator alone, every request SigV4-verified.
//!
//! (a) Closed loop: N keep-alive connections send as fast as they can, single-row and 10-row
//!     requests to the API Gateway route; requests/s and predictions/s.
//! (b) Open loop: 5 000 requests/s for 10 s, latency measured from each request's intended send
//!     time (no coordinated omission); p50/p99/p99.9 from an HDR histogram.
//!
//! Requests are signed once with aws-sigv4 and replayed: a signature stays valid for 5 minutes,
//! and the whole run takes well under one.
//!
//! `CARGO_TARGET_DIR=/work/main/target cargo bench --bench emulator`
//!
//! Measured on the 2-core VM (real verifier and iris model, median of 3 runs): 38 600 single-row
//! requests/s; 36 400 10-row requests/s = 364 000 predictions/s; open loop at 5 000 rps:
//! p50 0.136 ms, p99 0.223 ms, p99.9 1.8-4.4 ms (one run of three hit a 100 ms machine stall:
//! p99 11.7 ms while the server-side p99 stayed 0.035 ms).
//! Environment: BENCH_SECS (closed-loop seconds per case, default 5), BENCH_CONNS (default 32),
//! BENCH_RATE (default 5000), BENCH_OPEN_SECS (default 10).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use iris_cli::emulator::{auth, Emulator, EmulatorConfig};

const ROWS: [&str; 10] = [
    "5.1,3.5,1.4,0.2",
    "6.6,3.0,4.4,1.4",
    "6.3,3.3,6.0,2.5",
    "4.9,3.0,1.4,0.2",
    "5.8,2.7,5.1,1.9",
    "5.7,2.8,4.1,1.3",
    "4.7,3.2,1.3,0.2",
    "7.1,3.0,5.9,2.1",
    "5.5,2.4,3.8,1.1",
    "6.4,3.2,4.5,1.5",
];

/// A pre-signed request to replay.
#[derive(Clone)]
struct Template {
    path: String,
    headers: Vec<(String, String)>,
    body: Bytes,
    rows: u64,
}

fn presign(emu: &Emulator, rows: usize) -> Template {
    let data = ROWS[..rows].join("\n");
    let body = serde_json::json!({ "data": data }).to_string();
    let url = emu.invoke_url();
    let host = emu.local_addr().to_string();
    let creds = Credentials::new(
        auth::TEST_ACCESS_KEY,
        auth::TEST_SECRET_KEY,
        None,
        None,
        "bench",
    );
    let identity = creds.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(emu.region())
        .name("execute-api")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let base = [
        ("content-type", "application/json"),
        ("host", host.as_str()),
    ];
    let signable = SignableRequest::new(
        "POST",
        &url,
        base.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut headers: Vec<(String, String)> = base
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    headers.extend(
        instructions
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    Template {
        path: format!("/{}/{}", emu.config().stage, emu.config().resource),
        headers,
        body: Bytes::from(body),
        rows: rows as u64,
    }
}

fn build(t: &Template) -> http::Request<Full<Bytes>> {
    let mut b = http::Request::post(&t.path);
    for (k, v) in &t.headers {
        b = b.header(k, v);
    }
    b.body(Full::new(t.body.clone())).unwrap()
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: std::net::SocketAddr) -> Sender {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    sender
}

/// Send one request; returns (ok, server-side apigw duration in µs if present).
async fn roundtrip(sender: &mut Sender, t: &Template) -> (bool, Option<u64>) {
    if sender.ready().await.is_err() {
        return (false, None);
    }
    let resp = match sender.send_request(build(t)).await {
        Ok(r) => r,
        Err(_) => return (false, None),
    };
    let ok = resp.status() == 200;
    let server_us = resp
        .headers()
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|m| m.split("dur=").nth(1))
        .and_then(|d| d.trim().parse::<f64>().ok())
        .map(|ms| (ms * 1000.0) as u64);
    let body = resp.into_body().collect().await;
    (ok && body.is_ok(), server_us)
}

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn closed_loop(addr: std::net::SocketAddr, t: &Template, conns: usize, secs: f64) {
    let done = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(AtomicBool::new(false));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..conns {
        let (t, done, count, errors, measuring) = (
            t.clone(),
            done.clone(),
            count.clone(),
            errors.clone(),
            measuring.clone(),
        );
        tasks.spawn(async move {
            let mut sender = connect(addr).await;
            while !done.load(Ordering::Relaxed) {
                let (ok, _) = roundtrip(&mut sender, &t).await;
                if measuring.load(Ordering::Relaxed) {
                    if ok {
                        count.fetch_add(1, Ordering::Relaxed);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if !ok {
                    sender = connect(addr).await;
                }
            }
        });
    }
    // One second of warm-up, then measure.
    tokio::time::sleep(Duration::from_secs(1)).await;
    measuring.store(true, Ordering::Relaxed);
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}
    let n = count.load(Ordering::Relaxed);
    let rps = n as f64 / elapsed;
    println!(
        "closed-loop rows={:<2} conns={conns}: {:>8.0} requests/s {:>9.0} predictions/s ({} errors)",
        t.rows,
        rps,
        rps * t.rows as f64,
        errors.load(Ordering::Relaxed)
    );
}

async fn open_loop(addr: std::net::SocketAddr, t: &Template, rate: f64, secs: f64, conns: usize) {
    let total = (rate * secs) as u64;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let hist = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap(),
    ));
    let server_hist = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap(),
    ));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..conns {
        let (t, rx, hist, server_hist, errors) = (
            t.clone(),
            rx.clone(),
            hist.clone(),
            server_hist.clone(),
            errors.clone(),
        );
        tasks.spawn(async move {
            let mut sender = connect(addr).await;
            let mut local = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
            let mut local_server = local.clone();
            loop {
                let intended = { rx.lock().await.recv().await };
                let Some(intended) = intended else { break };
                let (ok, server_us) = roundtrip(&mut sender, &t).await;
                // From the intended send time: queueing behind a slow response counts.
                let us = intended.elapsed().as_micros() as u64;
                if ok {
                    local.saturating_record(us.max(1));
                    if let Some(s) = server_us {
                        local_server.saturating_record(s.max(1));
                    }
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                    sender = connect(addr).await;
                }
            }
            hist.lock().unwrap().add(&local).unwrap();
            server_hist.lock().unwrap().add(&local_server).unwrap();
        });
    }
    // Let the connections open before the schedule starts.
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A plain thread paces the schedule: finer than tokio's 1 ms timer.
    let pacer = std::thread::spawn(move || {
        let start = Instant::now();
        let step = Duration::from_secs_f64(1.0 / rate);
        let mut late_max = Duration::ZERO;
        for i in 0..total {
            let at = start + step * i as u32;
            let now = Instant::now();
            if at > now {
                std::thread::sleep(at - now);
            } else {
                late_max = late_max.max(now - at);
            }
            if tx.send(at).is_err() {
                break;
            }
        }
        late_max
    });
    let late_max = tokio::task::spawn_blocking(move || pacer.join().unwrap())
        .await
        .unwrap();
    while tasks.join_next().await.is_some() {}
    let h = hist.lock().unwrap();
    let s = server_hist.lock().unwrap();
    let q = |h: &Histogram<u64>, p: f64| h.value_at_quantile(p) as f64 / 1000.0;
    println!(
        "open-loop {rate:.0} rps x {secs:.0} s, rows={}: {} ok, {} errors; latency from intended send: p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms",
        t.rows,
        h.len(),
        errors.load(Ordering::Relaxed),
        q(&h, 0.5),
        q(&h, 0.99),
        q(&h, 0.999),
        h.max() as f64 / 1000.0
    );
    println!(
        "  server-side (Server-Timing apigw): p50 {:.3} ms, p99 {:.3} ms; pacer max lateness {:.3} ms",
        q(&s, 0.5),
        q(&s, 0.99),
        late_max.as_secs_f64() * 1000.0
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let secs: f64 = env_num("BENCH_SECS", 5.0);
    let conns: usize = env_num("BENCH_CONNS", 32);
    let rate: f64 = env_num("BENCH_RATE", 5000.0);
    let open_secs: f64 = env_num("BENCH_OPEN_SECS", 10.0);

    let emu = Emulator::start_in_thread(EmulatorConfig::default()).unwrap();
    let addr = emu.local_addr();
    let one = presign(&emu, 1);
    let ten = presign(&emu, 10);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "emulator bench: {} cores, signature verification on, server runtime 2 workers, client runtime 1 worker",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    rt.block_on(async {
        closed_loop(addr, &one, conns, secs).await;
        closed_loop(addr, &ten, conns, secs).await;
        open_loop(addr, &one, rate, open_secs, 64).await;
    });
    let stats = emu.stats();
    println!(
        "emulator stats: {} requests, {} signatures verified, {} rejected, {} predictions, {} panics",
        stats.requests,
        stats.accepted,
        stats.rejected.values().sum::<u64>(),
        stats.predictions,
        stats.panics
    );
    assert_eq!(stats.panics, 0);
    assert_eq!(stats.requests, stats.accepted, "every request must verify");
}

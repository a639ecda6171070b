//! HTTPS and HTTP/2: every command against a TLS server with a CA of its own, HTTP/2 by ALPN
//! (a server that refuses a second host header, as nginx does), h2c with --http2, and TLS
//! errors with TLS hints.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::harness::Run;
use crate::mock::{Mock, Options, Received, Reply};

const ROW: &str = "5.1,3.5,1.4,0.2";
const PATH: &str = "/species/irispredict";

fn answer(req: &Received, bad: &AtomicUsize) -> Reply {
    if req.verify("execute-api").is_err() {
        bad.fetch_add(1, Ordering::SeqCst);
        return Reply::new(403, r#"{"message":"bad signature"}"#);
    }
    Reply::new(
        200,
        r#"{"predictions":[{"species":"setosa","class_index":0,"probabilities":[0.95,0.03,0.02]}]}"#,
    )
}

struct Server {
    mock: Mock,
    bad: Arc<AtomicUsize>,
    ca: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn tls_server(names: &[&str]) -> Server {
    let ca = iris_cli::tls::local_ca(names).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, &ca.ca_pem).unwrap();
    let bad = Arc::new(AtomicUsize::new(0));
    let b = bad.clone();
    let mock = Mock::start_with(
        Options {
            tls: Some(iris_cli::tls::server_config(&ca).unwrap()),
            reject_h2_host: true,
        },
        move |_, req| answer(req, &b),
    );
    Server {
        mock,
        bad,
        ca: ca_path,
        _dir: dir,
    }
}

fn every_command(url: &str, extra: &[&str]) -> Vec<crate::harness::Output> {
    let target = |run: Run| {
        run.arg("--url")
            .arg(url)
            .args(["--region", "us-east-1"])
            .args(extra)
            .test_keys()
    };
    let predict = target(Run::new("predict").data(ROW)).expect_exit(0).run();
    let batch = Run::new("batch");
    let input = batch.env().write("in.csv", &format!("{ROW}\n{ROW}\n"));
    let batch = target(
        batch
            .arg(input)
            .args(["--no-header", "--rows-per-request", "1"]),
    )
    .expect_exit(0)
    .run();
    let bench = target(Run::new("bench").args(["-c", "8", "-n", "40"]))
        .json()
        .expect_exit(0)
        .run();
    vec![predict, batch, bench]
}

#[test]
fn http2_over_tls_works_where_a_second_host_header_is_refused() {
    let s = tls_server(&["127.0.0.1"]);
    let ca = s.ca.to_str().unwrap().to_string();
    let outs = every_command(&s.mock.https_url(PATH), &["--ca-bundle", &ca]);
    let bench = outs[2].json();
    assert_eq!(bench["requests"]["ok"], 40, "{bench:#}");
    // Eight workers, one multiplexed HTTP/2 connection.
    assert_eq!(bench["connections"]["tls_handshakes"], 1, "{bench:#}");
    assert_eq!(bench["connections"]["opened"], 1, "{bench:#}");
    let got = s.mock.received();
    assert_eq!(got.len(), 1 + 2 + 40);
    assert!(
        got.iter().all(|r| r.version == http::Version::HTTP_2),
        "ALPN chose HTTP/2 for every command"
    );
    assert_eq!(s.bad.load(Ordering::SeqCst), 0, "every signature verified");
}

#[test]
fn http1_over_tls_when_asked() {
    let s = tls_server(&["127.0.0.1"]);
    let ca = s.ca.to_str().unwrap().to_string();
    let outs = every_command(&s.mock.https_url(PATH), &["--ca-bundle", &ca, "--http1.1"]);
    // HTTP/1.1: a connection per request in flight, at most one per worker.
    let bench = outs[2].json();
    let tls = bench["connections"]["tls_handshakes"].as_u64().unwrap();
    assert!((1..=8).contains(&tls), "{bench:#}");
    let got = s.mock.received();
    assert!(got.iter().all(|r| r.version == http::Version::HTTP_11));
    assert_eq!(s.bad.load(Ordering::SeqCst), 0);
}

#[test]
fn h2c_with_http2_prior_knowledge() {
    let bad = Arc::new(AtomicUsize::new(0));
    let b = bad.clone();
    let mock = Mock::start_with(
        Options {
            tls: None,
            reject_h2_host: true,
        },
        move |_, req| answer(req, &b),
    );
    let outs = every_command(&mock.url(PATH), &["--http2"]);
    assert_eq!(outs[2].json()["connections"]["opened"], 1);
    let got = mock.received();
    assert_eq!(got.len(), 43);
    assert!(got.iter().all(|r| r.version == http::Version::HTTP_2));
    assert_eq!(bad.load(Ordering::SeqCst), 0);
}

#[test]
fn ca_bundle_from_the_environment() {
    let s = tls_server(&["127.0.0.1"]);
    for var in ["IRIS_CA_BUNDLE", "AWS_CA_BUNDLE"] {
        Run::new("predict")
            .data(ROW)
            .arg("--url")
            .arg(s.mock.https_url(PATH))
            .args(["--region", "us-east-1"])
            .test_keys()
            .var(var, s.ca.to_str().unwrap())
            .expect_exit(0)
            .run();
    }
}

#[test]
fn tls_errors_get_tls_hints() {
    let s = tls_server(&["127.0.0.1"]);
    Run::new("predict")
        .data(ROW)
        .arg("--url")
        .arg(s.mock.https_url(PATH))
        .args(["--region", "us-east-1"])
        .test_keys()
        .expect_exit(6)
        .stderr_has("--ca-bundle")
        .run();
    // A certificate for another name.
    let other = tls_server(&["iris.example"]);
    let r = Run::new("predict")
        .data(ROW)
        .arg("--url")
        .arg(other.mock.https_url(PATH))
        .args(["--region", "us-east-1", "--ca-bundle"])
        .arg(&other.ca)
        .test_keys()
        .expect_exit(6)
        .run();
    assert!(r.stderr.contains("other names"), "{}", r.stderr);
    assert!(!r.stderr.contains("DNS, VPN"), "{}", r.stderr);
    assert_eq!(s.mock.received().len() + other.mock.received().len(), 0);
}

//! The wire layer seen from outside: the outcome taxonomy, one body encoding, the skew policy
//! and usage errors, the same in every command.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::harness::{Run, TestEmulator};
use crate::mock::{Mock, Received, Reply};

const ROW: &str = "5.1,3.5,1.4,0.2";
const ENDPOINT_PATH: &str = "/endpoints/iris-xgb/invocations";

/// SageMaker's throttle, as InvokeEndpoint sends it (AWS_WIRE: 400, not 429).
fn sagemaker_throttle() -> Reply {
    Reply::new(400, r#"{"message":"Rate exceeded"}"#)
        .header(
            "x-amzn-ErrorType",
            "ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.availability/",
        )
        .header("x-amzn-RequestId", "7f1d3c6e-0000-4000-8000-000000000001")
}

/// The XGBoost container's CSV answer: one probability line per row.
fn probabilities(req: &Received) -> Reply {
    let rows = req
        .body
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    let mut r = Reply::new(200, "0.95,0.03,0.02\n".repeat(rows));
    r.headers = vec![("content-type".into(), "text/csv; charset=utf-8".into())];
    r
}

/// A SageMaker endpoint that throttles every fifth attempt and verifies every signature.
struct Throttling {
    mock: Mock,
    throttled: Arc<AtomicUsize>,
    bad_signatures: Arc<AtomicUsize>,
}

impl Throttling {
    fn start() -> Throttling {
        let throttled = Arc::new(AtomicUsize::new(0));
        let bad = Arc::new(AtomicUsize::new(0));
        let (t, b) = (throttled.clone(), bad.clone());
        let mock = Mock::start(move |n, req| {
            if let Err(e) = req.verify("sagemaker") {
                b.fetch_add(1, Ordering::SeqCst);
                return Reply::new(403, format!("{{\"message\":{e:?}}}"));
            }
            assert_eq!(req.path, ENDPOINT_PATH);
            if n % 5 == 1 {
                t.fetch_add(1, Ordering::SeqCst);
                sagemaker_throttle()
            } else {
                probabilities(req)
            }
        });
        Throttling {
            mock,
            throttled,
            bad_signatures: bad,
        }
    }

    fn target(&self, run: Run) -> Run {
        run.args(["--endpoint-name", "iris-xgb", "--endpoint-url"])
            .arg(self.mock.url(""))
            .args(["--region", "us-east-1"])
            .test_keys()
    }
}

#[test]
fn batch_rides_out_sagemaker_throttling() {
    let server = Throttling::start();
    let run = Run::new("batch");
    let input = run.env().write("in.csv", &format!("{ROW}\n").repeat(600));
    let out = run.env().path("out.csv");
    let r = server
        .target(run.arg(&input).arg("--out").arg(&out).args([
            "--rows-per-request",
            "1",
            "--concurrency",
            "8",
            "--no-header",
        ]))
        .expect_exit(0)
        .run();
    let throttled = server.throttled.load(Ordering::SeqCst);
    assert!(
        throttled >= 100,
        "{throttled} throttled of {}",
        server.mock.received().len()
    );
    assert_eq!(server.bad_signatures.load(Ordering::SeqCst), 0);
    let _keep = &r.env;
    let lines = std::fs::read_to_string(&out).unwrap();
    assert_eq!(lines.lines().count(), 601, "header + every row");
    let rejects = std::fs::read_to_string(crate::common::with_suffix(&out, ".rejects.csv"))
        .unwrap_or_default();
    assert!(rejects.lines().count() <= 1, "no rejected row: {rejects}");
    assert!(
        r.stderr.contains("rejected 0") && r.stderr.contains(&format!("{throttled} throttled")),
        "the summary counts the throttles: {}",
        r.stderr
    );
}

#[test]
fn bench_counts_sagemaker_throttles_as_throttled() {
    let server = Throttling::start();
    let r = server
        .target(Run::new("bench").args([
            "--target",
            "sagemaker",
            "--rps",
            "200",
            "--duration",
            "1s",
        ]))
        .json()
        .expect_exit(0)
        .run();
    let v = r.json();
    let throttled = server.throttled.load(Ordering::SeqCst) as u64;
    assert!(throttled >= 30, "{throttled}");
    assert_eq!(
        v["errors"]["throttled"].as_u64(),
        Some(throttled),
        "{:#}",
        v["errors"]
    );
    assert_eq!(v["errors"]["client_4xx"], 0);
    assert_eq!(
        v["requests"]["sent"].as_u64(),
        Some(server.mock.received().len() as u64)
    );
    assert_eq!(server.bad_signatures.load(Ordering::SeqCst), 0);
}

#[test]
fn bench_retries_are_counted_apart() {
    let server = Throttling::start();
    let r = server
        .target(Run::new("bench").args([
            "--target",
            "sagemaker",
            "--rps",
            "100",
            "--duration",
            "1s",
            "--retries",
            "3",
        ]))
        .json()
        .expect_exit(0)
        .run();
    let v = r.json();
    let throttled = server.throttled.load(Ordering::SeqCst) as u64;
    let sent = v["requests"]["sent"].as_u64().unwrap();
    assert_eq!(sent, server.mock.received().len() as u64);
    let retries = v["requests"]["retries"].as_u64().unwrap();
    // Each throttle is retried once (a retry would be due past the end for the last few).
    assert!(
        retries <= throttled && retries + 5 >= throttled,
        "{retries} retries, {throttled} throttled"
    );
    assert_eq!(v["errors"]["throttled"].as_u64(), Some(throttled));
    assert_eq!(v["requests"]["ok"].as_u64(), Some(sent - throttled));
}

#[test]
fn the_same_rows_are_the_same_bytes_in_every_command() {
    let mock = Mock::start(|_, req| {
        if req.path == ENDPOINT_PATH {
            probabilities(req)
        } else {
            Reply::new(
                200,
                r#"{"predictions":[{"species":"setosa","class_index":0,"probabilities":[0.95,0.03,0.02]}]}"#,
            )
        }
    });
    let rows = ["5.1,3.5,1.4,0.2", "6.2,,4.3,1.3"];
    for row in rows {
        let api = |run: Run| {
            run.arg("--url")
                .arg(mock.url("/species/irispredict"))
                .args(["--region", "us-east-1"])
                .test_keys()
        };
        let sm = |run: Run| {
            run.args(["--endpoint-name", "iris-xgb", "--endpoint-url"])
                .arg(mock.url(""))
                .args(["--region", "us-east-1"])
                .test_keys()
        };
        for target in [&api as &dyn Fn(Run) -> Run, &sm] {
            let before = mock.received().len();
            target(Run::new("predict").data(row)).expect_exit(0).run();
            let batch = Run::new("batch");
            let input = batch.env().write("in.csv", &format!("{row}\n"));
            target(batch.arg(&input).args(["--no-header", "-q"]))
                .expect_exit(0)
                .run();
            target(
                Run::new("bench")
                    .data(row)
                    .args(["-c", "1", "-n", "1", "-q"]),
            )
            .expect_exit(0)
            .run();
            let got = &mock.received()[before..];
            assert_eq!(got.len(), 3);
            for r in got {
                assert_eq!(r.body, got[0].body, "bodies differ for {row}");
                for h in ["content-type", "accept"] {
                    assert_eq!(r.header(h), got[0].header(h), "{h} differs for {row}");
                }
                r.verify(if r.path == ENDPOINT_PATH {
                    "sagemaker"
                } else {
                    "execute-api"
                })
                .unwrap();
            }
        }
    }
    let bodies: Vec<String> = mock
        .received()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert!(
        bodies.contains(&r#"{"data":"5.1,3.5,1.4,0.2"}"#.to_string()),
        "{bodies:?}"
    );
    assert!(bodies.contains(&"6.2,,4.3,1.3".to_string()), "{bodies:?}");
    let sm = mock
        .received()
        .into_iter()
        .find(|r| r.path == ENDPOINT_PATH)
        .unwrap();
    assert_eq!(sm.header("accept"), Some("text/csv"));
}

fn far_date(offset: i64) -> String {
    let now = SystemTime::now();
    let t = if offset >= 0 {
        now + Duration::from_secs(offset as u64)
    } else {
        now - Duration::from_secs(offset.unsigned_abs())
    };
    httpdate::fmt_http_date(t)
}

/// Every request's x-amz-date lies within `slack` of `expected` (seconds from now).
fn dates_near(got: &[Received], expected: i64, slack: i64) {
    let now = SystemTime::now();
    for r in got {
        let d = r.amz_date();
        let off = match d.duration_since(now) {
            Ok(a) => a.as_secs() as i64,
            Err(b) => -(b.duration().as_secs() as i64),
        };
        assert!(
            (off - expected).abs() <= slack,
            "x-amz-date {off} s from now, expected {expected}"
        );
    }
}

#[test]
fn a_wrong_secret_never_moves_the_signing_clock() {
    // A signature mismatch (what a wrong secret gets) carrying a Date two hours ahead.
    let mock = Mock::start(|_, _| {
        Reply::new(403, r#"{"message":"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."}"#)
            .header("x-amzn-ErrorType", "InvalidSignatureException")
            .header("date", &far_date(7200))
    });
    let r = Run::new("bench")
        .arg("--url")
        .arg(mock.url("/species/irispredict"))
        .args(["--region", "us-east-1", "-c", "1", "-n", "20"])
        .test_keys()
        .json()
        .run();
    assert_eq!(r.json()["errors"]["signature_rejected"], 20);
    dates_near(&mock.received(), 0, 60);
}

#[test]
fn a_skew_answer_from_year_9999_is_ignored() {
    let mock = Mock::start(|_, _| {
        Reply::new(403, r#"{"message":"Signature expired: 20240101T000000Z is now earlier than 20240101T000500Z (20240101T001000Z - 5 min.)"}"#)
            .header("x-amzn-ErrorType", "InvalidSignatureException")
            .header("date", "Fri, 31 Dec 9999 23:59:59 GMT")
    });
    Run::new("bench")
        .arg("--url")
        .arg(mock.url("/species/irispredict"))
        .args(["--region", "us-east-1", "-c", "1", "-n", "10", "-q"])
        .test_keys()
        .run();
    Run::new("predict")
        .data(ROW)
        .arg("--url")
        .arg(mock.url("/species/irispredict"))
        .args(["--region", "us-east-1"])
        .test_keys()
        .expect_exit(3)
        .run();
    dates_near(&mock.received(), 0, 60);
}

#[test]
fn a_genuine_skew_answer_corrects_the_clock() {
    // The positive control: a skew answer with a Date ten minutes ahead moves later signatures.
    let mock = Mock::start(|n, _| {
        if n == 0 {
            Reply::new(403, r#"{"message":"Signature expired: 20240101T000000Z is now earlier than 20240101T000500Z (20240101T001000Z - 5 min.)"}"#)
                .header("x-amzn-ErrorType", "InvalidSignatureException")
                .header("date", &far_date(600))
        } else {
            Reply::new(
                200,
                r#"{"predictions":[{"species":"setosa","class_index":0,"probabilities":[0.95,0.03,0.02]}]}"#,
            )
        }
    });
    let r = Run::new("predict")
        .data(ROW)
        .arg("--url")
        .arg(mock.url("/species/irispredict"))
        .args(["--region", "us-east-1"])
        .test_keys()
        .expect_exit(0)
        .stderr_has("re-signed with the server's time")
        .run();
    drop(r);
    let got = mock.received();
    assert_eq!(got.len(), 2);
    dates_near(&got[..1], 0, 60);
    dates_near(&got[1..], 600, 60);
}

#[test]
fn redirects_are_reported_never_followed() {
    let elsewhere = Mock::start(|_, _| Reply::new(200, "{}"));
    let location = elsewhere.url("/steal");
    let mock = Mock::start(move |_, _| Reply::new(307, "").header("location", &location));
    for cmd in ["predict", "batch"] {
        let run = Run::new(cmd);
        let run = if cmd == "predict" {
            run.data(ROW)
        } else {
            let input = run.env().write("in.csv", &format!("{ROW}\n"));
            run.arg(input).arg("--no-header")
        };
        let r = run
            .arg("--url")
            .arg(mock.url("/species/irispredict"))
            .args(["--region", "us-east-1"])
            .test_keys()
            .stderr_has("307 redirect to")
            .run();
        assert_eq!(r.code, 4, "{}", r.stderr);
    }
    assert!(
        elsewhere.received().is_empty(),
        "nothing reached the redirect's target"
    );
}

#[test]
fn usage_errors_exit_2_in_every_subcommand() {
    let env = crate::common::Env::new();
    let input = env.write("in.csv", "5.1,3.5,1.4,0.2\n");
    let input = input.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["predict", "--local", "-d", ROW, "--timeout", "0"],
            "--timeout",
        ),
        (
            &["predict", "--local", "-d", ROW, "--connect-timeout", "soon"],
            "--connect-timeout",
        ),
        (
            &["batch", input, "--local", "--rows-per-request", "0"],
            "--rows-per-request",
        ),
        (
            &["batch", input, "--local", "--concurrency", "0"],
            "--concurrency",
        ),
        (&["batch", input, "--local", "--max-rps", "0"], "--max-rps"),
        (
            &["batch", input, "--local", "--max-attempts", "0"],
            "--max-attempts",
        ),
        (
            &["batch", input, "--local", "--checkpoint-interval", "0"],
            "--checkpoint-interval",
        ),
        (
            &["batch", input, "--local", "--max-retry-wait", "x"],
            "--max-retry-wait",
        ),
        (&["bench", "--local", "--rps", "0"], "--rps"),
        (&["bench", "--local", "--rps", "NaN"], "--rps"),
        (
            &["bench", "--local", "--rps", "10", "--max-in-flight", "0"],
            "--max-in-flight",
        ),
        (
            &[
                "bench",
                "--local",
                "--rps",
                "10",
                "--max-in-flight",
                "1000000",
            ],
            "--max-in-flight",
        ),
        (&["bench", "--local", "-c", "0"], "--concurrency"),
        (&["bench", "--local", "--duration", "0"], "--duration"),
        (&["bench", "--local", "-n", "0"], "--requests"),
        (&["bench", "--local", "--warmup", "later"], "--warmup"),
        (&["bench", "--local", "--retries", "1000"], "--retries"),
        (&["bench", "--local", "--ramp", "fast"], "--ramp"),
        (&["bench", "--local", "--fail-if", "p99~3"], "--fail-if"),
        (
            &["serve", "--lambda-concurrency", "0"],
            "--lambda-concurrency",
        ),
        (&["serve", "--throttle-rps", "0"], "--throttle-rps"),
        (&["serve", "--cold-start", "soon"], "--cold-start"),
        (&["serve", "--error-rate", "2"], "--error-rate"),
        (&["serve", "--drop-rate=-1"], "--drop-rate"),
        (&["serve", "--burst", "x", "--throttle-rps", "5"], "--burst"),
        (&["serve", "--idle-timeout", "x"], "--idle-timeout"),
        (&["serve", "--stall-at", "1s"], "--stall-at"),
        (&["serve", "--endpoint-name=-bad-"], "--endpoint-name"),
        (
            &["report", "merge", input, "--fail-if", "p99~3"],
            "--fail-if",
        ),
    ];
    for (args, flag) in cases {
        let out = env.std_cmd().args(*args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?} must name {flag}: {stderr}");
        assert_eq!(stderr.matches("panicked").count(), 0);
    }
}

#[test]
fn predict_through_the_builder_against_the_verifying_emulator() {
    let emu = TestEmulator::default_config();
    Run::new("predict")
        .api(&emu)
        .data(ROW)
        .json()
        .expect_exit(0)
        .stdout_has("\"species\":\"setosa\"")
        .run();
    Run::new("predict")
        .sagemaker(&emu)
        .data(ROW)
        .json()
        .expect_exit(0)
        .run();
    let s = emu.stats();
    assert_eq!((s.requests, s.accepted), (2, 2), "{s:?}");
}

#[test]
fn a_signature_echoed_by_the_server_is_never_printed() {
    // IncompleteSignatureException echoes the whole Authorization header (AWS_WIRE §2).
    let mock = Mock::start(|_, req| {
        let auth = req.header("authorization").unwrap_or_default().to_string();
        Reply::new(
            403,
            serde_json::json!({
                "message": format!("Authorization header requires 'Credential' parameter. Authorization={auth}")
            })
            .to_string(),
        )
        .header("x-amzn-ErrorType", "IncompleteSignatureException")
    });
    let r = Run::new("predict")
        .data(ROW)
        .arg("--url")
        .arg(mock.url("/species/irispredict"))
        .args(["--region", "us-east-1"])
        .test_keys()
        .expect_exit(3)
        .stderr_has("Signature=<redacted>")
        .run();
    let sent = mock.received()[0]
        .header("authorization")
        .unwrap()
        .to_string();
    let signature = sent.rsplit("Signature=").next().unwrap();
    assert_eq!(signature.len(), 64);
    assert!(!r.stderr.contains(signature), "{}", r.stderr);
}

#[test]
fn credentials_in_a_url_are_refused() {
    let r = Run::new("predict")
        .data(ROW)
        .args([
            "--url",
            "https://user:pass@abc.execute-api.us-east-1.amazonaws.com/prod/x",
        ])
        .expect_exit(2)
        .stderr_has("user:pass@")
        .run();
    assert!(!r.stderr.contains("pass@abc"), "{}", r.stderr);
}

/// An endpoint that goes away mid-run stops the run resumable with exit 6 (not the rest of the
/// file as rejects), and `--resume` against it once it is back finishes the file.
#[test]
fn an_endpoint_that_dies_mid_run_stops_resumable() {
    let env = crate::common::Env::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let serve = || {
        let child = env
            .std_cmd()
            .args(["serve", "--listen", &listen])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let t = std::time::Instant::now();
        while std::net::TcpStream::connect(&listen).is_err() {
            assert!(t.elapsed() < Duration::from_secs(20), "serve did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    };
    let input = env.write("in.csv", &format!("{ROW}\n").repeat(2000));
    let out = env.path("out.csv");
    let url = format!("http://{listen}/species/irispredict");
    let batch = |resume: bool| {
        let mut cmd = env.std_cmd();
        cmd.arg("batch")
            .arg(&input)
            .arg("--out")
            .arg(&out)
            .args(["--url", &url, "--region", "us-east-1", "--no-header", "-q"])
            .args([
                "--rows-per-request",
                "1",
                "--max-rps",
                "400",
                "--max-attempts",
                "3",
            ])
            .env(
                "AWS_ACCESS_KEY_ID",
                iris_cli::emulator::auth::TEST_ACCESS_KEY,
            )
            .env(
                "AWS_SECRET_ACCESS_KEY",
                iris_cli::emulator::auth::TEST_SECRET_KEY,
            );
        if resume {
            cmd.arg("--resume");
        }
        cmd
    };
    let mut first = serve();
    let run = batch(false)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let _ = first.kill();
    let _ = first.wait();
    let t = std::time::Instant::now();
    let done = run.wait_with_output().unwrap();
    assert!(t.elapsed() < Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    assert!(!out.exists(), "no final file before the run is complete");
    let mut second = serve();
    let r = batch(true).output().unwrap();
    let _ = second.kill();
    let _ = second.wait();
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 2001, "header + every row, once");
    let rejects = std::fs::read_to_string(crate::common::with_suffix(&out, ".rejects.csv"))
        .unwrap_or_default();
    assert!(rejects.lines().count() <= 1, "{rejects}");
}

/// An open loop the target cannot keep up with still ends at --duration plus the grace
/// period, and says how many requests were due but never sent.
#[test]
fn an_impossible_rate_stops_at_the_duration() {
    let emu = TestEmulator::default_config();
    let t = std::time::Instant::now();
    let r = Run::new("bench")
        .api(&emu)
        .args(["--rps", "1e9", "--duration", "1s"])
        .json()
        .expect_exit(0)
        .run();
    let took = t.elapsed();
    assert!(took < Duration::from_secs(8), "ran {took:?}");
    let v = r.json();
    assert!(
        v["requests"]["unsent"].as_u64().unwrap() > 100_000_000,
        "{:#}",
        v["requests"]
    );
}

/// SIGTERM (what Kubernetes, systemd and docker send) stops serve gracefully: it stops
/// accepting, lets what is in flight finish, prints its counters and exits 0.
#[test]
fn serve_drains_on_sigterm() {
    let env = crate::common::Env::new();
    let mut serve = crate::common::Serve::start(&env, &["--latency", "model=300ms"]);
    let url = serve.get("IRIS_URL").to_string();
    let slow = Run::new("predict")
        .data(ROW)
        .arg("--url")
        .arg(&url)
        .test_keys();
    let handle = std::thread::spawn(move || slow.run());
    std::thread::sleep(Duration::from_millis(150));
    let pid = serve.pid();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let answered = handle.join().unwrap();
    assert_eq!(
        answered.code, 0,
        "the request in flight finished: {}",
        answered.stderr
    );
    let (code, stderr) = serve.wait();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("SIGTERM") && stderr.contains("1 requests"),
        "{stderr}"
    );
}

/// An open loop keeps the connections its in-flight peak needs, warm, not one per worker:
/// 256 workers at 200 rps against a 5 ms model have about one request in flight, and the
/// idle connection freed last goes out next. (Rotating through all 256, the first 1.3 s were
/// a stream of new connections, whose setup bunched the arrivals.)
#[test]
fn an_open_loop_reuses_its_warm_connections() {
    let emu = TestEmulator::start(iris_cli::emulator::EmulatorConfig {
        faults: iris_cli::emulator::Faults {
            latency: iris_cli::emulator::Latencies::parse("model=5ms").unwrap(),
            ..Default::default()
        },
        ..Default::default()
    });
    let v = Run::new("bench")
        .api(&emu)
        .args(["--rps", "200", "--duration", "2s", "--max-in-flight", "256"])
        .json()
        .expect_exit(0)
        .run()
        .json();
    assert_eq!(v["requests"]["ok"], 400, "{v:#}");
    let opened = v["connections"]["opened"].as_u64().unwrap();
    // (A busy machine bunches arrivals, and more are in flight at the peak: still far from 256.)
    assert!((1..=32).contains(&opened), "{opened} connections: {v:#}");
    assert!(emu.stats().rejected.is_empty());
}

//! `iris-cli bench` and `iris-cli report merge` end to end: the built binary against the
//! in-process emulator on 127.0.0.1:0 (which verifies every signature), with a scrubbed AWS
//! environment. Assertions are on counts and lower bounds, never on speed.

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;

use crate::common::{run, Env, Run};
use iris_cli::emulator::auth::{TEST_ACCESS_KEY, TEST_SECRET_KEY};
use iris_cli::emulator::{Emulator, EmulatorConfig, Faults, Latencies};
use serde_json::Value;

/// `iris-cli bench` against `emu`'s API with the built-in test key.
fn bench(env: &Env, emu: &Emulator) -> Command {
    let mut cmd = env.iris();
    cmd.args([
        "bench",
        "--quiet",
        "--region",
        "us-east-1",
        "--url",
        &emu.invoke_url(),
    ])
    .args([
        "--access-key",
        TEST_ACCESS_KEY,
        "--secret-key",
        TEST_SECRET_KEY,
    ]);
    cmd
}

fn json(r: &Run) -> Value {
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let v: Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr));
    crate::common::validate_json("bench", &v);
    v
}

fn emulator(faults: Faults) -> Emulator {
    Emulator::start_in_thread(EmulatorConfig {
        faults,
        ..Default::default()
    })
    .unwrap()
}

fn f(v: &Value, path: &str) -> f64 {
    let mut cur = v;
    for p in path.split('.') {
        cur = &cur[p];
    }
    cur.as_f64()
        .unwrap_or_else(|| panic!("{path} missing in {v:#}"))
}

#[test]
fn sends_exactly_the_requested_count_and_reports_the_schema() {
    let env = Env::new();
    let emu = emulator(Faults::default());
    let r = run(bench(&env, &emu).args(["--rps", "100", "--requests", "500", "-o", "json"]));
    let v = json(&r);
    assert_eq!(v["requests"]["sent"], 500);
    assert_eq!(v["requests"]["ok"], 500);
    assert_eq!(v["requests"]["errors"], 0);
    let stats = emu.stats();
    assert_eq!(stats.requests, 500, "{stats:?}");
    assert_eq!(stats.accepted, 500, "{stats:?}");
    // The documented schema.
    assert_eq!(v["schema_version"], 1);
    assert_eq!(f(&v, "target_rps"), 100.0);
    assert!(f(&v, "achieved_rps") > 90.0, "{}", v["achieved_rps"]);
    for series in ["response", "service", "lag"] {
        for p in ["p50", "p90", "p99", "p999", "max"] {
            f(&v, &format!("latency_ms.{series}.{p}"));
        }
    }
    assert_eq!(v["status_codes"]["200"], 500);
    for kind in [
        "signature_rejected",
        "throttled",
        "server_5xx",
        "timeout",
        "connection",
    ] {
        assert_eq!(v["errors"][kind], 0, "{kind}");
    }
    assert!(v["hops"]["lambda"]["count"].as_u64() == Some(500));
    assert_eq!(v["targets"]["apigw"]["sent"], 500);
    // One summary per second of the run.
    let secs = v["timeseries"].as_array().unwrap();
    assert!(secs.len() >= 5, "{secs:?}");
    let total: u64 = secs.iter().map(|s| s["requests"].as_u64().unwrap()).sum();
    assert_eq!(total, 500);
}

/// A 1 s stall in a 10 s run at 200 rps: with few slots the generator cannot send during the
/// stall, yet the requests due then are measured from their due time.
#[test]
fn a_stall_shows_in_response_time_not_in_service_time() {
    let env = Env::new();
    let emu = emulator(Faults {
        stall_at: Some(Duration::from_secs(3)),
        stall_for: Some(Duration::from_secs(1)),
        ..Default::default()
    });
    let r = run(bench(&env, &emu).args([
        "--rps",
        "200",
        "--duration",
        "10s",
        "--max-in-flight",
        "16",
        "-o",
        "json",
    ]));
    let v = json(&r);
    assert_eq!(v["requests"]["sent"], 2000);
    assert_eq!(v["requests"]["errors"], 0);
    let resp_p99 = f(&v, "latency_ms.response.p99");
    let svc_p50 = f(&v, "latency_ms.service.p50");
    assert!(resp_p99 >= 800.0, "response p99 {resp_p99} ms");
    assert!(svc_p50 < 100.0, "service p50 {svc_p50} ms");
    // The backlog was sent late, and the lag says so.
    assert!(f(&v, "latency_ms.lag.max") >= 800.0);
    assert!(v["requests"]["late"].as_u64().unwrap() >= 100);
}

#[test]
fn lag_is_reported_when_one_slot_cannot_keep_up() {
    let env = Env::new();
    let emu = emulator(Faults {
        latency: Latencies::parse("model=40ms").unwrap(),
        ..Default::default()
    });
    let r = run(bench(&env, &emu).args([
        "--rps",
        "50",
        "--duration",
        "1s",
        "--max-in-flight",
        "1",
        "-o",
        "json",
    ]));
    let v = json(&r);
    // All 50 due in the first second are sent, one at a time, ~40 ms each.
    assert_eq!(v["requests"]["sent"], 50);
    assert!(
        f(&v, "latency_ms.lag.max") >= 500.0,
        "{:#}",
        v["latency_ms"]
    );
    assert!(f(&v, "latency_ms.lag.p50") >= 100.0);
    assert!(v["requests"]["late"].as_u64().unwrap() >= 25);
    // Response time includes the lag; service time does not.
    assert!(f(&v, "latency_ms.response.max") >= f(&v, "latency_ms.lag.max"));
    assert!(f(&v, "latency_ms.service.p99") < f(&v, "latency_ms.lag.max"));
    assert!(f(&v, "achieved_rps") < 40.0);
}

/// Histograms of every `response` interval in a log, with the crate's own reader.
fn read_tag(path: &Path, tag: &str) -> hdrhistogram::Histogram<u64> {
    use base64::Engine as _;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    let text = std::fs::read(path).unwrap();
    let mut total = hdrhistogram::Histogram::<u64>::new(3).unwrap();
    let mut intervals = 0;
    for entry in IntervalLogIterator::new(&text) {
        if let LogEntry::Interval(h) = entry.unwrap() {
            if h.tag().map(|t| t.as_str()) == Some(tag) {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(h.encoded_histogram())
                    .unwrap();
                let hist: hdrhistogram::Histogram<u64> =
                    hdrhistogram::serialization::Deserializer::new()
                        .deserialize(&mut &bytes[..])
                        .unwrap();
                total.add(&hist).unwrap();
                intervals += 1;
            }
        }
    }
    assert!(intervals >= 1, "no {tag} intervals in {}", path.display());
    total
}

#[test]
fn merged_logs_equal_one_histogram_of_both_runs() {
    let env = Env::new();
    let emu = emulator(Faults {
        latency: Latencies::parse("model=uniform:0ms:3ms").unwrap(),
        ..Default::default()
    });
    let (a, b) = (env.path("a.hlog"), env.path("b.hlog"));
    for (log, rps) in [(&a, "150"), (&b, "100")] {
        let r = run(bench(&env, &emu)
            .args(["--rps", rps, "--requests", "150", "--hdr-log"])
            .arg(log));
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let r = run(env
        .iris()
        .args(["report", "merge", "-o", "json"])
        .arg(&a)
        .arg(&b));
    let v = json(&r);
    assert_eq!(v["requests"]["sent"], 300);
    assert_eq!(v["requests"]["ok"], 300);
    assert_eq!(v["status_codes"]["200"], 300);
    let mut both = read_tag(&a, "response");
    both.add(read_tag(&b, "response")).unwrap();
    assert_eq!(both.len(), 300);
    let ms = |us: u64| us as f64 / 1000.0;
    let resp = &v["latency_ms"]["response"];
    assert_eq!(resp["count"], 300);
    for (name, q) in [
        ("p50", 0.5),
        ("p75", 0.75),
        ("p90", 0.9),
        ("p95", 0.95),
        ("p99", 0.99),
        ("p999", 0.999),
        ("p9999", 0.9999),
    ] {
        assert_eq!(
            resp[name].as_f64().unwrap(),
            ms(both.value_at_quantile(q)),
            "{name}"
        );
    }
    assert_eq!(resp["max"].as_f64().unwrap(), ms(both.max()));
    assert_eq!(resp["min"].as_f64().unwrap(), ms(both.min()));
    let mut lag = read_tag(&a, "lag");
    lag.add(read_tag(&b, "lag")).unwrap();
    assert_eq!(
        v["latency_ms"]["lag"]["p99"].as_f64().unwrap(),
        ms(lag.value_at_quantile(0.99))
    );
    // The same report for people, too.
    let r = run(env.iris().args(["report", "merge"]).arg(&a).arg(&b));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("requests: 300 sent, 300 ok"),
        "{}",
        r.stdout
    );
    // Bad input: one clear line naming the file and line.
    let bad = env.path("bad.hlog");
    std::fs::write(&bad, "Tag=response,0.0,1.0,1.0,@@@\n").unwrap();
    let r = run(env.iris().args(["report", "merge"]).arg(&bad));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("bad.hlog:1"), "{}", r.stderr);
}

#[test]
fn both_targets_side_by_side_with_hop_percentiles_and_html() {
    let env = Env::new();
    let emu = emulator(Faults::default());
    let html = env.path("report.html");
    let r = run(bench(&env, &emu)
        .args(["--rps", "100", "--requests", "100", "--target", "both"])
        .args([
            "--sagemaker-endpoint",
            "iris-xgb",
            "--sagemaker-endpoint-url",
        ])
        .arg(emu.endpoint_url())
        .args(["-o", "json", "--html"])
        .arg(&html));
    let v = json(&r);
    assert_eq!(v["requests"]["ok"], 100);
    assert_eq!(v["targets"]["apigw"]["sent"], 50);
    assert_eq!(v["targets"]["sagemaker"]["sent"], 50);
    let stats = emu.stats();
    assert_eq!(stats.apigw_requests, 50, "{stats:?}");
    assert_eq!(stats.sagemaker_requests, 50, "{stats:?}");
    assert_eq!(stats.accepted, 100);
    // Server-Timing: the API path has all three hops, the direct path only SageMaker.
    for hop in ["apigw", "lambda", "sagemaker"] {
        assert_eq!(v["targets"]["apigw"]["hops"][hop]["count"], 50, "{hop}");
        assert!(f(&v, &format!("hops.{hop}.p99")) > 0.0);
    }
    assert_eq!(v["targets"]["sagemaker"]["hops"]["sagemaker"]["count"], 50);
    assert!(v["targets"]["sagemaker"]["hops"].get("lambda").is_none());
    assert_eq!(v["hops"]["sagemaker"]["count"], 100);
    for p in ["p50", "p99", "max"] {
        assert!(v["target_diff_ms"][p].is_number(), "{p}");
    }
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg"));
    assert!(page.matches("<svg").count() >= 3);
    assert!(!page.contains("http://") && !page.contains("https://"));
    assert!(!page.contains("<script") && !page.contains("<link"));
}

#[test]
fn fail_if_sets_the_exit_code() {
    let env = Env::new();
    let emu = emulator(Faults::default());
    let args = ["--rps", "200", "--requests", "20"];
    let r = run(bench(&env, &emu)
        .args(args)
        .args(["--fail-if", "p99<10s,errors<1%"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("threshold p99<10s: passed"),
        "{}",
        r.stdout
    );
    let r = run(bench(&env, &emu).args(args).args(["--fail-if", "p50<1us"]));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("--fail-if broken: p50<1us"),
        "{}",
        r.stderr
    );
    let r = run(bench(&env, &emu).args(args).args(["--fail-if", "p99<fast"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("p99<fast"), "{}", r.stderr);
    assert_eq!(emu.stats().requests, 40);
}

#[test]
fn failed_requests_are_counted_not_fatal() {
    let env = Env::new();
    let emu = emulator(Faults::default());
    let mut cmd = env.iris();
    cmd.args([
        "bench",
        "-q",
        "--region",
        "us-east-1",
        "--url",
        &emu.invoke_url(),
    ])
    .args(["--access-key", TEST_ACCESS_KEY])
    .args(["--secret-key", "wrongSecretwrongSecretwrongSecret0000000"])
    .args(["--rps", "200", "--requests", "10", "-o", "json"]);
    let v = json(&run(&mut cmd));
    assert_eq!(v["requests"]["sent"], 10);
    assert_eq!(v["requests"]["errors"], 10);
    assert_eq!(v["errors"]["signature_rejected"], 10);
    assert_eq!(v["status_codes"]["403"], 10);
    // Nothing listening: every request fails to connect -> exit 6.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = env.iris();
    cmd.args([
        "bench",
        "-q",
        "--url",
        &format!("http://127.0.0.1:{port}/species/irispredict"),
    ])
    .args([
        "--region",
        "us-east-1",
        "--access-key",
        TEST_ACCESS_KEY,
        "--secret-key",
        TEST_SECRET_KEY,
    ])
    .args(["--rps", "100", "--requests", "3", "-o", "json"]);
    let r = run(&mut cmd);
    assert_eq!(r.code, 6, "{}{}", r.stdout, r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["errors"]["connection"], 3);
}

#[cfg(unix)]
#[test]
fn ctrl_c_ends_the_run_and_still_reports() {
    let env = Env::new();
    let emu = emulator(Faults::default());
    let log = env.path("int.hlog");
    let mut cmd = env.std_cmd();
    cmd.args([
        "bench",
        "-q",
        "--region",
        "us-east-1",
        "--url",
        &emu.invoke_url(),
    ])
    .args([
        "--access-key",
        TEST_ACCESS_KEY,
        "--secret-key",
        TEST_SECRET_KEY,
    ])
    .args([
        "--rps",
        "100",
        "--duration",
        "60s",
        "-o",
        "json",
        "--hdr-log",
    ])
    .arg(&log)
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    // Wait until requests are flowing (bounded), then interrupt.
    let t = std::time::Instant::now();
    while emu.stats().requests < 100 && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["interrupted"], true);
    let sent = v["requests"]["sent"].as_u64().unwrap();
    assert!((100..3000).contains(&sent), "{sent}");
    assert_eq!(sent, emu.stats().requests);
    // The log was finished too: it merges into the same counts.
    let r = run(env.iris().args(["report", "merge", "-o", "json"]).arg(&log));
    assert_eq!(json(&r)["requests"]["sent"].as_u64(), Some(sent));
}

/// `--arrival poisson`: the same count, seeded, every request signed and answered.
#[test]
fn poisson_arrivals_send_the_requested_count() {
    let env = Env::new();
    let emu = emulator(Faults::default());
    let r = run(bench(&env, &emu).args([
        "--rps",
        "200",
        "--requests",
        "400",
        "--arrival",
        "poisson",
        "--seed",
        "7",
        "-o",
        "json",
    ]));
    let v = json(&r);
    assert_eq!(v["requests"]["sent"], 400);
    assert_eq!(v["requests"]["ok"], 400);
    assert_eq!(emu.stats().accepted, 400);
    // The gaps vary: a uniform schedule at 200 rps would send 400 in 1.995 s exactly.
    let d = f(&v, "duration_ms");
    assert!(d > 1000.0 && d < 4000.0, "{d}");
}

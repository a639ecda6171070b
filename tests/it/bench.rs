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

/// Percentiles (ms) of a report's response time.
fn response_ms(v: &Value, q: &str) -> f64 {
    f(v, &format!("latency_ms.response.{q}"))
}

/// The scale-out rehearsal: 4 processes with the same `--start-at`, `--copy k/4` of one
/// 400 rps schedule (100 rps each), against one emulator. The merged report must say 400 rps,
/// the emulator must have seen one interleaved 400 rps stream (not four 100 rps streams in
/// step), and the merged percentiles must match one process sending 400 rps.
#[test]
fn four_copies_with_one_start_time_are_one_400_rps_schedule() {
    let env = Env::new();
    let access = env.path("access.jsonl");
    let emu = Emulator::start_in_thread(EmulatorConfig {
        access_log: Some(access.clone()),
        ..Default::default()
    })
    .unwrap();
    // Time for four processes to start (they refuse a start time already past).
    let start = std::time::SystemTime::now() + Duration::from_millis(1500);
    let start_s = iris_cli::bench::schedule::fmt_rfc3339(start);
    let start_ms = start
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    // 4 s: (n-1)/(last send - first send) moves by 0.25% per 10 ms of lag on the last send,
    // and a shared 2-core machine lags that much now and then.
    let (rate, secs, n) = (400.0, 4u64, 4u64);
    let children: Vec<_> = (0..n)
        .map(|k| {
            let mut cmd = env.std_cmd();
            cmd.args(["bench", "-q", "--region", "us-east-1", "--url"])
                .arg(emu.invoke_url())
                .args([
                    "--access-key",
                    TEST_ACCESS_KEY,
                    "--secret-key",
                    TEST_SECRET_KEY,
                ])
                // 32 slots: at 100 rps and ~1 ms each, more would only open more connections.
                .args([
                    "--rps",
                    "400",
                    "--duration",
                    "4s",
                    "--max-in-flight",
                    "32",
                    "-o",
                    "json",
                ])
                .args(["--start-at", &start_s, "--copy", &format!("{k}/{n}")])
                .arg("--hdr-log")
                .arg(env.path(&format!("copy-{k}.hlog")))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for (k, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        let r = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        let v = json(&r);
        // Each copy's share: a quarter of the 1600 requests, at 100 rps.
        assert_eq!(v["requests"]["sent"], 400, "copy {k}");
        let achieved = f(&v, "achieved_rps");
        assert!((achieved - 100.0).abs() <= 1.0, "copy {k}: {achieved}");
    }
    let total = (rate as u64) * secs;
    assert_eq!(emu.stats().requests, total);
    assert_eq!(emu.stats().accepted, total);

    let mut merge = env.iris();
    merge.args(["report", "merge", "-o", "json"]);
    for k in 0..n {
        merge.arg(env.path(&format!("copy-{k}.hlog")));
    }
    let r = run(&mut merge);
    let merged = json(&r);
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
    assert!(r.stderr.contains("4 logs of copies of 4"), "{}", r.stderr);
    assert_eq!(merged["requests"]["sent"], total);
    assert_eq!(merged["requests"]["ok"], total);
    let achieved = f(&merged, "achieved_rps");
    assert!((achieved - rate).abs() <= rate * 0.01, "merged: {achieved}");
    assert!((f(&merged, "target_rps") - rate).abs() < 1e-6);

    // The emulator's view: one request every 2.5 ms, 400 in each second of the run.
    let mut at: Vec<u64> = std::fs::read_to_string(&access)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["requestTimeEpoch"]
                .as_u64()
                .unwrap()
        })
        .collect();
    at.sort_unstable();
    assert_eq!(at.len() as u64, total);
    let mut per_second = vec![0u64; secs as usize + 1];
    for t in &at {
        let s = t.saturating_sub(start_ms) / 1000;
        per_second[(s as usize).min(secs as usize)] += 1;
    }
    for (s, c) in per_second.iter().enumerate().take(secs as usize).skip(1) {
        assert!(
            (*c as f64 - rate).abs() <= rate * 0.05,
            "second {s}: {c} requests ({per_second:?})"
        );
    }
    // The emulator logs whole milliseconds. Interleaved, one request comes every 2.5 ms: the
    // gaps are 2 or 3 ms (91-97% alone, 67% with the whole suite running on 2 cores). Four
    // 100 rps schedules in step (the same --start-at without --copy) arrive in bursts of four
    // every 10 ms: gaps of 0-1 ms and 7-9 ms, only 8% of them 2 or 3 ms (measured).
    let gaps: Vec<u64> = at.windows(2).map(|w| w[1] - w[0]).collect();
    let even = gaps.iter().filter(|g| (2..=3).contains(*g)).count() as f64 / gaps.len() as f64;
    assert!(
        even >= 0.4,
        "only {:.1}% of the gaps between arrivals are 2-3 ms: not interleaved",
        even * 100.0
    );

    // One process at 400 rps: the same percentiles, within noise.
    let r = run(bench(&env, &emu).args([
        "--rps",
        "400",
        "--duration",
        "3s",
        "--max-in-flight",
        "32",
        "-o",
        "json",
    ]));
    let single = json(&r);
    assert_eq!(single["requests"]["sent"], 1200);
    let mut figures = String::new();
    for q in ["p50", "p75", "p90", "p99", "p999", "max"] {
        let (m, s) = (response_ms(&merged, q), response_ms(&single, q));
        figures += &format!(" {q} {m:.3}/{s:.3}");
        // Loopback latencies are ~1 ms. On a 2-core machine shared with builds the median of
        // repeated single runs moves by well under 1 ms; from p75 up, a scheduler stall in
        // any of five processes moves a 4 s run's figure by 2-20 ms (p75 5.9 ms in one
        // single run, 0.6-1.2 ms in the others), so those are stated, not asserted. Gross
        // errors (a wrong t0, averaged percentiles) are far larger.
        if q == "p50" {
            assert!(
                (m - s).abs() <= 2.0,
                "{q}: merged {m} ms, one process {s} ms"
            );
        }
    }
    eprintln!(
        "rehearsal: merged achieved {achieved:.2} rps (single {:.2}); emulator per second {per_second:?}, {:.1}% of gaps 2-3 ms; response ms merged/single:{figures}",
        f(&single, "achieved_rps"),
        even * 100.0
    );
}

#[test]
fn start_at_and_copy_mistakes_are_usage_errors() {
    let env = Env::new();
    let emu = emulator(Faults::default());
    for (args, needle) in [
        (
            vec!["--rps", "10", "--start-at", "2020-01-01T00:00:00Z"],
            "was ",
        ),
        (vec!["--rps", "10", "--start-at", "noon"], "RFC 3339"),
        (
            vec!["--rps", "10", "--copy", "4/4"],
            "K must be less than N",
        ),
        (
            vec!["--concurrency", "2", "--copy", "0/2"],
            "needs --rps or --ramp",
        ),
    ] {
        let r = run(bench(&env, &emu).args(&args));
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        // One line says what and where (clap adds its usage lines after it).
        let first = r.stderr.lines().next().unwrap_or_default();
        assert!(first.contains(needle), "{args:?}: {}", r.stderr);
    }
    // A start file left by an earlier run is named, not silently used.
    let stale = env.write("start-at", "2026-01-01T00:00:00Z\n");
    let r = run(bench(&env, &emu)
        .args(["--rps", "10", "--start-at", "+5s", "--start-file"])
        .arg(&stale));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("left by an earlier run"), "{}", r.stderr);
    assert_eq!(emu.stats().requests, 0);
}

/// A pod deleted mid-run (or stopped by the Job's activeDeadlineSeconds) gets SIGTERM: that
/// copy still prints its report and finishes its log, and `report merge` says, with numbers,
/// that its window was cut short.
#[test]
fn sigterm_in_one_copy_leaves_a_complete_log_and_merge_says_so() {
    let env = Env::new();
    let emu = emulator(Faults::default());
    let start = std::time::SystemTime::now() + Duration::from_millis(1500);
    let start_s = iris_cli::bench::schedule::fmt_rfc3339(start);
    let spawn = |k: u32| {
        let mut cmd = env.std_cmd();
        cmd.args(["bench", "-q", "--region", "us-east-1", "--url"])
            .arg(emu.invoke_url())
            .args([
                "--access-key",
                TEST_ACCESS_KEY,
                "--secret-key",
                TEST_SECRET_KEY,
            ])
            .args(["--rps", "100", "--duration", "4s", "-o", "json"])
            .args(["--start-at", &start_s, "--copy", &format!("{k}/2")])
            .arg("--hdr-log")
            .arg(env.path(&format!("copy-{k}.hlog")))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().unwrap()
    };
    let (whole, cut) = (spawn(0), spawn(1));
    // Both copies are sending (bounded wait), then the second one's pod goes away.
    let t = std::time::Instant::now();
    while emu.stats().requests < 150 && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &cut.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = cut.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["interrupted"], true);
    let cut_sent = v["requests"]["sent"].as_u64().unwrap();
    assert!((50..200).contains(&cut_sent), "{cut_sent}");
    let out = whole.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["requests"]["sent"], 200);
    assert_eq!(emu.stats().requests, 200 + cut_sent);

    let r = run(env
        .iris()
        .args(["report", "merge", "-o", "json"])
        .arg(env.path("copy-0.hlog"))
        .arg(env.path("copy-1.hlog")));
    let merged = json(&r);
    // The cut copy's log has its summary: every request it sent is counted.
    assert_eq!(merged["requests"]["sent"].as_u64(), Some(200 + cut_sent));
    assert_eq!(merged["interrupted"], true);
    assert!(!r.stderr.contains("no summary line"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("the copies' windows differ: first sends span 0.0")
            && r.stderr.contains("last sends"),
        "{}",
        r.stderr
    );
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

/// The emulator's cold starts (`Server-Timing: init;dur=200`) are reported apart: the warm
/// response times do not carry the 200 ms init.
#[test]
fn cold_starts_are_a_series_of_their_own() {
    let env = Env::new();
    let emu = Emulator::start_in_thread(EmulatorConfig {
        cold_start: Duration::from_millis(200),
        ..Default::default()
    })
    .unwrap();
    let r = run(bench(&env, &emu).args(["--rps", "50", "--requests", "100", "-o", "json"]));
    let v = json(&r);
    assert_eq!(v["requests"]["ok"], 100);
    let cold = emu.stats().cold_starts;
    assert!(cold >= 1, "{cold}");
    assert_eq!(
        v["latency_ms"]["cold"]["count"].as_u64(),
        Some(cold),
        "{v:#}"
    );
    assert!(f(&v, "latency_ms.cold.p50") >= 200.0);
    assert_eq!(
        v["latency_ms"]["response"]["count"].as_u64(),
        Some(100 - cold)
    );
    assert!(f(&v, "latency_ms.response.max") < 200.0, "{v:#}");
}

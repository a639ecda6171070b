//! `bench --cloudwatch` and `report cloudwatch`: the built binary asks the emulator's own
//! GetMetricData (over aws-sdk-cloudwatch's Smithy RPC v2 CBOR, signature verified) for the
//! run's window and prints AWS's numbers beside the client's.

use std::time::Duration;

use iris_cli::emulator::auth::{Action, KeyStore, Principal};
use iris_cli::emulator::EmulatorConfig;
use serde_json::Value;

use crate::common;
use crate::harness::{Run, TestEmulator};

fn metric<'a>(cw: &'a Value, label: &str) -> &'a Value {
    cw["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["label"] == label)
        .unwrap_or_else(|| panic!("no {label} in {cw:#}"))
}

/// The issue's "Must show": the emulator's own metrics, Invocations equal to the client's ok
/// count, SageMaker ModelLatency p99 no more than the client's service p99.
#[test]
fn bench_local_cloudwatch_shows_the_emulators_metrics() {
    let out = Run::new("bench")
        .local()
        .args(["--rps", "50", "--duration", "5s", "--cloudwatch"])
        .json()
        .timeout(Duration::from_secs(30))
        .run();
    let v = out.json();
    common::validate_json("bench", &v);
    let ok = v["requests"]["ok"].as_u64().unwrap();
    assert!(ok >= 200, "{ok} ok of a 50 rps x 5 s run");
    let cw = &v["cloudwatch"];
    for label in [
        "Lambda Invocations",
        "SageMaker Invocations",
        "API Gateway Count",
    ] {
        assert_eq!(
            metric(cw, label)["value"].as_f64(),
            Some(ok as f64),
            "{label}: {cw:#}"
        );
    }
    let model = metric(cw, "SageMaker ModelLatency");
    assert_eq!(model["unit"], "Microseconds");
    assert_eq!(model["dimensions"]["VariantName"], "AllTraffic");
    assert_eq!(model["dimensions"]["EndpointName"], "iris-xgb");
    let model_p99 = model["p99_ms"].as_f64().unwrap();
    let service_p99 = v["latency_ms"]["service"]["p99"].as_f64().unwrap();
    assert!(
        model_p99 > 0.0 && model_p99 <= service_p99,
        "ModelLatency p99 {model_p99} ms vs client service p99 {service_p99} ms"
    );
    // Each hop holds the next: the gaps are never negative at p50.
    let gaps = cw["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 4, "{cw:#}");
    for g in gaps {
        assert!(g["p50_ms"].as_f64().unwrap() >= 0.0, "{g}");
    }
    assert!(cw["counts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["matches"] == true));
    // The metrics land at once in-process: no 3-minute wait.
    assert!(cw["waited_s"].as_f64().unwrap() < 5.0, "{cw:#}");
    assert!(cw["period_s"].as_i64().unwrap() % 60 == 0);
}

#[test]
fn the_human_table_names_the_gaps_and_the_units() {
    let run = Run::new("bench");
    let html = run.env().path("report.html");
    let out = run
        .local()
        .args(["--rps", "20", "--duration", "1s", "--cloudwatch", "--quiet"])
        .arg("--html")
        .arg(&html)
        .timeout(Duration::from_secs(30))
        .run();
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("Server-side truth: CloudWatch"), "{page}");
    assert!(page.contains("<td>SageMaker ModelLatency</td>"), "{page}");
    assert!(
        page.contains("the function&#39;s own work") || page.contains("the function's own work")
    );
    for s in [
        "API Gateway IntegrationLatency",
        "SageMaker ModelLatency (us->ms)",
        "network and TLS",
        "API Gateway itself",
        "invoke overhead and cold starts",
        "the function's own work",
        "client ok 20 == Lambda Invocations 20",
        "client 5xx 0 == Lambda Throttles 0",
    ] {
        assert!(out.stdout.contains(s), "{s} missing:\n{}", out.stdout);
    }
}

/// A key without cloudwatch:GetMetricData: the run's report, then one line with the policy.
#[test]
fn access_denied_names_the_policy_to_add() {
    let cfg = EmulatorConfig {
        keys: KeyStore::from_principals(vec![Principal {
            access_key: iris_cli::emulator::auth::TEST_ACCESS_KEY.into(),
            secret_key: iris_cli::emulator::auth::TEST_SECRET_KEY.into(),
            session_token: None,
            arn: "arn:aws:iam::123456789012:user/no-metrics".into(),
            actions: vec![Action::ExecuteApiInvoke, Action::SageMakerInvokeEndpoint],
        }]),
        ..EmulatorConfig::default()
    };
    let emu = TestEmulator::start(cfg);
    let out = Run::new("bench")
        .api(&emu)
        .args(["--requests", "3", "--cloudwatch", "--quiet"])
        .args(["--function-name", "iris-predict", "--api-name", "iris-api"])
        .arg("--cloudwatch-endpoint-url")
        .arg(emu.endpoint_url())
        .expect_exit(3)
        .timeout(Duration::from_secs(30))
        .run();
    assert!(
        out.stdout.contains("status codes: 200: 3"),
        "{}",
        out.stdout
    );
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(
        lines[0].contains("AccessDenied")
            && lines[0].contains("\"Action\":\"cloudwatch:GetMetricData\""),
        "{}",
        lines[0]
    );
}

/// `report cloudwatch` for a past window with no traffic: every metric is there, without data.
#[test]
fn report_cloudwatch_for_an_empty_window() {
    let emu = TestEmulator::default_config();
    let out = Run::new("report")
        .arg("cloudwatch")
        .args([
            "--start",
            "2026-01-01T10:00:00Z",
            "--end",
            "2026-01-01T10:05:00Z",
        ])
        .api(&emu)
        .args(["--function-name", "iris-predict", "--api-name", "iris-api"])
        .args(["--sagemaker-endpoint", "iris-xgb"])
        .arg("--cloudwatch-endpoint-url")
        .arg(emu.endpoint_url())
        .json()
        .run();
    let v = out.json();
    assert_eq!(v["start"], "2026-01-01T10:00:00Z");
    assert_eq!(v["period_s"], 300);
    assert_eq!(v["dimensions"]["api_name"], "iris-api");
    assert_eq!(v["dimensions"]["stage"], "species");
    assert_eq!(metric(&v, "Lambda Invocations")["value"], Value::Null);
    let e = Run::new("report")
        .arg("cloudwatch")
        .args([
            "--start",
            "2026-01-01T10:05:00Z",
            "--end",
            "2026-01-01T10:00:00Z",
        ])
        .local()
        .expect_exit(2)
        .run();
    assert!(
        e.stderr.contains("--end must be after --start"),
        "{}",
        e.stderr
    );
}

/// Against moto's CloudWatch: datapoints put with boto3 for a past window come back with their
/// values, SageMaker's microseconds as milliseconds. moto 5.2.1 does not serve the Rust SDK's
/// Smithy RPC v2 CBOR (404) nor percentile statistics (500), so tests/python/moto_cloudwatch.py
/// puts a transcoding bridge in front of it: the numbers are moto's, averages and counts.
#[test]
fn report_cloudwatch_against_moto() {
    use std::io::BufRead;
    let probe = common::python()
        .args(["-c", "import boto3, moto.server, flask"])
        .output();
    match probe {
        Ok(p) if p.status.success() => {}
        Ok(p) => {
            eprintln!(
                "skipped: moto[server] is not importable by {}: {}",
                common::python_program(),
                String::from_utf8_lossy(&p.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            );
            return;
        }
        Err(e) => {
            eprintln!("skipped: cannot run {}: {e}", common::python_program());
            return;
        }
    }
    let helper = format!(
        "{}/tests/python/moto_cloudwatch.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut child = common::python()
        .arg(helper)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    let out = Run::new("report")
        .arg("cloudwatch")
        .args(["--start", info["start"].as_str().unwrap()])
        .args(["--end", info["end"].as_str().unwrap()])
        .args([
            "--url",
            "https://abc123.execute-api.us-east-1.amazonaws.com/prod/irispredict",
        ])
        .args([
            "--api-name",
            "stack-iris",
            "--function-name",
            "stack-iris-predict",
        ])
        .args(["--sagemaker-endpoint", "iris-xgb"])
        .args(["--cloudwatch-endpoint-url", info["url"].as_str().unwrap()])
        .var("AWS_ACCESS_KEY_ID", "testing")
        .var("AWS_SECRET_ACCESS_KEY", "testing")
        .json()
        .timeout(Duration::from_secs(30))
        .run();
    drop(child.stdin.take());
    let _ = child.wait();
    let v = out.json();
    let avg = |l: &str| metric(&v, l)["average_ms"].as_f64();
    let value = |l: &str| metric(&v, l)["value"].as_f64();
    assert_eq!(avg("API Gateway Latency"), Some(40.0), "{v:#}");
    assert_eq!(avg("API Gateway IntegrationLatency"), Some(30.0));
    assert_eq!(avg("Lambda Duration"), Some(12.5));
    // 4000 and 6000 µs, 1500 and 2500 µs.
    assert_eq!(avg("SageMaker ModelLatency"), Some(5.0));
    assert_eq!(avg("SageMaker OverheadLatency"), Some(2.0));
    assert_eq!(metric(&v, "SageMaker ModelLatency")["unit"], "Microseconds");
    assert_eq!(value("SageMaker ModelLatency"), Some(2.0));
    for l in [
        "API Gateway Count",
        "Lambda Invocations",
        "SageMaker Invocations",
    ] {
        assert_eq!(value(l), Some(7.0), "{l}");
    }
    assert_eq!(value("Lambda Throttles"), Some(0.0));
    // No percentiles in moto: shown as absent, not as zero.
    assert_eq!(metric(&v, "Lambda Duration")["p99_ms"], Value::Null);
    let gaps: Vec<f64> = v["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["average_ms"].as_f64().unwrap())
        .collect();
    // 40-30 (API Gateway), 30-12.5 (invoke), 12.5-(5+2) (the function).
    assert_eq!(gaps, [10.0, 17.5, 5.5]);
}

/// Counts that never match (a function name with no metrics): polled with a progress line,
/// given up once they stop changing, well inside --cloudwatch-wait, with a note.
#[test]
fn the_wait_is_bounded_and_stops_when_the_counts_stop_changing() {
    let emu = TestEmulator::default_config();
    let started = std::time::Instant::now();
    let out = Run::new("bench")
        .api(&emu)
        .args([
            "--requests",
            "5",
            "--cloudwatch",
            "--cloudwatch-wait",
            "20s",
        ])
        .args(["--function-name", "not-this-one", "--api-name", "iris-api"])
        .arg("--cloudwatch-endpoint-url")
        .arg(emu.endpoint_url())
        .json()
        .timeout(Duration::from_secs(30))
        .run();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(
        out.stderr
            .contains("iris-cli: cloudwatch: waiting for the metrics to land"),
        "{}",
        out.stderr
    );
    let v = out.json();
    let cw = &v["cloudwatch"];
    assert_eq!(metric(cw, "API Gateway Count")["value"].as_f64(), Some(5.0));
    assert_eq!(metric(cw, "Lambda Invocations")["value"], Value::Null);
    let notes = cw["notes"].to_string();
    assert!(
        notes.contains("did not match") && notes.contains("stopped changing"),
        "{notes}"
    );
}

/// `capacity --cloudwatch`: the whole search's window; AWS counted every probe's answers.
#[test]
fn capacity_local_cloudwatch_counts_every_probe() {
    let run = Run::new("capacity");
    let html = run.env().path("capacity.html");
    let out = run
        .local()
        .args([
            "--quiet",
            "--slo",
            "p99<500ms",
            "--start",
            "40",
            "--max",
            "80",
        ])
        .args(["--probe", "1s", "--confirm", "0s", "--tolerance", "0.5"])
        .args(["--max-lag", "100ms", "--cloudwatch", "--html"])
        .arg(&html)
        .json()
        .timeout(Duration::from_secs(60))
        .run();
    let v = out.json();
    let cw = &v["cloudwatch"];
    let ok: u64 = v["probes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["requests"]["ok"].as_u64().unwrap())
        .sum();
    assert!(ok > 0);
    // --start given: no estimate run, so the probes are all the traffic.
    assert_eq!(
        metric(cw, "Lambda Invocations")["value"].as_f64(),
        Some(ok as f64),
        "{cw:#}"
    );
    assert!(cw["counts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["matches"] == true));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("Server-side truth: CloudWatch"));
}

/// `--stack-outputs`: the deploy stack's FunctionName and ApiName outputs, from
/// describe-stacks' JSON, stand in for `--function-name` and `--api-name`; a flag still wins,
/// and a file that is not describe-stacks JSON is a usage error naming it.
#[test]
fn names_come_from_the_stack_outputs() {
    let emu = TestEmulator::default_config();
    let report = || {
        Run::new("report")
            .arg("cloudwatch")
            .args(["--start", "2026-01-01T10:00:00Z"])
            .args(["--end", "2026-01-01T10:05:00Z"])
            .api(&emu)
            .args(["--sagemaker-endpoint", "iris-xgb"])
            .arg("--cloudwatch-endpoint-url")
            .arg(emu.endpoint_url())
            .json()
    };
    let run = report();
    let file = run.env().write(
        "stack.json",
        r#"{"Stacks": [{"StackName": "iris", "Outputs": [
            {"OutputKey": "InvokeUrl", "OutputValue": "https://abc.execute-api.us-east-1.amazonaws.com/species/irispredict"},
            {"OutputKey": "FunctionName", "OutputValue": "iris-iris-predict"},
            {"OutputKey": "ApiName", "OutputValue": "iris-iris"}]}]}"#,
    );
    let v = run
        .arg("--stack-outputs")
        .arg(&file)
        .expect_exit(0)
        .run()
        .json();
    assert_eq!(v["dimensions"]["api_name"], "iris-iris", "{v:#}");
    assert_eq!(
        v["dimensions"]["function_name"], "iris-iris-predict",
        "{v:#}"
    );
    // The Outputs list alone (`--query 'Stacks[0].Outputs'`), and a flag that wins over it.
    let run = report();
    let list = run.env().write(
        "outputs.json",
        r#"[{"OutputKey": "FunctionName", "OutputValue": "from-file"},
            {"OutputKey": "ApiName", "OutputValue": "iris-iris"}]"#,
    );
    let v = run
        .arg("--stack-outputs")
        .arg(&list)
        .args(["--function-name", "from-flag"])
        .expect_exit(0)
        .run()
        .json();
    assert_eq!(v["dimensions"]["api_name"], "iris-iris");
    assert_eq!(v["dimensions"]["function_name"], "from-flag");
    let run = report();
    let bad = run.env().write("bad.json", "{\"Stacks\": []}");
    run.arg("--stack-outputs")
        .arg(&bad)
        .expect_exit(2)
        .stderr_has("bad.json: no outputs")
        .run();
}

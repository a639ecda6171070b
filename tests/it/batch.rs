//! End-to-end tests of `iris-cli batch` (the built binary) against the in-process emulator,
//! which verifies every signature. Expected predictions come from the emulator's model
//! evaluated here, with the digits the XGBoost container prints.

use std::io::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{run, Env, Run};
use iris_cli::emulator::auth::{TEST_ACCESS_KEY, TEST_SECRET_KEY};
use iris_cli::emulator::model::Model;
use iris_cli::emulator::{Emulator, EmulatorConfig, Faults, Latencies, LatencyDist};
use iris_cli::pyfloat::push_repr_f32;

const CLASSES: [&str; 3] = ["setosa", "versicolor", "virginica"];

/// `batch` against `emu`'s API route, signed with the test key.
fn api_args(emu: &Emulator) -> Vec<String> {
    vec![
        "batch".into(),
        "--url".into(),
        emu.invoke_url(),
        "--region".into(),
        "us-east-1".into(),
        "--access-key".into(),
        TEST_ACCESS_KEY.into(),
        "--secret-key".into(),
        TEST_SECRET_KEY.into(),
    ]
}

fn sagemaker_args(emu: &Emulator) -> Vec<String> {
    vec![
        "batch".into(),
        "--endpoint-name".into(),
        "iris-xgb".into(),
        "--endpoint-url".into(),
        emu.endpoint_url(),
        "--region".into(),
        "us-east-1".into(),
        "--access-key".into(),
        TEST_ACCESS_KEY.into(),
        "--secret-key".into(),
        TEST_SECRET_KEY.into(),
    ]
}

fn ok(run: &Run) {
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
}

/// The 150 iris feature rows (4 cells each, as written in the file).
fn iris_rows() -> Vec<String> {
    let text = include_str!("../../payloads/iris.csv");
    text.lines()
        .skip(1)
        .map(|l| l.split(',').take(4).collect::<Vec<_>>().join(","))
        .collect()
}

/// `species,class_index,p_setosa,p_versicolor,p_virginica` as the model gives it for `row`.
fn expected(model: &Model, row: &str) -> String {
    let x: Vec<f32> = row
        .split(',')
        .map(|c| {
            if c.trim().is_empty() {
                f32::NAN
            } else {
                c.trim().parse::<f64>().unwrap() as f32
            }
        })
        .collect();
    let mut out = vec![0f32; 3];
    model.predict_into(&x, &mut out);
    let probs: Vec<f64> = out.iter().map(|v| f64::from(*v)).collect();
    let mut best = 0;
    for (i, p) in probs.iter().enumerate() {
        if *p > probs[best] {
            best = i;
        }
    }
    let mut s = format!("{},{best}", CLASSES[best]);
    for v in &out {
        s.push(',');
        push_repr_f32(&mut s, *v);
    }
    s
}

/// A CSV of `n` rows: `id,sepal_length,sepal_width,petal_length,petal_width`, cycling the iris
/// rows; returns the text and the rows' feature strings.
fn id_csv(n: usize) -> (String, Vec<(String, String)>) {
    let rows = iris_rows();
    let mut text = String::from("id,sepal_length,sepal_width,petal_length,petal_width\n");
    let mut list = Vec::with_capacity(n);
    for i in 0..n {
        let r = &rows[(i * 7) % rows.len()];
        let id = format!("row{i}");
        text.push_str(&format!("{id},{r}\n"));
        list.push((id, r.clone()));
    }
    (text, list)
}

/// The exact output an uninterrupted correct run must produce for `id_csv(n)`.
fn expected_output(rows: &[(String, String)]) -> String {
    let model = Model::iris();
    let mut s = String::from(
        "id,sepal_length,sepal_width,petal_length,petal_width,species,class_index,p_setosa,p_versicolor,p_virginica\n",
    );
    for (id, r) in rows {
        s.push_str(&format!("{id},{r},{}\n", expected(&model, r)));
    }
    s
}

fn args(base: Vec<String>, more: &[&str]) -> Vec<String> {
    let mut v = base;
    v.extend(more.iter().map(|s| s.to_string()));
    v
}

#[test]
fn api_path_scores_every_row_in_order_with_exact_probabilities() {
    let env = Env::new();
    let emu = Emulator::start_in_thread(EmulatorConfig::default()).unwrap();
    let (text, rows) = id_csv(300);
    let input = env.write("in.csv", &text);
    let r = run(env.iris().args(args(
        api_args(&emu),
        &[
            input.to_str().unwrap(),
            "--features",
            "sepal_length,sepal_width,petal_length,petal_width",
            "--rows-per-request",
            "7",
        ],
    )));
    ok(&r);
    assert_eq!(r.stdout, expected_output(&rows));
    // Spot-check the documented digits of two known rows.
    assert!(r.stdout.contains(
        "row0,5.1,3.5,1.4,0.2,setosa,0,0.9531188011169434,0.024485334753990173,0.022395867854356766\n"
    ));
    assert!(
        r.stderr.contains("scored 300 rows, rejected 0"),
        "{}",
        r.stderr
    );
    let stats = emu.stats();
    assert_eq!(stats.predictions, 300);
    assert_eq!(stats.apigw_requests, 300_u64.div_ceil(7));
    assert!(stats.rejected.is_empty(), "{stats:?}");
    assert_eq!(stats.panics, 0);
}

#[test]
fn sagemaker_direct_with_features_by_index_and_passthrough_columns() {
    let env = Env::new();
    let emu = Emulator::start_in_thread(EmulatorConfig::default()).unwrap();
    let rows = iris_rows();
    let model = Model::iris();
    // No header: features are columns 2-5, column 1 (an id) and 6 (a note, quoted) pass through.
    let mut text = String::new();
    let mut want = String::from(
        "col1,col2,col3,col4,col5,col6,species,class_index,p_setosa,p_versicolor,p_virginica\n",
    );
    for (i, r) in rows.iter().enumerate().take(40) {
        text.push_str(&format!("{i},{r},\"note, {i}\"\n"));
        want.push_str(&format!("{i},{r},\"note, {i}\",{}\n", expected(&model, r)));
    }
    env.write("in.csv", &text);
    let r = run(env.iris().args(args(
        sagemaker_args(&emu),
        &[
            "in.csv",
            "--features",
            "2,3,4,5",
            "--rows-per-request",
            "3",
            "--out",
            "out.csv",
        ],
    )));
    ok(&r);
    assert_eq!(std::fs::read_to_string(env.path("out.csv")).unwrap(), want);
    assert!(r.stdout.is_empty());
    assert!(!env.path("out.csv.partial").exists());
    assert!(!env.path("out.csv.checkpoint").exists());
    // The rejects file holds only its header.
    assert_eq!(
        std::fs::read_to_string(env.path("out.csv.rejects.csv")).unwrap(),
        "line,column,reason,input\n"
    );
    let stats = emu.stats();
    assert_eq!(stats.sagemaker_requests, 14);
    assert_eq!(stats.predictions, 40);
}

#[test]
fn header_detection_both_ways() {
    let env = Env::new();
    let emu = Emulator::start_in_thread(EmulatorConfig::default()).unwrap();
    let rows = iris_rows();
    let model = Model::iris();
    let data: String = rows[..5].iter().map(|r| format!("{r}\n")).collect();
    // No header: detected as data; every row scored; columns named col1..col4.
    env.write("plain.csv", &data);
    let r = run(env.iris().args(args(api_args(&emu), &["plain.csv"])));
    ok(&r);
    let mut lines = r.stdout.lines();
    assert_eq!(
        lines.next().unwrap(),
        "col1,col2,col3,col4,species,class_index,p_setosa,p_versicolor,p_virginica"
    );
    assert_eq!(lines.count(), 5);
    // A header: detected and reused.
    env.write("named.csv", &format!("sl,sw,pl,pw\n{data}"));
    let r = run(env.iris().args(args(api_args(&emu), &["named.csv"])));
    ok(&r);
    assert!(r.stdout.starts_with("sl,sw,pl,pw,species,"), "{}", r.stdout);
    assert!(r
        .stdout
        .contains(&format!("{},{}\n", rows[0], expected(&model, &rows[0]))));
    assert!(
        r.stderr.contains("first line taken as a header"),
        "{}",
        r.stderr
    );
    // --no-header on a file with a header: the header line is a bad row, rejected with its
    // line number, and the exit code says so.
    let r = run(env
        .iris()
        .args(args(api_args(&emu), &["named.csv", "--no-header"])));
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("rejected line 1, column 1: 'sl' is not a number"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout.lines().count(), 6);
    // A data row with a bad cell is not mistaken for a header.
    env.write("badfirst.csv", &format!("5.1,x,1.4,0.2\n{data}"));
    let r = run(env.iris().args(args(api_args(&emu), &["badfirst.csv"])));
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert!(
        r.stderr.contains("rejected line 1, column 2"),
        "{}",
        r.stderr
    );
    // Names need a header.
    let r = run(env
        .iris()
        .args(args(api_args(&emu), &["plain.csv", "--features", "sl"])));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("has no header"), "{}", r.stderr);
}

#[test]
fn gzip_file_and_stdin_inputs_with_jsonl_output() {
    let env = Env::new();
    let emu = Emulator::start_in_thread(EmulatorConfig::default()).unwrap();
    let (text, rows) = id_csv(50);
    let gz = env.path("in.csv.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap();
    let feats = [
        "--features",
        "sepal_length,sepal_width,petal_length,petal_width",
    ];
    let r = run(env
        .iris()
        .args(args(api_args(&emu), &["in.csv.gz", feats[0], feats[1]])));
    ok(&r);
    assert_eq!(r.stdout, expected_output(&rows));
    // Standard input, gzip too, as JSON Lines.
    let r = run(env
        .iris()
        .args(args(
            api_args(&emu),
            &["-", feats[0], feats[1], "--output", "jsonl"],
        ))
        .write_stdin(std::fs::read(&gz).unwrap()));
    ok(&r);
    let model = Model::iris();
    let lines: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 50);
    for (i, (v, (id, feats))) in lines.iter().zip(&rows).enumerate() {
        assert_eq!(v["line"], i + 2);
        assert_eq!(v["input"]["id"], id.as_str());
        let want = expected(&model, feats);
        let mut parts = want.split(',');
        assert_eq!(v["species"], parts.next().unwrap());
        assert_eq!(v["class_index"].to_string(), parts.next().unwrap());
        let probs: Vec<String> = v["probabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(probs, parts.map(str::to_string).collect::<Vec<_>>());
    }
}

#[test]
fn bad_rows_go_to_the_rejects_with_line_column_and_reason() {
    let env = Env::new();
    let emu = Emulator::start_in_thread(EmulatorConfig::default()).unwrap();
    let text = "id,a,b,c,d\n\
                ok1,5.1,3.5,1.4,0.2\n\
                short,5.1,3.5\n\
                word,5.1,abc,1.4,0.2\n\
                empty,5.1,,1.4,0.2\n\
                ok2,6.6,3.0,4.4,1.4\n";
    env.write("in.csv", text);
    let feats = ["--features", "a,b,c,d"];
    let r = run(env.iris().args(args(
        api_args(&emu),
        &[
            "in.csv",
            feats[0],
            feats[1],
            "--out",
            "out.csv",
            "--no-missing",
        ],
    )));
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert!(r.stderr.contains("3 row(s) rejected"), "{}", r.stderr);
    let rejects = std::fs::read_to_string(env.path("out.csv.rejects.csv")).unwrap();
    assert_eq!(
        rejects,
        "line,column,reason,input\n\
         3,,\"expected 5 columns, found 3\",\"short,5.1,3.5\"\n\
         4,b,'abc' is not a number,\"word,5.1,abc,1.4,0.2\"\n\
         5,b,\"empty value, and missing values are not allowed (--no-missing)\",\"empty,5.1,,1.4,0.2\"\n"
    );
    let out = std::fs::read_to_string(env.path("out.csv")).unwrap();
    let ids: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(ids, ["ok1", "ok2"]);
    // Missing values allowed (the default): the empty cell is sent as missing and scored.
    let r = run(env.iris().args(args(
        api_args(&emu),
        &["in.csv", feats[0], feats[1], "--rejects", "rej.csv"],
    )));
    assert_eq!(r.code, 7, "{}", r.stderr);
    let model = Model::iris();
    assert!(
        r.stdout.contains(&format!(
            "empty,5.1,,1.4,0.2,{}\n",
            expected(&model, "5.1,,1.4,0.2")
        )),
        "{}",
        r.stdout
    );
    assert_eq!(
        std::fs::read_to_string(env.path("rej.csv"))
            .unwrap()
            .lines()
            .count(),
        3
    );
}

#[test]
fn faults_on_every_valid_row_exactly_once_in_order() {
    let env = Env::new();
    let emu = Emulator::start_in_thread(EmulatorConfig {
        faults: Faults {
            error_rate: 0.1,
            drop_rate: 0.01,
            throttle_rps: Some(200.0),
            burst: Some(20),
            ..Default::default()
        },
        seed: 42,
        ..Default::default()
    })
    .unwrap();
    let (mut text, rows) = id_csv(2000);
    // Bad rows among the good ones, at known lines.
    let mut good = rows.clone();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for k in [10usize, 500, 1999] {
        lines.insert(k, format!("bad{k},1.0,oops,1.0,1.0"));
    }
    text = lines.join("\n") + "\n";
    env.write("in.csv", &text);
    let r = run(env.iris().args(args(
        api_args(&emu),
        &[
            "in.csv",
            "--features",
            "sepal_length,sepal_width,petal_length,petal_width",
            "--rows-per-request",
            "10",
            "--concurrency",
            "8",
            "--max-attempts",
            "12",
            "--timeout",
            "5s",
            "--out",
            "out.csv",
        ],
    )));
    assert_eq!(r.code, 7, "{}", r.stderr);
    let stats = emu.stats();
    assert!(stats.injected_errors > 0, "{stats:?}");
    assert!(stats.throttled > 0, "{stats:?}");
    assert!(stats.dropped > 0, "{stats:?}");
    assert_eq!(stats.panics, 0);
    // Every valid row exactly once, in order, with the model's prediction.
    good.truncate(2000);
    assert_eq!(
        std::fs::read_to_string(env.path("out.csv")).unwrap(),
        expected_output(&good)
    );
    // The bad rows (1-based line = index in `lines` + 1) with their reasons, in order.
    let rejects = std::fs::read_to_string(env.path("out.csv.rejects.csv")).unwrap();
    let got: Vec<&str> = rejects.lines().skip(1).collect();
    assert_eq!(
        got,
        [
            "11,sepal_width,'oops' is not a number,\"bad10,1.0,oops,1.0,1.0\"",
            "501,sepal_width,'oops' is not a number,\"bad500,1.0,oops,1.0,1.0\"",
            "2000,sepal_width,'oops' is not a number,\"bad1999,1.0,oops,1.0,1.0\"",
        ]
    );
    assert!(r.stderr.contains("retried"), "{}", r.stderr);
}

#[test]
fn a_request_that_keeps_failing_sends_its_rows_to_the_rejects() {
    let env = Env::new();
    let emu = Emulator::start_in_thread(EmulatorConfig {
        faults: Faults {
            error_rate: 1.0,
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap();
    let (text, _) = id_csv(25);
    env.write("in.csv", &text);
    let r = run(env.iris().args(args(
        sagemaker_args(&emu),
        &[
            "in.csv",
            "--features",
            "2,3,4,5",
            "--rows-per-request",
            "10",
            "--max-attempts",
            "2",
            "--out",
            "out.csv",
        ],
    )));
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert_eq!(
        emu.stats().sagemaker_requests,
        6,
        "3 requests, 2 attempts each"
    );
    let out = std::fs::read_to_string(env.path("out.csv")).unwrap();
    assert_eq!(out.lines().count(), 1, "only the header: {out}");
    let rejects = std::fs::read_to_string(env.path("out.csv.rejects.csv")).unwrap();
    let lines: Vec<&str> = rejects.lines().skip(1).collect();
    assert_eq!(lines.len(), 25);
    for (i, l) in lines.iter().enumerate() {
        assert!(
            l.starts_with(&format!("{},,gave up after 2 attempts: 50", i + 2)),
            "{l}"
        );
    }
}

#[test]
fn bad_credentials_stop_the_run_with_the_auth_code() {
    let env = Env::new();
    let emu = Emulator::start_in_thread(EmulatorConfig::default()).unwrap();
    let (text, _) = id_csv(30);
    env.write("in.csv", &text);
    let mut a = api_args(&emu);
    let secret = a.iter().position(|s| s == TEST_SECRET_KEY).unwrap();
    a[secret] = "wrongSecretwrongSecret".into();
    let r = run(env.iris().args(args(
        a,
        &["in.csv", "--features", "2,3,4,5", "--out", "out.csv"],
    )));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("signature"), "{}", r.stderr);
    assert!(!r.stderr.contains("wrongSecretwrongSecret"));
    // Nothing was rejected: the run stopped, resumable once the credentials are fixed.
    let rejects = std::fs::read_to_string(env.path("out.csv.rejects.csv")).unwrap();
    assert_eq!(rejects.lines().count(), 1);
    assert!(env.path("out.csv.checkpoint").exists());
    assert!(
        r.stderr.contains("--secret-key <SECRET_KEY>"),
        "{}",
        r.stderr
    );
    let r = run(env.iris().args(args(
        api_args(&emu),
        &[
            "in.csv",
            "--features",
            "2,3,4,5",
            "--out",
            "out.csv",
            "--resume",
        ],
    )));
    ok(&r);
}

#[test]
fn an_unreachable_endpoint_exits_6() {
    let env = Env::new();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    env.write("in.csv", "5.1,3.5,1.4,0.2\n");
    let r = run(env.iris().args([
        "batch",
        "in.csv",
        "--url",
        &format!("http://127.0.0.1:{port}/species/irispredict"),
        "--region",
        "us-east-1",
        "--access-key",
        TEST_ACCESS_KEY,
        "--secret-key",
        TEST_SECRET_KEY,
        "--max-attempts",
        "2",
    ]));
    assert_eq!(r.code, 6, "{}", r.stderr);
    assert!(r.stderr.contains("unreachable"), "{}", r.stderr);
}

/// A slow emulator: 2000 rows at 10 rows per request and 2 in flight take ~2 s.
fn slow_emulator() -> Emulator {
    Emulator::start_in_thread(EmulatorConfig {
        faults: Faults {
            latency: Latencies {
                model: Some(LatencyDist::Fixed(Duration::from_millis(20))),
                ..Default::default()
            },
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap()
}

fn rows_done(checkpoint: &Path) -> Option<u64> {
    let text = std::fs::read(checkpoint).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    v["rows_done"].as_u64()
}

/// Start a slow run and wait (bounded) until its checkpoint shows it mid-way.
fn start_mid_way(env: &Env, emu: &Emulator, extra: &[&str]) -> std::process::Child {
    let mut cmd = env.std_cmd();
    cmd.args(args(
        api_args(emu),
        &[
            "in.csv",
            "--features",
            "2,3,4,5",
            "--rows-per-request",
            "10",
            "--concurrency",
            "2",
            "--out",
            "out.csv",
            "--checkpoint-interval",
            "50ms",
        ],
    ))
    .args(extra)
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if rows_done(&env.path("out.csv.checkpoint")).is_some_and(|n| n >= 200) {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be interrupted"
        );
        assert!(Instant::now() < deadline, "no checkpoint progress in 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn kill_9_then_resume_is_byte_equal_to_an_uninterrupted_run() {
    let env = Env::new();
    let emu = slow_emulator();
    let (text, rows) = id_csv(2000);
    env.write("in.csv", &text);
    let mut child = start_mid_way(&env, &emu, &[]);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let done = rows_done(&env.path("out.csv.checkpoint")).unwrap();
    assert!(done > 0 && done < 2000, "{done}");
    assert!(!env.path("out.csv").exists());
    // Without --resume the run refuses to start over the checkpoint.
    let r = run(env.iris().args(args(
        api_args(&emu),
        &["in.csv", "--features", "2,3,4,5", "--out", "out.csv"],
    )));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--resume"), "{}", r.stderr);
    let before = emu.stats().predictions;
    let r = run(env.iris().args(args(
        api_args(&emu),
        &[
            "in.csv",
            "--features",
            "2,3,4,5",
            "--out",
            "out.csv",
            "--resume",
            "--concurrency",
            "8",
        ],
    )));
    ok(&r);
    assert!(r.stderr.contains("resumed after"), "{}", r.stderr);
    // Only the rows after the checkpoint were sent again.
    assert_eq!(emu.stats().predictions - before, 2000 - done);
    assert_eq!(
        std::fs::read_to_string(env.path("out.csv")).unwrap(),
        expected_output(&rows)
    );
    assert!(!env.path("out.csv.checkpoint").exists());
    assert!(!env.path("out.csv.partial").exists());
}

#[test]
fn ctrl_c_stops_cleanly_says_how_to_resume_and_resume_checks_the_options() {
    let env = Env::new();
    let emu = slow_emulator();
    let (text, rows) = id_csv(2000);
    env.write("in.csv", &text);
    let child = start_mid_way(&env, &emu, &[]);
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted; resume with: iris-cli batch"),
        "{stderr}"
    );
    assert!(stderr.contains("--resume"), "{stderr}");
    assert!(!stderr.contains(TEST_SECRET_KEY), "{stderr}");
    let done = rows_done(&env.path("out.csv.checkpoint")).unwrap();
    assert!(done > 0 && done < 2000, "{done}");
    // The partial output holds exactly the checkpointed rows, after the in-flight ones landed.
    let partial = std::fs::read_to_string(env.path("out.csv.partial")).unwrap();
    assert_eq!(partial.lines().count() as u64, done + 1);

    // Changed output-shaping options: refused.
    let base = [
        "in.csv",
        "--features",
        "2,3,4,5",
        "--out",
        "out.csv",
        "--resume",
    ];
    let r = run(env
        .iris()
        .args(args(api_args(&emu), &base))
        .args(["--output", "jsonl"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("option 'output' changed"), "{}", r.stderr);
    let r = run(env
        .iris()
        .args(args(api_args(&emu), &base))
        .args(["--no-missing"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("allow_missing"), "{}", r.stderr);

    // Same options (rows per request may change): byte-equal to an uninterrupted run.
    let r = run(env
        .iris()
        .args(args(api_args(&emu), &base))
        .args(["--rows-per-request", "50"]));
    ok(&r);
    assert_eq!(
        std::fs::read_to_string(env.path("out.csv")).unwrap(),
        expected_output(&rows)
    );
}

#[test]
fn resume_refuses_a_changed_input() {
    let env = Env::new();
    let emu = slow_emulator();
    let (text, _) = id_csv(2000);
    env.write("in.csv", &text);
    let mut child = start_mid_way(&env, &emu, &[]);
    child.kill().unwrap();
    child.wait().unwrap();
    env.write("in.csv", &text.replace("row5,", "row5b,"));
    let r = run(env.iris().args(args(
        api_args(&emu),
        &[
            "in.csv",
            "--features",
            "2,3,4,5",
            "--out",
            "out.csv",
            "--resume",
        ],
    )));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("changed since the interrupted run"),
        "{}",
        r.stderr
    );
    // --restart starts over.
    let r = run(env.iris().args(args(
        api_args(&emu),
        &[
            "in.csv",
            "--features",
            "2,3,4,5",
            "--out",
            "out.csv",
            "--restart",
            "--concurrency",
            "16",
        ],
    )));
    ok(&r);
    assert!(std::fs::read_to_string(env.path("out.csv"))
        .unwrap()
        .contains("\nrow5b,"));
}

#[test]
fn refused_requests_are_split_and_a_feature_count_error_stops_the_run() {
    // Three features for a four-feature model: the container refuses the whole request, so
    // it is bisected (4 -> 2 -> 1 rows); once a single row is refused for its feature count,
    // every row would be, and the run stops with a usage error rather than rejecting them all.
    for sagemaker in [false, true] {
        let env = Env::new();
        let emu = Emulator::start_in_thread(EmulatorConfig::default()).unwrap();
        let (text, _) = id_csv(10);
        env.write("in.csv", &text);
        let base = if sagemaker {
            sagemaker_args(&emu)
        } else {
            api_args(&emu)
        };
        let r = run(env.iris().args(args(
            base,
            &[
                "in.csv",
                "--features",
                "2,3,4",
                "--rows-per-request",
                "4",
                "--concurrency",
                "1",
                "--out",
                "out.csv",
            ],
        )));
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(
            r.stderr
                .contains("the model takes 4 features but each row sends 3"),
            "{}",
            r.stderr
        );
        let stats = emu.stats();
        // 4 rows, then 2, then 1: three requests, two splits, then the stop.
        assert_eq!(stats.requests, 3, "{stats:?}");
        assert!(r.stderr.contains("2 split"), "{}", r.stderr);
        assert!(!env.path("out.csv").exists());
        // Resuming would refuse the changed --features: the hint says --restart.
        assert!(!r.stderr.contains("--resume"), "{}", r.stderr);
        assert!(r.stderr.contains("--restart"), "{}", r.stderr);
    }
}

/// Without --features a header's id column is passed through, not sent; and a file whose
/// rows carry more feature columns than the model takes stops at once with a usage error
/// instead of rejecting every row.
#[test]
fn default_features_skip_ids_and_a_feature_count_mismatch_stops_the_run() {
    let env = Env::new();
    let emu = Emulator::start_in_thread(EmulatorConfig::default()).unwrap();
    let rows = iris_rows();
    let mut text = String::from("id,sepal_length,sepal_width,petal_length,petal_width\n");
    for (i, r) in rows.iter().take(20).enumerate() {
        text.push_str(&format!("{i},{r}\n"));
    }
    let input = env.write("numeric-ids.csv", &text);
    let r = run(env.iris().args(api_args(&emu)).arg(&input));
    ok(&r);
    let model = Model::iris();
    let first = r.stdout.lines().nth(1).unwrap();
    assert_eq!(
        first,
        format!("0,{},{}", rows[0], expected(&model, &rows[0]))
    );
    assert_eq!(r.stdout.lines().count(), 21);
    assert!(r.stderr.contains("passed through: id"), "{}", r.stderr);

    let mut text = String::from("sepal_length,sepal_width,petal_length,petal_width,extra\n");
    for r in rows.iter().take(500) {
        text.push_str(&format!("{r},1\n"));
    }
    let input = env.write("five.csv", &text);
    let before = emu.stats().requests;
    let r = run(env.iris().args(api_args(&emu)).arg(&input).args([
        "--rows-per-request",
        "1",
        "--concurrency",
        "2",
    ]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("error: the model takes 4 features but each row sends 5: choose the feature columns with --features"), "{}", r.stderr);
    let sent = emu.stats().requests - before;
    assert!(
        sent < 50,
        "the run went on after the first feature-count error: {sent} requests"
    );
}

/// Issue 11, item 1: no file a run writes may be its input or another of its files; refused
/// (exit 2, naming both) before anything is opened for writing.
#[test]
fn a_run_never_writes_over_its_input_or_one_of_its_own_files() {
    let env = Env::new();
    let emu = Emulator::start_in_thread(EmulatorConfig::default()).unwrap();
    let (text, _) = id_csv(50);
    env.write("in.csv", &text);
    std::fs::hard_link(env.path("in.csv"), env.path("hard.csv")).unwrap();
    std::fs::create_dir(env.path("outdir")).unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["--rejects", "in.csv"], "--rejects in.csv is the input in.csv"),
        (&["--out", "in.csv"], "--out in.csv is the input in.csv"),
        (&["--out", "./sub/../in.csv"], "is the input in.csv"),
        (&["--out", "hard.csv"], "--out hard.csv is the input in.csv"),
        (&["--out", "x", "--rejects", "in.csv"], "--rejects in.csv is the input"),
        (
            &["--out", "out.csv", "--rejects", "out.csv.partial"],
            "--out's partial file (FILE.partial) out.csv.partial and --rejects out.csv.partial are the same file",
        ),
        (
            &["--out", "out.csv", "--rejects", "out.csv"],
            "--out out.csv and --rejects out.csv are the same file",
        ),
        (
            &["--out", "out.csv", "--rejects", "out.csv.checkpoint"],
            "are the same file",
        ),
        (&["--out", "in"], "--out's partial file (FILE.partial) in.partial"),
        (&["--out", "outdir"], "--out outdir is a directory"),
        (&["--out", "o.csv", "--rejects", "outdir"], "--rejects outdir is a directory"),
    ];
    std::fs::create_dir(env.path("sub")).unwrap();
    env.write("in.partial", "precious\n");
    for (more, want) in cases {
        let input = if more.contains(&"in") {
            "in.partial"
        } else {
            "in.csv"
        };
        let mut a = vec![input];
        a.extend_from_slice(more);
        let r = run(env.iris().args(args(api_args(&emu), &a)));
        assert_eq!(r.code, 2, "{more:?}: {}", r.stderr);
        let want = want.replace("the input in.csv", &format!("the input {input}"));
        assert!(r.stderr.contains(&want), "{more:?}: {}", r.stderr);
        assert_eq!(std::fs::read_to_string(env.path("in.csv")).unwrap(), text);
        assert_eq!(
            std::fs::read_to_string(env.path("in.partial")).unwrap(),
            "precious\n"
        );
        assert!(!env.path("out.csv").exists() && !env.path("out.csv.partial").exists());
    }
    // Standard input redirected from the file named by --out.
    let out = env
        .std_cmd()
        .args(args(api_args(&emu), &["-", "--out", "in.csv"]))
        .stdin(std::fs::File::open(env.path("in.csv")).unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--out in.csv is the input (standard input)"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(env.path("in.csv")).unwrap(), text);
    // Nothing was sent: every refusal came before the run.
    assert_eq!(emu.stats().requests, 0);
}

fn resume_args(emu: &Emulator) -> Vec<String> {
    args(
        api_args(emu),
        &[
            "in.csv",
            "--features",
            "2,3,4,5",
            "--out",
            "out.csv",
            "--resume",
        ],
    )
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(data))
}

/// Issue 11, item 5: a checkpoint vouches for the exact bytes of the output and rejects
/// prefixes; a hand-edited one (or edited files) is refused instead of dropping, repeating or
/// splicing rows or losing the header.
#[test]
fn resume_refuses_an_edited_checkpoint_or_edited_files() {
    let env = Env::new();
    let emu = slow_emulator();
    let (mut text, rows) = id_csv(2000);
    // One bad row, so the rejects file has content too.
    text.push_str("bad,1,x,3,4\n");
    env.write("in.csv", &text);
    let mut child = start_mid_way(&env, &emu, &[]);
    child.kill().unwrap();
    child.wait().unwrap();
    let cp_path = env.path("out.csv.checkpoint");
    let original = std::fs::read_to_string(&cp_path).unwrap();
    let state: serde_json::Value = serde_json::from_str(&original).unwrap();
    let done = state["rows_done"].as_u64().unwrap();
    let out_bytes = state["out_bytes"].as_u64().unwrap();
    assert!(state["out_sha256"].is_string(), "{original}");
    let partial = std::fs::read(env.path("out.csv.partial")).unwrap();
    let prefix = &partial[..out_bytes as usize];
    // The start of the last row the checkpoint vouches for: cutting there drops one row.
    let last_row = prefix[..prefix.len() - 1]
        .iter()
        .rposition(|b| *b == b'\n')
        .unwrap()
        + 1;
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = state.clone();
        f(&mut v);
        std::fs::write(&cp_path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    };
    let refused = |want: &str| {
        let r = run(env.iris().args(resume_args(&emu)));
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains("cannot resume: "), "{}", r.stderr);
        assert!(r.stderr.contains(want), "{want}: {}", r.stderr);
        assert!(r.stderr.contains("--restart"), "{}", r.stderr);
    };
    // More rows done than the files hold (rows would be dropped), and fewer (repeated).
    edit(&|v| v["rows_done"] = (done + 10).into());
    refused(&format!("the checkpoint says {} rows are done", done + 10));
    edit(&|v| v["rows_done"] = (done - 10).into());
    refused("rows are done but");
    // A shorter output prefix: one row spliced out.
    edit(&|v| v["out_bytes"] = (last_row as u64).into());
    refused("are not what the checkpoint recorded");
    // ... even with the hash and the row count made to match it.
    edit(&|v| {
        v["out_bytes"] = (last_row as u64).into();
        v["out_sha256"] = sha256_hex(&prefix[..last_row]).into();
        v["rows_done"] = (done - 1).into();
    });
    let r = run(env.iris().args(resume_args(&emu)));
    // That is a consistent, shorter checkpoint: resuming from it is correct (exit 7: the bad
    // last row is rejected).
    assert_eq!(r.code, 7, "{}", r.stderr);
    let want = expected_output(&rows[..2000]);
    assert_eq!(std::fs::read_to_string(env.path("out.csv")).unwrap(), want);
    // A lost header: an empty prefix that claims to be complete.
    let mut child = {
        std::fs::remove_file(env.path("out.csv")).unwrap();
        start_mid_way(&env, &emu, &["--restart"])
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let original = std::fs::read_to_string(&cp_path).unwrap();
    let state: serde_json::Value = serde_json::from_str(&original).unwrap();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = state.clone();
        f(&mut v);
        std::fs::write(&cp_path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    };
    edit(&|v| {
        v["out_bytes"] = 0.into();
        v["out_sha256"] = sha256_hex(b"").into();
        v["rows_done"] = 0.into();
    });
    refused("does not start with the output header");
    // The rejects prefix is vouched for too.
    edit(&|v| v["rejects_bytes"] = 0.into());
    refused("out.csv.rejects.csv are not what the checkpoint recorded");
    // An edited output byte inside the prefix.
    std::fs::write(&cp_path, &original).unwrap();
    let good = std::fs::read(env.path("out.csv.partial")).unwrap();
    let mut bytes = good.clone();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
    std::fs::write(env.path("out.csv.partial"), &bytes).unwrap();
    refused("out.csv.partial are not what the checkpoint recorded");
    // Unchanged, it resumes byte for byte.
    std::fs::write(env.path("out.csv.partial"), &good).unwrap();
    let r = run(env.iris().args(resume_args(&emu)));
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(env.path("out.csv")).unwrap(), want);
    let rejects = std::fs::read_to_string(env.path("out.csv.rejects.csv")).unwrap();
    assert_eq!(rejects.lines().count(), 2, "{rejects}");
}

/// Issue 11, item 6: a second run writing the same --out while one runs fails at once (the
/// first holds an exclusive lock on FILE.partial), whatever its flags; the first is unharmed.
#[test]
fn a_second_run_into_the_same_out_fails_at_once() {
    let env = Env::new();
    let emu = slow_emulator();
    let (text, rows) = id_csv(2000);
    env.write("in.csv", &text);
    let child = start_mid_way(&env, &emu, &[]);
    for extra in [&[][..], &["--restart"], &["--resume"]] {
        let started = Instant::now();
        let r = run(env
            .iris()
            .args(args(
                api_args(&emu),
                &["in.csv", "--features", "2,3,4,5", "--out", "out.csv"],
            ))
            .args(extra));
        assert_eq!(r.code, 1, "{extra:?}: {}", r.stderr);
        assert!(
            r.stderr
                .contains("another iris-cli batch is writing out.csv (out.csv.partial is locked)"),
            "{extra:?}: {}",
            r.stderr
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(env.path("out.csv")).unwrap(),
        expected_output(&rows)
    );
}

/// Issue 11, item 10: reject line numbers are physical lines whatever the line ending (CRLF,
/// CR only, LF), quoted line breaks included.
#[test]
fn reject_line_numbers_are_right_for_crlf_cr_and_lf_files() {
    let env = Env::new();
    let emu = Emulator::start_in_thread(EmulatorConfig::default()).unwrap();
    let lines = [
        "id,a,b,c,d",
        "ok1,5.1,3.5,1.4,0.2",
        "bad,5.1,x,1.4,0.2",
        "\"multi",
        "line\",5.1,3.5,1.4,0.2",
        "short,1",
        "ok2,6.6,3.0,4.4,1.4",
    ];
    for (name, eol) in [("lf", "\n"), ("crlf", "\r\n"), ("cr", "\r")] {
        let file = format!("{name}.csv");
        env.write(&file, &(lines.join(eol) + eol));
        let rejects = format!("{name}.rejects.csv");
        let r = run(env
            .iris()
            .args(args(api_args(&emu), &[&file, "--rejects", &rejects])));
        assert_eq!(r.code, 7, "{name}: {}", r.stderr);
        let got = std::fs::read_to_string(env.path(&rejects)).unwrap();
        let got: Vec<&str> = got
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap())
            .collect();
        assert_eq!(got, ["3", "6"], "{name}");
        // The quoted line break is kept in the output, and the rows around it are scored.
        assert_eq!(
            r.stdout.matches("setosa,0,").count() + r.stdout.matches("versicolor,1,").count(),
            3,
            "{name}: {}",
            r.stdout
        );
    }
}

/// Issue 11 item 13: a damaged gzip input stops the run with the line it reached and what
/// resuming can do; the rows before it are checkpointed.
#[test]
fn a_truncated_gzip_input_names_the_line_and_says_how_to_go_on() {
    let env = Env::new();
    let emu = Emulator::start_in_thread(EmulatorConfig::default()).unwrap();
    let (text, _) = id_csv(20_000);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(text.as_bytes()).unwrap();
    let gz = enc.finish().unwrap();
    std::fs::write(env.path("in.csv.gz"), &gz[..gz.len() / 2]).unwrap();
    let r = run(env.iris().args(args(
        api_args(&emu),
        &["in.csv.gz", "--features", "2,3,4,5", "--out", "out.csv"],
    )));
    assert_eq!(r.code, 1, "{}", r.stderr);
    let line: u64 = r
        .stderr
        .split("cannot read in.csv.gz near line ")
        .nth(1)
        .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", r.stderr));
    assert!(line > 1000 && line < 20_000, "{line}: {}", r.stderr);
    assert!(r.stderr.contains("--resume"), "{}", r.stderr);
    assert!(r.stderr.contains("--restart"), "{}", r.stderr);
    let done = rows_done(&env.path("out.csv.checkpoint")).unwrap();
    assert!(done > 0 && done < line, "{done}");
}

/// Issue 11 item 13: a pass-through cell that is not UTF-8 is rejected with its column (it
/// used to become U+FFFD in the output), and cells printed on stderr are escaped (an ANSI
/// sequence in a cell used to reach the terminal raw).
#[test]
fn non_utf8_pass_through_cells_are_rejected_and_printed_cells_are_escaped() {
    let env = Env::new();
    let emu = Emulator::start_in_thread(EmulatorConfig::default()).unwrap();
    let mut data = b"id,a,b,c,d\nok1,5.1,3.5,1.4,0.2\n".to_vec();
    data.extend_from_slice(b"caf\xe9,5.1,3.5,1.4,0.2\n");
    data.extend_from_slice(b"esc,\x1b[31mred\x1b]0;pwned\x07,3.5,1.4,0.2\n");
    std::fs::write(env.path("in.csv"), &data).unwrap();
    let out = env
        .std_cmd()
        .args(args(api_args(&emu), &["in.csv"]))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{stderr}");
    assert!(!out.stdout.contains(&0xef), "U+FFFD in the output");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    assert!(
        stderr.contains("rejected line 3, column id: not valid UTF-8"),
        "{stderr}"
    );
    assert!(
        !out.stderr.contains(&0x1b) && !out.stderr.contains(&0x07),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            r"rejected line 4, column a: '\u{1b}[31mred\u{1b}]0;pwned\u{7}' is not a number"
        ),
        "{stderr}"
    );
}

/// The lock on FILE.partial creates the file; a run refused before writing leaves none.
#[test]
fn a_refused_run_leaves_no_partial_file() {
    let env = Env::new();
    let emu = Emulator::start_in_thread(EmulatorConfig::default()).unwrap();
    let r = run(env
        .iris()
        .args(args(api_args(&emu), &["missing.csv", "--out", "out.csv"])));
    assert_eq!(r.code, 1, "{}", r.stderr);
    let r = run(env.iris().args(args(
        api_args(&emu),
        &["missing.csv", "--out", "out.csv", "--resume"],
    )));
    assert_eq!(r.code, 2, "{}", r.stderr);
    env.write("in.csv", "a,b\n1,2\n");
    let r = run(env.iris().args(args(
        api_args(&emu),
        &["in.csv", "--out", "out.csv", "--features", "nope"],
    )));
    assert_eq!(r.code, 2, "{}", r.stderr);
    let left: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("out.csv"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

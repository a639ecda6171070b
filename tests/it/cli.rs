//! End-to-end tests of the built binary against the in-process emulator on 127.0.0.1:0, which
//! verifies every signature. Every command runs with a scrubbed AWS environment (temporary
//! HOME and shared files, instance metadata disabled) so the developer's own credentials can
//! never make a test pass.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use assert_cmd::Command;

use crate::common::{run, Env, Run, WRONG_SECRET};
use iris_cli::emulator::auth::{
    Action, KeyStore, Principal, TEST_ACCESS_KEY, TEST_SECRET_KEY, TEST_SESSION_TOKEN,
    TEST_TEMP_ACCESS_KEY, TEST_TEMP_SECRET_KEY,
};
use iris_cli::emulator::{Emulator, EmulatorConfig};
use serde_json::Value;

const SETOSA: &str = "5.1,3.5,1.4,0.2";
const SETOSA_PROBS: &str = "[0.9531188011169434,0.024485334753990173,0.022395867854356766]";

fn emulator() -> Emulator {
    Emulator::start_in_thread(EmulatorConfig::default()).unwrap()
}

fn json(run: &Run) -> Value {
    let v: Value = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
    crate::common::validate_json("predict", &v);
    v
}

fn assert_setosa(run: &Run) {
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let v = json(run);
    assert_eq!(v["species"], "setosa");
    assert_eq!(v["class_index"], 0);
    assert_eq!(v["status"], 200);
    assert_eq!(v["probabilities"].to_string(), SETOSA_PROBS);
    assert!(v["request_id"].as_str().is_some_and(|r| !r.is_empty()));
}

/// Every request the emulator saw was verified and accepted.
fn assert_all_accepted(emu: &Emulator, n: u64) {
    let stats = emu.stats();
    assert_eq!(stats.requests, n, "{stats:?}");
    assert_eq!(stats.accepted, n, "{stats:?}");
    assert!(stats.rejected.is_empty(), "{stats:?}");
    assert_eq!(stats.panics, 0);
}

fn flags_args(emu_url: &str) -> Vec<&str> {
    vec![
        "predict",
        "--url",
        emu_url,
        "--region",
        "us-east-1",
        "--data",
        SETOSA,
        "-o",
        "json",
    ]
}

#[test]
fn local_flag_runs_the_whole_path() {
    let env = Env::new();
    let r = run(env.iris().args(["predict", "--local", "--data", SETOSA]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("setosa (class 0)\n"), "{}", r.stdout);
    assert!(r.stdout.contains("0.9531"), "{}", r.stdout);
    assert!(r.stderr.contains("200 ·"), "{}", r.stderr);

    let r = run(env.iris().args([
        "predict",
        "--local",
        "--endpoint-name",
        "iris-xgb",
        "--data",
        "6.6,3.0,4.4,1.4",
        "-o",
        "json",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(json(&r)["species"], "versicolor");
}

#[test]
fn credentials_from_flags() {
    let env = Env::new();
    let emu = emulator();
    let url = emu.invoke_url();
    let mut args = flags_args(&url);
    args.extend([
        "--access-key",
        TEST_ACCESS_KEY,
        "--secret-key",
        TEST_SECRET_KEY,
    ]);
    assert_setosa(&run(env.iris().args(&args)));
    assert_all_accepted(&emu, 1);
}

#[test]
fn secret_key_from_stdin() {
    let env = Env::new();
    let emu = emulator();
    let url = emu.invoke_url();
    let mut args = flags_args(&url);
    args.extend(["--access-key", TEST_ACCESS_KEY, "--secret-key-stdin"]);
    assert_setosa(&run(env
        .iris()
        .args(&args)
        .write_stdin(format!("{TEST_SECRET_KEY}\n"))));
    assert_all_accepted(&emu, 1);
}

/// A listener standing in for the instance-metadata service, counting connections.
fn fake_imds() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            h.fetch_add(1, Ordering::SeqCst);
            drop(conn);
        }
    });
    (format!("http://{addr}"), hits)
}

#[test]
fn credentials_from_environment_without_touching_imds() {
    let env = Env::new();
    let emu = emulator();
    let (imds, hits) = fake_imds();
    let url = emu.invoke_url();
    let r = run(env
        .iris()
        .args(flags_args(&url))
        .env("AWS_ACCESS_KEY_ID", TEST_ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", TEST_SECRET_KEY)
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds));
    assert_setosa(&r);
    assert_eq!(hits.load(Ordering::SeqCst), 0, "IMDS was contacted");
    assert_all_accepted(&emu, 1);
}

#[test]
fn session_token_from_environment_and_its_absence() {
    let env = Env::new();
    let emu = emulator();
    let url = emu.invoke_url();
    let r = run(env
        .iris()
        .args(flags_args(&url))
        .env("AWS_ACCESS_KEY_ID", TEST_TEMP_ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", TEST_TEMP_SECRET_KEY)
        .env("AWS_SESSION_TOKEN", TEST_SESSION_TOKEN));
    assert_setosa(&r);
    // The same temporary key without its token is rejected by the emulator.
    let mut args = flags_args(&url);
    args.extend([
        "--access-key",
        TEST_TEMP_ACCESS_KEY,
        "--secret-key",
        TEST_TEMP_SECRET_KEY,
    ]);
    let r = run(env.iris().args(&args));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.starts_with("iris-cli: error: 403 "),
        "{}",
        r.stderr
    );
    // And with the token given as a flag it is accepted.
    args.extend(["--session-token", TEST_SESSION_TOKEN]);
    assert_setosa(&run(env.iris().args(&args)));
    let stats = emu.stats();
    assert_eq!((stats.requests, stats.accepted), (3, 2), "{stats:?}");
}

#[test]
fn credentials_from_a_profile_in_shared_files() {
    let env = Env::new();
    let emu = emulator();
    env.write(
        "aws-config",
        "[default]\nregion = eu-west-3\n\n[profile iris]\nregion = us-east-1\n",
    );
    env.write(
        "aws-credentials",
        &format!("[iris]\naws_access_key_id = {TEST_ACCESS_KEY}\naws_secret_access_key = {TEST_SECRET_KEY}\n"),
    );
    let url = emu.invoke_url();
    assert_setosa(&run(env
        .iris()
        .args(flags_args(&url))
        .args(["--profile", "iris"])));
    assert_setosa(&run(env
        .iris()
        .args(flags_args(&url))
        .env("AWS_PROFILE", "iris")));
    // The profile's region is used when the host names none and no --region is given.
    let r = run(env.iris().args([
        "predict",
        "--endpoint-name",
        "iris-xgb",
        "--endpoint-url",
        &emu.endpoint_url(),
        "--data",
        SETOSA,
        "-o",
        "json",
        "--profile",
        "iris",
    ]));
    assert_setosa(&r);
    assert_all_accepted(&emu, 3);
}

#[test]
fn credentials_from_credential_process() {
    let env = Env::new();
    let emu = emulator();
    let script = env.write(
        "creds.sh",
        &format!(
            "#!/bin/sh\necho '{{\"Version\": 1, \"AccessKeyId\": \"{TEST_TEMP_ACCESS_KEY}\", \"SecretAccessKey\": \"{TEST_TEMP_SECRET_KEY}\", \"SessionToken\": \"{TEST_SESSION_TOKEN}\"}}'\n"
        ),
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    env.write(
        "aws-config",
        &format!(
            "[profile proc]\ncredential_process = {}\n",
            script.display()
        ),
    );
    let url = emu.invoke_url();
    let r = run(env
        .iris()
        .args(flags_args(&url))
        .args(["--profile", "proc", "-v"]));
    assert_setosa(&r);
    assert!(
        r.stderr.contains("x-amz-security-token: <redacted>"),
        "{}",
        r.stderr
    );
    assert_all_accepted(&emu, 1);
}

#[test]
fn no_credentials_names_every_source() {
    let env = Env::new();
    let emu = emulator();
    let url = emu.invoke_url();
    let r = run(env.iris().args(flags_args(&url)));
    assert_eq!(r.code, 3, "{}", r.stderr);
    let first = r.stderr.lines().next().unwrap();
    assert!(
        first.starts_with("iris-cli: error: no AWS credentials found; tried:"),
        "{first}"
    );
    for source in [
        "--access-key",
        "AWS_ACCESS_KEY_ID",
        "~/.aws/credentials",
        "credential_process",
        "SSO",
        "web identity",
        "ECS",
        "instance metadata",
    ] {
        assert!(first.contains(source), "{source} missing from: {first}");
    }
    assert_eq!(emu.stats().requests, 0);
}

#[test]
fn wrong_secret_is_exit_3_and_names_the_secret() {
    let env = Env::new();
    let emu = emulator();
    let url = emu.invoke_url();
    let mut args = flags_args(&url);
    args.extend([
        "--access-key",
        TEST_ACCESS_KEY,
        "--secret-key",
        WRONG_SECRET,
    ]);
    let r = run(env.iris().args(&args));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.starts_with("iris-cli: error: 403 InvalidSignatureException: The request signature we calculated does not match"), "{}", r.stderr);
    assert!(
        r.stderr.contains("match AWS's line for line")
            && r.stderr.contains("secret access key is wrong"),
        "{}",
        r.stderr
    );
    assert_eq!(
        emu.stats().rejected.get("InvalidSignatureException"),
        Some(&1)
    );
}

#[test]
fn wrong_region_and_service_are_named() {
    let env = Env::new();
    let emu = emulator();
    let url = emu.invoke_url();
    let base = [
        "predict",
        "--url",
        url.as_str(),
        "--data",
        SETOSA,
        "--access-key",
        TEST_ACCESS_KEY,
        "--secret-key",
        TEST_SECRET_KEY,
    ];
    let r = run(env.iris().args(base).args(["--region", "eu-west-1"]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("Credential should be scoped to a valid region, not 'eu-west-1'"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--region"), "{}", r.stderr);
    let r = run(env
        .iris()
        .args(base)
        .args(["--region", "us-east-1", "--service", "sagemaker"]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("Credential should be scoped to correct service: 'execute-api'"),
        "{}",
        r.stderr
    );
}

#[test]
fn clock_skew_is_corrected_and_reported() {
    let env = Env::new();
    let emu = emulator();
    let url = emu.invoke_url();
    let mut args = flags_args(&url);
    args.extend([
        "--access-key",
        TEST_ACCESS_KEY,
        "--secret-key",
        TEST_SECRET_KEY,
    ]);
    let r = run(env
        .iris()
        .args(&args)
        .env("IRIS_CLI_TEST_CLOCK_SKEW_SECS", "600"));
    assert_setosa(&r);
    let warning = r
        .stderr
        .lines()
        .find(|l| l.contains("warning: the local clock is"))
        .unwrap_or_else(|| panic!("{}", r.stderr));
    let secs: i64 = warning
        .split("clock is ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((599..=601).contains(&secs), "{warning}");
    assert!(warning.contains("ahead of"), "{warning}");
    let stats = emu.stats();
    assert_eq!((stats.requests, stats.accepted), (2, 1), "{stats:?}");
}

#[test]
fn dry_run_explains_and_sends_nothing() {
    let env = Env::new();
    let emu = emulator();
    let url = emu.invoke_url();
    let r = run(env
        .iris()
        .args([
            "predict",
            "--url",
            &url,
            "--region",
            "us-east-1",
            "--data",
            SETOSA,
            "--dry-run",
            "-H",
            "X-Trace: abc",
        ])
        .args([
            "--access-key",
            TEST_TEMP_ACCESS_KEY,
            "--secret-key",
            TEST_TEMP_SECRET_KEY,
            "--session-token",
            TEST_SESSION_TOKEN,
        ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(
            "# Canonical request\nPOST\n/species/irispredict\n\naccept:application/json\ncontent-type:application/json\n"
        ),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("\nx-trace:abc\n"), "{}", r.stdout);
    assert!(
        r.stdout.contains("x-amz-security-token:<redacted>"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("# Signed headers\naccept;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-trace\n"), "{}", r.stdout);
    assert!(r.stdout.contains("Signature=<redacted>"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("curl --aws-sigv4 'aws:amz:us-east-1:execute-api'"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("Signature=0") && !has_signature_hex(&r.stdout),
        "{}",
        r.stdout
    );
    assert_eq!(emu.stats().requests, 0);
}

fn has_signature_hex(text: &str) -> bool {
    text.split("Signature=").skip(1).any(|rest| {
        rest.chars()
            .take(64)
            .filter(|c| c.is_ascii_hexdigit())
            .count()
            == 64
    })
}

#[test]
fn verbose_prints_headers_with_secrets_redacted() {
    let env = Env::new();
    let emu = emulator();
    let url = emu.invoke_url();
    let mut args = flags_args(&url);
    args.extend([
        "-v",
        "--access-key",
        TEST_ACCESS_KEY,
        "--secret-key",
        TEST_SECRET_KEY,
    ]);
    let r = run(env.iris().args(&args));
    assert_setosa(&r);
    assert!(
        r.stderr
            .contains("> authorization: AWS4-HMAC-SHA256 Credential=AKIAIRISLOCALTEST001/"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("Signature=<redacted>"), "{}", r.stderr);
    assert!(!has_signature_hex(&r.stderr), "{}", r.stderr);
    assert!(
        r.stderr.to_ascii_lowercase().contains("< server-timing: "),
        "{}",
        r.stderr
    );
}

#[test]
fn sagemaker_direct_and_model_errors() {
    let env = Env::new();
    let emu = emulator();
    let ep = emu.endpoint_url();
    let base = [
        "predict",
        "--endpoint-name",
        "iris-xgb",
        "--endpoint-url",
        ep.as_str(),
        "--region",
        "us-east-1",
        "--access-key",
        TEST_ACCESS_KEY,
        "--secret-key",
        TEST_SECRET_KEY,
    ];
    let r = run(env.iris().args(base).args([
        "--data",
        "5.1,3.5,1.4,0.2;6.6,3.0,4.4,1.4",
        "-o",
        "json",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = json(&r);
    assert_eq!(v["predictions"][1]["species"], "versicolor");
    assert_eq!(
        v["predictions"][1]["probabilities"].to_string(),
        "[0.02417280524969101,0.9513594508171082,0.024467801675200462]"
    );
    // Three features where the model takes four: ModelError 424 wrapping the container's 400.
    let r = run(env.iris().args(base).args(["--data", "1,2,3"]));
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.starts_with("iris-cli: error: 424 ModelError: the model container rejected the request (400): Unable to evaluate payload provided: Feature size of csv inference data 3 is not consistent with feature size of trained model 4."), "{}", r.stderr);
    // An unknown endpoint.
    let r = run(env.iris().args([
        "predict",
        "--endpoint-name",
        "nope",
        "--endpoint-url",
        &ep,
        "--region",
        "us-east-1",
        "--access-key",
        TEST_ACCESS_KEY,
        "--secret-key",
        TEST_SECRET_KEY,
        "--data",
        SETOSA,
    ]));
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("400 ValidationError: Endpoint nope of account 123456789012 not found."),
        "{}",
        r.stderr
    );
    assert_eq!(emu.stats().panics, 0);
}

#[test]
fn lambda_errors_and_missing_routes() {
    let env = Env::new();
    let emu = emulator();
    let url = emu.invoke_url();
    let creds = [
        "--region",
        "us-east-1",
        "--access-key",
        TEST_ACCESS_KEY,
        "--secret-key",
        TEST_SECRET_KEY,
    ];
    // Non-proxy: the function's error comes back as 200 with errorMessage.
    let r = run(env
        .iris()
        .args(["predict", "--url", &url, "--data", "1,2,3"])
        .args(creds));
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with("iris-cli: error: the Lambda function failed: "),
        "{}",
        r.stderr
    );
    // A raw body without "data".
    let r = run(env
        .iris()
        .args(["predict", "--url", &url, "--body", r#"{"rows":"1,2"}"#])
        .args(creds));
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("KeyError"), "{}", r.stderr);
    // A stage that does not exist: API Gateway's Missing Authentication Token, with the hint.
    let bad = url.replace("/species/", "/prod/");
    let r = run(env
        .iris()
        .args(["predict", "--url", &bad, "--data", SETOSA])
        .args(creds));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.starts_with("iris-cli: error: 403 MissingAuthenticationTokenException: Missing Authentication Token"), "{}", r.stderr);
    assert!(
        r.stderr.contains("path or method that does not exist"),
        "{}",
        r.stderr
    );
}

#[test]
fn iam_deny_is_exit_3() {
    let env = Env::new();
    let cfg = EmulatorConfig {
        keys: KeyStore::from_principals(vec![Principal {
            access_key: "AKIANOINVOKE00000001".into(),
            secret_key: "noInvokeSecret".into(),
            session_token: None,
            arn: "arn:aws:iam::123456789012:user/reader".into(),
            actions: vec![Action::SageMakerInvokeEndpoint],
        }]),
        ..EmulatorConfig::default()
    };
    let emu = Emulator::start_in_thread(cfg).unwrap();
    let url = emu.invoke_url();
    let r = run(env.iris().args([
        "predict",
        "--url",
        &url,
        "--region",
        "us-east-1",
        "--data",
        SETOSA,
        "--access-key",
        "AKIANOINVOKE00000001",
        "--secret-key",
        "noInvokeSecret",
    ]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("403 AccessDeniedException: User: arn:aws:iam::123456789012:user/reader is not authorized to perform: execute-api:Invoke"), "{}", r.stderr);
    assert!(
        r.stderr.contains("grant execute-api:Invoke"),
        "{}",
        r.stderr
    );
}

#[test]
fn bodies_from_file_and_stdin() {
    let env = Env::new();
    let emu = emulator();
    let url = emu.invoke_url();
    let file = env.write("body.json", &format!("{{\"data\":\"{SETOSA}\"}}"));
    let creds = [
        "--region",
        "us-east-1",
        "--access-key",
        TEST_ACCESS_KEY,
        "--secret-key",
        TEST_SECRET_KEY,
        "-o",
        "json",
    ];
    assert_setosa(&run(env
        .iris()
        .args(["predict", "--url", &url, "--body-file"])
        .arg(&file)
        .args(creds)));
    assert_setosa(&run(env
        .iris()
        .args(["predict", "--url", &url, "-"])
        .args(creds)
        .write_stdin(format!("{{\"data\":\"{SETOSA}\"}}"))));
    assert_setosa(&run(env
        .iris()
        .args([
            "predict",
            "--url",
            &url,
            "--body",
            &format!("{{\"data\":\"{SETOSA}\"}}"),
        ])
        .args(creds)));
    assert_all_accepted(&emu, 3);
    let r = run(env
        .iris()
        .args(["predict", "--url", &url, "--body-file"])
        .arg(env.path("missing.json"))
        .args(creds));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("cannot read --body-file") && r.stderr.contains("missing.json"),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_input_is_a_clear_usage_error() {
    let env = Env::new();
    let cases: &[(&[&str], &str)] = &[
        (
            &["predict", "--local", "--data", "5.1,abc,1.4,0.2"],
            "--data row 1, column 2: 'abc' is not a number",
        ),
        (
            &["predict", "--local", "--data", "1,2,3,4;1,2"],
            "--data row 2 has 2 columns but row 1 has 4",
        ),
        (
            &[
                "predict",
                "--url",
                "https://api.example.com/prod/irispredict",
                "--data",
                SETOSA,
            ],
            "cannot infer the signing region from host 'api.example.com'",
        ),
        (
            &[
                "predict",
                "--url",
                "not a url",
                "--data",
                SETOSA,
                "--region",
                "us-east-1",
            ],
            "invalid --url 'not a url'",
        ),
        (&["predict", "--local"], "nothing to send"),
        (
            &["predict", "--local", "--data", SETOSA, "-H", "NoColon"],
            "expected 'Name: value'",
        ),
        (
            &[
                "predict",
                "--endpoint-name",
                "bad_name",
                "--region",
                "us-east-1",
                "--data",
                SETOSA,
            ],
            "invalid --endpoint-name 'bad_name'",
        ),
    ];
    for (args, want) in cases {
        let r = run(env.iris().args(*args));
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        let first = r.stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("iris-cli: error: ") && first.contains(want),
            "{args:?}: {}",
            r.stderr
        );
    }
}

#[test]
fn connection_refused_is_exit_6() {
    let env = Env::new();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/species/irispredict");
    let r = run(env.iris().args(flags_args(&url)).args([
        "--access-key",
        TEST_ACCESS_KEY,
        "--secret-key",
        TEST_SECRET_KEY,
    ]));
    assert_eq!(r.code, 6, "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with(&format!("iris-cli: error: {url} connection failed")),
        "{}",
        r.stderr
    );
}

#[test]
fn completions_and_man() {
    let env = Env::new();
    let r = run(env.iris().args(["completions", "bash"]));
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("iris-cli") && r.stdout.contains("--endpoint-name"));
    let r = run(env.iris().arg("man"));
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.starts_with(".ie") || r.stdout.contains(".TH iris-cli"),
        "{}",
        &r.stdout[..200.min(r.stdout.len())]
    );
}

#[test]
fn slow_endpoint_times_out_with_exit_6() {
    use iris_cli::emulator::{Faults, Latencies, LatencyDist};
    let env = Env::new();
    let cfg = EmulatorConfig {
        faults: Faults {
            latency: Latencies {
                lambda: Some(LatencyDist::Fixed(std::time::Duration::from_secs(3))),
                ..Latencies::default()
            },
            ..Faults::default()
        },
        ..EmulatorConfig::default()
    };
    let emu = Emulator::start_in_thread(cfg).unwrap();
    let url = emu.invoke_url();
    let r = run(env.iris().args(flags_args(&url)).args([
        "--timeout",
        "300ms",
        "--access-key",
        TEST_ACCESS_KEY,
        "--secret-key",
        TEST_SECRET_KEY,
    ]));
    assert_eq!(r.code, 6, "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with(&format!("iris-cli: error: {url} timed out")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--timeout"), "{}", r.stderr);
}

#[test]
fn tls_options_fail_clearly() {
    let env = Env::new();
    let bad = env.write("not-a-cert.pem", "hello");
    let r = run(env
        .iris()
        .args(["predict", "--local", "--data", SETOSA, "--ca-bundle"])
        .arg(&bad));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("--ca-bundle") && r.stderr.contains("not-a-cert.pem"),
        "{}",
        r.stderr
    );
    let r = run(env
        .iris()
        .args(["predict", "--local", "--data", SETOSA, "--insecure"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("warning: --insecure"), "{}", r.stderr);
}

/// What a user gets after pasting `iris-cli serve`'s export lines into a shell.
#[test]
fn serve_exports_are_enough_to_predict() {
    let env = Env::new();
    let emu = emulator();
    let with_exports = |cmd: &mut Command| {
        cmd.env("IRIS_URL", emu.invoke_url())
            .env("IRIS_ENDPOINT_URL", emu.endpoint_url())
            .env("IRIS_ENDPOINT_NAME", emu.endpoint_name())
            .env("AWS_REGION", emu.region())
            .env("AWS_ACCESS_KEY_ID", TEST_ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", TEST_SECRET_KEY);
    };
    let mut cmd = env.iris();
    with_exports(&mut cmd);
    assert_setosa(&run(cmd.args(["predict", "--data", SETOSA, "-o", "json"])));
    let mut cmd = env.iris();
    with_exports(&mut cmd);
    let r = run(cmd.args([
        "predict",
        "--endpoint-name",
        "iris-xgb",
        "--data",
        SETOSA,
        "-o",
        "json",
    ]));
    assert_setosa(&r);
    let stats = emu.stats();
    assert_eq!(
        (stats.apigw_requests, stats.sagemaker_requests),
        (1, 1),
        "{stats:?}"
    );
    assert_all_accepted(&emu, 2);
}

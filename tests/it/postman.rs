//! Postman, both ways: Newman runs the collection `serve --postman DIR` exports against that
//! server (every assertion must pass), and `predict`/`bench`/`batch --postman-collection FILE
//! --request NAME` run a request of a user's collection with `awsv4` auth, signing with
//! iris-cli's credentials, never the keys pasted into the file.

use serde_json::{json, Value};

use crate::common::{run, Env, Serve, WRONG_SECRET};

/// Newman: `IRIS_TEST_NEWMAN` (tests/run.sh installs it into .venv/newman), else `newman` on
/// PATH, else None (the test says it skipped).
fn newman() -> Option<String> {
    if let Some(p) = std::env::var("IRIS_TEST_NEWMAN")
        .ok()
        .filter(|p| !p.is_empty())
    {
        return Some(p);
    }
    let found = std::process::Command::new("sh")
        .args(["-c", "command -v newman"])
        .output()
        .ok()?;
    found
        .status
        .success()
        .then(|| String::from_utf8_lossy(&found.stdout).trim().to_string())
}

#[test]
fn newman_runs_the_exported_collection_against_serve() {
    let Some(newman) = newman() else {
        eprintln!("SKIP: newman not found (tests/run.sh installs it when npm is there)");
        return;
    };
    let env = Env::new();
    let serve = Serve::start(&env, &["--postman", "pm"]);
    let collection = env.path("pm/iris-cli.postman_collection.json");
    let environment = env.path("pm/iris-cli.postman_environment.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&environment).unwrap()).unwrap();
    let url = doc["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["key"] == "IRIS_URL")
        .unwrap()["value"]
        .clone();
    assert_eq!(url, serve.get("IRIS_URL"));

    let mut cmd = assert_cmd::Command::from_std(env.scrubbed(&newman));
    cmd.args(["run"])
        .arg(&collection)
        .arg("-e")
        .arg(&environment)
        .args([
            "--reporters",
            "cli,json",
            "--reporter-json-export",
            "newman.json",
            "--timeout-request",
            "10000",
            "--color",
            "off",
        ])
        .env("NO_PROXY", "127.0.0.1,localhost")
        .timeout(std::time::Duration::from_secs(60));
    let r = run(&mut cmd);
    assert_eq!(r.code, 0, "newman failed:\n{}\n{}", r.stdout, r.stderr);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(env.path("newman.json")).unwrap()).unwrap();
    let stats = &report["run"]["stats"];
    assert_eq!(stats["requests"]["total"], 4, "{stats}");
    assert_eq!(stats["requests"]["failed"], 0, "{stats}");
    assert_eq!(stats["assertions"]["failed"], 0, "{stats}");
    assert!(
        stats["assertions"]["total"].as_u64().unwrap() >= 9,
        "{stats}"
    );
    // The negative request really was refused by the emulator's signature check.
    let codes: Vec<u64> = report["run"]["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["code"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, [200, 200, 200, 403]);
}

#[test]
fn keys_from_a_credentials_file_are_not_written_into_the_environment() {
    let env = Env::new();
    let secret = "fileSecretKeyNeverWrittenAnywhere0000001";
    env.write(
        "keys.json",
        &json!({"keys": [{"access_key": "AKIAFILEKEY000000001", "secret_key": secret,
            "arn": "arn:aws:iam::123456789012:user/x", "actions": ["execute-api:Invoke", "sagemaker:InvokeEndpoint"]}]})
        .to_string(),
    );
    let _serve = Serve::start(&env, &["--credentials", "keys.json", "--postman", "pm"]);
    let text = std::fs::read_to_string(env.path("pm/iris-cli.postman_environment.json")).unwrap();
    assert!(!text.contains(secret), "{text}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    let values = doc["values"].as_array().unwrap();
    let get = |k: &str| values.iter().find(|v| v["key"] == k).unwrap()["value"].clone();
    assert_eq!(get("AWS_ACCESS_KEY_ID"), "AKIAFILEKEY000000001");
    assert_eq!(get("AWS_SECRET_ACCESS_KEY"), "");
    assert!(doc["description"].as_str().unwrap().contains("keys.json"));
}

/// A collection as a user exports it from Postman: a {{baseUrl}} variable, a folder, AWS
/// Signature auth on the collection with keys pasted in (wrong ones, so a request signed with
/// them would be refused), one request overriding the service.
fn users_collection(env: &Env, base: &str) -> std::path::PathBuf {
    let auth = |service: &str| {
        json!({"type": "awsv4", "awsv4": [
            {"key": "accessKey", "value": "AKIAPASTEDINPOSTMAN1", "type": "string"},
            {"key": "secretKey", "value": WRONG_SECRET, "type": "string"},
            {"key": "region", "value": "us-east-1", "type": "string"},
            {"key": "service", "value": service, "type": "string"}
        ]})
    };
    env.write(
        "mine.postman_collection.json",
        &json!({
            "info": {"name": "my iris API", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
            "variable": [{"key": "baseUrl", "value": base}],
            "auth": auth("execute-api"),
            "item": [{"name": "iris", "item": [
                {"name": "classify", "request": {
                    "method": "POST",
                    "header": [{"key": "Content-Type", "value": "application/json"},
                               {"key": "X-Amz-Date", "value": "20200101T000000Z"}],
                    "body": {"mode": "raw", "raw": "{\"data\":\"6.6,3.0,4.4,1.4\"}"},
                    "url": {"raw": "{{baseUrl}}/species/irispredict"}}},
                {"name": "endpoint", "request": {
                    "auth": auth("sagemaker"),
                    "method": "POST",
                    "header": [{"key": "Content-Type", "value": "text/csv"}],
                    "body": {"mode": "raw", "raw": "6.6,3.0,4.4,1.4"},
                    "url": "{{baseUrl}}/endpoints/iris-xgb/invocations"}}
            ]}]
        })
        .to_string(),
    )
}

#[test]
fn predict_bench_and_batch_run_a_request_from_a_users_collection() {
    let env = Env::new();
    let serve = Serve::start(&env, &[]);
    let file = users_collection(&env, serve.get("IRIS_ENDPOINT_URL"));
    let chain = |cmd: &mut assert_cmd::Command| {
        // The AWS chain (environment), as a user's shell would have it.
        cmd.env("AWS_ACCESS_KEY_ID", serve.get("AWS_ACCESS_KEY_ID"))
            .env("AWS_SECRET_ACCESS_KEY", serve.get("AWS_SECRET_ACCESS_KEY"));
    };
    let collection = file.to_str().unwrap();

    let mut cmd = env.iris();
    cmd.args([
        "predict",
        "--postman-collection",
        collection,
        "--request",
        "classify",
        "-o",
        "json",
    ]);
    chain(&mut cmd);
    let r = run(&mut cmd);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(out["species"], "versicolor", "{out}");

    let mut cmd = env.iris();
    cmd.args([
        "predict",
        "--postman-collection",
        collection,
        "--request",
        "iris/endpoint",
        "-o",
        "json",
    ]);
    chain(&mut cmd);
    let r = run(&mut cmd);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(out["species"], "versicolor", "{out}");

    let mut cmd = env.iris();
    cmd.args([
        "bench",
        "--postman-collection",
        collection,
        "--request",
        "classify",
        "--requests",
        "20",
        "--concurrency",
        "2",
        "-o",
        "json",
        "-q",
    ]);
    chain(&mut cmd);
    let r = run(&mut cmd);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["requests"]["ok"], 20, "{report}");

    let mut cmd = env.iris();
    let flowers = concat!(env!("CARGO_MANIFEST_DIR"), "/payloads/flowers.csv");
    cmd.args([
        "batch",
        "--postman-collection",
        collection,
        "--request",
        "endpoint",
        flowers,
        "-q",
    ]);
    chain(&mut cmd);
    let r = run(&mut cmd);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 151, "{}", r.stdout);

    // Without credentials of its own, iris-cli does not fall back to the pasted keys.
    let r = run(env.iris().args([
        "predict",
        "--postman-collection",
        collection,
        "--request",
        "classify",
    ]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("no AWS credentials found"),
        "{}",
        r.stderr
    );

    let r = run(env.iris().args([
        "predict",
        "--postman-collection",
        collection,
        "--request",
        "nope",
    ]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("'iris/classify'"), "{}", r.stderr);
    let r = run(env
        .iris()
        .args(["predict", "--postman-collection", collection]));
    assert_eq!(r.code, 2, "{}", r.stderr);
}

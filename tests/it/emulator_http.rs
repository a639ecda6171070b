//! The emulator on the wire: requests signed with aws-sigv4 (the AWS SDK's signer), sent with
//! reqwest to an in-process emulator on 127.0.0.1:0, answers checked byte for byte against
//! AWS_WIRE.md.

use crate::common;

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use iris_cli::emulator::auth::{self, Action, KeyStore, Principal};
use iris_cli::emulator::{Emulator, EmulatorConfig, Faults, Integration, Latencies, Stats};
use sha2::{Digest, Sha256};

const ROW1: &str = "5.1,3.5,1.4,0.2";
const ROW2: &str = "6.6,3.0,4.4,1.4";
const PROBS1: &str = "0.9531188011169434,0.024485334753990173,0.022395867854356766";
const PROBS2: &str = "0.02417280524969101,0.9513594508171082,0.024467801675200462";

fn test_creds() -> Credentials {
    Credentials::new(
        auth::TEST_ACCESS_KEY,
        auth::TEST_SECRET_KEY,
        None,
        None,
        "test",
    )
}

fn temp_creds() -> Credentials {
    Credentials::new(
        auth::TEST_TEMP_ACCESS_KEY,
        auth::TEST_TEMP_SECRET_KEY,
        Some(auth::TEST_SESSION_TOKEN.to_string()),
        None,
        "test",
    )
}

/// Headers aws-sigv4 adds for this request (Authorization, X-Amz-Date, maybe the token).
fn sign_headers(
    creds: &Credentials,
    service: &str,
    region: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    time: SystemTime,
) -> Vec<(String, String)> {
    let identity = creds.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        "POST",
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions
        .headers()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// What to sign with: credentials, service, region, time.
#[derive(Clone)]
struct Signing {
    creds: Credentials,
    service: &'static str,
    region: &'static str,
    time: SystemTime,
}

fn signing(service: &'static str) -> Option<Signing> {
    Some(Signing {
        creds: test_creds(),
        service,
        region: "us-east-1",
        time: SystemTime::now(),
    })
}

/// POST `body` to `url` with `headers`; signs over `signed_body` (normally `body`).
async fn post_raw(
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
    signed_body: &str,
    s: Option<Signing>,
) -> Result<Reply, reqwest::Error> {
    let mut req = client().post(url).body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(s) = s {
        for (k, v) in sign_headers(
            &s.creds,
            s.service,
            s.region,
            url,
            headers,
            signed_body.as_bytes(),
            s.time,
        ) {
            req = req.header(k, v);
        }
    }
    let r = req.send().await?;
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.text().await?;
    Ok(Reply {
        status,
        headers,
        body,
    })
}

async fn post(url: &str, headers: &[(&str, &str)], body: &str, s: Option<Signing>) -> Reply {
    post_raw(url, headers, body, body, s).await.unwrap()
}

const JSON: &[(&str, &str)] = &[("content-type", "application/json")];
const CSV: &[(&str, &str)] = &[("content-type", "text/csv")];

async fn invoke(emu: &Emulator, body: &str) -> Reply {
    post(&emu.invoke_url(), JSON, body, signing("execute-api")).await
}

fn invocations_url(emu: &Emulator, name: &str) -> String {
    format!("{}/endpoints/{name}/invocations", emu.endpoint_url())
}

async fn sagemaker(emu: &Emulator, headers: &[(&str, &str)], body: &str) -> Reply {
    post(
        &invocations_url(emu, emu.endpoint_name()),
        headers,
        body,
        signing("sagemaker"),
    )
    .await
}

async fn start(cfg: EmulatorConfig) -> Emulator {
    Emulator::start(cfg).await.unwrap()
}

fn no_panics(stats: &Stats) {
    assert_eq!(stats.panics, 0, "a handler panicked: {stats:?}");
}

/// `apigw;dur=1.234, lambda;dur=0.5` → {"apigw": 1.234, "lambda": 0.5}
fn parse_server_timing(v: &str) -> HashMap<String, f64> {
    v.split(',')
        .map(|m| {
            let mut it = m.trim().split(';');
            let name = it.next().unwrap().to_string();
            let dur = it
                .find_map(|p| p.trim().strip_prefix("dur="))
                .unwrap_or_else(|| panic!("no dur in {m:?}"))
                .parse::<f64>()
                .unwrap();
            (name, dur)
        })
        .collect()
}

fn assert_uuid(s: &str) {
    let parts: Vec<&str> = s.split('-').collect();
    assert_eq!(
        parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12],
        "not a UUID: {s:?}"
    );
    assert!(s.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
}

fn assert_gateway_headers(r: &Reply) {
    assert_uuid(r.header("x-amzn-requestid"));
    let apigw_id = r.header("x-amz-apigw-id");
    assert_eq!(apigw_id.len(), 16, "{apigw_id:?}");
    assert!(apigw_id.ends_with('='));
    let trace = r.header("x-amzn-trace-id");
    let t: Vec<&str> = trace.split('-').collect();
    assert_eq!(t.len(), 3, "{trace:?}");
    assert_eq!(t[0], "Root=1");
    assert_eq!((t[1].len(), t[2].len()), (8, 24));
    assert!(httpdate::parse_http_date(r.header("date")).is_ok());
    assert_eq!(r.header("content-type"), "application/json");
}

fn lambda_body(rows: &[(&str, u32, &str)]) -> String {
    let preds: Vec<String> = rows
        .iter()
        .map(|(species, idx, probs)| {
            format!(
                "{{\"species\": \"{species}\", \"class_index\": {idx}, \"probabilities\": [{}]}}",
                probs.replace(',', ", ")
            )
        })
        .collect();
    format!("{{\"predictions\": [{}]}}", preds.join(", "))
}

// ---------------------------------------------------------------- happy paths

#[tokio::test]
async fn api_gateway_happy_path_is_byte_exact() {
    let emu = start(EmulatorConfig::default()).await;
    let r = invoke(&emu, &format!("{{\"data\":\"{ROW1}\"}}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        "{\"predictions\": [{\"species\": \"setosa\", \"class_index\": 0, \"probabilities\": [0.9531188011169434, 0.024485334753990173, 0.022395867854356766]}]}"
    );
    assert_gateway_headers(&r);
    assert!(r.headers.get("x-amzn-errortype").is_none());
    let t = parse_server_timing(r.header("server-timing"));
    assert!(
        t["apigw"] >= t["lambda"] && t["lambda"] >= t["sagemaker"],
        "{t:?}"
    );
    let s = emu.stats();
    assert_eq!((s.requests, s.accepted, s.apigw_requests), (1, 1, 1));
    assert_eq!((s.lambda_invocations, s.predictions), (1, 1));
    no_panics(&s);
}

#[tokio::test]
async fn api_gateway_multi_row_in_order() {
    let emu = start(EmulatorConfig::default()).await;
    let r = invoke(&emu, &format!("{{\"data\":\"{ROW1}\\n{ROW2}\\n\"}}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        lambda_body(&[("setosa", 0, PROBS1), ("versicolor", 1, PROBS2)])
    );
}

#[tokio::test]
async fn temporary_credentials_with_session_token_are_accepted() {
    let emu = start(EmulatorConfig::default()).await;
    let mut s = signing("execute-api").unwrap();
    s.creds = temp_creds();
    let r = post(
        &emu.invoke_url(),
        JSON,
        &format!("{{\"data\":\"{ROW1}\"}}"),
        Some(s),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn sagemaker_csv_is_byte_exact() {
    let emu = start(EmulatorConfig::default()).await;
    let r = sagemaker(&emu, CSV, &format!("{ROW1}\n{ROW2}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, format!("{PROBS1}\n{PROBS2}\n"));
    assert_eq!(r.header("content-type"), "text/csv; charset=utf-8");
    assert_eq!(r.header("x-amzn-invoked-production-variant"), "AllTraffic");
    assert_uuid(r.header("x-amzn-requestid"));
    let t = parse_server_timing(r.header("server-timing"));
    assert!(t.contains_key("sagemaker"));
    assert_eq!(emu.stats().sagemaker_requests, 1);
}

#[tokio::test]
async fn sagemaker_json_and_jsonlines() {
    let emu = start(EmulatorConfig::default()).await;
    let body = format!("{ROW1}\n{ROW2}");
    let r = sagemaker(
        &emu,
        &[("content-type", "text/csv"), ("accept", "application/json")],
        &body,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(
        r.body,
        format!(
            "{{\"predictions\": [{{\"score\": [{}]}}, {{\"score\": [{}]}}]}}",
            PROBS1.replace(',', ", "),
            PROBS2.replace(',', ", ")
        )
    );
    let r = sagemaker(
        &emu,
        &[
            ("content-type", "text/csv"),
            ("accept", "application/jsonlines"),
        ],
        &body,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "application/jsonlines");
    assert_eq!(
        r.body,
        format!(
            "{{\"score\": [{}]}}\n{{\"score\": [{}]}}\n",
            PROBS1.replace(',', ", "),
            PROBS2.replace(',', ", ")
        )
    );
    let r = sagemaker(
        &emu,
        &[("content-type", "text/csv"), ("accept", "*/*")],
        ROW1,
    )
    .await;
    assert_eq!((r.status, r.body), (200, format!("{PROBS1}\n")));
}

// ---------------------------------------------------------------- container errors

fn model_error(status: u16, container_body: &str) -> String {
    let group = "/aws/sagemaker/Endpoints/iris-xgb";
    let msg = format!("Received client error ({status}) from primary with message \"{container_body}\". See https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEventViewer:group={group} in account 123456789012 for more information.");
    let q = |s: &str| serde_json::to_string(s).unwrap();
    format!(
        "{{\"ErrorCode\":\"CLIENT_ERROR_FROM_MODEL\",\"LogStreamArn\":\"arn:aws:logs:us-east-1:123456789012:log-group:{group}\",\"Message\":{},\"OriginalMessage\":{},\"OriginalStatusCode\":{status}}}",
        q(&msg),
        q(container_body)
    )
}

#[tokio::test]
async fn sagemaker_feature_count_is_model_error_424() {
    let emu = start(EmulatorConfig::default()).await;
    let r = sagemaker(&emu, CSV, "5.1,3.5,1.4").await;
    assert_eq!(r.status, 424);
    assert_eq!(r.header("x-amzn-errortype"), "ModelError");
    assert_eq!(
        r.body,
        model_error(400, "Unable to evaluate payload provided: Feature size of csv inference data 3 is not consistent with feature size of trained model 4.")
    );
}

#[tokio::test]
async fn sagemaker_204_415_406() {
    let emu = start(EmulatorConfig::default()).await;
    let r = sagemaker(&emu, CSV, "").await;
    assert_eq!((r.status, r.body.as_str()), (204, ""));

    let r = sagemaker(&emu, CSV, "5.1,abc,1.4,0.2").await;
    assert_eq!(r.status, 424);
    assert_eq!(
        r.body,
        model_error(415, "Loading csv data failed with Exception, please ensure data is in csv format:\n <class 'ValueError'>\n could not convert string to float: 'abc'")
    );
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["OriginalStatusCode"], 415);

    let r = sagemaker(&emu, &[("content-type", "application/json")], "{}").await;
    assert_eq!(r.status, 424);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["OriginalStatusCode"], 415);
    assert!(v["OriginalMessage"]
        .as_str()
        .unwrap()
        .starts_with("application/json is not an accepted ContentType"));

    let r = sagemaker(
        &emu,
        &[("content-type", "text/csv"), ("accept", "text/plain")],
        ROW1,
    )
    .await;
    assert_eq!(r.status, 424);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["OriginalStatusCode"], 406);
    assert!(v["OriginalMessage"]
        .as_str()
        .unwrap()
        .starts_with("Accept type text/plain is not supported."));
}

#[tokio::test]
async fn sagemaker_unknown_endpoint_is_validation_error() {
    let emu = start(EmulatorConfig::default()).await;
    let r = post(
        &invocations_url(&emu, "nope"),
        CSV,
        ROW1,
        signing("sagemaker"),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("x-amzn-errortype"), "ValidationError");
    assert_eq!(
        r.body,
        "{\"message\":\"Endpoint nope of account 123456789012 not found.\"}"
    );
}

// ---------------------------------------------------------------- routing and auth

#[tokio::test]
async fn unknown_path_or_method_is_missing_authentication_token() {
    let emu = start(EmulatorConfig::default()).await;
    for path in [
        "/species/other",
        "/",
        "/prod/irispredict",
        "/endpoints//invocations",
    ] {
        let url = format!("{}{path}", emu.endpoint_url());
        let r = post(&url, JSON, "{}", signing("execute-api")).await;
        assert_eq!(r.status, 403, "{path}");
        assert_eq!(r.body, "{\"message\":\"Missing Authentication Token\"}");
        assert_eq!(
            r.header("x-amzn-errortype"),
            "MissingAuthenticationTokenException"
        );
        assert_gateway_headers(&r);
    }
    let r = client().get(emu.invoke_url()).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(emu.stats().unmatched_requests, 5);
}

#[tokio::test]
async fn unsigned_request_is_missing_authentication_token() {
    let emu = start(EmulatorConfig::default()).await;
    let r = post(&emu.invoke_url(), JSON, "{\"data\":\"1,2,3,4\"}", None).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body, "{\"message\":\"Missing Authentication Token\"}");
    assert_eq!(
        r.header("x-amzn-errortype"),
        "MissingAuthenticationTokenException"
    );
    let s = emu.stats();
    assert_eq!(s.accepted, 0);
    assert_eq!(s.rejected["MissingAuthenticationTokenException"], 1);
}

fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

#[tokio::test]
async fn tampered_body_gets_invalid_signature_with_canonical_echo() {
    let emu = start(EmulatorConfig::default()).await;
    let sent = "{\"data\":\"6.6,3.0,4.4,1.4\"}";
    let s = signing("execute-api").unwrap();
    // aws-sigv4 stamps the signing time; sign once more at the same time to learn it.
    let amz_date = sign_headers(
        &s.creds,
        s.service,
        s.region,
        &emu.invoke_url(),
        JSON,
        b"x",
        s.time,
    )
    .into_iter()
    .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-date"))
    .unwrap()
    .1;
    let r = post_raw(
        &emu.invoke_url(),
        JSON,
        sent,
        "{\"data\":\"5.1,3.5,1.4,0.2\"}",
        Some(s),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-amzn-errortype"), "InvalidSignatureException");
    let canonical = format!(
        "POST\n/species/irispredict\n\ncontent-type:application/json\nhost:{}\nx-amz-date:{amz_date}\n\ncontent-type;host;x-amz-date\n{}",
        emu.local_addr(),
        sha_hex(sent.as_bytes())
    );
    let sts = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{}/us-east-1/execute-api/aws4_request\n{}",
        &amz_date[..8],
        sha_hex(canonical.as_bytes())
    );
    let message = format!("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request should have been\n'{canonical}'\n\nThe String-to-Sign should have been\n'{sts}'\n");
    assert_eq!(
        r.body,
        format!(
            "{{\"message\":{}}}",
            serde_json::to_string(&message).unwrap()
        )
    );
    assert_eq!(emu.stats().rejected["InvalidSignatureException"], 1);
}

#[tokio::test]
async fn auth_rejections_have_aws_status_type_and_body() {
    let emu = start(EmulatorConfig::default()).await;
    let url = emu.invoke_url();
    let body = format!("{{\"data\":\"{ROW1}\"}}");

    // Unknown access key.
    let mut s = signing("execute-api").unwrap();
    s.creds = Credentials::new("AKIAUNKNOWNKEY000000", "x", None, None, "test");
    let r = post(&url, JSON, &body, Some(s)).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-amzn-errortype"), "UnrecognizedClientException");
    assert_eq!(
        r.body,
        "{\"message\":\"The security token included in the request is invalid.\"}"
    );

    // Wrong region and wrong service in the scope.
    let mut s = signing("execute-api").unwrap();
    s.region = "eu-west-1";
    let r = post(&url, JSON, &body, Some(s)).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-amzn-errortype"), "InvalidSignatureException");
    assert_eq!(
        r.body,
        "{\"message\":\"Credential should be scoped to a valid region, not 'eu-west-1'.\"}"
    );
    let r = post(&url, JSON, &body, signing("sagemaker")).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.body,
        "{\"message\":\"Credential should be scoped to correct service: 'execute-api'.\"}"
    );

    // Signed ten minutes ago: expired.
    let mut s = signing("execute-api").unwrap();
    s.time = SystemTime::now() - Duration::from_secs(600);
    let r = post(&url, JSON, &body, Some(s)).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-amzn-errortype"), "InvalidSignatureException");
    assert!(
        r.body.starts_with("{\"message\":\"Signature expired: "),
        "{}",
        r.body
    );

    // Authorization header with parts missing.
    let auth_value = "AWS4-HMAC-SHA256 Credential=AKIAIRISLOCALTEST001/20240101/us-east-1/execute-api/aws4_request";
    let r = post(
        &url,
        &[
            ("content-type", "application/json"),
            ("authorization", auth_value),
        ],
        &body,
        None,
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-amzn-errortype"), "IncompleteSignatureException");
    assert_eq!(
        r.body,
        format!("{{\"message\":\"Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={auth_value}\"}}")
    );
    let s = emu.stats();
    assert_eq!(s.accepted, 0);
    no_panics(&s);
}

fn restricted_keys() -> KeyStore {
    KeyStore::from_principals(vec![Principal {
        access_key: "AKIAIRISSAGEMAKERONLY".into(),
        secret_key: "sagemakerOnlySecret000000000000000000000".into(),
        session_token: None,
        arn: "arn:aws:iam::123456789012:user/sm-only".into(),
        actions: vec![Action::SageMakerInvokeEndpoint],
    }])
}

#[tokio::test]
async fn iam_deny_has_capital_m_message() {
    let emu = start(EmulatorConfig {
        keys: restricted_keys(),
        ..Default::default()
    })
    .await;
    let mut s = signing("execute-api").unwrap();
    s.creds = Credentials::new(
        "AKIAIRISSAGEMAKERONLY",
        "sagemakerOnlySecret000000000000000000000",
        None,
        None,
        "test",
    );
    let r = post(
        &emu.invoke_url(),
        JSON,
        &format!("{{\"data\":\"{ROW1}\"}}"),
        Some(s.clone()),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-amzn-errortype"), "AccessDeniedException");
    assert_eq!(
        r.body,
        "{\"Message\":\"User: arn:aws:iam::123456789012:user/sm-only is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:123456789012:irislocal01/species/POST/irispredict\"}"
    );
    // The same key may call SageMaker.
    s.service = "sagemaker";
    let r = post(&invocations_url(&emu, "iris-xgb"), CSV, ROW1, Some(s)).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

// ---------------------------------------------------------------- Lambda behaviour

#[tokio::test]
async fn non_proxy_function_errors_are_200_with_error_object() {
    let emu = start(EmulatorConfig::default()).await;
    let r = invoke(&emu, "{\"rows\":\"1,2,3,4\"}").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        "{\"errorMessage\": \"'data'\", \"errorType\": \"KeyError\", \"stackTrace\": [\"  File \\\"/var/task/lambda_function.py\\\", line 12, in lambda_handler\\n    data = event[\\\"data\\\"]\\n\"]}"
    );
    assert!(r.headers.get("x-amzn-errortype").is_none());

    let r = invoke(&emu, "{\"data\":\"5.1,3.5,1.4\"}").await;
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["errorType"], "ModelError");
    assert_eq!(
        v["errorMessage"],
        "An error occurred (ModelError) when calling the InvokeEndpoint operation: Received client error (400) from primary with message \"Unable to evaluate payload provided: Feature size of csv inference data 3 is not consistent with feature size of trained model 4.\". See https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEventViewer:group=/aws/sagemaker/Endpoints/iris-xgb in account 123456789012 for more information."
    );
    assert!(r.body.starts_with("{\"errorMessage\": \"An error occurred"));

    let r = invoke(&emu, "{\"data\": 5}").await;
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["errorType"], "ParamValidationError");

    // Not JSON: Lambda refuses the event, API Gateway answers 500.
    let r = invoke(&emu, "data=1,2,3,4").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.body, "{\"message\": \"Internal server error\"}");
}

#[tokio::test]
async fn proxy_function_errors_are_502() {
    let emu = start(EmulatorConfig {
        integration: Integration::Proxy,
        ..Default::default()
    })
    .await;
    let r = invoke(&emu, "{\"rows\":\"1,2,3,4\"}").await;
    assert_eq!(r.status, 502);
    assert_eq!(r.body, "{\"message\": \"Internal server error\"}");
    assert_eq!(r.header("x-amzn-errortype"), "InternalServerErrorException");
    assert_gateway_headers(&r);
    let r = invoke(&emu, &format!("{{\"data\":\"{ROW1}\"}}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, lambda_body(&[("setosa", 0, PROBS1)]));
    assert_eq!(r.header("content-type"), "application/json");
}

#[tokio::test]
async fn lambda_concurrency_limit_gives_500() {
    let emu = start(EmulatorConfig {
        lambda_concurrency: 1,
        faults: Faults {
            latency: Latencies::parse("lambda=1500ms").unwrap(),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let body = format!("{{\"data\":\"{ROW1}\"}}");
    let (a, b) = tokio::join!(invoke(&emu, &body), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        invoke(&emu, &body).await
    });
    assert_eq!(a.status, 200);
    assert_eq!(b.status, 500);
    assert_eq!(b.body, "{\"message\": \"Internal server error\"}");
    let s = emu.stats();
    assert_eq!((s.lambda_invocations, s.lambda_throttled), (1, 1));
}

#[tokio::test]
async fn cold_start_only_on_first_invocation() {
    let emu = start(EmulatorConfig {
        cold_start: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    let body = format!("{{\"data\":\"{ROW1}\"}}");
    let t = Instant::now();
    assert_eq!(invoke(&emu, &body).await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(invoke(&emu, &body).await.status, 200);
    let s = emu.stats();
    assert_eq!((s.lambda_invocations, s.cold_starts), (2, 1));
}

// ---------------------------------------------------------------- faults

#[tokio::test]
async fn throttling_answers_429_after_the_burst() {
    let emu = start(EmulatorConfig {
        faults: Faults {
            // One token per 1000 s: nothing refills during the test.
            throttle_rps: Some(0.001),
            burst: Some(3),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let body = format!("{{\"data\":\"{ROW1}\"}}");
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = invoke(&emu, &body).await;
        if r.status == 429 {
            assert_eq!(r.body, "{\"message\":\"Too Many Requests\"}");
            assert_gateway_headers(&r);
        }
        statuses.push(r.status);
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429]);
    assert_eq!(emu.stats().throttled, 3);
}

#[tokio::test]
async fn drop_rate_closes_connections_without_response() {
    let emu = start(EmulatorConfig {
        faults: Faults {
            drop_rate: 1.0,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let err = post_raw(&emu.invoke_url(), JSON, "{}", "{}", signing("execute-api"))
        .await
        .err()
        .expect("the connection should close without a response");
    assert!(!err.is_status());
    assert_eq!(emu.stats().dropped, 1);
}

#[tokio::test]
async fn error_rate_is_deterministic_per_seed() {
    async fn run(seed: u64) -> Vec<u16> {
        let emu = start(EmulatorConfig {
            seed,
            faults: Faults {
                error_rate: 0.5,
                ..Default::default()
            },
            ..Default::default()
        })
        .await;
        let mut v = Vec::new();
        for _ in 0..24 {
            let r = invoke(&emu, &format!("{{\"data\":\"{ROW1}\"}}")).await;
            if r.status == 504 {
                assert_eq!(r.body, "{\"message\": \"Endpoint request timed out\"}");
            } else if r.status == 500 {
                assert_eq!(r.body, "{\"message\": \"Internal server error\"}");
            }
            v.push(r.status);
        }
        no_panics(&emu.stats());
        v
    }
    let a = run(7).await;
    let b = run(7).await;
    assert_eq!(a, b);
    assert!(a.contains(&200));
    assert!(a.iter().any(|s| *s >= 500), "{a:?}");
}

#[tokio::test]
async fn sagemaker_error_rate_gives_503_or_500() {
    let emu = start(EmulatorConfig {
        faults: Faults {
            error_rate: 1.0,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    for _ in 0..8 {
        let r = sagemaker(&emu, CSV, ROW1).await;
        match r.status {
            503 => assert_eq!(r.header("x-amzn-errortype"), "ServiceUnavailable"),
            500 => assert_eq!(r.header("x-amzn-errortype"), "InternalFailure"),
            s => panic!("unexpected {s}"),
        }
    }
    assert_eq!(emu.stats().injected_errors, 8);
}

#[tokio::test]
async fn stall_holds_responses_until_the_window_ends() {
    let t0 = Instant::now();
    let emu = start(EmulatorConfig {
        faults: Faults {
            stall_at: Some(Duration::ZERO),
            stall_for: Some(Duration::from_millis(800)),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let r = invoke(&emu, &format!("{{\"data\":\"{ROW1}\"}}")).await;
    assert_eq!(r.status, 200);
    // Held until the window, which opened after t0, closed.
    assert!(t0.elapsed() >= Duration::from_millis(800));
}

#[tokio::test]
async fn latency_shows_in_server_timing() {
    let emu = start(EmulatorConfig {
        faults: Faults {
            latency: Latencies::parse("model=20ms,lambda=10ms").unwrap(),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let r = invoke(&emu, &format!("{{\"data\":\"{ROW1}\"}}")).await;
    let t = parse_server_timing(r.header("server-timing"));
    assert!(t["sagemaker"] >= 20.0, "{t:?}");
    assert!(t["lambda"] >= 30.0, "{t:?}");
    assert!(t["apigw"] >= t["lambda"], "{t:?}");
}

// ---------------------------------------------------------------- observability and lifecycle

#[tokio::test]
async fn access_log_has_one_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let emu = start(EmulatorConfig {
        access_log: Some(path.clone()),
        ..Default::default()
    })
    .await;
    let ok = invoke(&emu, &format!("{{\"data\":\"{ROW1}\"}}")).await;
    let denied = post(&emu.invoke_url(), JSON, "{}", None).await;
    let sm = sagemaker(&emu, CSV, ROW1).await;
    emu.shutdown().await;
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    let ids: Vec<&str> = lines
        .iter()
        .map(|l| l["requestId"].as_str().unwrap())
        .collect();
    for (reply, line) in [&ok, &denied, &sm].iter().zip(&lines) {
        assert!(ids.contains(&reply.header("x-amzn-requestid")));
        let _ = line;
    }
    let by_id = |r: &Reply| {
        lines
            .iter()
            .find(|l| l["requestId"] == r.header("x-amzn-requestid"))
            .unwrap()
            .clone()
    };
    let l = by_id(&ok);
    assert_eq!(
        (l["status"].as_u64(), l["errorType"].as_str()),
        (Some(200), Some("-"))
    );
    assert!(l["integrationLatency"].as_f64().unwrap() <= l["responseLatency"].as_f64().unwrap());
    let l = by_id(&denied);
    assert_eq!(l["status"], 403);
    assert_eq!(l["errorType"], "MissingAuthenticationTokenException");
    assert_eq!(l["integrationLatency"], "-");
    assert_eq!(by_id(&sm)["route"], "sagemaker");
}

#[tokio::test]
async fn many_signed_requests_all_verified() {
    let emu = start(EmulatorConfig::default()).await;
    let body = format!("{{\"data\":\"{ROW1}\"}}");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let url = emu.invoke_url();
        let body = body.clone();
        tasks.spawn(async move {
            for _ in 0..50 {
                let r = post(&url, JSON, &body, signing("execute-api")).await;
                assert_eq!(r.status, 200);
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let s = emu.stats();
    assert_eq!((s.requests, s.accepted, s.predictions), (500, 500, 500));
    assert_eq!(s.by_status.get(&200), Some(&500));
    assert!(s.rejected.is_empty());
    no_panics(&s);
}

#[test]
fn start_in_thread_serves_and_stops_on_drop() {
    let emu = Emulator::start_in_thread(EmulatorConfig::default()).unwrap();
    let addr = emu.local_addr();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = rt.block_on(post(
        &format!("http://{addr}/endpoints/iris-xgb/invocations"),
        CSV,
        ROW1,
        signing("sagemaker"),
    ));
    assert_eq!(r.status, 200);
    drop(emu);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still listening after drop"
    );
}

// ---------------------------------------------------------------- the real AWS SDK

/// boto3/botocore against the emulator (tests/python/test_boto.py). Fails, not skips, when
/// botocore is missing: the test command (tests/run.sh) installs it into `.venv`.
#[test]
fn boto3_and_botocore_talk_to_the_emulator() {
    let probe = std::process::Command::new(python())
        .args(["-c", "import botocore, boto3, pytest"])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}; {}", common::python_program(), common::PYTHON_HINT));
    assert!(
        probe.status.success(),
        "boto3, botocore and pytest must be importable by {} ({}): {}",
        common::python_program(),
        common::PYTHON_HINT,
        String::from_utf8_lossy(&probe.stderr)
    );
    let emu = Emulator::start_in_thread(EmulatorConfig::default()).unwrap();
    let throttled = Emulator::start_in_thread(EmulatorConfig {
        sagemaker: iris_cli::emulator::SageMakerMode::RealTime {
            concurrency: Some(1),
        },
        faults: Faults {
            latency: Latencies::parse("model=400ms").unwrap(),
            ..Faults::default()
        },
        ..EmulatorConfig::default()
    })
    .unwrap();
    let serverless = Emulator::start_in_thread(EmulatorConfig {
        sagemaker: iris_cli::emulator::SageMakerMode::Serverless(iris_cli::emulator::Serverless {
            max_concurrency: 5,
            memory_mb: 2048,
            setup_time: Duration::from_millis(1500),
        }),
        ..EmulatorConfig::default()
    })
    .unwrap();
    let out = std::process::Command::new(python())
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/python/test_boto.py",
        ])
        .env("IRIS_URL", emu.invoke_url())
        .env("IRIS_ENDPOINT_URL", emu.endpoint_url())
        .env("IRIS_ENDPOINT_NAME", emu.endpoint_name())
        .env("IRIS_HTTP_API_URL", emu.http_api_url())
        .env("IRIS_FUNCTION_URL", emu.function_url())
        .env("IRIS_THROTTLED_ENDPOINT_URL", throttled.endpoint_url())
        .env("IRIS_SERVERLESS_ENDPOINT_URL", serverless.endpoint_url())
        .env("AWS_REGION", emu.region())
        .env("AWS_ACCESS_KEY_ID", auth::TEST_ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", auth::TEST_SECRET_KEY)
        .env("IRIS_TEMP_ACCESS_KEY_ID", auth::TEST_TEMP_ACCESS_KEY)
        .env("IRIS_TEMP_SECRET_ACCESS_KEY", auth::TEST_TEMP_SECRET_KEY)
        .env("IRIS_TEMP_SESSION_TOKEN", auth::TEST_SESSION_TOKEN)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .output()
        .unwrap();
    let stats = emu.stats();
    assert!(
        out.status.success(),
        "pytest failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stats.accepted > 0);
    no_panics(&stats);
}

#[tokio::test]
async fn serve_prints_export_lines_first() {
    let emu = start(EmulatorConfig::default()).await;
    let port = emu.local_addr().port();
    let fn_port = emu.function_url_addr().port();
    assert_eq!(
        iris_cli::emulator::serve::export_lines(&emu, None),
        format!(
            "export IRIS_URL='http://127.0.0.1:{port}/species/irispredict'\n\
             export IRIS_HTTP_API_URL='http://127.0.0.1:{port}/irispredict'\n\
             export IRIS_FUNCTION_URL='http://127.0.0.1:{fn_port}/'\n\
             export IRIS_ENDPOINT_URL='http://127.0.0.1:{port}'\n\
             export IRIS_ENDPOINT_NAME='iris-xgb'\n\
             export AWS_REGION='us-east-1'\n\
             export AWS_DEFAULT_REGION='us-east-1'\n\
             export AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME='http://127.0.0.1:{port}'\n\
             export AWS_ENDPOINT_URL_CLOUDWATCH='http://127.0.0.1:{port}'\n\
             export AWS_ACCESS_KEY_ID='{}'\n\
             export AWS_SECRET_ACCESS_KEY='{}'\n",
            auth::TEST_ACCESS_KEY,
            auth::TEST_SECRET_KEY
        )
    );
    // AWS's secret access keys are 40 characters; some tools check.
    assert_eq!(auth::TEST_SECRET_KEY.len(), 40);
    assert_eq!(auth::TEST_TEMP_SECRET_KEY.len(), 40);
    let with_file = iris_cli::emulator::serve::export_lines(
        &emu,
        Some(std::path::Path::new("/tmp/my keys.json")),
    );
    assert!(with_file.ends_with(&format!(
        "export AWS_ACCESS_KEY_ID='{}'\n# secret: from /tmp/my keys.json\n",
        auth::TEST_ACCESS_KEY
    )));
    assert!(!with_file.contains(auth::TEST_SECRET_KEY));
}

#[test]
fn export_values_survive_the_shell() {
    use iris_cli::emulator::serve::shell_quote;
    for v in ["plain", "with space", "it's", "$HOME `x` \\ \"q\"", ""] {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("export X={}; printf %s \"$X\"", shell_quote(v)))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), v);
    }
}

#[tokio::test]
async fn iam_deny_via_credentials_file() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: iris_cli::cli::serve::ServeArgs,
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    std::fs::write(
        &path,
        r#"{"keys": [
          {"access_key": "AKIAIRISAPIONLY00001", "secret_key": "apiOnlySecret",
           "arn": "arn:aws:iam::123456789012:user/api-only", "actions": ["execute-api:Invoke"]},
          {"access_key": "AKIAIRISNOTHING00001", "secret_key": "nothingSecret",
           "arn": "arn:aws:iam::123456789012:user/nothing", "actions": []}
        ]}"#,
    )
    .unwrap();
    let cli = Cli::try_parse_from([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--credentials",
        path.to_str().unwrap(),
    ])
    .unwrap();
    let emu = start(cli.serve.to_config().unwrap()).await;
    let key = |ak: &str, sk: &str, service| {
        Some(Signing {
            creds: Credentials::new(ak, sk, None, None, "test"),
            service,
            region: "us-east-1",
            time: SystemTime::now(),
        })
    };
    let body = format!("{{\"data\":\"{ROW1}\"}}");
    let r = post(
        &emu.invoke_url(),
        JSON,
        &body,
        key("AKIAIRISAPIONLY00001", "apiOnlySecret", "execute-api"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post(
        &emu.invoke_url(),
        JSON,
        &body,
        key("AKIAIRISNOTHING00001", "nothingSecret", "execute-api"),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-amzn-errortype"), "AccessDeniedException");
    assert!(r.body.starts_with(
        "{\"Message\":\"User: arn:aws:iam::123456789012:user/nothing is not authorized to perform: execute-api:Invoke on resource: "
    ));
    // The API-only key may not call SageMaker directly.
    let r = post(
        &invocations_url(&emu, "iris-xgb"),
        CSV,
        ROW1,
        key("AKIAIRISAPIONLY00001", "apiOnlySecret", "sagemaker"),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.header("x-amzn-errortype"), "AccessDeniedException");
    assert_eq!(
        r.body,
        "{\"message\":\"User: arn:aws:iam::123456789012:user/api-only is not authorized to perform: sagemaker:InvokeEndpoint on resource: arn:aws:sagemaker:us-east-1:123456789012:endpoint/iris-xgb\"}"
    );
    // The secret is never printed: only the first key id and where the secrets come from.
    let lines = iris_cli::emulator::serve::export_lines(&emu, Some(&path));
    assert!(lines.contains("export AWS_ACCESS_KEY_ID='AKIAIRISAPIONLY00001'\n# secret: from "));
    assert!(!lines.contains("apiOnlySecret"));
}

// ---------------------------------------------------------------- AWS's limits and other shapes

/// `serve` flags, parsed and converted as the binary does.
fn serve_config(flags: &[&str]) -> EmulatorConfig {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: iris_cli::cli::serve::ServeArgs,
    }
    let mut argv = vec!["serve", "--listen", "127.0.0.1:0"];
    argv.extend_from_slice(flags);
    Cli::try_parse_from(argv)
        .unwrap()
        .serve
        .to_config()
        .unwrap()
}

fn data_body(rows: &str) -> String {
    serde_json::json!({ "data": rows }).to_string()
}

#[tokio::test]
async fn integration_timeout_gives_504() {
    let emu = start(serve_config(&[
        "--integration-timeout",
        "1s",
        "--latency",
        "model=1500ms",
    ]))
    .await;
    let t = Instant::now();
    let r = invoke(&emu, &data_body(ROW1)).await;
    assert_eq!(r.status, 504, "{}", r.body);
    assert_eq!(r.body, "{\"message\": \"Endpoint request timed out\"}");
    assert_gateway_headers(&r);
    let waited = t.elapsed();
    assert!(waited >= Duration::from_secs(1), "{waited:?}");
    assert!(
        waited < Duration::from_millis(1450),
        "answered at the timeout: {waited:?}"
    );
    no_panics(&emu.stats());
}

#[tokio::test]
async fn sagemaker_concurrency_throttles_with_sagemakers_400() {
    let emu = start(serve_config(&[
        "--sagemaker-concurrency",
        "1",
        "--latency",
        "model=300ms",
    ]))
    .await;
    let url = invocations_url(&emu, "iris-xgb");
    let calls = (0..6).map(|_| {
        let url = url.clone();
        async move { post(&url, CSV, ROW1, signing("sagemaker")).await }
    });
    let replies = futures_join_all(calls).await;
    let ok: Vec<&Reply> = replies.iter().filter(|r| r.status == 200).collect();
    let throttled: Vec<&Reply> = replies.iter().filter(|r| r.status == 400).collect();
    assert_eq!(ok.len() + throttled.len(), 6, "other statuses");
    assert!(!ok.is_empty() && !throttled.is_empty(), "{} ok", ok.len());
    for r in &ok {
        assert_eq!(r.body, format!("{PROBS1}\n"));
    }
    for r in &throttled {
        assert_eq!(r.header("x-amzn-errortype"), "ThrottlingException");
        assert_eq!(r.body, "{\"message\":null}");
        assert_eq!(r.header("content-type"), "application/json");
        assert_uuid(r.header("x-amzn-requestid"));
        assert!(httpdate::parse_http_date(r.header("date")).is_ok());
    }
    let s = emu.stats();
    assert_eq!(s.sagemaker_throttled as usize, throttled.len());
    no_panics(&s);
}

/// Six futures at once, without a futures crate.
async fn futures_join_all<F: std::future::Future<Output = Reply> + Send + 'static>(
    calls: impl Iterator<Item = F>,
) -> Vec<Reply> {
    let handles: Vec<_> = calls.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn lambda_response_over_6_mb_is_502() {
    let emu = start(EmulatorConfig::default()).await;
    // ~118 bytes of result per row: 60 000 rows answer about 7 MB from a 1 MB request.
    let rows = vec![ROW1; 60_000].join("\n");
    let r = invoke(&emu, &data_body(&rows)).await;
    assert_eq!(r.status, 502, "{}", &r.body[..r.body.len().min(200)]);
    assert_eq!(r.body, "{\"message\": \"Internal server error\"}");
    assert_eq!(r.header("x-amzn-errortype"), "InternalServerErrorException");
    // 50 000 rows stay under 6 291 556 bytes.
    let rows = vec![ROW1; 50_000].join("\n");
    let r = invoke(&emu, &data_body(&rows)).await;
    assert_eq!(r.status, 200);
    assert!(
        r.body.len() > 5_000_000 && r.body.len() <= 6_291_556,
        "{}",
        r.body.len()
    );
    no_panics(&emu.stats());
}

#[tokio::test]
async fn oversize_sagemaker_body_is_413() {
    let emu = start(EmulatorConfig::default()).await;
    let body = "1".repeat(6_291_457);
    let r = sagemaker(&emu, CSV, &body).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.body, "HTTP content length exceeded 6291456 bytes.");
    no_panics(&emu.stats());
}

#[tokio::test]
async fn target_model_and_target_variant_are_validated() {
    let emu = start(EmulatorConfig::default()).await;
    let h = [
        ("content-type", "text/csv"),
        ("x-amzn-sagemaker-target-model", "model-a.tar.gz"),
    ];
    let r = sagemaker(&emu, &h, ROW1).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("x-amzn-errortype"), "ValidationError");
    assert_eq!(
        r.body,
        "{\"ErrorCode\":\"TARGET_MODEL_HEADER_NOT_SUPPORTED\",\"Message\":\"Endpoint iris-xgb is not a multi-model endpoint and does not support target model header.\"}"
    );
    let h = [
        ("content-type", "text/csv"),
        ("x-amzn-sagemaker-target-variant", "AllTraffic"),
    ];
    let r = sagemaker(&emu, &h, ROW1).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-amzn-invoked-production-variant"), "AllTraffic");
    let h = [
        ("content-type", "text/csv"),
        ("x-amzn-sagemaker-target-variant", "Canary"),
    ];
    let r = sagemaker(&emu, &h, ROW1).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("x-amzn-errortype"), "ValidationError");
    assert!(r.body.contains("Canary"), "{}", r.body);
    no_panics(&emu.stats());
}

#[tokio::test]
async fn container_timeout_is_model_error_424() {
    let emu = start(serve_config(&[
        "--container-timeout",
        "200ms",
        "--latency",
        "model=600ms",
    ]))
    .await;
    let r = sagemaker(&emu, CSV, ROW1).await;
    assert_eq!(r.status, 424, "{}", r.body);
    assert_eq!(r.header("x-amzn-errortype"), "ModelError");
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        v["Message"],
        "Received server error (0) from primary with message \"Your invocation timed out while waiting for a response from container primary. Review the latency metrics for each container in Amazon CloudWatch, resolve the issue, and try again.\". See https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEventViewer:group=/aws/sagemaker/Endpoints/iris-xgb in account 123456789012 for more information."
    );
    // Behind the API the function's boto3 raises ModelError: a 200 with errorMessage.
    let r = invoke(&emu, &data_body(ROW1)).await;
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["errorType"], "ModelError");
    assert!(v["errorMessage"]
        .as_str()
        .unwrap()
        .starts_with("An error occurred (ModelError) when calling the InvokeEndpoint operation: Received server error (0)"));
    no_panics(&emu.stats());
}

#[tokio::test]
async fn serverless_cold_start_answers_model_not_ready_then_serves() {
    let emu = start(serve_config(&[
        "--sagemaker-mode",
        "serverless",
        "--max-concurrency",
        "2",
        "--memory-mb",
        "1024",
        "--model-setup-time",
        "700ms",
    ]))
    .await;
    let url = invocations_url(&emu, "iris-xgb");
    let first = tokio::spawn({
        let url = url.clone();
        async move { post(&url, CSV, ROW1, signing("sagemaker")).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = sagemaker(&emu, CSV, ROW1).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.header("x-amzn-errortype"), "ModelNotReadyException");
    let first = first.await.unwrap();
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(
        parse_server_timing(first.header("server-timing"))["sagemaker"] >= 700.0,
        "the cold start is in the first call's latency"
    );
    // Provisioned: warm now.
    let r = sagemaker(&emu, CSV, ROW1).await;
    assert_eq!(r.status, 200);
    assert!(parse_server_timing(r.header("server-timing"))["sagemaker"] < 500.0);
    // A serverless endpoint takes 4 MB.
    let big = format!("{ROW1}\n").repeat(4 * 1024 * 1024 / 16 + 1);
    let r = sagemaker(&emu, CSV, &big).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("x-amzn-errortype"), "ValidationError");
    assert_eq!(
        r.body,
        format!(
            "{{\"message\":\"Request {} has oversize body.\"}}",
            r.header("x-amzn-requestid")
        )
    );
    no_panics(&emu.stats());
}

#[test]
fn new_serve_flags_are_validated() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: iris_cli::cli::serve::ServeArgs,
    }
    for bad in [
        ["--integration-timeout", "30s"],
        ["--integration-timeout", "10ms"],
        ["--http-api-timeout", "31s"],
        ["--sagemaker-concurrency", "0"],
        ["--max-concurrency", "201"],
        ["--memory-mb", "1500"],
        ["--sagemaker-mode", "batch"],
        ["--api-key", "short"],
    ] {
        let e = Cli::try_parse_from(["serve", bad[0], bad[1]]).err();
        let e = e.unwrap_or_else(|| panic!("{bad:?} accepted"));
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains(bad[0]), "{e}");
    }
    assert!(Cli::try_parse_from(["serve", "--api-key-quota", "5"]).is_err());
}

#[tokio::test]
async fn cold_lambda_invocation_reports_init_in_server_timing() {
    let cfg = EmulatorConfig {
        cold_start: Duration::from_millis(80),
        ..EmulatorConfig::default()
    };
    let emu = start(cfg).await;
    let r = invoke(&emu, &data_body(ROW1)).await;
    assert_eq!(r.status, 200);
    let t = parse_server_timing(r.header("server-timing"));
    assert!((t["init"] - 80.0).abs() < 0.01, "{t:?}");
    assert!(t["lambda"] >= 80.0 && t["apigw"] >= t["lambda"], "{t:?}");
    let r = invoke(&emu, &data_body(ROW1)).await;
    let t = parse_server_timing(r.header("server-timing"));
    assert!(!t.contains_key("init"), "warm: {t:?}");
}

#[tokio::test]
async fn usage_plan_api_keys_and_quota() {
    const KEY: &str = "irisLocalUsagePlanKey0001";
    let emu = start(serve_config(&["--api-key", KEY, "--api-key-quota", "2"])).await;
    let r = invoke(&emu, &data_body(ROW1)).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body, "{\"message\":\"Forbidden\"}");
    assert_eq!(r.header("x-amzn-errortype"), "ForbiddenException");
    let h = [("content-type", "application/json"), ("x-api-key", KEY)];
    let body = data_body(ROW1);
    for _ in 0..2 {
        let r = post(&emu.invoke_url(), &h, &body, signing("execute-api")).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = post(&emu.invoke_url(), &h, &body, signing("execute-api")).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.body, "{\"message\":\"Limit Exceeded\"}");
    let wrong = [
        ("content-type", "application/json"),
        ("x-api-key", "someoneElsesKey000000001"),
    ];
    let r = post(&emu.invoke_url(), &wrong, &body, signing("execute-api")).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, "{\"message\":\"Forbidden\"}")
    );
}

#[tokio::test]
async fn http_api_accepts_signed_and_rejects_tampered_and_denied() {
    let emu = start(EmulatorConfig {
        keys: restricted_keys_with(vec![Action::SageMakerInvokeEndpoint]),
        ..EmulatorConfig::default()
    })
    .await;
    let url = emu.http_api_url();
    assert!(url.ends_with("/irispredict") && !url.contains("/species/"));
    let body = data_body(&format!("{ROW1}\n{ROW2}"));
    let r = post(&url, JSON, &body, signing("execute-api")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        lambda_body(&[("setosa", 0, PROBS1), ("versicolor", 1, PROBS2)])
    );
    let id = r.header("apigw-requestid");
    assert!(id.len() == 16 && id.ends_with('='), "{id:?}");
    assert!(parse_server_timing(r.header("server-timing")).contains_key("lambda"));
    // Tampered: the SigV4 front end's mismatch, with its canonical-request echo.
    let r = post_raw(&url, JSON, &data_body(ROW2), &body, signing("execute-api"))
        .await
        .unwrap();
    assert_eq!(r.status, 403);
    assert!(r
        .body
        .contains("The Canonical String for this request should have been"));
    assert!(r.body.contains("\\n/irispredict\\n"), "{}", r.body);
    // Unsigned and IAM-denied: HTTP API's plain Forbidden.
    let r = post(&url, JSON, &body, None).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, "{\"message\":\"Forbidden\"}")
    );
    let denied = Some(Signing {
        creds: Credentials::new("AKIAIRISSMONLY000001", "smOnlySecret", None, None, "t"),
        service: "execute-api",
        region: "us-east-1",
        time: SystemTime::now(),
    });
    let r = post(&url, JSON, &body, denied).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, "{\"message\":\"Forbidden\"}")
    );
    let s = emu.stats();
    assert_eq!(s.http_api_requests, 4);
    no_panics(&s);
}

fn restricted_keys_with(actions: Vec<Action>) -> KeyStore {
    let mut p = KeyStore::builtin().principals().to_vec();
    p.push(Principal {
        access_key: "AKIAIRISSMONLY000001".into(),
        secret_key: "smOnlySecret".into(),
        session_token: None,
        arn: "arn:aws:iam::123456789012:user/sm-only".into(),
        actions,
    });
    KeyStore::from_principals(p)
}

#[tokio::test]
async fn function_url_signed_for_lambda_is_accepted() {
    let emu = start(EmulatorConfig::default()).await;
    let url = emu.function_url();
    let body = data_body(ROW1);
    let r = post(&url, JSON, &body, signing("lambda")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, lambda_body(&[("setosa", 0, PROBS1)]));
    assert_uuid(r.header("x-amzn-requestid"));
    let t = parse_server_timing(r.header("server-timing"));
    assert!(
        t.contains_key("lambda") && !t.contains_key("apigw"),
        "{t:?}"
    );
    // Any path reaches the function.
    let r = post(&format!("{url}score/v1"), JSON, &body, signing("lambda")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let forbidden = "{\"Message\":\"Forbidden. For troubleshooting Function URL authorization issues, see: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html\"}";
    let r = post(&url, JSON, &body, None).await;
    assert_eq!((r.status, r.body.as_str()), (403, forbidden));
    assert_eq!(r.header("x-amzn-errortype"), "AccessDeniedException");
    let r = post_raw(&url, JSON, &data_body(ROW2), &body, signing("lambda"))
        .await
        .unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-amzn-errortype"), "InvalidSignatureException");
    // Signed for API Gateway: the wrong service.
    let r = post(&url, JSON, &body, signing("execute-api")).await;
    assert_eq!(r.status, 403);
    assert!(
        r.body
            .contains("Credential should be scoped to correct service: 'lambda'."),
        "{}",
        r.body
    );
    // The function URL is not on the main port.
    let r = post(
        &format!("{}/", emu.endpoint_url()),
        JSON,
        &body,
        signing("lambda"),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.header("x-amzn-errortype"),
        "MissingAuthenticationTokenException"
    );
    no_panics(&emu.stats());
}

#[tokio::test]
async fn cloudwatch_get_metric_data_over_rpc_v2_cbor() {
    let emu = start(EmulatorConfig::default()).await;
    for _ in 0..3 {
        assert_eq!(sagemaker(&emu, CSV, ROW1).await.status, 200);
    }
    assert_eq!(invoke(&emu, &data_body(ROW1)).await.status, 200);
    use ciborium::Value as C;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let text = |s: &str| C::Text(s.into());
    let query = |id: &str, ns: &str, name: &str, dims: Vec<(&str, &str)>, stat: &str| {
        C::Map(vec![
            (text("Id"), text(id)),
            (
                text("MetricStat"),
                C::Map(vec![
                    (
                        text("Metric"),
                        C::Map(vec![
                            (text("Namespace"), text(ns)),
                            (text("MetricName"), text(name)),
                            (
                                text("Dimensions"),
                                C::Array(
                                    dims.iter()
                                        .map(|(k, v)| {
                                            C::Map(vec![
                                                (text("Name"), text(k)),
                                                (text("Value"), text(v)),
                                            ])
                                        })
                                        .collect(),
                                ),
                            ),
                        ]),
                    ),
                    (text("Period"), C::Integer(3600.into())),
                    (text("Stat"), text(stat)),
                ]),
            ),
        ])
    };
    let sm = vec![("EndpointName", "iris-xgb"), ("VariantName", "AllTraffic")];
    let req = C::Map(vec![
        (
            text("MetricDataQueries"),
            C::Array(vec![
                query("inv", "AWS/SageMaker", "Invocations", sm.clone(), "Sum"),
                query("lat", "AWS/SageMaker", "ModelLatency", sm, "p99"),
                query(
                    "api",
                    "AWS/ApiGateway",
                    "Count",
                    vec![("ApiName", "iris-api")],
                    "Sum",
                ),
            ]),
        ),
        (
            text("StartTime"),
            C::Tag(1, Box::new(C::Integer((now - 7200).into()))),
        ),
        (
            text("EndTime"),
            C::Tag(1, Box::new(C::Integer((now + 3600).into()))),
        ),
    ]);
    let mut bytes = Vec::new();
    ciborium::ser::into_writer(&req, &mut bytes).unwrap();
    let url = format!(
        "{}/service/GraniteServiceVersion20100801/operation/GetMetricData",
        emu.endpoint_url()
    );
    let headers = [
        ("content-type", "application/cbor"),
        ("smithy-protocol", "rpc-v2-cbor"),
        ("accept", "application/cbor"),
    ];
    let signing = |service| {
        Some(Signing {
            creds: test_creds(),
            service,
            region: "us-east-1",
            time: SystemTime::now(),
        })
    };
    let r = client()
        .post(&url)
        .headers(
            headers
                .iter()
                .chain(
                    sign_headers(
                        &test_creds(),
                        "monitoring",
                        "us-east-1",
                        &url,
                        &headers,
                        &bytes,
                        SystemTime::now(),
                    )
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect::<Vec<_>>()
                    .iter(),
                )
                .map(|(k, v)| {
                    (
                        reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                        reqwest::header::HeaderValue::from_str(v).unwrap(),
                    )
                })
                .collect(),
        )
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["smithy-protocol"], "rpc-v2-cbor");
    assert_eq!(r.headers()["content-type"], "application/cbor");
    assert!(r.headers().get("server-timing").is_none());
    let out: C = ciborium::de::from_reader(&r.bytes().await.unwrap()[..]).unwrap();
    let results = cbor_get(&out, "MetricDataResults");
    let C::Array(results) = results else {
        panic!("{out:?}")
    };
    let value_of = |id: &str| -> f64 {
        let r = results
            .iter()
            .find(|r| matches!(cbor_get(r, "Id"), C::Text(t) if t == id))
            .unwrap();
        let C::Array(ts) = cbor_get(r, "Timestamps") else {
            panic!()
        };
        assert!(ts.iter().all(|t| matches!(t, C::Tag(1, _))), "{ts:?}");
        let C::Array(v) = cbor_get(r, "Values") else {
            panic!()
        };
        v.iter()
            .map(|x| match x {
                C::Float(f) => *f,
                C::Integer(i) => i128::from(*i) as f64,
                other => panic!("{other:?}"),
            })
            .sum()
    };
    // 3 direct invocations and 1 through the Lambda.
    assert_eq!(value_of("inv"), 4.0);
    assert!(value_of("lat") > 0.0);
    assert_eq!(value_of("api"), 1.0);
    // A signature for another service is refused.
    let r = post_raw(&url, &headers, "", "", signing("sagemaker"))
        .await
        .unwrap();
    assert_eq!(r.status, 403);
    no_panics(&emu.stats());
}

fn cbor_get<'a>(v: &'a ciborium::Value, key: &str) -> &'a ciborium::Value {
    match v {
        ciborium::Value::Map(m) => m
            .iter()
            .find(|(k, _)| matches!(k, ciborium::Value::Text(t) if t == key))
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no {key} in {v:?}")),
        other => panic!("not a map: {other:?}"),
    }
}

/// The Python the tests drive (`IRIS_TEST_PYTHON`, else `python3`).
fn python() -> String {
    std::env::var("IRIS_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// The pip AWS CLI and boto3 call the built `iris-cli serve` with nothing but its export lines:
/// an empty environment (no AWS settings, no config files, a fresh HOME) plus the sourced lines.
#[test]
fn aws_cli_and_boto3_use_only_the_export_lines() {
    with_only_the_export_lines(&[]);
}

/// The same over HTTPS: `serve --tls` exports `AWS_CA_BUNDLE` (the AWS CLI, boto3) and
/// `IRIS_CA_BUNDLE` (iris-cli); predict, batch and bench run once over TLS with them too.
#[test]
fn serve_tls_is_enough_for_the_aws_cli_boto3_and_every_command() {
    let stdout = with_only_the_export_lines(&["--tls"]);
    assert!(stdout.contains("iris-predict setosa"), "{stdout}");
    assert!(stdout.contains("iris-batch 0"), "{stdout}");
    assert!(stdout.contains("iris-bench 10"), "{stdout}");
}

fn with_only_the_export_lines(serve_args: &[&str]) -> String {
    use std::io::BufRead;
    let env = common::Env::new();
    let tls = !serve_args.is_empty();
    let mut child = env
        .std_cmd()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(serve_args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    for line in (&mut out).lines() {
        let line = line.unwrap();
        let last = line.starts_with("export AWS_SECRET_ACCESS_KEY=");
        lines.push_str(&line);
        lines.push('\n');
        if last {
            break;
        }
    }
    let exports = env.write("exports.sh", &lines);
    let script = format!(
        r#"set -e
. '{exports}'
"$PY" -m awscli sagemaker-runtime invoke-endpoint --endpoint-name "$IRIS_ENDPOINT_NAME" \
    --content-type text/csv --body 5.1,3.5,1.4,0.2 out.csv > meta.json
echo "cli $(cat out.csv)"
"$PY" -m awscli cloudwatch get-metric-data --start-time 2000-01-01T00:00:00Z \
    --end-time 2100-01-01T00:00:00Z --metric-data-queries \
    '[{{"Id":"n","MetricStat":{{"Metric":{{"Namespace":"AWS/SageMaker","MetricName":"Invocations","Dimensions":[{{"Name":"EndpointName","Value":"iris-xgb"}},{{"Name":"VariantName","Value":"AllTraffic"}}]}},"Period":60,"Stat":"SampleCount"}}}}]' \
    --output json > cw.json
"$PY" -c 'import json; print("cli-metrics", sum(json.load(open("cw.json"))["MetricDataResults"][0]["Values"]))'
"$PY" '{script}'
{iris}
"#,
        exports = exports.display(),
        script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/exports_only.py"),
        iris = if tls {
            format!(
                r#"case "$IRIS_URL" in https://*) ;; *) echo "not https: $IRIS_URL"; exit 1;; esac
echo "iris-predict $('{bin}' predict --data 5.1,3.5,1.4,0.2 -o json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["species"])')"
printf '5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n' > in.csv
'{bin}' batch in.csv --no-header --out scored.csv -q; echo "iris-batch $?"
echo "iris-bench $('{bin}' bench -c 1 -n 10 -q -o json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["requests"]["ok"])')""#,
                bin = env!("CARGO_BIN_EXE_iris-cli")
            )
        } else {
            String::new()
        },
    );
    let run = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", env.dir.path())
        .env("PY", python())
        .current_dir(env.dir.path())
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "{stdout}\n{stderr}\nexports:\n{lines}"
    );
    assert!(
        stdout.contains(&format!("cli {PROBS1}\n")),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("cli-metrics 1.0\n"), "{stdout}");
    assert!(
        stdout.contains(&format!("invoke 200 {PROBS1}\n")),
        "{stdout}"
    );
    assert!(stdout.contains("metrics 2.0\n"), "{stdout}");
    stdout.into_owned()
}

/// predict, batch and bench against the HTTP API and the function URL, end to end: the built
/// binary, `--local` (the emulator verifying every signature), `--api` choosing the front.
#[test]
fn predict_batch_bench_work_against_http_api_and_function_url() {
    let env = common::Env::new();
    let csv = env.write("flowers.csv", &format!("id,a,b,c,d\n1,{ROW1}\n2,{ROW2}\n"));
    for api in ["http", "function-url"] {
        let r = common::run(env.iris().args([
            "predict", "--local", "--api", api, "--data", ROW1, "--output", "json",
        ]));
        assert_eq!(r.code, 0, "{api}: {}", r.stderr);
        let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
        assert_eq!(v["species"], "setosa", "{api}");
        assert_eq!(v["status"], 200);

        let r = common::run(env.iris().args([
            "batch",
            "--local",
            "--api",
            api,
            csv.to_str().unwrap(),
            "-q",
        ]));
        assert_eq!(r.code, 0, "{api}: {}", r.stderr);
        let lines: Vec<&str> = r.stdout.lines().collect();
        assert_eq!(lines.len(), 3, "{api}: {}", r.stdout);
        assert!(
            lines[1].starts_with(&format!("1,{ROW1},setosa,0,")),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].starts_with(&format!("2,{ROW2},versicolor,1,")),
            "{}",
            lines[2]
        );

        let r = common::run(env.iris().args([
            "bench",
            "--local",
            "--api",
            api,
            "--requests",
            "20",
            "--concurrency",
            "2",
            "--quiet",
            "--output",
            "json",
        ]));
        assert_eq!(r.code, 0, "{api}: {}", r.stderr);
        let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
        assert_eq!(v["requests"]["ok"], 20, "{api}: {}", r.stdout);
        assert_eq!(v["requests"]["errors"], 0);
        assert!(
            v["hops"]["lambda"]["count"].as_u64().unwrap() >= 20,
            "{}",
            v["hops"]
        );
    }
}

/// Against a running emulator the client signs for the kind's service: `lambda` for the
/// function URL (else 403), `execute-api` for the HTTP API; IRIS_FUNCTION_URL is read with
/// `--api function-url`, and the new answers get their own exit codes and hints.
#[test]
fn client_signs_for_the_api_kind_and_explains_its_answers() {
    let emu = Emulator::start_in_thread(EmulatorConfig::default()).unwrap();
    let env = common::Env::new();
    let keys = [
        "--access-key",
        auth::TEST_ACCESS_KEY,
        "--secret-key-stdin",
        "--region",
        "us-east-1",
    ];
    let predict = |extra: &[&str], vars: &[(&str, String)]| {
        let mut cmd = env.iris();
        cmd.args(["predict", "--data", ROW1]).args(keys).args(extra);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.write_stdin(format!("{}\n", auth::TEST_SECRET_KEY));
        common::run(&mut cmd)
    };
    let r = predict(
        &["--api", "function-url"],
        &[("IRIS_FUNCTION_URL", emu.function_url())],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("setosa"), "{}", r.stdout);
    // The same URL taken for a REST API is signed for execute-api: the function URL refuses.
    let r = predict(&["--url", &emu.function_url()], &[]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("scoped to correct service: 'lambda'"),
        "{}",
        r.stderr
    );
    let r = predict(&["--url", &emu.http_api_url(), "--api", "http"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // A wrong secret: the HTTP API's signature mismatch, diffed like the REST API's.
    let mut cmd = env.iris();
    cmd.args([
        "predict",
        "--data",
        ROW1,
        "--url",
        &emu.http_api_url(),
        "--api",
        "http",
    ])
    .args(keys)
    .write_stdin(format!("{}\n", common::WRONG_SECRET));
    let r = common::run(&mut cmd);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("secret access key is wrong"),
        "{}",
        r.stderr
    );
    assert!(Some(emu.stats().panics) == Some(0));
}

#[test]
fn container_timeout_hint_is_not_about_features() {
    let emu = Emulator::start_in_thread(EmulatorConfig {
        limits: iris_cli::emulator::Limits {
            container_timeout: Duration::from_millis(100),
            ..Default::default()
        },
        faults: Faults {
            latency: Latencies::parse("model=300ms").unwrap(),
            ..Faults::default()
        },
        ..EmulatorConfig::default()
    })
    .unwrap();
    let env = common::Env::new();
    let mut cmd = env.iris();
    cmd.args(["predict", "--data", ROW1, "--endpoint-name", "iris-xgb"])
        .args([
            "--endpoint-url",
            &emu.endpoint_url(),
            "--region",
            "us-east-1",
        ])
        .args(["--access-key", auth::TEST_ACCESS_KEY, "--secret-key-stdin"])
        .write_stdin(format!("{}\n", auth::TEST_SECRET_KEY));
    let r = common::run(&mut cmd);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("60 s limit"), "{}", r.stderr);
    assert!(!r.stderr.contains("number of features"), "{}", r.stderr);
}

//! Cross-check of iris-cli's signer with botocore (the AWS SDK for Python): the same request,
//! signed at the same instant with the same keys, must carry the same signature.

use crate::common;

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use iris_cli::sign::{sign, Scope, Unsigned};
use serde_json::{json, Value};
use url::Url;

struct Case {
    name: &'static str,
    url: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    token: Option<&'static str>,
    region: &'static str,
    service: &'static str,
}

fn cases() -> Vec<Case> {
    let json = &[("content-type", "application/json")][..];
    let base = |name, url| Case {
        name,
        url,
        headers: json,
        body: r#"{"data":"5.1,3.5,1.4,0.2"}"#,
        token: None,
        region: "us-east-1",
        service: "execute-api",
    };
    vec![
        base(
            "plain invoke URL",
            "https://abc123.execute-api.us-east-1.amazonaws.com/species/irispredict",
        ),
        base(
            "path with spaces",
            "https://abc123.execute-api.us-east-1.amazonaws.com/prod/my resource/x y",
        ),
        base(
            "path with colon and at",
            "https://abc123.execute-api.us-east-1.amazonaws.com/prod/a:b@c/d",
        ),
        base(
            "query with %3D",
            "https://abc123.execute-api.us-east-1.amazonaws.com/prod/p?filter=a%3Db&x=1",
        ),
        base(
            "duplicate keys",
            "https://abc123.execute-api.us-east-1.amazonaws.com/prod/p?a=2&a=1&b=z&a=0",
        ),
        base(
            "empty values",
            "https://abc123.execute-api.us-east-1.amazonaws.com/prod/p?flag&empty=&z=1",
        ),
        Case {
            token: Some("IQoJb3JpZ2luX2VjE//session+token/with=chars"),
            ..base(
                "session token",
                "https://abc123.execute-api.us-east-1.amazonaws.com/prod/irispredict",
            )
        },
        base(
            "host with port",
            "http://127.0.0.1:8080/species/irispredict",
        ),
        Case {
            headers: &[
                ("content-type", "application/json"),
                ("X-Custom-Header", "Value  with   spaces"),
                ("x-api-key", "k1"),
            ],
            ..base(
                "custom -H headers",
                "https://abc123.execute-api.us-east-1.amazonaws.com/prod/irispredict",
            )
        },
        Case {
            headers: &[("content-type", "text/csv"), ("accept", "application/json")],
            body: "5.1,3.5,1.4,0.2\n6.6,3.0,4.4,1.4",
            service: "sagemaker",
            region: "eu-west-1",
            ..base(
                "sagemaker csv",
                "https://runtime.sagemaker.eu-west-1.amazonaws.com/endpoints/iris-xgb/invocations",
            )
        },
        Case {
            body: "",
            ..base(
                "empty body",
                "https://abc123.execute-api.us-east-1.amazonaws.com/prod/ping",
            )
        },
        base(
            "unicode path",
            "https://abc123.execute-api.us-east-1.amazonaws.com/prod/fleur/%C3%A9t%C3%A9",
        ),
        base(
            "encoded slash and percent",
            "https://abc123.execute-api.us-east-1.amazonaws.com/prod/a%2Fb/100%25",
        ),
        Case {
            token: Some("tok"),
            headers: &[
                ("content-type", "application/json"),
                ("X-Amzn-SageMaker-Custom-Attributes", "trace=1"),
            ],
            ..base(
                "port, token and header",
                "http://localhost:3000/dev/irispredict?debug=true&debug=false",
            )
        },
    ]
}

#[test]
fn signatures_equal_botocore() {
    let epoch = 1_700_000_000u64;
    let time = UNIX_EPOCH + Duration::from_secs(epoch);
    let (ak, sk) = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    let cases = cases();
    assert!(cases.len() >= 12);
    let mut ours = Vec::new();
    let mut inputs = Vec::new();
    for c in &cases {
        let url = Url::parse(c.url).unwrap();
        let headers: Vec<(String, String)> = c
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let req = Unsigned {
            method: "POST",
            url: &url,
            headers: &headers,
            body: c.body.as_bytes(),
        };
        let creds = Credentials::new(ak, sk, c.token.map(str::to_string), None, "test");
        let scope = Scope {
            region: c.region.into(),
            service: c.service.into(),
        };
        let signed = sign(&req, &creds, &scope, time).unwrap();
        // botocore gets exactly what goes on the wire: the URL as serialized and our headers,
        // including the body hash header iris-cli sends (botocore signs every header it is given).
        let mut wire_headers: Vec<(String, String)> = headers.clone();
        if let Some(h) = signed.header("x-amz-content-sha256") {
            wire_headers.push(("X-Amz-Content-SHA256".into(), h.into()));
        }
        inputs.push(json!({
            "url": url.as_str(), "headers": wire_headers, "body": c.body,
            "access_key": ak, "secret_key": sk, "session_token": c.token,
            "region": c.region, "service": c.service, "epoch": epoch,
        }));
        ours.push(signed);
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/botocore_sign.py");
    let mut child = common::python()
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}; {}", common::python_program(), common::PYTHON_HINT));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(Value::Array(inputs).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "botocore signer failed under {} ({}): {}",
        common::python_program(),
        common::PYTHON_HINT,
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(theirs.len(), cases.len());
    for ((c, mine), boto) in cases.iter().zip(&ours).zip(&theirs) {
        let auth = mine.header("authorization").unwrap();
        let signed_headers = auth
            .split("SignedHeaders=")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap();
        assert_eq!(
            signed_headers,
            boto["signed_headers"].as_str().unwrap(),
            "{}: signed headers differ",
            c.name
        );
        assert_eq!(
            mine.signature,
            boto["signature"].as_str().unwrap(),
            "{}: signature differs from botocore; botocore's canonical request:\n{}",
            c.name,
            boto["canonical_request"].as_str().unwrap()
        );
    }
    eprintln!(
        "{} requests signed identically by iris-cli and botocore",
        cases.len()
    );
}

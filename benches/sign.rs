//! Cost of signing one request (target: < 20 µs), and of rebuilding its explanation.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use iris_cli::sign::{explain, sign, Scope, Unsigned};
use url::Url;

fn bench_sign(c: &mut Criterion) {
    let url = Url::parse("https://abc123.execute-api.us-east-1.amazonaws.com/species/irispredict")
        .unwrap();
    let headers = vec![("content-type".to_string(), "application/json".to_string())];
    let body = br#"{"data":"5.1,3.5,1.4,0.2"}"#;
    let creds = Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        Some("session-token".into()),
        None,
        "bench",
    );
    let scope = Scope {
        region: "us-east-1".into(),
        service: "execute-api".into(),
    };
    let req = Unsigned {
        method: "POST",
        url: &url,
        headers: &headers,
        body,
    };
    c.bench_function("sign apigw request", |b| {
        b.iter(|| sign(black_box(&req), &creds, &scope, SystemTime::now()).unwrap())
    });
    let signed = sign(&req, &creds, &scope, SystemTime::now()).unwrap();
    c.bench_function("explain signed request", |b| {
        b.iter(|| explain(black_box(&req), &signed, &scope))
    });
}

criterion_group!(benches, bench_sign);
criterion_main!(benches);

//! Cost of one SigV4 verification, the emulator's per-request auth overhead
//! (target: > 20 000 requests/s on 2 cores, i.e. well under 100 µs per request per core).

use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use criterion::{criterion_group, criterion_main, Criterion};
use http::{HeaderMap, HeaderValue};
use iris_cli::emulator::auth::{verify, KeyStore, RequestView, TEST_ACCESS_KEY, TEST_SECRET_KEY};

fn bench(c: &mut Criterion) {
    let now = UNIX_EPOCH + Duration::from_secs(1_735_000_000);
    let host = "abc123.execute-api.us-east-1.amazonaws.com";
    let path = "/prod/species/irispredict";
    let body: &[u8] = br#"{"data":"5.1,3.5,1.4,0.2"}"#;
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static(host));
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let identity: Identity =
        Credentials::new(TEST_ACCESS_KEY, TEST_SECRET_KEY, None, None, "bench").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("execute-api")
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let url = format!("https://{host}{path}");
    let signable = SignableRequest::new(
        "POST",
        &url,
        headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut req = http::Request::builder()
        .method("POST")
        .uri(&url)
        .body(())
        .unwrap();
    *req.headers_mut() = headers;
    instructions.apply_to_request_http1x(&mut req);

    let keys = KeyStore::builtin();
    let view = RequestView {
        method: "POST",
        path,
        query: None,
        headers: req.headers(),
        body,
    };
    assert!(verify(&view, &keys, "execute-api", "us-east-1", now).is_ok());
    c.bench_function("verify/valid (cached key)", |b| {
        b.iter(|| {
            verify(
                std::hint::black_box(&view),
                &keys,
                "execute-api",
                "us-east-1",
                now,
            )
            .is_ok()
        })
    });

    let mut bad = req.headers().clone();
    let auth = bad["authorization"]
        .to_str()
        .unwrap()
        .replace("Signature=", "Signature=0");
    bad.insert("authorization", HeaderValue::from_str(&auth).unwrap());
    let view = RequestView {
        method: "POST",
        path,
        query: None,
        headers: &bad,
        body,
    };
    c.bench_function("verify/signature mismatch", |b| {
        b.iter(|| {
            verify(
                std::hint::black_box(&view),
                &keys,
                "execute-api",
                "us-east-1",
                now,
            )
            .is_err()
        })
    });

    let big = vec![b'1'; 64 * 1024];
    let view = RequestView {
        method: "POST",
        path,
        query: None,
        headers: req.headers(),
        body: &big,
    };
    c.bench_function("verify/64 KiB body (hash + mismatch)", |b| {
        b.iter(|| {
            verify(
                std::hint::black_box(&view),
                &keys,
                "execute-api",
                "us-east-1",
                now,
            )
            .is_err()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

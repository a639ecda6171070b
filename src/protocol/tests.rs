use reqwest::header::{HeaderMap, HeaderValue};

use super::apigw::ApiGateway;
use super::sagemaker::SageMaker;
use super::*;
use std::time::Duration;

fn typed(t: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("x-amzn-ErrorType", HeaderValue::from_str(t).unwrap());
    h
}

#[test]
fn every_known_answer_has_its_outcome() {
    let none = HeaderMap::new();
    let cases: &[(&dyn Protocol, u16, HeaderMap, &str, Detail)] = &[
        (
            &ApiGateway,
            200,
            none.clone(),
            r#"{"predictions":[]}"#,
            Detail::Ok,
        ),
        (
            &ApiGateway,
            429,
            none.clone(),
            r#"{"message":"Too Many Requests"}"#,
            Detail::GatewayThrottle,
        ),
        (
            &ApiGateway,
            429,
            none.clone(),
            r#"{"message":"Limit Exceeded"}"#,
            Detail::QuotaExceeded,
        ),
        (
            &ApiGateway,
            500,
            none.clone(),
            r#"{"message": "Internal server error"}"#,
            Detail::LambdaThrottle,
        ),
        (
            &ApiGateway,
            502,
            typed("InternalServerErrorException"),
            r#"{"message": "Internal server error"}"#,
            Detail::Server5xx,
        ),
        (
            &ApiGateway,
            504,
            none.clone(),
            r#"{"message": "Endpoint request timed out"}"#,
            Detail::Server5xx,
        ),
        (
            &ApiGateway,
            403,
            typed("MissingAuthenticationTokenException"),
            r#"{"message":"Missing Authentication Token"}"#,
            Detail::MissingToken,
        ),
        (
            &ApiGateway,
            403,
            typed("UnrecognizedClientException"),
            r#"{"message":"The security token included in the request is invalid."}"#,
            Detail::Credentials,
        ),
        (
            &ApiGateway,
            403,
            typed("AccessDeniedException"),
            r#"{"Message":"User: arn:aws:iam::1:user/x is not authorized to perform: execute-api:Invoke"}"#,
            Detail::Denied,
        ),
        (
            &ApiGateway,
            403,
            typed("InvalidSignatureException"),
            r#"{"message":"The request signature we calculated does not match"}"#,
            Detail::Signature,
        ),
        (
            &ApiGateway,
            403,
            typed("InvalidSignatureException"),
            r#"{"message":"Signature expired: 20170212T175938Z is now earlier than 20170215T145534Z (20170215T150034Z - 5 min.)"}"#,
            Detail::ClockSkew,
        ),
        (
            &ApiGateway,
            413,
            none.clone(),
            "HTTP content length exceeded 10485760 bytes.",
            Detail::TooLarge,
        ),
        (
            &ApiGateway,
            200,
            none.clone(),
            r#"{"errorMessage":"An error occurred (ThrottlingException) when calling the InvokeEndpoint operation","errorType":"ClientError"}"#,
            Detail::FunctionThrottle,
        ),
        (
            &ApiGateway,
            200,
            none.clone(),
            r#"{"errorMessage":"bad input","errorType":"ValueError"}"#,
            Detail::FunctionError,
        ),
        (&ApiGateway, 301, none.clone(), "", Detail::Redirect),
        (
            &SageMaker,
            400,
            typed("ThrottlingException"),
            r#"{"message":"Rate exceeded"}"#,
            Detail::SageMakerThrottle,
        ),
        (
            &SageMaker,
            429,
            typed("ModelNotReadyException"),
            r#"{"message":"Model is not ready"}"#,
            Detail::ModelNotReady,
        ),
        (
            &SageMaker,
            400,
            typed("ValidationError"),
            r#"{"message":"Endpoint iris of account 1 not found."}"#,
            Detail::NotFound,
        ),
        (
            &SageMaker,
            400,
            typed("ValidationError"),
            r#"{"message":"TargetModel is only valid for multi-model endpoints"}"#,
            Detail::Validation,
        ),
        (
            &SageMaker,
            424,
            typed("ModelError"),
            r#"{"ErrorCode":"CLIENT_ERROR_FROM_MODEL","Message":"Received client error (400)","OriginalMessage":"Feature size","OriginalStatusCode":400}"#,
            Detail::ModelError,
        ),
        (
            &SageMaker,
            424,
            typed("ModelError"),
            r#"{"message":"Your invocation timed out while waiting for a response from container primary."}"#,
            Detail::ContainerTimeout,
        ),
        (
            &SageMaker,
            503,
            typed("ServiceUnavailable"),
            r#"{"message":"x"}"#,
            Detail::Server5xx,
        ),
        (
            &SageMaker,
            500,
            typed("InternalFailure"),
            r#"{"message":"x"}"#,
            Detail::Server5xx,
        ),
        (&SageMaker, 404, none.clone(), "", Detail::NotFound),
        (&SageMaker, 408, none.clone(), "", Detail::RequestTimeout),
    ];
    for (p, status, headers, body, want) in cases {
        let got = classify(*p, *status, headers, body.as_bytes());
        assert_eq!(got, *want, "{} {status} {body}", p.name());
    }
    // The SageMaker throttle is a 400 yet never a row error.
    assert_eq!(Detail::SageMakerThrottle.outcome(), Outcome::Throttled);
    assert_eq!(
        Detail::SageMakerThrottle.category(),
        Some(Category::Throttled)
    );
    assert_eq!(classify_transport(true).outcome(), Outcome::Transient);
}

#[test]
fn bodies_are_one_encoding() {
    assert_eq!(
        ApiGateway.body(&["5.1,3.5,1.4,0.2", "6.2,2.9,4.3,1.3"]),
        br#"{"data":"5.1,3.5,1.4,0.2\n6.2,2.9,4.3,1.3"}"#.to_vec()
    );
    assert_eq!(
        SageMaker.body(&["5.1,3.5,1.4,0.2", "6.2,2.9,4.3,1.3"]),
        b"5.1,3.5,1.4,0.2\n6.2,2.9,4.3,1.3".to_vec()
    );
    // The same bytes serde_json writes for the event.
    let row = "5.1,,1.4,0.2";
    assert_eq!(
        ApiGateway.body(&[row]),
        serde_json::json!({ "data": row }).to_string().into_bytes()
    );
    let h = SageMaker.headers(&RequestSpec::default());
    assert_eq!(h[1], ("accept".to_string(), "text/csv".to_string()));
}

#[test]
fn skew_is_bounded_and_from_the_midpoint() {
    let sent = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let received = sent + Duration::from_secs(2);
    let mut h = HeaderMap::new();
    let server = sent + Duration::from_secs(601);
    h.insert(
        "date",
        HeaderValue::from_str(&httpdate::fmt_http_date(server)).unwrap(),
    );
    assert_eq!(skew_from_date(&h, sent, received), Some(600_000));
    h.insert(
        "date",
        HeaderValue::from_static("Fri, 31 Dec 9999 23:59:59 GMT"),
    );
    assert_eq!(skew_from_date(&h, sent, received), None);
}

#[test]
fn readme_error_table_is_the_taxonomy() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = outcome::table();
    assert!(
        readme.contains(&table),
        "README.md must contain the outcome table generated by protocol::outcome::table():\n{table}"
    );
}

/// `cargo test -- --ignored print_outcome_table --nocapture` prints the README table.
#[test]
#[ignore]
fn print_outcome_table() {
    print!("{}", outcome::table());
}

#[test]
fn header_values_with_a_tab_are_refused_and_values_never_echoed() {
    assert_eq!(
        parse_header("x-team:  ml  platform ").unwrap(),
        ("x-team".to_string(), "ml  platform".to_string())
    );
    let e = parse_header("x-api-key: s3cr3t\tvalue").unwrap_err();
    assert_eq!(e.exit, crate::error::Exit::Usage);
    assert!(
        e.message.contains("x-api-key") && e.message.contains("tab"),
        "{e}"
    );
    assert!(!e.message.contains("s3cr3t"), "{e}");
    let e = parse_header("x-api-key: s3cr3t\u{7f}").unwrap_err();
    assert!(!e.message.contains("s3cr3t"), "{e}");
}

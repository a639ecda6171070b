//! The one outcome taxonomy: what an answer (or a transport failure) means, shared by every
//! command. `predict` takes its exit code from it, `batch` its retry / split / stop decision,
//! `bench` and `capacity` their error counts.
//!
//! | outcome    | answers                                                              | batch            | exit |
//! |------------|----------------------------------------------------------------------|------------------|------|
//! | ok         | 2xx with predictions                                                 | write            | 0    |
//! | throttled  | API Gateway 429 (Too Many Requests, Limit Exceeded), SageMaker 400 ThrottlingException, API Gateway 500 "Internal server error" (Lambda invoke rejected: throttled), a function error naming a throttle | back off, AIMD ÷2, retry | 5 |
//! | transient  | 5xx, 408, timeouts, dropped connections, ModelNotReady, ServiceUnavailable, InternalFailure, container timeouts | back off, retry | 5 (6 for transport) |
//! | rejected   | the rows: ModelError, 413, ValidationError, other 4xx, function errors | split, then reject the row | 4 |
//! | auth       | signature mismatch, unknown key, missing token, IAM deny               | stop the run     | 3    |
//! | clock_skew | "Signature expired" / "not yet current", RequestTimeTooSkewed          | correct clock, re-sign once | 3 |
//! | not_found  | 404, endpoint not found, a redirect (never followed)                   | stop the run     | 4    |

use crate::error::Exit;

/// What became of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Throttled,
    Transient,
    /// The endpoint refused these rows: splitting finds the bad ones.
    Rejected,
    Auth,
    ClockSkew,
    NotFound,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Ok,
        Outcome::Throttled,
        Outcome::Transient,
        Outcome::Rejected,
        Outcome::Auth,
        Outcome::ClockSkew,
        Outcome::NotFound,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Throttled => "throttled",
            Outcome::Transient => "transient",
            Outcome::Rejected => "rejected",
            Outcome::Auth => "auth",
            Outcome::ClockSkew => "clock_skew",
            Outcome::NotFound => "not_found",
        }
    }

    /// Worth sending again (after a backoff).
    pub fn retryable(self) -> bool {
        matches!(self, Outcome::Throttled | Outcome::Transient)
    }

    /// Every other request of the run would fail the same way.
    pub fn fatal(self) -> bool {
        matches!(self, Outcome::Auth | Outcome::NotFound)
    }

    /// The exit code of a command that ends on this outcome (README, "Exit codes").
    pub fn exit(self) -> Exit {
        match self {
            Outcome::Ok => Exit::Ok,
            Outcome::Throttled | Outcome::Transient => Exit::Server,
            Outcome::Rejected | Outcome::NotFound => Exit::Client,
            Outcome::Auth | Outcome::ClockSkew => Exit::Auth,
        }
    }
}

/// The finer reason behind an outcome: what bench counts and what messages name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    Ok,
    /// API Gateway stage or method throttle: 429 "Too Many Requests".
    GatewayThrottle,
    /// Usage plan quota: 429 "Limit Exceeded".
    QuotaExceeded,
    /// SageMaker InvokeEndpoint: 400 ThrottlingException.
    SageMakerThrottle,
    /// API Gateway 500 "Internal server error": Lambda rejected the invoke (throttled).
    LambdaThrottle,
    /// A non-proxy function error whose message names a throttle (the function's own call).
    FunctionThrottle,
    Server5xx,
    RequestTimeout,
    ModelNotReady,
    ContainerTimeout,
    /// A function error whose message says it is worth retrying.
    FunctionTransient,
    Timeout,
    Connection,
    ModelError,
    TooLarge,
    Validation,
    FunctionError,
    OtherClient,
    Signature,
    Credentials,
    Denied,
    MissingToken,
    ClockSkew,
    NotFound,
    Redirect,
}

/// How bench and capacity count errors (the keys of `errors` in `-o json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    SignatureRejected,
    AuthRejected,
    Throttled,
    Client4xx,
    Server5xx,
    FunctionError,
    Timeout,
    Connection,
}

impl Category {
    pub const ALL: [Category; 8] = [
        Category::SignatureRejected,
        Category::AuthRejected,
        Category::Throttled,
        Category::Client4xx,
        Category::Server5xx,
        Category::FunctionError,
        Category::Timeout,
        Category::Connection,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Category::SignatureRejected => "signature_rejected",
            Category::AuthRejected => "auth_rejected",
            Category::Throttled => "throttled",
            Category::Client4xx => "client_4xx",
            Category::Server5xx => "server_5xx",
            Category::FunctionError => "function_error",
            Category::Timeout => "timeout",
            Category::Connection => "connection",
        }
    }

    pub fn from_name(name: &str) -> Option<Category> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn index(self) -> usize {
        Self::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }
}

impl Detail {
    pub fn outcome(self) -> Outcome {
        use Detail::*;
        match self {
            Ok => Outcome::Ok,
            GatewayThrottle | QuotaExceeded | SageMakerThrottle | LambdaThrottle
            | FunctionThrottle => Outcome::Throttled,
            Server5xx | RequestTimeout | ModelNotReady | ContainerTimeout | FunctionTransient
            | Timeout | Connection => Outcome::Transient,
            ModelError | TooLarge | Validation | FunctionError | OtherClient => Outcome::Rejected,
            Signature | Credentials | Denied | MissingToken => Outcome::Auth,
            ClockSkew => Outcome::ClockSkew,
            NotFound | Redirect => Outcome::NotFound,
        }
    }

    /// None for a success.
    pub fn category(self) -> Option<Category> {
        use Detail::*;
        Some(match self {
            Ok => return None,
            GatewayThrottle | QuotaExceeded | SageMakerThrottle | LambdaThrottle
            | FunctionThrottle => Category::Throttled,
            Server5xx | ModelNotReady | ContainerTimeout => Category::Server5xx,
            FunctionTransient | FunctionError => Category::FunctionError,
            Timeout => Category::Timeout,
            Connection => Category::Connection,
            RequestTimeout | ModelError | TooLarge | Validation | OtherClient | NotFound
            | Redirect => Category::Client4xx,
            Signature | ClockSkew => Category::SignatureRejected,
            Credentials | Denied | MissingToken => Category::AuthRejected,
        })
    }

    pub fn name(self) -> &'static str {
        use Detail::*;
        match self {
            Ok => "ok",
            GatewayThrottle => "gateway_throttle",
            QuotaExceeded => "quota_exceeded",
            SageMakerThrottle => "sagemaker_throttle",
            LambdaThrottle => "lambda_throttle",
            FunctionThrottle => "function_throttle",
            Server5xx => "server_5xx",
            RequestTimeout => "request_timeout",
            ModelNotReady => "model_not_ready",
            ContainerTimeout => "container_timeout",
            FunctionTransient => "function_transient",
            Timeout => "timeout",
            Connection => "connection",
            ModelError => "model_error",
            TooLarge => "too_large",
            Validation => "validation",
            FunctionError => "function_error",
            OtherClient => "client_error",
            Signature => "signature",
            Credentials => "credentials",
            Denied => "denied",
            MissingToken => "missing_token",
            ClockSkew => "clock_skew",
            NotFound => "not_found",
            Redirect => "redirect",
        }
    }
}

/// Markers in a non-proxy function error (`errorType`, `errorMessage`) that the function's
/// own call to SageMaker was throttled.
const THROTTLE_MARKERS: [&str; 3] = ["Throttl", "TooManyRequests", "Rate exceeded"];
/// ... or failed in a way worth retrying.
const TRANSIENT_MARKERS: [&str; 5] = [
    "ServiceUnavailable",
    "InternalFailure",
    "ModelNotReady",
    "InternalDependency",
    "timed out",
];

/// A function error (200 with `errorMessage`) by its type and message.
pub fn function_error(error_type: &str, message: &str) -> Detail {
    let has = |m: &&str| error_type.contains(m) || message.contains(m);
    if THROTTLE_MARKERS.iter().any(has) {
        Detail::FunctionThrottle
    } else if TRANSIENT_MARKERS.iter().any(has) {
        Detail::FunctionTransient
    } else {
        Detail::FunctionError
    }
}

/// One row of the README's error table, generated from the taxonomy (a test compares it).
pub fn table() -> String {
    let mut s = String::from(
        "| outcome | answers | bench counts it as | batch | exit |\n|---|---|---|---|---|\n",
    );
    let details = [
        (Outcome::Ok, &[Detail::Ok][..]),
        (
            Outcome::Throttled,
            &[
                Detail::GatewayThrottle,
                Detail::QuotaExceeded,
                Detail::SageMakerThrottle,
                Detail::LambdaThrottle,
                Detail::FunctionThrottle,
            ],
        ),
        (
            Outcome::Transient,
            &[
                Detail::Server5xx,
                Detail::RequestTimeout,
                Detail::ModelNotReady,
                Detail::ContainerTimeout,
                Detail::FunctionTransient,
                Detail::Timeout,
                Detail::Connection,
            ],
        ),
        (
            Outcome::Rejected,
            &[
                Detail::ModelError,
                Detail::TooLarge,
                Detail::Validation,
                Detail::FunctionError,
                Detail::OtherClient,
            ],
        ),
        (
            Outcome::Auth,
            &[
                Detail::Signature,
                Detail::Credentials,
                Detail::Denied,
                Detail::MissingToken,
            ],
        ),
        (Outcome::ClockSkew, &[Detail::ClockSkew]),
        (Outcome::NotFound, &[Detail::NotFound, Detail::Redirect]),
    ];
    for (outcome, ds) in details {
        let mut cats: Vec<&str> = Vec::new();
        for d in ds {
            debug_assert_eq!(d.outcome(), outcome);
            let c = d.category().map_or("ok", Category::name);
            if !cats.contains(&c) {
                cats.push(c);
            }
        }
        let batch = match outcome {
            Outcome::Ok => "written",
            Outcome::Throttled => "retried after a backoff; the concurrency limit halves",
            Outcome::Transient => "retried after a backoff",
            Outcome::Rejected => "split until the bad rows are alone, then rejected",
            Outcome::Auth | Outcome::NotFound => "the run stops (resumable)",
            Outcome::ClockSkew => "re-signed once with the server's clock",
        };
        let exit = match outcome {
            Outcome::Transient => format!("{} (6 without an answer)", outcome.exit().code()),
            _ => outcome.exit().code().to_string(),
        };
        let answers: Vec<&str> = ds.iter().map(|d| d.name()).collect();
        s.push_str(&format!(
            "| `{}` | {} | {} | {batch} | {exit} |\n",
            outcome.name(),
            answers.join(", "),
            cats.iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    s
}

//! `--cloudwatch`: AWS's own numbers for the run's window (GetMetricData) beside the client's
//! percentiles, with the gap between each pair of hops named.
//!
//! The dimensions come from the target: a REST API's metrics are keyed by its *name* and stage
//! (`--api-name`; the stage is the invoke URL's first path segment), an HTTP API's by its id
//! (the invoke URL's host) and stage, Lambda's by `--function-name`, SageMaker's by endpoint
//! and variant (`--variant-name`, default `AllTraffic`). With `--local` all of them are the
//! embedded emulator's, and so is the endpoint (its port serves GetMetricData).
//!
//! The whole window is asked for as one period (a multiple of 60 s holding the run, starting
//! on a multiple of itself), so each statistic is one datapoint over the run: percentiles of
//! several periods could not be combined.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use serde::Serialize;

use crate::config::TargetKind;
use crate::error::{CliError, Exit};

/// The IAM policy `--cloudwatch` needs, printed when it is missing.
pub const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"cloudwatch:GetMetricData","Resource":"*"}]}"#;

/// `--cloudwatch*`, `--function-name`, `--api-name`, `--variant-name`.
#[derive(Debug, Clone)]
pub struct CloudWatchOptions {
    /// How long to wait for the metrics to land.
    pub wait: Duration,
    pub endpoint_url: Option<String>,
    pub function_name: Option<String>,
    pub api_name: Option<String>,
    pub variant_name: String,
    pub quiet: bool,
}

/// What the metrics are keyed by.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Dimensions {
    /// REST API: `ApiName` and `Stage`.
    pub api_name: Option<String>,
    /// HTTP API: `ApiId` and `Stage`.
    pub api_id: Option<String>,
    pub stage: Option<String>,
    pub function_name: Option<String>,
    pub endpoint_name: Option<String>,
    pub variant_name: Option<String>,
}

/// Where the API's requests went: the dimensions, and notes on what could not be inferred.
pub fn infer(
    kind: TargetKind,
    url: &url::Url,
    local: bool,
    sagemaker_endpoint: Option<&str>,
    opts: &CloudWatchOptions,
) -> (Dimensions, Vec<String>) {
    let mut d = Dimensions::default();
    let mut notes = Vec::new();
    let emu = crate::emulator::EmulatorConfig::default();
    let first_segment = || {
        url.path_segments()
            .and_then(|mut s| s.next())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    match kind {
        TargetKind::ApiGateway => {
            d.stage = first_segment();
            d.api_name = opts
                .api_name
                .clone()
                .or_else(|| local.then(|| emu.api_name.clone()));
            if d.api_name.is_none() {
                notes.push(
                    "API Gateway: a REST API's metrics are keyed by its name, not the id in the URL: give --api-name (the seed stack's is <stack>-iris)".into(),
                );
            }
        }
        TargetKind::HttpApi => {
            d.stage = Some(first_segment().unwrap_or_else(|| "$default".into()));
            d.api_id = if local {
                Some(emu.http_api_id.clone())
            } else {
                url.host_str()
                    .and_then(|h| h.split('.').next())
                    .map(str::to_string)
            };
            // `$default` serves paths without a stage segment.
            if local {
                d.stage = Some("$default".into());
            }
        }
        TargetKind::FunctionUrl => {}
        TargetKind::SageMaker => {
            // /endpoints/{name}/invocations
            d.endpoint_name = url
                .path_segments()
                .and_then(|s| s.skip_while(|x| *x != "endpoints").nth(1))
                .map(|s| {
                    percent_encoding::percent_decode_str(s)
                        .decode_utf8_lossy()
                        .into_owned()
                });
        }
    }
    if d.endpoint_name.is_none() {
        d.endpoint_name = sagemaker_endpoint
            .map(str::to_string)
            .or_else(|| local.then(|| emu.endpoint_name.clone()));
    }
    if d.endpoint_name.is_some() {
        d.variant_name = Some(opts.variant_name.clone());
    } else {
        notes.push("SageMaker: give --sagemaker-endpoint NAME for the endpoint's metrics".into());
    }
    if kind != TargetKind::SageMaker {
        d.function_name = opts
            .function_name
            .clone()
            .or_else(|| local.then(|| emu.function_name.clone()));
        if d.function_name.is_none() {
            notes.push(
                "Lambda: give --function-name (the seed stack's FunctionName output) for the function's metrics".into(),
            );
        }
    }
    (d, notes)
}

/// The client's side of the comparison.
#[derive(Debug, Clone, Default)]
pub struct ClientSide {
    pub response_p50: Option<f64>,
    pub response_p99: Option<f64>,
    pub response_mean: Option<f64>,
    pub service_p50: Option<f64>,
    pub service_p99: Option<f64>,
    /// Requests the API answered 2xx (`None` when the API was not a target).
    pub api_ok: Option<u64>,
    /// Requests sent straight to SageMaker answered 2xx.
    pub sagemaker_ok: u64,
    /// 500-class answers (the client's view of throttled or failed invocations).
    pub server_errors: u64,
    /// Warmup requests (sent, not measured, but counted by AWS).
    pub warmup: u64,
}

/// The window the run covered, epoch seconds.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start: f64,
    pub end: f64,
}

/// The query window: one period of a multiple of 60 s starting at a multiple of itself,
/// holding `[start, end)`. Returns (start, end, period) in whole seconds.
pub fn one_period(w: Window) -> (i64, i64, i64) {
    let s = (w.start.floor() as i64).div_euclid(60);
    let e = ((w.end.ceil() as i64).max(w.start.floor() as i64 + 1) - 1).div_euclid(60);
    let mut k = 1;
    while s.div_euclid(k) != e.div_euclid(k) {
        k += 1;
    }
    let start = s.div_euclid(k) * k * 60;
    (start, start + k * 60, k * 60)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A latency: p50, p99, SampleCount, Average.
    Latency,
    /// A count: Sum.
    Count,
    /// A level: Maximum.
    Level,
}

#[derive(Debug, Clone)]
struct Wanted {
    label: &'static str,
    namespace: &'static str,
    metric: &'static str,
    dims: Vec<(&'static str, String)>,
    kind: Kind,
    /// Microseconds (SageMaker's latencies) are shown in milliseconds.
    micro: bool,
}

fn wanted(d: &Dimensions, http: bool) -> Vec<Wanted> {
    let mut v = Vec::new();
    let w = |label, namespace, metric, dims: &Vec<(&'static str, String)>, kind, micro| Wanted {
        label,
        namespace,
        metric,
        dims: dims.clone(),
        kind,
        micro,
    };
    let api_dims = match (&d.api_name, &d.api_id) {
        (Some(n), _) => Some(
            std::iter::once(("ApiName", n.clone()))
                .chain(d.stage.clone().map(|s| ("Stage", s)))
                .collect::<Vec<_>>(),
        ),
        (None, Some(id)) => Some(
            std::iter::once(("ApiId", id.clone()))
                .chain(d.stage.clone().map(|s| ("Stage", s)))
                .collect(),
        ),
        _ => None,
    };
    const AG: &str = "AWS/ApiGateway";
    const L: &str = "AWS/Lambda";
    const SM: &str = "AWS/SageMaker";
    if let Some(a) = &api_dims {
        v.push(w(
            "API Gateway Latency",
            AG,
            "Latency",
            a,
            Kind::Latency,
            false,
        ));
        v.push(w(
            "API Gateway IntegrationLatency",
            AG,
            "IntegrationLatency",
            a,
            Kind::Latency,
            false,
        ));
        v.push(w("API Gateway Count", AG, "Count", a, Kind::Count, false));
        let (e4, e5) = if http {
            ("4xx", "5xx")
        } else {
            ("4XXError", "5XXError")
        };
        v.push(w("API Gateway 4xx", AG, e4, a, Kind::Count, false));
        v.push(w("API Gateway 5xx", AG, e5, a, Kind::Count, false));
    }
    if let Some(f) = &d.function_name {
        let l = vec![("FunctionName", f.clone())];
        v.push(w(
            "Lambda Duration",
            L,
            "Duration",
            &l,
            Kind::Latency,
            false,
        ));
        v.push(w(
            "Lambda Invocations",
            L,
            "Invocations",
            &l,
            Kind::Count,
            false,
        ));
        v.push(w("Lambda Errors", L, "Errors", &l, Kind::Count, false));
        v.push(w(
            "Lambda Throttles",
            L,
            "Throttles",
            &l,
            Kind::Count,
            false,
        ));
        v.push(w(
            "Lambda ConcurrentExecutions",
            L,
            "ConcurrentExecutions",
            &l,
            Kind::Level,
            false,
        ));
    }
    if let (Some(e), Some(var)) = (&d.endpoint_name, &d.variant_name) {
        let s = vec![("EndpointName", e.clone()), ("VariantName", var.clone())];
        v.push(w(
            "SageMaker ModelLatency",
            SM,
            "ModelLatency",
            &s,
            Kind::Latency,
            true,
        ));
        v.push(w(
            "SageMaker OverheadLatency",
            SM,
            "OverheadLatency",
            &s,
            Kind::Latency,
            true,
        ));
        v.push(w(
            "SageMaker Invocations",
            SM,
            "Invocations",
            &s,
            Kind::Count,
            false,
        ));
        v.push(w(
            "SageMaker Invocation4XXErrors",
            SM,
            "Invocation4XXErrors",
            &s,
            Kind::Count,
            false,
        ));
        v.push(w(
            "SageMaker Invocation5XXErrors",
            SM,
            "Invocation5XXErrors",
            &s,
            Kind::Count,
            false,
        ));
    }
    v
}

fn stats(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Latency => &["p50", "p99", "SampleCount", "Average"],
        Kind::Count => &["Sum"],
        Kind::Level => &["Maximum"],
    }
}

/// One metric as CloudWatch answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricRow {
    pub label: String,
    pub namespace: String,
    pub metric: String,
    pub dimensions: BTreeMap<String, String>,
    /// The unit CloudWatch keeps it in (`Microseconds` for SageMaker's latencies).
    pub unit: String,
    /// Latencies in milliseconds (SageMaker's µs divided by 1000); `None`: no datapoint.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub average_ms: Option<f64>,
    /// SampleCount for a latency, Sum for a count, Maximum for a level.
    pub value: Option<f64>,
}

/// A difference between two adjacent hops, named.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gap {
    pub name: String,
    pub from: String,
    pub to: String,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Of the averages (what moto, without percentiles, can answer).
    pub average_ms: Option<f64>,
}

/// A count the client knows checked against CloudWatch's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CountCheck {
    pub client: String,
    pub client_value: u64,
    pub cloudwatch: String,
    pub cloudwatch_value: Option<f64>,
    pub matches: bool,
}

/// The `cloudwatch` member of `bench -o json` and `report cloudwatch`'s report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CloudWatchReport {
    /// The window asked for (RFC 3339) and its one period.
    pub start: String,
    pub end: String,
    pub period_s: i64,
    pub region: String,
    pub dimensions: Dimensions,
    /// Client rows (response, service) first when there was a run.
    pub client: BTreeMap<String, ClientRow>,
    pub metrics: Vec<MetricRow>,
    pub gaps: Vec<Gap>,
    pub counts: Vec<CountCheck>,
    /// Seconds spent waiting for the metrics to land.
    pub waited_s: f64,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientRow {
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

fn fmt_time(secs: i64) -> String {
    crate::bench::schedule::fmt_rfc3339(std::time::UNIX_EPOCH + Duration::from_secs(secs as u64))
}

/// A GetMetricData failure as the CLI reports it: AccessDenied names the policy to add.
fn sdk_error<E, R>(e: &aws_sdk_cloudwatch::error::SdkError<E, R>) -> CliError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = e.code().unwrap_or_default();
    if code.contains("AccessDenied") || code == "UnauthorizedOperation" {
        return CliError::new(
            Exit::Auth,
            format!("cloudwatch: {code}: these credentials may not call cloudwatch:GetMetricData; attach this IAM policy: {POLICY}"),
        );
    }
    let detail = match e.message() {
        Some(m) => format!("{code}: {m}"),
        None => format!("{}", aws_sdk_cloudwatch::error::DisplayErrorContext(e)),
    };
    let exit = match e {
        aws_sdk_cloudwatch::error::SdkError::DispatchFailure(_)
        | aws_sdk_cloudwatch::error::SdkError::TimeoutError(_) => Exit::Network,
        _ if code.is_empty() => Exit::Failure,
        _ => Exit::Client,
    };
    CliError::new(exit, format!("cloudwatch: GetMetricData: {detail}"))
}

/// A CloudWatch client on the session's credentials and region.
pub fn client(
    provider: aws_credential_types::provider::SharedCredentialsProvider,
    region: &str,
    endpoint_url: Option<&str>,
) -> aws_sdk_cloudwatch::Client {
    let mut b = aws_sdk_cloudwatch::Config::builder()
        .behavior_version(aws_sdk_cloudwatch::config::BehaviorVersion::latest())
        .region(aws_sdk_cloudwatch::config::Region::new(region.to_string()))
        .credentials_provider(provider)
        .timeout_config(
            aws_sdk_cloudwatch::config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(30))
                .build(),
        );
    if let Some(u) = endpoint_url {
        b = b.endpoint_url(u);
    }
    aws_sdk_cloudwatch::Client::from_conf(b.build())
}

/// id -> statistic -> value, over the one period.
type Answers = BTreeMap<String, f64>;

/// A hop's (p50, p99, average) in milliseconds.
type Triple = (Option<f64>, Option<f64>, Option<f64>);

async fn fetch(
    client: &aws_sdk_cloudwatch::Client,
    want: &[Wanted],
    start: i64,
    end: i64,
    period: i64,
) -> Result<Answers, CliError> {
    let mut queries = Vec::new();
    for (i, w) in want.iter().enumerate() {
        let metric = Metric::builder()
            .namespace(w.namespace)
            .metric_name(w.metric)
            .set_dimensions(Some(
                w.dims
                    .iter()
                    .map(|(n, v)| Dimension::builder().name(*n).value(v).build())
                    .collect(),
            ))
            .build();
        for (j, stat) in stats(w.kind).iter().enumerate() {
            queries.push(
                MetricDataQuery::builder()
                    .id(format!("m{i}_{j}"))
                    .metric_stat(
                        MetricStat::builder()
                            .metric(metric.clone())
                            .period(period as i32)
                            .stat(*stat)
                            .build(),
                    )
                    .return_data(true)
                    .build(),
            );
        }
    }
    let mut answers = Answers::new();
    let mut token: Option<String> = None;
    // Bounded: a few hundred queries fit one page; a misbehaving server cannot loop us.
    for _ in 0..20 {
        let out = client
            .get_metric_data()
            .start_time(DateTime::from_secs(start))
            .end_time(DateTime::from_secs(end))
            .scan_by(ScanBy::TimestampAscending)
            .set_metric_data_queries(Some(queries.clone()))
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| sdk_error(&e))?;
        for r in out.metric_data_results() {
            let (Some(id), values) = (r.id(), r.values()) else {
                continue;
            };
            if values.is_empty() {
                continue;
            }
            // One period is asked for; should there be several, the stat says how to join.
            let stat = id
                .rsplit('_')
                .next()
                .and_then(|j| j.parse::<usize>().ok())
                .zip(
                    id[1..]
                        .split('_')
                        .next()
                        .and_then(|i| i.parse::<usize>().ok()),
                )
                .map(|(j, i)| stats(want[i].kind)[j])
                .unwrap_or("Sum");
            let v = match stat {
                "Sum" | "SampleCount" => values.iter().sum(),
                _ => values.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
            };
            answers.insert(id.to_string(), v);
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(answers)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn rows(want: &[Wanted], a: &Answers) -> Vec<MetricRow> {
    want.iter()
        .enumerate()
        .map(|(i, w)| {
            let get = |j: usize| a.get(&format!("m{i}_{j}")).copied();
            let ms = |x: Option<f64>| x.map(|v| round3(if w.micro { v / 1000.0 } else { v }));
            let (p50, p99, avg, value) = match w.kind {
                Kind::Latency => (ms(get(0)), ms(get(1)), ms(get(3)), get(2)),
                Kind::Count | Kind::Level => (None, None, None, get(0)),
            };
            MetricRow {
                label: w.label.into(),
                namespace: w.namespace.into(),
                metric: w.metric.into(),
                dimensions: w
                    .dims
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
                unit: match (w.kind, w.micro) {
                    (Kind::Latency, true) => "Microseconds",
                    (Kind::Latency, false) => "Milliseconds",
                    _ => "Count",
                }
                .into(),
                p50_ms: p50,
                p99_ms: p99,
                average_ms: avg,
                value,
            }
        })
        .collect()
}

fn find<'a>(rows: &'a [MetricRow], label: &str) -> Option<&'a MetricRow> {
    rows.iter().find(|r| r.label == label)
}

fn gaps(client: &ClientSide, rows: &[MetricRow]) -> Vec<Gap> {
    let lat = |l: &str| find(rows, l).map(|r| (r.p50_ms, r.p99_ms, r.average_ms));
    let client_row = client.response_p50.map(|_| {
        (
            client.response_p50,
            client.response_p99,
            client.response_mean,
        )
    });
    let sm = match (
        lat("SageMaker ModelLatency"),
        lat("SageMaker OverheadLatency"),
    ) {
        (Some((m50, m99, mavg)), Some((o50, o99, oavg))) => Some((
            m50.zip(o50).map(|(a, b)| round3(a + b)),
            m99.zip(o99).map(|(a, b)| round3(a + b)),
            mavg.zip(oavg).map(|(a, b)| round3(a + b)),
        )),
        (Some(m), None) => Some(m),
        _ => None,
    };
    let hops: [(&str, Option<Triple>); 5] = [
        ("client response", client_row),
        ("API Gateway Latency", lat("API Gateway Latency")),
        (
            "API Gateway IntegrationLatency",
            lat("API Gateway IntegrationLatency"),
        ),
        ("Lambda Duration", lat("Lambda Duration")),
        ("SageMaker ModelLatency + OverheadLatency", sm),
    ];
    let names = [
        "network and TLS (client to API Gateway and back)",
        "API Gateway itself (auth, mapping templates, routing)",
        "invoke overhead and cold starts (integration minus Lambda Duration)",
        "the function's own work (Lambda minus SageMaker: parse, sign, call, reshape)",
    ];
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (Some((a50, a99, aavg)), Some((b50, b99, bavg))) = (hops[i].1, hops[i + 1].1) else {
            continue;
        };
        let d = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| round3(a - b));
        out.push(Gap {
            name: name.to_string(),
            from: hops[i].0.into(),
            to: hops[i + 1].0.into(),
            p50_ms: d(a50, b50),
            p99_ms: d(a99, b99),
            average_ms: d(aavg, bavg),
        });
    }
    out
}

fn counts(client: &ClientSide, rows: &[MetricRow]) -> Vec<CountCheck> {
    let val = |l: &str| find(rows, l).map(|r| r.value);
    let mut out = Vec::new();
    let mut check = |c: &str, cv: u64, l: &str| {
        if let Some(v) = val(l) {
            out.push(CountCheck {
                client: c.into(),
                client_value: cv,
                cloudwatch: l.into(),
                cloudwatch_value: v,
                matches: v.unwrap_or(0.0) == cv as f64,
            });
        }
    };
    if let Some(ok) = client.api_ok {
        let label = if client.warmup > 0 {
            "client ok + warmup"
        } else {
            "client ok"
        };
        let n = ok + client.warmup;
        check(label, n, "API Gateway Count");
        check(label, n, "Lambda Invocations");
        check(label, n + client.sagemaker_ok, "SageMaker Invocations");
    } else {
        check(
            "client ok",
            client.sagemaker_ok + client.warmup,
            "SageMaker Invocations",
        );
    }
    check("client 5xx", client.server_errors, "Lambda Throttles");
    out
}

/// The expected counts have all landed (or, with nothing to compare, any data has).
fn landed(client: Option<&ClientSide>, rows: &[MetricRow]) -> bool {
    match client {
        Some(c) => {
            let c = counts(c, rows);
            let invocations: Vec<&CountCheck> = c
                .iter()
                .filter(|c| c.cloudwatch != "Lambda Throttles")
                .collect();
            !invocations.is_empty() && invocations.iter().all(|c| c.matches)
        }
        None => rows.iter().any(|r| r.value.is_some()),
    }
}

fn count_signature(rows: &[MetricRow]) -> Vec<Option<u64>> {
    rows.iter().map(|r| r.value.map(|v| v.to_bits())).collect()
}

/// Ask CloudWatch, waiting up to `opts.wait` for the metrics to land: polled until the counts
/// match the client's, or stop changing once some have arrived.
#[allow(clippy::too_many_arguments)]
pub async fn collect(
    cw: &aws_sdk_cloudwatch::Client,
    region: &str,
    dims: Dimensions,
    http: bool,
    window: Window,
    client: Option<&ClientSide>,
    mut notes: Vec<String>,
    opts: &CloudWatchOptions,
    local: bool,
) -> Result<CloudWatchReport, CliError> {
    let (start, end, period) = one_period(window);
    let want = wanted(&dims, http);
    if want.is_empty() {
        return Err(CliError::usage(format!(
            "--cloudwatch: no metrics to ask for: {}",
            notes.join("; ")
        )));
    }
    let began = Instant::now();
    // In-process the metrics land at once; AWS's take minutes, so a few polls per wait.
    let poll = if local {
        Duration::from_millis(200)
    } else {
        (opts.wait / 12).clamp(Duration::from_millis(200), Duration::from_secs(15))
    };
    let mut last: Option<Vec<Option<u64>>> = None;
    let rows = loop {
        let answers = fetch(cw, &want, start, end, period).await?;
        let r = rows(&want, &answers);
        let sig = count_signature(&r);
        let some = sig.iter().any(Option::is_some);
        let elapsed = began.elapsed();
        let stable = some && last.as_ref() == Some(&sig);
        if landed(client, &r) || stable || elapsed + poll > opts.wait {
            if !landed(client, &r) && client.is_some() {
                notes.push(format!(
                    "the counts did not match the client's within --cloudwatch-wait {}s{}",
                    opts.wait.as_secs(),
                    if stable {
                        " (they stopped changing)"
                    } else {
                        ""
                    }
                ));
            }
            break r;
        }
        if !opts.quiet {
            let have = find(&r, "SageMaker Invocations")
                .or_else(|| find(&r, "Lambda Invocations"))
                .and_then(|r| r.value)
                .unwrap_or(0.0);
            eprintln!(
                "iris-cli: cloudwatch: waiting for the metrics to land ({have} invocations so far, {:.0} s of {} s)",
                elapsed.as_secs_f64(),
                opts.wait.as_secs()
            );
        }
        last = Some(sig);
        tokio::time::sleep(poll).await;
    };
    let default_client = ClientSide::default();
    let c = client.unwrap_or(&default_client);
    let mut client_rows = BTreeMap::new();
    if client.is_some() {
        client_rows.insert(
            "response".into(),
            ClientRow {
                p50_ms: c.response_p50,
                p99_ms: c.response_p99,
            },
        );
        client_rows.insert(
            "service".into(),
            ClientRow {
                p50_ms: c.service_p50,
                p99_ms: c.service_p99,
            },
        );
    }
    Ok(CloudWatchReport {
        start: fmt_time(start),
        end: fmt_time(end),
        period_s: period,
        region: region.to_string(),
        dimensions: dims,
        client: client_rows,
        gaps: gaps(c, &rows),
        counts: if client.is_some() {
            counts(c, &rows)
        } else {
            Vec::new()
        },
        metrics: rows,
        waited_s: round3(began.elapsed().as_secs_f64()),
        notes,
    })
}

fn cell(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into())
}

/// The human table.
pub fn render(r: &CloudWatchReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "CloudWatch ({}, {} .. {}, one {} s period):",
        r.region, r.start, r.end, r.period_s
    );
    let _ = writeln!(
        s,
        "  {:<38} {:>10} {:>10} {:>10} {:>10}",
        "", "p50 ms", "p99 ms", "avg ms", "count"
    );
    for (name, c) in &r.client {
        let _ = writeln!(
            s,
            "  {:<38} {:>10} {:>10} {:>10} {:>10}",
            format!("client {name}"),
            cell(c.p50_ms),
            cell(c.p99_ms),
            "",
            ""
        );
    }
    for m in &r.metrics {
        let count = m
            .value
            .map(|v| format!("{v}"))
            .unwrap_or_else(|| "-".into());
        let label = if m.unit == "Microseconds" {
            format!("{} (us->ms)", m.label)
        } else {
            m.label.clone()
        };
        if m.unit == "Count" {
            let _ = writeln!(
                s,
                "  {:<38} {:>10} {:>10} {:>10} {:>10}",
                label, "", "", "", count
            );
        } else {
            let _ = writeln!(
                s,
                "  {:<38} {:>10} {:>10} {:>10} {:>10}",
                label,
                cell(m.p50_ms),
                cell(m.p99_ms),
                cell(m.average_ms),
                count
            );
        }
    }
    if !r.gaps.is_empty() {
        let _ = writeln!(s, "  gaps (p50 / p99 / avg ms):");
        for g in &r.gaps {
            let _ = writeln!(
                s,
                "    {} / {} / {}  {} - {}: {}",
                cell(g.p50_ms),
                cell(g.p99_ms),
                cell(g.average_ms),
                g.from,
                g.to,
                g.name
            );
        }
    }
    if !r.counts.is_empty() {
        let _ = writeln!(s, "  counts:");
        for c in &r.counts {
            let _ = writeln!(
                s,
                "    {} {} {} {} {}",
                c.client,
                c.client_value,
                if c.matches { "==" } else { "!=" },
                c.cloudwatch,
                c.cloudwatch_value
                    .map(|v| format!("{v}"))
                    .unwrap_or_else(|| "(no data)".into())
            );
        }
    }
    for n in &r.notes {
        let _ = writeln!(s, "  note: {n}");
    }
    s
}

/// `--stack-outputs FILE`: (OutputKey, OutputValue) pairs from describe-stacks' JSON, whole
/// (`{"Stacks": [{"Outputs": [...]}]}`, the first stack) or its `Outputs` list alone.
pub fn stack_outputs(path: &std::path::Path) -> Result<Vec<(String, String)>, CliError> {
    let bad = |what: String| CliError::usage(format!("--stack-outputs {}: {what}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        bad(format!(
            "not JSON (line {}, column {}): {e}",
            e.line(),
            e.column()
        ))
    })?;
    let list = match &v {
        serde_json::Value::Array(_) => &v,
        _ => &v["Stacks"][0]["Outputs"],
    };
    let Some(list) = list.as_array() else {
        return Err(bad(
            "no outputs: expected describe-stacks JSON ({\"Stacks\": [{\"Outputs\": [...]}]}) or its Outputs list".into(),
        ));
    };
    Ok(list
        .iter()
        .filter_map(|o| {
            Some((
                o["OutputKey"].as_str()?.to_string(),
                o["OutputValue"].as_str()?.to_string(),
            ))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_period_holds_the_window_and_starts_on_a_multiple_of_itself() {
        let w = |a: f64, b: f64| one_period(Window { start: a, end: b });
        // 11:14:03..11:14:08 -> the minute.
        assert_eq!(
            w(674.0 * 60.0 + 3.0, 674.0 * 60.0 + 8.0),
            (40_440, 40_500, 60)
        );
        // Across a minute: two minutes starting on an even minute.
        assert_eq!(
            w(674.0 * 60.0 + 58.0, 675.0 * 60.0 + 3.0),
            (40_440, 40_560, 120)
        );
        // Across the hour: 719..720 share no period below 7 minutes.
        let (s, e, p) = w(719.0 * 60.0 + 58.0, 720.0 * 60.0 + 3.0);
        assert_eq!(
            (p, s % p, s <= 719 * 60, e > 720 * 60),
            (420, 0, true, true)
        );
    }

    #[test]
    fn dimensions_from_the_invoke_url() {
        let opts = CloudWatchOptions {
            wait: Duration::ZERO,
            endpoint_url: None,
            function_name: Some("stack-iris-predict".into()),
            api_name: Some("stack-iris".into()),
            variant_name: "AllTraffic".into(),
            quiet: true,
        };
        let u =
            url::Url::parse("https://abc123.execute-api.eu-west-1.amazonaws.com/prod/irispredict")
                .unwrap();
        let (d, notes) = infer(TargetKind::ApiGateway, &u, false, Some("iris-xgb"), &opts);
        assert_eq!(d.api_name.as_deref(), Some("stack-iris"));
        assert_eq!(d.stage.as_deref(), Some("prod"));
        assert_eq!(d.function_name.as_deref(), Some("stack-iris-predict"));
        assert_eq!(d.endpoint_name.as_deref(), Some("iris-xgb"));
        assert_eq!(d.variant_name.as_deref(), Some("AllTraffic"));
        assert!(notes.is_empty(), "{notes:?}");
        let u = url::Url::parse("https://h77.execute-api.eu-west-1.amazonaws.com/prod/irispredict")
            .unwrap();
        let (d, _) = infer(TargetKind::HttpApi, &u, false, None, &opts);
        assert_eq!(
            (d.api_id.as_deref(), d.stage.as_deref()),
            (Some("h77"), Some("prod"))
        );
        let u = url::Url::parse(
            "https://runtime.sagemaker.eu-west-1.amazonaws.com/endpoints/my-ep/invocations",
        )
        .unwrap();
        let (d, _) = infer(TargetKind::SageMaker, &u, false, None, &opts);
        assert_eq!(d.endpoint_name.as_deref(), Some("my-ep"));
        assert_eq!(d.function_name, None);
        let bare = CloudWatchOptions {
            function_name: None,
            api_name: None,
            ..opts
        };
        let u = url::Url::parse("https://abc.execute-api.eu-west-1.amazonaws.com/prod/x").unwrap();
        let (_, notes) = infer(TargetKind::ApiGateway, &u, false, None, &bare);
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(notes[0].contains("--api-name"));
    }

    #[test]
    fn gaps_are_named_and_microseconds_become_milliseconds() {
        let d = Dimensions {
            api_name: Some("a".into()),
            stage: Some("s".into()),
            function_name: Some("f".into()),
            endpoint_name: Some("e".into()),
            variant_name: Some("AllTraffic".into()),
            ..Dimensions::default()
        };
        let want = wanted(&d, false);
        let mut a = Answers::new();
        let mut put = |label: &str, j: usize, v: f64| {
            let i = want.iter().position(|w| w.label == label).unwrap();
            a.insert(format!("m{i}_{j}"), v);
        };
        put("API Gateway Latency", 0, 40.0);
        put("API Gateway Latency", 1, 90.0);
        put("API Gateway IntegrationLatency", 0, 35.0);
        put("API Gateway IntegrationLatency", 1, 80.0);
        put("Lambda Duration", 0, 20.0);
        put("Lambda Duration", 1, 60.0);
        put("SageMaker ModelLatency", 0, 4000.0);
        put("SageMaker ModelLatency", 1, 9000.0);
        put("SageMaker OverheadLatency", 0, 1000.0);
        put("SageMaker OverheadLatency", 1, 2000.0);
        put("Lambda Invocations", 0, 10.0);
        put("Lambda Throttles", 0, 0.0);
        let r = rows(&want, &a);
        let ml = find(&r, "SageMaker ModelLatency").unwrap();
        assert_eq!(
            (ml.p50_ms, ml.p99_ms, ml.unit.as_str()),
            (Some(4.0), Some(9.0), "Microseconds")
        );
        let client = ClientSide {
            response_p50: Some(50.0),
            response_p99: Some(120.0),
            api_ok: Some(10),
            ..ClientSide::default()
        };
        let g = gaps(&client, &r);
        let got: Vec<(Option<f64>, Option<f64>)> = g.iter().map(|g| (g.p50_ms, g.p99_ms)).collect();
        assert_eq!(
            got,
            [
                (Some(10.0), Some(30.0)),
                (Some(5.0), Some(10.0)),
                (Some(15.0), Some(20.0)),
                (Some(15.0), Some(49.0)),
            ]
        );
        assert!(g[0].name.contains("network and TLS"));
        assert!(g[3].name.contains("function's own work"));
        let c = counts(&client, &r);
        let lambda = c
            .iter()
            .find(|c| c.cloudwatch == "Lambda Invocations")
            .unwrap();
        assert!(lambda.matches);
        let throttles = c
            .iter()
            .find(|c| c.cloudwatch == "Lambda Throttles")
            .unwrap();
        assert!(throttles.matches);
        assert!(render(&CloudWatchReport {
            start: "s".into(),
            end: "e".into(),
            period_s: 60,
            region: "r".into(),
            dimensions: d,
            client: BTreeMap::new(),
            metrics: r,
            gaps: g,
            counts: c,
            waited_s: 0.0,
            notes: vec![],
        })
        .contains("SageMaker ModelLatency (us->ms)"));
    }
}

//! The workers: send each batch as one signed request, retry what is transient, split what
//! the model rejects until only the bad rows remain, and format the scored rows.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use rand::SeedableRng;

use super::control::{self, Limiter, Pacer};
use super::input::{push_json_str, Batch, Reject, Slot};
use super::output::Done;
use super::progress::Counters;
use super::{BatchFormat, Stop};
use crate::awserror::{self, AwsError};
use crate::client;
use crate::config::TargetKind;
use crate::error::{CliError, Exit};
use crate::response::{self, Parsed, Prediction};
use crate::session::Session;

/// Everything the workers share.
pub struct Ctx {
    pub http: reqwest::Client,
    pub session: Arc<Session>,
    pub kind: TargetKind,
    pub classes: Vec<String>,
    pub format: BatchFormat,
    pub headers: Vec<(String, String)>,
    pub max_attempts: u32,
    pub limiter: Limiter,
    pub pacer: Option<Pacer>,
    pub stop: Arc<Stop>,
    pub stats: Arc<Counters>,
    /// Set by the first answer from the endpoint: from then on a failing request is the
    /// request's problem, not an unreachable endpoint.
    pub any_success: AtomicBool,
}

/// The headers every request carries (signed with it).
pub fn request_headers(kind: TargetKind, extra: &[(String, String)]) -> Vec<(String, String)> {
    let mut h = vec![(
        "content-type".to_string(),
        kind.default_content_type().to_string(),
    )];
    if kind == TargetKind::SageMaker {
        // The CSV lines batch parses, whatever the container would default to.
        h.push(("accept".to_string(), "text/csv".into()));
    }
    h.extend(extra.iter().cloned());
    h
}

/// The body for rows `group` of `batch`: `{"data": "r1\nr2"}` for the API (the features are
/// validated numbers, so they need no JSON escaping), `r1\nr2` as text/csv for SageMaker.
pub fn request_body(kind: TargetKind, batch: &Batch, group: &[usize]) -> Bytes {
    let mut body = Vec::with_capacity(group.len() * 24 + 16);
    let sep: &[u8] = match kind {
        TargetKind::ApiGateway => {
            body.extend_from_slice(b"{\"data\": \"");
            b"\\n"
        }
        TargetKind::SageMaker => b"\n",
    };
    for (k, &i) in group.iter().enumerate() {
        if k > 0 {
            body.extend_from_slice(sep);
        }
        if let Slot::Send { features, .. } = &batch.slots[i] {
            body.extend_from_slice(batch.get(*features).as_bytes());
        }
    }
    if kind == TargetKind::ApiGateway {
        body.extend_from_slice(b"\"}");
    }
    Bytes::from(body)
}

/// What became of one request (after its retries).
#[derive(Debug)]
pub enum Outcome {
    Scored(Vec<Prediction>),
    /// The endpoint refused these rows together (model error, count mismatch, too large):
    /// split them to find the bad ones.
    Split(String),
    /// Transient failures until the last attempt.
    GaveUp(String),
    /// The run cannot go on (auth rejected, endpoint missing or unreachable).
    Fatal(CliError),
    /// The run is stopping; the batch is abandoned (its rows are redone on resume).
    Stopped,
}

/// Lambda function errors that are worth retrying: the function's own call to SageMaker was
/// throttled or failed transiently.
fn transient_function_error(error_type: &str, message: &str) -> bool {
    const MARKERS: [&str; 7] = [
        "Throttl",
        "TooManyRequests",
        "ServiceUnavailable",
        "InternalFailure",
        "ModelNotReady",
        "InternalDependency",
        "timed out",
    ];
    MARKERS
        .iter()
        .any(|m| error_type.contains(m) || message.contains(m))
}

/// Not worth retrying or splitting: every other request would fail the same way.
fn fatal_for_run(err: &AwsError) -> Option<Exit> {
    match err.status {
        401 | 403 => Some(Exit::Auth),
        404 => Some(Exit::Client),
        400 if err.message.contains("not found") => Some(Exit::Client),
        _ => None,
    }
}

/// The XGBoost container's feature-count error (AWS_WIRE section 5), as `(sent, expected)`.
/// Every row has the same number of feature columns, so once a single row is refused for its
/// feature count (splitting gets there in a few requests) they all will be: the run stops
/// with a usage error instead of rejecting the whole file row by row.
fn feature_count_mismatch(reason: &str) -> Option<(u64, u64)> {
    let rest = reason.split("Feature size of csv inference data ").nth(1)?;
    let (sent, rest) = rest.split_once(' ')?;
    let expected = rest
        .split("feature size of trained model ")
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit())
        .next()?;
    Some((sent.parse().ok()?, expected.parse().ok()?))
}

struct Worker<'a> {
    ctx: &'a Ctx,
    hist: Histogram<u64>,
    rng: rand::rngs::SmallRng,
}

impl Worker<'_> {
    /// Send rows `group` of `batch`, retrying transient failures.
    async fn attempt(&mut self, batch: &Batch, group: &[usize]) -> Outcome {
        let ctx = self.ctx;
        let signer = &ctx.session.signer;
        let body = request_body(ctx.kind, batch, group);
        let mut last = String::from("no attempt made");
        let mut last_network = false;
        let mut skew_corrected = false;
        let mut attempt = 0;
        while attempt < ctx.max_attempts {
            attempt += 1;
            if ctx.stop.is_stopping() {
                return Outcome::Stopped;
            }
            if attempt > 1 {
                ctx.stats.add_retry();
            }
            if let Some(p) = &ctx.pacer {
                p.wait().await;
            }
            let Some(permit) = ctx.limiter.acquire(&ctx.stop).await else {
                return Outcome::Stopped;
            };
            if let Err(e) = signer.ensure_fresh().await {
                return Outcome::Fatal(e);
            }
            let signed = match signer.sign(&ctx.headers, &body) {
                Ok(s) => s,
                Err(e) => return Outcome::Fatal(e),
            };
            let started = Instant::now();
            let result = client::send(&ctx.http, &signer.target, &signed, body.clone()).await;
            let latency = started.elapsed();
            drop(permit);
            ctx.stats.add_request();
            let _ = self.hist.record(
                u64::try_from(latency.as_micros())
                    .unwrap_or(u64::MAX)
                    .max(1),
            );
            let mut wait_at_least = Duration::ZERO;
            match result {
                Err(e) => {
                    last = e.message;
                    last_network = true;
                }
                Ok(ex) if (200..300).contains(&ex.status) => {
                    last_network = false;
                    ctx.any_success.store(true, Ordering::Relaxed);
                    match response::parse(&ex.body, &ctx.classes) {
                        Parsed::Predictions(p) if p.len() == group.len() => {
                            ctx.limiter.on_success(latency);
                            return Outcome::Scored(p);
                        }
                        Parsed::Predictions(p) => {
                            return Outcome::Split(format!(
                                "the endpoint returned {} predictions for {} rows",
                                p.len(),
                                group.len()
                            ))
                        }
                        Parsed::FunctionError {
                            message,
                            error_type,
                        } => {
                            let msg = format!(
                                "the Lambda function failed: {error_type}: {}",
                                message.lines().next().unwrap_or_default()
                            );
                            if !transient_function_error(&error_type, &message) {
                                return Outcome::Split(msg);
                            }
                            last = msg;
                        }
                        Parsed::Unknown => {
                            last = format!(
                                "unrecognised response ({} bytes) with status {}",
                                ex.body.len(),
                                ex.status
                            );
                        }
                    }
                }
                Ok(ex) => {
                    last_network = false;
                    ctx.any_success.store(true, Ordering::Relaxed);
                    let err = AwsError::parse(ex.status, &ex.headers, &ex.body);
                    if err.is_clock_skew() && !skew_corrected {
                        if let Some(skew) = signer.correct_from_date(&ex.headers) {
                            eprintln!(
                                "iris-cli: warning: the local clock is {} s off the server's; re-signing with the server's time",
                                skew.abs()
                            );
                            skew_corrected = true;
                            attempt -= 1;
                            continue;
                        }
                    }
                    if let Some(exit) = fatal_for_run(&err) {
                        let mut e = if exit == Exit::Auth {
                            awserror::to_cli_error(&err, None, signer.credentials().access_key_id())
                        } else {
                            CliError::new(exit, err.one_line())
                        };
                        e.message = format!("the endpoint refused the run: {}", e.message);
                        return Outcome::Fatal(e);
                    }
                    last = err.one_line();
                    match ex.status {
                        429 => {
                            ctx.stats.add_throttled();
                            ctx.limiter.on_throttle(Instant::now());
                            wait_at_least = control::retry_after(&ex.headers).unwrap_or_default();
                        }
                        408 | 500..=599 => {
                            wait_at_least = control::retry_after(&ex.headers).unwrap_or_default();
                        }
                        // Model errors, payload too large, validation: these rows, not the
                        // endpoint.
                        _ => return Outcome::Split(last),
                    }
                }
            }
            if attempt >= ctx.max_attempts {
                break;
            }
            let delay = control::backoff(attempt, &mut self.rng).max(wait_at_least);
            if !control::sleep_unless_stopped(delay, &ctx.stop).await {
                return Outcome::Stopped;
            }
        }
        if last_network && !ctx.any_success.load(Ordering::Relaxed) {
            return Outcome::Fatal(
                CliError::new(
                    Exit::Network,
                    format!("the endpoint is unreachable ({attempt} attempts): {last}"),
                )
                .hint(format!(
                    "check that {} is up and reachable",
                    signer.target.url
                )),
            );
        }
        Outcome::GaveUp(format!("gave up after {attempt} attempts: {last}"))
    }

    /// Score a whole batch, splitting groups the endpoint refuses. None: abandoned.
    async fn process(&mut self, batch: Batch) -> Option<Done> {
        let n = batch.slots.len();
        let mut results: Vec<Option<Result<Prediction, String>>> = vec![None; n];
        let sends: Vec<usize> = (0..n)
            .filter(|&i| matches!(batch.slots[i], Slot::Send { .. }))
            .collect();
        let mut queue = VecDeque::new();
        if !sends.is_empty() {
            queue.push_back(sends);
        }
        while let Some(group) = queue.pop_front() {
            let outcome = match self.attempt(&batch, &group).await {
                Outcome::Split(reason)
                    if group.len() == 1 && feature_count_mismatch(&reason).is_some() =>
                {
                    let (sent, expected) = feature_count_mismatch(&reason).unwrap_or_default();
                    Outcome::Fatal(
                        CliError::usage(format!(
                            "the model takes {expected} features but each row sends {sent}: choose the feature columns with --features"
                        ))
                        .hint("for example --features sepal_length,sepal_width,petal_length,petal_width (names from the header, or 1-based column numbers); the other columns are passed through to the output"),
                    )
                }
                other => other,
            };
            match outcome {
                Outcome::Scored(preds) => {
                    for (&i, p) in group.iter().zip(preds) {
                        results[i] = Some(Ok(p));
                    }
                }
                Outcome::Split(_) if group.len() > 1 => {
                    self.ctx.stats.add_split();
                    let (a, b) = group.split_at(group.len() / 2);
                    queue.push_front(b.to_vec());
                    queue.push_front(a.to_vec());
                }
                Outcome::Split(reason) | Outcome::GaveUp(reason) => {
                    for &i in &group {
                        results[i] = Some(Err(reason.clone()));
                    }
                }
                Outcome::Fatal(e) => {
                    self.ctx.stop.fail(e);
                    return None;
                }
                Outcome::Stopped => return None,
            }
        }
        Some(self.format(batch, results))
    }

    fn format(&self, batch: Batch, results: Vec<Option<Result<Prediction, String>>>) -> Done {
        let ctx = self.ctx;
        let mut out = String::with_capacity(batch.slots.len() * 96);
        let mut rejects = Vec::new();
        let mut scored = 0;
        let count = batch.slots.len() as u64;
        for (slot, result) in batch.slots.iter().zip(results) {
            match slot {
                Slot::Rejected(r) => rejects.push(r.clone()),
                Slot::Send {
                    line, prefix, raw, ..
                } => {
                    let reject = |reason: String| Reject {
                        line: *line,
                        column: String::new(),
                        reason,
                        raw: batch.get(*raw).to_string(),
                    };
                    match result {
                        Some(Ok(p)) => {
                            let n = p.probabilities.len();
                            if n != 0 && n != ctx.classes.len() {
                                rejects.push(reject(format!(
                                    "the endpoint returned {n} probabilities but --classes names {}",
                                    ctx.classes.len()
                                )));
                                continue;
                            }
                            write_prediction(
                                &mut out,
                                ctx.format,
                                batch.get(*prefix),
                                &p,
                                ctx.classes.len(),
                            );
                            scored += 1;
                        }
                        Some(Err(reason)) => rejects.push(reject(reason)),
                        None => rejects.push(reject("not sent (internal error)".into())),
                    }
                }
            }
        }
        Done {
            start: batch.start,
            count,
            out,
            scored,
            rejects,
        }
    }
}

/// One output line. Probabilities are written with the shortest digits that round-trip the
/// f64 the endpoint sent, in Python's `repr` form (what the XGBoost container prints), so the
/// output carries exactly the endpoint's digits.
pub fn write_prediction(
    out: &mut String,
    format: BatchFormat,
    prefix: &str,
    p: &Prediction,
    n_classes: usize,
) {
    use crate::emulator::pyfloat::push_repr_f64;
    match format {
        BatchFormat::Csv => {
            out.push_str(prefix);
            out.push(',');
            if let Some(s) = &p.species {
                super::input::push_csv_field(out, s);
            }
            out.push(',');
            if let Some(c) = p.class_index {
                out.push_str(&c.to_string());
            }
            for k in 0..n_classes {
                out.push(',');
                if let Some(v) = p.probabilities.get(k) {
                    push_repr_f64(out, *v);
                }
            }
            out.push('\n');
        }
        BatchFormat::Jsonl => {
            out.push_str(prefix);
            out.push_str("\"species\":");
            match &p.species {
                Some(s) => push_json_str(out, s),
                None => out.push_str("null"),
            }
            out.push_str(",\"class_index\":");
            match p.class_index {
                Some(c) => out.push_str(&c.to_string()),
                None => out.push_str("null"),
            }
            out.push_str(",\"probabilities\":[");
            for (k, v) in p.probabilities.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                if v.is_finite() {
                    push_repr_f64(out, *v);
                } else {
                    out.push_str("null");
                }
            }
            out.push_str("]}\n");
        }
    }
}

/// Run `n` workers until the batches run out or the run stops; returns the merged request
/// latency histogram (microseconds).
pub async fn run_workers(
    ctx: Arc<Ctx>,
    rx: tokio::sync::mpsc::Receiver<Batch>,
    tx: tokio::sync::mpsc::UnboundedSender<Done>,
    n: usize,
) -> Histogram<u64> {
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let mut set = tokio::task::JoinSet::new();
    for id in 0..n {
        let ctx = ctx.clone();
        let rx = rx.clone();
        let tx = tx.clone();
        set.spawn(async move {
            let mut w = Worker {
                ctx: &ctx,
                hist: new_histogram(),
                rng: rand::rngs::SmallRng::seed_from_u64(rand::random::<u64>() ^ id as u64),
            };
            loop {
                if ctx.stop.is_stopping() {
                    break;
                }
                let batch = { rx.lock().await.recv().await };
                let Some(batch) = batch else { break };
                match w.process(batch).await {
                    Some(done) => {
                        if tx.send(done).is_err() {
                            break;
                        }
                    }
                    None => break,
                }
            }
            w.hist
        });
    }
    drop(tx);
    let mut hist = new_histogram();
    while let Some(r) = set.join_next().await {
        if let Ok(h) = r {
            let _ = hist.add(&h);
        }
    }
    // Unblock a reader waiting to hand over a batch nobody will take.
    rx.lock().await.close();
    hist
}

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> Batch {
        let text = "5.1,3.5,1.4,0.2x6.6,3,4.4,1.4".to_string();
        Batch {
            start: 0,
            slots: vec![
                Slot::Send {
                    line: 1,
                    prefix: (0, 0),
                    raw: (0, 0),
                    features: (0, 15),
                },
                Slot::Rejected(Reject {
                    line: 2,
                    column: String::new(),
                    reason: "bad".into(),
                    raw: String::new(),
                }),
                Slot::Send {
                    line: 3,
                    prefix: (0, 0),
                    raw: (0, 0),
                    features: (16, 29),
                },
            ],
            text,
        }
    }

    #[test]
    fn bodies_for_both_targets() {
        let b = batch();
        let api = request_body(TargetKind::ApiGateway, &b, &[0, 2]);
        let v: serde_json::Value = serde_json::from_slice(&api).unwrap();
        assert_eq!(v["data"], "5.1,3.5,1.4,0.2\n6.6,3,4.4,1.4");
        let sm = request_body(TargetKind::SageMaker, &b, &[2]);
        assert_eq!(&sm[..], b"6.6,3,4.4,1.4");
    }

    #[test]
    fn predictions_keep_the_endpoints_digits() {
        let p = Prediction {
            species: Some("setosa".into()),
            class_index: Some(0),
            probabilities: vec![0.9531188011169434, 0.024485334753990173, 3.2e-05],
            score: None,
        };
        let mut s = String::new();
        write_prediction(&mut s, BatchFormat::Csv, "x,5.1", &p, 3);
        assert_eq!(
            s,
            "x,5.1,setosa,0,0.9531188011169434,0.024485334753990173,3.2e-05\n"
        );
        let mut j = String::new();
        write_prediction(&mut j, BatchFormat::Jsonl, "{\"line\":2,", &p, 3);
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["species"], "setosa");
        assert_eq!(v["probabilities"][2], 3.2e-05);
    }

    #[test]
    fn feature_count_errors_are_recognised() {
        let msg = "the Lambda function failed: ModelError: ... Received client error (400) from primary with message \"Unable to evaluate payload provided: Feature size of csv inference data 5 is not consistent with feature size of trained model 4.\". See ...";
        assert_eq!(feature_count_mismatch(msg), Some((5, 4)));
        assert_eq!(feature_count_mismatch("ModelError: something else"), None);
    }

    #[test]
    fn transient_function_errors() {
        assert!(transient_function_error(
            "ClientError",
            "An error occurred (ThrottlingException) when calling the InvokeEndpoint operation"
        ));
        assert!(!transient_function_error(
            "ModelError",
            "An error occurred (ModelError) ... could not convert string to float"
        ));
    }
}

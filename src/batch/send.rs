//! The workers: send each batch as one signed request, retry what is transient, split what
//! the model rejects until only the bad rows remain, and format the scored rows.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use hdrhistogram::Histogram;
use rand::SeedableRng;

use super::input::{push_json_str, Batch, Reject, Slot};
use super::output::Done;
use super::progress::Counters;
use super::{BatchFormat, Stop};
use crate::awserror::{self, AwsError};
use crate::client;
use crate::config::TargetKind;
use crate::error::{CliError, Exit};
use crate::flow::{Limiter, Pacer, RetryPolicy};
use crate::protocol::{Detail, Outcome as Class, RequestSpec};
use crate::response::{Parsed, Prediction};
use crate::session::Session;

/// Everything the workers share.
pub struct Ctx {
    pub http: reqwest::Client,
    pub session: Arc<Session>,
    pub kind: TargetKind,
    pub classes: Vec<String>,
    pub format: BatchFormat,
    pub headers: Vec<(String, String)>,
    pub retry: RetryPolicy,
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
    kind.protocol().headers(&RequestSpec {
        extra_headers: extra.to_vec(),
        ..RequestSpec::default()
    })
}

/// The body for rows `group` of `batch`, in the target's one encoding.
pub fn request_body(kind: TargetKind, batch: &Batch, group: &[usize]) -> Bytes {
    let mut body = Vec::with_capacity(group.len() * 24 + 16);
    let mut rows = group.iter().filter_map(|&i| match &batch.slots[i] {
        Slot::Send { features, .. } => Some(batch.get(*features)),
        Slot::Rejected(_) => None,
    });
    kind.protocol().write_body(&mut rows, &mut body);
    Bytes::from(body)
}

/// What became of one request (after its retries).
#[derive(Debug)]
pub enum Sent {
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
    /// Send rows `group` of `batch`, retrying what the taxonomy calls throttled or transient.
    async fn attempt(&mut self, batch: &Batch, group: &[usize]) -> Sent {
        let ctx = self.ctx;
        let signer = &ctx.session.signer;
        let protocol = signer.target.kind.protocol();
        let body = request_body(ctx.kind, batch, group);
        let stopping = || ctx.stop.is_stopping();
        let mut last: String;
        let mut last_network: bool;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if stopping() {
                return Sent::Stopped;
            }
            if attempt > 1 {
                ctx.stats.add_retry();
            }
            if let Some(p) = &ctx.pacer {
                p.wait().await;
            }
            let Some(permit) = ctx.limiter.acquire(stopping).await else {
                return Sent::Stopped;
            };
            if let Err(e) = signer.ensure_fresh().await {
                return Sent::Fatal(e);
            }
            let started = Instant::now();
            let result = client::call(&ctx.http, signer, &ctx.headers, &body, &mut |_, _| {}).await;
            let latency = started.elapsed();
            drop(permit);
            ctx.stats.add_request();
            let _ = self.hist.record(
                u64::try_from(latency.as_micros())
                    .unwrap_or(u64::MAX)
                    .max(1),
            );
            let (detail, headers) = match result {
                Err(no_answer) => {
                    last = no_answer.error.message;
                    last_network = true;
                    (no_answer.detail, None)
                }
                Ok(answer) => {
                    last_network = false;
                    ctx.any_success.store(true, Ordering::Relaxed);
                    let ex = answer.exchange;
                    if answer.detail == Detail::Ok {
                        match protocol.predictions(&ex.body, &ctx.classes) {
                            Parsed::Predictions(p) if p.len() == group.len() => {
                                ctx.limiter.on_success(latency);
                                return Sent::Scored(p);
                            }
                            Parsed::Predictions(p) => {
                                return Sent::Split(format!(
                                    "the endpoint returned {} predictions for {} rows",
                                    p.len(),
                                    group.len()
                                ))
                            }
                            _ => {
                                last = format!(
                                    "unrecognised response ({} bytes) with status {}",
                                    ex.body.len(),
                                    ex.status
                                );
                                (Detail::Server5xx, None)
                            }
                        }
                    } else {
                        last = crate::protocol::describe(
                            ex.status,
                            &ex.headers,
                            &ex.body,
                            answer.detail,
                        );
                        match answer.detail.outcome() {
                            Class::Auth | Class::ClockSkew | Class::NotFound => {
                                let err = AwsError::parse(ex.status, &ex.headers, &ex.body);
                                let mut e = awserror::to_cli_error(
                                    &err,
                                    answer.detail,
                                    None,
                                    signer.credentials().access_key_id(),
                                );
                                e.message = format!("the endpoint refused the run: {}", e.message);
                                return Sent::Fatal(e);
                            }
                            Class::Rejected => return Sent::Split(last),
                            Class::Throttled => {
                                ctx.stats.add_throttled();
                                ctx.limiter.on_throttle(Instant::now());
                            }
                            Class::Transient | Class::Ok => {}
                        }
                        (answer.detail, Some(ex.headers))
                    }
                }
            };
            if !ctx.retry.should_retry(attempt, detail.outcome()) {
                break;
            }
            let delay = ctx.retry.delay(attempt, headers.as_ref(), &mut self.rng);
            if !crate::flow::sleep_unless_stopped(delay, stopping).await {
                return Sent::Stopped;
            }
        }
        if last_network {
            let e = CliError::new(
                Exit::Network,
                format!("the endpoint is unreachable ({attempt} attempts): {last}"),
            )
            .hint(format!(
                "check that {} is up and reachable",
                signer.target.url
            ));
            // Before any answer: the endpoint was never there. After some: it went away
            // mid-run; either way the rest would fail the same, so stop resumable.
            return Sent::Fatal(e);
        }
        Sent::GaveUp(format!("gave up after {attempt} attempts: {last}"))
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
                Sent::Split(reason)
                    if group.len() == 1 && feature_count_mismatch(&reason).is_some() =>
                {
                    let (sent, expected) = feature_count_mismatch(&reason).unwrap_or_default();
                    Sent::Fatal(
                        CliError::usage(format!(
                            "the model takes {expected} features but each row sends {sent}: choose the feature columns with --features"
                        ))
                        .hint("for example --features sepal_length,sepal_width,petal_length,petal_width (names from the header, or 1-based column numbers); the other columns are passed through to the output"),
                    )
                }
                other => other,
            };
            match outcome {
                Sent::Scored(preds) => {
                    for (&i, p) in group.iter().zip(preds) {
                        results[i] = Some(Ok(p));
                    }
                }
                Sent::Split(_) if group.len() > 1 => {
                    self.ctx.stats.add_split();
                    let (a, b) = group.split_at(group.len() / 2);
                    queue.push_front(b.to_vec());
                    queue.push_front(a.to_vec());
                }
                Sent::Split(reason) | Sent::GaveUp(reason) => {
                    for &i in &group {
                        results[i] = Some(Err(reason.clone()));
                    }
                }
                Sent::Fatal(e) => {
                    self.ctx.stop.fail(e);
                    return None;
                }
                Sent::Stopped => return None,
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
    use crate::pyfloat::push_repr_f64;
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
}

//! The bodies of the fuzz targets, shared by `fuzz/fuzz_targets/*.rs` (cargo fuzz, nightly)
//! and by the stable tests (`tests/fuzz_corpus.rs` replays the committed corpus,
//! `tests/properties.rs` runs proptest over the same functions).
//!
//! Each takes arbitrary bytes, must not panic, and returns every string the code under test
//! would let out of the process for them (errors, reject reasons, column names, response
//! bodies, echoed canonical requests); [`check_no_secret`] then asserts that no secret is in
//! any of them unless the input itself carried it.
#![allow(dead_code)] // each includer uses its own subset

use std::time::{Duration, UNIX_EPOCH};

use iris_cli::batch::input::{self, Slot};
use iris_cli::batch::{BatchFormat, HeaderMode};
use iris_cli::emulator::auth::{
    self, KeyStore, RequestView, TEST_SECRET_KEY, TEST_SESSION_TOKEN, TEST_TEMP_SECRET_KEY,
};
use iris_cli::output::printable;

/// Secrets no output may hold: the emulator's secret keys and its session token.
pub const SECRETS: &[&str] = &[TEST_SECRET_KEY, TEST_TEMP_SECRET_KEY, TEST_SESSION_TOKEN];

/// The server time the auth target verifies at: the seeds are signed at this instant
/// (2015-08-30T12:36:00Z, the AWS test suite's date).
pub const AUTH_NOW_SECS: u64 = 1_440_938_160;

/// Panics if a secret the input did not carry is in an output.
pub fn check_no_secret(input: &[u8], outputs: &[String]) {
    let input = String::from_utf8_lossy(input);
    for secret in SECRETS {
        if input.contains(secret) {
            continue;
        }
        for out in outputs {
            assert!(!out.contains(secret), "a secret leaked into: {out}");
        }
    }
}

/// The CSV reader, header detection, `--features` resolution and row validation. The first
/// byte picks the options (header mode, missing values, output format, features); the rest
/// is the file (gzip too).
pub fn csv(data: &[u8]) -> Vec<String> {
    let Some((&opts, file)) = data.split_first() else {
        return Vec::new();
    };
    let header = match opts % 3 {
        0 => HeaderMode::Detect,
        1 => HeaderMode::Yes,
        _ => HeaderMode::No,
    };
    let format = if opts & 8 != 0 {
        BatchFormat::Jsonl
    } else {
        BatchFormat::Csv
    };
    let features: Vec<String> = match (opts >> 4) & 3 {
        0 => Vec::new(),
        1 => vec!["1".into(), "3".into()],
        2 => vec!["a".into(), "b".into()],
        _ => vec!["id".into(), "2".into()],
    };
    let mut out = Vec::new();
    match input::scan(file.to_vec(), &features, header, opts & 4 != 0, format) {
        Ok(scan) => {
            let names = scan.layout.names.join(",");
            out.push(printable(&names, false).into_owned());
            assert!(
                !printable(&names, false).chars().any(char::is_control),
                "printable() let a control character through"
            );
            for slot in &scan.batch.slots {
                match slot {
                    Slot::Send {
                        line,
                        prefix,
                        raw,
                        features,
                    } => {
                        assert!(*line >= 1);
                        // The ranges index the batch text (a bad one panics here).
                        let _ = (
                            scan.batch.get(*prefix),
                            scan.batch.get(*raw),
                            scan.batch.get(*features),
                        );
                    }
                    Slot::Rejected(r) => {
                        assert!(r.line >= 1);
                        out.push(format!(
                            "rejected line {}, column {}: {}",
                            r.line,
                            printable(&r.column, false),
                            printable(&r.reason, false)
                        ));
                    }
                }
            }
            out.push(scan.batch.text);
        }
        Err(e) => out.push(format!("{e:#}")),
    }
    out
}

/// Seconds since the epoch of an `x-amz-date` (`YYYYMMDDTHHMMSSZ`), for the server clock.
fn amz_date_secs(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// The emulator's verifier: the `Authorization` parser, the canonical request and
/// string-to-sign, the scope and clock checks. Input: `METHOD\nPATH\nQUERY\n` (`-`: none),
/// then `name: value` header lines, an empty line, and the body.
pub fn auth(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.split('\n');
    let method = lines.next().unwrap_or("POST");
    let path = lines.next().unwrap_or("/");
    let query = lines.next().filter(|q| *q != "-");
    let mut headers = http::HeaderMap::new();
    for l in lines {
        let Some((n, v)) = l.split_once(':') else {
            continue;
        };
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(n.trim().as_bytes()),
            http::HeaderValue::from_str(v.trim()),
        ) {
            headers.append(n, v);
        }
    }
    let req = RequestView {
        method,
        path,
        query,
        headers: &headers,
        body: body.as_bytes(),
    };
    let mut out = Vec::new();
    for normalize in [true, false] {
        match auth::canonical_parts(&req, normalize) {
            Ok(parts) => {
                out.push(parts.canonical_request);
                out.push(parts.string_to_sign);
            }
            Err(r) => out.push(r.message),
        }
    }
    let keys = KeyStore::builtin();
    let now = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .and_then(amz_date_secs)
        .unwrap_or(AUTH_NOW_SECS);
    let now = UNIX_EPOCH + Duration::from_secs(now);
    for (service, region) in [("execute-api", "us-east-1"), ("sagemaker", "us-east-1")] {
        match auth::verify(&req, &keys, service, region, now) {
            Ok(_) => out.push(format!("accepted for {service}")),
            Err(r) => {
                out.push(r.apigw_body());
                out.push(r.sagemaker_body());
                out.push(r.message);
            }
        }
    }
    // A fixed clock too, so mutated dates reach the skew check's edges.
    let fixed = UNIX_EPOCH + Duration::from_secs(AUTH_NOW_SECS);
    if let Err(r) = auth::verify(&req, &keys, "execute-api", "us-east-1", fixed) {
        out.push(r.message);
    }
    out
}

/// The interval-log histogram decoder (`report merge`): one base64 histogram per input.
pub fn hlog(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    match iris_cli::bench::hdrlog::decode(&text) {
        Ok(h) => vec![format!("{} values, max {}", h.len(), h.max())],
        Err(e) => vec![e],
    }
}

/// The command-line value parsers: durations, `--ramp`, `--fail-if` thresholds and `-H`
/// headers. Each line of the input goes to every parser.
pub fn parsers(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    for line in text.split('\n') {
        for r in [
            iris_cli::duration::parse(line),
            iris_cli::duration::parse_or_seconds(line),
        ] {
            match r {
                Ok(d) => out.push(format!("{d:?}")),
                Err(e) => out.push(e),
            }
        }
        match iris_cli::bench::schedule::parse_ramp(line) {
            Ok(stages) => {
                let s = iris_cli::bench::schedule::Schedule::ramp(stages);
                // The schedule math on what the parser accepted: due times must be
                // computable for early and late arrivals.
                out.push(format!("{:?}", s.ramp_secs()));
                for i in [0u64, 1, 2, 1000, 1_000_000] {
                    out.push(format!("{:?}", s.due(i)));
                }
                out.push(format!("{}", s.index_at(s.ramp_secs().min(1e6))));
            }
            Err(e) => out.push(e),
        }
        match iris_cli::bench::report::parse_thresholds(line) {
            Ok(t) => out.push(format!("{} thresholds", t.len())),
            Err(e) => out.push(e),
        }
        match iris_cli::protocol::parse_header(line) {
            Ok((n, v)) => out.push(format!("{n}: {v}")),
            Err(e) => out.push(e.to_string()),
        }
    }
    out
}

/// A fuzz target's body: bytes in, every string it would let out.
pub type Target = fn(&[u8]) -> Vec<String>;

/// Every target, by the name of its corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("csv", csv),
    ("auth", auth),
    ("hlog", hlog),
    ("parsers", parsers),
];

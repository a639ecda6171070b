//! Property tests (proptest) over the fuzz targets' bodies (`fuzz/harness.rs`): generated
//! inputs, structured enough to get past the first parse error, must not panic, take long or
//! let a secret out, and some answers are checked exactly (line numbers under every line
//! ending, the parsers' round trips).
//!
//! `IRIS_PROPTEST_CASES=N` sets the cases per property (default 256, what CI runs); each test
//! prints how many inputs it ran.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::fuzz_harness as harness;

fn cases() -> u32 {
    std::env::var("IRIS_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

/// Run `target` on every generated input; no panic, each input under a second, no secret.
fn check<S: Strategy<Value = Vec<u8>>>(name: &str, strategy: S, target: harness::Target) {
    let n = std::cell::Cell::new(0u64);
    runner()
        .run(&strategy, |data| {
            n.set(n.get() + 1);
            let started = Instant::now();
            let out = target(&data);
            let took = started.elapsed();
            prop_assert!(took < Duration::from_secs(2), "{took:?} for {data:?}");
            harness::check_no_secret(&data, &out);
            Ok(())
        })
        .unwrap();
    eprintln!("{name}: {} inputs", n.get());
}

fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?[0-9]{1,3}(\\.[0-9]{1,3})?(e-?[0-9])?",
        "[a-z_]{0,6}",
        Just(String::new()),
        Just("nan".into()),
        "\"[a-z,\\r\\n\"]{0,5}\"",
        "[\\x00-\\x1f\\x7f\u{80}-\u{ff}é ]{1,3}",
    ]
}

fn csv_text() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u8>(),
        prop::collection::vec(prop::collection::vec(cell(), 1..6), 0..12),
        prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
    )
        .prop_map(|(opts, rows, eol)| {
            let mut data = vec![opts];
            for r in rows {
                data.extend_from_slice(r.join(",").as_bytes());
                data.extend_from_slice(eol.as_bytes());
            }
            data
        })
}

#[test]
fn csv_reader_never_panics_on_bytes_or_structured_csv() {
    check(
        "csv/bytes",
        prop::collection::vec(any::<u8>(), 0..400),
        harness::csv,
    );
    check("csv/structured", csv_text(), harness::csv);
    check(
        "csv/gzip",
        csv_text().prop_map(|d| {
            use std::io::Write as _;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&d[1..]).unwrap();
            let mut z = e.finish().unwrap();
            let cut = (d[0] as usize * 7) % (z.len() + 1);
            if d[0] % 2 == 1 {
                z.truncate(cut.max(2));
            }
            [vec![d[0]], z].concat()
        }),
        harness::csv,
    );
}

/// The same rows give the same reject line numbers whatever the line ending.
#[test]
fn reject_lines_do_not_depend_on_the_line_ending() {
    let unquoted = prop::collection::vec(
        prop::collection::vec(
            prop_oneof!["[0-9]{1,2}", "[a-z]{1,2}", Just(String::new())],
            1..5,
        ),
        1..15,
    );
    let n = std::cell::Cell::new(0u64);
    runner()
        .run(&unquoted, |rows| {
            n.set(n.get() + 1);
            let lines = |eol: &str| {
                let text: String = rows.iter().map(|r| r.join(",") + eol).collect();
                let scan = iris_cli::batch::input::scan(
                    text.into_bytes(),
                    &[],
                    iris_cli::batch::HeaderMode::No,
                    true,
                    iris_cli::batch::BatchFormat::Csv,
                )
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
                Ok::<_, TestCaseError>(
                    scan.batch
                        .slots
                        .iter()
                        .map(|s| match s {
                            iris_cli::batch::input::Slot::Send { line, .. } => *line,
                            iris_cli::batch::input::Slot::Rejected(r) => r.line,
                        })
                        .collect::<Vec<u64>>(),
                )
            };
            let lf = lines("\n")?;
            // Every record is there once, on its own line (the csv reader skips no
            // non-empty row; a row of one empty cell is an empty line, which it skips).
            let expected: Vec<u64> = rows
                .iter()
                .enumerate()
                .filter(|(_, r)| !(r.len() == 1 && r[0].is_empty()))
                .map(|(i, _)| i as u64 + 1)
                .collect();
            prop_assert_eq!(&lf, &expected);
            prop_assert_eq!(&lines("\r\n")?, &lf);
            prop_assert_eq!(&lines("\r")?, &lf);
            Ok(())
        })
        .unwrap();
    eprintln!("line endings: {} inputs", n.get());
}

/// Mutations of correctly signed requests, and Authorization headers built from the
/// grammar's pieces.
#[test]
fn the_verifier_never_panics_or_leaks_on_mutated_requests() {
    let seeds: Vec<Vec<u8>> = std::fs::read_dir(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/auth"),
    )
    .unwrap()
    .map(|e| std::fs::read(e.unwrap().path()).unwrap())
    .collect();
    let mutated = (
        prop::sample::select(seeds),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    )
        .prop_map(|(mut data, edits)| {
            for (at, byte, op) in edits {
                if data.is_empty() {
                    data.push(byte);
                    continue;
                }
                let i = at.index(data.len());
                match op {
                    0 => data[i] = byte,
                    1 => data.insert(i, byte),
                    _ => {
                        data.remove(i);
                    }
                }
            }
            data
        });
    check("auth/mutated", mutated, harness::auth);
    let piece = prop_oneof![
        Just("AWS4-HMAC-SHA256".to_string()),
        Just(" ".into()),
        Just(", ".into()),
        Just(",".into()),
        Just("=".into()),
        Just("/".into()),
        Just("Credential=".into()),
        Just("SignedHeaders=".into()),
        Just("Signature=".into()),
        Just("AKIAIRISLOCALTEST001/20150830/us-east-1/execute-api/aws4_request".into()),
        Just("host;x-amz-date".into()),
        "[0-9a-f]{0,64}",
        "[ -~]{0,12}",
    ];
    let header = prop::collection::vec(piece, 0..12).prop_map(|p| {
        format!(
            "POST\n/species/irispredict\n-\nhost: abc123.execute-api.us-east-1.amazonaws.com\nx-amz-date: 20150830T123600Z\nauthorization: {}\n\n",
            p.concat()
        )
        .into_bytes()
    });
    check("auth/grammar", header, harness::auth);
}

#[test]
fn the_hlog_decoder_never_panics_or_allocates_what_a_header_claims() {
    use base64::Engine as _;
    let b64 = |b: Vec<u8>| {
        base64::engine::general_purpose::STANDARD
            .encode(b)
            .into_bytes()
    };
    check(
        "hlog/base64-bytes",
        prop::collection::vec(any::<u8>(), 0..200).prop_map(b64),
        harness::hlog,
    );
    // Plausible headers with arbitrary lengths, digits and bounds, plain and compressed.
    let header = (
        any::<u32>(),
        0u32..8,
        any::<u64>(),
        any::<u64>(),
        prop::collection::vec(any::<u8>(), 0..64),
        any::<bool>(),
    )
        .prop_map(move |(len, digits, low, high, payload, compress)| {
            let mut b = Vec::new();
            b.extend_from_slice(&0x1c84_9313u32.to_be_bytes());
            b.extend_from_slice(&len.to_be_bytes());
            b.extend_from_slice(&0u32.to_be_bytes());
            b.extend_from_slice(&digits.to_be_bytes());
            b.extend_from_slice(&low.to_be_bytes());
            b.extend_from_slice(&high.to_be_bytes());
            b.extend_from_slice(&1f64.to_bits().to_be_bytes());
            b.extend_from_slice(&payload);
            if !compress {
                return b64(b);
            }
            use std::io::Write as _;
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            z.write_all(&b).unwrap();
            let z = z.finish().unwrap();
            let mut c = 0x1c84_9314u32.to_be_bytes().to_vec();
            c.extend_from_slice(&(z.len() as u32).to_be_bytes());
            c.extend_from_slice(&z);
            b64(c)
        });
    check("hlog/headers", header, harness::hlog);
}

#[test]
fn the_value_parsers_never_panic_and_round_trip() {
    let line = prop_oneof![
        "[0-9]{0,12}(\\.[0-9]{0,6})?(e[+-]?[0-9]{1,3})?(ns|us|µs|ms|s|m|h|d|)?",
        "([0-9.e]{1,6}(\\.\\.[0-9.e]{1,6})?/[0-9.e]{1,6}(us|ms|s|m|h)?,?){1,4}",
        "((p[0-9.]{1,5}|max|errors|rps|service\\.p[0-9]{1,3}|lag\\.p[0-9]{1,3})(<|<=|>|>=|=)[0-9.e-]{1,8}(us|ms|s|%)?,?){1,3}",
        "[ -~\\t\u{80}-\u{10ff}]{0,20}:[ -~\\t\\x00-\\x1f]{0,20}",
        "\\PC{0,30}",
    ];
    check(
        "parsers",
        prop::collection::vec(line, 1..5).prop_map(|l| l.join("\n").into_bytes()),
        harness::parsers,
    );
    // Exact answers: a number of milliseconds, and a header, come back as given.
    let n = std::cell::Cell::new(0u64);
    runner()
        .run(
            &(
                0u64..10_000_000,
                "[A-Za-z][A-Za-z0-9-]{0,10}",
                "[!-~]([ -~]{0,10}[!-~])?",
            ),
            |(ms, name, value)| {
                n.set(n.get() + 1);
                prop_assert_eq!(
                    iris_cli::duration::parse(&format!("{ms}ms")).unwrap(),
                    Duration::from_millis(ms)
                );
                let lower = name.to_ascii_lowercase();
                let signed = matches!(
                    lower.as_str(),
                    "host"
                        | "authorization"
                        | "x-amz-date"
                        | "x-amz-security-token"
                        | "x-amz-content-sha256"
                );
                match iris_cli::protocol::parse_header(&format!("{name}: {value}")) {
                    Ok((n, v)) => {
                        prop_assert_eq!(n, name);
                        prop_assert_eq!(v, value);
                    }
                    Err(e) => prop_assert!(signed || lower == "content-length", "{e}"),
                }
                Ok(())
            },
        )
        .unwrap();
    eprintln!("parsers/round-trip: {} inputs", n.get());
}

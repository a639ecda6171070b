//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/*`) through the fuzz targets'
//! bodies on stable Rust, as CI does on every run: no input may panic, take long, or let a
//! secret out. `cargo fuzz run <target>` (nightly) grows the same corpus.
//!
//! `cargo test --test it -- --ignored write_seed_corpus` rewrites the seeds (named
//! `seed-*`); anything else in the directories was found by fuzzing and is kept as is.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

use crate::fuzz_harness as harness;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

/// Longest any one input may take (a debug build on a shared 2-core machine: generous, but
/// far below a hang).
const PER_INPUT: Duration = Duration::from_secs(5);

#[test]
fn the_committed_corpus_replays_without_panics_hangs_or_secrets() {
    let mut total = 0;
    for (name, target) in harness::TARGETS {
        let dir = corpus_dir(name);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        assert!(files.len() >= 10, "{name}: only {} inputs", files.len());
        for f in &files {
            let data = std::fs::read(f).unwrap();
            let started = Instant::now();
            let out = std::panic::catch_unwind(|| target(&data))
                .unwrap_or_else(|_| panic!("{} panicked", f.display()));
            let took = started.elapsed();
            assert!(took < PER_INPUT, "{} took {took:?}", f.display());
            harness::check_no_secret(&data, &out);
            // The signed seeds reach the verifier's accepting end (so mutations of them
            // explore the whole path, not just the first parse error).
            let file_name = f.file_name().unwrap().to_string_lossy();
            if *name == "auth" && file_name.starts_with("seed-valid") {
                assert!(
                    out.iter().any(|o| o.starts_with("accepted for")),
                    "{file_name}: {out:#?}"
                );
            }
            total += 1;
        }
    }
    assert!(total >= 40, "{total}");
}

fn write(target: &str, name: &str, data: &[u8]) {
    let dir = corpus_dir(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("seed-{name}")), data).unwrap();
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A request signed with the emulator's key at the harness's clock, in the auth target's
/// input format.
fn signed_request(
    service: &str,
    path_and_query: &str,
    body: &[u8],
    temporary: bool,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    use iris_cli::emulator::auth::*;
    let url = url::Url::parse(&format!(
        "https://abc123.execute-api.us-east-1.amazonaws.com{path_and_query}"
    ))
    .unwrap();
    let headers: Vec<(String, String)> = extra
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let creds = if temporary {
        aws_credential_types::Credentials::new(
            TEST_TEMP_ACCESS_KEY,
            TEST_TEMP_SECRET_KEY,
            Some(TEST_SESSION_TOKEN.into()),
            None,
            "seed",
        )
    } else {
        aws_credential_types::Credentials::new(TEST_ACCESS_KEY, TEST_SECRET_KEY, None, None, "seed")
    };
    let req = iris_cli::sign::Unsigned {
        method: "POST",
        url: &url,
        headers: &headers,
        body,
    };
    let scope = iris_cli::sign::Scope {
        region: "us-east-1".into(),
        service: service.into(),
    };
    let at = UNIX_EPOCH + Duration::from_secs(harness::AUTH_NOW_SECS);
    let signed = iris_cli::sign::sign(&req, &creds, &scope, at).unwrap();
    let mut text = format!("POST\n{}\n{}\n", url.path(), url.query().unwrap_or("-"));
    for (n, v) in &signed.headers {
        text.push_str(&format!("{n}: {v}\n"));
    }
    text.push('\n');
    let mut data = text.into_bytes();
    data.extend_from_slice(body);
    data
}

fn histogram_line(values: &[u64]) -> String {
    use base64::Engine as _;
    use hdrhistogram::serialization::Serializer as _;
    let mut h = hdrhistogram::Histogram::<u64>::new(3).unwrap();
    for v in values {
        h.record(*v).unwrap();
    }
    let mut buf = Vec::new();
    hdrhistogram::serialization::V2DeflateSerializer::new()
        .serialize(&h, &mut buf)
        .unwrap();
    base64::engine::general_purpose::STANDARD.encode(buf)
}

fn v2_header(payload_len: u32, digits: u32, low: u64, high: u64) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0x1c84_9313u32.to_be_bytes());
    b.extend_from_slice(&payload_len.to_be_bytes());
    b.extend_from_slice(&0u32.to_be_bytes());
    b.extend_from_slice(&digits.to_be_bytes());
    b.extend_from_slice(&low.to_be_bytes());
    b.extend_from_slice(&high.to_be_bytes());
    b.extend_from_slice(&1f64.to_bits().to_be_bytes());
    b
}

fn deflated(plain: &[u8]) -> String {
    use base64::Engine as _;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(plain).unwrap();
    let z = z.finish().unwrap();
    let mut b = Vec::new();
    b.extend_from_slice(&0x1c84_9314u32.to_be_bytes());
    b.extend_from_slice(&(z.len() as u32).to_be_bytes());
    b.extend_from_slice(&z);
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[test]
#[ignore = "rewrites fuzz/corpus/*/seed-*; run by hand"]
fn write_seed_corpus() {
    // csv: first byte = options (see harness::csv).
    let iris = "id,sepal_length,sepal_width,petal_length,petal_width\nr1,5.1,3.5,1.4,0.2\nr2,6.6,3.0,4.4,1.4\n";
    let csv_seeds: Vec<(&str, u8, Vec<u8>)> = vec![
        ("iris-lf", 0, iris.as_bytes().to_vec()),
        ("iris-crlf", 0, iris.replace('\n', "\r\n").into_bytes()),
        ("iris-cr", 0, iris.replace('\n', "\r").into_bytes()),
        ("iris-gzip", 0, gzip(iris.as_bytes())),
        ("iris-gzip-cut", 0, gzip(iris.as_bytes())[..30].to_vec()),
        ("gzip-magic-junk", 0, b"\x1f\x8b\x08\x00garbage".to_vec()),
        (
            "no-header-jsonl",
            8 | 2,
            b"5.1,3.5,1.4,0.2\n6.6,3.0,4.4,1.4\n".to_vec(),
        ),
        ("features-by-index", 1 << 4, b"1,2,3,4\n5,6,7,8\n".to_vec()),
        ("features-by-name", 2 << 4, b"a,b,c\n1,2,3\n".to_vec()),
        ("features-missing-name", 3 << 4, b"x,y\n1,2\n".to_vec()),
        (
            "quoted-multiline",
            4,
            b"id,a,b\n\"x\r\ny\",1,2\n\"q\"\"uote\",,3\n".to_vec(),
        ),
        (
            "bad-cells",
            0,
            b"a,b,c,d\n1,x,3,4\n1,2\n1,2,3,4,5\nnan,NaN,,1e309\n".to_vec(),
        ),
        ("invalid-utf8", 0, b"id,a\ncaf\xe9,1\n\xff\xfe,2\n".to_vec()),
        (
            "ansi-escapes",
            1,
            b"\x1b[31mred,\x1b]0;title\x07\n\x1b[2J,1\n".to_vec(),
        ),
        ("empty", 0, Vec::new()),
        ("only-header", 1, b"a,b,c\n".to_vec()),
        ("blank-lines", 0, b"\n\n1,2\n\n\r\n3,4\r\r".to_vec()),
        ("unterminated-quote", 0, b"a,b\n\"1,2\n3,4\n".to_vec()),
        (
            "wide",
            0,
            format!("{}\n", vec!["1.5"; 3000].join(",")).into_bytes(),
        ),
        (
            "long-cell",
            0,
            format!("a,b\n{},1\n", "9".repeat(20_000)).into_bytes(),
        ),
        ("secretless-echo", 0, b"a,b\nnot-a-secret,1\n".to_vec()),
    ];
    for (name, opts, body) in csv_seeds {
        let mut data = vec![opts];
        data.extend_from_slice(&body);
        write("csv", name, &data);
    }

    // auth: valid requests, then malformed ones.
    let body = br#"{"data": "5.1,3.5,1.4,0.2"}"#;
    write(
        "auth",
        "valid-apigw",
        &signed_request(
            "execute-api",
            "/species/irispredict",
            body,
            false,
            &[("content-type", "application/json")],
        ),
    );
    write(
        "auth",
        "valid-apigw-temporary",
        &signed_request("execute-api", "/species/irispredict", body, true, &[]),
    );
    write(
        "auth",
        "valid-query",
        &signed_request("execute-api", "/a%20b/c?x=1&y=%3D&y=&a=b", b"", false, &[]),
    );
    write(
        "auth",
        "valid-sagemaker",
        &signed_request(
            "sagemaker",
            "/endpoints/iris-xgb/invocations",
            b"5.1,3.5,1.4,0.2",
            false,
            &[("content-type", "text/csv")],
        ),
    );
    write(
        "auth",
        "valid-dot-segments",
        &signed_request(
            "execute-api",
            "/species/./x/../irispredict",
            body,
            false,
            &[("x-extra", "a  b  c")],
        ),
    );
    let base = "POST\n/species/irispredict\n-\nhost: abc123.execute-api.us-east-1.amazonaws.com\nx-amz-date: 20150830T123600Z\n";
    let malformed = [
        ("no-auth", String::new()),
        ("empty-auth", "authorization: \n".into()),
        ("bad-algorithm", "authorization: AWS4-HMAC-SHA512 Credential=AKIAIRISLOCALTEST001/20150830/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=00\n".into()),
        ("missing-signature", "authorization: AWS4-HMAC-SHA256 Credential=AKIAIRISLOCALTEST001/20150830/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date\n".into()),
        ("short-credential", "authorization: AWS4-HMAC-SHA256 Credential=AKIAIRISLOCALTEST001/20150830, SignedHeaders=host, Signature=abc\n".into()),
        ("wrong-region", "authorization: AWS4-HMAC-SHA256 Credential=AKIAIRISLOCALTEST001/20150830/eu-west-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123456789abcdef\n".into()),
        ("unknown-key", "authorization: AWS4-HMAC-SHA256 Credential=AKIAUNKNOWN/20150830/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123\n".into()),
        ("duplicate-fields", "authorization: AWS4-HMAC-SHA256 Credential=a/b/c/d/e, Credential=f/g/h/i/j, SignedHeaders=host, SignedHeaders=x, Signature=1, Signature=2\n".into()),
        ("unsigned-host", "authorization: AWS4-HMAC-SHA256 Credential=AKIAIRISLOCALTEST001/20150830/us-east-1/execute-api/aws4_request, SignedHeaders=x-amz-date, Signature=00\n".into()),
        ("odd-separators", "authorization: AWS4-HMAC-SHA256 ,,, Credential= / / / / ,SignedHeaders=;;;, Signature==\n".into()),
        ("unicode", "authorization: AWS4-HMAC-SHA256 Credential=ÄKIA/2015/ü/ß/aws4_request, SignedHeaders=host, Signature=é\n".into()),
    ];
    for (name, auth_line) in malformed {
        write("auth", name, format!("{base}{auth_line}\n").as_bytes());
    }
    write("auth", "bad-date", b"POST\n/\n-\nx-amz-date: 99999999T999999Z\nauthorization: AWS4-HMAC-SHA256 Credential=AKIAIRISLOCALTEST001/99999999/us-east-1/execute-api/aws4_request, SignedHeaders=x-amz-date, Signature=0\n\n");
    write("auth", "date-header-only", b"GET\n//a/../../b/%zz\na=%&b\nhost: h\ndate: Sun, 30 Aug 2015 12:36:00 GMT\nauthorization: AWS4-HMAC-SHA256 Credential=AKIAIRISLOCALTEST001/20150830/us-east-1/execute-api/aws4_request, SignedHeaders=date;host, Signature=0\n\n");

    // hlog: one base64 histogram per input.
    write(
        "hlog",
        "valid-small",
        histogram_line(&[1, 2, 3, 1000]).as_bytes(),
    );
    write(
        "hlog",
        "valid-wide",
        histogram_line(&[1, 60_000_000, 3_600_000_000]).as_bytes(),
    );
    write("hlog", "valid-empty", histogram_line(&[]).as_bytes());
    write(
        "hlog",
        "huge-payload-len",
        deflated(&[v2_header(0x7fff_ffff, 3, 1, 3_600_000_000), vec![2; 64]].concat()).as_bytes(),
    );
    write(
        "hlog",
        "huge-bounds",
        deflated(&v2_header(0, 5, 1, u64::MAX)).as_bytes(),
    );
    write(
        "hlog",
        "bad-digits",
        deflated(&v2_header(0, 200, 1, 1000)).as_bytes(),
    );
    write(
        "hlog",
        "low-zero",
        deflated(&v2_header(0, 3, 0, 1000)).as_bytes(),
    );
    write(
        "hlog",
        "truncated-header",
        deflated(&v2_header(10, 3, 1, 1000)[..20]).as_bytes(),
    );
    {
        use base64::Engine as _;
        let mut b = v2_header(4, 3, 1, 3_600_000);
        b.extend_from_slice(&[0x02, 0x7f, 0x81, 0x01]);
        write(
            "hlog",
            "plain-v2",
            base64::engine::general_purpose::STANDARD
                .encode(&b)
                .as_bytes(),
        );
        let mut c = Vec::new();
        c.extend_from_slice(&0x1c84_9314u32.to_be_bytes());
        c.extend_from_slice(&u32::MAX.to_be_bytes());
        c.extend_from_slice(b"xx");
        write(
            "hlog",
            "compressed-len-beyond",
            base64::engine::general_purpose::STANDARD
                .encode(&c)
                .as_bytes(),
        );
    }
    write("hlog", "not-base64", b"HISTFAAA!!!");
    write("hlog", "empty", b"");

    // parsers: every line goes to every parser.
    let lines = [
        ("durations", "250us\n5ms\n1.5s\n2m\n1h\n30\n0\n-1s\n1e400s\nNaNs\n.s\n1..2s\n999999999999h\n5 parsecs\n10µs"),
        ("ramps", "0..200/30s,200/60s\n10/1s\n0..0/1s\n1e9..1e9/1h\n5..1/0s\n..\n/\n0..200/30s,,\n1e308..1e308/1e308s\n-5..10/1s\nNaN..1/1s"),
        ("thresholds", "p99<200ms,errors<1%\np50<1s\np999<5ms\nmax<1s\nservice.p99<2ms\nlag.p99<1ms\nerrors<5\nrps>=100\np100<1s\np0<1s\nerrors<101%\nrps>=NaN\n,\np99<"),
        ("headers", "X-Test: a\nContent-Type: text/csv\nAuthorization: x\nhost: evil\nx-amz-date: 1\nNo-Colon\n: empty name\nX-Tab:\ta\tb\nX-Ctl: a\u{1}b\nX-Unicode: é\nContent-Length: 5\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        ("mixed", "1s\n0..1/1s\np99<1s\nA: b\n\n\u{0}\u{7f}\r\n"),
        ("ramp-long", "0..1000000/1h,1000000/1h,1000000..0/1h"),
        ("ramp-tiny", "0.000001/1ms,0..0.000001/1us"),
        ("duration-edge", "1000000000s\n1000000001s\n16666666.666666m\n0.0000000001ns"),
        ("threshold-edge", "p99.9999<1ms\np9999<1us\nerrors<0%\nerrors<0\nrps>=0"),
        ("empty", ""),
    ];
    for (name, text) in lines {
        write("parsers", name, text.as_bytes());
    }
}

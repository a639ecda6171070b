//! Hostile conditions for the built binary (issue 11): a stderr that cannot be written, a
//! closed stdout, a hanging `credential_process`, crafted interval logs. Every test is bounded
//! in time.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, Env};

/// stderr to /dev/full (every write fails with ENOSPC) and, when `closed_stdout`, stdout to a
/// pipe whose reader is already gone (every write fails with EPIPE).
fn hostile(env: &Env, args: &[&str], closed_stdout: bool) -> std::process::Output {
    let mut cmd = env.std_cmd();
    cmd.args(args).stdin(Stdio::null()).stderr(
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap(),
    );
    if closed_stdout {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        cmd.stdout(writer);
    } else {
        cmd.stdout(Stdio::piped());
    }
    let child = cmd.spawn().unwrap();
    wait_bounded(child, Duration::from_secs(60))
}

fn wait_bounded(mut child: std::process::Child, limit: Duration) -> std::process::Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the command did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

const ROW: &str = "5.1,3.5,1.4,0.2";

#[test]
fn no_subcommand_panics_when_stderr_or_stdout_cannot_be_written() {
    let env = Env::new();
    env.write("in.csv", &format!("{ROW}\n1,x,3,4\n{ROW}\n"));
    env.write("bad.hlog", "not a log\n");
    // (arguments, expected exit code)
    let cases: &[(&[&str], i32)] = &[
        (&["predict", "--local", "--data", "x"], 2),
        (&["predict", "--local", "--data", ROW, "-v"], 0),
        (&["predict", "--local", "--data", ROW, "--dry-run"], 0),
        (&["batch", "--local", "in.csv"], 7),
        (
            &[
                "bench",
                "--local",
                "--rps",
                "50",
                "--requests",
                "5",
                "--quiet",
            ],
            0,
        ),
        (&["report", "merge", "bad.hlog"], 1),
        (&["report", "merge", "missing.hlog"], 1),
        (&["completions", "bash"], 0),
        (&["man"], 0),
        (&["predict", "--no-such-flag"], 2),
    ];
    for (args, code) in cases {
        let out = hostile(&env, args, false);
        assert_eq!(
            out.status.code(),
            Some(*code),
            "{args:?} with stderr on /dev/full: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        // A closed stdout too: an error (exit 1 where there was output to write) or the
        // expected code, never a panic (101) or a signal.
        let out = hostile(&env, args, true);
        let got = out.status.code();
        assert!(
            got == Some(*code) || got == Some(1),
            "{args:?} with stderr on /dev/full and stdout closed: {got:?}"
        );
    }
    // The prediction still reaches stdout.
    let out = hostile(&env, &["predict", "--local", "--data", ROW], false);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("setosa"));
}

/// `serve` with stderr on /dev/full and so few file descriptors that accepts fail (EMFILE):
/// once the connections are gone it answers again.
#[test]
fn serve_keeps_accepting_after_accept_errors_with_a_broken_stderr() {
    let env = Env::new();
    let bin = assert_cmd::cargo::cargo_bin("iris-cli");
    // `ulimit -n` in a shell, then exec: the limit applies to the server only.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "ulimit -n 48 && exec '{}' serve --listen 127.0.0.1:0",
            bin.display()
        ))
        .current_dir(env.dir.path());
    for (k, v) in env.std_cmd().get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap(),
    );
    let mut child = cmd.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("export IRIS_URL=")
        .unwrap()
        .trim_matches('\'')
        .to_string();
    let addr = url
        .strip_prefix("http://")
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    // Exhaust the server's descriptors; accepts then fail with EMFILE.
    let mut held = Vec::new();
    for _ in 0..80 {
        match TcpStream::connect(&addr) {
            Ok(s) => held.push(s),
            Err(_) => break,
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    // A plain GET: any HTTP answer shows the server is still accepting.
    let answered = (0..50).any(|_| {
        let Ok(mut s) = TcpStream::connect(&addr) else {
            std::thread::sleep(Duration::from_millis(100));
            return false;
        };
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = write!(
            s,
            "GET /ping HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        );
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        if buf.starts_with(b"HTTP/1.1 ") {
            true
        } else {
            std::thread::sleep(Duration::from_millis(100));
            false
        }
    });
    let alive = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(alive, "serve exited");
    assert!(answered, "serve stopped accepting after accept errors");
}

/// `predict` against a closed loopback port with credentials from the chain only.
fn chain_predict(env: &Env, extra: &[&str]) -> (common::Run, Duration) {
    let started = Instant::now();
    let r = common::run(
        env.iris()
            .args([
                "predict",
                "--url",
                "http://127.0.0.1:9/species/irispredict",
                "--region",
                "us-east-1",
                "--data",
                ROW,
            ])
            .args(extra),
    );
    (r, started.elapsed())
}

/// Issue 11, item 11: a `credential_process` that never answers is bounded by
/// --credentials-timeout (exit 3, naming the cause) instead of hanging the command.
#[test]
fn a_hanging_credential_process_is_bounded() {
    let env = Env::new();
    env.write("aws-config", "[default]\ncredential_process = sleep 30\n");
    let (r, took) = chain_predict(&env, &["--credentials-timeout", "1s"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(took < Duration::from_secs(15), "{took:?}");
    assert!(
        r.stderr.contains("no AWS credentials within 1 s"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--credentials-timeout"), "{}", r.stderr);
}

/// Issue 11, item 13: credentials a `credential_process` returns already expired are refused
/// (exit 3, saying when they expired), not used until AWS rejects them.
#[test]
fn expired_credential_process_credentials_are_refused() {
    let env = Env::new();
    let json = format!(
        r#"{{"Version":1,"AccessKeyId":"ASIAEXPIREDEXAMPLE01","SecretAccessKey":"{}","SessionToken":"{}","Expiration":"2020-01-02T03:04:05Z"}}"#,
        iris_cli::emulator::auth::TEST_TEMP_SECRET_KEY,
        iris_cli::emulator::auth::TEST_SESSION_TOKEN
    );
    let creds = env.write("creds.json", &json);
    env.write(
        "aws-config",
        &format!("[default]\ncredential_process = cat {}\n", creds.display()),
    );
    let (r, _) = chain_predict(&env, &[]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("expired at Thu, 02 Jan 2020 03:04:05 GMT"),
        "{}",
        r.stderr
    );
}

/// Issue 11, item 13: a malformed shared config file is named with its line (aws-config's
/// parser knows both; the chain used to skip the file and say "no credentials").
#[test]
fn a_malformed_aws_config_is_named_with_file_and_line() {
    let env = Env::new();
    env.write(
        "aws-config",
        "[default]\nregion = us-east-1\n[profile broken\nx = 1\n",
    );
    let (r, _) = chain_predict(&env, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let config = env.path("aws-config");
    assert!(
        r.stderr.contains(&format!(
            "the AWS shared config is malformed: error parsing {} on line 3",
            config.display()
        )),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().filter(|l| l.contains("error:")).count(), 1);
}

/// A V2 histogram header (what hdrhistogram's deserializer reads) with the given claimed
/// payload length and bounds, followed by `payload`.
fn v2_plain(payload_len: u32, digits: u32, low: u64, high: u64, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0x1c84_9313u32.to_be_bytes());
    b.extend_from_slice(&payload_len.to_be_bytes());
    b.extend_from_slice(&0u32.to_be_bytes());
    b.extend_from_slice(&digits.to_be_bytes());
    b.extend_from_slice(&low.to_be_bytes());
    b.extend_from_slice(&high.to_be_bytes());
    b.extend_from_slice(&1f64.to_bits().to_be_bytes());
    b.extend_from_slice(payload);
    b
}

/// The compressed form, base64, as an interval log line.
fn hlog_line(plain: &[u8]) -> String {
    use base64::Engine as _;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(plain).unwrap();
    let z = z.finish().unwrap();
    let mut b = Vec::new();
    b.extend_from_slice(&0x1c84_9314u32.to_be_bytes());
    b.extend_from_slice(&(z.len() as u32).to_be_bytes());
    b.extend_from_slice(&z);
    format!(
        "Tag=response,0.000,1.000,1.000,{}\n",
        base64::engine::general_purpose::STANDARD.encode(b)
    )
}

/// Issue 11, item 12: interval-log lines that claim huge payloads or bounds are refused
/// before anything is allocated. Under a 1 GB address-space limit, `report merge` used to
/// die allocating 2 GB for a 4 KB file.
#[test]
fn report_merge_refuses_crafted_hlog_lengths_without_allocating_them() {
    let env = Env::new();
    let bin = assert_cmd::cargo::cargo_bin("iris-cli");
    let cases = [
        (
            v2_plain(0x7fff_ffff, 3, 1, 3_600_000_000, &[2; 64]),
            "histogram says 2147483647 payload bytes, 64 present",
        ),
        (v2_plain(0, 5, 1, u64::MAX, &[]), "histogram too large"),
    ];
    for (i, (plain, want)) in cases.iter().enumerate() {
        let name = format!("crafted{i}.hlog");
        env.write(&name, &hlog_line(plain));
        assert!(std::fs::metadata(env.path(&name)).unwrap().len() < 4096);
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -v 1000000 && exec '{}' report merge {name}",
                bin.display()
            ))
            .current_dir(env.dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(&format!("{name}:1: {want}")), "{stderr}");
    }
    // A huge compressed stream (a deflate bomb) is cut off at the cap.
    let mut bomb = v2_plain(64 << 20, 3, 1, 3_600_000_000, &[]);
    bomb.resize(bomb.len() + (64 << 20), 0);
    let line = hlog_line(&bomb);
    assert!(line.len() < 200_000, "{}", line.len());
    env.write("bomb.hlog", &line);
    let r = common::run(env.iris().args(["report", "merge", "bomb.hlog"]));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("histogram decompresses to more than"),
        "{}",
        r.stderr
    );
}

//! What every binary-level test needs: a scrubbed environment for the built `iris-cli` (no AWS
//! settings from the developer's machine can make a test pass) and a run that checks no secret
//! ever reached its output.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::PathBuf;
use std::time::Duration;

use assert_cmd::Command;
use iris_cli::emulator::auth::{TEST_SECRET_KEY, TEST_SESSION_TOKEN, TEST_TEMP_SECRET_KEY};

/// A secret the tests pass on purpose as a wrong key; it must never be echoed either.
pub const WRONG_SECRET: &str = "wrongSecretwrongSecret";

pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// The binary, run in the temporary directory, with no `AWS_*`/`IRIS_*`/proxy variables,
    /// a temporary HOME and shared files, and instance metadata disabled.
    pub fn std_cmd(&self) -> std::process::Command {
        self.scrubbed(assert_cmd::cargo::cargo_bin("iris-cli"))
    }

    /// Any program with `std_cmd`'s environment (no AWS/IRIS/proxy settings, temporary HOME).
    pub fn scrubbed(&self, program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
        let mut cmd = std::process::Command::new(program);
        for (key, _) in std::env::vars() {
            if key.starts_with("AWS_")
                || key.starts_with("IRIS_")
                || key.ends_with("_PROXY")
                || key.ends_with("_proxy")
            {
                cmd.env_remove(key);
            }
        }
        cmd.env("HOME", self.dir.path())
            .env("AWS_CONFIG_FILE", self.path("aws-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.path("aws-credentials"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_COLOR", "1")
            .current_dir(self.dir.path());
        cmd
    }

    /// `std_cmd` as an assert_cmd command, bounded in time.
    pub fn iris(&self) -> Command {
        let mut cmd = Command::from_std(self.std_cmd());
        cmd.timeout(Duration::from_secs(90));
        cmd
    }
}

/// The interpreter for tests that drive Python: `IRIS_TEST_PYTHON` (the test command,
/// `tests/run.sh`, points it at the project's `.venv` with the pinned requirements), else
/// `python3` from `PATH`.
pub fn python_program() -> String {
    std::env::var("IRIS_TEST_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".into())
}

/// A command for [`python_program`], run from the repository root.
pub fn python() -> std::process::Command {
    let mut cmd = std::process::Command::new(python_program());
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

/// The hint every Python-driving test gives when its packages are missing.
pub const PYTHON_HINT: &str = "run the suite with tests/run.sh (it creates .venv with the pinned \
     requirements), or set IRIS_TEST_PYTHON to an interpreter that has them";

/// `iris-cli serve --listen 127.0.0.1:0 ARGS` as a child process, killed on drop; `exports`
/// are the `export NAME=value` lines it printed (URL, endpoint, region, keys).
pub struct Serve {
    child: std::process::Child,
    pub exports: Vec<(String, String)>,
    /// What it printed on stdout after the export lines, read so far.
    pub stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Serve {
    pub fn start(env: &Env, args: &[&str]) -> Serve {
        use std::io::BufRead;
        let mut child = env
            .std_cmd()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut exports = Vec::new();
        let mut line = String::new();
        // The last line is the secret's: `export AWS_SECRET_ACCESS_KEY=...`, or with
        // --credentials FILE a `# secret: from FILE` comment.
        loop {
            line.clear();
            let n = stdout.read_line(&mut line).unwrap();
            assert!(n > 0, "serve exited before printing its exports");
            if line.starts_with("# secret") {
                break;
            }
            if let Some((k, v)) = line
                .trim()
                .strip_prefix("export ")
                .and_then(|l| l.split_once('='))
            {
                exports.push((k.to_string(), shell_unquote(v)));
                if k == "AWS_SECRET_ACCESS_KEY" {
                    break;
                }
            }
        }
        Serve {
            child,
            exports,
            stdout,
        }
    }

    pub fn get(&self, name: &str) -> &str {
        &self
            .exports
            .iter()
            .find(|(k, _)| k == name)
            .unwrap_or_else(|| panic!("serve printed no {name}"))
            .1
    }
}

impl Serve {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait for it to exit (bounded by the caller's signal); its exit code and stderr.
    pub fn wait(&mut self) -> (Option<i32>, String) {
        use std::io::Read;
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let status = self.child.wait().unwrap();
        (status.code(), err)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run `cmd`; fails the test if any test secret appears in its output.
pub fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    for secret in [
        TEST_SECRET_KEY,
        TEST_TEMP_SECRET_KEY,
        TEST_SESSION_TOKEN,
        WRONG_SECRET,
    ] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "a secret leaked into the output:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
    run
}

/// Validate a JSON output against its command's committed schema (`docs/schema/*.json`);
/// commands without a schema are left alone.
pub fn validate_json(command: &str, v: &serde_json::Value) {
    use std::sync::OnceLock;
    static SCHEMAS: OnceLock<Vec<(&'static str, jsonschema::Validator)>> = OnceLock::new();
    let schemas = SCHEMAS.get_or_init(|| {
        [
            ("predict", "predict.json"),
            ("bench", "bench.json"),
            ("report", "bench.json"),
            ("capacity", "capacity.json"),
            ("report cloudwatch", "bench.json#/$defs/cloudwatch"),
        ]
        .into_iter()
        .map(|(cmd, file)| {
            let (file, def) = file.split_once("#/$defs/").unwrap_or((file, ""));
            let path = format!("{}/docs/schema/{file}", env!("CARGO_MANIFEST_DIR"));
            let mut schema: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            if !def.is_empty() {
                // One definition of the file as the whole schema (its $defs kept for refs).
                schema = serde_json::json!({
                    "$ref": format!("#/$defs/{def}"),
                    "$defs": schema["$defs"].clone(),
                });
            }
            (
                cmd,
                jsonschema::validator_for(&schema).expect("a valid schema"),
            )
        })
        .collect()
    });
    if let Some((_, validator)) = schemas.iter().find(|(c, _)| *c == command) {
        let errors: Vec<String> = validator
            .iter_errors(v)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{command} -o json does not match docs/schema: {errors:?}\n{v:#}"
        );
    }
}

/// `path` + `suffix`, as batch names its side files.
pub fn with_suffix(path: &std::path::Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// A POSIX shell word as `serve` prints it (single quotes, `'\''` for a quote) back to its value.
pub fn shell_unquote(word: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    let mut chars = word.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => quoted = !quoted,
            '\\' if !quoted => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            c => out.push(c),
        }
    }
    out
}

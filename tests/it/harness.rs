//! The fluent test builder (in the style of casey/just's `Test`) and the emulator handle.
//!
//! ```ignore
//! Run::new("predict").local().data(SETOSA).json().expect_exit(0).stdout_has("setosa").run();
//! ```
//! Every run uses the scrubbed environment of `common::Env`, fails on a leaked secret, and
//! validates JSON on stdout against the committed schema of its command.

use std::ffi::OsString;
use std::ops::Deref;
use std::time::Duration;

use iris_cli::emulator::auth::{TEST_ACCESS_KEY, TEST_SECRET_KEY};
use iris_cli::emulator::{Emulator, EmulatorConfig};
use serde_json::Value;

use crate::common::{self, Env};

/// The emulator for one test; on drop it checks that no handler panicked.
pub struct TestEmulator(Option<Emulator>);

impl TestEmulator {
    pub fn start(cfg: EmulatorConfig) -> TestEmulator {
        TestEmulator(Some(Emulator::start_in_thread(cfg).unwrap()))
    }

    pub fn default_config() -> TestEmulator {
        Self::start(EmulatorConfig::default())
    }
}

impl Deref for TestEmulator {
    type Target = Emulator;
    fn deref(&self) -> &Emulator {
        self.0.as_ref().unwrap()
    }
}

impl Drop for TestEmulator {
    fn drop(&mut self) {
        if let Some(emu) = self.0.take() {
            let panics = emu.stats().panics;
            drop(emu);
            if !std::thread::panicking() {
                assert_eq!(panics, 0, "an emulator handler panicked");
            }
        }
    }
}

/// What a run printed; keeps the run's temporary directory alive.
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub env: Env,
}

impl Output {
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", self.stdout, self.stderr))
    }
}

pub struct Run {
    env: Env,
    args: Vec<OsString>,
    vars: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
    exit: Option<i32>,
    stdout_has: Vec<String>,
    stderr_has: Vec<String>,
    timeout: Duration,
}

impl Run {
    /// `iris-cli SUBCOMMAND`, in a fresh scrubbed environment.
    pub fn new(subcommand: &str) -> Run {
        Run {
            env: Env::new(),
            args: subcommand.split(' ').map(OsString::from).collect(),
            vars: Vec::new(),
            stdin: None,
            exit: None,
            stdout_has: Vec::new(),
            stderr_has: Vec::new(),
            timeout: Duration::from_secs(60),
        }
    }

    pub fn env(&self) -> &Env {
        &self.env
    }

    pub fn arg(mut self, a: impl Into<OsString>) -> Run {
        self.args.push(a.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    #[allow(dead_code)]
    pub fn local(self) -> Run {
        self.arg("--local")
    }

    pub fn data(self, rows: &str) -> Run {
        self.arg("--data").arg(rows)
    }

    pub fn json(self) -> Run {
        self.args(["-o", "json"])
    }

    /// Sign with the emulator's built-in test key, from the environment as the AWS CLI would.
    pub fn test_keys(self) -> Run {
        self.var("AWS_ACCESS_KEY_ID", TEST_ACCESS_KEY)
            .var("AWS_SECRET_ACCESS_KEY", TEST_SECRET_KEY)
            .var("AWS_REGION", "us-east-1")
    }

    /// The API of `emu`, signed with its test key.
    pub fn api(self, emu: &Emulator) -> Run {
        self.arg("--url").arg(emu.invoke_url()).test_keys()
    }

    /// The SageMaker endpoint of `emu`, signed with its test key.
    pub fn sagemaker(self, emu: &Emulator) -> Run {
        self.arg("--endpoint-name")
            .arg(emu.endpoint_name())
            .arg("--endpoint-url")
            .arg(emu.endpoint_url())
            .test_keys()
    }

    pub fn var(mut self, k: &str, v: &str) -> Run {
        self.vars.push((k.into(), v.into()));
        self
    }

    #[allow(dead_code)]
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Run {
        self.stdin = Some(bytes.into());
        self
    }

    pub fn expect_exit(mut self, code: i32) -> Run {
        self.exit = Some(code);
        self
    }

    pub fn stdout_has(mut self, s: &str) -> Run {
        self.stdout_has.push(s.into());
        self
    }

    pub fn stderr_has(mut self, s: &str) -> Run {
        self.stderr_has.push(s.into());
        self
    }

    #[allow(dead_code)]
    pub fn timeout(mut self, d: Duration) -> Run {
        self.timeout = d;
        self
    }

    pub fn run(self) -> Output {
        let mut cmd = self.env.iris();
        cmd.args(&self.args).timeout(self.timeout);
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        if let Some(input) = &self.stdin {
            cmd.write_stdin(input.clone());
        }
        let r = common::run(&mut cmd);
        let out = Output {
            code: r.code,
            stdout: r.stdout,
            stderr: r.stderr,
            env: self.env,
        };
        let shown = || {
            format!(
                "{:?}\nstdout: {}\nstderr: {}",
                self.args, out.stdout, out.stderr
            )
        };
        if let Some(code) = self.exit {
            assert_eq!(out.code, code, "exit code of {}", shown());
        }
        for s in &self.stdout_has {
            assert!(
                out.stdout.contains(s.as_str()),
                "stdout lacks {s:?}: {}",
                shown()
            );
        }
        for s in &self.stderr_has {
            assert!(
                out.stderr.contains(s.as_str()),
                "stderr lacks {s:?}: {}",
                shown()
            );
        }
        if let Ok(v) = serde_json::from_str::<Value>(out.stdout.trim()) {
            if let Some(kind) = self.args.first().and_then(|a| a.to_str()) {
                let sub = self.args.get(1).and_then(|a| a.to_str());
                match (kind, sub) {
                    ("report", Some("cloudwatch")) => {
                        common::validate_json("report cloudwatch", &v)
                    }
                    _ => common::validate_json(kind, &v),
                }
            }
        }
        out
    }
}

//! Runs deploy/'s Python suite (reference Lambda with moto, template and k8s manifest checks,
//! and the parity test that the emulator's Lambda and deploy/lambda/handler.py answer byte for
//! byte alike) against this build's binary, so `cargo test` covers it.

use crate::common;

#[test]
fn deploy_python_suite() {
    let out = common::python()
        .args([
            "-m",
            "pytest",
            "deploy/tests",
            "deploy/k8s",
            "-q",
            "-p",
            "no:cacheprovider",
        ])
        .env("IRIS_CLI_BIN", env!("CARGO_BIN_EXE_iris-cli"))
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}; {}", common::python_program(), common::PYTHON_HINT));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "deploy/ tests failed ({}):\n{stdout}\n{}",
        common::PYTHON_HINT,
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(summary.contains(" passed"), "{stdout}");
    eprintln!("deploy/: {summary}");
}

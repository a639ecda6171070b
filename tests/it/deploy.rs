//! Runs deploy/'s Python suite (reference Lambda with moto, template and k8s manifest checks,
//! and the parity test that the emulator's Lambda and deploy/lambda/handler.py answer byte for
//! byte alike) against this build's binary, so `cargo test` covers it.

use std::process::Command;

#[test]
fn deploy_python_suite() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("python3")
        .args([
            "-m",
            "pytest",
            "deploy/tests",
            "deploy/k8s",
            "-q",
            "-p",
            "no:cacheprovider",
        ])
        .current_dir(root)
        .env("IRIS_CLI_BIN", env!("CARGO_BIN_EXE_iris-cli"))
        .output()
        .expect("python3 is needed for deploy/'s tests");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "deploy/ tests failed (pip install -r deploy/requirements-test.txt):\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(summary.contains(" passed"), "{stdout}");
    eprintln!("deploy/: {summary}");
}

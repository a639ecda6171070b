//! The one integration-test binary: the built `iris-cli` against the in-process emulator (or a
//! small mock server), every command end to end. One binary links once and shares helpers.
//!
//! - `harness`: the fluent `Run` builder and the emulator handle that checks on drop that no
//!   handler panicked; `common`: the scrubbed environment and the secret-leak check.
//! - `mock`: a tiny hyper server answering whatever a test scripts (SageMaker throttles, skew
//!   answers) and recording what it received.

mod common;
mod harness;
mod mock;
// The fuzz targets' bodies (cargo fuzz builds them too), for the corpus replay and the
// property tests.
#[path = "../../fuzz/harness.rs"]
mod fuzz_harness;

mod batch;
mod bench;
mod capacity;
mod cli;
mod cloudwatch;
mod deploy;
mod emulator_hardening;
mod emulator_http;
mod fuzz_corpus;
mod hardening;
mod https;
mod model_reference;
mod newcomer;
mod postman;
mod properties;
mod readme;
mod signing;
mod sigv4_suite;
mod wire;

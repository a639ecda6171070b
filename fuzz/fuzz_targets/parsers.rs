//! `cargo +nightly fuzz run parsers`: see ../harness.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness.rs"]
mod harness;

fuzz_target!(|data: &[u8]| {
    let out = harness::parsers(data);
    harness::check_no_secret(data, &out);
});

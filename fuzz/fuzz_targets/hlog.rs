//! `cargo +nightly fuzz run hlog`: see ../harness.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness.rs"]
mod harness;

fuzz_target!(|data: &[u8]| {
    let out = harness::hlog(data);
    harness::check_no_secret(data, &out);
});

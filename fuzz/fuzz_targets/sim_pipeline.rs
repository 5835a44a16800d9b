#![no_main]
//! Whole simulated pipelines with faults, from arbitrary bytes: every oracle holds.
libfuzzer_sys::fuzz_target!(|data: &[u8]| genstage_fuzz::pipeline::run(data));

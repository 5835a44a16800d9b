#![no_main]
//! Arbitrary operation sequences to one stage of each kind: no input may panic the core.
libfuzzer_sys::fuzz_target!(|data: &[u8]| genstage_fuzz::ops::run(data));

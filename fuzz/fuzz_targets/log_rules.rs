#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hoist_fuzz_targets::log_rules(data));

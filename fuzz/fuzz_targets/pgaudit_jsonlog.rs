#![no_main]
//! Framing + parsing of `pgaudit-jsonlog`; properties in `onetrail_fuzz::check_format`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| onetrail_fuzz::check_format("pgaudit-jsonlog", data));

#![no_main]
//! The redactor on arbitrary text; properties in `onetrail_fuzz::check_redact`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| onetrail_fuzz::check_redact(data));

#![no_main]
//! A secret planted in a password position never survives redaction; see
//! `onetrail_fuzz::check_planted`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| onetrail_fuzz::check_planted(data));

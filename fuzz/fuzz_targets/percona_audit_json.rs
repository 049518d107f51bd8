#![no_main]
//! Framing + parsing of `percona-audit-json`; properties in `onetrail_fuzz::check_format`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| onetrail_fuzz::check_format("percona-audit-json", data));

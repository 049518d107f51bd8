#![no_main]
//! Framing + parsing of `percona-audit-csv`; properties in `onetrail_fuzz::check_format`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| onetrail_fuzz::check_format("percona-audit-csv", data));

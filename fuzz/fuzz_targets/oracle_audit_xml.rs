#![no_main]
//! Framing + parsing of `oracle-audit-xml`; properties in `onetrail_fuzz::check_format`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| onetrail_fuzz::check_format("oracle-audit-xml", data));

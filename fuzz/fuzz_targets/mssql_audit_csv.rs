#![no_main]
//! Framing + parsing of `mssql-audit-csv`; properties in `onetrail_fuzz::check_format`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| onetrail_fuzz::check_format("mssql-audit-csv", data));

#![no_main]
//! Framing + parsing of `mysql-enterprise-json`; properties in `onetrail_fuzz::check_format`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| onetrail_fuzz::check_format(
    "mysql-enterprise-json",
    data
));

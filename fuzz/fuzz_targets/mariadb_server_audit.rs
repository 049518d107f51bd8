#![no_main]
//! Framing + parsing of `mariadb-server-audit`; properties in `onetrail_fuzz::check_format`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| onetrail_fuzz::check_format(
    "mariadb-server-audit",
    data
));

//! Rough throughput check: frame + parse a file repeated in memory.
//!
//! `cargo run --release -p onetrail-pgaudit --example throughput -- <format> <file> [log_line_prefix]`

use std::time::Instant;

use onetrail_event::{Flush, RecordPos};
use onetrail_pgaudit::{PgOptions, format_by_name};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(format), Some(file)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: throughput <format> <file> [log_line_prefix]");
        std::process::exit(2);
    };
    let mut opts = PgOptions::default();
    if let Some(p) = args.get(3) {
        opts.log_line_prefix = p.clone();
    }
    let one = std::fs::read(file).expect("read input");
    let mut data = Vec::new();
    while data.len() < 64 << 20 {
        data.extend_from_slice(&one);
    }
    let mut fmt = format_by_name(format, &opts).expect("format");
    // FRAME_ONLY=1 measures framing alone.
    let frame_only = std::env::var_os("FRAME_ONLY").is_some();
    let start = Instant::now();
    let (mut at, mut events, mut out) = (0, 0usize, Vec::new());
    while at < data.len() {
        let rest = &data[at..];
        let n = fmt
            .frame(rest, Flush::No)
            .or_else(|| fmt.frame(rest, Flush::Final))
            .expect("final frame");
        let pos = RecordPos {
            source_key: "bench",
            path: None,
            offset: at as u64,
            format: fmt.name(),
        };
        if !frame_only {
            fmt.parse(&rest[..n], &pos, &mut out);
        }
        events += out.len();
        out.clear();
        at += n;
    }
    fmt.release_held(&mut out);
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{format}: {:.1} MB in {secs:.2}s = {:.0} MB/s, {events} events",
        data.len() as f64 / 1e6,
        data.len() as f64 / 1e6 / secs
    );
}

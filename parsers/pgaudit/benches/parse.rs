//! Frame + parse the real PostgreSQL 15 captures (fixtures/postgresql/real),
//! one benchmark per format. `cargo bench -p onetrail-pgaudit`; in
//! `cargo test --all-targets` each runs once (criterion's test mode).
//! Whole-process figures: `crates/bench`, BENCHMARKS.md.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use onetrail_event::{Event, Flush, RecordFormat, RecordPos};
use onetrail_pgaudit::{PgOptions, format_by_name};

const REAL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/postgresql/real"
);

/// Frame and parse all of `data` like the runtime does; returns the event count.
fn run(fmt: &mut dyn RecordFormat, data: &[u8], out: &mut Vec<Event>) -> usize {
    let (mut at, mut n) = (0, 0);
    while at < data.len() {
        let rest = &data[at..];
        let len = fmt
            .frame(rest, Flush::No)
            .or_else(|| fmt.frame(rest, Flush::Final))
            .expect("final frame");
        let pos = RecordPos {
            source_key: "fp:bench",
            path: Some("/var/log/postgresql/postgresql.log"),
            offset: at as u64,
            format: fmt.name(),
        };
        fmt.parse(&rest[..len], &pos, out);
        n += out.len();
        out.clear();
        at += len;
    }
    fmt.release_held(out);
    n + out.len()
}

fn bench(c: &mut Criterion) {
    let cases = [
        (
            "pgaudit-stderr",
            "stderr/postgresql.log",
            "%m [%p] %q%u@%d %r %a %c ",
        ),
        (
            "pgaudit-stderr",
            "stderr-rds-berlin/postgresql.log",
            "%t:%r:%u@%d:[%p]:",
        ),
        ("pgaudit-csvlog", "csvlog/postgresql.csv", ""),
        ("pgaudit-jsonlog", "jsonlog/postgresql.json", ""),
        ("pgauditlogtofile", "pgauditlogtofile/audit.log", ""),
    ];
    let mut g = c.benchmark_group("pgaudit");
    for (format, file, prefix) in cases {
        let data = std::fs::read(format!("{REAL}/{file}")).expect("fixture");
        let mut opts = PgOptions::default();
        if !prefix.is_empty() {
            opts.log_line_prefix = prefix.to_string();
        }
        g.throughput(Throughput::Bytes(data.len() as u64));
        let mut out = Vec::new();
        g.bench_function(file, |b| {
            b.iter(|| {
                let mut fmt = format_by_name(format, &opts).expect("format");
                run(fmt.as_mut(), &data, &mut out)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

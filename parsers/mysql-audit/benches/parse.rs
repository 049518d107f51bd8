//! Frame + parse MySQL-family audit logs: the real MariaDB 10.11 capture and
//! the fixtures of the other formats. `cargo bench -p onetrail-mysql-audit`;
//! in `cargo test --all-targets` each runs once (criterion's test mode).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use onetrail_event::{Event, Flush, RecordFormat, RecordPos};
use onetrail_mysql_audit::{MysqlOptions, format_by_name};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/mysql");

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
            path: Some("/var/lib/mysql/server_audit.log"),
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
            "mariadb-server-audit",
            "real-mariadb-10.11/server_audit.log",
        ),
        ("mysql-enterprise-json", "mysql-enterprise-json.ea.json"),
        ("mysql-enterprise-xml", "mysql-enterprise-xml.new.xml"),
        ("percona-audit-json", "percona-audit-json.sample.json"),
        ("percona-audit-csv", "percona-audit-csv.multiline.csv"),
    ];
    let mut g = c.benchmark_group("mysql-audit");
    for (format, file) in cases {
        let data = std::fs::read(format!("{FIXTURES}/{file}")).expect("fixture");
        g.throughput(Throughput::Bytes(data.len() as u64));
        let mut out = Vec::new();
        g.bench_function(file, |b| {
            b.iter(|| {
                let mut fmt = format_by_name(format, &MysqlOptions::default()).expect("format");
                run(fmt.as_mut(), &data, &mut out)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

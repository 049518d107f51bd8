//! Throughput of `Redactor::redact` on a mix of typical audited statements
//! (about 1 in 20 carries a secret), plus the pure fast path and the slow path.

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use onetrail_redact::{Redactor, RedactorOptions};

const PLAIN: &[&str] = &[
    "SELECT id, name, email FROM public.customers WHERE id = $1",
    "INSERT INTO orders (customer_id, total, created_at) VALUES (42, 99.90, now())",
    "UPDATE accounts SET balance = balance - 100 WHERE account_id = 'A-1001' AND version = 7",
    "SELECT o.id, sum(l.qty * l.price) FROM orders o JOIN order_lines l ON l.order_id = o.id WHERE o.created_at > now() - interval '1 day' GROUP BY o.id ORDER BY 2 DESC LIMIT 50",
    "DELETE FROM sessions WHERE expires_at < CURRENT_TIMESTAMP",
    "BEGIN",
    "COMMIT",
    "SET search_path TO app, public",
    "CREATE INDEX CONCURRENTLY idx_orders_customer ON orders (customer_id)",
    "SELECT * FROM `shop`.`products` WHERE `sku` IN ('a-1', 'b-2', 'c-3')",
    "EXEC dbo.usp_GetOrders @CustomerId = 17, @Since = '2024-01-01'",
    "SELECT TOP 10 * FROM sys.dm_exec_requests WHERE session_id > 50",
    "SELECT owner, table_name FROM all_tables WHERE owner NOT IN ('SYS', 'SYSTEM')",
    "GRANT SELECT ON app.orders TO reporting",
    "ALTER TABLE invoices ADD COLUMN paid_at timestamptz",
    "SELECT count(*) FROM events WHERE kind = 'login' AND ts BETWEEN '2024-05-01' AND '2024-05-02'",
    "WITH recent AS (SELECT * FROM audit_log ORDER BY ts DESC LIMIT 1000) SELECT actor, count(*) FROM recent GROUP BY actor",
    "COPY public.items (id, label) FROM STDIN WITH (FORMAT csv)",
    "SELECT password_changed_at FROM users WHERE id = 3",
];

const SECRET: &[&str] = &[
    "ALTER ROLE app_user WITH LOGIN PASSWORD 'S3cr3t-p@ss' VALID UNTIL '2030-01-01'",
    "CREATE USER 'svc'@'%' IDENTIFIED BY 'my\\'pw' REQUIRE SSL",
    "CREATE LOGIN app WITH PASSWORD = N'P@ssw0rd!', CHECK_POLICY = ON",
];

fn corpus() -> Vec<&'static str> {
    let mut v = Vec::new();
    for round in 0..8 {
        v.extend_from_slice(PLAIN);
        if round % 8 == 0 {
            v.extend_from_slice(SECRET);
        }
    }
    v
}

fn bench(c: &mut Criterion) {
    let r = Redactor::new(RedactorOptions::default());
    let mix = corpus();
    let mix_bytes: usize = mix.iter().map(|s| s.len()).sum();
    let plain_bytes: usize = PLAIN.iter().map(|s| s.len()).sum();
    let secret_bytes: usize = SECRET.iter().map(|s| s.len()).sum();

    let mut g = c.benchmark_group("redact");
    g.throughput(Throughput::Bytes(mix_bytes as u64));
    g.bench_function("mix_mostly_clean", |b| {
        b.iter(|| {
            for s in &mix {
                black_box(r.redact(black_box(s)));
            }
        })
    });
    g.throughput(Throughput::Bytes(plain_bytes as u64));
    g.bench_function("clean_statements", |b| {
        b.iter(|| {
            for s in PLAIN {
                black_box(r.redact(black_box(s)));
            }
        })
    });
    g.throughput(Throughput::Bytes(secret_bytes as u64));
    g.bench_function("secrets_only", |b| {
        b.iter(|| {
            for s in SECRET {
                black_box(r.redact(black_box(s)));
            }
        })
    });
    let big = PLAIN.join("; ").repeat(40);
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("large_clean_text", |b| {
        b.iter(|| black_box(r.redact(black_box(&big))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

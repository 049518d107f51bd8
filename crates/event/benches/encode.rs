//! Event → JSON: `Event::write_json` against `serde_json::to_writer` (same
//! bytes), on a typical pgaudit event. `cargo bench -p onetrail-event`.

use chrono::TimeZone;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use onetrail_event::{Category, DbObject, Engine, Event, Outcome, RecordPos};

fn event() -> Event {
    let pos = RecordPos {
        source_key: "fp:0123456789abcdef0123456789abcdef",
        path: Some("/var/log/postgresql/postgresql-15-main.log"),
        offset: 123_456_789,
        format: "pgaudit-stderr",
    };
    let t = chrono::Utc
        .with_ymd_and_hms(2026, 11, 26, 6, 15, 54)
        .unwrap();
    let mut e = Event::new(Engine::Postgresql, t, &pos, 0);
    e.instance = Some("pg-prod-1".into());
    e.category = Category::Dml;
    e.action = "INSERT".into();
    e.outcome = Outcome::Success;
    e.db_user = Some("app".into());
    e.database = Some("appdb".into());
    e.objects.push(DbObject {
        kind: Some("table".into()),
        schema: Some("public".into()),
        name: Some("orders".into()),
    });
    e.statement = Some(
        "INSERT INTO public.orders (id, name, note, amount) VALUES (1, 'Crème brûlée — 日本語 🍮', 'it''s \"quoted\"', 12.50), (2, 'O''Brien', 'back\\slash', 7.25)"
            .into(),
    );
    e.rows = Some(2);
    e.client.ip = Some("10.1.2.3".into());
    e.client.port = Some(44796);
    e.client.application = Some("billing-api".into());
    e.session.id = Some("6925a1e9.3a5b".into());
    e.session.statement_id = Some(12);
    e.session.substatement_id = Some(1);
    e.context.insert("environment".into(), "prod".into());
    for (k, v) in [
        ("pid", "14953"),
        ("severity", "LOG"),
        ("backend_type", "client backend"),
        ("vxid", "3/12"),
    ] {
        e.extra.insert(k.into(), v.into());
    }
    e.extra.insert(
        "pgaudit".into(),
        serde_json::json!({"audit_type": "SESSION", "class": "WRITE", "object_type": "TABLE", "parameters": null}),
    );
    e
}

fn bench(c: &mut Criterion) {
    let ev = event();
    let len = serde_json::to_vec(&ev).unwrap().len() as u64;
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Bytes(len));
    let mut buf = Vec::with_capacity(4096);
    g.bench_function("write_json", |b| {
        b.iter(|| {
            buf.clear();
            ev.write_json(&mut buf);
            buf.len()
        })
    });
    g.bench_function("serde_json", |b| {
        b.iter(|| {
            buf.clear();
            serde_json::to_writer(&mut buf, &ev).unwrap();
            buf.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

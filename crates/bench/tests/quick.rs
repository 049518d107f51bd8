//! CI quick mode: every benchmark runs once on small inputs so it never rots.
//! No timing is asserted; what is asserted is that the generated logs parse
//! without a single `unparsed` record and that `onetrail run` delivers every
//! event to the HEC receiver, goes quiet, and forwards the steady-rate records.

use std::time::Duration;

use onetrail_bench::logs::Format;
use onetrail_bench::run::{self, RunOptions};

#[test]
fn whole_process_benchmarks_run_on_small_inputs() {
    // `cargo test --workspace` builds target/debug/onetrail (the `onetrail`
    // package has integration tests); a nested cargo here would wait on the
    // build lock, so a missing binary skips instead (visibly; a failure
    // under CI=true, where `--all-targets` always builds it).
    let onetrail = match run::find_onetrail(false) {
        Ok(p) => p,
        Err(e) => {
            onetrail_corpora::skip(&format!("the onetrail binary is not built: {e}"));
            return;
        }
    };
    let work = tempfile_dir();
    let mut stderr_events = 0;
    for f in Format::ALL {
        let inp = run::input(&work, f, 300_000, 1).unwrap();
        let r = run::bench_parse(&onetrail, &inp, 1).unwrap();
        eprintln!("{}", r.report());
        // Exit 0: every generated record was understood.
        assert_eq!(
            r.usage.status,
            0,
            "{}: some records were unparsed",
            f.name()
        );
        assert!(r.events > 100, "{}", r.report());
        if f == Format::PgStderr {
            stderr_events = r.events;
        }
    }
    let inp = run::input(&work, Format::PgStderr, 300_000, 1).unwrap();
    let opts = RunOptions {
        idle_secs: 1,
        latency_rate: 500,
        latency_secs: 1,
        compression: true,
        timeout: Duration::from_secs(120),
    };
    let r = run::bench_run(&onetrail, &inp, stderr_events, &work, &opts).unwrap();
    eprintln!("{}", r.report());
    assert!(r.events > stderr_events);
    let lat = r.latency.as_ref().unwrap();
    assert!(
        lat.written >= 400 && lat.received == lat.written,
        "{}",
        r.report()
    );
    assert_eq!(
        r.total.unwrap().status,
        0,
        "onetrail run exits 0 on SIGTERM"
    );
    let _ = std::fs::remove_dir_all(&work);
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("onetrail-bench-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

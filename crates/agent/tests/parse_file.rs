//! `parse_file` streams large files through a bounded buffer: records that
//! straddle buffer boundaries come out whole, once, at their true offsets.

use onetrail_agent::{ParseOptions, parse_file};

#[test]
fn records_across_buffer_boundaries_are_whole_and_at_their_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("postgresql.log");
    let mut text = String::new();
    let mut offsets = Vec::new();
    let mut n = 0u64;
    // ~3 MiB: several 1 MiB read boundaries fall inside records.
    while text.len() < 3 * 1024 * 1024 {
        n += 1;
        offsets.push(text.len() as u64);
        let filler = "x".repeat((n % 97) as usize * 13);
        text.push_str(&format!(
            "2026-11-26 07:00:00.000 UTC [4242] app@appdb LOG:  AUDIT: SESSION,{n},1,READ,SELECT,TABLE,public.t,\"SELECT '{filler}'\n\t  FROM public.t\n\t WHERE id = {n}\",<none>\n"
        ));
    }
    std::fs::write(&path, &text).unwrap();
    let opts = ParseOptions {
        format: "pgaudit-stderr".into(),
        log_line_prefix: Some("%m [%p] %q%u@%d ".into()),
        instance: None,
        forward_other: true,
        mask_literals: false,
        max_record_bytes: onetrail_agent::DEFAULT_MAX_RECORD_BYTES,
    };
    let mut out = Vec::new();
    let stats = parse_file(&path, &opts, &mut out).unwrap();
    assert_eq!(stats.bytes, text.len() as u64);
    assert_eq!(stats.unparsed, 0);
    let events: Vec<serde_json::Value> = out
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(events.len() as u64, n);
    for (i, ev) in events.iter().enumerate() {
        assert_eq!(ev["session"]["statement_id"], i as u64 + 1);
        assert_eq!(ev["source"]["offset"], offsets[i]);
        let stmt = ev["statement"].as_str().unwrap();
        assert!(stmt.ends_with(&format!("WHERE id = {}", i + 1)), "{stmt}");
    }
}

/// `parse` of a FIFO (or a device) is refused at once, naming what the path
/// is; it never blocks waiting for a writer.
#[test]
fn a_fifo_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("postgresql.log");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let opts = ParseOptions {
        format: "pgaudit-stderr".into(),
        log_line_prefix: None,
        instance: None,
        forward_other: true,
        mask_literals: false,
        max_record_bytes: onetrail_agent::DEFAULT_MAX_RECORD_BYTES,
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = tx.send(parse_file(&fifo, &opts, &mut out).map(|_| ()));
    });
    let r = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("parse_file blocked on a FIFO");
    let e = r.unwrap_err();
    assert!(
        e.contains("FIFO") && e.contains("not a regular file"),
        "{e}"
    );
}

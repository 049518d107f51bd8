//! Runs every entry of `tests/secrets.txt` (format described at its top).

use onetrail_redact::{Redactor, RedactorOptions};

struct Entry {
    name: String,
    input: String,
    out: Option<String>,
    secrets: Vec<String>,
    absent: Vec<String>,
}

fn parse(text: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut cur: Option<(String, Vec<Vec<String>>, usize)> = None; // name, sections, current section
    let finish = |c: (String, Vec<Vec<String>>, usize), entries: &mut Vec<Entry>| {
        let (name, secs, _) = c;
        let join = |v: &Vec<String>| {
            let mut v = v.clone();
            while v.last().is_some_and(|l| l.is_empty()) {
                v.pop();
            }
            v.join("\n")
        };
        let out = if secs[1].is_empty() {
            None
        } else {
            Some(join(&secs[1]))
        };
        let list = |v: &Vec<String>| v.iter().filter(|l| !l.is_empty()).cloned().collect();
        entries.push(Entry {
            name,
            input: join(&secs[0]),
            out,
            secrets: list(&secs[2]),
            absent: list(&secs[3]),
        });
    };
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("## ") {
            if let Some(c) = cur.take() {
                finish(c, &mut entries);
            }
            cur = Some((name.to_string(), vec![Vec::new(); 4], 0));
            continue;
        }
        let Some(c) = cur.as_mut() else { continue };
        match line {
            "-- out" => c.2 = 1,
            "-- secrets" => c.2 = 2,
            "-- absent" => c.2 = 3,
            _ => c.1[c.2].push(line.to_string()),
        }
    }
    if let Some(c) = cur.take() {
        finish(c, &mut entries);
    }
    entries
}

fn corpus() -> Vec<Entry> {
    parse(include_str!("secrets.txt"))
}

#[test]
fn corpus_is_large_and_covers_all_engines() {
    let c = corpus();
    let with_secrets = c.iter().filter(|e| !e.secrets.is_empty()).count();
    assert!(
        with_secrets >= 80,
        "only {with_secrets} secret-bearing entries"
    );
    for engine in ["pg ", "mysql ", "mariadb ", "mssql ", "oracle "] {
        assert!(
            c.iter().filter(|e| e.name.starts_with(engine)).count() >= 10 || engine == "mariadb ",
            "too few {engine} entries"
        );
    }
    assert!(c.iter().filter(|e| e.secrets.is_empty()).count() >= 15);
}

#[test]
fn corpus_entries() {
    let r = Redactor::default();
    let mut failures = Vec::new();
    for e in corpus() {
        let got = r.redact(&e.input);
        let mut fail = |why: String| failures.push(format!("[{}] {why}", e.name));
        if e.secrets.is_empty() {
            if got.is_some() || e.out.is_some() {
                fail(format!("expected unchanged, got {got:?}"));
            }
            continue;
        }
        let Some((text, count)) = got else {
            fail("nothing redacted".into());
            continue;
        };
        match &e.out {
            Some(out) if *out != text => fail(format!("output\n  got:  {text}\n  want: {out}")),
            None => fail(format!("entry lacks `-- out`; got:\n{text}")),
            _ => {}
        }
        if count != e.secrets.len() {
            fail(format!("count {count}, want {}", e.secrets.len()));
        }
        for s in e.secrets.iter().chain(&e.absent) {
            if text.contains(s.as_str()) {
                fail(format!("secret fragment {s:?} survived: {text}"));
            }
        }
        // Idempotence on the corpus.
        if let Some(again) = r.redact(&text) {
            fail(format!("second pass changed output: {again:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn corpus_with_masking_never_leaks() {
    let r = Redactor::new(RedactorOptions {
        mask_literals: true,
    });
    for e in corpus() {
        let got = r.redact(&e.input);
        let (text, count) = got.unwrap_or((e.input.clone(), 0));
        assert_eq!(count, e.secrets.len(), "[{}] count", e.name);
        for s in &e.secrets {
            assert!(!text.contains(s.as_str()), "[{}] {s:?} in {text}", e.name);
        }
    }
}

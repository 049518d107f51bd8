//! Expected messages written by hand from the specs: RFC 5424 (§6 header,
//! §6.3 structured data and its escaping), the ArcSight CEF guide (header
//! `\|` `\\`, extension `\=` `\\` `\n` `\r`) and IBM's LEEF 2.0 guide
//! (explicit delimiter, tab-separated attributes, devTime + devTimeFormat).

use super::*;

const V: &str = env!("CARGO_PKG_VERSION");

fn event() -> Event {
    serde_json::from_value(serde_json::json!({
        "id": "ev-1",
        "time": "2026-12-03T14:09:34.123456Z",
        "engine": "postgresql",
        "instance": "pg-prod",
        "category": "auth",
        "action": "LOGIN",
        "outcome": "failure",
        "error": null,
        "db_user": "alice",
        "actor": {"name": "Alice Doe", "via": "static_map"},
        "database": "shop",
        "objects": [],
        "statement": null,
        "rows": null,
        "client": {"ip": "10.0.0.5", "port": 50432, "host": "app1", "application": "psql"},
        "session": {},
        "context": {"ticket": "OPS-7"},
        "source": {"format": "pgaudit"},
        "extra": {},
        "raw": null,
        "parse_error": null
    }))
    .unwrap()
}

fn header(format: SyslogFormat) -> Header {
    Header {
        format,
        encoding: Encoding::Native,
        facility: 20,
        hostname: "db1".into(),
        app_name: "onetrail".into(),
        procid: "42".into(),
        max_bytes: 65536,
    }
}

fn text(ev: &Event, h: &Header) -> String {
    String::from_utf8(encode(ev, h)).unwrap()
}

#[test]
fn rfc5424_header_structured_data_and_json_msg() {
    let ev = event();
    let s = text(&ev, &header(SyslogFormat::Rfc5424));
    // local4 (20) * 8 + error (3) = 163.
    let head = "<163>1 2026-12-03T14:09:34.123456Z db1 onetrail 42 auth \
                [onetrail@32473 id=\"ev-1\" engine=\"postgresql\" instance=\"pg-prod\"] ";
    assert!(s.starts_with(head), "{s}");
    let json: Value = serde_json::from_str(&s[head.len()..]).unwrap();
    assert_eq!(json["id"], "ev-1");
    assert_eq!(json["db_user"], "alice");
}

#[test]
fn rfc5424_severity_follows_outcome_and_alert() {
    let mut ev = event();
    ev.outcome = Outcome::Success;
    assert!(text(&ev, &header(SyslogFormat::Rfc5424)).starts_with("<166>1 ")); // info
    ev.alert = true;
    assert!(text(&ev, &header(SyslogFormat::Rfc5424)).starts_with("<164>1 ")); // warning
    ev.outcome = Outcome::Failure;
    assert!(text(&ev, &header(SyslogFormat::Rfc5424)).starts_with("<163>1 ")); // error
    let mut h = header(SyslogFormat::Rfc5424);
    h.facility = 13; // log audit
    assert!(text(&ev, &h).starts_with("<107>1 "));
}

#[test]
fn rfc5424_escapes_sd_values_and_sanitizes_header_fields() {
    let mut ev = event();
    ev.instance = Some("a\"b\\c]d".into());
    let mut h = header(SyslogFormat::Rfc5424);
    h.hostname = "my host\n".into();
    h.app_name = String::new();
    let s = text(&ev, &h);
    assert!(
        s.starts_with(
            "<163>1 2026-12-03T14:09:34.123456Z my_host_ - 42 auth \
             [onetrail@32473 id=\"ev-1\" engine=\"postgresql\" instance=\"a\\\"b\\\\c\\]d\"] {"
        ),
        "{s}"
    );
}

#[test]
fn cef_header_and_extension() {
    let ev = event();
    let s = text(&ev, &header(SyslogFormat::Cef));
    let want = format!(
        "<163>1 2026-12-03T14:09:34.123456Z db1 onetrail 42 auth - \
         CEF:0|onetrail|onetrail|{V}|LOGIN|auth LOGIN|6|\
         rt=1796306974123 externalId=ev-1 cat=auth act=LOGIN outcome=failure \
         suser=alice src=10.0.0.5 spt=50432 shost=app1 dvchost=pg-prod deviceProcessName=postgresql \
         cs1=shop cs1Label=database cs3=Alice Doe cs3Label=actor cs4=OPS-7 cs4Label=ticket \
         cs5=psql cs5Label=application"
    );
    assert_eq!(s, want);
}

#[test]
fn cef_escapes_hostile_content() {
    let mut ev = event();
    ev.action = "A|B\\C\nD".into();
    ev.statement = Some("SELECT 'a=b' \\ x\r\nFROM t|u".into());
    ev.context.clear();
    ev.actor = None;
    ev.database = None;
    ev.client.application = None;
    let s = text(&ev, &header(SyslogFormat::Cef));
    assert!(
        s.contains(&format!("|{V}|A\\|B\\\\C D|auth A\\|B\\\\C D|6|")),
        "{s}"
    );
    assert!(
        s.contains("act=A|B\\\\C\\nD "),
        "pipe is not escaped in extensions: {s}"
    );
    assert!(
        s.ends_with("cs2=SELECT 'a\\=b' \\\\ x\\r\\nFROM t|u cs2Label=statement"),
        "{s}"
    );
    assert!(!s.contains('\n'));
}

#[test]
fn leef_header_and_attributes() {
    let ev = event();
    let s = text(&ev, &header(SyslogFormat::Leef));
    let want = format!(
        "<163>1 2026-12-03T14:09:34.123456Z db1 onetrail 42 auth - \
         LEEF:2.0|onetrail|onetrail|{V}|LOGIN|x09|\
         devTime=Dec 03 2026 14:09:34.123 UTC\tdevTimeFormat=MMM dd yyyy HH:mm:ss.SSS z\t\
         cat=auth\tsev=6\teventId=ev-1\toutcome=failure\tengine=postgresql\t\
         usrName=alice\tsrc=10.0.0.5\tsrcPort=50432\tidentSrc=10.0.0.5\tidentHostName=app1\t\
         instance=pg-prod\tdbName=shop\tactor=Alice Doe\tticket=OPS-7\tapplication=psql"
    );
    assert_eq!(s, want);
}

#[test]
fn leef_values_never_hold_the_delimiter_or_a_line_break() {
    let mut ev = event();
    ev.statement = Some("SELECT\t1\n;".into());
    ev.action = "X|Y".into();
    let s = text(&ev, &header(SyslogFormat::Leef));
    assert!(s.contains("|X\\|Y|x09|"), "{s}");
    assert!(s.ends_with("\tstatement=SELECT 1 ;"), "{s}");
}

#[test]
fn over_long_messages_are_cut_and_flagged_never_over_the_limit() {
    for format in [SyslogFormat::Rfc5424, SyslogFormat::Cef, SyslogFormat::Leef] {
        let mut ev = event();
        // 5000 x 6 bytes (é is 2).
        ev.statement = Some("é\"\\=\n".repeat(5000));
        let mut h = header(format);
        h.max_bytes = 2048;
        let b = encode(&ev, &h);
        assert!(b.len() <= 2048, "{format:?}: {}", b.len());
        let s = String::from_utf8(b).unwrap();
        let flag = match format {
            SyslogFormat::Rfc5424 => " truncated=\"true\"]",
            SyslogFormat::Cef => "cn1=30000 cn1Label=originalStatementBytes",
            SyslogFormat::Leef => "\ttruncated=true\toriginalStatementBytes=30000",
        };
        assert!(s.contains(flag), "{format:?}: {s}");
        if format == SyslogFormat::Rfc5424 {
            let json: Value = serde_json::from_str(&s[s.find("] {").unwrap() + 2..]).unwrap();
            assert_eq!(json["extra"]["truncated_for_sink"], true);
            assert!(json["statement"].as_str().unwrap().len() > 100);
        }
    }
}

#[test]
fn huge_fields_other_than_the_statement_still_fit() {
    let mut ev = event();
    ev.db_user = Some("ü".repeat(100_000));
    for format in [SyslogFormat::Rfc5424, SyslogFormat::Cef, SyslogFormat::Leef] {
        let mut h = header(format);
        h.max_bytes = 2048;
        let b = encode(&ev, &h);
        assert!(b.len() <= 2048 && b.len() > 1000, "{}", b.len());
        String::from_utf8(b).expect("cut on a character boundary");
    }
}

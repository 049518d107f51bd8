//! Helpers shared by the formats: time fallback, event skeletons, framing.

use chrono::{DateTime, Datelike, Utc};
use onetrail_event::{Client, Engine, ErrorInfo, Event, Flush, Outcome, RecordPos};
use serde_json::{Map, Value};

use crate::time;

/// Largest record a framer will wait for. A record that has not completed
/// within this many bytes is cut at the next newline and reported unparsed,
/// so a corrupt file cannot make the runtime buffer grow without bound.
pub(crate) const MAX_RECORD: usize = 4 << 20;

/// The time of the last record whose timestamp was understood. Used when a
/// record's own timestamp is not (custom MariaDB timestamp formats, masked
/// test data, RFC 3164 syslog without a year) and for `unparsed` events.
#[derive(Debug, Default, Clone)]
pub(crate) struct Clock {
    last: Option<DateTime<Utc>>,
}

/// How an event's `time` was obtained; written into `extra` by [`TimeNote::apply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeNote {
    /// The text had a zone (or is documented UTC): nothing to note.
    Exact,
    /// Zone-less local time read as UTC: `extra.time_zone_assumed = "UTC"`.
    AssumedUtc,
    /// Not understood: previous record's time (`extra.time_fallback = "previous_record"`).
    Previous,
    /// Not understood and nothing earlier: Unix epoch (`extra.time_fallback = "epoch"`).
    Epoch,
    /// RFC 3164 syslog time whose year was taken from the previous record
    /// (or 1970): `extra.time_year_assumed = true` plus zone assumption.
    YearAssumed,
}

impl Clock {
    pub(crate) fn fallback(&self) -> (DateTime<Utc>, TimeNote) {
        match self.last {
            Some(t) => (t, TimeNote::Previous),
            None => (DateTime::<Utc>::UNIX_EPOCH, TimeNote::Epoch),
        }
    }

    pub(crate) fn now_or_epoch(&self) -> DateTime<Utc> {
        self.last.unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
    }

    /// Resolve a timestamp text. `documented_utc` marks formats whose
    /// zone-less timestamps are specified as UTC (MySQL EA JSON).
    pub(crate) fn resolve(
        &mut self,
        raw: &[u8],
        documented_utc: bool,
    ) -> (DateTime<Utc>, TimeNote) {
        match time::parse(raw) {
            Some(p) => {
                self.last = Some(p.time);
                let note = if p.zoned || documented_utc {
                    TimeNote::Exact
                } else {
                    TimeNote::AssumedUtc
                };
                (p.time, note)
            }
            None => self.fallback(),
        }
    }

    pub(crate) fn year(&self) -> Option<i32> {
        self.last.map(|t| t.year())
    }
}

impl TimeNote {
    pub(crate) fn apply(self, extra: &mut Map<String, Value>, raw: &[u8]) {
        match self {
            TimeNote::Exact => {}
            TimeNote::AssumedUtc => {
                extra.insert("time_zone_assumed".into(), Value::from("UTC"));
            }
            TimeNote::Previous | TimeNote::Epoch => {
                extra.insert(
                    "time_fallback".into(),
                    Value::from(if self == TimeNote::Previous {
                        "previous_record"
                    } else {
                        "epoch"
                    }),
                );
                extra.insert("timestamp_raw".into(), Value::from(lossy(raw)));
            }
            TimeNote::YearAssumed => {
                extra.insert("time_zone_assumed".into(), Value::from("UTC"));
                extra.insert("time_year_assumed".into(), Value::from(true));
            }
        }
    }
}

pub(crate) fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `None` for an empty field, else the (lossy UTF-8) text.
pub(crate) fn opt(b: &[u8]) -> Option<String> {
    if b.is_empty() { None } else { Some(lossy(b)) }
}

pub(crate) fn opt_s(s: &str) -> Option<String> {
    if s.is_empty() {
        None
    } else {
        Some(s.to_string())
    }
}

pub(crate) fn trim_eol(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r'] = b {
        b = rest;
    }
    b
}

/// Frame one physical line (including its `\n`).
pub(crate) fn frame_line(buf: &[u8], flush: Flush) -> Option<usize> {
    match memchr::memchr(b'\n', buf) {
        Some(p) => Some(p + 1),
        None if flush == Flush::Final && !buf.is_empty() => Some(buf.len()),
        None if buf.len() > MAX_RECORD => Some(buf.len()),
        None => None,
    }
}

/// Put a client address into `client`: an IP literal goes to `ip`, anything
/// else (host names, `localhost`) to `host`.
pub(crate) fn set_client_addr(client: &mut Client, addr: &str) {
    if addr.is_empty() {
        return;
    }
    client.set_address(addr);
}

/// Set outcome (and error) from a MySQL errno.
pub(crate) fn set_status(ev: &mut Event, status: i64) {
    if status == 0 {
        ev.outcome = Outcome::Success;
    } else {
        ev.outcome = Outcome::Failure;
        ev.error = Some(ErrorInfo {
            code: Some(status.to_string()),
            message: None,
        });
    }
}

pub(crate) fn unparsed(
    engine: Engine,
    clock: &Clock,
    pos: &RecordPos<'_>,
    raw: &[u8],
    why: impl Into<String>,
) -> Event {
    Event::unparsed(engine, clock.now_or_epoch(), pos, raw, why)
}

/// An `other` event for a forwarded non-audit line.
pub(crate) fn other_line(engine: Engine, clock: &Clock, pos: &RecordPos<'_>, raw: &[u8]) -> Event {
    let mut ev = Event::new(engine, clock.now_or_epoch(), pos, 0);
    ev.action = "NON_AUDIT_LINE".to_string();
    ev.raw = Some(lossy(trim_eol(raw)));
    ev
}

/// Split `user[priv] @ host [ip]` (Percona's composite USER) into its user part
/// and the bracketed privilege user.
pub(crate) fn split_composite_user(s: &str) -> (&str, Option<&str>) {
    if let Some(open) = s.find('[')
        && let Some(close_rel) = s[open..].find(']')
        && s[open + close_rel..].contains(" @ ")
    {
        return (&s[..open], Some(&s[open + 1..open + close_rel]));
    }
    (s, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_user() {
        assert_eq!(
            split_composite_user("root[root] @ localhost []"),
            ("root", Some("root"))
        );
        assert_eq!(
            split_composite_user("us,er1[us,er1] @ localhost []").0,
            "us,er1"
        );
        assert_eq!(split_composite_user("plain"), ("plain", None));
    }
}

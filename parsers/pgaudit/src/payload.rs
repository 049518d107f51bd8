//! The pgaudit `AUDIT:` payload (the text after `AUDIT: `).
//!
//! `AUDIT_TYPE,STATEMENT_ID,SUBSTATEMENT_ID,CLASS,COMMAND,OBJECT_TYPE,OBJECT_NAME,STATEMENT,PARAMETER[,ROWS]`
//!
//! pgaudit's `append_valid_csv` wraps a value in `"` only when it contains
//! `,`, `"`, `\n` or `\r`, doubling inner quotes; NULL is an empty field. The
//! PARAMETER field is itself such a CSV list, quoted once more (nested CSV).

use std::borrow::Cow;

use memchr::memchr;
use nom::{
    IResult, Parser,
    bytes::complete::take_till,
    character::complete::char,
    combinator::{all_consuming, opt},
    error::{Error, ErrorKind},
};

/// Statement / parameter values pgaudit prints instead of the real text.
pub const PLACEHOLDERS: &[&str] = &["<not logged>", "<previously logged>", "<none>"];

/// One parsed AUDIT payload, borrowing from the record text where it can.
#[derive(Debug, Clone, PartialEq)]
pub struct PgauditRecord<'a> {
    pub audit_type: Cow<'a, str>,
    pub statement_id: i64,
    pub substatement_id: i64,
    pub class: Cow<'a, str>,
    pub command: Cow<'a, str>,
    pub object_type: Cow<'a, str>,
    pub object_name: Cow<'a, str>,
    pub statement: Cow<'a, str>,
    pub parameter: Cow<'a, str>,
    pub rows: Option<i64>,
}

/// A CSV field as pgaudit writes it: quoted (doubled inner quotes, may span
/// lines) or bare up to the next comma.
pub fn csv_field(i: &str) -> IResult<&str, Cow<'_, str>> {
    if !i.starts_with('"') {
        let (rest, v) = take_till(|c| c == ',').parse(i)?;
        return Ok((rest, Cow::Borrowed(v)));
    }
    let body = &i[1..];
    let mut owned: Option<String> = None;
    let mut at = 0;
    loop {
        let Some(q) = memchr(b'"', &body.as_bytes()[at..]) else {
            return Err(nom::Err::Error(Error::new(i, ErrorKind::Char)));
        };
        let q = at + q;
        if body.as_bytes().get(q + 1) == Some(&b'"') {
            owned
                .get_or_insert_with(String::new)
                .push_str(&body[at..=q]);
            at = q + 2;
            continue;
        }
        let value = match owned {
            Some(mut s) => {
                s.push_str(&body[at..q]);
                Cow::Owned(s)
            }
            None => Cow::Borrowed(&body[..q]),
        };
        return Ok((&body[q + 1..], value));
    }
}

/// All comma-separated fields of `i`; the input must be consumed entirely.
pub fn csv_fields(i: &str) -> Result<Vec<Cow<'_, str>>, String> {
    let mut out = Vec::with_capacity(10);
    let mut rest = i;
    loop {
        let (r, v) = csv_field(rest).map_err(|_| {
            format!(
                "unterminated quoted field at byte {} of the AUDIT payload",
                i.len() - rest.len()
            )
        })?;
        out.push(v);
        let (r, sep) = opt(char::<&str, Error<&str>>(','))
            .parse(r)
            .map_err(|_| "internal".to_string())?;
        rest = r;
        if sep.is_none() {
            break;
        }
    }
    if !rest.is_empty() {
        return Err(format!(
            "unexpected text after a quoted field at byte {} of the AUDIT payload",
            i.len() - rest.len()
        ));
    }
    Ok(out)
}

fn int(s: &str) -> Option<i64> {
    all_consuming(nom::character::complete::i64::<&str, Error<&str>>)
        .parse(s)
        .ok()
        .map(|(_, v)| v)
}

/// Parse the text after `AUDIT: `.
pub fn parse_payload(payload: &str) -> Result<PgauditRecord<'_>, String> {
    let fields = csv_fields(payload)?;
    if fields.len() != 9 && fields.len() != 10 {
        return Err(format!(
            "AUDIT payload has {} fields, expected 9 or 10",
            fields.len()
        ));
    }
    let mut it = fields.into_iter();
    let mut next = || it.next().unwrap_or_default();
    let audit_type = next();
    if audit_type.is_empty() || !audit_type.bytes().all(|c| c.is_ascii_uppercase()) {
        return Err(format!("AUDIT_TYPE {audit_type:?} is not a word"));
    }
    let sid = next();
    let statement_id =
        int(&sid).ok_or_else(|| format!("STATEMENT_ID {sid:?} is not an integer"))?;
    let ssid = next();
    let substatement_id =
        int(&ssid).ok_or_else(|| format!("SUBSTATEMENT_ID {ssid:?} is not an integer"))?;
    let class = next();
    if class.is_empty() {
        return Err("CLASS is empty".to_string());
    }
    let command = next();
    if command.is_empty() {
        return Err("COMMAND is empty".to_string());
    }
    let object_type = next();
    let object_name = next();
    let statement = next();
    let parameter = next();
    let rows = match it.next() {
        None => None,
        Some(r) => Some(int(&r).ok_or_else(|| format!("ROWS {r:?} is not an integer"))?),
    };
    Ok(PgauditRecord {
        audit_type,
        statement_id,
        substatement_id,
        class,
        command,
        object_type,
        object_name,
        statement,
        parameter,
        rows,
    })
}

/// The PARAMETER field as JSON: the placeholder string (`<none>`,
/// `<not logged>`, `<previously logged>`) or an array with one element per
/// bind parameter, `null` for an empty element (SQL NULL — pgaudit writes an
/// empty string parameter the same way).
pub fn parameters_json(parameter: &str) -> serde_json::Value {
    use serde_json::Value;
    if PLACEHOLDERS.contains(&parameter) {
        return Value::String(parameter.to_string());
    }
    match csv_fields(parameter) {
        Ok(list) => Value::Array(
            list.into_iter()
                .map(|p| {
                    if p.is_empty() {
                        Value::Null
                    } else {
                        Value::String(p.into_owned())
                    }
                })
                .collect(),
        ),
        // Not a valid CSV list: keep the text as pgaudit wrote it.
        Err(_) => Value::String(parameter.to_string()),
    }
}

/// Where a pgaudit payload that starts at `text[0]` ends, for framings that
/// must find it in unquoted surroundings (pgauditlogtofile ≤ 1.6): the byte
/// length of the first `n` fields (without the trailing separator), or `None`
/// when a quoted field is not closed yet.
pub fn fields_len(text: &[u8], n: usize) -> Option<usize> {
    let mut at = 0;
    for k in 0..n {
        if text.get(at) == Some(&b'"') {
            let mut q = at + 1;
            loop {
                let p = q + memchr(b'"', &text[q..])?;
                if text.get(p + 1) == Some(&b'"') {
                    q = p + 2;
                } else {
                    at = p + 1;
                    break;
                }
            }
        } else {
            at += memchr::memchr2(b',', b'\n', &text[at..]).unwrap_or(text.len() - at);
        }
        if k + 1 < n {
            if text.get(at) != Some(&b',') {
                return Some(at);
            }
            at += 1;
        }
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nine_fields() {
        let r = parse_payload(
            "SESSION,2,1,ROLE,CREATE ROLE,,,CREATE USER regress_user1 password <REDACTED>,<not logged>",
        )
        .unwrap();
        assert_eq!(r.audit_type, "SESSION");
        assert_eq!(r.statement_id, 2);
        assert_eq!(r.command, "CREATE ROLE");
        assert_eq!(r.statement, "CREATE USER regress_user1 password <REDACTED>");
        assert_eq!(r.parameter, "<not logged>");
        assert_eq!(r.rows, None);
    }

    #[test]
    fn quoted_and_rows() {
        let r = parse_payload(
            "SESSION,35,2,DDL,CREATE TABLE,TABLE,public.do_table,\"CREATE TABLE do_table (\"\"weird name\"\" INT)\",<none>,0",
        )
        .unwrap();
        assert_eq!(r.statement, "CREATE TABLE do_table (\"weird name\" INT)");
        assert_eq!(r.rows, Some(0));
    }

    #[test]
    fn nested_parameters() {
        let r = parse_payload(
            "SESSION,34,3,WRITE,INSERT,TABLE,public.test,\"INSERT INTO test (id)\n\t\t\t VALUES (result.id + 100)\",\",,1\"",
        )
        .unwrap();
        assert_eq!(r.parameter, ",,1");
        assert_eq!(
            parameters_json(&r.parameter),
            serde_json::json!([null, null, "1"])
        );
        assert_eq!(
            parameters_json("\"a,b\",\"say \"\"hi\"\"\",<long param suppressed>"),
            serde_json::json!(["a,b", "say \"hi\"", "<long param suppressed>"])
        );
        assert_eq!(parameters_json("<none>"), serde_json::json!("<none>"));
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(
            parse_payload("SESSION,1,1,READ")
                .unwrap_err()
                .contains("4 fields")
        );
        assert!(
            parse_payload("SESSION,x,1,READ,SELECT,,,s,<none>")
                .unwrap_err()
                .contains("STATEMENT_ID")
        );
        assert!(
            parse_payload("SESSION,1,1,READ,SELECT,,,\"open,<none>")
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(
            parse_payload("SESSION,1,1,READ,SELECT,,,\"a\"b,<none>")
                .unwrap_err()
                .contains("unexpected text")
        );
    }

    #[test]
    fn fields_len_spans_quoted_newlines() {
        let t = b"SESSION,1,1,DDL,CREATE TABLE,TABLE,public.t,\"CREATE TABLE t\n(id int)\",<none>,,,x\n";
        let n = fields_len(t, 9).unwrap();
        assert_eq!(&t[n..n + 4], b",,,x");
        assert_eq!(fields_len(b"SESSION,1,1,DDL,X,,,\"open", 9), None);
    }
}

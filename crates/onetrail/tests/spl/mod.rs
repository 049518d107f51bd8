//! Search-time field building as Splunk does it for the add-on's sourcetype,
//! for the subset of `props.conf` and of the eval language that
//! `deploy/splunk/TA-onetrail` uses, so the add-on's CIM fields can be
//! computed here for events of every encoding and compared with what the
//! agent's own `splunk_cim` encoder writes.
//!
//! Modelled on Splunk's documented behaviour:
//! - `KV_MODE = json`: nested keys joined with `.`, arrays as `{}` and
//!   multivalue fields (`objects{}.name`), scalars as text. Whether a JSON
//!   `null` becomes the text `null` or no field at all is [`Nulls`]; the
//!   add-on must give the same fields either way.
//! - Search-time order: extraction, then `FIELDALIAS-*` (classes in ASCII
//!   order; `ASNEW` only when the new field is absent), then `EVAL-*`, each
//!   computed from the fields as they were before any EVAL (calculated
//!   fields do not see each other) and a `null()` result removing the field.
//! - eval: `null` in a comparison or `AND`/`OR` counts as false, `.` with a
//!   `null` operand is `null`, extracted text that reads as a number compares
//!   as a number, `match`/`replace` take PCRE-style regexes (the `regex`
//!   crate covers the constructs used) and `\N` back-references.
//!
//! Anything outside the subset is an error, so an EVAL this model cannot run
//! fails the test instead of passing unevaluated.

use std::collections::BTreeMap;

use serde_json::Value;

/// Field name → values (one for a plain field, several for multivalue).
pub type Fields = BTreeMap<String, Vec<String>>;

#[derive(Clone, Copy, Debug)]
pub enum Nulls {
    /// JSON `null` leaves no field.
    Absent,
    /// JSON `null` becomes the text `null`.
    Text,
}

/// `KV_MODE = json` extraction of one event.
pub fn extract(ev: &Value, nulls: Nulls) -> Fields {
    let mut out = Fields::new();
    walk(ev, "", nulls, &mut out);
    out
}

fn walk(v: &Value, path: &str, nulls: Nulls, out: &mut Fields) {
    let key = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                walk(v, &key(k), nulls, out);
            }
        }
        Value::Array(a) => {
            for v in a {
                walk(v, &format!("{path}{{}}"), nulls, out);
            }
        }
        Value::Null => {
            if let Nulls::Text = nulls {
                out.entry(path.to_string()).or_default().push("null".into());
            }
        }
        Value::String(s) => out.entry(path.to_string()).or_default().push(s.clone()),
        other => out
            .entry(path.to_string())
            .or_default()
            .push(other.to_string()),
    }
}

/// Apply a stanza's FIELDALIAS and EVAL settings (`key → value`, as read
/// from props.conf) to `fields`.
pub fn apply(stanza: &BTreeMap<String, String>, fields: &mut Fields) -> Result<(), String> {
    for (k, v) in stanza {
        if k.starts_with("FIELDALIAS-") {
            alias(v, fields).map_err(|e| format!("{k}: {e}"))?;
        }
    }
    let before = fields.clone();
    let mut results = Vec::new();
    for (k, v) in stanza {
        if let Some(name) = k.strip_prefix("EVAL-") {
            let expr = parse(v).map_err(|e| format!("{k}: {e}"))?;
            let val = eval(&expr, &before).map_err(|e| format!("{k}: {e}"))?;
            results.push((name.to_string(), val));
        }
    }
    for (name, val) in results {
        match val.values() {
            Some(vs) => {
                fields.insert(name, vs);
            }
            None => {
                fields.remove(&name);
            }
        }
    }
    Ok(())
}

fn unquote(w: &str) -> &str {
    w.strip_prefix('"')
        .and_then(|w| w.strip_suffix('"'))
        .unwrap_or(w)
}

fn alias(spec: &str, fields: &mut Fields) -> Result<(), String> {
    let words: Vec<&str> = spec.split_whitespace().collect();
    if !words.len().is_multiple_of(3) {
        return Err(format!("not `a AS b` triples: {spec}"));
    }
    for t in words.chunks(3) {
        let (from, op, to) = (unquote(t[0]), t[1], unquote(t[2]));
        let Some(vs) = fields.get(from).cloned() else {
            continue;
        };
        match op {
            "AS" => {
                fields.insert(to.to_string(), vs);
            }
            "ASNEW" => {
                fields.entry(to.to_string()).or_insert(vs);
            }
            _ => return Err(format!("unknown alias operator {op}")),
        }
    }
    Ok(())
}

#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Multi(Vec<String>),
}

impl Val {
    fn values(&self) -> Option<Vec<String>> {
        match self {
            Val::Null => None,
            Val::Bool(b) => Some(vec![b.to_string()]),
            Val::Num(n) => Some(vec![fmt_num(*n)]),
            Val::Str(s) => Some(vec![s.clone()]),
            Val::Multi(v) => Some(v.clone()),
        }
    }
    fn text(&self) -> Option<String> {
        match self {
            Val::Null => None,
            Val::Bool(b) => Some(b.to_string()),
            Val::Num(n) => Some(fmt_num(*n)),
            Val::Str(s) => Some(s.clone()),
            Val::Multi(v) => v.first().cloned(),
        }
    }
    fn num(&self) -> Option<f64> {
        match self {
            Val::Num(n) => Some(*n),
            Val::Str(s) => s.trim().parse().ok().filter(|n: &f64| n.is_finite()),
            _ => None,
        }
    }
    fn truthy(&self) -> bool {
        matches!(self, Val::Bool(true))
    }
}

fn fmt_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

#[derive(Debug, Clone)]
pub enum Expr {
    Str(String),
    Num(f64),
    Field(String),
    Call(String, Vec<Expr>),
    Bin(&'static str, Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Str(String),
    Quoted(String),
    Word(String),
    Num(f64),
    Op(&'static str),
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' {
            let mut t = String::new();
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err(format!("unterminated string in {s}")),
                    Some('"') => break,
                    Some('\\') if matches!(b.get(i + 1), Some('"' | '\\')) => {
                        t.push(b[i + 1]);
                        i += 2;
                    }
                    Some(&ch) => {
                        t.push(ch);
                        i += 1;
                    }
                }
            }
            i += 1;
            out.push(Tok::Str(t));
        } else if c == '\'' {
            let end = b[i + 1..]
                .iter()
                .position(|&x| x == '\'')
                .ok_or_else(|| format!("unterminated field name in {s}"))?;
            out.push(Tok::Quoted(b[i + 1..i + 1 + end].iter().collect()));
            i += end + 2;
        } else if c.is_ascii_digit() {
            let st = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == '.') {
                i += 1;
            }
            let t: String = b[st..i].iter().collect();
            out.push(Tok::Num(t.parse().map_err(|_| format!("number {t}"))?));
        } else if c.is_alphabetic() || c == '_' {
            let st = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            out.push(Tok::Word(b[st..i].iter().collect()));
        } else {
            let two: String = b[i..(i + 2).min(b.len())].iter().collect();
            let op = match two.as_str() {
                "==" => "==",
                "!=" => "!=",
                "<=" => "<=",
                ">=" => ">=",
                _ => match c {
                    '(' => "(",
                    ')' => ")",
                    ',' => ",",
                    '.' => ".",
                    '/' => "/",
                    '*' => "*",
                    '+' => "+",
                    '-' => "-",
                    '=' => "==",
                    '<' => "<",
                    '>' => ">",
                    _ => return Err(format!("unexpected {c:?} in {s}")),
                },
            };
            i += if op.len() == 2 && two == op { 2 } else { 1 };
            out.push(Tok::Op(op));
        }
    }
    Ok(out)
}

pub fn parse(s: &str) -> Result<Expr, String> {
    let toks = lex(s)?;
    let mut p = P { t: &toks, i: 0 };
    let e = p.or()?;
    if p.i != toks.len() {
        return Err(format!("trailing input at token {} of {s}", p.i));
    }
    Ok(e)
}

struct P<'a> {
    t: &'a [Tok],
    i: usize,
}

impl P<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }
    fn word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }
    fn op(&self, o: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(x)) if *x == o)
    }
    fn expect(&mut self, o: &str) -> Result<(), String> {
        if self.op(o) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!(
                "expected {o} at token {}: {:?}",
                self.i,
                self.peek()
            ))
        }
    }
    fn or(&mut self) -> Result<Expr, String> {
        let mut l = self.and()?;
        while self.word("OR") {
            self.i += 1;
            l = Expr::Bin("OR", Box::new(l), Box::new(self.and()?));
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<Expr, String> {
        let mut l = self.not()?;
        while self.word("AND") {
            self.i += 1;
            l = Expr::Bin("AND", Box::new(l), Box::new(self.not()?));
        }
        Ok(l)
    }
    fn not(&mut self) -> Result<Expr, String> {
        if self.word("NOT") {
            self.i += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.cmp()
    }
    fn cmp(&mut self) -> Result<Expr, String> {
        let l = self.add()?;
        for o in ["==", "!=", "<=", ">=", "<", ">"] {
            if self.op(o) {
                self.i += 1;
                return Ok(Expr::Bin(o, Box::new(l), Box::new(self.add()?)));
            }
        }
        Ok(l)
    }
    fn add(&mut self) -> Result<Expr, String> {
        let mut l = self.mul()?;
        loop {
            let o = if self.op(".") {
                "."
            } else if self.op("+") {
                "+"
            } else if self.op("-") {
                "-"
            } else {
                return Ok(l);
            };
            self.i += 1;
            l = Expr::Bin(o, Box::new(l), Box::new(self.mul()?));
        }
    }
    fn mul(&mut self) -> Result<Expr, String> {
        let mut l = self.atom()?;
        loop {
            let o = if self.op("*") {
                "*"
            } else if self.op("/") {
                "/"
            } else {
                return Ok(l);
            };
            self.i += 1;
            l = Expr::Bin(o, Box::new(l), Box::new(self.atom()?));
        }
    }
    fn atom(&mut self) -> Result<Expr, String> {
        let t = self.peek().cloned().ok_or("unexpected end")?;
        self.i += 1;
        match t {
            Tok::Str(s) => Ok(Expr::Str(s)),
            Tok::Num(n) => Ok(Expr::Num(n)),
            Tok::Quoted(f) => Ok(Expr::Field(f)),
            Tok::Op("(") => {
                let e = self.or()?;
                self.expect(")")?;
                Ok(e)
            }
            Tok::Word(w) if self.op("(") => {
                self.i += 1;
                let mut args = Vec::new();
                if !self.op(")") {
                    loop {
                        args.push(self.or()?);
                        if self.op(",") {
                            self.i += 1;
                        } else {
                            break;
                        }
                    }
                }
                self.expect(")")?;
                Ok(Expr::Call(w, args))
            }
            Tok::Word(w) => Ok(Expr::Field(w)),
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

fn field(f: &Fields, name: &str) -> Val {
    match f.get(name).map(Vec::as_slice) {
        None | Some([]) => Val::Null,
        Some([one]) => Val::Str(one.clone()),
        Some(many) => Val::Multi(many.to_vec()),
    }
}

fn equal(a: &Val, b: &Val) -> Option<bool> {
    if matches!(a, Val::Null) || matches!(b, Val::Null) {
        return None;
    }
    if let (Some(x), Some(y)) = (a.num(), b.num()) {
        return Some(x == y);
    }
    Some(a.text()? == b.text()?)
}

fn regex(pat: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(pat).map_err(|e| format!("regex {pat:?}: {e}"))
}

pub fn eval(e: &Expr, f: &Fields) -> Result<Val, String> {
    Ok(match e {
        Expr::Str(s) => Val::Str(s.clone()),
        Expr::Num(n) => Val::Num(*n),
        Expr::Field(name) => field(f, name),
        Expr::Not(x) => Val::Bool(!eval(x, f)?.truthy()),
        Expr::Bin(op, l, r) => {
            let a = eval(l, f)?;
            match *op {
                "AND" => Val::Bool(a.truthy() && eval(r, f)?.truthy()),
                "OR" => Val::Bool(a.truthy() || eval(r, f)?.truthy()),
                _ => {
                    let b = eval(r, f)?;
                    match *op {
                        "==" => Val::Bool(equal(&a, &b) == Some(true)),
                        "!=" => Val::Bool(equal(&a, &b) == Some(false)),
                        "." => match (a.text(), b.text()) {
                            (Some(x), Some(y)) => Val::Str(x + &y),
                            _ => Val::Null,
                        },
                        "+" | "-" | "*" | "/" | "<" | ">" | "<=" | ">=" => {
                            match (a.num(), b.num()) {
                                (Some(x), Some(y)) => match *op {
                                    "+" => Val::Num(x + y),
                                    "-" => Val::Num(x - y),
                                    "*" => Val::Num(x * y),
                                    "/" if y != 0.0 => Val::Num(x / y),
                                    "/" => Val::Null,
                                    "<" => Val::Bool(x < y),
                                    ">" => Val::Bool(x > y),
                                    "<=" => Val::Bool(x <= y),
                                    _ => Val::Bool(x >= y),
                                },
                                _ => Val::Null,
                            }
                        }
                        o => return Err(format!("operator {o}")),
                    }
                }
            }
        }
        Expr::Call(name, args) => call(name, args, f)?,
    })
}

fn call(name: &str, args: &[Expr], f: &Fields) -> Result<Val, String> {
    let arg = |i: usize| -> Result<Val, String> {
        eval(
            args.get(i)
                .ok_or_else(|| format!("{name}: missing argument {i}"))?,
            f,
        )
    };
    Ok(match name {
        "null" => Val::Null,
        "true" => Val::Bool(true),
        "false" => Val::Bool(false),
        "coalesce" => {
            for a in args {
                let v = eval(a, f)?;
                if v != Val::Null {
                    return Ok(v);
                }
            }
            Val::Null
        }
        "if" => {
            if arg(0)?.truthy() {
                arg(1)?
            } else {
                arg(2)?
            }
        }
        "case" => {
            for pair in args.chunks(2) {
                if pair.len() != 2 {
                    return Err("case: odd number of arguments".into());
                }
                if eval(&pair[0], f)?.truthy() {
                    return eval(&pair[1], f);
                }
            }
            Val::Null
        }
        "isnull" => Val::Bool(arg(0)? == Val::Null),
        "isnotnull" => Val::Bool(arg(0)? != Val::Null),
        "isnum" => Val::Bool(matches!(arg(0)?, Val::Num(_)) || arg(0)?.num().is_some()),
        "nullif" => {
            let (a, b) = (arg(0)?, arg(1)?);
            if equal(&a, &b) == Some(true) {
                Val::Null
            } else {
                a
            }
        }
        "in" => {
            let x = arg(0)?;
            let mut hit = false;
            for a in &args[1..] {
                hit |= equal(&x, &eval(a, f)?) == Some(true);
            }
            Val::Bool(hit)
        }
        "lower" | "upper" => match arg(0)? {
            Val::Null => Val::Null,
            Val::Multi(v) => Val::Multi(
                v.iter()
                    .map(|s| {
                        if name == "lower" {
                            s.to_lowercase()
                        } else {
                            s.to_uppercase()
                        }
                    })
                    .collect(),
            ),
            v => {
                let s = v.text().unwrap_or_default();
                Val::Str(if name == "lower" {
                    s.to_lowercase()
                } else {
                    s.to_uppercase()
                })
            }
        },
        "mvindex" => {
            let i = arg(1)?.num().ok_or("mvindex: index")? as i64;
            let vs = arg(0)?.values().unwrap_or_default();
            let idx = if i < 0 { vs.len() as i64 + i } else { i };
            usize::try_from(idx)
                .ok()
                .and_then(|i| vs.get(i).cloned())
                .map_or(Val::Null, Val::Str)
        }
        "mvfind" => {
            let re = regex(&arg(1)?.text().ok_or("mvfind: regex")?)?;
            let vs = arg(0)?.values().unwrap_or_default();
            vs.iter()
                .position(|v| re.is_match(v))
                .map_or(Val::Null, |i| Val::Num(i as f64))
        }
        "match" => match arg(0)?.text() {
            None => Val::Bool(false),
            Some(s) => {
                let re = regex(&arg(1)?.text().ok_or("match: regex")?)?;
                Val::Bool(re.is_match(&s))
            }
        },
        "replace" => match arg(0)?.text() {
            None => Val::Null,
            Some(s) => {
                let re = regex(&arg(1)?.text().ok_or("replace: regex")?)?;
                let rep = arg(2)?.text().ok_or("replace: replacement")?;
                let rep = regex(r"\\(\d)")?.replace_all(&rep, "$${$1}");
                Val::Str(re.replace_all(&s, rep.as_ref()).into_owned())
            }
        },
        other => return Err(format!("function {other}() is outside the modelled subset")),
    })
}

#[cfg(test)]
mod self_tests {
    use super::*;

    fn run(expr: &str, json: &str, nulls: Nulls) -> Option<Vec<String>> {
        let fields = extract(&serde_json::from_str(json).unwrap(), nulls);
        eval(&parse(expr).unwrap(), &fields).unwrap().values()
    }

    #[test]
    fn the_model_follows_splunk_semantics() {
        let j = r#"{"a":{"b":"x"},"n":null,"objs":[{"name":"t1"},{"name":"t2"}],"k":5}"#;
        assert_eq!(
            run("coalesce(n, 'a.b')", j, Nulls::Absent),
            Some(vec!["x".into()])
        );
        assert_eq!(
            run("coalesce(n, 'a.b')", j, Nulls::Text),
            Some(vec!["null".into()])
        );
        assert_eq!(
            run("mvindex('objs{}.name', 1)", j, Nulls::Absent),
            Some(vec!["t2".into()])
        );
        assert_eq!(
            run("if(k==5, \"y\", \"n\")", j, Nulls::Absent),
            Some(vec!["y".into()])
        );
        assert_eq!(
            run("if(n==\"x\", \"y\", \"n\")", j, Nulls::Absent),
            Some(vec!["n".into()])
        );
        assert_eq!(run("\"a\" . n", j, Nulls::Absent), None);
        assert_eq!(
            run(
                r#"replace("GRANT r TO \"bob\"", "(?is)^.*\bTO\s+\"?([^\s\"]+).*$", "\1")"#,
                j,
                Nulls::Absent
            ),
            Some(vec!["bob".into()])
        );
        assert!(parse("frobnicate(a)").is_ok());
        assert!(eval(&parse("frobnicate(a)").unwrap(), &Fields::new()).is_err());
    }
}

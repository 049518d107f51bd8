//! The file checked against [`super::keys`] before serde reads it.
//!
//! serde-saphyr stops at the first error and words it for a Rust type
//! (`expected sequence start`, every field of the flat source struct). This
//! pass walks the YAML events once, builds a small tree with line numbers,
//! and reports every problem in the operator's words: unknown keys (only the
//! keys of that source or sink type, with "did you mean" for a near miss),
//! keys of another type, wrong shapes, duplicate keys, bad globs. Values are
//! never quoted (they may be secrets); keys and type names are.
//!
//! A file that is not valid YAML is left to serde-saphyr, which reports the
//! syntax error.

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};

use super::keys::{self, Key, SINK_TYPES, SOURCE_TYPES, Shape};

/// One problem of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: u64,
    pub msg: String,
}

#[derive(Debug)]
enum Kind {
    /// The text, and whether it is a plain `null` (``, `~`, `null`).
    Scalar(String, bool),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
    /// `*name`: not followed (its target was checked where it is defined).
    Alias,
}

#[derive(Debug)]
struct Node {
    line: u64,
    kind: Kind,
}

impl Node {
    fn text(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(s, _) => Some(s),
            _ => None,
        }
    }
    fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Scalar(_, true) => "empty",
            Kind::Scalar(..) => "a single value",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
            Kind::Alias => "an alias",
        }
    }
}

enum Open {
    Seq(u64, Vec<Node>),
    Map(u64, Vec<(Node, Node)>, Option<Node>),
}

/// The first document of `text` as a tree; `None` when it does not parse.
fn tree(text: &str) -> Option<Node> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Node> = None;
    fn add(stack: &mut [Open], root: &mut Option<Node>, node: Node) {
        match stack.last_mut() {
            None => *root = Some(node),
            Some(Open::Seq(_, items)) => items.push(node),
            Some(Open::Map(_, pairs, pending)) => match pending.take() {
                None => *pending = Some(node),
                Some(k) => pairs.push((k, node)),
            },
        }
    }
    while let Some(ev) = parser.next_event() {
        let (ev, span) = ev.ok()?;
        let line = span.start.line() as u64;
        match ev {
            Event::Scalar(v, style, ..) => {
                let null = style == ScalarStyle::Plain
                    && matches!(&*v, "" | "~" | "null" | "Null" | "NULL");
                add(
                    &mut stack,
                    &mut root,
                    Node {
                        line,
                        kind: Kind::Scalar(v.into_owned(), null),
                    },
                );
            }
            Event::Alias(..) => add(
                &mut stack,
                &mut root,
                Node {
                    line,
                    kind: Kind::Alias,
                },
            ),
            Event::SequenceStart(..) => stack.push(Open::Seq(line, Vec::new())),
            Event::MappingStart(..) => stack.push(Open::Map(line, Vec::new(), None)),
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match stack.pop()? {
                    Open::Seq(line, items) => Node {
                        line,
                        kind: Kind::Seq(items),
                    },
                    Open::Map(line, pairs, _) => Node {
                        line,
                        kind: Kind::Map(pairs),
                    },
                };
                add(&mut stack, &mut root, node);
            }
            Event::DocumentEnd => break,
            _ => {}
        }
    }
    root
}

/// Every problem of `text`, by line; empty when it is fine or is not YAML.
pub fn check(text: &str) -> Vec<Problem> {
    let Some(root) = tree(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    duplicates(&root, "", &mut out);
    if let Kind::Map(pairs) = &root.kind {
        keys_of(pairs, keys::TOP, "the top level", None, &mut out);
        for (k, v) in pairs {
            match k.text() {
                Some("sources") => {
                    components(v, "sources", "source", SOURCE_TYPES, keys::SOURCE, &mut out)
                }
                Some("sinks") => components(v, "sinks", "sink", SINK_TYPES, keys::SINK, &mut out),
                _ => {}
            }
        }
    }
    out.sort_by_key(|p| p.line);
    out.dedup();
    out
}

/// Keys set twice in any mapping (serde-saphyr's own message names a library option).
fn duplicates(node: &Node, path: &str, out: &mut Vec<Problem>) {
    match &node.kind {
        Kind::Map(pairs) => {
            let mut seen: Vec<(&str, u64)> = Vec::new();
            for (k, v) in pairs {
                let Some(name) = k.text() else { continue };
                let child = if path.is_empty() {
                    name.to_string()
                } else {
                    format!("{path}.{name}")
                };
                if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
                    let at = if path.is_empty() {
                        "the top level".to_string()
                    } else {
                        path.to_string()
                    };
                    out.push(Problem {
                        line: k.line,
                        msg: format!(
                            "{at}: `{name}` is set twice (first on line {first}); keep one"
                        ),
                    });
                } else {
                    seen.push((name, k.line));
                }
                duplicates(v, &child, out);
            }
        }
        Kind::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                duplicates(item, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// `sources:` or `sinks:`: a mapping of names to components with a `type`.
fn components(
    node: &Node,
    section: &str,
    what: &str,
    types: &[&str],
    table: &[Key],
    out: &mut Vec<Problem>,
) {
    let Kind::Map(pairs) = &node.kind else { return };
    for (name, body) in pairs {
        let Some(name) = name.text() else { continue };
        let at = format!("{section}.{name}");
        let Kind::Map(fields) = &body.kind else {
            if !matches!(body.kind, Kind::Alias) {
                out.push(Problem {
                    line: body.line,
                    msg: format!(
                        "{at}: a {what} must be a mapping with a `type`, e.g. `{name}: {{ type: {} }}`; found {}",
                        types[0],
                        body.describe()
                    ),
                });
            }
            continue;
        };
        let merged = fields.iter().any(|(k, _)| k.text() == Some("<<"));
        let ty = fields.iter().find(|(k, _)| k.text() == Some("type"));
        let ty = match ty {
            None if merged => None,
            None => {
                out.push(Problem {
                    line: body.line,
                    msg: format!("{at}: `type` is required: one of {}", types.join(", ")),
                });
                None
            }
            Some((_, v)) => match v.text() {
                Some(t) if types.contains(&t) => {
                    Some(types[types.iter().position(|x| *x == t).unwrap_or(0)])
                }
                Some(t) => {
                    let hint = suggest(t, types.iter().copied())
                        .map(|s| format!("did you mean `{s}`? "))
                        .unwrap_or_default();
                    out.push(Problem {
                        line: v.line,
                        msg: format!(
                            "{at}: unknown {what} type `{t}`; {hint}expected one of {}",
                            types.join(", ")
                        ),
                    });
                    None
                }
                None => None,
            },
        };
        match ty {
            Some(ty) => keys_of(fields, table, &at, Some(ty), out),
            // Without a known type only names no type takes are reported.
            None if !merged => keys_of(fields, table, &at, None, out),
            None => {}
        }
    }
}

/// The keys of one mapping against `table`, for component type `ty`.
fn keys_of(
    pairs: &[(Node, Node)],
    table: &[Key],
    at: &str,
    ty: Option<&str>,
    out: &mut Vec<Problem>,
) {
    let takes = |k: &Key| ty.is_none_or(|t| k.types.is_empty() || k.types.contains(&t));
    let mut seen: Vec<&str> = Vec::new();
    for (k, v) in pairs {
        let Some(name) = k.text() else { continue };
        // A second `name` is reported by `duplicates` only.
        if name == "<<" || seen.contains(&name) {
            continue;
        }
        seen.push(name);
        let Some(key) = table.iter().find(|x| x.name == name) else {
            let valid = table.iter().filter(|x| takes(x)).map(|x| x.name);
            let msg = match suggest(name, valid.clone()) {
                Some(s) => format!("{at}: unknown key `{name}`; did you mean `{s}`?"),
                None => {
                    let of = ty.map_or(String::new(), |t| format!(" of `type: {t}`"));
                    format!(
                        "{at}: unknown key `{name}`; the keys{of} are: {}",
                        valid.collect::<Vec<_>>().join(", ")
                    )
                }
            };
            out.push(Problem { line: k.line, msg });
            continue;
        };
        if !takes(key) {
            let owners: Vec<String> = key.types.iter().map(|t| format!("`type: {t}`")).collect();
            let hint = if name == "log_format" {
                "; write `format:`"
            } else {
                ""
            };
            out.push(Problem {
                line: k.line,
                msg: format!(
                    "{at}: `{name}` is not a key of `type: {}`; only {} take{} it{hint}",
                    ty.unwrap_or(""),
                    owners.join(", "),
                    if owners.len() == 1 { "s" } else { "" }
                ),
            });
            continue;
        }
        shape(key, v, at, out);
    }
}

/// The value of `key` against its [`Shape`].
fn shape(key: &Key, v: &Node, at: &str, out: &mut Vec<Problem>) {
    let name = key.name;
    let found = v.describe();
    let msg = match (key.shape, &v.kind) {
        (_, Kind::Alias) => return,
        (Shape::Scalar, Kind::Scalar(..)) => return,
        (Shape::Scalar, _) => format!("`{name}` must be a single value ({}), not {found}", key.ty),
        (Shape::List { .. }, Kind::Seq(items)) => {
            if name == "paths" || name == "exclude" {
                for item in items {
                    globs(name, item, at, out);
                }
            }
            return;
        }
        (Shape::List { what, example }, _) => {
            format!("`{name}` must be a list of {what}, e.g. `{name}: {example}`; found {found}")
        }
        (Shape::Map { .. }, Kind::Map(_)) => return,
        (Shape::Map { example }, _) => {
            format!("`{name}` must be a mapping, e.g. `{name}: {example}`; found {found}")
        }
        (Shape::Section(sub), Kind::Map(pairs)) => {
            keys_of(pairs, sub, &format!("{at}.{name}"), None, out);
            return;
        }
        (Shape::Section(sub), _) => {
            let names: Vec<&str> = sub.iter().map(|k| k.name).collect();
            format!(
                "`{name}` must be a mapping of {}; found {found}",
                names.join(", ")
            )
        }
    };
    let at = if at == "the top level" {
        String::new()
    } else {
        format!("{at}: ")
    };
    out.push(Problem {
        line: v.line,
        msg: format!("{at}{msg}"),
    });
}

/// A glob of `paths`/`exclude` that the `glob` crate refuses. Values with a
/// `${…}` are checked after substitution ([`super::Config::validate`]).
fn globs(name: &str, item: &Node, at: &str, out: &mut Vec<Problem>) {
    match &item.kind {
        Kind::Scalar(p, false) if !p.contains('$') => {
            if let Err(e) = glob::Pattern::new(p) {
                out.push(Problem {
                    line: item.line,
                    msg: format!("{at}.{name}: `{p}` is not a valid glob pattern: {}", e.msg),
                });
            }
        }
        Kind::Scalar(_, false) | Kind::Alias => {}
        _ => out.push(Problem {
            line: item.line,
            msg: format!(
                "{at}.{name}: each item must be a path or glob pattern; found {}",
                item.describe()
            ),
        }),
    }
}

/// The candidate closest to `given`, when it is close enough to be a typo.
pub fn suggest<'a>(given: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let g = given.to_ascii_lowercase();
    candidates
        .filter_map(|c| {
            let d = distance(&g, c);
            let near = d <= 2 && d * 3 <= c.len().max(3);
            let prefix = g.len() >= 3 && (c.starts_with(&g) || g.starts_with(c));
            (near || prefix).then_some((!prefix, d, c))
        })
        // A name the typo starts (`mysql` → `mysql_audit`) first, then the nearest.
        .min_by_key(|(not_prefix, d, _)| (*not_prefix, *d))
        .map(|(_, _, c)| c)
}

/// Levenshtein distance (the names are short).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

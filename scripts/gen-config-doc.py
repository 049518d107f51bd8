#!/usr/bin/env python3
"""Regenerate docs/config.md from the doc comments in crates/agent/src/config.rs.

The config structs are the documentation (every key, its meaning, its default);
this script only lays them out as tables. Run: python3 scripts/gen-config-doc.py
"""
import re, pathlib

root = pathlib.Path(__file__).resolve().parent.parent
src = (root / "crates/agent/src/config.rs").read_text()

SECTIONS = [
    ("Config", "Top level"),
    ("RedactionConfig", "`redaction:`"),
    ("LogConfig", "`log:`"),
    ("SourceConfig", "`sources.<name>:`"),
    ("SinkConfig", "`sinks.<name>:`"),
    ("TlsConfig", "`sinks.<name>.tls:`"),
    ("MetricsConfig", "`metrics:`"),
]

def struct_body(name):
    m = re.search(r"pub struct " + name + r"\s*\{(.*?)\n\}", src, re.S)
    return m.group(1) if m else None

out = ["# Configuration reference", "",
       "Generated from `crates/agent/src/config.rs` by `python3 scripts/gen-config-doc.py`;",
       "the doc comments there are the source of truth. Unknown keys are rejected with file,",
       "line and column; relative paths are relative to the config file.",
       "",
       "**Environment references.** `${NAME}` is replaced by the environment variable `NAME`,",
       "`${NAME:-default}` by `default` when `NAME` is unset or empty, and `$$` is a literal `$`.",
       "They are substituted inside each scalar value *after* the YAML is parsed: the value may",
       "hold any character (`: `, ` #`, a leading `@`, `*`, `{`, quotes) and is used whole, and a",
       "reference in a comment needs no variable. An unset variable without a default is an error",
       "naming the variable and its line; so is a bare `$NAME` in a value (write `$$NAME` for a",
       "literal `$`, `${NAME}` for the variable). Error messages quote the file's own text",
       "(`${NAME}`), never a substituted value.",
       "",
       "**Secrets** (`token`, `api_key`, `password`) should come from `${ENV}` or the matching",
       "`*_file` key; they are never printed, and the `user:password@` of an endpoint URL is",
       "printed as `user:****@`. Keep secret files and this file unreadable by others (mode",
       "0640, owner root, group onetrail): `onetrail check` warns otherwise.", ""]
for struct, title in SECTIONS:
    body = struct_body(struct)
    if body is None:
        continue
    out += [f"## {title}", "", "| key | type | meaning and default |", "|---|---|---|"]
    docs, attrs = [], []
    for line in body.splitlines():
        s = line.strip()
        if s.startswith("///"):
            docs.append(s[3:].strip())
        elif s.startswith("#["):
            attrs.append(s)
        elif s.startswith("pub "):
            m = re.match(r"pub (\w+): (.+),$", s)
            if m:
                key, ty = m.groups()
                for a in attrs:
                    r = re.search(r'rename = "(\w+)"', a)
                    if r:
                        key = r.group(1)
                while True:
                    w = re.match(r"^(?:Option|Spanned)<(.*)>$", ty)
                    if not w:
                        break
                    ty = w.group(1)
                ty = ty.replace("Spanned<SourceConfig>", "SourceConfig").replace("Spanned<SinkConfig>", "SinkConfig")
                text = " ".join(docs).replace("|", "\\|")
                out.append(f"| `{key}` | `{ty}` | {text} |")
            docs, attrs = [], []
        elif s.startswith("//"):
            continue
        elif s == "":
            continue
    out.append("")
(root / "docs/config.md").write_text("\n".join(out))
print("wrote docs/config.md")

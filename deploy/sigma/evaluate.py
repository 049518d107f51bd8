#!/usr/bin/env python3
"""Validate, convert and evaluate onetrail's Sigma rules.

Usage: evaluate.py RULES_DIR EVENTS_DIR

EVENTS_DIR holds one NDJSON file of onetrail events per workload (`<workload>.jsonl`, as
printed by `onetrail parse`). Each rule is

1. parsed and checked by pySigma (parse errors and pySigma's core validators),
2. converted to Splunk SPL (pySigma-backend-splunk),
3. converted to SQLite SQL (pySigma-backend-sqlite) and run against each workload loaded
   into an in-memory SQLite table `logs` (one column per field, nested objects flattened
   to dotted names as in the rules: `client.ip`, `extra.gap_kind`; an array column holds
   its elements joined by `,` and is NULL when the array is empty; `timestamp` = `time`).

Its hits are compared with EXPECTED below: a rule must match exactly the listed events and
nothing else. Every event not listed for a rule (all other events of all workloads, real and
crafted) is that rule's benign set. The crafted workload (CRAFTED) covers cases the real
captures lack. Prints a report; exits 1 on any failure.
"""

import copy
import json
import sqlite3
import sys
from collections import Counter
from pathlib import Path

import yaml
from sigma.backends.splunk import SplunkBackend
from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.validators.core import validators as core_validators
from sigma.validation import SigmaValidator

PG = ["pg-stderr", "pg-csvlog", "pg-jsonlog", "pg-stderr-rds-berlin"]
PG_FILE = "pg-pgauditlogtofile"  # audit file only: no LOGIN/LOGOUT lines of the server log

# Expected hits: rule file stem -> Counter of (workload, action, statement or db_user).
# Derived from the workloads (fixtures/postgresql/real/*/workload.json, the MariaDB README),
# not from a run of the rules.
def expected():
    exp = {}

    def add(rule, workloads, action, key, n=1):
        c = exp.setdefault(rule, Counter())
        for w in workloads:
            c[(w, action, key)] += n

    pg_all = PG + [PG_FILE]
    # Audit configuration: pgaudit enabled, session level set, catalog logging switched off.
    add("onetrail_audit_config_change", pg_all, "CREATE EXTENSION", "CREATE EXTENSION pgaudit")
    add("onetrail_audit_config_change", pg_all, "SET", "SET pgaudit.log = 'all'")
    add("onetrail_audit_config_change", pg_all, "ALTER SYSTEM",
        "ALTER SYSTEM SET pgaudit.log_catalog = off")
    add("onetrail_audit_config_change", ["mariadb-10.11"], "SET",
        "SET GLOBAL server_audit_logging=OFF")
    add("onetrail_audit_config_change", ["mariadb-10.11"], "SET",
        "SET GLOBAL server_audit_logging=ON")
    add("onetrail_audit_config_change", ["crafted"], "GAP", "audit_off")
    # Collection gaps: only the crafted agent events (the captures have none).
    for kind in ("audit_off", "file truncated", "statement ids missing"):
        add("onetrail_collection_gap", ["crafted"], "GAP", kind)
    # Single failed logins: wrong password twice, unknown role, pg_hba reject (PostgreSQL),
    # FAILED_CONNECT (MariaDB).
    for user, n in (("app_admin", 2), ("ghost", 1), ("blocked_user", 1)):
        add("onetrail_failed_login", PG, "LOGIN FAILED", user, n)
    # pgauditlogtofile's own file holds only the failures its hook intercepts (the first
    # wrong password and the unknown role); the others are in the server log.
    add("onetrail_failed_login", [PG_FILE], "LOGIN FAILED", "app_admin")
    add("onetrail_failed_login", [PG_FILE], "LOGIN FAILED", "ghost")
    add("onetrail_failed_login", ["mariadb-10.11"], "LOGIN FAILED", "app")
    add("onetrail_failed_login", ["crafted"], "LOGIN FAILED", "typo1")
    add("onetrail_failed_login", ["crafted"], "LOGIN FAILED", "typo2")
    # Burst: the four PostgreSQL failures from 127.0.0.1 within a second, as one alert per
    # workload; below the threshold of 3: pgauditlogtofile's 2, MariaDB's 1 (and it logs no
    # address for localhost), the crafted 2 from 192.0.2.7.
    for w in PG:
        add("onetrail_failed_login_burst", [w], "ALERT client.ip=127.0.0.1", "4 events")
    # Privilege escalation: none in the captures (they grant table rights only).
    # (NOSUPERUSER and REVOKE DBA are crafted too, as benign counterparts.)
    for action, stmt in (("ALTER ROLE", "ALTER ROLE app_admin SUPERUSER"),
                         ("GRANT", "GRANT ALL PRIVILEGES ON *.* TO 'app'@'%' WITH GRANT OPTION"),
                         ("ALTER SERVER", "ALTER SERVER ROLE sysadmin ADD MEMBER app_login"),
                         ("GRANT", "GRANT DBA TO app_user")):
        add("onetrail_privilege_escalation", ["crafted"], action, stmt)
    # Credential change: PostgreSQL ALTER ROLE ... PASSWORD (CREATE ROLE ... PASSWORD is a
    # creation, not a change); MariaDB SET PASSWORD crafted.
    add("onetrail_credential_change", pg_all, "ALTER ROLE", "ALTER ROLE app_admin PASSWORD <REDACTED>")
    add("onetrail_credential_change", ["crafted"], "SET PASSWORD",
        "SET PASSWORD FOR 'app'@'%' = PASSWORD(*****)")
    add("onetrail_sensitive_bulk_read", ["crafted"], "SELECT", "SELECT * FROM secret.patients")
    add("onetrail_sensitive_ddl", ["crafted"], "ALTER TABLE",
        "ALTER TABLE secret.patients ADD COLUMN ssn text")
    add("onetrail_unexpected_application", ["crafted"], "LOGIN", "mallory")
    return exp


def crafted(real):
    """Events the captures lack, each built from a real event of the PostgreSQL stderr or
    MariaDB capture with the fields changed that the case needs (ids made unique)."""
    pg = real["pg-stderr"]
    my = real["mariadb-10.11"]

    def first(events, **kv):
        for e in events:
            if all(e.get(k) == v for k, v in kv.items()):
                return copy.deepcopy(e)
        raise SystemExit(f"no template event {kv}")

    out = []

    def emit(e, label):
        e["id"] = f"{len(out):032x}"
        e.setdefault("extra", {})["crafted"] = label
        out.append(e)

    def agent(action, extra, alert):
        e = first(pg, action="LOGIN")
        e.update(category="agent", action=action, outcome="failure" if alert else "success",
                 db_user=None, database=None, statement=None, alert=alert,
                 client={"ip": None, "port": None, "host": None, "application": None},
                 extra=dict(extra, source_name="pg"))
        return e

    emit(agent("GAP", {"gap_kind": "audit_off", "scope": "server",
                       "reason": "audit_off"}, True), "gap audit_off")
    emit(agent("GAP", {"file": "/var/log/postgresql/postgresql.log", "from_offset": 10,
                       "to_offset": 99, "reason": "file truncated"}, True), "gap file")
    emit(agent("GAP", {"session_id": "1.2", "from_statement_id": 4, "to_statement_id": 6,
                       "reason": "statement ids missing"}, True), "gap statement ids")
    emit(agent("START", {"detail": "started", "reason": "start"}, False), "benign start")
    emit(agent("STOP", {"detail": "stopped", "reason": "stop"}, False), "benign stop")

    grant = first(pg, action="GRANT")
    for action, stmt in (("ALTER ROLE", "ALTER ROLE app_admin SUPERUSER"),
                         ("ALTER ROLE", "ALTER ROLE app_admin NOSUPERUSER"),
                         ("GRANT", "GRANT ALL PRIVILEGES ON *.* TO 'app'@'%' WITH GRANT OPTION"),
                         ("ALTER SERVER", "ALTER SERVER ROLE sysadmin ADD MEMBER app_login"),
                         ("GRANT", "GRANT DBA TO app_user"),
                         ("REVOKE", "REVOKE DBA FROM app_user")):
        e = copy.deepcopy(grant)
        e.update(action=action, statement=stmt)
        emit(e, "privilege")
    mygrant = first(my, action="GRANT")
    mygrant.update(action="SET PASSWORD", statement="SET PASSWORD FOR 'app'@'%' = PASSWORD(*****)")
    emit(mygrant, "credential")

    select = first(pg, action="SELECT", category="read")
    for rows, sens, stmt in ((50000, ["phi"], "SELECT * FROM secret.patients"),
                             (3, ["phi"], "SELECT * FROM secret.patients WHERE id = 1"),
                             (50000, [], "SELECT * FROM public.notes")):
        e = copy.deepcopy(select)
        e.update(rows=rows, sensitivity=sens, statement=stmt)
        emit(e, "bulk read")
    ddl = first(pg, action="ALTER TABLE")
    e = copy.deepcopy(ddl)
    e.update(statement="ALTER TABLE secret.patients ADD COLUMN ssn text", sensitivity=["phi"])
    emit(e, "sensitive ddl")
    e = copy.deepcopy(ddl)
    e.update(statement="ALTER TABLE public.notes ADD COLUMN tag text", sensitivity=[])
    emit(e, "benign ddl")

    login = first(pg, action="LOGIN")
    e = copy.deepcopy(login)
    e["db_user"] = "mallory"
    e["client"]["application"] = "DBeaver 23.2.0 - Main"
    emit(e, "unexpected application")
    # Two failed logins from one address: below the burst threshold.
    failed = first(pg, action="LOGIN FAILED")
    for user in ("typo1", "typo2"):
        e = copy.deepcopy(failed)
        e["db_user"] = user
        e["client"]["ip"] = "192.0.2.7"
        emit(e, "two failed logins")
    return out


def flatten(obj, prefix="", out=None):
    out = {} if out is None else out
    for k, v in obj.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            flatten(v, name + ".", out)
        elif isinstance(v, list):
            items = [x if isinstance(x, str) else json.dumps(x, sort_keys=True) for x in v]
            out[name] = ",".join(items) if items else None
        elif isinstance(v, bool):
            out[name] = "true" if v else "false"
        else:
            out[name] = v
    return out


def load(events, cols):
    rows = [flatten(e) for e in events]
    db = sqlite3.connect(":memory:")
    q = lambda c: '"' + c.replace('"', '""') + '"'
    db.execute(f"CREATE TABLE logs ({', '.join(q(c) for c in cols)})")
    for r in rows:
        r["timestamp"] = r.get("time")
        names = list(r)
        db.execute(f"INSERT INTO logs ({', '.join(q(c) for c in names)}) VALUES "
                   f"({', '.join('?' for _ in names)})", [r[c] for c in names])
    return db


def key(e):
    """How EXPECTED names an event: agent events by their reason, logins and events without
    a statement by the user, the rest by the statement."""
    if e["category"] == "agent":
        return (e["action"], e["extra"].get("reason"))
    if e["category"] == "auth" or e["statement"] is None:
        return (e["action"], e["db_user"])
    return (e["action"], e["statement"])


def main():
    rules_dir, events_dir = Path(sys.argv[1]), Path(sys.argv[2])
    real = {p.stem: [json.loads(l) for l in p.read_text().splitlines() if l.strip()]
            for p in sorted(events_dir.glob("*.jsonl"))}
    workloads = dict(real)
    workloads["crafted"] = crafted(real)
    # Every table has the columns of all workloads: a field an event lacks is NULL.
    cols = sorted({c for evs in workloads.values() for e in evs for c in flatten(e)}
                  | {"timestamp"})
    dbs = {w: load(evs, cols) for w, evs in workloads.items()}
    failures = []
    rule_files = sorted(rules_dir.glob("*.yml"))
    # All core validators but the tag-vocabulary ones of sigma.validators.core.tags, which
    # download the MITRE ATT&CK/D3FEND catalogues at run time.
    validators = [v for v in core_validators.values()
                  if v.__module__ != "sigma.validators.core.tags"]
    exp = expected()
    splunk, sqlite = SplunkBackend(), sqliteBackend()
    docs = {p: yaml.safe_load(p.read_text()) for p in rule_files}
    by_name = {d["name"]: p for p, d in docs.items() if d.get("name")}
    for p in rule_files:
        # A correlation rule is loaded and converted together with the rules it names.
        refs = (docs[p].get("correlation") or {}).get("rules") or []
        corr = bool(refs)
        text = "\n---\n".join([by_name[n].read_text() for n in refs] + [p.read_text()])
        coll = SigmaCollection.from_yaml(text, collect_errors=True)
        errors = [str(e) for r in coll.rules for e in r.errors]
        issues = [str(i) for i in SigmaValidator(validators).validate_rules(coll.rules)]
        if errors or issues:
            failures.append(f"{p.name}: invalid: {errors + issues}")
            continue
        spl = splunk.convert(coll)
        sql = sqlite.convert(coll)
        if not spl or not all(spl) or len(sql) != 1:
            failures.append(f"{p.name}: conversion gave SPL {spl!r}, SQL {sql!r}")
            continue
        print(f"== {p.stem}\n   SPL: {spl[-1]}")
        got = Counter()
        for w, db in dbs.items():
            if corr:
                # The backend reports one alert per window end that reaches the threshold;
                # count each group once, with all the events its alerts cite.
                evidence = {}
                for row in db.execute(sql[0]).fetchall():
                    groups = json.loads(row[1])
                    g = " ".join(f"{k}={v}" for k, v in groups.items())
                    evidence.setdefault(g, set()).update(json.loads(row[8]))
                for g, ids in evidence.items():
                    got[(w, f"ALERT {g}", f"{len(ids)} events")] += 1
            else:
                query = sql[0].replace("SELECT * FROM logs", "SELECT rowid FROM logs", 1)
                for (rowid,) in db.execute(query).fetchall():
                    e = workloads[w][rowid - 1]
                    got[(w,) + key(e)] += 1
        want = exp.get(p.stem, Counter())
        missing, extra = want - got, got - want
        if not want:
            failures.append(f"{p.stem}: no expected hits declared")
        for k, n in sorted(missing.items()):
            failures.append(f"{p.stem}: did not fire on {k} (x{n})")
        for k, n in sorted(extra.items()):
            failures.append(f"{p.stem}: fired on benign {k} (x{n})")
        print(f"   hits: {sum(got.values())} (expected {sum(want.values())})")
    for stem in exp:
        if not (rules_dir / f"{stem}.yml").exists():
            failures.append(f"{stem}: rule file missing")
    total = sum(len(v) for v in workloads.values())
    print(f"{len(rule_files)} rules, {len(workloads)} workloads, {total} events")
    for f in failures:
        print("FAIL", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

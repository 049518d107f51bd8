#!/usr/bin/env python3
"""Import graph between the top-level modules of each workspace crate, and its cycles.

Usage: scripts/module_cycles.py [--graph] [crate_dir ...]   (default: every crates/* and parsers/*)

A crate's top-level modules are the files/folders beside its lib.rs (main.rs). An edge M -> N is a
`crate::N` path (or `super::N` from a direct child of the root) written in M's files outside test
code (files named tests.rs / *_tests.rs, and everything from a `#[cfg(test)]` line onwards).
Items defined in lib.rs itself are the node `lib`; a module's `crate::x` that is not a module is an
edge to `lib`. Exit status 1 when any crate has a cycle.
"""
import os, re, sys

def strip_test(text):
    out = []
    for line in text.splitlines():
        if line.strip().startswith('#[cfg(test)]'):
            break
        out.append(line)
    text = '\n'.join(out)
    text = re.sub(r'//[^\n]*', '', text)
    return text

def crate_graph(crate):
    src = os.path.join(crate, 'src')
    root = 'lib.rs' if os.path.exists(os.path.join(src, 'lib.rs')) else 'main.rs'
    mods = set()
    for e in os.listdir(src):
        if e in ('lib.rs', 'main.rs', 'bin'):
            continue
        if e.endswith('.rs'):
            mods.add(e[:-3])
        elif os.path.isdir(os.path.join(src, e)):
            mods.add(e)
    files = {}
    for m in mods:
        paths = []
        if os.path.exists(os.path.join(src, m + '.rs')):
            paths.append(os.path.join(src, m + '.rs'))
        if os.path.isdir(os.path.join(src, m)):
            for dp, _, fs in os.walk(os.path.join(src, m)):
                paths += [os.path.join(dp, f) for f in fs if f.endswith('.rs')]
        files[m] = paths
    files['lib'] = [os.path.join(src, root)]
    edges = {m: set() for m in files}
    for m, paths in files.items():
        for p in paths:
            name = os.path.basename(p)
            if name == 'tests.rs' or name.endswith('_tests.rs'):
                continue
            text = strip_test(open(p, encoding='utf-8').read())
            # `crate::x`, `crate::{x, y::z}`
            for mt in re.finditer(r'\bcrate::(\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)', text):
                tok = mt.group(1)
                names = re.findall(r'(?:^|[{,]\s*)([A-Za-z_][A-Za-z0-9_]*)', tok) if tok.startswith('{') else [tok]
                for n in names:
                    tgt = n if n in mods else 'lib'
                    if tgt != m:
                        edges[m].add(tgt)
            # `super::x` from a top-level module file (src/m.rs or src/m/mod.rs) means the root
            top = p == os.path.join(src, m + '.rs') or p == os.path.join(src, m, 'mod.rs')
            if top:
                for mt in re.finditer(r'\bsuper::([A-Za-z_][A-Za-z0-9_]*)', text):
                    n = mt.group(1)
                    tgt = n if n in mods else 'lib'
                    if tgt != m:
                        edges[m].add(tgt)
    # lib -> module edges only matter when lib defines items others use; keep them.
    return edges

def sccs(edges):
    index, low, stack, on, out, i = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)
    def visit(v):
        index[v] = low[v] = i[0]; i[0] += 1; stack.append(v); on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1:
                out.append(sorted(comp))
    for v in edges:
        if v not in index:
            visit(v)
    return out

def main():
    args = sys.argv[1:]
    graph = '--graph' in args
    args = [a for a in args if a != '--graph']
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not args:
        args = sorted(os.path.join(d, c) for d in ('crates', 'parsers') for c in os.listdir(os.path.join(here, d))
                      if os.path.isdir(os.path.join(here, d, c, 'src')))
        args = [os.path.join(here, a) for a in args]
    bad = 0
    for c in args:
        e = crate_graph(c)
        cyc = sccs(e)
        name = os.path.relpath(c, here)
        if graph:
            for m in sorted(e):
                print(f'{name}: {m} -> {", ".join(sorted(e[m]))}')
        if cyc:
            bad = 1
            for comp in cyc:
                print(f'{name}: CYCLE {" <-> ".join(comp)}')
        else:
            print(f'{name}: no cycle ({len(e)} modules)')
    sys.exit(bad)

main()

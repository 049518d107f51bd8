#!/usr/bin/env bash
# `onetrail parse` of every shared corpus file in every format this build knows, into OUT:
# one .out (stdout), .err (stderr) and .rc (exit status) per (format, variant, file).
# Used to prove a refactoring changes no output byte:
#   scripts/parse_corpora.sh /tmp/before <old onetrail binary>
#   scripts/parse_corpora.sh /tmp/after  target/debug/onetrail
#   diff -r /tmp/before /tmp/after && echo byte-identical
# Usage: scripts/parse_corpora.sh OUT [ONETRAIL_BINARY] (corpora: $ONETRAIL_CORPORA or ../shared/corpora)
set -euo pipefail
out=${1:?usage: $0 OUT [onetrail binary]}
bin=${2:-target/debug/onetrail}
here=$(cd "$(dirname "$0")/.." && pwd)
corpora=${ONETRAIL_CORPORA:-$here/../shared/corpora}
[ -d "$corpora" ] || { echo "no corpora at $corpora" >&2; exit 2; }
rm -rf "$out"; mkdir -p "$out"
"$bin" formats > "$out/formats.txt"
mapfile -t files < <(cd "$corpora" && find . -type f ! -name SOURCES.md | sort)
while read -r fmt _; do
  for variant in default audit-only mask-literals; do
    case $variant in
      default) flags=();;
      audit-only) flags=(--audit-only);;
      mask-literals) flags=(--mask-literals --instance corpus-1);;
    esac
    d="$out/$fmt/$variant"; mkdir -p "$d"
    for f in "${files[@]}"; do
      key=$(echo "${f#./}" | tr '/' '_')
      # Paths appear in events (source.path): run from the corpora dir with the same relative path.
      rc=0
      (cd "$corpora" && "$bin" parse -f "$fmt" "${flags[@]}" "$f") > "$d/$key.out" 2> "$d/$key.err" || rc=$?
      echo "$rc" > "$d/$key.rc"
    done
  done
done < "$out/formats.txt"
echo "$(find "$out" -name '*.out' | wc -l) runs in $out"

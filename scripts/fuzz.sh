#!/usr/bin/env bash
# Fuzz the parsers (framing + parsing, one target per format) and the redactor
# with cargo-fuzz / libFuzzer. See fuzz/README.md for the targets and their
# properties.
#
#   scripts/fuzz.sh                  every target briefly and reproducibly (the suite's
#                                    smoke run: seed FUZZ_SEED=1, FUZZ_RUNS=20000 executions)
#   scripts/fuzz.sh TARGET SECONDS   a long campaign on one target
#   scripts/fuzz.sh all SECONDS      every target in turn, SECONDS each
#   scripts/fuzz.sh list             the target names
#
# Seeds come from fixtures/ (and from the third-party corpora in
# ../shared/corpora, or $ONETRAIL_CORPORA, when present), copied at run time
# into fuzz/target/seeds/<target> in pieces of at most 4 KiB. What libFuzzer
# learns is kept in fuzz/corpus/<target> (not committed) for the next run.
# A crash or property violation stops the run with exit status 1 and leaves the
# input in fuzz/artifacts/<target>/; turn it into a regression test in the
# parser's crate (see fuzz/README.md).
#
# Exit status 3: cargo-fuzz is missing and could not be installed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
corpora=${ONETRAIL_CORPORA:-$root/../shared/corpora}

# cargo-fuzz passes nightly-only flags (-Zsanitizer, -Cpasses=sancov…);
# RUSTC_BOOTSTRAP lets the stable toolchain accept them.
export RUSTC_BOOTSTRAP=1
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}
# No unsafe code in the parsers, the event model or the redactor: AddressSanitizer
# would only re-check std and dependencies, and costs build time and half the
# executions. FUZZ_SANITIZER=address turns it back on.
sanitizer=${FUZZ_SANITIZER:-none}

targets() {
  sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^onetrail-fuzz$'
}

# Fixture files (and peer corpora) that seed TARGET, one path per line.
seed_files() {
  local f=fixtures c=$corpora
  case "$1" in
    pgaudit_stderr)
      ls $f/postgresql/stderr-*.log $f/postgresql/real/stderr*/postgresql.log $f/quickstart/*.log
      [ -d "$c" ] && ls "$c"/pgaudit/main/expected/pgaudit.out ;;
    pgaudit_csvlog)
      ls $f/postgresql/csvlog-*.csv $f/postgresql/real/csvlog/postgresql.csv
      [ -d "$c" ] && ls "$c"/pgaudit/pr3-analyze-csvlog/*.csv ;;
    pgaudit_jsonlog)
      ls $f/postgresql/jsonlog-*.json $f/postgresql/real/jsonlog/postgresql.json ;;
    pgauditlogtofile)
      ls $f/postgresql/pgauditlogtofile-*.log $f/postgresql/real/pgauditlogtofile/*.log ;;
    mariadb_server_audit)
      ls $f/mysql/mariadb-server-audit.*.log $f/mysql/real-mariadb-10.11/server_audit.log
      [ -d "$c" ] && find "$c"/mariadb-server-audit "$c"/aws-audit-plugin-for-mysql -type f ;;
    mysql_enterprise_json | mysql_enterprise_xml | percona_audit_json | percona_audit_xml | percona_audit_csv)
      ls $f/mysql/"${1//_/-}".* | grep -v '\.expected\.jsonl$'
      case "$1" in
        mysql_enterprise_json) [ -d "$c" ] && find "$c"/elastic-beats-mysqlenterprise-audit -type f ;;
        percona_*) [ -d "$c" ] && find "$c"/percona-server-audit-log -type f ;;
      esac ;;
    oracle_*)
      ls $f/oracle/"${1//_/-}".* | grep -v '\.expected\.jsonl$'
      case "$1" in
        oracle_aud) [ -d "$c" ] && find "$c"/elastic-beats-oracle-database-audit -type f -name '*.aud*' ! -name '*-expected.json' ;;
        oracle_unified_syslog) [ -d "$c" ] && find "$c"/elastic-integrations-oracle-database-audit -type f -name '*.log' ;;
      esac ;;
    mssql_audit_csv) ls $f/sqlserver/*.csv ;;
    mssql_audit_json)
      ls $f/sqlserver/*.json
      [ -d "$c" ] && find "$c"/elastic-integrations-microsoft-sqlserver-audit -type f -name '*.json' ! -name '*-expected.json' ;;
    redact)
      # Every statement-bearing fixture: the redactor sees statements and raw lines.
      find $f -type f ! -name '*.jsonl' ! -name '*.md' ! -name '*.meta' ! -name '*.txt' ! -name 'workload.json' ;;
    redact_planted) ;; # structured input, see check_planted; libFuzzer starts empty
    *) echo "fuzz.sh: unknown target $1; targets: $(targets | tr '\n' ' ')" >&2; return 1 ;;
  esac
}

# Fill fuzz/target/seeds/TARGET afresh; echo its path.
seed_dir() {
  local dir=$root/fuzz/target/seeds/$1 n=0 file
  rm -rf "$dir" && mkdir -p "$dir"
  while IFS= read -r file; do
    [ -f "$file" ] || continue
    n=$((n + 1))
    # Big files become line-aligned pieces: libFuzzer runs small inputs fast.
    # Files come sorted, so the pieces are numbered alike on every machine
    # (find lists in directory order).
    split -C 4096 -d -a 4 "$file" "$dir/$n-$(basename "$file")."
  done < <( (seed_files "$1" 2>/dev/null || true) | LC_ALL=C sort)
  echo "$dir"
}

run() { # TARGET SECONDS
  local target=$1 secs=$2 seeds limit
  seed_files "$target" >/dev/null # fails with a message for an unknown target
  seeds=$(seed_dir "$target")
  # A campaign keeps what libFuzzer learns in fuzz/corpus/; the smoke run
  # starts from the seeds alone, so it is the same run on every machine.
  local corpus="corpus/$target"
  if [ -n "$smoke" ]; then
    corpus="target/smoke-corpus/$target"
    rm -rf "fuzz/$corpus"
  fi
  mkdir -p "fuzz/$corpus"
  if [ -n "$smoke" ]; then
    # The suite's smoke run is reproducible: a fixed seed and a fixed number
    # of executions (time only as a backstop on a slow machine), so a CI
    # verdict never depends on luck; campaigns (TARGET SECONDS) stay random.
    limit="-seed=${FUZZ_SEED:-1} -runs=${FUZZ_RUNS:-20000} -max_total_time=$((secs * 3))"
    echo "==> fuzz $target: ${FUZZ_RUNS:-20000} runs, seed ${FUZZ_SEED:-1} ($(ls "$seeds" | wc -l) seed pieces)"
  else
    limit="-max_total_time=$secs"
    echo "==> fuzz $target for ${secs}s ($(ls "$seeds" | wc -l) seed pieces)"
  fi
  local status=0
  # grep hides libFuzzer's progress chatter; the run's own status decides.
  (cd fuzz && cargo fuzz run -s "$sanitizer" "$target" "$corpus" "$seeds" -- \
    $limit -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 2>&1) |
    { grep -v -E '^#[0-9]+\s+(NEW|REDUCE|pulse)|^INFO: |^\s*"' || true; }
  status=${PIPESTATUS[0]}
  [ "$status" -eq 0 ] || echo "fuzz.sh: $target FAILED (input saved under fuzz/artifacts/$target/)" >&2
  return "$status"
}

case "${1:-}" in
  list) targets; exit 0 ;;
  "") which=$(targets); secs=${FUZZ_SECONDS:-10}; smoke=1 ;;
  all) which=$(targets); secs=${2:-${FUZZ_SECONDS:-10}}; smoke= ;;
  *)
    targets | grep -qx -- "$1" || { echo "fuzz.sh: unknown target $1; targets: $(targets | tr '\n' ' ')" >&2; exit 2; }
    which=$1; secs=${2:?usage: scripts/fuzz.sh TARGET SECONDS}; smoke= ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz (cargo install cargo-fuzz --locked)"
  if ! cargo install cargo-fuzz --locked; then
    echo "fuzz.sh: cargo-fuzz is not installed and 'cargo install cargo-fuzz --locked' failed" >&2
    exit 3
  fi
fi

[ -d "$corpora" ] || echo "fuzz.sh: no third-party corpora at $corpora (set ONETRAIL_CORPORA); seeding from fixtures/ only" >&2
echo "==> cargo fuzz build (sanitizer: $sanitizer)"
start=$(date +%s)
(cd fuzz && cargo fuzz build -s "$sanitizer")
echo "==> built in $(($(date +%s) - start))s"
for t in $which; do
  run "$t" "$secs"
done
echo "==> fuzz: no crash and no property violation in: $(echo $which)"

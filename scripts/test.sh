#!/usr/bin/env bash
# The whole test suite, on a fresh Debian 12 machine.
#
# Installs what the integration tests need when it is missing (PostgreSQL 15
# with pgaudit and pgauditlogtofile, MariaDB server with its server_audit
# plugin, rsyslog with GnuTLS and RELP, librdkafka's build deps, the tansu
# Kafka-protocol broker), then runs every test of the workspace. Integration tests start their
# own private servers in temp dirs on free ports; nothing system-wide is touched.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15)
[ -f /usr/lib/postgresql/15/lib/pgaudit.so ] || need+=(postgresql-15-pgaudit)
[ -f /usr/lib/postgresql/15/lib/pgauditlogtofile.so ] || need+=(postgresql-15-pgauditlogtofile)
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
# The syslog sink's end-to-end tests: a private rsyslogd (imtcp, gtls for TLS).
command -v rsyslogd >/dev/null 2>&1 || [ -x /usr/sbin/rsyslogd ] || need+=(rsyslog)
[ -f /usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so ] || need+=(rsyslog-gnutls)
[ -f /usr/lib/x86_64-linux-gnu/rsyslog/imrelp.so ] || need+=(rsyslog-relp)
# Packaging checks: systemd-analyze (verify/security of the unit, offline),
# openssl (a test CA for the examples' tls.ca_file), adduser (the .deb's postinst).
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v adduser >/dev/null 2>&1 || [ -x /usr/sbin/adduser ] || need+=(adduser)
# The kafka sink links librdkafka built from source (rdkafka-sys): a C
# compiler, make, pkg-config and OpenSSL's headers (TLS, SASL/SCRAM).
command -v cc >/dev/null 2>&1 || need+=(build-essential)
command -v make >/dev/null 2>&1 || need+=(make)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
[ -f /usr/include/openssl/ssl.h ] || need+=(libssl-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

# The kafka sink's broker tests: tansu (crates.io), a Kafka-protocol broker.
# The first install takes ~12 min on 2 cores; it stays in ~/.cargo/bin after.
if ! command -v tansu >/dev/null 2>&1 && [ ! -x "${CARGO_HOME:-$HOME/.cargo}/bin/tansu" ]; then
  echo "==> installing tansu (Kafka-protocol broker for the kafka sink tests)"
  cargo install tansu --locked --no-default-features --features libsql -j 2
fi

echo "==> cargo test --workspace"
cargo test --workspace --all-targets --no-fail-fast -j 2 "$@"

# Every parser format and the redactor under libFuzzer for a few seconds each
# (scripts/fuzz.sh; most of the time is the fuzz build). Without cargo-fuzz and
# no way to install it (exit 3), CI fails and a local run says why and goes on.
echo "==> fuzz"
fuzz_status=0
./scripts/fuzz.sh || fuzz_status=$?
if [ "$fuzz_status" -eq 3 ] && [ "${CI:-}" != "true" ]; then
  echo "==> fuzz NOT RUN: cargo-fuzz is missing and could not be installed (see above); CI fails here"
elif [ "$fuzz_status" -ne 0 ]; then
  exit "$fuzz_status"
fi

# The .deb, from the debug binary the tests just built (a few seconds; the
# first time also `cargo install cargo-deb`). In CI (root, throwaway machine)
# it is also installed with dpkg and purged again.
echo "==> package check"
ONETRAIL_DPKG_INSTALL="${ONETRAIL_DPKG_INSTALL:-${CI:+1}}" ./scripts/package-check.sh

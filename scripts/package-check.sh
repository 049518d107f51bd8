#!/usr/bin/env bash
# Build the .deb and check it: contents, conffile, maintainer scripts, the
# systemd unit. Called by scripts/test.sh after the tests (which built
# target/debug/onetrail).
#
# CI packages the already-built *debug* binary (`--profile dev --no-build`,
# stripped by cargo-deb: ~25 MB) to stay cheap; releases use
# `cargo deb -p onetrail` (release profile). The package layout is the same.
#
# As root with ONETRAIL_DPKG_INSTALL=1 (CI sets it when it runs as root) the
# package is really installed with dpkg, checked (user, state directory,
# conffile, `onetrail check` of the shipped config as the onetrail user), and
# purged again. Without a running systemd, the maintainer scripts skip
# systemctl and enable the unit through symlinks only.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-deb >/dev/null 2>&1; then
  echo "==> installing cargo-deb"
  cargo install cargo-deb --locked -j 2
fi
[ -x target/debug/onetrail ] || cargo build -j 2 -p onetrail

echo "==> cargo deb (dev profile, from target/debug/onetrail)"
deb=$(cargo deb -p onetrail --profile dev --no-build --fast --quiet 2>/dev/null | tail -n1)
[ -f "$deb" ] || { echo "cargo deb produced no package"; exit 1; }
echo "    $deb"

fail() { echo "FAIL: $*"; exit 1; }
contents=$(dpkg-deb --contents "$deb")
for f in ./usr/bin/onetrail ./usr/lib/systemd/system/onetrail.service ./etc/onetrail/onetrail.yaml \
         ./usr/share/doc/onetrail/README.md ./usr/share/doc/onetrail/examples/quickstart.yaml; do
  grep -q " $f\$" <<<"$contents" || fail "$f missing from the package"
done
grep -q '^-rw-r----- 0/0 .* ./etc/onetrail/onetrail.yaml$' <<<"$contents" || fail "onetrail.yaml is not 0640"
ctl=$(mktemp -d)
root=$(mktemp -d)
trap 'rm -rf "$ctl" "$root"' EXIT
dpkg-deb -e "$deb" "$ctl"
grep -qx /etc/onetrail/onetrail.yaml "$ctl/conffiles" || fail "onetrail.yaml is not a conffile"
grep -q 'adduser --system --group' "$ctl/postinst" || fail "postinst does not create the user"
grep -q 'deb-systemd-helper enable onetrail.service' "$ctl/postinst" || fail "postinst does not enable the unit"
grep -q 'rm -rf /var/lib/onetrail' "$ctl/postrm" || fail "postrm does not purge the state"
dpkg-deb --field "$deb" Depends | grep -q adduser || fail "Depends lacks adduser"
echo "    contents, conffiles and maintainer scripts ok"

echo "==> extract into a scratch root and verify the unit"
dpkg -x "$deb" "$root"
"$root/usr/bin/onetrail" --version
# The unit as installed, with its ExecStart pointing into the scratch root.
sed "s#/usr/bin/onetrail#$root/usr/bin/onetrail#" "$root/usr/lib/systemd/system/onetrail.service" \
  > "$ctl/onetrail.service"
if command -v systemd-analyze >/dev/null 2>&1; then
  SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "$ctl/onetrail.service"
  echo "    systemd-analyze verify: ok"
else
  echo "    systemd-analyze not installed: unit not verified (apt-get install systemd)"
fi

if [ "${ONETRAIL_DPKG_INSTALL:-0}" = 1 ] && [ "$(id -u)" -eq 0 ]; then
  if dpkg -s onetrail >/dev/null 2>&1; then
    echo "==> onetrail is installed on this machine already: install test skipped"
  else
    echo "==> dpkg -i, upgrade, dpkg --purge"
    DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >/dev/null
    # Never leave the package installed behind a failed check (it would make
    # the next run skip this test).
    trap 'dpkg --purge onetrail >/dev/null 2>&1 || true' EXIT
    getent passwd onetrail >/dev/null || fail "no onetrail user after install"
    [ "$(stat -c %U:%G:%a /var/lib/onetrail)" = onetrail:onetrail:750 ] || fail "/var/lib/onetrail: $(stat -c %U:%G:%a /var/lib/onetrail)"
    [ "$(stat -c %U:%G:%a /etc/onetrail/onetrail.yaml)" = root:onetrail:640 ] || fail "onetrail.yaml: $(stat -c %U:%G:%a /etc/onetrail/onetrail.yaml)"
    [ -L /etc/systemd/system/multi-user.target.wants/onetrail.service ] || fail "unit not enabled"
    # As the unit runs it (user onetrail, group adm): the shipped config
    # parses (exit 0, or 3 when no PostgreSQL log exists here) and the
    # state directory is writable.
    out=$(setpriv --reuid onetrail --regid onetrail --groups adm /usr/bin/onetrail check \
      --config /etc/onetrail/onetrail.yaml) || [ $? -eq 3 ] || fail "the shipped config does not load: $out"
    grep -q 'data_dir: /var/lib/onetrail is writable' <<<"$out" || fail "data_dir not writable: $out"
    grep -q 'ok   sink archive' <<<"$out" || fail "the archive sink cannot open its file: $out"
    # Upgrade (same version again): a locally edited conffile is kept.
    echo "# local edit" >> /etc/onetrail/onetrail.yaml
    DEBIAN_FRONTEND=noninteractive dpkg -i --force-confold "$deb" >/dev/null
    grep -q '^# local edit' /etc/onetrail/onetrail.yaml || fail "upgrade replaced the edited conffile"
    touch /var/lib/onetrail/checkpoints.json
    dpkg --purge onetrail >/dev/null
    [ ! -e /var/lib/onetrail ] || fail "purge left /var/lib/onetrail"
    [ ! -e /etc/onetrail ] || fail "purge left /etc/onetrail"
    [ ! -e /etc/systemd/system/multi-user.target.wants/onetrail.service ] || fail "purge left the unit enabled"
    echo "    install, user, permissions, purge: ok"
  fi
fi
echo "package check: ok"

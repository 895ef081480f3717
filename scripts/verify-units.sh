#!/bin/sh
# Verifies systemd/sentimentd.service and systemd/sentimentd.socket with `systemd-analyze verify` and prints the
# service's `systemd-analyze security` exposure score.
#
# systemd-analyze verify exits 0 even when it finds problems, so this script fails on ANY line it prints.
# Verify also checks that ExecStart/ExecReload binaries exist; the units are therefore checked inside a temporary
# root that has /usr/local/bin/sentimentd, /bin/kill and a copy of the system's unit directory.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
command -v systemd-analyze >/dev/null 2>&1 || { echo "systemd-analyze not found (package systemd)" >&2; exit 2; }

root=$(mktemp -d "${TMPDIR:-/tmp}/sentimentd-units.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/etc/systemd/system" "$root/usr/local/bin" "$root/bin" "$root/usr/lib/systemd"
cp "$here/systemd/sentimentd.service" "$here/systemd/sentimentd.socket" "$root/etc/systemd/system/"
for d in /usr/lib/systemd/system /lib/systemd/system; do
    if [ -d "$d" ]; then cp -r "$d" "$root/usr/lib/systemd/system"; break; fi
done
printf '#!/bin/sh\n' > "$root/usr/local/bin/sentimentd"
printf '#!/bin/sh\n' > "$root/bin/kill"
chmod 755 "$root/usr/local/bin/sentimentd" "$root/bin/kill"

out=$(systemd-analyze verify --man=no --root="$root" sentimentd.service sentimentd.socket 2>&1) || {
    echo "$out"; echo "systemd-analyze verify failed" >&2; exit 1; }
if [ -n "$out" ]; then
    echo "$out"
    echo "systemd-analyze verify printed warnings (see above)" >&2
    exit 1
fi
echo "verify: sentimentd.service and sentimentd.socket OK (no output)"
systemd-analyze security --offline=true --root="$root" --no-pager sentimentd.service 2>&1 | grep "Overall exposure level"

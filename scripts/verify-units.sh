#!/bin/sh
# Verifies systemd/sentimentd.service, sentimentd.socket and sentimentd-http.socket (or those in the folder given,
# e.g. an installed package's lib/systemd/system) with `systemd-analyze verify` and prints the service's
# `systemd-analyze security` exposure score.
#
# Usage: scripts/verify-units.sh [UNIT_DIR]
#
# systemd-analyze verify exits 0 even when it finds problems, so this script fails on ANY line it prints.
# Verify also checks that the programs of Exec*= lines exist; the units are therefore checked inside a temporary
# root that has a stub for each of those programs and a copy of the system's unit directory.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
units=${1:-$here/systemd}
command -v systemd-analyze >/dev/null 2>&1 || { echo "systemd-analyze not found (package systemd)" >&2; exit 2; }

root=$(mktemp -d "${TMPDIR:-/tmp}/sentimentd-units.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/etc/systemd/system" "$root/usr/lib/systemd"
cp "$units/sentimentd.service" "$units/sentimentd.socket" "$units/sentimentd-http.socket" "$root/etc/systemd/system/"
for d in /usr/lib/systemd/system /lib/systemd/system; do
    if [ -d "$d" ]; then cp -r "$d" "$root/usr/lib/systemd/system"; break; fi
done
# A stub for every program an Exec*= line starts (its first word, past systemd's prefixes such as "-").
for program in $(sed -n 's/^Exec[A-Za-z]*=[-@:+!]*\([^ ]*\).*/\1/p' "$units/sentimentd.service" | sort -u); do
    mkdir -p "$root$(dirname "$program")"
    printf '#!/bin/sh\n' > "$root$program"
    chmod 755 "$root$program"
done

out=$(systemd-analyze verify --man=no --root="$root" sentimentd.service sentimentd.socket sentimentd-http.socket 2>&1) || {
    echo "$out"; echo "systemd-analyze verify failed" >&2; exit 1; }
if [ -n "$out" ]; then
    echo "$out"
    echo "systemd-analyze verify printed warnings (see above)" >&2
    exit 1
fi
echo "verify: sentimentd.service, sentimentd.socket and sentimentd-http.socket OK (no output)"
systemd-analyze security --offline=true --root="$root" --no-pager sentimentd.service 2>&1 | grep "Overall exposure level"

#!/usr/bin/env bash
# Installs sentimentd as a system service:
#   binaries        -> $PREFIX/bin/sentimentd, $PREFIX/bin/sentimentctl      (PREFIX=/usr/local)
#   units           -> /etc/systemd/system/sentimentd.service, sentimentd.socket, sentimentd-http.socket (not
#                      enabled) (ExecStart= names $PREFIX/bin)
#   configuration   -> /etc/sentimentd/sentimentd.conf (an existing file is kept; the new one goes to .new)
#   base model      -> /var/lib/sentimentd/bases/all-MiniLM-L6-v2 (from vendor-models/, scripts/fetch-minilm.sh)
#   default model   -> /var/lib/sentimentd/models/<the shipped adapter> (only when the models directory is empty)
#   user and groups -> /etc/sysusers.d/sentimentd.conf (systemd/sentimentd.sysusers, the file the Debian package
#                      ships too), applied by systemd-sysusers: user and group "sentimentd" (may connect: readers),
#                      group "sentimentd-label" (may add labels), group "sentimentd-admin" (may train, activate,
#                      roll back); folders: /etc/tmpfiles.d/sentimentd.conf
#
# The Debian package (scripts/package-deb.sh) installs the same units, configuration and accounts without a
# toolchain on the server; uninstall this first (it keeps /etc/sentimentd and /var/lib/sentimentd) before
# installing the package, or the units here override the package's.
#
# Usage: scripts/install.sh [--dry-run] [--no-build] [--prefix DIR]    install (run as root, or --dry-run as anyone)
#        scripts/install.sh --uninstall [--purge] [--dry-run]          remove binaries, units and the user;
#                                                                       --purge also deletes /etc/sentimentd and
#                                                                       /var/lib/sentimentd (models, labels, runs)
# --dry-run prints every command instead of running it.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=/usr/local
dry=0
build=1
uninstall=0
purge=0
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) dry=1 ;;
        --no-build) build=0 ;;
        --prefix) prefix="$2"; shift ;;
        --prefix=*) prefix="${1#--prefix=}" ;;
        --uninstall) uninstall=1 ;;
        --purge) purge=1 ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

run() {
    if [ "$dry" = 1 ]; then
        printf '+'; printf ' %q' "$@"; printf '\n'
    else
        "$@"
    fi
}

if [ "$dry" = 0 ] && [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (or with --dry-run to see what it would do)" >&2
    exit 1
fi

units=/etc/systemd/system
state=/var/lib/sentimentd
have_systemd=0
[ -d /run/systemd/system ] && have_systemd=1

if [ "$uninstall" = 1 ]; then
    if [ "$have_systemd" = 1 ]; then
        run systemctl disable --now sentimentd-http.socket sentimentd.socket sentimentd.service || true
    fi
    run rm -f "$units/sentimentd.service" "$units/sentimentd.socket" "$units/sentimentd-http.socket"
    run rm -f "$prefix/bin/sentimentd" "$prefix/bin/sentimentctl"
    [ "$have_systemd" = 1 ] && run systemctl daemon-reload
    run rm -f /etc/sysusers.d/sentimentd.conf /etc/tmpfiles.d/sentimentd.conf
    if id -u sentimentd >/dev/null 2>&1 || [ "$dry" = 1 ]; then run userdel sentimentd || true; fi
    for group in $(awk '$1 == "g" { print $2 }' systemd/sentimentd.sysusers); do
        if getent group "$group" >/dev/null 2>&1 || [ "$dry" = 1 ]; then run groupdel "$group" || true; fi
    done
    if [ "$purge" = 1 ]; then
        run rm -rf /etc/sentimentd "$state"
    else
        echo "kept /etc/sentimentd and $state (models, labels, runs); --purge removes them"
    fi
    exit 0
fi

if [ "$build" = 1 ]; then
    run swift build -c release --product sentimentd
    run swift build -c release --product sentimentctl
fi
bin=$(swift build -c release --show-bin-path 2>/dev/null || echo .build/release)
run install -d "$prefix/bin"
run install -m 0755 "$bin/sentimentd" "$prefix/bin/sentimentd"
run install -m 0755 "$bin/sentimentctl" "$prefix/bin/sentimentctl"

# User, groups and state folders, from the same sysusers.d and tmpfiles.d files the Debian package ships.
command -v systemd-sysusers >/dev/null || { echo "install.sh: systemd-sysusers not found (package systemd)" >&2; exit 1; }
run install -D -m 0644 systemd/sentimentd.sysusers /etc/sysusers.d/sentimentd.conf
run install -D -m 0644 systemd/sentimentd.tmpfiles /etc/tmpfiles.d/sentimentd.conf
run systemd-sysusers sentimentd.conf
run systemd-tmpfiles --create sentimentd.conf

# Units: written for the Debian package's /usr/bin; the programs they start are moved to $prefix/bin here.
tmpunit=$(mktemp)
trap 'rm -f "$tmpunit"' EXIT
# sentimentd-http.socket (HTTP on TCP) is installed, not enabled (README, "HTTP API").
for unit in sentimentd.service sentimentd.socket sentimentd-http.socket; do
    sed -E "s#^(Exec[A-Za-z]*=[-@:+!]*)/usr/bin/(sentimentd|sentimentctl)( |\$)#\1$prefix/bin/\2\3#" \
        "systemd/$unit" > "$tmpunit"
    run install -m 0644 "$tmpunit" "$units/$unit"
    if [ "$dry" = 1 ]; then grep -E '^Exec[A-Za-z]*=' "$tmpunit" | sed "s|^|  $unit: |" || true; fi
done

# Configuration: never overwrite an administrator's file.
run install -d -m 0755 /etc/sentimentd
if [ -e /etc/sentimentd/sentimentd.conf ]; then
    run install -m 0644 etc/sentimentd.conf /etc/sentimentd/sentimentd.conf.new
    echo "kept /etc/sentimentd/sentimentd.conf; the shipped one is /etc/sentimentd/sentimentd.conf.new"
else
    run install -m 0644 etc/sentimentd.conf /etc/sentimentd/sentimentd.conf
fi

# Base model and the shipped default adapter.
if [ -f vendor-models/all-MiniLM-L6-v2/model.safetensors ]; then
    run rm -rf "$state/bases/all-MiniLM-L6-v2"
    run cp -r vendor-models/all-MiniLM-L6-v2 "$state/bases/all-MiniLM-L6-v2"
    run chown -R sentimentd:sentimentd "$state/bases/all-MiniLM-L6-v2"
else
    echo "vendor-models/all-MiniLM-L6-v2 is missing: run scripts/fetch-minilm.sh first for the default model's base" >&2
fi
for model in models/*/; do
    name=$(basename "$model")
    [ -f "$model/adapter_config.json" ] || [ -f "$model/config.json" ] || continue
    if [ -z "$(ls -A "$state/models" 2>/dev/null)" ] || [ "$dry" = 1 ]; then
        run cp -r "$model" "$state/models/$name"
        run chown -R sentimentd:sentimentd "$state/models/$name"
    fi
done

if [ "$have_systemd" = 1 ]; then
    run systemctl daemon-reload
    run systemctl enable --now sentimentd.socket
    run systemctl start sentimentd.service
    echo "sentimentd is running: sentimentctl status (members of group sentimentd may connect)"
else
    echo "installed; systemd is not running here: start with  $prefix/bin/sentimentd serve"
fi

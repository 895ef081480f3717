#!/usr/bin/env bash
# Installs sentimentd as a system service:
#   binaries        -> $PREFIX/bin/sentimentd, $PREFIX/bin/sentimentctl      (PREFIX=/usr/local)
#   units           -> /etc/systemd/system/sentimentd.service, sentimentd.socket
#   configuration   -> /etc/sentimentd/sentimentd.conf (an existing file is kept; the new one goes to .new)
#   base model      -> /var/lib/sentimentd/bases/all-MiniLM-L6-v2 (from vendor-models/, scripts/fetch-minilm.sh)
#   default model   -> /var/lib/sentimentd/models/<the shipped adapter> (only when the models directory is empty)
#   user and groups -> system user and group "sentimentd" (may connect: readers), group "sentimentd-label"
#                      (may add labels), group "sentimentd-admin" (may train, activate, roll back)
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
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
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
        run systemctl disable --now sentimentd.socket sentimentd.service || true
    fi
    run rm -f "$units/sentimentd.service" "$units/sentimentd.socket"
    run rm -f "$prefix/bin/sentimentd" "$prefix/bin/sentimentctl"
    [ "$have_systemd" = 1 ] && run systemctl daemon-reload
    if id -u sentimentd >/dev/null 2>&1 || [ "$dry" = 1 ]; then run userdel sentimentd || true; fi
    if getent group sentimentd-admin >/dev/null 2>&1 || [ "$dry" = 1 ]; then run groupdel sentimentd-admin || true; fi
    if getent group sentimentd-label >/dev/null 2>&1 || [ "$dry" = 1 ]; then run groupdel sentimentd-label || true; fi
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

# User and groups.
if ! getent group sentimentd >/dev/null 2>&1; then run groupadd --system sentimentd; fi
if ! id -u sentimentd >/dev/null 2>&1; then
    run useradd --system --gid sentimentd --home-dir "$state" --no-create-home --shell /usr/sbin/nologin \
        --comment "sentimentd service" sentimentd
fi
if ! getent group sentimentd-admin >/dev/null 2>&1; then run groupadd --system sentimentd-admin; fi
if ! getent group sentimentd-label >/dev/null 2>&1; then run groupadd --system sentimentd-label; fi

# Units (ExecStart names $prefix/bin/sentimentd).
tmpunit=$(mktemp)
trap 'rm -f "$tmpunit"' EXIT
sed "s|^ExecStart=/usr/local/bin/sentimentd|ExecStart=$prefix/bin/sentimentd|" systemd/sentimentd.service > "$tmpunit"
run install -m 0644 "$tmpunit" "$units/sentimentd.service"
run install -m 0644 systemd/sentimentd.socket "$units/sentimentd.socket"

# Configuration: never overwrite an administrator's file.
run install -d -m 0755 /etc/sentimentd
if [ -e /etc/sentimentd/sentimentd.conf ]; then
    run install -m 0644 etc/sentimentd.conf /etc/sentimentd/sentimentd.conf.new
    echo "kept /etc/sentimentd/sentimentd.conf; the shipped one is /etc/sentimentd/sentimentd.conf.new"
else
    run install -m 0644 etc/sentimentd.conf /etc/sentimentd/sentimentd.conf
fi

# Base model and the shipped default adapter.
run install -d -m 0750 -o sentimentd -g sentimentd "$state" "$state/models" "$state/bases"
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

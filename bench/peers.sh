# Sourced by the bench/run-*.sh scripts that run Python peers: `py` (the venv's python; VENV, default .venv,
# from tools/setup-venv.sh) and `work` (a temporary folder removed at exit), with the peers' scripts (the folder
# `peers` beside $SENTIMENTD_SHARED_DATA, see scripts/shared-data.sh) copied into it when `copy_peers` is called
# (they write files next to themselves).
. scripts/shared-data.sh
VENV=${VENV:-.venv}
py="$VENV/bin/python"
[ -x "$py" ] || { echo "no venv at $VENV: run tools/setup-venv.sh (or set VENV)" >&2; exit 2; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

copy_peers() {
    local src
    src=$(dirname "$SENTIMENTD_SHARED_DATA")/peers
    [ -d "$src" ] || { echo "no $src: the peers' scripts are not available here" >&2; exit 2; }
    cp "$src"/*.py "$work"/
}

# copy_peers, the release sentimentd (built in $SCRATCH, default .build), and ONNX Runtime's models of the
# RoBERTa-base dims (bench_onnx.py export: fp32, fused, and their quantize_dynamic int8 versions) in "$work".
prepare_onnx_peers() {
    copy_peers
    swift build --scratch-path "${SCRATCH:-.build}" -c release --product sentimentd >/dev/null
    (cd "$work" && "$py" bench_onnx.py export >/dev/null 2>&1)
}

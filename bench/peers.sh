# Sourced by the bench/run-*.sh scripts that run Python peers: `py` (the venv's python; VENV, default .venv,
# from tools/setup-venv.sh) and `work` (a temporary folder removed at exit), with ../shared/peers' scripts
# copied into it when `copy_peers` is called (they write files next to themselves).
VENV=${VENV:-.venv}
py="$VENV/bin/python"
[ -x "$py" ] || { echo "no venv at $VENV: run tools/setup-venv.sh (or set VENV)" >&2; exit 2; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

copy_peers() {
    local src=../shared/peers
    [ -d "$src" ] || { echo "no $src: the peers' scripts are not available here" >&2; exit 2; }
    cp "$src"/*.py "$work"/
}

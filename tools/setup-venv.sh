#!/usr/bin/env bash
# Creates the Python virtual environment the tools/ scripts need (fixture generators and checks).
# swift build / swift test never need it. Usage, from anywhere:
#
#   PIP_FIND_LINKS=/folder/with/wheels tools/setup-venv.sh      # venv at ./.venv (git-ignored)
#   VENV=/some/where PIP_FIND_LINKS=... tools/setup-venv.sh     # another location
#
# PIP_FIND_LINKS must name a folder holding the CPU build of torch (torch-*+cpu*.whl) for this
# Python: the default PyPI torch wheel pulls in gigabytes of CUDA libraries. The other packages
# (transformers 5.x, safetensors, onnxruntime, tensorboard) come from the package index.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

if [ -z "${PIP_FIND_LINKS:-}" ]; then
    echo "error: PIP_FIND_LINKS is not set; point it at a folder holding torch-*+cpu*.whl" >&2
    exit 1
fi
if [ ! -d "$PIP_FIND_LINKS" ]; then
    echo "error: PIP_FIND_LINKS=$PIP_FIND_LINKS is not a directory" >&2
    exit 1
fi
if ! command -v "$PYTHON" >/dev/null; then
    echo "error: $PYTHON not found (set PYTHON=...)" >&2
    exit 1
fi

# The wheel must match this interpreter (cp311 for Python 3.11, ...).
tag=$("$PYTHON" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
shopt -s nullglob
wheels=("$PIP_FIND_LINKS"/torch-*+cpu*-"$tag"-*.whl)
shopt -u nullglob
if [ ${#wheels[@]} -eq 0 ]; then
    echo "error: no CPU torch wheel for $tag in $PIP_FIND_LINKS (expected torch-*+cpu*-$tag-*.whl); found:" >&2
    ls "$PIP_FIND_LINKS" >&2 || true
    exit 1
fi
wheel=$(printf '%s\n' "${wheels[@]}" | sort -V | tail -n 1)

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet "$wheel"
"$VENV/bin/python" -m pip install --quiet "transformers>=5,<6" safetensors onnxruntime onnx tensorboard peft
"$VENV/bin/python" - <<'PY'
import torch, transformers, safetensors, onnxruntime, tensorboard, peft
print(f"torch {torch.__version__}, transformers {transformers.__version__}, safetensors {safetensors.__version__}, "
      f"onnxruntime {onnxruntime.__version__}, tensorboard {tensorboard.__version__}")
assert "+cpu" in torch.__version__, "torch is not the CPU build"
PY
echo "venv ready: $VENV (run the tools with $VENV/bin/python tools/...)"

#!/usr/bin/env bash
# Batch-1 latency, sentimentd against ONNX Runtime fp32, alternating round after round in one sitting:
# on a shared 2-core VM a single pass of each can land in different noise; the medians over rounds compare.
#   bench/run-latency.sh [ROUNDS]        (needs tools/setup-venv.sh's venv, or VENV=path; default 5 rounds)
# Writes bench/results/results-latency-<date>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
. bench/peers.sh
prepare_onnx_peers
out=bench/results/results-latency-$(date +%Y%m%d-%H%M).txt
{
    echo "# $(date -u +%FT%TZ) $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); $rounds rounds"
    for r in $(seq "$rounds"); do
        echo "## round $r"
        .build/release/sentimentd bench --latency-only | grep -E '^(dense layers|latency)'
        SENTIMENTD_KERNELS=openblas .build/release/sentimentd bench --latency-only | grep -E '^latency' | sed 's/^/openblas-only /'
        "$py" bench/ort_latency.py "$work" 16 32 64 128
    done
} 2>&1 | tee "$out"
echo "written: $out"

#!/usr/bin/env bash
# Runs sentimentd's benchmark and the peers (PyTorch eager fp32, ONNX Runtime fp32 and fused fp32)
# one after the other in the same sitting, so that their ratios mean something on this machine.
#   bench/run-side-by-side.sh [infer|train|all]       (needs tools/setup-venv.sh's venv, or VENV=path)
# The peers' scripts are read from the shared data's sibling folder peers/ (scripts/shared-data.sh; copied to a
# temporary folder: they write files).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-infer}
. bench/peers.sh
require_shared_data tweet-sentiment/val_text.txt roberta-tokenizer/vocab.json
copy_peers
tweets=$SENTIMENTD_SHARED_DATA/tweet-sentiment/val_text.txt
tok=$SENTIMENTD_SHARED_DATA/roberta-tokenizer
swift build -c release --product sentimentd >/dev/null
out=bench/results/results-$(date +%Y%m%d-%H%M).txt
{
    echo "# $(date -u +%FT%TZ) $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
    if [ "$what" = infer ] || [ "$what" = all ]; then
        echo "## sentimentd bench"
        .build/release/sentimentd bench --tweets "$tweets" --tokenizer "$tok"
        echo "## PyTorch eager fp32"
        (cd "$work" && "$py" bench_torch_infer.py fp32)
        echo "## ONNX Runtime"
        (cd "$work" && "$py" bench_onnx.py export >/dev/null 2>&1 && "$py" bench_onnx.py run fp32 && "$py" bench_onnx.py run opt)
        echo "## PyTorch eager fp32, end-to-end over the val tweets (batch 32 padded to the longest)"
        "$py" bench/torch_tweets.py "$tweets" "$tok"
    fi
    if [ "$what" = train ] || [ "$what" = all ]; then
        echo "## sentimentd bench --train"
        .build/release/sentimentd bench --train
        echo "## PyTorch training step"
        (cd "$work" && "$py" bench_train.py full 128 && "$py" bench_train.py full 64)
    fi
} 2>&1 | tee "$out"
echo "written: $out"

#!/usr/bin/env bash
# int8 side by side: sentimentd --precision int8 (and fp32) against ONNX Runtime's quantize_dynamic model of the
# same RoBERTa-base dims, in one sitting, so that the ratios mean something on this machine.
#   bench/run-int8.sh [ROUNDS]     (needs tools/setup-venv.sh's venv with onnxruntime, or VENV=path; default 5
#                                   rounds of the alternating batch-1 latencies; SCRATCH=dir builds there, as
#                                   bench/run-serving.sh does)
# Also: the int8 units' peak and the kernels' rates (bench --int8-peak, --gemm), and the default model's int8
# accuracy on the validation tweets (bench --accuracy; needs scripts/fetch-minilm.sh).
# Writes bench/results/results-int8-<date>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
. bench/peers.sh
require_shared_data tweet-sentiment/val_text.txt roberta-tokenizer/vocab.json
prepare_onnx_peers
sd=${SCRATCH:-.build}/release/sentimentd
tweets=$SENTIMENTD_SHARED_DATA/tweet-sentiment/val_text.txt
tok=$SENTIMENTD_SHARED_DATA/roberta-tokenizer
out=bench/results/results-int8-$(date +%Y%m%d-%H%M).txt
{
    echo "# $(date -u +%FT%TZ) $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); int8 paths: $(grep -o -w -E 'avx2|avx512_vnni|avx_vnni' /proc/cpuinfo | sort -u | tr '\n' ' ')"
    echo "## sentimentd bench --precision int8"
    "$sd" bench --precision int8 --tweets "$tweets" --tokenizer "$tok"
    echo "## ONNX Runtime int8 (quantize_dynamic)"
    (cd "$work" && "$py" bench_onnx.py run int8)
    "$py" "$work/ort_tweets.py" "$tweets" "$tok" int8
    echo "## sentimentd bench (fp32)"
    "$sd" bench --tweets "$tweets" --tokenizer "$tok"
    for r in $(seq "$rounds"); do
        echo "## latency round $r"
        "$sd" bench --precision int8 --latency-only | grep -E '^latency' | sed 's/^/int8 /'
        ORT_VARIANT=int8 "$py" bench/ort_latency.py "$work" 16 32 64 128
    done
    echo "## int8 units and kernels"
    "$sd" bench --int8-peak
    "$sd" bench --gemm | grep -E '^gemm'
    if [ -f vendor-models/all-MiniLM-L6-v2/model.safetensors ]; then
        echo "## the default model, int8 against fp32"
        "$sd" bench --accuracy --model models/tweet-sentiment-minilm-lora --tweets "$tweets" \
            --labels "$SENTIMENTD_SHARED_DATA/tweet-sentiment/val_labels.txt"
    fi
} 2>&1 | tee "$out"
echo "written: $out"

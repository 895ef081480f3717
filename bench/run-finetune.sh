#!/usr/bin/env bash
# The fine-tuning reference recipe (BASELINES.md: all-MiniLM-L6-v2 on the 47,650 training tweets, batch 16,
# lr 5e-5, 6 % warm-up then linear decay over 2 epochs, weight decay 0.01, max length 128, seed 42) run by
# `sentimentd finetune` and by the PyTorch peer (bench/torch_finetune.py), one after the other in the same
# sitting, both stopped after the same number of optimizer steps and evaluated on the 2,000 val tweets.
#   bench/run-finetune.sh [STEPS]      (default 600; 0 runs both full 2-epoch runs: about 1 h 40 min here)
# Needs the MiniLM folder (scripts/fetch-minilm.sh) and tools/setup-venv.sh's venv (or VENV=path).
# Writes bench/results/results-finetune-<date>.txt; the models go to a temporary folder.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-600}
. bench/peers.sh
base=vendor-models/all-MiniLM-L6-v2
[ -f "$base/model.safetensors" ] || { echo "no $base: run scripts/fetch-minilm.sh" >&2; exit 2; }
require_shared_data tweet-sentiment/train_text.txt tweet-sentiment/val_text.txt
data=$SENTIMENTD_SHARED_DATA/tweet-sentiment
swift build -c release --product sentimentd >/dev/null
stop=(); [ "$steps" -gt 0 ] && stop=(--stop-after-steps "$steps")
maxsteps=(); [ "$steps" -gt 0 ] && maxsteps=(--max-steps "$steps")
out=bench/results/results-finetune-$(date +%Y%m%d-%H%M).txt
{
    echo "# $(date -u +%FT%TZ) $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); steps: ${steps:-all}"
    echo "## sentimentd finetune"
    /usr/bin/time -f "wall %e s, peak RSS %M KiB" .build/release/sentimentd finetune --base "$base" \
        --train "$data/train_text.txt" --val "$data/val_text.txt" --out "$work/sentimentd" \
        --epochs 2 --batch-size 16 --lr 5e-5 --warmup-ratio 0.06 --weight-decay 0.01 --max-length 128 --seed 42 \
        "${stop[@]}" 2>&1 | tr '\r' '\n' | grep -v '^epoch [0-9]*/[0-9]*  step' || true
    echo "## PyTorch eager fp32 (bench/torch_finetune.py)"
    /usr/bin/time -f "wall %e s, peak RSS %M KiB" "$py" bench/torch_finetune.py --base "$base" \
        --train "$data/train_text.txt" --val "$data/val_text.txt" --epochs 2 "${maxsteps[@]}" 2>&1 \
        | grep -E '^(step|epoch|wall)' || true
} 2>&1 | sed -e "s|$PWD/||g" -e "s|$work|<tmp>|g" | tee "$out"   # no paths of this machine in the results
echo "written: $out"

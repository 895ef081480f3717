#!/usr/bin/env bash
# Builds sentimentd in release mode and runs `sentimentd bench --serving` (the real daemon through its socket:
# cold start to READY=1, 1/8/32 closed-loop clients against the same model in process, hot reloads under load),
# writing bench/results/results-serving-<date>.txt and, next to it, the same numbers as JSON.
#   bench/run-serving.sh [extra options for sentimentd bench --serving, e.g. --seconds 20 --reloads 10]
#   SCRATCH=.build-mine bench/run-serving.sh     (another build folder; default .build)
# Needs the tweets and the RoBERTa tokenizer files of the shared data (SENTIMENTD_SHARED_DATA, see
# scripts/shared-data.sh).
# Run it on a quiet machine: every line reports other_cores, the CPU other processes took meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/shared-data.sh
require_shared_data tweet-sentiment/val_text.txt roberta-tokenizer/vocab.json
SCRATCH=${SCRATCH:-.build}
swift build --scratch-path "$SCRATCH" -c release --product sentimentd >/dev/null
bin="$SCRATCH/release/sentimentd"
stamp=$(date +%Y%m%d-%H%M)
out=bench/results/results-serving-$stamp.txt
{
    echo "# $(date -u +%FT%TZ) $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
    echo "# commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)'); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "## sentimentd bench --serving $*"
    "$bin" bench --serving --json "bench/results/results-serving-$stamp.json" \
        --tweets "$SENTIMENTD_SHARED_DATA/tweet-sentiment/val_text.txt" --tokenizer "$SENTIMENTD_SHARED_DATA/roberta-tokenizer" "$@"
} 2>&1 | sed -e "s|$PWD/||g" -e "s|$SENTIMENTD_SHARED_DATA/|shared-data/|g" | tee "$out"   # no paths of this machine in the results
echo "written: $out"

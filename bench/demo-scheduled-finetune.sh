#!/usr/bin/env bash
# The labels -> schedule -> gate -> hot reload loop on real data, with the predict latency while training runs.
#
# Starts sentimentd (release build) in a temporary folder serving the shipped default model
# (models/tweet-sentiment-minilm-lora over vendor-models/all-MiniLM-L6-v2), measures single-tweet predict
# latency for STEADY seconds, imports the first N_LABELS TweetEval training tweets with `sentimentctl import`
# (chunked), lets the schedule start a LoRA run (every = 5s, min_new_labels = N_LABELS/2), measures predict
# latency while the worker trains, and prints the run (gate scores on the frozen eval split) and both latency
# summaries. Needs: a release build, scripts/fetch-minilm.sh, the shared data's tweet-sentiment/
# (SENTIMENTD_SHARED_DATA, see scripts/shared-data.sh).
#
# Usage: bench/demo-scheduled-finetune.sh [N_LABELS=4000] [STEADY=20]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-4000}
steady=${2:-20}
. scripts/shared-data.sh
require_shared_data tweet-sentiment/train_text.txt
data=$SENTIMENTD_SHARED_DATA/tweet-sentiment
bin=.build/release
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sentimentd-demo.XXXXXX")
trap 'kill $daemon 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/models"
cp -r models/tweet-sentiment-minilm-lora "$tmp/models/"
cat > "$tmp/sentimentd.conf" <<CONF
[server]
socket = "$tmp/s.sock"
admin_group = ""
[models]
directory = "$tmp/models"
base_directories = ["$PWD/vendor-models"]
settle_ms = 500
[store]
database = "$tmp/state.sqlite"
[training]
every = "5s"
min_new_labels = $((n / 2))
method = "lora"
learning_rate = 0.0005
epochs = 1
batch_size = 32
max_length = 64
replay_ratio = 0.0
gate_tolerance = 0.005
CONF
head -n "$n" "$data/train_text.txt" > "$tmp/demo_text.txt"
head -n "$n" "$data/train_labels.txt" > "$tmp/demo_labels.txt"
"$bin/sentimentd" serve --config "$tmp/sentimentd.conf" 2> "$tmp/daemon.log" &
daemon=$!
export SENTIMENTD_SOCKET="$tmp/s.sock"
for _ in $(seq 100); do "$bin/sentimentctl" status >/dev/null 2>&1 && break; sleep 0.2; done

latency() {  # latency <seconds> <label>: one client, one val tweet per request, closed loop
python3 - "$tmp/s.sock" "$data/val_text.txt" "$1" "$2" "$bin/sentimentctl" <<'PY'
import json, socket, sys, time, subprocess
path, tweets, seconds, label, ctl = sys.argv[1], open(sys.argv[2]).read().split("\n"), float(sys.argv[3]), sys.argv[4], sys.argv[5]
s = socket.socket(socket.AF_UNIX); s.connect(path); f = s.makefile("rwb")
lat, i, end, training_seen = [], 0, time.time() + seconds, set()
while time.time() < end:
    t = tweets[i % 2000]; i += 1
    t0 = time.perf_counter()
    f.write((json.dumps({"jsonrpc": "2.0", "id": i, "method": "predict", "params": {"texts": [t]}}) + "\n").encode()); f.flush()
    r = json.loads(f.readline()); dt = time.perf_counter() - t0
    assert "result" in r, r
    lat.append(dt * 1000)
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print(f"{label}: {len(lat)} requests, {len(lat)/seconds:.1f}/s, p50 {q(0.5):.1f} ms, p99 {q(0.99):.1f} ms, max {lat[-1]:.1f} ms")
PY
}

echo "== steady state (no training)"
latency "$steady" "predict, steady"
echo "== import $n labelled tweets"
/usr/bin/time -f "import took %e s" "$bin/sentimentctl" import "$tmp/demo_text.txt"
"$bin/sentimentctl" labels stats
echo "== waiting for the schedule to start a run"
for _ in $(seq 120); do
    st=$("$bin/sentimentctl" runs --json | python3 -c 'import json,sys; r=json.load(sys.stdin)["runs"]; print(r[0]["status"] if r else "none")')
    [ "$st" = running ] && break; sleep 0.5
done
echo "== predict latency while the worker trains"
latency "$steady" "predict, during training"
echo "== waiting for the run to end"
for _ in $(seq 3600); do
    st=$("$bin/sentimentctl" runs --json | python3 -c 'import json,sys; r=json.load(sys.stdin)["runs"]; print(r[0]["status"])')
    case "$st" in running|queued) sleep 1 ;; *) break ;; esac
done
"$bin/sentimentctl" runs
"$bin/sentimentctl" runs show 1
sleep 2
"$bin/sentimentctl" status

#!/usr/bin/env bash
# Writes Tests/Fixtures/releases/sentimentd-<version>.sqlite: the database a released sentimentd leaves behind after a
# little use, for the upgrade tests (scripts/test-deb.sh and SentimentStoreTests' ReleasedDatabaseTests check that
# newer binaries open and migrate it with nothing lost). Run it once per release, with that release's binaries:
#
#   git checkout <release>; swift build; tools/make-upgrade-fixture.sh .build/debug     (needs sqlite3)
#
# What it does with the real daemon and client (no Python, no network): serves the shipped default model
# (models/tweet-sentiment-minilm-lora over vendor-models/all-MiniLM-L6-v2, scripts/fetch-minilm.sh), drops in a
# broken model folder (a rejected version), adds labels one by one, imports 320 more (written here, not taken
# from any data set, so the file may be redistributed), relabels a text, activates the default model by hand,
# runs one fine-tuning run with a learning rate meant to be rejected by the gate (so no new model folder is
# needed beside the database), and stops the daemon cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:?usage: tools/make-upgrade-fixture.sh BIN_DIR (holding sentimentd and sentimentctl of the release)}
bin=$(cd "$bin" && pwd)
version=$("$bin/sentimentd" --version)
out=Tests/Fixtures/releases/sentimentd-$version.sqlite
base=vendor-models/all-MiniLM-L6-v2
[ -f "$base/model.safetensors" ] || { echo "run scripts/fetch-minilm.sh first" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/sentimentd-fixture.XXXXXX")
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/models" "$work/bases"
cp -R models/tweet-sentiment-minilm-lora "$work/models/"
cp -R "$base" "$work/bases/all-MiniLM-L6-v2"
cat > "$work/sentimentd.conf" <<EOF
[server]
socket = "$work/s.sock"
admin_group = ""
[models]
directory = "$work/models"
base_directories = ["$work/bases"]
settle_ms = 300
[store]
database = "$work/sentimentd.sqlite"
[labels]
eval_fraction = 0.2
[training]
enabled = false
method = "lora"
epochs = 1
batch_size = 16
max_length = 32
gate_tolerance = 0.0
min_eval_labels = 20
threads = 2
EOF

"$bin/sentimentd" serve --config "$work/sentimentd.conf" 2> "$work/daemon.log" &
pid=$!
ctl() { "$bin/sentimentctl" --socket "$work/s.sock" "$@"; }
wait_for() { # seconds command...
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || { echo "timed out: $*" >&2; cat "$work/daemon.log" >&2; exit 1; }
        sleep 0.5
    done
}
serving() { ctl status --json | grep -q '"active_model" : "tweet-sentiment-minilm-lora"'; }
wait_for 300 serving

# A version that is rejected (its config is not JSON).
mkdir "$work/models/.broken-upload"
echo "not json" > "$work/models/.broken-upload/config.json"
mv "$work/models/.broken-upload" "$work/models/broken-upload"
rejected() { ctl models --json | grep -q '"rejected"'; }
wait_for 120 rejected

ctl label "the new update is wonderful" --as positive
ctl label "my order arrived broken and late" --as negative
ctl label "the store opens at nine" --as neutral

# 320 short texts written for the purpose: subject x phrase, labelled by the phrase.
subjects=("the app" "this phone" "the hotel" "our flight" "the pizza" "the new album" "customer support"
    "the train" "this laptop" "the concert" "the parcel" "the meeting" "the weather app" "the delivery"
    "my bank" "the museum" "the update" "the coffee" "the film" "the game")
positive=("is absolutely brilliant" "made my whole day" "works perfectly, thank you" "was a lovely surprise"
    "is the best I have tried")
negative=("is a complete disaster" "broke again this morning" "was rude and useless" "ruined my evening"
    "is slow and keeps crashing")
neutral=("is scheduled for tuesday" "has a new version number" "is listed on page two" "moved to the third floor"
    "was mentioned in the report" "opens at 9am")
{
    for s in "${subjects[@]}"; do
        for p in "${positive[@]}"; do printf '{"text": "%s %s", "label": "positive"}\n' "$s" "$p"; done
        for p in "${negative[@]}"; do printf '{"text": "%s %s", "label": "negative"}\n' "$s" "$p"; done
        for p in "${neutral[@]}"; do printf '{"text": "%s %s", "label": "neutral"}\n' "$s" "$p"; done
    done
} > "$work/labels.jsonl"
ctl import "$work/labels.jsonl"
ctl label "the app is absolutely brilliant" --as neutral     # a relabel: recorded as a label change
ctl activate tweet-sentiment-minilm-lora || true             # already active: still an answer either way

# One run, with a learning rate large enough to wreck the adapter: the gate rejects it (exit 1 is expected).
ctl train --follow --learning-rate 0.5 --seed 7 || true
ctl runs
ctl labels stats
kill -TERM "$pid"
wait "$pid" || { echo "the daemon did not stop cleanly" >&2; cat "$work/daemon.log" >&2; exit 1; }
pid=
# The daemon may leave its writes in the WAL (SQLite reads them from there on the next open). One file is
# easier to keep: fold the WAL into it, exactly as the next open would, and let the last connection remove it.
sqlite3 "$work/sentimentd.sqlite" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
[ ! -s "$work/sentimentd.sqlite-wal" ] || { echo "the WAL could not be checkpointed" >&2; exit 1; }
[ "$(sqlite3 "$work/sentimentd.sqlite" "PRAGMA integrity_check")" = ok ] || { echo "integrity_check failed" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
cp "$work/sentimentd.sqlite" "$out.tmp"
sync "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out ($(wc -c < "$out") bytes) with sentimentd $version"

#!/usr/bin/env bash
# Fault run of every durable step: SIGKILL the daemon or its training worker at random moments of an import, a
# training run, a publish, an activation and a rollback, and fill the disk during an import, a publish and an
# activation; after each fault it checks the state the daemon comes back with.
#
#   scripts/faults.sh [--runs N] [--kinds K1,K2,...] [--table FILE] [--seed S] [--budget SECONDS] [--no-build]
#
# N runs of each kind (default 20). It prints the expected total at the start; --budget stops starting runs once
# that many seconds have passed (the table then says how many ran), so a run always ends in bounded time: the
# budget plus one run, each of whose waits is bounded too. Each kind's daemon log is kept in .build/faults/.
# Loopback only: the daemon listens on a Unix socket in a scratch folder on a
# small tmpfs this script mounts (root needed for the disk-full kinds; they are skipped, and said so, without it).
# Uses the debug binaries of `swift build` and the committed tiny RoBERTa fixture as the model.
#
# After every fault, before and after a restart:
#   integrity   PRAGMA integrity_check of the database is "ok"
#   lost        labels of imports the client saw acknowledged (sentimentctl import exited 0) that are not in the
#               database, plus imports found half applied (some of their labels in, some not)
#   half        the served version is a folder that is not complete (a manifest whose files do not match, or a
#               checkpoint file missing), or a version folder with a name but no complete checkpoint is listed
#   silent      a refused operation the client was told succeeded (exit 0 without its effect)
#   back        the daemon serves a prediction again (after a restart when it was the one killed)
# and, to show the faults bit, how many operations the client saw refused or cut off (refused).
# Kills are at a uniformly random moment of the operation (its length measured by a first, unfaulted run of the
# kind), except where a random moment would almost never land in the window that matters: the process is then
# paused at a point of the fault-injection seam (TestHooks: SENTIMENTD_TEST_PAUSE_AT) and killed there. Publish:
# always, worker:before-publish (manifest written in staging) and worker:after-publish (renamed into models/, run
# not yet marked) in turn; import, activation, rollback: every second run, at daemon:importing B (before the
# commit's transaction), daemon:activating V / daemon:activated V (before the record; recorded, before the swap)
# and daemon:rolling back V. The `seam` column counts those runs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

runs=20
budget=""
build=1
kinds_all="kill-daemon-import kill-daemon-training kill-worker-training kill-worker-publish kill-daemon-activation kill-daemon-rollback disk-full-import disk-full-publish disk-full-activation"
kinds=$kinds_all
table=""
seed=$RANDOM
while [[ $# -gt 0 ]]; do
    case $1 in
        --runs) runs=$2; shift 2 ;;
        --kinds) kinds=${2//,/ }; shift 2 ;;
        --table) table=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --budget) budget=$2; shift 2 ;;
        --no-build) build=0; shift ;;   # the debug binaries as they are (while another SwiftPM command holds .build)
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "faults.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
RANDOM=$seed

if [[ $build == 1 ]]; then
    swift build --product sentimentd >&2
    swift build --product sentimentctl >&2
fi
bin=$root/.build/debug
model=$root/Tests/Fixtures/models/tiny-roberta

# The daemon's state (models/, the database, the socket) on a small tmpfs the disk-full kinds fill; the script's own
# files (label files, the clients' answers, the log) beside it, so that a full disk never hits them.
scratch=$(mktemp -d /tmp/sentimentd-faults-XXXXXX)
chmod 755 "$scratch"
mkdir -p "$scratch/disk"
mounted=0
if [[ $(id -u) == 0 ]] && mount -t tmpfs -o size=48m,mode=755 sentimentd-faults "$scratch/disk"; then mounted=1; fi
daemon_pid=""
cleanup() {
    [[ -s $scratch/daemon.log ]] && { mkdir -p "$logs"; cp "$scratch/daemon.log" "$logs/last.log"; } || true
    [[ -n $daemon_pid ]] && kill -9 "$daemon_pid" 2>/dev/null || true
    pkill -9 -P "$$" 2>/dev/null || true
    if [[ $mounted == 1 ]]; then umount -l "$scratch/disk" || true; fi
    rm -rf "$scratch"
}
trap cleanup EXIT

disk=$scratch/disk
state=$disk/state
sock=$state/sentimentd.sock
conf=$scratch/sentimentd.conf
log=$scratch/daemon.log
acks=$scratch/acks   # one line per import the client saw acknowledged: TAG COUNT
logs=$root/.build/faults   # each kind's daemon log, kept after the run
# Copies of the binaries: a rebuild during the run must not change them under it.
cp "$bin/sentimentd" "$bin/sentimentctl" "$scratch/"
sentimentd=$scratch/sentimentd
ctl=$scratch/sentimentctl
export SENTIMENTD_SOCKET=$sock

write_config() {
    cat >"$conf" <<EOF
[server]
socket = "$sock"
admin_group = ""
labeller_group = ""
[models]
directory = "$state/models"
settle_ms = 200
[store]
database = "$state/state.sqlite"
[log]
level = "info"
[training]
enabled = false
min_new_labels = 50
min_eval_labels = 10
epochs = 2
batch_size = 16
learning_rate = 0.001
max_length = 24
gate_tolerance = 1.0
nice = 5
replay_ratio = 1.0
EOF
}

install_model() {   # VERSION
    local staging=$state/models/.staging-$1
    mkdir -p "$staging"
    cp "$model"/config.json "$model"/model.safetensors "$model"/vocab.json "$model"/merges.txt \
       "$model"/tokenizer_config.json "$model"/special_tokens_map.json "$staging"/
    mv "$staging" "$state/models/$1"
}

ctl() { timeout 120 "$ctl" --socket "$sock" "$@"; }

# Epochs of the runs the training kinds kill at a random moment. With the configuration's 2, the tiny model's run
# (about 200 labels) is over in a fraction of a second, most of the worker's life is start-up and evaluation, and a
# uniform moment of the operation almost never lands in training: more epochs make the training steps most of the
# worker's life (a few seconds), so random kills hit the steps, the epoch-end evaluations and the publish in
# proportion to their length. (A pause point per step would also hit the steps, but always between two, never
# inside one or inside a write.)
train_epochs=40

start_daemon() {   # [ENV=VALUE...]
    env "$@" "$sentimentd" serve --config "$conf" >>"$log" 2>&1 &
    daemon_pid=$!
    local deadline=$((SECONDS + 180))
    until ctl predict "ready?" >/dev/null 2>&1; do
        if ! kill -0 "$daemon_pid" 2>/dev/null || ((SECONDS > deadline)); then return 1; fi
        sleep 0.2
    done
}

stop_daemon() {
    [[ -n $daemon_pid ]] || return 0
    kill -TERM "$daemon_pid" 2>/dev/null || true
    local deadline=$((SECONDS + 60))
    while kill -0 "$daemon_pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -9 "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
    daemon_pid=""
}

kill_daemon() {
    [[ -n $daemon_pid ]] || return 0
    # The worker is a child of the daemon: a SIGKILLed daemon leaves it to notice on its own; kill it too, as
    # systemd's KillMode=control-group would.
    local children; children=$(pgrep -P "$daemon_pid" || true)
    kill -9 "$daemon_pid" $children 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
    daemon_pid=""
}

# The training worker of this script's daemon (its child): never another train-worker on the machine.
worker_pid() { [[ -n $daemon_pid ]] && pgrep -P "$daemon_pid" -f train-worker | head -1; }

# Waits until the worker of the run the client PID started is there (prints its pid), or the client ended first
# (prints nothing): a run refused at once never has a worker.
wait_worker_start() {   # CLIENT-PID
    local deadline=$((SECONDS + 120)) w=""
    until w=$(worker_pid) && [[ -n $w ]]; do
        kill -0 "$1" 2>/dev/null && ((SECONDS < deadline)) || return 0
        sleep 0.02
    done
    echo "$w"
}

wait_gone() {   # PID: waits (bounded) until the process has exited
    local deadline=$((SECONDS + 300))
    while kill -0 "$1" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.02; done
}

now() { date +%s.%N; }
since() { python3 -c "print(f'{max(0.0, $(now) - $1):.2f}')"; }

labels_file() {   # TAG COUNT -> path of a JSON Lines file of COUNT distinct labels
    local f=$scratch/$1.jsonl
    python3 - "$1" "$2" >"$f" <<'EOF'
import json, sys
tag, n = sys.argv[1], int(sys.argv[2])
words = ["love", "hate", "fine", "great", "awful", "okay", "superb", "meh", "terrible", "nice"]
names = ["positive", "negative", "neutral", "positive", "negative", "neutral", "positive", "neutral", "negative", "positive"]
for i in range(n):
    print(json.dumps({"text": f"{tag} the {words[i % 10]} thing number {i}", "label": names[i % 10]}))
EOF
    echo "$f"
}

# The checks. Prints "lost half integrity" counts for the current state (daemon stopped or running).
check_state() {
    python3 - "$state" "$acks" <<'EOF'
import hashlib, json, os, sqlite3, sys
state, acks = sys.argv[1], sys.argv[2]
db = sqlite3.connect(f"file:{state}/state.sqlite?mode=ro", uri=True, timeout=30)
integrity = 0 if db.execute("PRAGMA integrity_check").fetchone()[0] == "ok" else 1
lost = 0
if os.path.exists(acks):
    for line in open(acks):
        tag, count = line.split()
        n = db.execute("SELECT count(*) FROM label WHERE text LIKE ?", (tag + " %",)).fetchone()[0]
        lost += max(0, int(count) - n)
# Imports never acknowledged must be all or nothing.
for (tag,) in db.execute("SELECT DISTINCT substr(text, 1, instr(text, ' ') - 1) FROM label"):
    if not tag.startswith("imp-"): continue
    n = db.execute("SELECT count(*) FROM label WHERE text LIKE ?", (tag + " %",)).fetchone()[0]
    want = int(tag.split("-")[-1])
    if 0 < n < want: lost += want - n
half = 0
models = f"{state}/models"
def complete(folder):
    if not os.path.exists(f"{folder}/config.json"): return False
    if not any(os.path.exists(f"{folder}/{w}") for w in ("model.safetensors", "pytorch_model.bin", "adapter_model.safetensors")):
        return False
    manifest = f"{folder}/sentimentd.json"
    if os.path.exists(manifest):
        files = json.load(open(manifest))["files"]
        for name, entry in files.items():
            p = f"{folder}/{name}"
            if not os.path.exists(p) or os.path.getsize(p) != entry["size"]: return False
            if hashlib.sha256(open(p, "rb").read()).hexdigest() != entry["sha256"]: return False
    return True
active = db.execute("SELECT version FROM activation ORDER BY id DESC LIMIT 1").fetchone()
if active and os.path.isdir(f"{models}/{active[0]}") and not complete(f"{models}/{active[0]}"): half += 1
print(lost, half, integrity)
EOF
}

sqlite_value() {   # SQL -> the first column of the first row, read-only
    python3 - "$state/state.sqlite" "$1" <<'EOF'
import sqlite3, sys
print(sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=30).execute(sys.argv[2]).fetchone()[0])
EOF
}

served_version() { ctl status --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin).get("active_model") or "")' 2>/dev/null || true; }

# The served version must be a complete folder (asked of the running daemon).
check_served() {
    local v; v=$(served_version)
    [[ -z $v ]] && { echo 0; return; }
    python3 - "$state/models/$v" <<'EOF'
import hashlib, json, os, sys
folder = sys.argv[1]
ok = os.path.exists(f"{folder}/config.json")
m = f"{folder}/sentimentd.json"
if ok and os.path.exists(m):
    for name, e in json.load(open(m))["files"].items():
        p = f"{folder}/{name}"
        if not os.path.exists(p) or os.path.getsize(p) != e["size"] or hashlib.sha256(open(p, "rb").read()).hexdigest() != e["sha256"]:
            ok = False
print(0 if ok else 1)
EOF
}

fresh_state() {
    stop_daemon
    rm -rf "$state" "$acks"
    mkdir -p "$state/models"
    install_model v1
    install_model v2
    write_config
    : >"$log"
}

# Seeds enough labels for a training run (and for the eval split).
seed_labels() {
    local f; f=$(labels_file "imp-seed-$1-200" 200)
    ctl import "$f" >/dev/null && echo "imp-seed-$1-200 200" >>"$acks"
    ctl labels draw-eval 20 >/dev/null 2>&1 || true
}

fill_disk() {   # leaves about KB kilobytes free on the tmpfs
    local free_kb; free_kb=$(df -k --output=avail "$disk" | tail -1)
    local fill=$((free_kb - $1))
    ((fill > 0)) && { fallocate -l "${fill}K" "$disk/filler" 2>/dev/null || dd if=/dev/zero of="$disk/filler" bs=1K count=$fill 2>/dev/null || true; }
}
unfill_disk() { rm -f "$disk/filler"; }

declare -A duration   # calibrated length of each kind's operation (seconds, float)

random_delay() {   # KIND -> a uniform moment of the operation
    python3 -c "import random,sys; random.seed($RANDOM); print(round(random.uniform(0, float(sys.argv[1])), 3))" "${duration[$1]:-2}"
}

# Runs the operation of KIND in the background, writing the client's exit code to $scratch/op.rc; prints its pid.
# Callers take the pid with $(start_op ...), so the background client must not keep that substitution's pipe as
# its standard output (>/dev/null): it did, and every caller waited for the operation to end before going on, so
# each "random moment" kill landed after the operation was over (no training run was ever cut off) and each pause
# at a seam point lasted until the client's own 120 s timeout gave up (the ~2 min of every publish run).
start_op() {   # KIND RUN
    local kind=$1 run=$2
    rm -f "$scratch/op.rc"
    case $kind in
        *import)
            local tag="imp-$kind-$run-1500"
            local f; f=$(labels_file "$tag" 1500)
            ( if ctl import "$f" >"$scratch/op.out" 2>"$scratch/op.err"; then echo "$tag 1500" >>"$acks"; echo 0; else echo 1; fi >"$scratch/op.rc" ) >/dev/null &
            ;;
        *training)
            ( if ctl train --follow --epochs "$train_epochs" >"$scratch/op.out" 2>"$scratch/op.err"; then echo 0; else echo 1; fi >"$scratch/op.rc" ) >/dev/null & ;;
        *publish)
            ( if ctl train --follow >"$scratch/op.out" 2>"$scratch/op.err"; then echo 0; else echo 1; fi >"$scratch/op.rc" ) >/dev/null & ;;
        *activation)
            local to=v1; [[ $(served_version) == v1 ]] && to=v2
            echo "$to" >"$scratch/op.target"
            ( if ctl activate "$to" >"$scratch/op.out" 2>"$scratch/op.err"; then echo 0; else echo 1; fi >"$scratch/op.rc" ) >/dev/null & ;;
        *rollback)
            ( if ctl rollback >"$scratch/op.out" 2>"$scratch/op.err"; then echo 0; else echo 1; fi >"$scratch/op.rc" ) >/dev/null & ;;
    esac
    echo $!
}

wait_op() {   # PID -> waits for the client (bounded)
    local deadline=$((SECONDS + 300))
    while kill -0 "$1" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -9 "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# An activation/rollback needs a history: serve v1, then v2.
prepare_history() {
    ctl activate v1 >/dev/null 2>&1 || true
    ctl activate v2 >/dev/null 2>&1 || true
}

# Whether a refused operation said so: exit 0 must mean its effect is there.
silent_failure() {   # KIND
    local kind=$1
    [[ -f $scratch/op.rc ]] || { echo 0; return; }
    [[ $(cat "$scratch/op.rc") == 0 ]] || { [[ -s $scratch/op.err || -s $scratch/op.out ]] && echo 0 || echo 1; return; }
    case $kind in
        *activation) [[ $(served_version) == $(cat "$scratch/op.target") ]] && echo 0 || echo 1 ;;
        *) echo 0 ;;   # imports: checked by `lost`; training/publish: exit 0 only when published (runs show)
    esac
}

results=()
record() {   # KIND RUNS SEAM REFUSED LOST HALF INTEGRITY SILENT BACK
    results+=("$(printf '%-24s %5s %5s %8s %5s %5s %10s %7s %6s' "$@")")
    echo "faults.sh: ${results[-1]}" >&2   # as each kind ends, in case the run is stopped before the table
}

run_kind() {
    local kind=$1
    if [[ $kind == disk-full-* && $mounted != 1 ]]; then
        echo "faults.sh: $kind skipped: needs root to mount a tmpfs" >&2
        record "$kind" skipped - - - - - - -
        return
    fi
    local lost=0 half=0 integrity=0 silent=0 back=0 done_runs=0 refused=0 seam_runs=0
    fresh_state
    start_daemon || { echo "faults.sh: the daemon does not start (see $log)" >&2; tail -20 "$log" >&2; exit 1; }
    seed_labels "$kind"
    # Calibration: the operation once, unfaulted.
    if [[ $kind != disk-full-* && $kind != kill-worker-publish ]]; then
        [[ $kind == *activation || $kind == *rollback ]] && prepare_history
        local t0; t0=$(now)
        local p; p=$(start_op "$kind" 0)
        if [[ $kind == *training ]]; then
            # A training operation lasts until its worker is gone (the client notices up to a second later); the
            # worker kills count from the worker's start.
            local w; w=$(wait_worker_start "$p")
            local tw; tw=$(now)
            [[ -n $w ]] && wait_gone "$w"
            duration[$kind]=$(since "$t0")
            [[ $kind == kill-worker-* ]] && duration[$kind]=$(since "$tw")
        fi
        wait_op "$p"
        [[ $kind == *training ]] || duration[$kind]=$(since "$t0")
        # The unfaulted operation must succeed, or the runs would test nothing.
        if [[ $(cat "$scratch/op.rc" 2>/dev/null) != 0 ]]; then
            echo "faults.sh: $kind: the unfaulted operation failed:" >&2
            cat "$scratch/op.out" "$scratch/op.err" >&2
            tail -20 "$log" >&2
            exit 1
        fi
        # The labels of the next training must be new ones: import a fresh set.
        [[ $kind == *training ]] && seed_labels "$kind-cal"
    fi
    echo "faults.sh: $kind: operation takes ~${duration[$kind]:-?} s; $runs runs" >&2
    local run
    for ((run = 1; run <= runs; run++)); do
        if [[ -n $budget ]] && ((SECONDS - started >= budget)); then
            echo "faults.sh: $kind: the budget of $budget s is spent; stopping after $done_runs runs" >&2
            budget_spent=1
            break
        fi
        local t_run; t_run=$(now)
        [[ -n $daemon_pid ]] || start_daemon || { echo "faults.sh: the daemon does not come back (see $log)" >&2; break; }
        local pause_point="" daemon_killed=0
        case $kind in
            kill-daemon-import|kill-daemon-activation|kill-daemon-rollback)
                [[ $kind == *activation || $kind == *rollback ]] && prepare_history
                if ((run % 2 == 0)); then
                    # Even runs: at the seam point just before the step's write (Sources/SentimentCore/TestHooks.swift).
                    local point
                    case $kind in
                        *import) point="importing $(( $(sqlite_value "SELECT coalesce(max(id), 0) FROM import_batch") + 1 ))" ;;
                        *activation)
                            local to=v1; [[ $(served_version) == v1 ]] && to=v2
                            point="activating $to"; ((run % 4 == 0)) && point="activated $to" ;;
                        *rollback) point="rolling back $(served_version)" ;;
                    esac
                    seam_runs=$((seam_runs + 1))
                    stop_daemon
                    rm -f "$scratch/paused"
                    start_daemon SENTIMENTD_TEST_PAUSE_AT="daemon:$point" SENTIMENTD_TEST_PAUSE_FILE="$scratch/paused"
                    local p; p=$(start_op "$kind" "$run")
                    local deadline=$((SECONDS + 120))
                    until [[ -f $scratch/paused ]] || ((SECONDS > deadline)); do sleep 0.05; done
                    [[ -f $scratch/paused ]] || echo "faults.sh: $kind run $run: the seam daemon:$point was not reached" >&2
                else
                    local p; p=$(start_op "$kind" "$run")
                    sleep "$(random_delay "$kind")"
                fi
                kill_daemon; daemon_killed=1
                wait_op "$p" ;;
            kill-daemon-training)
                seed_labels "$kind-$run"
                local p; p=$(start_op "$kind" "$run")
                sleep "$(random_delay "$kind")"
                kill_daemon; daemon_killed=1
                wait_op "$p" ;;
            kill-worker-training)
                seed_labels "$kind-$run"
                local p; p=$(start_op "$kind" "$run")
                local w; w=$(wait_worker_start "$p")
                if [[ -n $w ]]; then
                    sleep "$(random_delay "$kind")"
                    kill -9 "$w" 2>/dev/null || true
                fi
                wait_op "$p" ;;
            kill-worker-publish)
                pause_point=before-publish; ((run % 2 == 0)) && pause_point=after-publish
                stop_daemon
                rm -f "$scratch/paused"
                start_daemon SENTIMENTD_TEST_PAUSE_AT="worker:$pause_point" SENTIMENTD_TEST_PAUSE_FILE="$scratch/paused"
                seed_labels "$kind-$run"
                local p; p=$(start_op "$kind" "$run")
                local deadline=$((SECONDS + 300))
                until [[ -f $scratch/paused ]] || ((SECONDS > deadline)); do sleep 0.1; done
                [[ -f $scratch/paused ]] || echo "faults.sh: $kind run $run: the seam worker:$pause_point was not reached" >&2
                seam_runs=$((seam_runs + 1))
                local w; w=$(worker_pid || true)
                [[ -n $w ]] && kill -9 "$w"
                wait_op "$p"
                stop_daemon ;;   # restart without the pause
            disk-full-import|disk-full-publish|disk-full-activation)
                [[ $kind == *activation ]] && prepare_history
                [[ $kind == *publish ]] && seed_labels "$kind-$run"
                fill_disk $(( (RANDOM % 8) * 64 + 16 ))
                local p; p=$(start_op "$kind" "$run")
                wait_op "$p"
                silent=$((silent + $(silent_failure "$kind")))
                unfill_disk ;;
        esac
        [[ $(cat "$scratch/op.rc" 2>/dev/null) == 0 ]] || refused=$((refused + 1))
        local t_op; t_op=$(since "$t_run")
        # Before any restart: the running daemon (if it was not the one killed) still serves a complete version.
        if [[ -n $daemon_pid ]]; then
            half=$((half + $(check_served)))
            ctl predict "still there?" >/dev/null 2>&1 || { kill_daemon; }
        fi
        # Then a restart, and the state it comes back with.
        local t_stop; t_stop=$(now)
        stop_daemon
        t_stop=$(since "$t_stop")
        read -r l h i < <(check_state)
        lost=$((lost + l)); half=$((half + h)); integrity=$((integrity + i))
        local t_start; t_start=$(now)
        if start_daemon; then
            back=$((back + 1))
            half=$((half + $(check_served)))
        fi
        t_start=$(since "$t_start")
        done_runs=$((done_runs + 1))
        echo "faults.sh: $kind run $run: $(since "$t_run") s (operation and fault $t_op s, stop $t_stop s, restart $t_start s)" >&2
    done
    stop_daemon
    mkdir -p "$logs"
    cp "$log" "$logs/$kind.log"
    record "$kind" "$done_runs" "$seam_runs" "$refused" "$lost" "$half" "$integrity" "$silent" "$back/$done_runs"
}

# Seconds one run of each kind took on this machine (2 cores, measured 2026-12-08 beside builds, test suites and two
# fuzzers), and the set-up of a kind (fresh state, the daemon's start, labels, the unfaulted operation): what the
# expected total printed at the start is made of. disk-full-publish waits for the client's 120 s timeout each run:
# with the disk full, neither the worker nor the daemon can record the run's end, so `train --follow` sees it
# running until then (fuzz/README.md).
declare -A per_run=(
    [kill-daemon-import]=5 [kill-daemon-training]=16 [kill-worker-training]=10 [kill-worker-publish]=7
    [kill-daemon-activation]=6 [kill-daemon-rollback]=5 [disk-full-import]=5 [disk-full-publish]=125
    [disk-full-activation]=5
)
kind_setup=25
expected=0
for kind in $kinds; do
    [[ " $kinds_all " == *" $kind "* ]] || { echo "faults.sh: unknown kind $kind (known: $kinds_all)" >&2; exit 2; }
    expected=$((expected + kind_setup + runs * per_run[$kind]))
done
echo "faults.sh: $(wc -w <<<"$kinds") kinds x $runs runs: expected ~$(( (expected + 59) / 60 )) min (as measured;" \
    "longer on a busier machine)${budget:+; no run starts after $budget s}" >&2

started=$SECONDS
budget_spent=0
for kind in $kinds; do
    run_kind "$kind"
done

{
    echo "# scripts/faults.sh --runs $runs --seed $seed${budget:+ --budget $budget} ($(date -u +%Y-%m-%d), $((SECONDS - started)) s)"
    [[ $budget_spent == 1 ]] && echo "# the budget was spent: the runs column says how many runs each kind got"
    printf '%-24s %5s %5s %8s %5s %5s %10s %7s %6s\n' kind runs seam refused lost half integrity silent back
    printf '%s\n' "${results[@]}"
} | tee ${table:+"$table"}

# Exit status: 0 only when nothing was lost, half served, corrupted or silently refused, and the daemon came back.
for r in "${results[@]}"; do
    read -r _ n _ _ l h i s b <<<"$r"
    [[ $n == skipped ]] && continue
    [[ $l == 0 && $h == 0 && $i == 0 && $s == 0 && ${b%/*} == "${b#*/}" ]] || exit 1
done

#!/usr/bin/env bash
# The HTTP API against the real daemon, with the clients people already run: tritonclient[http] (readiness,
# metadata, the tweets of examples/tweets.txt giving the probabilities `sentimentctl predict` gives), curl (every
# route, the v1 form, errors and their status codes, on the Unix socket and on TCP with tokens), prometheus_client's
# parser on /metrics, and schemathesis against the OpenAPI document (no 5xx, no answer the document contradicts).
#
# Needs the debug build (swift build) and vendor-models/all-MiniLM-L6-v2 (scripts/fetch-minilm.sh), as
# scripts/test.sh leaves them. Python packages go into a venv of its own (SENTIMENTD_HTTP_VENV, default
# .build/http-venv; PyPI). Run by scripts/test.sh after the Swift tests.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bin=${SENTIMENTD_BIN:-$root/.build/debug}
venv=${SENTIMENTD_HTTP_VENV:-$root/.build/http-venv}
failures=0
checks=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { checks=$((checks + 1)); }

[ -x "$bin/sentimentd" ] && [ -x "$bin/sentimentctl" ] || { echo "build first: swift build ($bin)" >&2; exit 2; }
[ -f vendor-models/all-MiniLM-L6-v2/config.json ] || { echo "run scripts/fetch-minilm.sh first" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl is needed (apt-get install curl)" >&2; exit 2; }

if [ ! -x "$venv/bin/schemathesis" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "tritonclient[http]==2.73.0" "schemathesis==4.32.5" "prometheus_client==0.26.0" "numpy==2.4.6"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sentimentd-http.XXXXXX")
daemon_pid=
cleanup() {
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then kill "$daemon_pid"; wait "$daemon_pid" || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# A free loopback port.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/models"
cp -r models/tweet-sentiment-minilm-lora "$work/models/"
cat > "$work/sentimentd.conf" <<EOF
[server]
socket = "$work/s.sock"
http_socket = "$work/h.sock"
http_listen = "127.0.0.1:$port"
admin_group = ""
[models]
directory = "$work/models"
base_directories = ["$root/vendor-models"]
settle_ms = 200
[store]
database = "$work/state.sqlite"
[training]
enabled = false
EOF
"$bin/sentimentd" serve --config "$work/sentimentd.conf" 2> "$work/daemon.log" &
daemon_pid=$!

sock=(--unix-socket "$work/h.sock")
for _ in $(seq 1 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "${sock[@]}" http://localhost/v2/health/ready || true)" = 200 ] && break
    kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/daemon.log" >&2; echo "the daemon exited" >&2; exit 1; }
    sleep 0.2
done
export SENTIMENTD_SOCKET="$work/s.sock"
token=$("$bin/sentimentctl" tokens add --role reader --name test-http 2>/dev/null)
auth=(-H "Authorization: Bearer $token")
tcp="http://127.0.0.1:$port"

# expect STATUS CURL-ARGS...: the status code and a JSON body with "error" for every 4xx/5xx.
expect() {
    local want=$1; shift
    local got
    got=$(curl -s -o "$work/body" -w '%{http_code}' "$@" || echo 000)
    if [ "$got" != "$want" ]; then
        fail "curl $*: status $got, expected $want: $(head -c 300 "$work/body")"
    elif [ "$want" -ge 400 ] && ! grep -q '"error"' "$work/body"; then
        fail "curl $*: status $got without the protocol's {\"error\": ...} body"
    else
        pass
    fi
}

infer='{"inputs":[{"name":"text","shape":[2],"datatype":"BYTES","data":["I love this","this is the worst"]}]}'
for base in unix tcp; do
    if [ $base = unix ]; then c=("${sock[@]}"); url=http://localhost; else c=("${auth[@]}"); url=$tcp; fi
    expect 200 "${c[@]}" "$url/v2/health/live"
    expect 200 "${c[@]}" "$url/v2/health/ready"
    expect 200 "${c[@]}" "$url/v2"
    expect 200 "${c[@]}" "$url/v2/models/sentiment"
    expect 200 "${c[@]}" "$url/v2/models/sentiment/ready"
    expect 200 "${c[@]}" "$url/v2/models/tweet-sentiment-minilm-lora"
    expect 200 "${c[@]}" "$url/v2/models/sentiment/versions/tweet-sentiment-minilm-lora/ready"
    expect 200 "${c[@]}" -d "$infer" "$url/v2/models/sentiment/infer"
    expect 200 "${c[@]}" -d "$infer" "$url/v2/models/sentiment/versions/tweet-sentiment-minilm-lora/infer"
    expect 200 "${c[@]}" -d '{"instances":["I love this",{"text":"meh"}]}' "$url/v1/models/sentiment:predict"
    expect 200 "${c[@]}" "$url/metrics"
    expect 200 "${c[@]}" "$url/openapi.yaml"
    expect 404 "${c[@]}" "$url/v2/models/nope"
    expect 404 "${c[@]}" "$url/v2/models/sentiment/versions/nope/ready"
    expect 404 "${c[@]}" -d "$infer" "$url/v2/models/nope/infer"
    expect 404 "${c[@]}" "$url/v3"
    expect 405 "${c[@]}" -X DELETE "$url/v2/models/sentiment/infer"
    expect 400 "${c[@]}" -d 'not json' "$url/v2/models/sentiment/infer"
    expect 400 "${c[@]}" -d '{"inputs":[{"name":"text","shape":[3],"datatype":"BYTES","data":["a"]}]}' "$url/v2/models/sentiment/infer"
    expect 400 "${c[@]}" -d '{"inputs":[{"name":"image","shape":[1],"datatype":"FP32","data":[1]}]}' "$url/v2/models/sentiment/infer"
    expect 400 "${c[@]}" -H 'Inference-Header-Content-Length: 99999' -d "$infer" "$url/v2/models/sentiment/infer"
    expect 400 "${c[@]}" -d '{"instances":[1,2]}' "$url/v1/models/sentiment:predict"
    expect 413 "${c[@]}" --data-binary @<(python3 -c 'import json; print(json.dumps({"instances": ["x" * 2000000]}))') \
        "$url/v1/models/sentiment:predict"
done
grep -q '"predictions"' "$work/body" || true
curl -s "${sock[@]}" -d '{"instances":["I love this"]}' http://localhost/v1/models/sentiment:predict > "$work/v1.json"
python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["predictions"][0]; assert set(p) >= {"label","label_index","scores"}, p' \
    "$work/v1.json" && pass || fail "v1 answer: $(cat "$work/v1.json")"

# TCP without a token: only health answers; a bad or revoked token is 401; a reader may not load a version.
expect 200 "$tcp/v2/health/live"
expect 401 "$tcp/v2"
expect 401 "$tcp/metrics"
expect 401 -d "$infer" "$tcp/v2/models/sentiment/infer"
expect 401 -H "Authorization: Bearer sntd_000000000000_nope" "$tcp/v2"
doomed=$("$bin/sentimentctl" tokens add --role admin --name doomed 2>/dev/null)
expect 200 -H "Authorization: Bearer $doomed" "$tcp/v2"
"$bin/sentimentctl" tokens revoke doomed > /dev/null
expect 401 -H "Authorization: Bearer $doomed" "$tcp/v2"

# tritonclient and prometheus_client: the same probabilities as sentimentctl predict.
"$bin/sentimentctl" predict --json --file examples/tweets.txt > "$work/expected.json"
curl -s "${auth[@]}" "$tcp/metrics" > "$work/metrics.txt"
if "$venv/bin/python" scripts/test_http_clients.py "127.0.0.1:$port" "$token" "$work/expected.json" examples/tweets.txt \
        "$work/metrics.txt"; then pass; else fail "tritonclient / prometheus_client (above)"; fi

# schemathesis: generated requests against the document, no 5xx and no answer that contradicts it.
# (From the work folder: schemathesis keeps its example database in the current folder.)
if (cd "$work" && "$venv/bin/schemathesis" run "$root/Sources/SentimentHTTP/openapi.yaml" --url "$tcp" -H "Authorization: Bearer $token" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
        --max-examples "${SCHEMATHESIS_EXAMPLES:-40}" --phases examples,coverage,fuzzing --seed 19) > "$work/schemathesis.log" 2>&1; then
    pass
    tail -n 5 "$work/schemathesis.log"
else
    cat "$work/schemathesis.log" >&2
    fail "schemathesis found answers that contradict Sources/SentimentHTTP/openapi.yaml (above)"
fi

kill -0 "$daemon_pid" 2>/dev/null || fail "the daemon died during the run: $(tail -5 "$work/daemon.log")"
echo "test-http: $checks passed, $failures failed"
[ "$failures" = 0 ]

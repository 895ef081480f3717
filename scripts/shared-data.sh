# Sourced (never run) by the scripts that read the project's shared data, which is not part of the repository:
# the TweetEval sentiment tweets (tweet-sentiment/), the RoBERTa tokenizer files (roberta-tokenizer/) and, beside
# that folder, the peers' benchmark scripts (../peers). A user's clone works without any of it: the README's tour
# uses examples/.
#
# SENTIMENTD_SHARED_DATA names the folder. This file is the one place its default is written: the folder
# `shared/data` beside the repository. scripts/test.sh, the bench/ scripts and tools/ source it; the Swift tests
# (SentimentTestSupport.SharedData) and tools/fixture_common.py ask it when the variable is not set, and tests
# that need the data skip, saying so, when the folder is absent.
#
#   . scripts/shared-data.sh          (from the repository root, or any script's folder: it finds the root itself)
#   require_shared_data tweet-sentiment/val_text.txt roberta-tokenizer/vocab.json    (exits 2 naming what is missing)
if [ -z "${SENTIMENTD_SHARED_DATA:-}" ]; then
    _sentimentd_root=$(cd "$(dirname "${BASH_SOURCE:-$0}")/.." 2>/dev/null && pwd)
    # `sh scripts/shared-data.sh` from elsewhere: fall back on the working directory's repository.
    [ -f "$_sentimentd_root/Package.swift" ] || _sentimentd_root=$(pwd)
    SENTIMENTD_SHARED_DATA=$(dirname "$_sentimentd_root")/shared/data
    unset _sentimentd_root
fi
export SENTIMENTD_SHARED_DATA

require_shared_data() {
    for _item in "$@"; do
        if [ ! -e "$SENTIMENTD_SHARED_DATA/$_item" ]; then
            echo "missing $SENTIMENTD_SHARED_DATA/$_item: this needs the shared data (TweetEval tweets, RoBERTa" \
                "tokenizer); set SENTIMENTD_SHARED_DATA to the folder that holds it" >&2
            exit 2
        fi
    done
}

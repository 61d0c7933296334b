#!/bin/sh
# Fuzzes the operator API against its own OpenAPI document with schemathesis: a real guard and API on
# loopback (crates/api/tests/fuzz_server.rs), an admin token, every operation; fails on any 5xx.
# Not part of scripts/test-all.sh (it takes a few minutes). Usage: scripts/api-fuzz.sh [max examples per op]
set -eu
cd "$(dirname "$0")/.."
TGT=${CARGO_TARGET_DIR:-target}
VENV=${API_FUZZ_VENV:-$TGT/api-fuzz-venv}
MAX=${1:-100}
if [ ! -x "$VENV/bin/st" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q schemathesis
fi
INFO=$(mktemp -u /tmp/tollguard-api-fuzz.XXXXXX)
cargo build -q -p api --tests
FUZZ_SERVER_INFO=$INFO cargo test -q -p api --test fuzz_server -- --ignored --nocapture >/dev/null 2>&1 &
SERVER=$!
trap 'rm -f "$INFO"; wait $SERVER 2>/dev/null || true' EXIT INT TERM
i=0
while [ ! -s "$INFO" ]; do
    i=$((i + 1))
    if [ $i -gt 600 ]; then echo "api-fuzz: the server did not start" >&2; exit 1; fi
    sleep 0.2
done
URL=$(sed -n 1p "$INFO")
TOKEN=$(sed -n 2p "$INFO")
# /api/v1/events is an endless stream: schemathesis cannot read it to the end.
"$VENV/bin/st" run "$URL/api/v1/openapi.json" \
    --url "$URL" \
    --header "Authorization: Bearer $TOKEN" \
    --exclude-path /api/v1/events \
    --checks not_a_server_error \
    --max-examples "$MAX" \
    --request-timeout 10 \
    --no-color

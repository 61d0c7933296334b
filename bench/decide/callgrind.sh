#!/bin/sh
# Instructions per HTTP decision query, split by thread: `tollguard serve` (run.sh's configuration: shadow
# mode, every call alerts, a store) under `valgrind --tool=callgrind --separate-threads=yes`, once with
# QUERIES queries at RATE/s from decide_load (4 connections) and once idle for as long (start-up, timers); the
# difference per thread divided by QUERIES is the figure. Thread roles are named by a function only they run.
#
#   bench/decide/callgrind.sh [QUERIES [RATE]]      default 2000 queries at 100/s; TOLLGUARD, LOAD override the
#                                                   binaries (default: the release build in CARGO_TARGET_DIR);
#                                                   KEEP=1 keeps the callgrind files (the folder is printed)
set -eu
QUERIES=${1:-2000}
RATE=${2:-100}
SECS=$((QUERIES / RATE))
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TG=$(realpath "${TOLLGUARD:-${CARGO_TARGET_DIR:-$ROOT/target}/release/tollguard}")
LOAD=$(realpath "${LOAD:-${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/decide_load}")
WORK=$(mktemp -d)
PID=""
trap '[ -z "$PID" ] || kill $PID 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT INT TERM
API_PORT=27543

run() { # $1: label, $2: queries (0 = idle)
  mkdir -p "$WORK/$1"
  cat > "$WORK/$1/guard.toml" <<CFG
[[tenant]]
name = "acme"
pbx_sources = ["127.0.0.1"]
[policy.defaults]
mode = "shadow"
[pbx]
address = "127.0.0.2:5060"
[trunk]
address = "127.0.0.3:5080"
[store]
path = "$WORK/$1/guard.db"
[api]
listen = "127.0.0.1:$API_PORT"
decide_timeout_ms = 5000
[log]
level = "error"
CFG
  (cd "$WORK/$1" && exec valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$WORK/$1/cg.out" \
    "$TG" serve --config guard.toml > out 2> err) &
  PID=$!
  for _ in $(seq 600); do grep -q ready "$WORK/$1/out" 2>/dev/null && break; sleep 0.2; done
  ADMIN=$(grep -o 'tg_[0-9a-f_]*' "$WORK/$1/out")
  URL=http://127.0.0.1:$API_PORT
  DECIDER=$(TOLLGUARD_TOKEN=$ADMIN "$TG" ctl --url "$URL" token create --role decider --tenant acme \
    --label bench | grep -o 'tg_[0-9a-f_]*')
  if [ "$2" -gt 0 ]; then
    TOLLGUARD_TOKEN=$DECIDER "$LOAD" http "127.0.0.1:$API_PORT" "$RATE" "$SECS" 4 >&2
  else
    sleep "$SECS"
  fi
  sleep 6 # the store's writer gets to the repeats it holds
  kill -INT $PID; wait $PID || true; PID=""
}

# Instructions per thread file, with the role of the thread: "role instructions".
per_thread() {
  for f in "$1"/cg.out*; do
    total=$(grep -m1 '^totals:' "$f" | awk '{print $2}')
    role=other
    if grep -q 'store::Store::write_batch' "$f"; then role=store
    elif grep -q 'prepare_all_countries' "$f"; then role=startup # numbering's metadata, built at start
    elif grep -q 'Decider' "$f"; then role=core                 # the main thread runs the core task
    elif grep -q 'hyper' "$f"; then role=http
    fi
    echo "$role ${total:-0}"
  done | awk '{s[$1]+=$2} END {for (r in s) print r, s[r]}' | sort
}

run idle 0
run load "$QUERIES"
per_thread "$WORK/idle" > "$WORK/idle.txt"
per_thread "$WORK/load" > "$WORK/load.txt"
echo "instructions per query ($QUERIES queries at $RATE/s, idle run of ${SECS}s subtracted):"
join -a1 -a2 -e 0 -o 0,1.2,2.2 "$WORK/load.txt" "$WORK/idle.txt" |
  awk -v q="$QUERIES" '$1 != "startup" {d=($2-$3)/q; t+=d; printf "%-6s %10.0f\n", $1, d} END {printf "%-6s %10.0f\n", "total", t}'
[ -z "${KEEP:-}" ] || echo "callgrind files kept in $WORK"

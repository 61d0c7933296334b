#!/bin/sh
# The guard's decision latency under SIPp load, as an operator sees it: `tollguard serve` (release build) with
# the operator API, SIPp calls at each rate, and per step the delta of `tollguard_decision_latency_seconds`
# scraped from /metrics: INVITEs decided (must equal SIPp's calls), mean, and the bucket holding p50/p90/p99.
# The latency runs from the INVITE read off the socket to its verdict (docs/api.md, "Metrics").
#
#   bench/guard/latency.sh [rates...]    default rates: 100 400 800; each step lasts STEP_SECS (8)
#
# Needs sipp, curl, python3 and a release build: cargo build --release -p tollguard (CARGO_TARGET_DIR honoured).
# Same calls as run.sh: tenant in shadow mode (every rule runs, nothing refused), store and API on.
set -eu
DEFAULT_RATES="100 400 800"
DEFAULT_STEP=8
. "$(dirname "$0")/common.sh"

GUARD_PORT=26060; API_PORT=26443; CARRIER_PORT=26080; UAC_PORT=26090
cat > "$WORK/guard.toml" <<CFG
[[tenant]]
name = "bench"
[policy.tenants.bench]
mode = "shadow"
[[listen]]
address = "127.0.0.1:$GUARD_PORT"
role = "pbx"
[pbx]
address = "127.0.0.2:5060"
[trunk]
address = "127.0.0.3:$CARRIER_PORT"
[store]
path = "$WORK/guard.db"
[api]
listen = "127.0.0.1:$API_PORT"
[log]
level = "error"
CFG
"$TG" serve --config "$WORK/guard.toml" > "$WORK/guard.out" 2> "$WORK/guard.err" &
PIDS="$PIDS $!"
for i in $(seq 50); do grep -q ready "$WORK/guard.out" 2>/dev/null && break; sleep 0.1; done
TOKEN=$(grep -o 'tg_[0-9a-f_]*' "$WORK/guard.out")
sipp -sf "$SCN/uas_answer.xml" -i 127.0.0.3 -bind_local -p $CARRIER_PORT -nostdin -bg > "$WORK/uas.out" 2>&1 || true
PIDS="$PIDS $(sed -n 's/.*PID=\[\([0-9]*\)\].*/\1/p' "$WORK/uas.out")"

scrape() {
  curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$API_PORT/metrics" |
    grep '^tollguard_decision_latency_seconds' > "$1"
}
scrape "$WORK/m0"
printf "%9s %9s %9s %9s %9s %9s %9s %9s %9s %9s\n" rate calls_ok failed decided mean_us p50_us p90_us p99_us p999_us max_us
i=0
for rate in $RATES; do
  i=$((i + 1))
  (cd "$WORK" && sipp -sf "$SCN/uac_call.xml" 127.0.0.1:$GUARD_PORT -i 127.0.0.2 -bind_local -p $UAC_PORT -nostdin \
      -m $((rate * STEP)) -r $rate -l $((rate * 4)) -s 0312345678 -key account 201 -d 100 -timeout $((STEP * 4))s \
      -trace_stat -stf "$WORK/stat_$rate.csv" > /dev/null 2>&1) || true
  scrape "$WORK/m$i"
  ok=$(tail -1 "$WORK/stat_$rate.csv" | awk -F';' '{print $16}')      # SuccessfulCall(C)
  failed=$(tail -1 "$WORK/stat_$rate.csv" | awk -F';' '{print $18}')  # FailedCall(C)
  python3 "$ROOT/bench/histogram_delta.py" "$WORK/m$((i - 1))" "$WORK/m$i" "$rate" "$ok" "$failed"
done

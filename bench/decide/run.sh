#!/bin/sh
# Decision latency and throughput of the decision front ends, one at a time, on one `tollguard serve`:
# HTTP (`POST /api/v1/decide`), SIP redirect (INVITE -> 302/603) and HEP mirror (HEPv3 INVITEs, observe).
# The load generator is crates/tollguard/examples/decide_load.rs: fixed rate (open model, like wrk2), latency
# counted from each query's release by a thread of its own at its due time (whether or not its connection
# is still busy), HTTP/1.1 keep-alive over CONNS connections. Per step it prints the
# client's latency (HTTP, redirect) and the server's: the delta of `tollguard_decision_latency_seconds`
# (from the query read off the socket to its verdict) scraped from /metrics.
#
#   bench/decide/run.sh [rates...]     default rates: 1000 2000 5000 8000; STEP_SECS (10), CONNS (4),
#                                      FRONTS ("http redirect hep"), SERVER_CPU (0), LOAD_CPU (1),
#                                      MODE (shadow: every rule runs and every call alerts; or enforce),
#                                      ACCOUNTS (100) extensions of TENANTS (1) tenants placing the calls,
#                                      ARRIVALS (uniform, or poisson), SLOW_US (timeline of slow answers)
#
# FRONTS=floor runs examples/udp_floor on SERVER_CPU instead: a UDP responder doing no work, asked like the
# redirect front end. Its latency is what the box itself adds (scheduler, virtual CPU wake-ups, the host).
#
# tollguard is pinned to SERVER_CPU and the generator to LOAD_CPU (taskset), so "on one core" is literal.
# By default every rule runs in shadow mode (the cost of deciding, not of refusing; the 100 accounts calling
# at these rates set off velocity rules, so nearly every call also writes alerts to the store). Needs curl, python3 and
#   cargo build --release -p tollguard --bin tollguard --example decide_load   (CARGO_TARGET_DIR honoured).
set -eu
DEFAULT_RATES="1000 2000 5000 8000"
DEFAULT_STEP=10
. "$(dirname "$0")/../guard/common.sh"
LOAD=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/decide_load
[ -x "$LOAD" ] || { echo "build first: cargo build --release -p tollguard --example decide_load" >&2; exit 1; }
CONNS=${CONNS:-4}
FRONTS=${FRONTS:-http redirect hep}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}

REDIRECT_PORT=27060; HEP_PORT=27061; API_PORT=27443; FLOOR_PORT=27070
case " $FRONTS " in *" floor "*)
  FLOOR=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/udp_floor
  [ -x "$FLOOR" ] || { echo "build first: cargo build --release -p tollguard --example udp_floor" >&2; exit 1; }
  taskset -c "$SERVER_CPU" "$FLOOR" "127.0.0.1:$FLOOR_PORT" &
  PIDS="$PIDS $!";;
esac
TENANTS=${TENANTS:-1}; ACCOUNTS=${ACCOUNTS:-100}; export TENANTS ACCOUNTS
cat > "$WORK/guard.toml" <<CFG
[[tenant]]
name = "acme"
pbx_sources = ["127.0.0.1"]
[policy.defaults]
mode = "${MODE:-shadow}"
CFG
# More tenants (HTTP only: TENANTS=N names them t0..t{N-1}, each calling from ACCOUNTS extensions).
if [ "$TENANTS" -gt 1 ]; then
  for t in $(seq 0 $((TENANTS - 1))); do printf '[[tenant]]\nname = "t%s"\n' "$t"; done >> "$WORK/guard.toml"
fi
cat >> "$WORK/guard.toml" <<CFG
[[listen]]
address = "127.0.0.1:$REDIRECT_PORT"
transport = "udp"
role = "redirect"
[[listen]]
address = "127.0.0.1:$HEP_PORT"
transport = "udp"
role = "hep"
[hep]
sources = ["127.0.0.1"]
[pbx]
address = "127.0.0.2:5060"
[trunk]
address = "127.0.0.3:5080"
[store]
path = "$WORK/guard.db"
[api]
listen = "127.0.0.1:$API_PORT"
decide_timeout_ms = 1000
[log]
level = "error"
CFG
taskset -c "$SERVER_CPU" "$TG" serve --config "$WORK/guard.toml" > "$WORK/guard.out" 2> "$WORK/guard.err" &
PIDS="$PIDS $!"
for _ in $(seq 100); do grep -q ready "$WORK/guard.out" 2>/dev/null && break; sleep 0.1; done
ADMIN=$(grep -o 'tg_[0-9a-f_]*' "$WORK/guard.out")
URL=http://127.0.0.1:$API_PORT
DECIDER=$(TOLLGUARD_TOKEN=$ADMIN "$TG" ctl --url "$URL" token create --role decider $([ "$TENANTS" -gt 1 ] || echo --tenant acme) \
  --label bench | grep -o 'tg_[0-9a-f_]*')

scrape() {
  curl -s -H "Authorization: Bearer $ADMIN" "$URL/metrics" | grep '^tollguard_decision_latency_seconds' > "$1"
}
# The time the host took both CPUs away from this VM (steal, /proc/stat, in ms): a step with steal saw
# stalls that neither tollguard nor the generator caused, and its tail says little about either.
steal_ms() { awk -v a="cpu$SERVER_CPU" -v b="cpu$LOAD_CPU" '$1 == a || $1 == b { s += $9 } END { print s * 10 }' /proc/stat; }
echo "client (generator on CPU $LOAD_CPU, $CONNS HTTP connections; steal: ms the host took CPU $SERVER_CPU or $LOAD_CPU away):"
printf "%9s %9s %s\n" front rate "answered/s, latency from when due"
i=0
scrape "$WORK/m0"
: > "$WORK/server.txt"
for front in $FRONTS; do
  for rate in $RATES; do
    i=$((i + 1))
    stolen=$(steal_ms)
    line=$(TOLLGUARD_TOKEN=$DECIDER taskset -c "$LOAD_CPU" "$LOAD" "$(echo "$front" | sed s/floor/redirect/)" \
      "127.0.0.1:$(case $front in http) echo $API_PORT;; redirect) echo $REDIRECT_PORT;; floor) echo $FLOOR_PORT;; *) echo $HEP_PORT;; esac)" \
      "$rate" "$STEP" "$CONNS")
    stolen=$(($(steal_ms) - stolen))
    sleep 1 # the last HEP packets and answers are decided before the scrape
    scrape "$WORK/m$i"
    [ "$front" = hep ] || printf "%9s %9s %s, steal %s ms\n" "$front" "$rate" "${line#* offered * }" "$stolen"
    python3 "$ROOT/bench/histogram_delta.py" "$WORK/m$((i - 1))" "$WORK/m$i" "$front" "$rate" >> "$WORK/server.txt"
  done
done
echo
echo "server (tollguard on CPU $SERVER_CPU): decision latency, read off the socket -> verdict (bucket upper bounds)"
printf "%9s %9s %9s %9s %9s %9s %9s %9s %9s\n" front rate decided mean_us p50_us p90_us p99_us p999_us max_us
cat "$WORK/server.txt"

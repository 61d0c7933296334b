#!/usr/bin/env bash
# Resident memory of `tollguard serve` per tracked call and per banned source, and its bound when a spoofed
# flood brings more sources than the tables hold. Reads VmRSS from /proc/<pid>/status; the guard's own status
# (GET /api/v1/status) says when the calls are in progress, the bans are set and the requests are handled, so
# nothing is timed.
#
#   bench/guard/memory.sh [CALLS] [SOURCES] [SPOOFED] [MILLION]
#
#   CALLS    calls held in progress at once (SIPp UAC -> guard -> SIPp UAS on 127.0.0.3), default 20000
#   SOURCES  sources banned, each by one scanner-marked OPTIONS from its own 127.x.y.z address, default 20000
#   SPOOFED  further one-packet sources past the ban table's cap ([sources] max_bans, set here to MAX_BANS,
#            default 50000), default 100000: the RSS must stop growing once the caps are reached
#   MILLION  a spoofed flood without scanner marks: one REGISTER from each of MILLION further addresses
#            (127.64.0.0 upwards) to the guard's access listener, paced at SPOOF_RATE (20000/s), the RSS sampled
#            every SAMPLE (100000) sources: every table a source creates (counted requests, the engine's source
#            windows, transactions) reaches its cap and the RSS levels off. Default 1000000; 0 skips it.
#            Takes about MILLION / SPOOF_RATE seconds plus the guard's catching up. SNAPSHOT_SECS (60) sets
#            how often the engine's state is written to the store (its copy shows in the RSS).
#
# Needs sipp, python3, curl and a release build: cargo build --release -p tollguard (CARGO_TARGET_DIR honoured).
# Loopback only; every process it starts is stopped by its PID on exit.
set -euo pipefail
CALLS=${1:-20000}
SOURCES=${2:-20000}
SPOOFED=${3:-100000}
MILLION=${4:-1000000}
SPOOF_RATE=${SPOOF_RATE:-20000}
SAMPLE=${SAMPLE:-100000}
SNAPSHOT_SECS=${SNAPSHOT_SECS:-60}  # the engine's snapshot to the store (a copy of its state while written)
MAX_BANS=${MAX_BANS:-50000}
RATE=${RATE:-1000}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TG=${TOLLGUARD:-${CARGO_TARGET_DIR:-$ROOT/target}/release/tollguard}
SCN=$ROOT/crates/guard/tests/sipp
[[ -x $TG ]] || { echo "build first: cargo build --release -p tollguard" >&2; exit 1; }
for t in sipp python3 curl; do command -v $t >/dev/null || { echo "needs $t" >&2; exit 1; }; done
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT INT TERM

GUARD_PORT=26060 ACCESS_PORT=26061 UAS_PORT=26080 UAC_PORT=26090
cat > "$WORK/guard.toml" <<CFG
[[listen]]
address = "127.0.0.1:$GUARD_PORT"
role = "pbx"
[[listen]]
address = "127.0.0.1:$ACCESS_PORT"
role = "access"
[pbx]
address = "127.0.0.2:5060"
[trunk]
address = "127.0.0.3:$UAS_PORT"
[[tenant]]
name = "bench"
pbx_sources = ["127.0.0.2/32"]
[policy.tenants.bench]
mode = "shadow"
[policy.sources]
max_bans = $MAX_BANS
[dialogs]
max = $((CALLS + 1000))
[store]
path = "$WORK/guard.db"
snapshot_secs = $SNAPSHOT_SECS
[api]
listen = "127.0.0.1:0"
[log]
level = "error"
CFG

"$TG" serve --config "$WORK/guard.toml" > "$WORK/guard.out" 2> "$WORK/guard.err" &
GUARD=$!; PIDS+=("$GUARD")
for _ in $(seq 100); do grep -q ready "$WORK/guard.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$WORK/guard.out" || { cat "$WORK/guard.err" >&2; exit 1; }
URL=$(sed -n 's/.*operator API on \(http:[^ ]*\).*/\1/p' "$WORK/guard.out")
TOKEN=$(sed -n 's/.*first admin token[^:]*: \([^ ]*\)$/\1/p' "$WORK/guard.out")

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$GUARD/status"; }
status() { curl -fsS -H "Authorization: Bearer $TOKEN" "$URL/api/v1/status"; }
# A number from the status, by its path (e.g. guard.stats.scanners_banned).
field() {
  status | python3 -c "import functools,json,sys; print(functools.reduce(lambda o,k: o[k], sys.argv[1].split('.'), json.load(sys.stdin)))" "$1"
}
# Polls the guard's status until FIELD >= N (at most LIMIT seconds).
wait_for() {
  local field=$1 n=$2 limit=${3:-300} t=0
  while (( $(field "$field") < n )); do
    (( t++ < limit * 10 )) || { echo "timed out waiting for $field >= $n (now $(field "$field"))" >&2; exit 1; }
    sleep 0.1
  done
}

printf "%-40s %12s %12s %14s\n" step entries rss_KiB "bytes/entry"
base=$(rss_kib)
printf "%-40s %12s %12s %14s\n" "guard at rest" 0 "$base" -

# Calls held in progress: the UAS answers, the UAC holds each call for 10 minutes.
sipp -sf "$SCN/uas_answer.xml" -i 127.0.0.3 -p $UAS_PORT -bind_local -nostdin > /dev/null 2>&1 &
PIDS+=($!)
(cd "$WORK" && exec sipp -sf "$SCN/uac_call.xml" "127.0.0.1:$GUARD_PORT" -i 127.0.0.2 -p $UAC_PORT -bind_local \
  -nostdin -m "$CALLS" -r "$RATE" -l "$CALLS" -s 0312345678 -key account 201 -d 600000 > /dev/null 2>&1) &
PIDS+=($!)
wait_for calls_in_progress "$CALLS" $((CALLS / RATE + 120))
calls_rss=$(rss_kib)
printf "%-40s %12s %12s %14s\n" "calls in progress" "$CALLS" "$calls_rss" \
  "$(( (calls_rss - base) * 1024 / CALLS ))"

# Banned sources: one OPTIONS with a scanner's User-Agent from each of SOURCES (then SPOOFED more) addresses.
flood() { # flood FIRST COUNT: sources 127.1.0.0 + FIRST ...
  python3 - "$1" "$2" "$GUARD_PORT" <<'PY'
import socket, sys
first, count, port = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
for i in range(first, first + count):
    n = (1 << 16) + i  # 127.1.0.0 upwards: never the guard, the PBX (127.0.0.2) or the carrier (127.0.0.3)
    ip = "127.%d.%d.%d" % ((n >> 16) & 255, (n >> 8) & 255, n & 255)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 5099))
    msg = ("OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP %s:5099;branch=z9hG4bK-%d\r\n"
           "Max-Forwards: 70\r\nFrom: <sip:100@%s>;tag=%d\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: m%d\r\n"
           "CSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n") % (ip, i, ip, i, i)
    s.sendto(msg.encode(), ("127.0.0.1", port))
    s.close()
PY
}
flood 0 "$SOURCES"
wait_for bans_active "$(( SOURCES < MAX_BANS ? SOURCES : MAX_BANS ))"
bans_rss=$(rss_kib)
printf "%-40s %12s %12s %14s\n" "banned sources (+ the calls)" "$SOURCES" "$bans_rss" \
  "$(( (bans_rss - calls_rss) * 1024 / SOURCES ))"

done_n=$SOURCES
step=$(( SPOOFED / 4 > 0 ? SPOOFED / 4 : 1 ))
while (( done_n < SOURCES + SPOOFED )); do
  flood "$done_n" "$step"
  done_n=$((done_n + step))
  # Handled once the guard has banned each of them (bans past the cap push out others).
  wait_for guard.stats.scanners_banned "$done_n"
  printf "%-40s %12s %12s %14s\n" "one-packet sources sent (cap $MAX_BANS)" "$done_n" "$(rss_kib)" -
done
echo "bans active: $(field bans_active); the RSS past the cap is the bound (caps: [sources] max_bans," \
  "requests counted per window 100000, sources remembered as logged in 100000, engine sources $((200000)))"

# The spoofed flood: one REGISTER (a neutral User-Agent: no scanner mark, so no ban) from each of MILLION
# addresses. Each is counted (decide::flood, up to [sources] max_counted_sources per window), goes to the
# engine's source windows at the flush ([limits] max_sources), and is forwarded to the PBX (a transaction,
# MAX_TX, kept 32 s). Paced so that the socket keeps up; the guard's request counter says when it is handled.
(( MILLION > 0 )) || exit 0
spoof() { # spoof FIRST COUNT: sources 127.64.0.0 + FIRST ...
  python3 - "$1" "$2" "$ACCESS_PORT" "$SPOOF_RATE" <<'PY'
import socket, sys, time
first, count, port, rate = (int(a) for a in sys.argv[1:5])
t0 = time.monotonic()
for k, i in enumerate(range(first, first + count)):
    n = (64 << 16) + i  # 127.64.0.0 upwards: clear of the other steps' 127.1.x.y and of the peers
    ip = "127.%d.%d.%d" % ((n >> 16) & 255, (n >> 8) & 255, n & 255)
    user = 200 + i % 800
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 5098))
    msg = ("REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP %s:5098;branch=z9hG4bK-s%d\r\n"
           "Max-Forwards: 70\r\nFrom: <sip:%d@127.0.0.1>;tag=s%d\r\nTo: <sip:%d@127.0.0.1>\r\nCall-ID: s%d\r\n"
           "CSeq: 1 REGISTER\r\nContact: <sip:%d@%s:5098>\r\nUser-Agent: Yealink SIP-T46S\r\n"
           "Content-Length: 0\r\n\r\n") % (ip, i, user, i, user, i, user, ip)
    s.sendto(msg.encode(), ("127.0.0.1", port))
    s.close()
    if k % 1000 == 999:
        ahead = (k + 1) / rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
PY
}
# Requests the guard has handled or shed (the counters of GET /api/v1/status).
handled() {
  status | python3 -c "import json,sys; g=json.load(sys.stdin)['guard']['stats']; print(g['requests'] + g['shed_registers'])"
}
udp_drops() { # datagrams the kernel dropped at the access listener's socket
  awk -v p="$(printf '%04X' "$ACCESS_PORT")" '$2 ~ ":"p"$" {d += $NF} END {print d + 0}' /proc/net/udp
}
printf "\n%-40s %12s %12s %12s %10s\n" "spoofed REGISTER flood" sources rss_KiB handled udp_drops
start=$(handled)
sent=0
while (( sent < MILLION )); do
  n=$(( MILLION - sent < SAMPLE ? MILLION - sent : SAMPLE ))
  spoof "$sent" "$n"
  sent=$((sent + n))
  # Handled: every datagram the kernel passed on has been read (else reported after 60 s).
  t=0
  while (( $(handled) - start + $(udp_drops) < sent )); do
    (( t++ < 600 )) || { echo "the guard is still behind after 60 s" >&2; break; }
    sleep 0.1
  done
  printf "%-40s %12s %12s %12s %10s\n" "" "$sent" "$(rss_kib)" "$(( $(handled) - start ))" "$(udp_drops)"
done

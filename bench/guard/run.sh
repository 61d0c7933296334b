#!/bin/sh
# Drives SIPp through tollguard's guard and through Kamailio (stateful, dialog, pike, htable ban list) in the
# same run, stepping the call rate, and prints per step: calls per second achieved, failed calls, setup time
# p99 (INVITE to 200), proxy CPU per call and resident memory. Both proxies forward to the same SIPp carrier.
#
#   bench/guard/run.sh [rates...]        default rates: 50 100 200 400; each step lasts STEP_SECS (10)
#
# Needs sipp, kamailio and a release build: cargo build --release -p tollguard (CARGO_TARGET_DIR honoured).
set -eu
DEFAULT_RATES="50 100 200 400"
DEFAULT_STEP=10
. "$(dirname "$0")/common.sh"

GUARD_PORT=25060; KAM_PORT=25070; CARRIER_PORT=25080; UAC_PORT=25090
cat > "$WORK/guard.toml" <<CFG
[[tenant]]
name = "bench"
[policy.tenants.bench]
mode = "shadow"          # every rule runs, nothing is blocked: the cost of deciding is measured, not refusals
[[listen]]
address = "127.0.0.1:$GUARD_PORT"
role = "pbx"
[pbx]
address = "127.0.0.2:5060"
[trunk]
address = "127.0.0.3:$CARRIER_PORT"
[log]
level = "error"
CFG
sed -e "s/@LISTEN@/127.0.0.1:$KAM_PORT/" -e "s/@CARRIER@/127.0.0.3:$CARRIER_PORT/" \
    "$ROOT/bench/guard/kamailio.cfg.in" > "$WORK/kamailio.cfg"

"$TG" serve --config "$WORK/guard.toml" > "$WORK/guard.out" 2> "$WORK/guard.err" &
GUARD_PID=$!; PIDS="$PIDS $GUARD_PID"
kamailio -f "$WORK/kamailio.cfg" -P "$WORK/kam.pid" -w "$WORK" -m 256 -M 16 -DD -E > "$WORK/kam.log" 2>&1 &
KAM_PID=$!; PIDS="$PIDS $KAM_PID"
sipp -sf "$SCN/uas_answer.xml" -i 127.0.0.3 -bind_local -p $CARRIER_PORT -nostdin -bg > /dev/null 2>&1 || true
UAS_PID=$(pgrep -n -f "sipp -sf $SCN/uas_answer.xml -i 127.0.0.3" || true); PIDS="$PIDS $UAS_PID"
for i in $(seq 50); do grep -q ready "$WORK/guard.out" 2>/dev/null && break; sleep 0.1; done

# CPU ticks (utime+stime) of a process and its children, and their resident memory in KiB.
ticks() { for p in $1 $(pgrep -P "$1" 2>/dev/null); do awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null; done | awk '{s+=$1} END {print s+0}'; }
rss() { for p in $1 $(pgrep -P "$1" 2>/dev/null); do awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null; done | awk '{s+=$1} END {print s+0}'; }
HZ=$(getconf CLK_TCK)

printf "%-9s %6s %9s %7s %10s %12s %9s\n" proxy rate calls/s failed p99_ms cpu_ms/call rss_KiB
for rate in $RATES; do
  for proxy in guard kamailio; do
    if [ $proxy = guard ]; then port=$GUARD_PORT; pid=$GUARD_PID; else port=$KAM_PORT; pid=$KAM_PID; fi
    n=$((rate * STEP))
    t0=$(ticks $pid); s0=$(date +%s.%N)
    rm -f "$WORK"/uac_*rtt.csv
    cp "$SCN/uac_call.xml" "$WORK/uac_$proxy.xml"
    (cd "$WORK" && sipp -sf "uac_$proxy.xml" 127.0.0.1:$port -i 127.0.0.2 -bind_local -p $UAC_PORT -nostdin \
        -m $n -r $rate -l $((rate * 4)) -s 0312345678 -key account 201 -d 100 -timeout $((STEP * 4))s \
        -trace_rtt -rtt_freq 1 -trace_stat -stf "$WORK/stat_$proxy.csv" > /dev/null 2>&1) || true
    s1=$(date +%s.%N); t1=$(ticks $pid)
    stat="$WORK/stat_$proxy.csv"
    ok=$(tail -1 "$stat" | awk -F';' '{print $16}')      # SuccessfulCall(C)
    failed=$(tail -1 "$stat" | awk -F';' '{print $18}')  # FailedCall(C)
    p99=$(cat "$WORK"/uac_"$proxy"_*_rtt.csv 2>/dev/null | awk -F';' '$2 ~ /^[0-9.]+$/ {print $2}' | sort -n | \
          awk '{a[NR]=$1} END {if (NR==0) print "-"; else {i=int(NR*0.99); if (i<1) i=1; printf "%.1f", a[i]}}')
    cps=$(echo "$ok $s0 $s1" | awk '{printf "%.0f", $1/($3-$2)}')
    cpu=$(echo "$t0 $t1 $ok $HZ" | awk '{if ($3>0) printf "%.3f", ($2-$1)*1000/$4/$3; else print "-"}')
    printf "%-9s %6s %9s %7s %10s %12s %9s\n" $proxy $rate "$cps" "$failed" "$p99" "$cpu" "$(rss $pid)"
  done
done

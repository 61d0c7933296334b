# The guard against Kamailio on the shared SIP proxy harness (../shared/bench/sip-proxy, beside the repo's root),
# sourced by run.sh and before_after.sh. One run does, in order:
#   1. SIPp -> SIPp without a proxy at each rate: the load generator's own ceiling on this box;
#   2. compare.sh: each build of the guard in each mode of $MODES (shadow: every rule runs, nothing refused;
#      enforce: the same rules refuse) and Kamailio (the harness's: -x tlsf, 3 workers, pike, htable bans,
#      dialog), repetitions interleaved;
#   3. run_flood.sh for each of them: legitimate calls while 127.0.0.2 floods at $FLOOD_RATE requests/s, and
#      EMERGENCY_AFTER s into the flood (2; the flooder is banned by then) one call to 110 from the flooding
#      source and one from the PBX's address (emergency_probe below); then a summary table of the flood step.
# Calls go SIPp UAC (127.0.0.1:5070, the guard's PBX) -> proxy (127.0.0.1:5060) -> SIPp UAS (127.0.0.3:5080, the
# guard's carrier), dialing 0312345678.
#
# Environment: HARNESS (the harness folder), RATES, REPS (2), STEP_SECONDS (10), MODES ("shadow enforce"),
# GUARD_SHARDS (the guard's [transport] shards; default one per core), GUARD_UDP_READERS ([transport]
# udp_readers: SO_REUSEPORT sockets per UDP listener, each with its reader; default 1),
# NOPROXY (1: run step 1), CPS (1: run step 2), FLOOD (1: run step 3), FLOOD_RATE (10000), FLOOD_TOOLS ("sipp-register"; also
# "sipp-invite"), FLOOD_SECONDS (15), LEGIT_CPS (100), KAMAILIO (1: include Kamailio), and everything the
# harness's scripts read (QUIET_PCT, QUIET_MAX_WAIT, FOREIGN_MAX_PCT, DISTURBED_RETRIES, SETTLE_S …).
# EMERGENCY (1: place the 110 calls of step 3), EMERGENCY_AFTER (2 s; keep it below FLOOD_SECONDS).

# Beside the repo's root (a checkout), or two levels up (a git worktree in a folder of worktrees).
if [[ -z ${HARNESS:-} ]]; then
  for HARNESS in "$ROOT/../shared/bench/sip-proxy" "$ROOT/../../shared/bench/sip-proxy"; do
    [[ -x $HARNESS/compare.sh ]] && break
  done
fi
[[ -x $HARNESS/compare.sh && -x $HARNESS/run_flood.sh ]] || { echo "no harness at $HARNESS (set HARNESS)" >&2; exit 1; }
MODES=${MODES:-shadow enforce}
KAMAILIO_SPEC="kamailio|5060|kamailio/run-kamailio.sh -A 'UPSTREAM=\"sip:127.0.0.3:5080\"'"

# The guard's access listener, where phones (and attackers) reach it, and the PBX's answering side behind it: a
# SIPp UAS on the PBX's address (127.0.0.1, like the legitimate UAC at :5070). Only the emergency probe uses them.
GUARD_ACCESS_PORT=5062
PBX_UAS_PORT=5075

# guard_config FILE MODE: the guard's configuration for the harness. shadow: the default policy, every rule runs
# and nothing is refused. enforce: the same rules refuse, with the limits that the bench's own traffic crosses
# (thousands of calls a minute from 1,000 callers of one tenant to one domestic number: a carrier's busy hour,
# not fraud) raised to fit it, so that the figures are the cost of deciding and passing calls, not of refusing
# them. Logging at error level in both (the flood ban's timing is read from the harness's packet capture).
guard_config() {
  cat > "$1" <<CFG
[[tenant]]
name = "bench"
[policy.tenants.bench]
mode = "$2"
[[listen]]
address = "127.0.0.1:5060"
role = "pbx"
[[listen]]
address = "127.0.0.1:$GUARD_ACCESS_PORT"
role = "access"
[pbx]
address = "127.0.0.1:$PBX_UAS_PORT"
[trunk]
address = "127.0.0.3:5080"
[log]
level = "error"
CFG
  # GUARD_SHARDS: the guard's SIP shards ([transport] shards; default: one per core the guard may use).
  if [[ -n ${GUARD_SHARDS:-}${GUARD_UDP_READERS:-} ]]; then
    echo '[transport]' >> "$1"
    [[ -z ${GUARD_SHARDS:-} ]] || echo "shards = $GUARD_SHARDS" >> "$1"
    [[ -z ${GUARD_UDP_READERS:-} ]] || echo "udp_readers = $GUARD_UDP_READERS" >> "$1"
  fi
  [[ $2 == enforce ]] || return 0
  local big=1000000000 rule
  echo "[policy.tenants.bench.rules]" >> "$1"
  for rule in velocity_account_minute velocity_account_hour velocity_account_day velocity_tenant_minute \
    velocity_tenant_hour velocity_tenant_day repeat_number_hour failed_account_hour; do
    echo "$rule = { warning = $big, critical = $big, off_hours_warning = $big, off_hours_critical = $big }" >> "$1"
  done
}

# proxy_specs DIR 'NAME|BIN' ...: prints one compare.sh spec per build and mode, then Kamailio's.
proxy_specs() {
  local dir=$1 build name bin mode
  shift
  for build in "$@"; do
    IFS='|' read -r name bin <<<"$build"
    for mode in $MODES; do
      guard_config "$dir/guard-$mode.toml" "$mode"
      echo "$name-$mode|5060|$bin serve --config $dir/guard-$mode.toml"
    done
  done
  [[ ${KAMAILIO:-1} == 1 ]] && echo "$KAMAILIO_SPEC"
  return 0
}

# emergency_call OUT NAME FROM_IP FROM_PORT TO_PORT: one call to 110 (INVITE ... BYE/200, the harness's
# uac_rr.xml) from FROM_IP:FROM_PORT to 127.0.0.1:TO_PORT; writes "completed" or "FAILED (...)" to OUT/NAME.
emergency_call() {
  local out=$1 name=$2 rc=0
  mkdir -p "$out/$name.d"
  (cd "$out/$name.d" && exec timeout -k 5 30 sipp -sf "$HARNESS/sipp/uac_rr.xml" -inf "$HARNESS/sipp/callers.csv" \
    -s 110 -i "$3" -p "$4" -m 1 -recv_timeout 5000 -timeout 20 -nostdin -trace_stat -stf stat.csv \
    "127.0.0.1:$5") > "$out/$name.d/sipp.out" 2>&1 < /dev/null || rc=$?
  if (( rc == 0 )); then echo completed > "$out/$name"; else echo "FAILED (SIPp exit $rc)" > "$out/$name"; fi
}

# emergency_probe FLOOD_OUT PROXY_NAME RUN_PID: once run_flood.sh (RUN_PID) has started its flood, waits
# EMERGENCY_AFTER s and places the two 110 calls at once: from the flooding source 127.0.0.2 (another port
# than the flood's) to where an outsider reaches the proxy (the guard's access listener, whose calls go to the
# PBX UAS; Kamailio's one port) and from the PBX's address 127.0.0.1:5071 to the carrier through the proxy.
emergency_probe() {
  local fout=$1 name=$2 run=$3 port=5060 t=0
  [[ $name == kamailio* ]] || port=$GUARD_ACCESS_PORT
  while [[ ! -e $fout/flood/flood.out ]]; do
    kill -0 "$run" 2>/dev/null || return 0
    (( t++ < 6000 )) || { echo "the flood never started" > "$fout/emergency_from_flooder"; return 0; }
    sleep 0.1
  done
  # The guard's PBX answers the flooder's 110 call: started only now, once the flood step's quiet-box check is
  # behind it (an idle SIPp costs a share of a core, which that check counts as foreign load).
  local pbx=
  if [[ $name != kamailio* ]]; then
    sipp -sf "$HARNESS/sipp/uas_rr.xml" -i 127.0.0.1 -p "$PBX_UAS_PORT" -nostdin -timeout 600 \
      > "$fout/pbx_uas.out" 2>&1 < /dev/null &
    pbx=$!
  fi
  sleep "${EMERGENCY_AFTER:-2}"
  emergency_call "$fout" emergency_from_flooder 127.0.0.2 5091 "$port" &
  local a=$!
  emergency_call "$fout" emergency_from_pbx 127.0.0.1 5071 5060
  wait "$a"
  [[ -z $pbx ]] || { kill "$pbx" 2>/dev/null; wait "$pbx" 2>/dev/null || true; }
}

# flood_summary OUT SPEC...: one row per proxy and flood tool, from each flood step's report and probes.
flood_summary() {
  local out=$1 spec name port cmd tool d ok blocked
  shift
  echo "| proxy | flood | legitimate calls completed (INVITE ... BYE/200 OK) | flooder blocked |" \
    "110 from the banned flooder | 110 from the PBX's address |"
  echo "|---|---|---|---|---|---|"
  for spec in "$@"; do
    IFS='|' read -r name port cmd <<<"$spec"
    for tool in ${FLOOD_TOOLS:-sipp-register}; do
      d=$out/flood-$name-$tool
      ok=$(sed -n 's/^| successful | \(.*\) |$/\1/p' "$d/report.md" 2>/dev/null)
      blocked=$(sed -n 's/^| blocked? | \(.*\) |$/\1/p' "$d/report.md" 2>/dev/null)
      echo "| $name | $tool | ${ok:-no report} | ${blocked:-?} | $(cat "$d/emergency_from_flooder" 2>/dev/null ||
        echo not placed) | $(cat "$d/emergency_from_pbx" 2>/dev/null || echo not placed) |"
    done
  done
  echo
  echo "Completed calls are SIPp's successful calls: INVITE, 200, ACK, then the BYE and its 200 OK, so the BYEs of"
  echo "the calls in progress during the flood are counted there. The 110 calls are placed ${EMERGENCY_AFTER:-2} s"
  echo "into the flood; their packets from 127.0.0.2 are in the flood capture (a few responses to the flooder)."
}

# harness_run OUT 'NAME|BIN' ...: the three steps above; results under OUT.
harness_run() {
  local out=$1 specs spec name port cmd tool
  shift
  mkdir -p "$out"
  mapfile -t specs < <(proxy_specs "$out" "$@")
  cd "$HARNESS"
  if [[ ${NOPROXY:-1} == 1 ]]; then
    echo "=== SIPp -> SIPp without a proxy (the load generator's ceiling)" >&2
    NAME=sipp-only REPS=1 UAS_IP=127.0.0.1 SERVICE=0312345678 OUT=$out/sipp-only ./run_cps.sh none 5080 ||
      echo "the no-proxy baseline failed" >&2
  fi
  if [[ ${CPS:-1} == 1 ]]; then
    UAS_IP=127.0.0.3 SERVICE=0312345678 REPS=${REPS:-2} STEP_SECONDS=${STEP_SECONDS:-10} \
      OUT=$out/cps ./compare.sh "${specs[@]}"
  fi
  [[ ${FLOOD:-1} == 1 ]] || return 0
  local fout run probe
  for spec in "${specs[@]}"; do
    IFS='|' read -r name port cmd <<<"$spec"
    for tool in ${FLOOD_TOOLS:-sipp-register}; do
      echo "=== flood ($tool at ${FLOOD_RATE:-10000}/s) through $name" >&2
      fout=$out/flood-$name-$tool
      mkdir -p "$fout"
      NAME=$name UAS_IP=127.0.0.3 SERVICE=0312345678 FLOOD_TOOL=$tool FLOOD_RATE=${FLOOD_RATE:-10000} \
        OUT=$fout ./run_flood.sh "$cmd" "$port" &
      run=$!
      probe=
      if [[ ${EMERGENCY:-1} == 1 ]]; then
        emergency_probe "$fout" "$name" "$run" &
        probe=$!
      fi
      wait "$run" || echo "run_flood.sh failed for $name ($tool)" >&2
      [[ -z $probe ]] || wait "$probe" || true
    done
  done
  flood_summary "$out" "${specs[@]}" | tee "$out/flood-summary.md"
}

# The guard against Kamailio on the shared SIP proxy harness (../shared/bench/sip-proxy, beside the repo's root),
# sourced by run.sh and before_after.sh. One run does, in order:
#   1. SIPp -> SIPp without a proxy at each rate: the load generator's own ceiling on this box;
#   2. compare.sh: each build of the guard in each mode of $MODES (shadow: every rule runs, nothing refused;
#      enforce: the same rules refuse) and Kamailio (the harness's: -x tlsf, 3 workers, pike, htable bans,
#      dialog), repetitions interleaved;
#   3. run_flood.sh for each of them: legitimate calls while 127.0.0.2 floods at $FLOOD_RATE requests/s.
# Calls go SIPp UAC (127.0.0.1:5070, the guard's PBX) -> proxy (127.0.0.1:5060) -> SIPp UAS (127.0.0.3:5080, the
# guard's carrier), dialing 0312345678.
#
# Environment: HARNESS (the harness folder), RATES, REPS (2), STEP_SECONDS (10), MODES ("shadow enforce"),
# GUARD_SHARDS (the guard's [transport] shards; default one per core),
# NOPROXY (1: run step 1), FLOOD (1: run step 3), FLOOD_RATE (10000), FLOOD_TOOLS ("sipp-register"; also
# "sipp-invite"), FLOOD_SECONDS (15), LEGIT_CPS (100), KAMAILIO (1: include Kamailio), and everything the
# harness's scripts read (QUIET_PCT, QUIET_MAX_WAIT, FOREIGN_MAX_PCT, DISTURBED_RETRIES, SETTLE_S …).

# Beside the repo's root (a checkout), or two levels up (a git worktree in a folder of worktrees).
if [[ -z ${HARNESS:-} ]]; then
  for HARNESS in "$ROOT/../shared/bench/sip-proxy" "$ROOT/../../shared/bench/sip-proxy"; do
    [[ -x $HARNESS/compare.sh ]] && break
  done
fi
[[ -x $HARNESS/compare.sh && -x $HARNESS/run_flood.sh ]] || { echo "no harness at $HARNESS (set HARNESS)" >&2; exit 1; }
MODES=${MODES:-shadow enforce}
KAMAILIO_SPEC="kamailio|5060|kamailio/run-kamailio.sh -A 'UPSTREAM=\"sip:127.0.0.3:5080\"'"

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
[pbx]
address = "127.0.0.1:5070"
[trunk]
address = "127.0.0.3:5080"
[log]
level = "error"
CFG
  # GUARD_SHARDS: the guard's SIP shards ([transport] shards; default: one per core the guard may use).
  if [[ -n ${GUARD_SHARDS:-} ]]; then
    printf '[transport]\nshards = %s\n' "$GUARD_SHARDS" >> "$1"
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
  UAS_IP=127.0.0.3 SERVICE=0312345678 REPS=${REPS:-2} STEP_SECONDS=${STEP_SECONDS:-10} \
    OUT=$out/cps ./compare.sh "${specs[@]}"
  [[ ${FLOOD:-1} == 1 ]] || return 0
  for spec in "${specs[@]}"; do
    IFS='|' read -r name port cmd <<<"$spec"
    for tool in ${FLOOD_TOOLS:-sipp-register}; do
      echo "=== flood ($tool at ${FLOOD_RATE:-10000}/s) through $name" >&2
      NAME=$name UAS_IP=127.0.0.3 SERVICE=0312345678 FLOOD_TOOL=$tool FLOOD_RATE=${FLOOD_RATE:-10000} \
        OUT=$out/flood-$name-$tool ./run_flood.sh "$cmd" "$port" ||
        echo "run_flood.sh failed for $name ($tool)" >&2
    done
  done
}

#!/usr/bin/env bash
# Calls per second through two builds of the guard (an older commit and a newer one) and through Kamailio, in one
# run of the shared SIP proxy harness (../shared/bench/sip-proxy, beside the repo's root), its repetitions
# interleaved so that drifting load on the box hits all three alike. Each commit is built from its own git
# worktree into its own target folder, so nobody's working tree or build is touched.
#
#   bench/guard/before_after.sh OLD_COMMIT [NEW_COMMIT]     NEW_COMMIT defaults to HEAD
#
# Environment: OLD_BIN / NEW_BIN (a tollguard binary already built for that commit: not built again), RATES ("1000 2000 3000 4000 5000 6000 7000 8000"), REPS (2), STEP_SECONDS (10), SCRATCH
# (/tmp/tg-before-after: worktrees, target folders, guard.toml and the harness's raw results), HARNESS (the
# shared harness folder). Prints the harness's report (per step: achieved CPS, failed calls, setup p99, proxy CPU
# per call; and the maximum sustainable CPS of each proxy); the raw files stay in $SCRATCH/results.
set -euo pipefail
[[ $# -ge 1 ]] || { sed -n '2,/^set -eu/p' "$0" | sed 's/^# \{0,1\}//;$d'; exit 2; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HARNESS=${HARNESS:-$ROOT/../shared/bench/sip-proxy}
SCRATCH=${SCRATCH:-/tmp/tg-before-after}
OLD=$(git -C "$ROOT" rev-parse --short "$1")
NEW=$(git -C "$ROOT" rev-parse --short "${2:-HEAD}")
[[ -x $HARNESS/compare.sh ]] || { echo "no harness at $HARNESS (set HARNESS)" >&2; exit 1; }
mkdir -p "$SCRATCH"

build() { # build NAME COMMIT -> $SCRATCH/NAME-target/release/tollguard
  local given=${1^^}_BIN
  if [[ -n ${!given:-} ]]; then
    mkdir -p "$SCRATCH/$1-target/release" && cp "${!given}" "$SCRATCH/$1-target/release/tollguard"
    return
  fi
  local tree=$SCRATCH/$1
  [[ -d $tree ]] || git -C "$ROOT" worktree add --detach "$tree" "$2" >&2
  (cd "$tree" && CARGO_TARGET_DIR=$SCRATCH/$1-target cargo build --release -p tollguard >&2)
  git -C "$ROOT" worktree remove --force "$tree"
}
build old "$OLD"
build new "$NEW"

# The harness's UAC (the PBX) sends from 127.0.0.1:5070 to the guard's pbx listener on 127.0.0.1:5060; the UAS
# (the carrier) answers on 127.0.0.3:5080. Every rule runs in shadow mode: the cost of deciding, not of refusing.
cat > "$SCRATCH/guard.toml" <<'CFG'
[[tenant]]
name = "bench"
[policy.tenants.bench]
mode = "shadow"
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

cd "$HARNESS"
# QUIET_PCT, QUIET_MAX_WAIT, FOREIGN_MAX_PCT, DISTURBED_RETRIES and the other knobs of run_cps.sh pass
# through: on a box shared with builds, e.g. QUIET_PCT=100 QUIET_MAX_WAIT=20 FOREIGN_MAX_PCT=400.
UAS_IP=127.0.0.3 SERVICE=0312345678 REPS=${REPS:-2} STEP_SECONDS=${STEP_SECONDS:-10} \
  RATES=${RATES:-"1000 2000 3000 4000 5000 6000 7000 8000"} \
  OUT=$SCRATCH/results/compare-$(date +%Y%m%d-%H%M%S) ./compare.sh \
  "old-$OLD|5060|$SCRATCH/old-target/release/tollguard serve --config $SCRATCH/guard.toml" \
  "new-$NEW|5060|$SCRATCH/new-target/release/tollguard serve --config $SCRATCH/guard.toml" \
  "kamailio|5060|kamailio/run-kamailio.sh -A 'UPSTREAM=\"sip:127.0.0.3:5080\"'"

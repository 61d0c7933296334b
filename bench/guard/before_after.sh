#!/usr/bin/env bash
# Calls per second through two builds of the guard (an older commit and a newer one), each in shadow and enforce
# mode, and through Kamailio, in one run of the shared SIP proxy harness (../shared/bench/sip-proxy, beside the
# repo's root), its repetitions interleaved so that drifting load on the box hits all alike; then the SIPp-only
# baseline and the flood step for each (bench/guard/harness.sh says what runs and its knobs: MODES, FLOOD …).
# Each commit is built from its own git worktree into its own target folder, so nobody's working tree or build
# is touched.
#
#   bench/guard/before_after.sh OLD_COMMIT [NEW_COMMIT]     NEW_COMMIT defaults to HEAD
#
# Environment: OLD_BIN / NEW_BIN (a tollguard binary already built for that commit: not built again), RATES ("1000 2000 3000 4000 5000 6000 7000 8000"), REPS (2), STEP_SECONDS (10), SCRATCH
# (/tmp/tg-before-after: worktrees, target folders, the guard's configurations and the harness's raw results),
# HARNESS (the shared harness folder), and harness.sh's. Prints the harness's reports (per step: achieved CPS,
# failed calls, setup p99, proxy CPU per call; the maximum sustainable CPS of each proxy; per flood: legitimate
# calls completed, setup p99 before/during/after, when the flooder stopped being answered); the raw files stay in
# $SCRATCH/results.
set -euo pipefail
[[ $# -ge 1 ]] || { sed -n '2,/^set -eu/p' "$0" | sed 's/^# \{0,1\}//;$d'; exit 2; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SCRATCH=${SCRATCH:-/tmp/tg-before-after}
OLD=$(git -C "$ROOT" rev-parse --short "$1")
NEW=$(git -C "$ROOT" rev-parse --short "${2:-HEAD}")
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

. "$ROOT/bench/guard/harness.sh"
export RATES=${RATES:-"1000 2000 3000 4000 5000 6000 7000 8000"}
harness_run \
  "$SCRATCH/results/run-$(date +%Y%m%d-%H%M%S)" \
  "old-$OLD|$SCRATCH/old-target/release/tollguard" \
  "new-$NEW|$SCRATCH/new-target/release/tollguard"

#!/usr/bin/env bash
# The current build of the guard against Kamailio in one run of the shared SIP proxy harness
# (../shared/bench/sip-proxy, beside the repo's root): SIPp without a proxy (the load generator's ceiling), the
# guard in shadow and in enforce mode and Kamailio (-x tlsf, 3 workers) stepped through RATES with interleaved
# repetitions, then the flood step (legitimate calls while 127.0.0.2 floods at FLOOD_RATE requests/s) for each.
# See bench/guard/harness.sh for the set-up and every knob.
#
#   bench/guard/run.sh [RATES...]        default rates: 1000 2000 3000 4000 5000 6000 7000 8000
#
# A quick smoke of the scripts (one short low-rate step, one repetition, a short flood):
#   REPS=1 STEP_SECONDS=3 SETTLE_S=2 FLOOD_SECONDS=3 LEGIT_SECONDS=8 FLOOD_RATE=2000 QUIET_PCT=100 \
#   QUIET_MAX_WAIT=5 FOREIGN_MAX_PCT=400 DISTURBED_RETRIES=0 bench/guard/run.sh 200
#
# Needs sipp, kamailio, dumpcap and a release build: cargo build --release -p tollguard (CARGO_TARGET_DIR
# honoured; TOLLGUARD=path overrides). Results: $OUT (default /tmp/tg-bench/run-DATE): report.md of each part.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TG=${TOLLGUARD:-${CARGO_TARGET_DIR:-$ROOT/target}/release/tollguard}
[[ -x $TG ]] || { echo "build first: cargo build --release -p tollguard" >&2; exit 1; }
TG=$(cd "$(dirname "$TG")" && pwd)/$(basename "$TG")
export RATES=${*:-${RATES:-1000 2000 3000 4000 5000 6000 7000 8000}}
OUT=${OUT:-/tmp/tg-bench/run-$(date +%Y%m%d-%H%M%S)}
. "$ROOT/bench/guard/harness.sh"
harness_run "$OUT" "guard-$(git -C "$ROOT" rev-parse --short HEAD)|$TG"
echo "results: $OUT (cps/report.md, flood-*/report.md, flood-summary.md, sipp-only/report.md)"

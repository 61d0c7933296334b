# Set-up shared by the guard benchmarks, sourced by run.sh and latency.sh after they set DEFAULT_RATES and
# DEFAULT_STEP: paths, the rates (the script's arguments) and step length, the scratch folder $WORK, and $PIDS,
# the processes killed (and $WORK removed, unless KEEP=1) on exit.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TG=${TOLLGUARD:-${CARGO_TARGET_DIR:-$ROOT/target}/release/tollguard}
SCN=$ROOT/crates/guard/tests/sipp
RATES=${*:-$DEFAULT_RATES}
STEP=${STEP_SECS:-$DEFAULT_STEP}
WORK=$(mktemp -d)
PIDS=""
trap 'kill $PIDS 2>/dev/null; if [ "${KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi' EXIT INT TERM
[ -x "$TG" ] || { echo "build first: cargo build --release -p tollguard" >&2; exit 1; }

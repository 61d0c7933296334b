#!/usr/bin/env bash
# Whole-command benchmark of `tollguard analyze` and `backtest` over generated Asterisk CDRs (cdr::synth bench_mix: an office,
# a 60-agent call centre, a night-time US caller, and an attack every week), with every rule on.
# Prints CDRs per second of CPU (user) time and of wall time, and peak RSS, for `analyze` and `backtest` over two file
# sizes: memory must not grow with the file.
# Usage: bench/analyze/run.sh [LINES]   (default 1000000; writes into $BENCH_OUT, default bench/out/, which git
# ignores)
set -euo pipefail
cd "$(dirname "$0")/../.."
lines="${1:-1000000}"
out="${BENCH_OUT:-bench/out}"
mkdir -p "$out"
cargo build --release -q -p tollguard -p cdr --bins --examples
target="${CARGO_TARGET_DIR:-target}/release"
for n in $((lines / 4)) "$lines"; do
  f="$out/cdr_$n.csv"
  [ -s "$f" ] || "$target/examples/synth" --scenario bench_mix --out "$f" --lines "$n" >/dev/null
done
printf '%-9s %-12s %8s %8s %12s %13s %8s %12s %12s %s\n' command lines user_s wall_s "CDRs/s(CPU)" "CDRs/s(wall)" ns/CDR peak_rss_MB json_rss_MB result
for n in $((lines / 4)) "$lines"; do
  f="$out/cdr_$n.csv"
  # The JSON form of the backtest, to score the decisions against the generator's labels. It lists every
  # decision (spooled to a temporary file, so its memory does not grow with them either): its peak RSS is printed.
  /usr/bin/time -f '%M' -o "$out/time_json.txt" "$target/tollguard" backtest --policy bench/analyze/policy.toml --quiet --format json "$f" > "$out/result.json"
  result=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("blocked %d, legit blocked %d, fraud %d" % (j["blocked_calls"], j["legit_blocked"], sum(a["calls"] for a in j["attacks"])))' "$out/result.json")
  read -r jrss < "$out/time_json.txt"
  # Timed runs: the text reports a person reads. `analyze` exits 1 when it finds fraud (the bench mix has some).
  for cmd in analyze backtest; do
    /usr/bin/time -f '%U %e %M' -o "$out/time.txt" "$target/tollguard" "$cmd" --policy bench/analyze/policy.toml \
      --quiet "$f" > "$out/result.txt" || [ "$cmd" = analyze ]
    read -r user wall rss < <(tail -n 1 "$out/time.txt")
    printf '%-9s %-12s %8s %8s %12.0f %13.0f %8.0f %12.1f %12.1f %s\n' "$cmd" "$n" "$user" "$wall" \
      "$(python3 -c "print($n / max($user, 0.01))")" "$(python3 -c "print($n / max($wall, 0.01))")" \
      "$(python3 -c "print($user * 1e9 / $n)")" "$(python3 -c "print($rss / 1024)")" "$(python3 -c "print($jrss / 1024)")" "$result"
  done
done

#!/usr/bin/env bash
# Fuzz smoke run: builds the cargo-fuzz targets of crates/sip and runs each for FUZZ_SECONDS (default 10).
# cargo-fuzz passes nightly-only flags (-Zsanitizer); RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
# Installs cargo-fuzz when missing. Seeds: the crate's own fixtures plus ../shared/testdata/sip when present
# (read in place, never copied into the repository). Any crash fails the script.
set -euo pipefail
cd "$(dirname "$0")/../crates/sip"
secs="${FUZZ_SECONDS:-10}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1

echo "== building fuzz targets"
cargo fuzz build

shared="$(cd ../../.. && pwd)/shared/testdata/sip"
for t in $(cargo fuzz list); do
  corpus="fuzz/corpus/$t"
  mkdir -p "$corpus"
  cp tests/fixtures/invite720.sip "$corpus/seed-invite720"
  seeds=()
  if [ -d "$shared" ] && [ "$t" != "parse_uri" ]; then
    seeds+=("$shared/rfc4475" "$shared/rfc5118" "$shared/scanners")
  fi
  echo "== fuzz $t for ${secs}s"
  cargo fuzz run "$t" "$corpus" ${seeds[@]+"${seeds[@]}"} -- -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
    | grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss|==[0-9]+==ERROR|SUMMARY|Done [0-9]+ runs)" || true
  # grep above only trims the log; a crash leaves an artifact and a non-zero status that we check here.
  if compgen -G "fuzz/artifacts/$t/crash-*" >/dev/null || compgen -G "fuzz/artifacts/$t/leak-*" >/dev/null \
     || compgen -G "fuzz/artifacts/$t/oom-*" >/dev/null || compgen -G "fuzz/artifacts/$t/timeout-*" >/dev/null; then
    echo "FUZZ FAILURE in $t: see crates/sip/fuzz/artifacts/$t" >&2
    exit 1
  fi
done
echo "== fuzz smoke passed"

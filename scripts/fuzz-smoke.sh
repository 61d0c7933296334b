#!/usr/bin/env bash
# Fuzz smoke run: builds the cargo-fuzz targets of every crate with a fuzz folder (crates/sip, crates/cdr,
# crates/numbering, crates/hep, crates/audit: one `cargo fuzz build` per crate) and runs each target for FUZZ_SECONDS
# (default 10).
# cargo-fuzz passes nightly-only flags (-Zsanitizer); RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
# Installs cargo-fuzz when missing. Seeds are written at run time into the (git-ignored) corpus folders, never
# committed:
# - sip: the crate's own fixtures plus ../shared/testdata/sip when present (read in place, never copied).
# - cdr: the crate's test fixtures and a few lines of `cdr::synth`'s benchmark mix (example `synth`), each behind
#   the targets' control byte.
# - numbering: a few dial strings (emergency, national, international, URI, obfuscated), behind a control byte.
# - hep: HEPv3 (IPv4, IPv6, compressed, RTCP), HEP v2 and v1 packets written by `hep`'s example `seeds`, alone
#   and as two-packet streams behind a control byte.
# - audit: the hand-written configuration fixtures, each behind the control byte of its kind.
# Any crash, leak, out-of-memory or timeout (artifact or non-zero libFuzzer status) fails the script.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
secs="${FUZZ_SECONDS:-10}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1

# cargo-fuzz builds into each fuzz folder's own (git-ignored) target dir, whatever CARGO_TARGET_DIR says; the
# synth example (cdr seeds) builds where CARGO_TARGET_DIR says.
fuzz() {
  env -u CARGO_TARGET_DIR cargo fuzz "$@"
}

# Writes seed file $1 as the control byte 0 followed by the bytes of stdin.
seed() {
  { printf '\0'; cat; } >"$1"
}

seeds_sip() { # $1 target, $2 corpus
  cp tests/fixtures/invite720.sip "$2/seed-invite720"
  if [ -d "$shared_sip" ] && [ "$1" != "parse_uri" ]; then
    extra+=("$shared_sip/rfc4475" "$shared_sip/rfc5118" "$shared_sip/scanners")
  fi
}

seeds_cdr() { # $1 target, $2 corpus
  local f
  for f in tests/fixtures/*.csv tests/fixtures/*.tsv tests/fixtures/*.json; do
    case "$1:$(basename "$f")" in
      asterisk_paths_agree:asterisk_*|read_any:*) seed "$2/seed-$(basename "$f")" <"$f" ;;
    esac
  done
  if [ ! -s "$synth_lines" ]; then
    (cd "$root" && cargo run -q -p cdr --example synth -- --scenario bench_mix --lines 40 --seed 3 \
      --out "$synth_lines" >/dev/null)
  fi
  seed "$2/seed-synth-bench-mix" <"$synth_lines"
}

seeds_numbering() { # $1 target, $2 corpus
  local i=0 s
  for s in 110 119 '#110' '0-119' '184 110' 'tel:110' 'sip:119@pbx' '03-1234-5678' '0120-123-456' \
    '090-1234-5678' '010-232-76-123456' '0-0033-010-232-76-1234' '+44 20 7946 0000' '*72 010 1 268 555 0100' \
    'sip:+81312345678@pbx;user=phone' '%2B8810123456' '2001'; do
    printf '%s' "$s" | seed "$2/seed-$i"
    i=$((i + 1))
  done
}

seeds_audit() { # $1 target, $2 corpus
  local f b k
  for f in tests/fixtures/*/*; do
    b="$(basename "$f")"
    case "$b" in
      sip*.conf) k='\000' ;; pjsip*.conf) k='\001' ;; extensions*.conf) k='\002' ;; *.xml) k='\003' ;;
      *.csv|*.tsv) k='\004' ;; *) continue ;;
    esac
    { printf "$k"; cat "$f"; } >"$2/seed-$(basename "$(dirname "$f")")-$b"
  done
}

seeds_hep() { # $1 target, $2 corpus
  (cd "$root" && cargo run -q -p hep --example seeds -- "$crate_dir/$2")
}

shared_sip="$(cd "$root/.." && pwd)/shared/testdata/sip"
synth_lines="$root/crates/cdr/fuzz/corpus/synth-bench-mix.csv"
for dir in "$root"/crates/*/fuzz; do
  [ -f "$dir/Cargo.toml" ] || continue
  crate_dir="$(dirname "$dir")"
  crate="$(basename "$crate_dir")"
  cd "$crate_dir"
  echo "== building fuzz targets of $crate"
  fuzz build
  mkdir -p fuzz/corpus
  for t in $(fuzz list); do
    corpus="fuzz/corpus/$t"
    mkdir -p "$corpus"
    extra=()
    if declare -F "seeds_$crate" >/dev/null; then
      "seeds_$crate" "$t" "$corpus"
    fi
    echo "== fuzz $crate/$t for ${secs}s"
    set +e
    fuzz run "$t" "$corpus" ${extra[@]+"${extra[@]}"} -- -max_total_time="$secs" -timeout=20 \
      -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
      | grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss|==[0-9]+==ERROR|SUMMARY|Done [0-9]+ runs|thread '.*' panicked)"
    status=${PIPESTATUS[0]}
    set -e
    # grep above only trims the log; a crash leaves an artifact and a non-zero status, checked here.
    if [ "$status" -ne 0 ] || compgen -G "fuzz/artifacts/$t/crash-*" >/dev/null \
       || compgen -G "fuzz/artifacts/$t/leak-*" >/dev/null || compgen -G "fuzz/artifacts/$t/oom-*" >/dev/null \
       || compgen -G "fuzz/artifacts/$t/timeout-*" >/dev/null; then
      echo "FUZZ FAILURE in $crate/$t (status $status): see crates/$crate/fuzz/artifacts/$t" >&2
      exit 1
    fi
  done
done
echo "== fuzz smoke passed"

#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: installs the real peers the tests use (SIPp, sipvicious,
# Kamailio with its http_client module, Redis, curl), then checks formatting and lints, runs every test once,
# and gives each fuzz target a short smoke run. README.md and .ci/run call exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
command -v svmap >/dev/null 2>&1 || command -v sipvicious_svmap >/dev/null 2>&1 || need+=(sipvicious)
command -v kamailio >/dev/null 2>&1 || need+=(kamailio)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v curl >/dev/null 2>&1 || need+=(curl)
# Kamailio's http_client module (docs/integrations/kamailio-http.cfg, tests/kamailio_e2e.rs)
ls /usr/lib/*/kamailio/modules/http_client.so /usr/lib/kamailio/modules/http_client.so >/dev/null 2>&1 \
  || need+=(kamailio-utils-modules)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing test peers: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi

# The peers are installed now: tests that need them fail instead of skipping (tests/audit_cli.rs). The base
# kamailio package carries every module those tests load (db_text, auth_db, registrar, usrloc, htable).
export TOLLGUARD_REQUIRE_PEERS=1

# One clean build: incremental caches only cost disk here.
export CARGO_INCREMENTAL=0

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
if [ -x scripts/fuzz-smoke.sh ]; then
  echo "== fuzz smoke"
  scripts/fuzz-smoke.sh
fi
echo "== all tests passed"

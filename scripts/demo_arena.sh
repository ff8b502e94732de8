#!/usr/bin/env bash
# The AI Arena demo (issue 17; `scripts/demo.sh arena` runs it after setup and build): on a
# Hardhat node on a free loopback port (scripts/chain.sh), an ArenaTask with a tiny LLaMA base and
# a held-out set; 8 training nodes (six fine-tuned with `murmur arena train` for 60 down to 3
# steps, one on 6 sequences only, one random adapter, one byte copy of another's adapter submitted
# after it); 4 validators (the farm's `murmur arena validate --daemon` scoring every adapter in one
# batched pass, a copier, a random scorer, a silent one); 2 delegators. Prints ranks, consensus
# scores and every reward and slash by role; writes ${MURMUR_REPORT_DIR:-reports}/arena/
# report.html and summary.json (the acceptance checks), and the output to .../arena.txt.
# Exits 1 when a check fails. The driver is scripts/arena_demo.py; arena/README.md, "The demo".
#
# Environment: MURMUR_BUILD_DIR (default build), MURMUR_REPORT_DIR (default reports),
# MURMUR_ARENA_SEED (default 7), MURMUR_CLI (default $MURMUR_BUILD_DIR/cli/murmur). Everything it
# starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
source scripts/env.sh
BUILD_DIR=${MURMUR_BUILD_DIR:-build}
REPORT_DIR=${MURMUR_REPORT_DIR:-reports}
[[ "$BUILD_DIR" = /* ]] || BUILD_DIR="$PWD/$BUILD_DIR"
[[ "$REPORT_DIR" = /* ]] || REPORT_DIR="$PWD/$REPORT_DIR"
RUN="$REPORT_DIR/arena"
MURMUR=${MURMUR_CLI:-$BUILD_DIR/cli/murmur}
[[ -x "$MURMUR" ]] || { echo "no $MURMUR: build first (scripts/build.sh)" >&2; exit 1; }
[[ -f contracts/artifacts/contracts/ArenaTask.sol/ArenaTask.json ]] ||
  (cd contracts && npx hardhat compile --quiet)

# shellcheck source=scripts/free_port.sh
source scripts/free_port.sh

rm -rf "$RUN"
mkdir -p "$RUN"
export MURMUR_CHAIN_DIR="$RUN/chain" MURMUR_CHAIN_PORT="$(free_port)"
cleanup() {
  local status=$?
  bash scripts/chain.sh stop >/dev/null 2>&1 || true
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

python3 scripts/arena_demo.py --murmur "$MURMUR" --run "$RUN" \
  --rpc "http://127.0.0.1:$MURMUR_CHAIN_PORT" --seed "${MURMUR_ARENA_SEED:-7}" \
  --chain-start "bash scripts/chain.sh start" 2>&1 | tee "$REPORT_DIR/arena.txt"

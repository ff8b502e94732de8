#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds, then runs the main job: federated
# learning on Fashion-MNIST end to end, settled on a local chain.
#
#   1. `murmur info` (what this machine offers);
#   2. a Hardhat node on a free loopback port (scripts/chain.sh, state in the report folder),
#      MockToken, AllianceTask and AllianceTaskV2 deployed;
#   3. `murmur simulate setup-chain`: an AllianceTaskV2 task (issue 16) with a reward pool, 20
#      nodes funded, staked, joined (quorum 50 % of voter stake, tolerance 5000 bps, the rule's
#      text as ruleHash);
#   4. murmurd started with that task and its [chain] (CurveZMQ, trimmed mean): it opens each
#      round on chain (openRound, drawRoles: the roles come from the chain's seed), posts the
#      candidate with the bitmap of the updates it included (postCandidate) and closes the round
#      (finalizeRound, or abandonRound); it never carries a vote;
#   5. `murmur simulate`: 20 nodes x 10 rounds, 4 of them Byzantine (sign-flip, noise, label-flip,
#      ALIE; as voters they reveal the negated score and the complement of their objections),
#      each training locally with libtorch on its Dirichlet(0.5) share. What `murmur node --rpc`
#      does, each node does itself: a proposer commits its update's hash on chain, then uploads;
#      a voter scores the candidate on its own held-out rows, judges each update murmurd lists
#      (client/objections.hpp), commits, then reveals its score and objection bitmap on chain.
#      The Hardhat node mines a block every 250 ms (evm_setIntervalMining). Per round: test accuracy, the rule's flags, the
#      revealed scores, the median and accept, the objections, the transactions, the stakes and
#      rewards that changed; at the end every node claims its rewards and the honest and Byzantine
#      totals (stake + reward, end minus start).
#
# Everything it starts is stopped on exit (also on Ctrl-C or an error). Output goes to the
# terminal and to ${MURMUR_REPORT_DIR:-reports}/demo.txt; the report (HTML, PNG plot, CSV) to
# ${MURMUR_REPORT_DIR:-reports}/demo/report.html. MURMUR_DEMO_SKIP_BUILD=1 skips setup and build;
# MURMUR_DEMO_SEED (7) picks the seed (keys, data split, Byzantine nodes, training).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${MURMUR_DEMO_SKIP_BUILD:-0}" != 1 ]]; then
  bash scripts/setup.sh
  bash scripts/build.sh
fi
# `scripts/demo.sh arena`: the AI Arena demo instead (issue 17; scripts/demo_arena.sh).
[[ "${1:-}" != arena ]] || exec bash scripts/demo_arena.sh
# shellcheck disable=SC1091
source scripts/env.sh
BUILD_DIR=${MURMUR_BUILD_DIR:-build}
REPORT_DIR=${MURMUR_REPORT_DIR:-reports}
[[ "$BUILD_DIR" = /* ]] || BUILD_DIR="$PWD/$BUILD_DIR"
[[ "$REPORT_DIR" = /* ]] || REPORT_DIR="$PWD/$REPORT_DIR"
MURMUR="$BUILD_DIR/cli/murmur"
MURMURD="$BUILD_DIR/server/murmurd"
RUN="$REPORT_DIR/demo"
NODES=20 ROUNDS=10 BYZANTINE=4 SEED=${MURMUR_DEMO_SEED:-7}
ATTACKS=sign-flip,noise,label-flip,alie
RULE=trimmed-mean BETA=0.2

say() { printf '[demo %3ds] %s\n' "$SECONDS" "$*"; }

# shellcheck source=scripts/free_port.sh
source scripts/free_port.sh

rm -rf "$RUN"
mkdir -p "$RUN"
exec > >(tee "$REPORT_DIR/demo.txt") 2>&1
export MURMUR_CHAIN_DIR="$RUN/chain" MURMUR_CHAIN_PORT="$(free_port)" MURMUR_DEPLOY_OUT="$RUN/deployment.json"
RPC="http://127.0.0.1:$MURMUR_CHAIN_PORT"
MURMURD_PID=""
cleanup() {
  local status=$?
  if [[ -n "$MURMURD_PID" ]] && kill -0 "$MURMURD_PID" 2>/dev/null; then
    kill -TERM "$MURMURD_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$MURMURD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$MURMURD_PID" 2>/dev/null || true
  fi
  bash scripts/chain.sh stop >/dev/null 2>&1 || true
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

main() {
  say "murmur info"
  "$MURMUR" info
  echo

  say "local chain: Hardhat node on $RPC, contracts deployed"
  bash scripts/chain.sh start
  bash scripts/chain.sh deploy
  # A block every 250 ms (besides one per transaction): murmurd waits for the seed block after
  # openRound and for the windows to pass; block timestamps then run about 4x wall time.
  curl --silent --show-error --max-time 5 --noproxy '*' -H 'Content-Type: application/json' \
    --data '{"jsonrpc":"2.0","id":1,"method":"evm_setIntervalMining","params":[250]}' "$RPC" \
    >/dev/null
  # Hardhat's account #0 (the well-known "test test ... junk" mnemonic: local chains only) creates
  # the task, pays the nodes' gas and is the task's aggregator.
  (umask 077 && echo 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80 >"$RUN/creator.key")

  say "task: reward pool, $NODES nodes staked and joined"
  "$MURMUR" simulate setup-chain --rpc "$RPC" --deployment "$RUN/deployment.json" \
    --creator-key-file "$RUN/creator.key" --nodes "$NODES" --seed "$SEED" --rounds "$ROUNDS" \
    --stake 1000 --pool 10000 --proposer-bps 5000 --slash-bps 1000 --task-contract v2 \
    --quorum-bps 5000 --tolerance-bps 5000 --rule "$RULE" --beta "$BETA" --out-dir "$RUN"
  # shellcheck disable=SC1091
  source "$RUN/task.env"

  say "murmurd: task $TASK_ID, rule $RULE (beta $BETA)"
  "$MURMURD" keygen "$RUN/server.key" >/dev/null
  local round_port register_port
  round_port=$(free_port)
  register_port=$(free_port)
  cat >"$RUN/murmurd.toml" <<EOF
[server]
endpoint = "tcp://127.0.0.1:$round_port"
register_endpoint = "tcp://127.0.0.1:$register_port"
metrics_port = 0
data_dir = "murmurd-data"
curve = true
curve_secret_key_file = "server.key"
backend = "auto"

[task]
task_id = $TASK_ID
chain_id = $CHAIN_ID
contract = "$CONTRACT"
parameters = $PARAMETERS
rounds = $ROUNDS
proposer_bps = 5000
initial_model = "initial.f32"

[round]
upload_seconds = 120
vote_seconds = 60
quorum = 3
vote_quorum = 1

[aggregation]
rule = "$RULE"
beta = $BETA

[chain]
rpc_url = "$RPC"
key_file = "creator.key"
EOF
  "$MURMURD" --config "$RUN/murmurd.toml" >"$RUN/murmurd.log" 2>&1 &
  MURMURD_PID=$!
  for _ in $(seq 1 100); do
    grep -q "murmurd serving" "$RUN/murmurd.log" 2>/dev/null && break
    kill -0 "$MURMURD_PID" 2>/dev/null || { cat "$RUN/murmurd.log" >&2; echo "murmurd exited" >&2; return 1; }
    sleep 0.2
  done
  grep -q "murmurd serving" "$RUN/murmurd.log" || { echo "murmurd did not start" >&2; return 1; }

  say "simulation: $NODES nodes x $ROUNDS rounds, $BYZANTINE Byzantine ($ATTACKS)"
  "$MURMUR" simulate --nodes "$NODES" --rounds "$ROUNDS" --seed "$SEED" --byzantine "$BYZANTINE" \
    --attack "$ATTACKS" \
    --endpoint "tcp://127.0.0.1:$round_port" --register-endpoint "tcp://127.0.0.1:$register_port" \
    --server-key-file "$RUN/server.key.pub" --server-data-dir "$RUN/murmurd-data" \
    --rpc "$RPC" --deployment "$RUN/deployment.json" --task "$TASK_ID" --task-contract v2 \
    --block-ms 0 \
    --work-dir "$RUN/simulate" --report-dir "$RUN"
  say "done: report $RUN/report.html (plot accuracy.png, rounds.csv); murmurd's log $RUN/murmurd.log"
}

main

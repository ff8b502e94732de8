#!/usr/bin/env bash
# Local EVM chain for Murmuration: a Hardhat 2 node on 127.0.0.1 (chain id 31337) plus deployment
# of MockToken and AllianceTask.
#
#   scripts/chain.sh start    start `hardhat node` in the background, wait until it answers eth_chainId
#   scripts/chain.sh deploy   deploy the contracts to it; writes the addresses as JSON
#   scripts/chain.sh stop     stop the node started by `start`
#   scripts/chain.sh status   say whether it runs (exit 0) or not (exit 3), and whether the deployment is live
#
# Environment:
#   MURMUR_CHAIN_DIR    state directory: pid file, node.log            (default /tmp/murmur-chain)
#   MURMUR_CHAIN_PORT   port on 127.0.0.1                              (default 8545)
#   MURMUR_CHAIN_WAIT   seconds to wait for the node to answer         (default 90)
#   MURMUR_DEPLOY_OUT   deployment JSON (default contracts/deployments/localhost.json)
#
# Every command is idempotent: start on a running node and stop on a stopped one succeed and say so.
# The node holds its state in memory: after stop/start, run deploy again.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONTRACTS="$ROOT/contracts"
STATE_DIR="${MURMUR_CHAIN_DIR:-/tmp/murmur-chain}"
HOST=127.0.0.1
PORT="${MURMUR_CHAIN_PORT:-8545}"
WAIT_S="${MURMUR_CHAIN_WAIT:-90}"
URL="http://$HOST:$PORT"
PID_FILE="$STATE_DIR/node.pid"
LOG_FILE="$STATE_DIR/node.log"
DEPLOY_OUT="${MURMUR_DEPLOY_OUT:-$CONTRACTS/deployments/localhost.json}"
CHAIN_ID_HEX=0x7a69 # 31337

say() { printf 'chain.sh: %s\n' "$*"; }
die() {
  printf 'chain.sh: error: %s\n' "$*" >&2
  exit 1
}

usage() {
  sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

[[ "$PORT" =~ ^[0-9]+$ ]] || die "MURMUR_CHAIN_PORT must be a port number, got '$PORT'"

# JSON-RPC call on loopback; prints the raw response or nothing.
rpc() {
  local method="$1" params="${2:-[]}"
  curl --silent --show-error --max-time 3 --noproxy '*' -H 'Content-Type: application/json' \
    --data "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$method\",\"params\":$params}" "$URL" 2>/dev/null || true
}

# Value of "result" in a JSON-RPC response (strings only), or nothing.
rpc_result() { sed -n 's/.*"result" *: *"\([^"]*\)".*/\1/p'; }

chain_id() { rpc eth_chainId | rpc_result; }

# PID of the node we started, if it is still alive and still a hardhat node; else nothing.
our_pid() {
  [[ -f "$PID_FILE" ]] || return 0
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  # Guard against a recycled pid: the process must be our hardhat node.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'hardhat.* node' || return 0
  echo "$pid"
}

ensure_node_modules() {
  if [[ ! -x "$CONTRACTS/node_modules/.bin/hardhat" ]]; then
    say "installing contract dependencies (npm ci in contracts/)"
    (cd "$CONTRACTS" && npm ci --no-audit --no-fund) || die "npm ci failed in $CONTRACTS"
  fi
}

cmd_start() {
  local pid id
  pid="$(our_pid)"
  if [[ -n "$pid" ]]; then
    id="$(chain_id)"
    if [[ "$id" == "$CHAIN_ID_HEX" ]]; then
      say "already running (pid $pid) at $URL, chain id 31337"
      return 0
    fi
    say "node (pid $pid) runs but does not answer yet; waiting"
  else
    id="$(chain_id)"
    if [[ -n "$id" ]]; then
      die "something not started by this script already answers at $URL (chain id $id); stop it or set MURMUR_CHAIN_PORT"
    fi
    ensure_node_modules
    mkdir -p "$STATE_DIR"
    rm -f "$PID_FILE"
    # Own session so that stop can signal the whole process group; the child writes its own pid
    # before exec so that the pid file names the node process itself.
    (
      cd "$CONTRACTS"
      setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PID_FILE" \
        ./node_modules/.bin/hardhat node --hostname "$HOST" --port "$PORT" >"$LOG_FILE" 2>&1 </dev/null &
    )
    for _ in $(seq 1 50); do
      [[ -s "$PID_FILE" ]] && break
      sleep 0.1
    done
    pid="$(cat "$PID_FILE" 2>/dev/null || true)"
    [[ -n "$pid" ]] || die "the node did not start; see $LOG_FILE"
    say "started hardhat node (pid $pid) on $URL; log $LOG_FILE"
  fi

  local deadline=$((SECONDS + WAIT_S))
  while ((SECONDS < deadline)); do
    id="$(chain_id)"
    if [[ "$id" == "$CHAIN_ID_HEX" ]]; then
      say "ready: $URL answers eth_chainId = $id (31337)"
      return 0
    fi
    if [[ -n "$id" ]]; then
      die "$URL answers with chain id $id, expected $CHAIN_ID_HEX (31337)"
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$LOG_FILE" >&2 || true
      rm -f "$PID_FILE"
      die "the node (pid $pid) exited before answering; log above and in $LOG_FILE"
    fi
    sleep 0.5
  done
  tail -n 30 "$LOG_FILE" >&2 || true
  die "no answer to eth_chainId from $URL within ${WAIT_S}s (MURMUR_CHAIN_WAIT); the node (pid $pid) is left running: 'scripts/chain.sh stop' ends it"
}

cmd_stop() {
  local pid
  pid="$(our_pid)"
  if [[ -z "$pid" ]]; then
    rm -f "$PID_FILE"
    say "not running"
    return 0
  fi
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "pid $pid ignored SIGTERM for 10 s; sending SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
  say "stopped (pid $pid)"
}

cmd_status() {
  local pid id block code addr
  pid="$(our_pid)"
  id="$(chain_id)"
  if [[ -z "$id" ]]; then
    if [[ -n "$pid" ]]; then say "starting (pid $pid), not answering at $URL yet"; else say "not running ($URL)"; fi
    return 3
  fi
  block="$(rpc eth_blockNumber | rpc_result)"
  if [[ -n "$pid" ]]; then
    say "running (pid $pid) at $URL, chain id $((id)), block $((block))"
  else
    say "a chain not started by this script answers at $URL, chain id $((id)), block $((block))"
  fi
  if [[ -f "$DEPLOY_OUT" ]]; then
    addr="$(sed -n 's/.*"allianceTask": *"\(0x[0-9a-fA-F]*\)".*/\1/p' "$DEPLOY_OUT")"
    code="$(rpc eth_getCode "[\"$addr\",\"latest\"]" | rpc_result)"
    if [[ -n "$addr" && -n "$code" && "$code" != "0x" ]]; then
      say "deployment $DEPLOY_OUT: AllianceTask $addr is live"
    else
      say "deployment $DEPLOY_OUT is stale (no code at '${addr}'): run scripts/chain.sh deploy"
    fi
  else
    say "no deployment file at $DEPLOY_OUT"
  fi
}

cmd_deploy() {
  local id
  id="$(chain_id)"
  [[ "$id" == "$CHAIN_ID_HEX" ]] || die "no chain with id 31337 answers at $URL; run 'scripts/chain.sh start' first"
  ensure_node_modules
  (
    cd "$CONTRACTS"
    MURMUR_DEPLOY_OUT="$DEPLOY_OUT" MURMUR_CHAIN_PORT="$PORT" \
      ./node_modules/.bin/hardhat run scripts/deploy.js --network localhost
  ) || die "deployment failed"
  say "deployment written to $DEPLOY_OUT"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  deploy) cmd_deploy ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac

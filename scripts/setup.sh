#!/usr/bin/env bash
# Installs everything Murmuration needs on Debian 12 (bookworm), idempotently and without
# questions: the apt packages in APT_PACKAGES below, then `npm ci` in contracts/. Run as root or
# with sudo. The CUDA toolkit is optional and not installed here: when nvcc is present (e.g.
# /usr/local/cuda) the CUDA backend is built too.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # build, tests, benchmarks
  build-essential cmake ninja-build ccache pkg-config git clang-format
  libgtest-dev libgmock-dev libbenchmark-dev
  # libFuzzer target of the message decoder (tests/fuzz): clang++ with its fuzzer runtime
  clang libclang-rt-14-dev
  # CPU BLAS and model execution
  libopenblas-dev libtorch-dev
  # c10d's ProcessGroupGloo headers (shard/: the Gloo collectives of sharded aggregation)
  libgloo-dev
  # tokenising plain-text evaluation data (murmur-tokenize, its own process: see arena/README.md)
  libsentencepiece-dev sentencepiece
  # transport and messages
  libzmq3-dev cppzmq-dev libprotobuf-dev protobuf-compiler
  # crypto and storage
  libsodium-dev libsecp256k1-dev libcrypto++-dev libssl-dev libsqlite3-dev
  # HTTP, config, CLI, logs, JSON
  libcurl4-openssl-dev libcpp-httplib-dev libtomlplusplus-dev libcli11-dev libspdlog-dev
  nlohmann-json3-dev
  # the BLAKE3 reference implementation: update-hash tests, and a user's way to hash an update file
  b3sum
  # real data; curl for the local chain's health checks
  dataset-fashion-mnist curl
  # bench/shards and ctest shard.netns_round: network namespaces, veth pairs, tc tbf
  iproute2
  # the Python package (python/, built for /usr/bin/python3) and its tests and example
  pybind11-dev python3-dev python3-pytest python3-numpy python3-torch
)
# Node.js for the contracts (Hardhat 2 runs on Debian's Node 18 and on Node 20).
command -v node >/dev/null && command -v npm >/dev/null || APT_PACKAGES+=(nodejs npm)

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || die "not root and no sudo: run as root (apt-get needs it)"
  SUDO=(sudo)
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${#missing[@]} apt packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -q || die "apt-get update failed"
  "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" ||
    die "apt-get install failed for: ${missing[*]}"
else
  say "all ${#APT_PACKAGES[@]} apt packages present"
fi

for tool in cmake ninja g++ protoc node npm; do
  command -v "$tool" >/dev/null || die "$tool is still missing after installation"
done
[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] ||
  die "Fashion-MNIST not found under /usr/share/datasets/fashion-mnist"

if command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; then
  say "CUDA toolkit found: the CUDA backend will be built"
else
  say "no CUDA toolkit: CPU backend only (install the CUDA toolkit for the CUDA backend)"
fi

if [ -f contracts/package-lock.json ]; then
  if [ -d contracts/node_modules ] && [ contracts/node_modules/.package-lock.json -nt contracts/package-lock.json ]; then
    say "contracts/node_modules is up to date"
  else
    say "npm ci in contracts/"
    (cd contracts && npm ci --no-audit --no-fund) || die "npm ci failed in contracts/"
  fi
fi
say "done"

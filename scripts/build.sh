#!/usr/bin/env bash
# Configures and builds Murmuration into ${MURMUR_BUILD_DIR:-build}. Extra arguments go to
# cmake's configure step (e.g. -DMURMUR_CUDA=OFF).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${MURMUR_BUILD_DIR:-build}
JOBS=${MURMUR_JOBS:-$(nproc)}
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$BUILD_DIR" -j "$JOBS"

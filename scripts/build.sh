#!/usr/bin/env bash
# Configures and builds Murmuration into ${MURMUR_BUILD_DIR:-build}. Extra arguments go to
# cmake's configure step (e.g. -DMURMUR_CUDA=OFF).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${MURMUR_BUILD_DIR:-build}
JOBS=${MURMUR_JOBS:-$(nproc)}
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
# A fresh clone on a machine whose ccache is empty (CI): no compile can hit, and ccache would only
# add its preprocessor pass and hashing to each miss (1.0-1.2 CPU-s on a 15 s test file, about
# 8%), so this first build runs without it. Later builds (the build dir configured, or a cache
# with files) use ccache as the CMake launcher sets it up. MURMUR_CCACHE=on keeps it regardless.
if [ "${MURMUR_CCACHE:-}" != on ] && [ ! -f "$BUILD_DIR/CMakeCache.txt" ] && command -v ccache >/dev/null &&
  [ "$(ccache --print-stats 2>/dev/null | awk '$1 == "files_in_cache" {print $2}')" = 0 ]; then
  echo "[build] empty ccache and a fresh build dir: compiling without ccache"
  export CCACHE_DISABLE=1
fi
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$BUILD_DIR" -j "$JOBS"

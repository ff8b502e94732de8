#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs every test (unit,
# integration, contracts; gpu tests skip themselves without a device), first the BLAS-touching
# ones under each OpenBLAS kernel family. Ends with ctest's summary and exits non-zero on any
# failure.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh
source scripts/env.sh
# The tree conforms to .clang-format; a file that does not fails the run at the end.
fmt=0
bash scripts/format.sh check || fmt=$?
bash scripts/build.sh "$@"
echo "[test] build done in $(( $(date +%s) - start )) s"
# The chain tests deploy from Hardhat's artifacts: compile the contracts first (offline, solc-js).
if [ -f contracts/package.json ]; then
  (cd contracts && npx hardhat compile --quiet)
fi
# The BLAS- and libtorch-touching binaries under each OpenBLAS kernel family (Haswell, SkylakeX,
# generic), whatever the environment sets: no verdict may depend on the family.
blas=0
bash scripts/blas-families.sh "${MURMUR_BUILD_DIR:-build}" || blas=$?
# Labels soak (tests/soak, scripts/soak.sh) and demo (the Arena demo, scripts/demo_arena.sh) run
# only on request: ctest -L soak, ctest -L demo.
ctest --test-dir "${MURMUR_BUILD_DIR:-build}" --output-on-failure -j "$(nproc)" --timeout 600 -LE 'soak|demo'
[ "$blas" -eq 0 ] || { echo "[test] a test failed under an OpenBLAS kernel family (see [blas] above)"; exit 1; }
[ "$fmt" -eq 0 ] || { echo "[test] sources do not conform to .clang-format (see [format] above)"; exit 1; }

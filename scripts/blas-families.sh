#!/usr/bin/env bash
# Runs the test binaries whose values pass through OpenBLAS or libtorch GEMMs under each OpenBLAS
# kernel family a user may meet, whatever the environment sets: Haswell (AVX2), SkylakeX
# (AVX-512) and Prescott (the generic SSE3 kernels OpenBLAS falls back to on CPUs it does not
# know). A family changes speed and the last bits of a GEMM; no test verdict may depend on it,
# and this is where a test that does is caught (scripts/test.sh runs it before the suite).
#
# Usage: scripts/blas-families.sh [BUILD_DIR]   (default ${MURMUR_BUILD_DIR:-build})
# A family the CPU cannot execute (SkylakeX without AVX-512) is skipped with the reason.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-${MURMUR_BUILD_DIR:-build}}
TESTS="$BUILD_DIR/tests"

# binary and gtest filter: every CPU case that computes through BLAS or libtorch (the Gram
# matrix of the distance-based rules, the batched MLP, SGMV, libtorch forwards, murmurd's
# round validation). CUDA cases are left to the gpu label.
CASES=(
  "kernel_parity|*CpuVsNaive*-*GpuVsCpu*:*bulyan_n1000*:*nnm_median_n1000*"
  "kernel_unit_tests|*"
  "model_unit_tests|-*GpuVsCpu*"
  "model_torch_tests|*"
  "arena_unit_tests|*BatchedEval*:*Validate*:-*GpuVsCpu*"
  "server_validation_tests|RoundValidation.MultiKrum*:RoundValidation.FedAvg*"
)
[ -x "$TESTS/kernel_sgmv_tests" ] && CASES+=("kernel_sgmv_tests|-*GpuVsCpu*")
[ -x "$TESTS/kernel_batched_mlp_tests" ] && CASES+=("kernel_batched_mlp_tests|-*GpuVsCpu*")

flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
can_run() {
  case "$1" in
    SkylakeX) [[ "$flags" == *" avx512f "* && "$flags" == *" avx512bw "* ]] ;;
    Haswell) [[ "$flags" == *" avx2 "* && "$flags" == *" fma "* ]] ;;
    *) true ;;
  esac
}

start=$(date +%s)
failed=()
for family in Haswell SkylakeX Prescott; do
  if ! can_run "$family"; then
    echo "[blas] $family: skipped, this CPU cannot execute its kernels (no AVX-512)"
    continue
  fi
  t0=$(date +%s)
  # The binaries of one family side by side (one per core); each writes its own log.
  logs=$(mktemp -d)
  for c in "${CASES[@]}"; do printf '%s\n' "$c"; done |
    xargs -P "$(nproc)" -I{} bash -c '
      c="$1"; bin=${c%%|*}; filter=${c#*|}
      cd "$2" && OPENBLAS_CORETYPE=$3 "./$bin" --gtest_filter="$filter" --gtest_brief=1 \
        >"$4/$bin.log" 2>&1 || echo failed >"$4/$bin.failed"' _ {} "$TESTS" "$family" "$logs"
  for c in "${CASES[@]}"; do
    bin=${c%%|*}
    if [ ! -x "$TESTS/$bin" ]; then
      echo "[blas] $bin not built in $TESTS"
      failed+=("$family/$bin")
    elif [ -e "$logs/$bin.failed" ]; then
      echo "[blas] $family: $bin FAILED"
      grep -E '^\[  FAILED  \]|Failure|Expected|Which is|actual' "$logs/$bin.log" | head -40
      failed+=("$family/$bin")
    fi
  done
  rm -rf "$logs"
  echo "[blas] $family: done in $(( $(date +%s) - t0 )) s"
done
echo "[blas] kernel families checked in $(( $(date +%s) - start )) s"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "[blas] FAILED under a kernel family: ${failed[*]}"
  exit 1
fi

# Sourced by scripts/test.sh and scripts/demo.sh: run-time settings for this machine.
#
# OpenBLAS 0.3.21 (Debian 12) picks its kernels from the CPU model; on CPUs it does not know
# (many cloud VMs report a generic "Intel Xeon Processor") it falls back to the SSE3
# "Prescott" kernels, 3-5x slower for every GEMM/SYRK (Krum's Gram matrix, validation,
# libtorch). Name the right kernels from the CPU's flags unless the user already chose.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && [ -r /proc/cpuinfo ]; then
  flags=$(grep -m1 '^flags' /proc/cpuinfo)
  case "$flags" in
    *" avx512f "*) export OPENBLAS_CORETYPE=SkylakeX ;;
    *" avx2 "*) export OPENBLAS_CORETYPE=Haswell ;;
  esac
  unset flags
fi

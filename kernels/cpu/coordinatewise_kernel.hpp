#pragma once
// What the coordinate-wise kernels of every instruction set share: the sorting network as runs
// of compare-exchanges, and the entry point each ISA's translation unit defines
// (coordinatewise_simd.hpp instantiated for it). coordinatewise.cpp picks one at run time.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <utility>
#include <vector>

#include "cpu_backend.hpp"

namespace murmur::kernels::cpu {

/// Largest N the CPU sorts by network, in registers (coordinatewise_simd.hpp: blocks of 16 by
/// Batcher's network, merged by a bitonic merge fused into register blocks); larger columns are
/// transposed, and the window the reduction reads is selected and sorted.
inline constexpr int kCpuNetworkMaxRows = 1024;

/// The sorted positions [lo, hi) reduce_sorted can read besides the median's: the trimmed
/// mean's kept values; MeaMed's reach (its window grows from the middle, at most `keep` values
/// to either side), always covering the middle one or two.
inline std::pair<int, int> sorted_window(int n, ColumnReduce r) {
  int lo = (n - 1) / 2, hi = n / 2 + 1;
  if (r.rule == ColumnRule::kTrimmedMean) lo = std::min(lo, r.trim), hi = std::max(hi, n - r.trim);
  if (r.rule == ColumnRule::kMeaMed) {
    const int m0 = (n - 1) / 2 + 1;
    const int a_lo = std::max(0, r.keep - (n - m0)), a_hi = std::min(r.keep, m0);
    lo = std::min(lo, m0 - a_hi), hi = std::max(hi, m0 - a_lo + r.keep);
  }
  return {std::max(0, lo), std::min(n, hi)};
}

/// Bytes of columns a kernel keeps in flight: up to 8 lane groups whose columns fit, about
/// L1 and a half (more lane groups make each row's read longer: at N = 100 a budget of 48 KiB,
/// 8 groups, ran 1.1-1.2 ns a value on one core where 24 KiB, 4 groups, ran 1.25-1.7).
inline constexpr std::size_t kColumnBudget = 48 * 1024;

/// out[j] = reduce(sorted column j) for j < tile.w, and nonfinite[i] = 1 for every row i of
/// the tile holding a NaN or Inf (out is then meaningless for the columns it touches).
/// Precondition: tile.n <= kCpuNetworkMaxRows.
using NetworkKernel = void (*)(const Tile& tile, ColumnReduce r, float* out,
                               std::atomic<unsigned char>* nonfinite);

/// The kernel for the build's default ISA, 4 lanes (one SSE or NEON register).
void network_kernel_portable(const Tile&, ColumnReduce, float*, std::atomic<unsigned char>*);
#if MURMUR_CPU_X86_DISPATCH
/// AVX2 + FMA (x86-64-v3), 8 lanes a register. Call only where the CPU has them.
void network_kernel_avx2(const Tile&, ColumnReduce, float*, std::atomic<unsigned char>*);
/// AVX-512 F/BW/DQ/VL (x86-64-v4), 16 lanes a register. Call only where the CPU has them.
void network_kernel_avx512(const Tile&, ColumnReduce, float*, std::atomic<unsigned char>*);
#endif

}  // namespace murmur::kernels::cpu

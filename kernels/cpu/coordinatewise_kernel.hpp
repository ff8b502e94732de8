#pragma once
// What the coordinate-wise kernels of every instruction set share: the sorting network as runs
// of compare-exchanges, and the entry point each ISA's translation unit defines
// (coordinatewise_simd.hpp instantiated for it). coordinatewise.cpp picks one at run time.
#include <atomic>
#include <cstddef>
#include <vector>

#include "cpu_backend.hpp"

namespace murmur::kernels::cpu {

/// Comparators (a + t, a + t + k) for t < count, one after another.
struct NetworkRun {
  int a = 0;
  int count = 0;
  int k = 0;
};

/// Batcher's odd-even merge sort on n elements (detail::odd_even_merge_sort), its comparators
/// in their order, less those whose outputs the reduction never reads (about 18% for the
/// median), consecutive ones with the same distance merged into runs. The positions the
/// reduction reads hold what the full sort puts there.
struct SortPlan {
  int n = 0;
  std::vector<NetworkRun> runs;
};
SortPlan make_sort_plan(int n, ColumnReduce r);

/// Largest N the CPU sorts by network (N = 1000: about 24k compare-exchanges per column,
/// each 1/L of an instruction pair); larger columns are transposed and std::sort-ed.
inline constexpr int kCpuNetworkMaxRows = 1024;

/// Bytes of columns a kernel keeps in flight (under a 32 KiB L1 with room for the network).
inline constexpr std::size_t kL1Budget = 24 * 1024;

/// out[j] = reduce(sorted column j) for j < tile.w, and nonfinite[i] = 1 for every row i of
/// the tile holding a NaN or Inf (out is then meaningless for the columns it touches).
/// Precondition: tile.n == plan.n <= kCpuNetworkMaxRows.
using NetworkKernel = void (*)(const Tile& tile, const SortPlan& plan, ColumnReduce r, float* out,
                               std::atomic<unsigned char>* nonfinite);

/// The kernel for the build's default ISA, 4 lanes (one SSE or NEON register).
void network_kernel_portable(const Tile&, const SortPlan&, ColumnReduce, float*,
                             std::atomic<unsigned char>*);
#if MURMUR_CPU_X86_DISPATCH
/// AVX2 + FMA (x86-64-v3), 8 lanes a register. Call only where the CPU has them.
void network_kernel_avx2(const Tile&, const SortPlan&, ColumnReduce, float*,
                         std::atomic<unsigned char>*);
/// AVX-512 F/BW/DQ/VL (x86-64-v4), 16 lanes a register. Call only where the CPU has them.
void network_kernel_avx512(const Tile&, const SortPlan&, ColumnReduce, float*,
                           std::atomic<unsigned char>*);
#endif

}  // namespace murmur::kernels::cpu

// The coordinate-wise rules on the CPU. N <= kCpuNetworkMaxRows: sorting networks in registers
// across SIMD lanes (coordinatewise_simd.hpp), for the widest ISA the CPU has or the one the
// backend was made with. Larger N: the tile transposed in blocks of kBlock columns and each
// column sorted (the median only selects). Either way the finiteness of every row is checked on
// the way in, so the validation pass can ride on this one.
#include <algorithm>
#include <atomic>
#include <memory>
#include <utility>
#include <vector>

#include "coordinatewise_kernel.hpp"
#include "coordinatewise_simd.hpp"
#include "cpu_backend.hpp"
#include "murmur/kernels/coordinatewise.hpp"

namespace murmur::kernels::cpu {

void network_kernel_portable(const Tile& tile, ColumnReduce r, float* out,
                             std::atomic<unsigned char>* nonfinite) {
  reduce_tile_network<4>(tile, r, out, nonfinite);
}

namespace {

// Coordinates per parallel task: a multiple of every lane group (8 x 16 lanes).
constexpr std::size_t kTileCols = 16 * 1024;
// Coordinates transposed at once for the large-N path.
constexpr std::size_t kBlock = 64;

NetworkKernel network_kernel(CpuSimd simd) {
  switch (simd) {
#if MURMUR_CPU_X86_DISPATCH
    case CpuSimd::kAvx512: return network_kernel_avx512;
    case CpuSimd::kAvx2: return network_kernel_avx2;
#endif
    default: return network_kernel_portable;
  }
}

/// Large N: transpose kBlock coordinates, then per column select the window the reduction
/// reads and sort only it (the median only selects its middle values).
void reduce_with_sort(const Tile& tile, ColumnReduce r, std::vector<float>& cols, float* out,
                      std::atomic<unsigned char>* nonfinite) {
  const std::size_t n = tile.n;
  cols.resize(kBlock * n);
  for (std::size_t j0 = 0; j0 < tile.w; j0 += kBlock) {
    const std::size_t w = std::min(kBlock, tile.w - j0);
    for (std::size_t i = 0; i < n; ++i) {
      const float* x = tile.row(i) + j0;
      float bad = 0.0f;
      for (std::size_t l = 0; l < w; ++l) {
        const float v = detail::canonical(x[l]);
        bad += v - v;
        cols[l * n + i] = v;
      }
      if (bad != bad) nonfinite[i].store(1, std::memory_order_relaxed);
    }
    for (std::size_t l = 0; l < w; ++l) {
      float* c = cols.data() + l * n;
      if (r.rule == ColumnRule::kMedian) {
        // Only the middle one or two values matter: select them, leave the rest unsorted.
        std::nth_element(c, c + n / 2, c + n);
        if (n % 2 == 0) std::nth_element(c, c + n / 2 - 1, c + n / 2);
        const double mid = c[n / 2];
        out[j0 + l] = n % 2 ? static_cast<float>(mid)
                            : static_cast<float>(0.5 * (static_cast<double>(c[n / 2 - 1]) + mid));
      } else {
        // Only the window the reduction can sum needs its order: select its ends, sort it
        // alone. Every position in it then holds what the full sort puts there, so
        // reduce_sorted reads the same values (the positions outside it are never read).
        const auto [lo, hi] = sorted_window(static_cast<int>(n), r);
        if (lo > 0) std::nth_element(c, c + lo, c + n);
        if (hi < static_cast<int>(n)) std::nth_element(c + lo, c + hi, c + n);
        std::sort(c + lo, c + hi);
        out[j0 + l] = detail::reduce_sorted(c, static_cast<int>(n), 1, r);
      }
    }
  }
}

}  // namespace

std::vector<bool> coordinate_reduce_checked(CpuBackend& backend, const RowSource& rows,
                                            ColumnReduce r, std::span<float> out) {
  const std::size_t n = rows.rows();
  const auto flags = std::make_unique<std::atomic<unsigned char>[]>(n);
  for (std::size_t i = 0; i < n; ++i) flags[i].store(0);
  if (n <= static_cast<std::size_t>(kCpuNetworkMaxRows)) {
    const NetworkKernel kernel = network_kernel(backend.simd());
    backend.for_each_tile(rows, kTileCols, [&](std::size_t begin, std::size_t, Tile tile) {
      kernel(tile, r, out.data() + begin, flags.get());
    });
  } else {
    backend.for_each_tile(rows, kTileCols, [&](std::size_t begin, std::size_t, Tile tile) {
      thread_local std::vector<float> cols;  // the transposed block, per worker thread
      reduce_with_sort(tile, r, cols, out.data() + begin, flags.get());
    });
  }
  std::vector<bool> finite(n);
  for (std::size_t i = 0; i < n; ++i) finite[i] = flags[i].load() == 0;
  return finite;
}

void coordinate_reduce(CpuBackend& backend, const RowSource& rows, ColumnReduce r,
                       std::span<float> out) {
  coordinate_reduce_checked(backend, rows, r, out);
}

}  // namespace murmur::kernels::cpu

// Sum_i w_i x_i on the CPU, alone or with the validation pass riding on it: blocks of kBlock
// coordinates whose FP64 accumulators stay in L1 while every row streams its slice through
// once, rows in order with one fma each (detail::weighted_step).
#include <array>
#include <cmath>
#include <vector>

#include "cpu_backend.hpp"
#include "murmur/kernels/detail/row_math.hpp"
#include "murmur/kernels/detail/weighted_sum_math.hpp"

namespace murmur::kernels::cpu {
namespace {

// Coordinates per accumulator block: 1024 doubles = 8 KiB of accumulators stay in L1 while
// every row streams its 4 KiB slice through once. A multiple of 8, so that the squares taken on
// the way fall into the same 8 lanes as row_stats' (detail::lane_accumulate).
constexpr std::size_t kBlock = 1024;
// Coordinates per parallel task: big enough to amortise scheduling, small enough to balance.
// The same tiles as row_stats (cpu/row_stats.cpp), so the norms summed here are its bits.
constexpr std::size_t kTileCols = 64 * kBlock;

/// acc[j] = fma(w, x[j], acc[j]) for j < w; with `squares`, also squares[j % 8] += x[j]^2 in
/// the order of detail::lane_accumulate(x, w, ., SquareTerm).
template <bool kSquares>
inline void accumulate_row(const float* x, std::size_t w, double wi, double* acc, double* squares) {
  for (std::size_t j = 0; j < w; ++j) acc[j] = detail::weighted_step(acc[j], wi, x[j]);
  if constexpr (kSquares) detail::lane_accumulate(x, w, 0, detail::SquareTerm{}, squares);
}

template <bool kSquares>
void sum_tiles(CpuBackend& backend, const RowSource& rows, std::span<const double> weights,
               std::span<float> out, std::vector<double>* partial) {
  const std::size_t n = rows.rows();
  backend.for_each_tile(rows, kTileCols, [&](std::size_t begin, std::size_t end, Tile tile) {
    alignas(64) std::array<double, kBlock> acc;
    thread_local std::vector<double> lanes;  // 8 partial sums of squares per row
    if constexpr (kSquares) lanes.assign(8 * n, 0.0);
    for (std::size_t j0 = 0; j0 < end - begin; j0 += kBlock) {
      const std::size_t w = std::min(kBlock, end - begin - j0);
      acc.fill(0.0);
      for (std::size_t i = 0; i < n; ++i)
        accumulate_row<kSquares>(tile.row(i) + j0, w, weights[i], acc.data(),
                                 kSquares ? lanes.data() + 8 * i : nullptr);
      float* o = out.data() + begin + j0;
      for (std::size_t j = 0; j < w; ++j) o[j] = static_cast<float>(acc[j]);
    }
    if constexpr (kSquares)
      for (std::size_t i = 0; i < n; ++i)
        (*partial)[(begin / kTileCols) * n + i] = detail::lane_combine(lanes.data() + 8 * i);
  });
}

}  // namespace

void weighted_sum(CpuBackend& backend, const RowSource& rows, std::span<const double> weights,
                  std::span<float> out) {
  sum_tiles<false>(backend, rows, weights, out, nullptr);
}

std::vector<RowStats> weighted_sum_checked(CpuBackend& backend, const RowSource& rows,
                                           std::span<const double> weights, std::span<float> out) {
  const std::size_t n = rows.rows(), d = rows.cols();
  const std::size_t tiles = (d + kTileCols - 1) / kTileCols;
  std::vector<double> partial(tiles * n, 0.0);
  sum_tiles<true>(backend, rows, weights, out, &partial);
  // Tiles in order, as row_stats sums them.
  std::vector<RowStats> stats(n);
  for (std::size_t i = 0; i < n; ++i) {
    double s = 0.0;
    for (std::size_t t = 0; t < tiles; ++t) s += partial[t * n + i];
    stats[i] = {std::isfinite(s), s};
  }
  return stats;
}

}  // namespace murmur::kernels::cpu

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

/// acc[j] = fma(w[r], x_r[j], acc[j]) for rows r < R in order, j < w: R rows per visit of the
/// accumulators (loaded and stored once for R fma), each value widened once. With `squares`,
/// also squares[r][j % 8] += x_r[j]^2 in the order of detail::lane_accumulate(x_r, w, .,
/// SquareTerm) (8 lanes; w is a multiple of 8 except at a tile's end).
template <std::size_t R, bool kSquares>
inline void accumulate_rows(const float* const* x, std::size_t w, const double* wr,
                            double* __restrict acc, double* __restrict squares) {
  // Local copies the compiler keeps in registers: 8 accumulators a step, 8 lanes per row.
  double sq[R][8];
  if constexpr (kSquares)
    for (std::size_t r = 0; r < R; ++r)
      for (std::size_t l = 0; l < 8; ++l) sq[r][l] = squares[8 * r + l];
  std::size_t j = 0;
  for (; j + 8 <= w; j += 8) {
    double a[8];
    for (std::size_t l = 0; l < 8; ++l) a[l] = acc[j + l];
    for (std::size_t r = 0; r < R; ++r)
      for (std::size_t l = 0; l < 8; ++l) {
        a[l] = detail::weighted_step(a[l], wr[r], x[r][j + l]);
        if constexpr (kSquares) sq[r][l] += detail::SquareTerm{}(x[r][j + l], 0);
      }
    for (std::size_t l = 0; l < 8; ++l) acc[j + l] = a[l];
  }
  for (std::size_t l = 0; j + l < w; ++l)
    for (std::size_t r = 0; r < R; ++r) {
      acc[j + l] = detail::weighted_step(acc[j + l], wr[r], x[r][j + l]);
      if constexpr (kSquares) sq[r][l] += detail::SquareTerm{}(x[r][j + l], 0);
    }
  if constexpr (kSquares)
    for (std::size_t r = 0; r < R; ++r)
      for (std::size_t l = 0; l < 8; ++l) squares[8 * r + l] = sq[r][l];
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
      const float* x[4];
      std::size_t i = 0;
      for (; i + 4 <= n; i += 4) {
        for (std::size_t r = 0; r < 4; ++r) x[r] = tile.row(i + r) + j0;
        accumulate_rows<4, kSquares>(x, w, weights.data() + i, acc.data(),
                                     kSquares ? lanes.data() + 8 * i : nullptr);
      }
      for (; i < n; ++i) {
        x[0] = tile.row(i) + j0;
        accumulate_rows<1, kSquares>(x, w, weights.data() + i, acc.data(),
                                     kSquares ? lanes.data() + 8 * i : nullptr);
      }
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

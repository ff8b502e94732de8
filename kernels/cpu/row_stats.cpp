#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu_backend.hpp"
#include "murmur/kernels/detail/row_math.hpp"

namespace murmur::kernels::cpu {
namespace {

// A fixed tile width (independent of the thread count) fixes the summation order.
constexpr std::size_t kTileCols = 64 * 1024;

/// Per-row sums of f(x_j, j) over the source, in double: per tile of kTileCols in 8
/// interleaved lanes (vectorisable, fixed order), then tiles in order. A resident source is
/// summed a tile of every row at a time; any other one a row at a time, each worker reading
/// one row's tile (kTileCols floats, 256 KiB) into its own buffer, so that N rows never need
/// a tile of N x kTileCols in memory. Both sum in the same order: the same bits.
template <class Term>
std::vector<double> row_sums(CpuBackend& backend, const RowSource& rows, Term term) {
  const std::size_t n = rows.rows(), d = rows.cols();
  const std::size_t tiles = (d + kTileCols - 1) / kTileCols;
  std::vector<double> sums(n, 0.0);
  if (!all_resident(rows)) {
    std::vector<std::vector<float>> buffers(backend.pool().size());
    backend.pool().parallel_for(n, [&](std::size_t i, unsigned worker) {
      std::vector<float>& buf = buffers[worker];
      buf.resize(std::min(kTileCols, d));
      double sum = 0.0;
      for (std::size_t begin = 0; begin < d; begin += kTileCols) {
        const std::size_t end = std::min(d, begin + kTileCols);
        rows.read_row(i, begin, end, buf.data());
        sum += detail::lane_sum(buf.data(), end - begin, begin, term);
      }
      sums[i] = sum;
    });
    return sums;
  }
  std::vector<double> partial(tiles * n, 0.0);
  backend.for_each_tile(rows, kTileCols, [&](std::size_t begin, std::size_t, Tile tile) {
    for (std::size_t i = 0; i < n; ++i)
      partial[(begin / kTileCols) * n + i] = detail::lane_sum(tile.row(i), tile.w, begin, term);
  });
  for (std::size_t t = 0; t < tiles; ++t)
    for (std::size_t i = 0; i < n; ++i) sums[i] += partial[t * n + i];
  return sums;
}

}  // namespace

std::vector<RowStats> row_stats(CpuBackend& backend, const RowSource& rows) {
  const auto sums = row_sums(backend, rows, detail::SquareTerm{});
  std::vector<RowStats> out(sums.size());
  for (std::size_t i = 0; i < sums.size(); ++i) out[i] = {std::isfinite(sums[i]), sums[i]};
  return out;
}

std::vector<double> squared_distances(CpuBackend& backend, const RowSource& rows,
                                      std::span<const float> z) {
  return row_sums(backend, rows, detail::DistanceTerm{z.data()});
}

}  // namespace murmur::kernels::cpu

#include <array>

#include "cpu_backend.hpp"
#include "murmur/kernels/detail/weighted_sum_math.hpp"

namespace murmur::kernels::cpu {
namespace {

// Coordinates per accumulator block: 1024 doubles = 8 KiB of accumulators stay in L1 while
// every row streams its 4 KiB slice through once.
constexpr std::size_t kBlock = 1024;
// Coordinates per parallel task: big enough to amortise scheduling, small enough to balance.
constexpr std::size_t kTileCols = 64 * kBlock;

}  // namespace

void weighted_sum(CpuBackend& backend, const RowSource& rows, std::span<const double> weights,
                  std::span<float> out) {
  const std::size_t n = rows.rows();
  backend.for_each_tile(rows, kTileCols, [&](std::size_t begin, std::size_t end, Tile tile) {
    alignas(64) std::array<double, kBlock> acc;
    for (std::size_t j0 = 0; j0 < end - begin; j0 += kBlock) {
      const std::size_t w = std::min(kBlock, end - begin - j0);
      acc.fill(0.0);
      for (std::size_t i = 0; i < n; ++i) {
        const float* x = tile.row(i) + j0;
        const double wi = weights[i];
        for (std::size_t j = 0; j < w; ++j) acc[j] = detail::weighted_step(acc[j], wi, x[j]);
      }
      float* o = out.data() + begin + j0;
      for (std::size_t j = 0; j < w; ++j) o[j] = static_cast<float>(acc[j]);
    }
  });
}

}  // namespace murmur::kernels::cpu

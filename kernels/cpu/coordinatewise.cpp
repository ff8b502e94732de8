#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "cpu_backend.hpp"
#include "murmur/kernels/coordinatewise.hpp"

namespace murmur::kernels::cpu {
namespace {

constexpr std::size_t kTileCols = 16 * 1024;
// Coordinates sorted side by side, one SIMD lane each: 8 floats = one AVX2 register (GCC's
// vector extension; two SSE registers when built for the baseline ISA).
constexpr std::size_t kLanes = 8;
using Lanes = float __attribute__((vector_size(kLanes * sizeof(float))));
// Coordinates transposed at once for the large-N path.
constexpr std::size_t kBlock = 64;

using Network = std::vector<std::pair<int, int>>;

Network network_for(int n) {
  Network net;
  detail::odd_even_merge_sort(n, [&](int a, int b) { net.emplace_back(a, b); });
  return net;
}

/// Small N: the column values of kLanes coordinates sit side by side, and every
/// compare-exchange of the network is one lane-wise min and max.
void reduce_with_network(const Tile& tile, const Network& net, ColumnReduce r, float* out) {
  const std::size_t n = tile.n;
  Lanes v[detail::kNetworkMaxRows];
  alignas(32) float sorted[detail::kNetworkMaxRows * kLanes];
  for (std::size_t j0 = 0; j0 < tile.w; j0 += kLanes) {
    const std::size_t w = std::min(kLanes, tile.w - j0);
    for (std::size_t i = 0; i < n; ++i) {
      const float* x = tile.row(i) + j0;
      if (w == kLanes) {
        std::memcpy(&v[i], x, sizeof(Lanes));
      } else {
        float pad[kLanes] = {};
        std::copy(x, x + w, pad);
        std::memcpy(&v[i], pad, sizeof(Lanes));
      }
      v[i] = v[i] + 0.0f;  // detail::canonical, lane-wise: -0 becomes +0
    }
    for (const auto& [a, b] : net) {
      const Lanes x = v[a], y = v[b];
      v[a] = y < x ? y : x;
      v[b] = y < x ? x : y;
    }
    std::memcpy(sorted, v, n * sizeof(Lanes));
    for (std::size_t l = 0; l < w; ++l)
      out[j0 + l] = detail::reduce_sorted(sorted + l, static_cast<int>(n), kLanes, r);
  }
}

/// Large N: transpose kBlock coordinates, then sort each column (the median needs only
/// selection of its middle values).
void reduce_with_sort(const Tile& tile, ColumnReduce r, std::vector<float>& cols, float* out) {
  const std::size_t n = tile.n;
  cols.resize(kBlock * n);
  for (std::size_t j0 = 0; j0 < tile.w; j0 += kBlock) {
    const std::size_t w = std::min(kBlock, tile.w - j0);
    for (std::size_t i = 0; i < n; ++i) {
      const float* x = tile.row(i) + j0;
      for (std::size_t l = 0; l < w; ++l) cols[l * n + i] = detail::canonical(x[l]);
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
        std::sort(c, c + n);
        out[j0 + l] = detail::reduce_sorted(c, static_cast<int>(n), 1, r);
      }
    }
  }
}

}  // namespace

void coordinate_reduce(CpuBackend& backend, const RowSource& rows, ColumnReduce r,
                       std::span<float> out) {
  const int n = static_cast<int>(rows.rows());
  const Network net = n <= detail::kNetworkMaxRows ? network_for(n) : Network{};
  backend.for_each_tile(rows, kTileCols, [&](std::size_t begin, std::size_t, Tile tile) {
    if (n <= detail::kNetworkMaxRows) {
      reduce_with_network(tile, net, r, out.data() + begin);
    } else {
      thread_local std::vector<float> cols;  // the transposed block, per worker thread
      reduce_with_sort(tile, r, cols, out.data() + begin);
    }
  });
}

}  // namespace murmur::kernels::cpu

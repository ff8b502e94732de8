#include <cblas.h>

#include <algorithm>

#include "cpu_backend.hpp"

namespace murmur::kernels::cpu {

std::vector<double> gram(CpuBackend& backend, const RowSource& rows) {
  const std::size_t n = rows.rows(), d = rows.cols();
  std::vector<double> g(n * n, 0.0);
  if (n == 0 || d == 0) return g;
  // Tile width: about 32 MiB of doubles per tile, a multiple of 256 coordinates. It depends on
  // N only, so the order of accumulation is fixed.
  std::size_t width = std::clamp<std::size_t>((std::size_t{4} << 20) / n, 256, 1 << 16);
  width = std::min(width - width % 256, d);
  std::vector<double> tile(n * width);
  std::vector<float> buf;
  std::vector<const float*> ptrs;
  const bool resident = all_resident(rows);
  for (std::size_t begin = 0; begin < d; begin += width) {
    const std::size_t end = std::min(d, begin + width), w = end - begin;
    const Tile t = load_tile(rows, begin, end, resident, buf, ptrs);
    backend.pool().parallel_for(n, [&](std::size_t i, unsigned) {
      std::copy(t.row(i), t.row(i) + w, tile.data() + i * w);
    });
    // G += T T^T on the upper triangle; OpenBLAS threads over N, each dot product in K order.
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, static_cast<int>(n),
                static_cast<int>(w), 1.0, tile.data(), static_cast<int>(w), 1.0, g.data(),
                static_cast<int>(n));
  }
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < i; ++j) g[i * n + j] = g[j * n + i];
  return g;
}

}  // namespace murmur::kernels::cpu

#include <cblas.h>

#include <algorithm>

#include "cpu_backend.hpp"

namespace murmur::kernels::cpu {
namespace {

// Coordinates per tile: each tile's Gram is one SSYRK in float (OpenBLAS's fastest path), and
// tiles are accumulated in FP64. 4096-term float dot products keep a relative error near
// sqrt(4096) * 2^-24 = 4e-6 before the FP64 accumulation; the tile width depends on nothing but
// this constant, so the order of accumulation is fixed.
constexpr std::size_t kTileCols = 4096;
// Bytes of rows checked (or copied) per parallel loop: within L3 with room to spare.
constexpr std::size_t kChunkBytes = 8u << 20;

/// The row stride when every row of `source` is resident and rows are equally spaced (a
/// packed matrix, possibly with padding): tiles can then be read in place. 0 otherwise.
std::size_t uniform_stride(const RowSource& source) {
  const std::size_t n = source.rows();
  const float* first = n ? source.resident_row(0) : nullptr;
  if (first == nullptr) return 0;
  if (n == 1) return source.cols();
  const float* second = source.resident_row(1);
  if (second == nullptr || second <= first) return 0;
  const auto stride = static_cast<std::size_t>(second - first);
  for (std::size_t i = 2; i < n; ++i)
    if (source.resident_row(i) != first + i * stride) return 0;
  return stride;
}

/// 0 when x[0..w) is finite, NaN otherwise (x - x is NaN exactly for NaN and Inf).
float nonfinite_mark(const float* x, std::size_t w) {
  float acc[8] = {};
  std::size_t k = 0;
  for (; k + 8 <= w; k += 8)
    for (std::size_t l = 0; l < 8; ++l) acc[l] += x[k + l] - x[k + l];
  for (; k < w; ++k) acc[0] += x[k] - x[k];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

}  // namespace

std::vector<double> gram(CpuBackend& backend, const RowSource& rows, std::vector<bool>* finite) {
  const std::size_t n = rows.rows(), d = rows.cols();
  std::vector<double> g(n * n, 0.0);
  if (finite) finite->assign(n, true);
  if (n == 0 || d == 0) return g;
  const std::size_t stride = uniform_stride(rows);
  const float* base = stride ? rows.resident_row(0) : nullptr;
  // Columns read (or copied) and checked at once: whole tiles, about kChunkBytes of rows, so
  // that small N does not pay a parallel loop per tile and the SSYRKs find the chunk in cache.
  const std::size_t chunk =
      kTileCols * std::max<std::size_t>(1, kChunkBytes / (n * kTileCols * sizeof(float)));
  std::vector<float> buffer(stride ? 0 : n * std::min(chunk, d)), part(n * n);
  std::vector<unsigned char> bad(n, 0);  // row i written by task i only
  for (std::size_t c0 = 0; c0 < d; c0 += chunk) {
    const std::size_t cw = std::min(chunk, d - c0);
    const float* a = base ? base + c0 : buffer.data();
    const std::size_t lda = base ? stride : cw;
    if (!base || finite) {
      backend.pool().parallel_for(n, [&](std::size_t i, unsigned) {
        if (!base) rows.read_row(i, c0, c0 + cw, buffer.data() + i * cw);
        if (finite) {
          const float mark = nonfinite_mark(a + i * lda, cw);
          if (mark != mark) bad[i] = 1;
        }
      });
    }
    // Per tile of kTileCols, in order: part = T T^T (upper triangle), then G += part in FP64.
    for (std::size_t t0 = 0; t0 < cw; t0 += kTileCols) {
      const std::size_t w = std::min(kTileCols, cw - t0);
      cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, static_cast<int>(n), static_cast<int>(w),
                  1.0f, a + t0, static_cast<int>(lda), 0.0f, part.data(), static_cast<int>(n));
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = i; j < n; ++j) g[i * n + j] += part[i * n + j];
    }
  }
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < i; ++j) g[i * n + j] = g[j * n + i];
  if (finite)
    for (std::size_t i = 0; i < n; ++i) (*finite)[i] = bad[i] == 0;
  return g;
}

}  // namespace murmur::kernels::cpu

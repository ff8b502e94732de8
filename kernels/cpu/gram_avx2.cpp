// The Gram tile kernel (gram_tile.hpp) with AVX2 + FMA (-march=x86-64-v3, set on this file by
// kernels/CMakeLists.txt); gram.cpp calls it only where the CPU has AVX2. Same bits as
// gram_tile_portable.
#include <immintrin.h>

#include "gram_tile.hpp"

namespace murmur::kernels::cpu {
namespace {

/// gram_lane_sum in registers: hadd gives (l0+l1, l4+l5, l2+l3, l6+l7); adding its halves
/// crosswise gives (l0+l1)+(l2+l3) and (l4+l5)+(l6+l7), then their sum.
inline double lane_sum(__m256 v) {
  const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
  const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
  const __m256d p = _mm256_hadd_pd(lo, hi);
  const __m128d r = _mm_add_pd(_mm256_castpd256_pd128(p), _mm256_extractf128_pd(p, 1));
  return _mm_cvtsd_f64(_mm_add_sd(r, _mm_unpackhi_pd(r, r)));
}

struct Avx2Block {
  const float* const* x;
  std::size_t w;
  template <std::size_t RI, std::size_t RJ>
  void run(std::size_t i0, std::size_t j0, double* res) const {
    __m256 acc[RI][RJ];
    for (std::size_t a = 0; a < RI; ++a)
      for (std::size_t b = 0; b < RJ; ++b) acc[a][b] = _mm256_setzero_ps();
    const float* xi[RI];
    const float* xj[RJ];
    for (std::size_t a = 0; a < RI; ++a) xi[a] = x[i0 + a];
    for (std::size_t b = 0; b < RJ; ++b) xj[b] = x[j0 + b];
    std::size_t k = 0;
    for (; k + 8 <= w; k += 8) {
      __m256 vi[RI];
      for (std::size_t a = 0; a < RI; ++a) vi[a] = _mm256_loadu_ps(xi[a] + k);
      for (std::size_t b = 0; b < RJ; ++b) {
        const __m256 vj = _mm256_loadu_ps(xj[b] + k);
        for (std::size_t a = 0; a < RI; ++a) acc[a][b] = _mm256_fmadd_ps(vi[a], vj, acc[a][b]);
      }
    }
    if (k < w) {  // the ragged end, lane by lane
      alignas(32) float lanes[8];
      for (std::size_t a = 0; a < RI; ++a)
        for (std::size_t b = 0; b < RJ; ++b) {
          _mm256_store_ps(lanes, acc[a][b]);
          for (std::size_t l = 0; k + l < w; ++l)
            lanes[l] = std::fma(xi[a][k + l], xj[b][k + l], lanes[l]);
          acc[a][b] = _mm256_load_ps(lanes);
        }
    }
    for (std::size_t a = 0; a < RI; ++a)
      for (std::size_t b = 0; b < RJ; ++b) res[a * RJ + b] = lane_sum(acc[a][b]);
  }
};

}  // namespace

void gram_tile_avx2(const float* const* x, std::size_t n, std::size_t w, double* out) {
  gram_tile_walk(n, out, Avx2Block{x, w});
}

}  // namespace murmur::kernels::cpu

// The Gram tile kernel (gram_tile.hpp) with AVX2 + FMA (-march=x86-64-v3, set on this file by
// kernels/CMakeLists.txt); gram.cpp calls it only where the CPU has AVX2. Same bits as
// gram_tile_portable: the same fma per lane in the same order, the same lane sums.
//
// What it does beyond the portable walk (none of it moves a bit):
// - the full 3 x 4 block's k loop is written out in registers (inline asm): twelve accumulators,
//   three rows i and one row j in the sixteen ymm registers, 7 loads per 12 fma. Compiled from
//   intrinsics GCC kept one row i in memory and loaded it four times (10 loads per 12 fma),
//   which with split loads left the load ports, not the FMA units, the limit;
// - each row is copied, when its group of rows j comes up in the walk, into a per-worker buffer
//   aligned to 64 bytes with a stride of a whole number of lines plus one, so every load is
//   aligned (rows of a std::vector are 16 bytes off a line: one load in two split across
//   lines) and rows do not share L1 sets; every row i < j0 was copied in an earlier group;
// - while a group runs, each block prefetches a few lines of the next group's rows, so they
//   come from memory while the FMA units work;
// - the four lane sums of a block's row are done together (one convert per half, two
//   horizontal adds, one 128-bit swap, two adds for four entries).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "gram_tile.hpp"

namespace murmur::kernels::cpu {
namespace {

/// Lines of the next group's rows prefetched before each block.
constexpr std::size_t kPrefetchLines = 16;

/// gram_lane_sum in registers: hadd gives (l0+l1, l4+l5, l2+l3, l6+l7); adding its halves
/// crosswise gives (l0+l1)+(l2+l3) and (l4+l5)+(l6+l7), then their sum.
inline double lane_sum(__m256 v) {
  const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
  const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
  const __m256d p = _mm256_hadd_pd(lo, hi);
  const __m128d r = _mm_add_pd(_mm256_castpd256_pd128(p), _mm256_extractf128_pd(p, 1));
  return _mm_cvtsd_f64(_mm_add_sd(r, _mm_unpackhi_pd(r, r)));
}

/// gram_lane_sum of four accumulators a, b, c, d into out[0..4): with L = lanes 0..3 and
/// H = lanes 4..7 in double, hadd(La, Lb) = (a01, b01, a23, b23) and hadd(Lc, Ld) =
/// (c01, d01, c23, d23); their low halves joined and high halves joined, added, give
/// (a01 + a23, b01 + b23, c01 + c23, d01 + d23); the same from H gives the (l4+l5)+(l6+l7)
/// sums, and one more add the documented order for all four.
inline void lane_sum4(__m256 a, __m256 b, __m256 c, __m256 d, double* out) {
  const auto half_sums = [](__m256d xa, __m256d xb, __m256d xc, __m256d xd) {
    const __m256d p = _mm256_hadd_pd(xa, xb), q = _mm256_hadd_pd(xc, xd);
    return _mm256_add_pd(_mm256_permute2f128_pd(p, q, 0x20), _mm256_permute2f128_pd(p, q, 0x31));
  };
  const auto lo = [](__m256 v) { return _mm256_cvtps_pd(_mm256_castps256_ps128(v)); };
  const auto hi = [](__m256 v) { return _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)); };
  const __m256d l = half_sums(lo(a), lo(b), lo(c), lo(d));
  const __m256d h = half_sums(hi(a), hi(b), hi(c), hi(d));
  _mm256_storeu_pd(out, _mm256_add_pd(l, h));
}

/// The 3 x 4 block's k loop over [0, w) (w a positive multiple of 8) in registers: ymm0..11
/// the accumulators (acc[a][b] in ymm(4a + b), from zero), ymm12..14 rows i, ymm15 a row j.
inline void kernel_3x4(const float* const* xi, const float* const* xj, std::size_t w, __m256* acc) {
  const std::size_t bytes = w * sizeof(float);
  std::size_t k = 0;
  __asm__ volatile(
      "vxorps %%ymm0, %%ymm0, %%ymm0\n\t"
      "vxorps %%ymm1, %%ymm1, %%ymm1\n\t"
      "vxorps %%ymm2, %%ymm2, %%ymm2\n\t"
      "vxorps %%ymm3, %%ymm3, %%ymm3\n\t"
      "vxorps %%ymm4, %%ymm4, %%ymm4\n\t"
      "vxorps %%ymm5, %%ymm5, %%ymm5\n\t"
      "vxorps %%ymm6, %%ymm6, %%ymm6\n\t"
      "vxorps %%ymm7, %%ymm7, %%ymm7\n\t"
      "vxorps %%ymm8, %%ymm8, %%ymm8\n\t"
      "vxorps %%ymm9, %%ymm9, %%ymm9\n\t"
      "vxorps %%ymm10, %%ymm10, %%ymm10\n\t"
      "vxorps %%ymm11, %%ymm11, %%ymm11\n\t"
      ".p2align 5\n"
      "1:\n\t"
      "vmovups (%[i0],%[k]), %%ymm12\n\t"
      "vmovups (%[i1],%[k]), %%ymm13\n\t"
      "vmovups (%[i2],%[k]), %%ymm14\n\t"
      "vmovups (%[j0],%[k]), %%ymm15\n\t"
      "vfmadd231ps %%ymm15, %%ymm12, %%ymm0\n\t"
      "vfmadd231ps %%ymm15, %%ymm13, %%ymm4\n\t"
      "vfmadd231ps %%ymm15, %%ymm14, %%ymm8\n\t"
      "vmovups (%[j1],%[k]), %%ymm15\n\t"
      "vfmadd231ps %%ymm15, %%ymm12, %%ymm1\n\t"
      "vfmadd231ps %%ymm15, %%ymm13, %%ymm5\n\t"
      "vfmadd231ps %%ymm15, %%ymm14, %%ymm9\n\t"
      "vmovups (%[j2],%[k]), %%ymm15\n\t"
      "vfmadd231ps %%ymm15, %%ymm12, %%ymm2\n\t"
      "vfmadd231ps %%ymm15, %%ymm13, %%ymm6\n\t"
      "vfmadd231ps %%ymm15, %%ymm14, %%ymm10\n\t"
      "vmovups (%[j3],%[k]), %%ymm15\n\t"
      "vfmadd231ps %%ymm15, %%ymm12, %%ymm3\n\t"
      "vfmadd231ps %%ymm15, %%ymm13, %%ymm7\n\t"
      "vfmadd231ps %%ymm15, %%ymm14, %%ymm11\n\t"
      "add $32, %[k]\n\t"
      "cmp %[k], %[bytes]\n\t"
      "jne 1b\n\t"
      "vmovups %%ymm0, 0(%[acc])\n\t"
      "vmovups %%ymm1, 32(%[acc])\n\t"
      "vmovups %%ymm2, 64(%[acc])\n\t"
      "vmovups %%ymm3, 96(%[acc])\n\t"
      "vmovups %%ymm4, 128(%[acc])\n\t"
      "vmovups %%ymm5, 160(%[acc])\n\t"
      "vmovups %%ymm6, 192(%[acc])\n\t"
      "vmovups %%ymm7, 224(%[acc])\n\t"
      "vmovups %%ymm8, 256(%[acc])\n\t"
      "vmovups %%ymm9, 288(%[acc])\n\t"
      "vmovups %%ymm10, 320(%[acc])\n\t"
      "vmovups %%ymm11, 352(%[acc])\n\t"
      : [k] "+r"(k)
      : [i0] "r"(xi[0]), [i1] "r"(xi[1]), [i2] "r"(xi[2]), [j0] "r"(xj[0]), [j1] "r"(xj[1]),
        [j2] "r"(xj[2]), [j3] "r"(xj[3]), [bytes] "r"(bytes), [acc] "r"(acc)
      : "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
        "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

struct Avx2Block {
  const float* const* src;  // the tile's rows as given
  const float** x;          // the aligned copies, x[i] valid once row i's group began
  float* base;              // the copies' buffer; null: rows read in place from src
  std::size_t n, w, stride, lines;
  std::size_t next = 0, cursor = 0;  // the next group's first row; lines of it prefetched

  void begin_group(std::size_t j0, std::size_t rj) {
    next = j0 + rj, cursor = 0;
    if (base == nullptr) return;  // rows read in place
    for (std::size_t b = 0; b < rj; ++b) {
      float* row = base + (j0 + b) * stride;
      std::memcpy(row, src[j0 + b], w * sizeof(float));
      x[j0 + b] = row;
    }
  }

  void before_block() {
    const std::size_t rows = n - next < kGramGroupRows ? n - next : kGramGroupRows;
    for (std::size_t p = 0; p < kPrefetchLines && cursor < rows * lines; ++p, ++cursor)
      _mm_prefetch(
          reinterpret_cast<const char*>(src[next + cursor / lines]) + 64 * (cursor % lines),
          _MM_HINT_T0);
  }

  template <std::size_t RI, std::size_t RJ>
  void run(std::size_t i0, std::size_t j0, double* res) const {
    __m256 acc[RI][RJ];
    const float* xi[RI];
    const float* xj[RJ];
    const float* const* rows = base != nullptr ? x : src;
    for (std::size_t a = 0; a < RI; ++a) xi[a] = rows[i0 + a];
    for (std::size_t b = 0; b < RJ; ++b) xj[b] = rows[j0 + b];
    std::size_t k = 0;
    if constexpr (RI == 3 && RJ == 4) {
      k = w & ~std::size_t{7};
      if (k != 0) {
        kernel_3x4(xi, xj, k, &acc[0][0]);
      } else {
        for (std::size_t a = 0; a < RI; ++a)
          for (std::size_t b = 0; b < RJ; ++b) acc[a][b] = _mm256_setzero_ps();
      }
    } else {
      for (std::size_t a = 0; a < RI; ++a)
        for (std::size_t b = 0; b < RJ; ++b) acc[a][b] = _mm256_setzero_ps();
      for (; k + 8 <= w; k += 8) {
        __m256 vi[RI];
        for (std::size_t a = 0; a < RI; ++a) vi[a] = _mm256_loadu_ps(xi[a] + k);
        for (std::size_t b = 0; b < RJ; ++b) {
          const __m256 vj = _mm256_loadu_ps(xj[b] + k);
          for (std::size_t a = 0; a < RI; ++a) acc[a][b] = _mm256_fmadd_ps(vi[a], vj, acc[a][b]);
        }
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
    for (std::size_t a = 0; a < RI; ++a) {
      if constexpr (RJ == 4) {
        lane_sum4(acc[a][0], acc[a][1], acc[a][2], acc[a][3], res + a * RJ);
      } else {
        for (std::size_t b = 0; b < RJ; ++b) res[a * RJ + b] = lane_sum(acc[a][b]);
      }
    }
  }
};

}  // namespace

void gram_tile_avx2(const float* const* x, std::size_t n, std::size_t w, double* out,
                    GramScratch& scratch, const float* const*) {
  if (scratch.rows.size() < n * gram_scratch_stride(w) + 16 || scratch.ptrs.size() < n) {
    // No room for copies (gram.cpp keeps them within the tile budget): rows read in place.
    Avx2Block block{x, nullptr, nullptr, n, w, 0, (w * sizeof(float) + 63) / 64};
    gram_tile_walk(n, out, block);
    return;
  }
  const std::size_t stride = gram_scratch_stride(w);
  float* base = scratch.rows.data();
  base += (64 - reinterpret_cast<std::uintptr_t>(base) % 64) % 64 / sizeof(float);
  Avx2Block block{x, scratch.ptrs.data(), base, n, w, stride, (w * sizeof(float) + 63) / 64};
  gram_tile_walk(n, out, block);
}

}  // namespace murmur::kernels::cpu

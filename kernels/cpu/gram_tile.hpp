#pragma once
// One tile's Gram matrix in a fixed summation order, the same bits on every ISA: for every pair
// i <= j, eight float lanes accumulate x_i[k] * x_j[k] for k = l (mod 8) in increasing k with
// one fma each (lane l of coordinates k0 + l; a ragged end leaves the lanes past it alone),
// then the eight lanes are widened and summed in double as ((l0 + l1) + (l2 + l3)) +
// ((l4 + l5) + (l6 + l7)). Blocks of 3 rows against 4 keep twelve accumulators in registers
// while the three rows stay in L1 and the tile (kGramTile coordinates of every row) in L2.
#include <cmath>
#include <cstddef>
#include <vector>

namespace murmur::kernels::cpu {

/// Coordinates per Gram tile: a lane sums at most 128 float products before the tile's partial
/// is added in FP64 (relative error near sqrt(128) * 2^-24 ~ 7e-7 per partial); 100 rows of
/// one tile are 400 KiB, within L2.
inline constexpr std::size_t kGramTile = 1024;

/// Rows of a Gram tile's group of rows j (the walk below): 4.
inline constexpr std::size_t kGramGroupRows = 4;

/// A worker's scratch for one pass: the AVX2 kernel copies a tile's rows into `rows`, aligned
/// to 64 bytes, row stride gram_scratch_stride(w) (a whole number of 64-byte lines plus one),
/// and points `ptrs` at them; the AVX-512 kernel copies them two by two, interleaved by 8
/// floats, pair stride gram_pair_stride(w). Sized by gram_scratch_reserve for either; left
/// empty, the SIMD kernels read the rows where they are (the same bits). The portable kernel
/// needs none.
struct GramScratch {
  std::vector<float> rows;
  std::vector<const float*> ptrs;
};

inline std::size_t gram_scratch_stride(std::size_t w) {
  return ((w + 15) & ~std::size_t{15}) + 16;
}

/// Floats per row pair in the AVX-512 kernel's layout: its w / 8 whole chunks of both rows (one
/// 64-byte line each) plus one line, so that neighbouring pairs do not share L1 sets.
inline std::size_t gram_pair_stride(std::size_t w) {
  return 16 * (w / 8) + 16;
}

/// Floats of `rows` either SIMD kernel's copies of n rows of w floats need (+ 16: room to
/// align the first row to 64 bytes).
inline std::size_t gram_scratch_floats(std::size_t n, std::size_t w) {
  const std::size_t by_row = n * gram_scratch_stride(w),
                    by_pair = (n + 1) / 2 * gram_pair_stride(w);
  return (by_row > by_pair ? by_row : by_pair) + 16;
}

inline void gram_scratch_reserve(GramScratch& s, std::size_t n, std::size_t w) {
  s.rows.resize(gram_scratch_floats(n, w));
  s.ptrs.resize(n);
}

/// out[i * n + j] for 0 <= i <= j < n: the tile's Gram entry (rows x[i][0..w), w <= kGramTile)
/// in the order above; entries below the diagonal are left alone. `scratch` reserved for
/// (n, w) or more. `next` (or null): the rows, as wide, of the tile the calling worker runs
/// next, which a kernel may prefetch into cache meanwhile (it only reads them).
using GramTileKernel = void (*)(const float* const* x, std::size_t n, std::size_t w, double* out,
                                GramScratch& scratch, const float* const* next);

void gram_tile_portable(const float* const* x, std::size_t n, std::size_t w, double* out,
                        GramScratch& scratch, const float* const* next);
#if MURMUR_CPU_X86_DISPATCH
void gram_tile_avx2(const float* const* x, std::size_t n, std::size_t w, double* out,
                    GramScratch& scratch, const float* const* next);
/// The same with 512-bit registers, two pairs' accumulators a register (gram_avx512.cpp); the
/// only one that prefetches `next`.
void gram_tile_avx512(const float* const* x, std::size_t n, std::size_t w, double* out,
                      GramScratch& scratch, const float* const* next);
#endif

/// The eight lanes of one accumulator in double, in the documented order.
inline double gram_lane_sum(const float* l) {
  const double a = static_cast<double>(l[0]) + static_cast<double>(l[1]);
  const double b = static_cast<double>(l[2]) + static_cast<double>(l[3]);
  const double c = static_cast<double>(l[4]) + static_cast<double>(l[5]);
  const double d = static_cast<double>(l[6]) + static_cast<double>(l[7]);
  return (a + b) + (c + d);
}

/// Calls block.template run<RI, RJ>(i0, j0, res) for blocks of 1..3 rows i0.. against 1..4
/// rows j0.. covering every pair i <= j once, then stores the block's entries with i <= j: the
/// walk of the portable and AVX2 kernels (gram_avx512.cpp walks pairs of rows j). The 4 rows j stay
/// in L1 while the blocks of 3 rows i stream from L2 (3 loads from L2 per 12 fma). The shape
/// changes no bit: each entry is its own sum. Optional hooks: block.begin_group(j0, rj) before the
/// first block of rows j0 .. j0 + rj - 1 (every row i < j0 has been in a group before),
/// block.before_block() before every block.
template <class Block>
void gram_tile_walk(std::size_t n, double* out, Block&& block) {
  constexpr std::size_t kRI = 3, kRJ = kGramGroupRows;
  double res[kRI * kRJ];
  for (std::size_t j0 = 0; j0 < n; j0 += kRJ) {
    const std::size_t rj = n - j0 < kRJ ? n - j0 : kRJ;
    if constexpr (requires { block.begin_group(j0, rj); }) block.begin_group(j0, rj);
    for (std::size_t i0 = 0; i0 < j0 + rj; i0 += kRI) {
      const std::size_t ri = j0 + rj - i0 < kRI ? j0 + rj - i0 : kRI;
      if constexpr (requires { block.before_block(); }) block.before_block();
      auto by_j = [&]<std::size_t RI>() {
        switch (rj) {
          case 1: block.template run<RI, 1>(i0, j0, res); break;
          case 2: block.template run<RI, 2>(i0, j0, res); break;
          case 3: block.template run<RI, 3>(i0, j0, res); break;
          default: block.template run<RI, 4>(i0, j0, res); break;
        }
      };
      switch (ri) {
        case 1: by_j.template operator()<1>(); break;
        case 2: by_j.template operator()<2>(); break;
        default: by_j.template operator()<3>(); break;
      }
      for (std::size_t a = 0; a < ri; ++a)
        for (std::size_t b = 0; b < rj; ++b)
          if (j0 + b >= i0 + a) out[(i0 + a) * n + j0 + b] = res[a * rj + b];
    }
  }
}

}  // namespace murmur::kernels::cpu

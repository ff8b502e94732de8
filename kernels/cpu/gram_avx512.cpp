// The Gram tile kernel (gram_tile.hpp) with AVX-512 (-march=x86-64-v4, set on this file by
// kernels/CMakeLists.txt); gram.cpp calls it only where the CPU has AVX-512 F/BW/DQ/VL. Same
// bits as gram_tile_portable: every pair's eight lanes get the same fma in the same order and
// the same lane sums. A 512-bit register holds two pairs' eight-lane accumulators side by side,
// so one 512-bit fma does the work of two 256-bit ones without changing any lane's sum.
//
// - Layout: when a group of 8 rows j comes up in the walk, its rows are copied two by two into
//   a per-worker buffer aligned to 64 bytes, interleaved by 8 floats: chunk c of the row pair
//   (2p, 2p + 1) is row 2p's floats [8c, 8c + 8) then row 2p + 1's, one 64-byte line. One
//   aligned load gives a pair's chunk (lanes 0..7: entry (i, 2p); 8..15: (i, 2p + 1)); one
//   vbroadcastf32x8 puts row i's chunk, from its half of its own pair's line, in both halves.
//   Every row i below the group was copied in an earlier group. A pair's stride is its lines
//   plus one, so the group's four pairs do not share L1 sets. An odd group's last pair has a
//   zero second row, whose entries are never stored.
// - Blocks of 6 rows i against the group's 4 pairs (8 rows j): 24 accumulators, 4 pairs and 2
//   broadcasts in the 32 zmm registers, 10 loads per 24 fma (inline asm: the loop is written out
//   so that no row is loaded twice). The 4 pairs (32 KiB at kGramTile) stay in L1 while the
//   rows i stream from L2, three whole lines per step. Edge blocks (the group's diagonal, the
//   last rows) take smaller shapes from intrinsics; each entry is its own sum, so no bit moves.
// - The ragged end (w not a multiple of 8) is done lane by lane with std::fma from the rows as
//   given, as gram_avx2.cpp does (padding with zeros would turn a -0.0 sum into +0.0).
// - While a group runs, its 6 x 4 blocks prefetch the next group's rows, a pair each, from
//   inside the loop (two prefetches a step, which retire without waiting for the line): the
//   group's copy then reads them from cache. Prefetched in bursts between blocks, they held up
//   the pipeline once the miss buffers filled, and copies inside the loop (a first version)
//   stalled it on the loads: 4-13 % slower passes than this.
// - Eight entries' lane sums are done together in 512-bit doubles (lane_sum8).
// Without a reserved scratch (gram.cpp keeps the copies within the tile budget) the AVX2 kernel
// runs instead, reading rows in place: the same bits.
// GCC 12.2's AVX-512 intrinsics pass a self-initialised "undefined" vector as the unused
// source of their masked builtins, which -Wuninitialized reports where they are inlined (GCC
// bug 105593, fixed in the headers of later releases the same way).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>
#endif

#include <cstdint>

#include "gram_tile.hpp"

namespace murmur::kernels::cpu {
namespace {

constexpr std::size_t kGroupRows = 8;  // rows j of a group: 4 pairs
constexpr std::size_t kGroupPairs = kGroupRows / 2;
constexpr std::size_t kBlockRows = 6;  // rows i of a full block; even, so blocks start on a pair

/// gram_lane_sum of the eight entries in a, b, c, d (a's low half, a's high half, b's low
/// half, ...) into out[0..8). Widened, each entry is a vector of eight doubles x0..x7;
/// unpacklo + unpackhi of two entries x, y give (x0+x1, y0+y1, x2+x3, y2+y3, x4+x5, ...); two
/// such vectors P, Q, their 128-bit blocks (0, 2 | 0, 2) plus (1, 3 | 1, 3), give
/// (x01+x23, y01+y23, x45+x67, y45+y67, the same for Q's pair); two of those the same way,
/// (lo4 + hi4) for all eight entries: the documented order.
inline void lane_sum8(__m512 a, __m512 b, __m512 c, __m512 d, double* out) {
  const auto pair_sums = [](__m512 v) {
    const __m512d x = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
    const __m512d y = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
    return _mm512_add_pd(_mm512_unpacklo_pd(x, y), _mm512_unpackhi_pd(x, y));
  };
  const auto fold = [](__m512d p, __m512d q) {
    return _mm512_add_pd(_mm512_shuffle_f64x2(p, q, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f64x2(p, q, _MM_SHUFFLE(3, 1, 3, 1)));
  };
  const __m512d t = fold(pair_sums(a), pair_sums(b));
  const __m512d u = fold(pair_sums(c), pair_sums(d));
  _mm512_storeu_pd(out, fold(t, u));
}

/// What a block prefetches while it runs, each row at the end of its whole chunks (the loop
/// counts a negative offset up to 0), null for none: a pair of the next group's rows into L1
/// (near0, near1: both or neither) and one row of the tile its worker runs next into L2 (far).
struct Prefetch {
  const float* near0 = nullptr;
  const float* near1 = nullptr;
  const float* far = nullptr;
};

/// The 6 x 4-pair block's loop over `chunks` (positive) of the pair layout in registers:
/// zmm0..23 the accumulators (acc[a][p] in zmm(4a + p), from zero), zmm24..27 the pairs j,
/// zmm28/29 row i's chunk in both halves. Rows i are pairs ip[0..2] (row 2q at offset 0 of a
/// line, row 2q + 1 at 32); ip and jp point at the end of the whole chunks. The loop body is
/// two chunks (an odd count enters at the second); with kNear and kFar it also prefetches
/// `pf`'s rows, one line of each an iteration.
template <bool kNear, bool kFar>
__attribute__((always_inline)) inline void kernel_6x4(const float* const* ip,
                                                      const float* const* jp, std::size_t chunks,
                                                      const Prefetch& pf, __m512 (&acc)[24]) {
  std::ptrdiff_t k = -static_cast<std::ptrdiff_t>(32 * chunks);  // bytes of one row's chunks
  // clang-format off
#define MURMUR_ZERO(r) "vpxord %%zmm" #r ", %%zmm" #r ", %%zmm" #r "\n\t"
#define MURMUR_ROW(src, bc, a0, a1, a2, a3)               \
  "vbroadcastf32x8 " src ", %%zmm" #bc "\n\t"             \
  "vfmadd231ps %%zmm24, %%zmm" #bc ", %%zmm" #a0 "\n\t"   \
  "vfmadd231ps %%zmm25, %%zmm" #bc ", %%zmm" #a1 "\n\t"   \
  "vfmadd231ps %%zmm26, %%zmm" #bc ", %%zmm" #a2 "\n\t"   \
  "vfmadd231ps %%zmm27, %%zmm" #bc ", %%zmm" #a3 "\n\t"
#define MURMUR_STORE(r, off) "vmovups %%zmm" #r ", " #off "+%[acc]\n\t"
#define MURMUR_STEP(o)                                                                           \
      "vmovaps " o "(%[j0],%[k],2), %%zmm24\n\t"                                                 \
      "vmovaps " o "(%[j1],%[k],2), %%zmm25\n\t"                                                 \
      "vmovaps " o "(%[j2],%[k],2), %%zmm26\n\t"                                                 \
      "vmovaps " o "(%[j3],%[k],2), %%zmm27\n\t"                                                 \
      MURMUR_ROW(o "(%[i0],%[k],2)", 28, 0, 1, 2, 3)                                             \
      MURMUR_ROW(o "+32(%[i0],%[k],2)", 29, 4, 5, 6, 7)                                          \
      MURMUR_ROW(o "(%[i1],%[k],2)", 28, 8, 9, 10, 11)                                           \
      MURMUR_ROW(o "+32(%[i1],%[k],2)", 29, 12, 13, 14, 15)                                      \
      MURMUR_ROW(o "(%[i2],%[k],2)", 28, 16, 17, 18, 19)                                         \
      MURMUR_ROW(o "+32(%[i2],%[k],2)", 29, 20, 21, 22, 23)
#define MURMUR_HEAD                                                                              \
      MURMUR_ZERO(0) MURMUR_ZERO(1) MURMUR_ZERO(2) MURMUR_ZERO(3) MURMUR_ZERO(4) MURMUR_ZERO(5)  \
      MURMUR_ZERO(6) MURMUR_ZERO(7) MURMUR_ZERO(8) MURMUR_ZERO(9) MURMUR_ZERO(10) MURMUR_ZERO(11)\
      MURMUR_ZERO(12) MURMUR_ZERO(13) MURMUR_ZERO(14) MURMUR_ZERO(15) MURMUR_ZERO(16)            \
      MURMUR_ZERO(17) MURMUR_ZERO(18) MURMUR_ZERO(19) MURMUR_ZERO(20) MURMUR_ZERO(21)            \
      MURMUR_ZERO(22) MURMUR_ZERO(23)                                                            \
      "test $32, %[k]\n\t"                                                                       \
      "jz 1f\n\t"                                                                                \
      "sub $32, %[k]\n\t"                                                                        \
      "jmp 2f\n\t"                                                                               \
      ".p2align 6\n"                                                                             \
      "1:\n\t"                                                                                   \
      MURMUR_STEP("0")                                                                           \
      "2:\n\t"                                                                                   \
      MURMUR_STEP("64")
#define MURMUR_TAIL                                                                              \
      "add $64, %[k]\n\t"                                                                        \
      "jnz 1b\n\t"                                                                               \
      MURMUR_STORE(0, 0) MURMUR_STORE(1, 64) MURMUR_STORE(2, 128) MURMUR_STORE(3, 192)           \
      MURMUR_STORE(4, 256) MURMUR_STORE(5, 320) MURMUR_STORE(6, 384) MURMUR_STORE(7, 448)        \
      MURMUR_STORE(8, 512) MURMUR_STORE(9, 576) MURMUR_STORE(10, 640) MURMUR_STORE(11, 704)      \
      MURMUR_STORE(12, 768) MURMUR_STORE(13, 832) MURMUR_STORE(14, 896) MURMUR_STORE(15, 960)    \
      MURMUR_STORE(16, 1024) MURMUR_STORE(17, 1088) MURMUR_STORE(18, 1152)                       \
      MURMUR_STORE(19, 1216) MURMUR_STORE(20, 1280) MURMUR_STORE(21, 1344)                       \
      MURMUR_STORE(22, 1408) MURMUR_STORE(23, 1472)
#define MURMUR_CLOBBERS                                                                          \
      "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",    \
      "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18",   \
      "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28",  \
      "xmm29"
#define MURMUR_ASM(...)                                                                          \
  __asm__ volatile(MURMUR_HEAD __VA_ARGS__ MURMUR_TAIL                                           \
                   : [k] "+r"(k), [acc] "=m"(acc)                                                \
                   : [i0] "r"(ip[0]), [i1] "r"(ip[1]), [i2] "r"(ip[2]), [j0] "r"(jp[0]),         \
                     [j1] "r"(jp[1]), [j2] "r"(jp[2]), [j3] "r"(jp[3]), [p0] "r"(pf.near0),      \
                     [p1] "r"(pf.near1), [p2] "r"(pf.far)                                        \
                   : MURMUR_CLOBBERS)
#define MURMUR_NEAR "prefetcht0 32(%[p0],%[k])\n\tprefetcht0 32(%[p1],%[k])\n\t"
#define MURMUR_FAR "prefetcht1 32(%[p2],%[k])\n\t"
  // clang-format on
  if constexpr (kNear && kFar)
    MURMUR_ASM(MURMUR_NEAR MURMUR_FAR);
  else if constexpr (kNear)
    MURMUR_ASM(MURMUR_NEAR);
  else if constexpr (kFar)
    MURMUR_ASM(MURMUR_FAR);
  else
    MURMUR_ASM("");
#undef MURMUR_ASM
#undef MURMUR_NEAR
#undef MURMUR_FAR
#undef MURMUR_ZERO
#undef MURMUR_ROW
#undef MURMUR_STORE
#undef MURMUR_STEP
#undef MURMUR_HEAD
#undef MURMUR_TAIL
#undef MURMUR_CLOBBERS
}

struct Avx512Tile {
  const float* const* src;   // the tile's rows as given
  const float* const* next;  // the rows of the tile this worker runs next (as wide), or null
  float* base;               // the pair layout: pair q at base + q * stride, 64-byte aligned
  std::size_t n, w, chunks, stride, lines;

  const float* pair(std::size_t q) const { return base + q * stride; }
  const float* row(std::size_t i) const { return base + (i / 2) * stride + 8 * (i % 2); }

  /// Copies rows 2q and 2q + 1 (a zero row past n - 1) into the layout.
  void copy_pair(std::size_t q) const {
    float* dst = base + q * stride;
    const float* r0 = src[2 * q];
    const float* r1 = 2 * q + 1 < n ? src[2 * q + 1] : nullptr;
    for (std::size_t c = 0; c < chunks; ++c) {
      _mm256_store_ps(dst + 16 * c, _mm256_loadu_ps(r0 + 8 * c));
      _mm256_store_ps(dst + 16 * c + 8, r1 ? _mm256_loadu_ps(r1 + 8 * c) : _mm256_setzero_ps());
    }
  }

  /// Pair q's rows at the end of their whole chunks (both rows real).
  Prefetch rows_of_pair(std::size_t q) const {
    return {src[2 * q] + 8 * chunks, src[2 * q + 1] + 8 * chunks, nullptr};
  }

  /// Rows i0 .. i0 + RI - 1 against pairs q0 .. q0 + RP - 1: res[a * 8 + e] = entry
  /// (i0 + a, 2 q0 + e) for e < 2 RP (entries past row n - 1 or below the diagonal unused).
  /// `pf`: rows to prefetch meanwhile.
  template <std::size_t RI, std::size_t RP>
  void run(std::size_t i0, std::size_t q0, double* res, const Prefetch& pf) const {
    __m512 acc[RI][RP];
    bool prefetched = false;
    if constexpr (RI == kBlockRows && RP == kGroupPairs) {
      if (chunks != 0) {
        const float* ip[3] = {pair(i0 / 2) + 16 * chunks, pair(i0 / 2 + 1) + 16 * chunks,
                              pair(i0 / 2 + 2) + 16 * chunks};
        const float* jp[4] = {pair(q0) + 16 * chunks, pair(q0 + 1) + 16 * chunks,
                              pair(q0 + 2) + 16 * chunks, pair(q0 + 3) + 16 * chunks};
        __m512(&flat)[24] = *reinterpret_cast<__m512(*)[24]>(&acc[0][0]);
        const bool near = pf.near0 != nullptr, far = pf.far != nullptr;
        if (near && far)
          kernel_6x4<true, true>(ip, jp, chunks, pf, flat);
        else if (near)
          kernel_6x4<true, false>(ip, jp, chunks, pf, flat);
        else if (far)
          kernel_6x4<false, true>(ip, jp, chunks, pf, flat);
        else
          kernel_6x4<false, false>(ip, jp, chunks, pf, flat);
        prefetched = true;
      } else {
        for (std::size_t a = 0; a < RI; ++a)
          for (std::size_t p = 0; p < RP; ++p) acc[a][p] = _mm512_setzero_ps();
      }
    } else {
      const float* xi[RI];
      const float* xj[RP];
      for (std::size_t a = 0; a < RI; ++a) xi[a] = row(i0 + a);
      for (std::size_t p = 0; p < RP; ++p) xj[p] = pair(q0 + p);
      for (std::size_t a = 0; a < RI; ++a)
        for (std::size_t p = 0; p < RP; ++p) acc[a][p] = _mm512_setzero_ps();
      for (std::size_t c = 0; c < chunks; ++c) {
        __m512 vj[RP];
        for (std::size_t p = 0; p < RP; ++p) vj[p] = _mm512_load_ps(xj[p] + 16 * c);
        for (std::size_t a = 0; a < RI; ++a) {
          const __m512 vi = _mm512_broadcast_f32x8(_mm256_load_ps(xi[a] + 16 * c));
          for (std::size_t p = 0; p < RP; ++p) acc[a][p] = _mm512_fmadd_ps(vi, vj[p], acc[a][p]);
        }
      }
    }
    if (!prefetched)  // not done in the loop: now
      for (std::size_t l = 0; l < lines; ++l) {
        if (pf.near0 != nullptr) {
          _mm_prefetch(reinterpret_cast<const char*>(pf.near0 - 8 * chunks) + 64 * l, _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char*>(pf.near1 - 8 * chunks) + 64 * l, _MM_HINT_T0);
        }
        if (pf.far != nullptr)
          _mm_prefetch(reinterpret_cast<const char*>(pf.far - 8 * chunks) + 64 * l, _MM_HINT_T1);
      }
    const std::size_t k = 8 * chunks;
    if (k < w) {  // the ragged end, lane by lane, from the rows as given
      alignas(64) float lanes[16];
      for (std::size_t a = 0; a < RI; ++a)
        for (std::size_t p = 0; p < RP; ++p) {
          _mm512_store_ps(lanes, acc[a][p]);
          for (std::size_t h = 0; h < 2; ++h) {
            const std::size_t j = 2 * (q0 + p) + h;
            if (j >= n) continue;  // an odd group's zero row
            for (std::size_t l = 0; k + l < w; ++l)
              lanes[8 * h + l] = std::fma(src[i0 + a][k + l], src[j][k + l], lanes[8 * h + l]);
          }
          acc[a][p] = _mm512_load_ps(lanes);
        }
    }
    const __m512 zero = _mm512_setzero_ps();
    for (std::size_t a = 0; a < RI; ++a)
      lane_sum8(acc[a][0], RP > 1 ? acc[a][1 % RP] : zero, RP > 2 ? acc[a][2 % RP] : zero,
                RP > 3 ? acc[a][3 % RP] : zero, res + 8 * a);
  }
};

/// Groups of 4 pairs of rows j (8 rows), each copied when it comes up, the first group taking
/// the pairs left over (n = 100: 2 pairs, then 12 groups of 4); blocks of up to 6 rows i from
/// row 0 to the group's last row, each against the group's pairs that hold a row j >= its first
/// row i, covering every pair i <= j once; only entries with i <= j < n are stored. With the
/// short group first, the last groups' many blocks are whole 6 x 4 ones: at n = 100 they do 95 %
/// of the work, against 88 % with the short group last (16 blocks of 6 rows x 2 pairs). Each
/// block prefetches one of the next group's whole pairs while any is left, and one row of the
/// next tile (if any) while any is left; rows of it no block took are prefetched at the end.
void avx512_tile_walk(const Avx512Tile& tile, double* out) {
  const std::size_t n = tile.n, whole_pairs = n / 2, pairs = (n + 1) / 2;
  double res[kBlockRows * kGroupRows];
  std::size_t far_next = 0;
  for (std::size_t g0 = 0, rp = pairs % kGroupPairs != 0 ? pairs % kGroupPairs : kGroupPairs;
       g0 < pairs; g0 += rp, rp = kGroupPairs) {
    const std::size_t j0 = 2 * g0, rj = n - j0 < 2 * rp ? n - j0 : 2 * rp;
    for (std::size_t q = g0; q < g0 + rp; ++q) tile.copy_pair(q);
    std::size_t pf_next = g0 + rp;
    const std::size_t pf_end =
        pf_next + kGroupPairs < whole_pairs ? pf_next + kGroupPairs : whole_pairs;
    for (std::size_t i0 = 0; i0 < j0 + rj; i0 += kBlockRows) {
      const std::size_t ri = j0 + rj - i0 < kBlockRows ? j0 + rj - i0 : kBlockRows;
      const std::size_t p0 = i0 > j0 ? (i0 - j0) / 2 : 0;  // i0 and j0 are even
      const std::size_t q0 = j0 / 2 + p0;
      Prefetch pf;
      if (pf_next < pf_end) pf = tile.rows_of_pair(pf_next++);
      if (tile.next != nullptr && far_next < n) pf.far = tile.next[far_next++] + 8 * tile.chunks;
      auto by_pairs = [&]<std::size_t RI>() {
        switch (rp - p0) {
          case 1: tile.template run<RI, 1>(i0, q0, res, pf); break;
          case 2: tile.template run<RI, 2>(i0, q0, res, pf); break;
          case 3: tile.template run<RI, 3>(i0, q0, res, pf); break;
          default: tile.template run<RI, 4>(i0, q0, res, pf); break;
        }
      };
      switch (ri) {
        case 1: by_pairs.template operator()<1>(); break;
        case 2: by_pairs.template operator()<2>(); break;
        case 3: by_pairs.template operator()<3>(); break;
        case 4: by_pairs.template operator()<4>(); break;
        case 5: by_pairs.template operator()<5>(); break;
        default: by_pairs.template operator()<6>(); break;
      }
      for (std::size_t a = 0; a < ri; ++a)
        for (std::size_t j = 2 * q0 > i0 + a ? 2 * q0 : i0 + a; j < j0 + rj; ++j)
          out[(i0 + a) * n + j] = res[a * kGroupRows + j - 2 * q0];
    }
  }
  for (; tile.next != nullptr && far_next < n; ++far_next)
    for (std::size_t l = 0; l < tile.lines; ++l)
      _mm_prefetch(reinterpret_cast<const char*>(tile.next[far_next]) + 64 * l, _MM_HINT_T1);
}

}  // namespace

void gram_tile_avx512(const float* const* x, std::size_t n, std::size_t w, double* out,
                      GramScratch& scratch, const float* const* next) {
  if (scratch.rows.size() < gram_scratch_floats(n, w)) {
    gram_tile_avx2(x, n, w, out, scratch, next);  // no room for copies: rows read in place
    return;
  }
  float* base = scratch.rows.data();
  base += (64 - reinterpret_cast<std::uintptr_t>(base) % 64) % 64 / sizeof(float);
  const Avx512Tile tile{
      x, next, base, n, w, w / 8, gram_pair_stride(w), (w * sizeof(float) + 63) / 64};
  avx512_tile_walk(tile, out);
}

}  // namespace murmur::kernels::cpu

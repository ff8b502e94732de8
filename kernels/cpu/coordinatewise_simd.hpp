#pragma once
// The coordinate-wise rules across SIMD lanes: one column per lane, G vectors of L lanes side by
// side, sorted in registers (every compare-exchange one lane-wise min and max between
// registers, on integer keys of the same order where the ISA has integer min/max), then the column
// reduction (median, trimmed mean, MeaMed) vectorised across lanes in double. Included by one
// translation unit per instruction set (coordinatewise.cpp: the build's ISA; coordinatewise_avx2
// .cpp; coordinatewise_avx512.cpp), so everything here has internal linkage: each TU's copy is
// compiled for its own ISA and no copy can be picked by the linker for another.
//
// Each lane computes exactly what detail::reduce_sorted computes for its column (same sorted
// values, the same double sums in ascending order), so every ISA and lane width gives the same
// bits, and so does the CUDA backend.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "coordinatewise_kernel.hpp"

namespace murmur::kernels::cpu {
namespace {  // NOLINT(cert-dcl59-cpp): one copy per ISA translation unit, by design

// GCC's vector extension; a typedef inside a class template takes a dependent size, an alias
// template does not.
template <int L>
struct VecTypes {
  typedef float F __attribute__((vector_size(L * sizeof(float))));
  typedef double D __attribute__((vector_size(L * sizeof(double))));
  typedef std::int32_t I __attribute__((vector_size(L * sizeof(std::int32_t))));
};
template <int L>
using Vec = typename VecTypes<L>::F;
template <int L>
using DVec = typename VecTypes<L>::D;

// What the networks sort: where the ISA has a lane-wise min and max of signed 32-bit integers
// (SSE4.1, AVX2, AVX-512, NEON), each float as an integer key of the same order; else the
// floats themselves. A canonical float's key is its bits with the 31 value bits flipped when
// the sign is set: signed integer order is then float order (+0 and every negative keep their
// places; -0 never occurs), so the sorted keys are the sorted floats, bit for bit, after the
// same involution back. Integer min/max issue on twice the pipes of float min/max on AMD's Zen
// (this machine: 0.24 against 0.36 ns a compare-exchange of 8 lanes in registers).
#if defined(__SSE4_1__) || defined(__ARM_NEON)
constexpr bool kIntegerKeys = true;
template <int L>
using Key = typename VecTypes<L>::I;
#else
constexpr bool kIntegerKeys = false;
template <int L>
using Key = Vec<L>;
#endif

/// The key of each lane of t (canonical floats), or t itself.
template <int L>
inline Key<L> to_key(Vec<L> t) {
  if constexpr (kIntegerKeys) {
    Key<L> b;
    std::memcpy(&b, &t, sizeof b);
    return b ^ ((b >> 31) & 0x7fffffff);
  } else {
    return t;
  }
}

/// The float bits of each key (the same involution), as a key-typed vector.
template <class V>
inline V from_key(V k) {
  if constexpr (kIntegerKeys)
    return k ^ ((k >> 31) & 0x7fffffff);
  else
    return k;
}

/// Coordinates per lane group in flight: rows are prefetched this many groups ahead.
constexpr std::size_t kPrefetchGroups = 2;

/// Prefetches every cache line of a lane group's rows (with 32 or more rows the hardware
/// prefetchers lose track), a few at each call, while the group before it sorts. A prefetch
/// that finds every L1 miss buffer busy stalls the core until one frees: issued in one run (as
/// each row loaded, before), a group's 400 lines at N = 100 took that stall in one piece, and
/// the memory's time added to the sort's. Spread between the sort's register blocks they keep
/// the buffers busy while it computes. The stall grows with each miss's latency: rows 40 MB
/// apart (D = 1e7) are gathered at 20-23 GB/s, 4 MB apart (D = 1e6) at 36 (loads alone, two
/// threads, AMD EPYC; 2 MiB pages changed neither). bench/aggregate, two threads, N = 100,
/// D = 1e7: MeaMed 300 -> 230-255 ms, median 265 -> 190-220, trimmed mean 290 -> 200-240;
/// D = 1e6 the same or 2-4% faster.
class RowPrefetch {
 public:
  /// Starts on [j, j + cols) of every row of the tile; what the last group left is issued now.
  void start(const Tile& tile, std::size_t j, std::size_t cols) {
    rest();
    tile_ = &tile;
    offset_ = j * sizeof(float);
    lines_ = (cols * sizeof(float) + 63) / 64;
    row_ = lines_ == 0 ? tile.n : 0;  // no lines (past the tile's end): every row done
    line_ = 0;
    const std::size_t total = tile.n * lines_;
    per_call_ = calls_ == 0 ? total : (total + calls_ - 1) / calls_;
    calls_ = 0;
  }
  /// The next few lines: as many a call as spread the group over the calls the last one made.
  void some() {
    ++calls_;
    issue(per_call_);
  }
  /// Every line not issued yet.
  void rest() { issue(std::numeric_limits<std::size_t>::max()); }

 private:
  void issue(std::size_t count) {
    if (tile_ == nullptr) return;
    for (; count > 0 && row_ < tile_->n; --count) {
      __builtin_prefetch(reinterpret_cast<const char*>(tile_->row(row_)) + offset_ + 64 * line_);
      if (++line_ == lines_) line_ = 0, ++row_;
    }
  }
  const Tile* tile_ = nullptr;
  std::size_t offset_ = 0, lines_ = 0, row_ = 0, line_ = 0, per_call_ = 0, calls_ = 0;
};

template <int L>
DVec<L> splat(double x) {
  return x - DVec<L>{};
}

/// L floats at p (any alignment), widened to double.
template <int L>
DVec<L> load_wide(const float* p) {
#if defined(__AVX__)
  if constexpr (L == 4) return _mm256_cvtps_pd(_mm_loadu_ps(p));  // one vcvtps2pd
#endif
  Vec<L> x;
  std::memcpy(&x, p, sizeof x);
  return __builtin_convertvector(x, DVec<L>);
}

/// Whether a lane of x is NaN: one compare and a mask move where the ISA has them.
template <class V>
inline bool any_nan(V x) {
#if defined(__AVX512F__)
  if constexpr (sizeof(V) == 64) return _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q) != 0;
#endif
#if defined(__AVX__)
  if constexpr (sizeof(V) == 32) return _mm256_movemask_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q)) != 0;
#endif
#if defined(__SSE__)
  if constexpr (sizeof(V) == 16) return _mm_movemask_ps(_mm_cmpunord_ps(x, x)) != 0;
#endif
  bool any = false;
  for (std::size_t l = 0; l < sizeof(V) / sizeof(float); ++l) any = any || x[l] != x[l];
  return any;
}

/// Loads G*L coordinates [j0, j0 + w) of every row into v (row i at v[i*G .. i*G+G)), as
/// canonical values (-0 read as +0), zero-padded past w; flags rows holding a NaN or Inf.
/// With `prefetch`, each row's lines kPrefetchGroups lane groups ahead are prefetched as it loads.
template <int L, int G>
void load_columns(const Tile& tile, std::size_t j0, std::size_t w, Key<L>* v,
                  std::atomic<unsigned char>* nonfinite, bool prefetch) {
  for (std::size_t i = 0; i < tile.n; ++i) {
    const float* x = tile.row(i) + j0;
    if (prefetch)
      for (std::size_t b = 0; b < G * L * sizeof(float); b += 64)
        __builtin_prefetch(reinterpret_cast<const char*>(x + kPrefetchGroups * G * L) + b);
    Vec<L> bad{};
    for (int g = 0; g < G; ++g) {
      Vec<L> t;
      if (w == static_cast<std::size_t>(G * L)) {
        std::memcpy(&t, x + g * L, sizeof t);
      } else {
        float pad[L] = {};
        const std::size_t from = static_cast<std::size_t>(g) * L;
        if (from < w) std::copy(x + from, x + std::min(w, from + L), pad);
        std::memcpy(&t, pad, sizeof t);
      }
      t = t + 0.0f;  // detail::canonical, lane-wise
      v[i * G + g] = to_key<L>(t);
      bad += t - t;  // 0 where finite, NaN where not
    }
    if (any_nan(bad) && nonfinite != nullptr) nonfinite[i].store(1, std::memory_order_relaxed);
  }
}

/// Whether every lane of a comparison's result (-1 or 0 a lane) is set.
template <class M>
inline bool all_lanes(M m) {
#if defined(__AVX512DQ__)
  if constexpr (sizeof(M) == 64) {
    __m512i x;
    std::memcpy(&x, &m, sizeof x);
    return _mm512_movepi64_mask(x) == 0xff;
  }
#endif
#if defined(__AVX__)
  if constexpr (sizeof(M) == 32) {
    __m256d x;
    std::memcpy(&x, &m, sizeof x);
    return _mm256_movemask_pd(x) == 0xf;
  }
#endif
#if defined(__SSE2__)
  if constexpr (sizeof(M) == 16) {
    __m128d x;
    std::memcpy(&x, &m, sizeof x);
    return _mm_movemask_pd(x) == 0x3;
  }
#endif
  bool all = true;
  for (std::size_t l = 0; l < sizeof(M) / sizeof(m[0]); ++l) all = all && m[l] != 0;
  return all;
}

/// Lane-wise (min, max) of (a, b): one min and one max instruction for AVX and SSE registers,
/// else a compare and two selects (AVX-512: GCC 12's _mm512_min_ps trips -Wmaybe-uninitialized,
/// and the compiler emits the same min/max for the select form).
template <class V>
inline void compare_exchange(V& a, V& b) {
  const V x = a, y = b;
#if defined(__AVX__)
  if constexpr (sizeof(V) == 32 && !kIntegerKeys) {
    a = _mm256_min_ps(y, x);  // y < x ? y : x
    b = _mm256_max_ps(y, x);  // y > x ? y : x
    return;
  }
#endif
#if defined(__SSE__)
  if constexpr (sizeof(V) == 16 && !kIntegerKeys) {
    a = _mm_min_ps(y, x);
    b = _mm_max_ps(y, x);
    return;
  }
#endif
  a = y < x ? y : x;  // integer keys: vpminsd / vpmaxsd (pminsd, smin on NEON)
  b = y < x ? x : y;
}

// --- sorting in registers ------------------------------------------------------------------
//
// The comparators are compile-time constants: a column of up to kSortBlock values is loaded
// into registers, sorted by Batcher's network unrolled (every min/max between registers) and
// stored once. Larger columns are padded with +inf to a power of two P, sorted in blocks of
// kSortBlock that way, then merged by a bitonic merge whose steps are fused into register
// blocks: per merge of two sorted runs of m, one "flip" step (i against 2m-1-i), the steps of
// distance >= kSortBlock for up to 8 blocks at once (one value of each, the same offset in
// every block), and the last four steps (distances 8, 4, 2, 1) on each block of 16 in
// registers. (Before, the network ran as runs of compare-exchanges through L1, a load and a
// store for both values of each, and a loop's overhead for every run of one.) Any correct sort
// leaves the same sorted column (values are canonical), so the reduction reads the bits the
// full Batcher network (detail::odd_even_merge_sort, the CUDA kernel's) leaves.

/// Values sorted in registers at once (AVX2 and SSE have 16 registers; AVX-512 32).
constexpr int kSortBlock = 16;

/// Batcher's network on M values (detail::odd_even_merge_sort) as a constant table.
template <int M>
struct Network {
  struct Pair {
    unsigned char a, b;
  };
  static constexpr int kSize = [] {
    int c = 0;
    detail::odd_even_merge_sort(M, [&c](int, int) { ++c; });
    return c;
  }();
  static constexpr std::array<Pair, kSize> kPairs = [] {
    std::array<Pair, kSize> p{};
    int c = 0;
    detail::odd_even_merge_sort(M, [&](int a, int b) {
      p[c++] = {static_cast<unsigned char>(a), static_cast<unsigned char>(b)};
    });
    return p;
  }();
};

template <int M, class V, std::size_t... I>
inline void network_in_registers([[maybe_unused]] V* r, std::index_sequence<I...>) {
  (compare_exchange(r[Network<M>::kPairs[I].a], r[Network<M>::kPairs[I].b]), ...);
}

/// Sorts the M values v[0], v[s], ..., v[(M-1)s] lane-wise in registers.
template <int M, class V>
void sort_in_registers(V* v, std::size_t s) {
  V r[M];
#pragma GCC unroll 32
  for (int i = 0; i < M; ++i) r[i] = v[static_cast<std::size_t>(i) * s];
  network_in_registers<M>(r, std::make_index_sequence<Network<M>::kSize>{});
#pragma GCC unroll 32
  for (int i = 0; i < M; ++i) v[static_cast<std::size_t>(i) * s] = r[i];
}

template <class V>
using SortFn = void (*)(V*, std::size_t);

template <class V, std::size_t... M>
constexpr std::array<SortFn<V>, sizeof...(M)> small_sorts(std::index_sequence<M...>) {
  return {&sort_in_registers<static_cast<int>(M) + 1, V>...};
}

/// The steps of distance C/2, C/4, ..., 1 (in blocks) of a bitonic half-cleaner on C values
/// v[0], v[s], ..., v[(C-1)s], in registers; kToFloat: stored back as float bits (from_key).
template <int C, class V, bool kToFloat = false>
void half_clean_in_registers(V* v, std::size_t s) {
  V r[C];
#pragma GCC unroll 16
  for (int i = 0; i < C; ++i) r[i] = v[static_cast<std::size_t>(i) * s];
#pragma GCC unroll 16
  for (int k = C / 2; k >= 1; k /= 2)
#pragma GCC unroll 16
    for (int i = 0; i < C; ++i)
      if ((i & k) == 0) compare_exchange(r[i], r[i + k]);
#pragma GCC unroll 16
  for (int i = 0; i < C; ++i) v[static_cast<std::size_t>(i) * s] = kToFloat ? from_key(r[i]) : r[i];
}

/// Distances 8, 4, 2, 1 of a merge on the block of kSortBlock values at v, of which the first
/// `real` are values and the rest padding (the largest key, never moved): a comparator reaching
/// past `real` leaves both values where they are, so only the first R rows are cleaned, R the
/// power of two at or above `real` (the last block at N = 100: 4 values, 4 compare-exchanges
/// for 32). to_float: the block leaves as float bits, as the reduction reads it.
template <class V>
void clean_block(V* v, std::size_t s, int real, bool to_float) {
  if (to_float) {
    if (real > 8)
      half_clean_in_registers<16, V, true>(v, s);
    else if (real > 4)
      half_clean_in_registers<8, V, true>(v, s);
    else if (real > 2)
      half_clean_in_registers<4, V, true>(v, s);
    else if (real == 2)
      half_clean_in_registers<2, V, true>(v, s);
    else
      v[0] = from_key(v[0]);
  } else {
    if (real > 8)
      half_clean_in_registers<16>(v, s);
    else if (real > 4)
      half_clean_in_registers<8>(v, s);
    else if (real > 2)
      half_clean_in_registers<4>(v, s);
    else if (real == 2)
      half_clean_in_registers<2>(v, s);
  }
}

/// The first steps of merging the sorted runs [lo, lo + m) and [lo + m, lo + 2m) (m = C blocks)
/// for offset t of every block at once, in registers: the flip (i against 2m-1-i, which pairs
/// offset t of block j in the first run with offset 15-t of block C-1-j in the second) and the
/// half-cleaner steps of distance m/2 .. kSortBlock in each half (both closed over the 2C values,
/// so one load and one store each where the flip and these steps each made a round through L1
/// before). Values at rows >= n are the padding (the largest key): not loaded, not stored.
template <int C, class V>
void flip_clean_in_registers(V* v, std::size_t s, int lo, int n, V pad) {
  constexpr int kM = C * kSortBlock;
  for (int t = 0; t < kSortBlock; ++t) {
    V a[C], b[C];  // a[j]: row lo + 16j + t; b[j]: its mirror lo + 2m-1 - (16j + t)
#pragma GCC unroll 8
    for (int j = 0; j < C; ++j) {
      a[j] = v[static_cast<std::size_t>(lo + j * kSortBlock + t) * s];
      const int q = lo + 2 * kM - 1 - (j * kSortBlock + t);
      b[j] = q < n ? v[static_cast<std::size_t>(q) * s] : pad;
    }
#pragma GCC unroll 8
    for (int j = 0; j < C; ++j) compare_exchange(a[j], b[j]);
#pragma GCC unroll 8
    for (int k = C / 2; k >= 1; k /= 2)
#pragma GCC unroll 8
      for (int j = 0; j < C; ++j)
        if ((j & k) == 0) {
          compare_exchange(a[j], a[j + k]);
          compare_exchange(b[j + k], b[j]);  // b runs down the second half: b[j+k] is lower
        }
#pragma GCC unroll 8
    for (int j = 0; j < C; ++j) {
      v[static_cast<std::size_t>(lo + j * kSortBlock + t) * s] = a[j];
      const int q = lo + 2 * kM - 1 - (j * kSortBlock + t);
      if (q < n) v[static_cast<std::size_t>(q) * s] = b[j];
    }
  }
}

/// Rows a column of n takes while it is sorted: n, or the next power of two above kSortBlock.
inline std::size_t padded_rows(std::size_t n) {
  std::size_t p = kSortBlock;
  while (p < n) p *= 2;
  return n <= static_cast<std::size_t>(kSortBlock) ? n : p;
}

/// Sorts the n values v[0], v[s], ... lane-wise (n <= kCpuNetworkMaxRows); rows n .. P-1
/// (P = padded_rows(n)) are scratch: v must hold P rows. They are
/// set to +inf, and every compare-exchange (a, b) has a < b, so one with b >= n leaves both
/// values where they are (+inf is the largest value): such comparators are skipped, and so is
/// every register block that lies wholly past n.
///
/// Only the sorted positions [need_lo, need_hi) must hold what a full sort puts there: after the
/// steps of distance >= kSortBlock of a bitonic merge, each block holds the values of its
/// final positions, so the last merge cleans only the segments and blocks that reach into
/// that window (the median: one block of the last merge's seven at n = 100). Those positions
/// are left as float bits (from_key), as the cleaning stores them: the reduction reads floats.
/// `ahead` gets a call between register blocks.
template <class V>
void sort_column_registers(V* v, std::size_t s, int n, int need_lo, int need_hi,
                           RowPrefetch& ahead) {
  static constexpr auto kSmall = small_sorts<V>(std::make_index_sequence<kSortBlock>{});
  if (n <= kSortBlock) {
    if (n > 1) kSmall[static_cast<std::size_t>(n - 1)](v, s);
    for (int i = need_lo; i < need_hi; ++i)
      v[static_cast<std::size_t>(i) * s] = from_key(v[static_cast<std::size_t>(i) * s]);
    return;
  }
  const int p = static_cast<int>(padded_rows(static_cast<std::size_t>(n)));
  V inf;  // the largest key: +inf, or the largest integer
  for (std::size_t l = 0; l < sizeof(V) / sizeof(float); ++l) {
    if constexpr (kIntegerKeys)
      inf[l] = std::numeric_limits<std::int32_t>::max();
    else
      inf[l] = std::numeric_limits<float>::infinity();
  }
  for (int i = n; i < p; ++i) v[static_cast<std::size_t>(i) * s] = inf;
  const auto at = [&](int i) -> V& { return v[static_cast<std::size_t>(i) * s]; };
  // Blocks of kSortBlock; the last one holding real values sorts only them.
  for (int b = 0; b < n; b += kSortBlock) {
    ahead.some();
    if (n - b >= kSortBlock)
      sort_in_registers<kSortBlock>(&at(b), s);
    else if (n - b > 1)
      kSmall[static_cast<std::size_t>(n - b - 1)](&at(b), s);
  }
  const std::size_t bs = static_cast<std::size_t>(kSortBlock) * s;
  for (int m = kSortBlock; m < p; m *= 2) {
    // Whether [a, a + len) reaches into the positions read (always, before the last merge).
    const bool last = 2 * m == p;
    const auto needed = [&](int a, int len) { return !last || (a < need_hi && a + len > need_lo); };
    // Two sorted runs of m: i against 2m-1-i leaves both halves bitonic, the first <= the
    // second. A merge whose second run lies past n has nothing to do.
    int k = m / 2;
    if (m <= 8 * kSortBlock) {
      // The flip and the steps of distance >= kSortBlock together (runs of 1, 2, 4, 8 blocks).
      for (int lo = 0; lo + m < n; lo += 2 * m) {
        ahead.some();
        if (m == kSortBlock)
          flip_clean_in_registers<1>(v, s, lo, n, inf);
        else if (m == 2 * kSortBlock)
          flip_clean_in_registers<2>(v, s, lo, n, inf);
        else if (m == 4 * kSortBlock)
          flip_clean_in_registers<4>(v, s, lo, n, inf);
        else
          flip_clean_in_registers<8>(v, s, lo, n, inf);
      }
      k = kSortBlock / 2;  // what is left: the steps within each block
    } else {
      for (int lo = 0; lo + m < n; lo += 2 * m)
        for (int i = std::max(0, lo + 2 * m - n); i < m; ++i)
          compare_exchange(at(lo + i), at(lo + 2 * m - 1 - i));
    }
    // Each half of m: distances m/2 .. kSortBlock, one value of each block at a time; beyond
    // 8 blocks a step of its own, then 8 blocks in registers.
    for (; k >= 8 * kSortBlock; k /= 2)
      for (int i = 0; i + k < n; ++i)
        if ((i & k) == 0 && needed(i & ~(2 * k - 1), 2 * k)) compare_exchange(at(i), at(i + k));
    if (k >= kSortBlock) {
      const int c = 2 * k / kSortBlock;  // blocks per register group: 2, 4 or 8
      for (int g = 0; g + kSortBlock < n; g += c * kSortBlock)  // a comparator below n
        for (int t = 0; t < kSortBlock && needed(g, 2 * k); ++t) {
          V* base = &at(g + t);
          ahead.some();
          if (c == 2)
            half_clean_in_registers<2>(base, bs);
          else if (c == 4)
            half_clean_in_registers<4>(base, bs);
          else
            half_clean_in_registers<8>(base, bs);
        }
    }
    // Distances 8, 4, 2, 1 within each block; the last merge leaves the blocks read as floats.
    for (int b = 0; b < n; b += kSortBlock)
      if (needed(b, kSortBlock)) {
        ahead.some();
        clean_block(&at(b), s, std::min(kSortBlock, n - b), last);
      }
  }
}

/// detail::reduce_sorted for K x D lanes at once: column l of half-group h has its sorted
/// values at col[h * D + i * stride + l], i < n. D doubles make one register (half the float
/// lanes); the K half-groups are K independent chains of additions, so the ascending sums (one
/// dependent add per value in each lane) overlap instead of waiting on each other.
template <int D, int K>
void reduce_batch(const float* col, std::size_t stride, int n, ColumnReduce r, float* out) {
  const auto at = [&](int i, int h) {
    return load_wide<D>(col + static_cast<std::size_t>(i) * stride + h * D);
  };
  DVec<D> median[K], sum[K];
#pragma GCC unroll 8
  for (int h = 0; h < K; ++h) {
    median[h] = n % 2 == 1 ? at(n / 2, h) : 0.5 * (at(n / 2 - 1, h) + at(n / 2, h));
    sum[h] = DVec<D>{};
  }
  double count = 1.0;
  switch (r.rule) {
    case ColumnRule::kMedian:
#pragma GCC unroll 8
      for (int h = 0; h < K; ++h) sum[h] = median[h];
      break;
    case ColumnRule::kTrimmedMean: {
      for (int i = r.trim; i < n - r.trim; ++i)
#pragma GCC unroll 8
        for (int h = 0; h < K; ++h) sum[h] += at(i, h);
      count = static_cast<double>(n - 2 * r.trim);
      break;
    }
    case ColumnRule::kMeaMed: {
      // reduce_sorted grows a window from m0 = (n-1)/2 + 1, taking the left neighbour when its
      // distance to the median is <= the right one's: a merge of the left distances
      // L_t = median - v[m0-1-t] and the right ones R_t = v[m0+t] - median (both ascending,
      // rounding included), ties to the left. The first `keep` of that merge hold `a` left
      // values, a the largest in [a_lo, a_hi] with L_{a-1} <= R_{keep-a}; the test is monotone
      // in a, so a lane's window starts at lo = m0 - a: position i in [m0 - a_hi, m0 - a_lo)
      // is in it exactly when the test at a = m0 - i passes, median - v[i] <= v[i + keep] -
      // median (false below lo, true from lo on). So the ragged left end is summed under that
      // test's mask as it is made, each value read once, and once every lane has passed the
      // rest is in every window: no more tests. Positions [m0 - a_lo, m0 - a_hi + keep) are in
      // every window; past them, i is in a lane's window while i - keep < lo, so none from
      // `every` + keep on (`every`: the first position every lane passed). Masked-off lanes
      // add +0, which leaves a sum of canonical values unchanged (it is never -0), and so does
      // an add skipped: the same values in the same ascending order as reduce_sorted.
      const int m0 = (n - 1) / 2 + 1, keep = r.keep;
      const int a_lo = std::max(0, keep - (n - m0)), a_hi = std::min(keep, m0);
      const int core_lo = m0 - a_lo, core_hi = m0 - a_hi + keep;
      int i = m0 - a_hi, every = core_lo;
      DVec<D> lo[K];  // one past the last position failed: the window's start
#pragma GCC unroll 8
      for (int h = 0; h < K; ++h) lo[h] = splat<D>(i);
      for (; i < core_lo; ++i) {
        const DVec<D> next = splat<D>(i + 1);
        bool all = true;
#pragma GCC unroll 8
        for (int h = 0; h < K; ++h) {
          const DVec<D> x = at(i, h);
          const auto in = median[h] - x <= at(i + keep, h) - median[h];
          sum[h] += in ? x : DVec<D>{};
          lo[h] = in ? lo[h] : next;
          all &= all_lanes(in);
        }
        if (all) {
          every = i++;
          break;
        }
      }
      for (; i < core_hi; ++i)
#pragma GCC unroll 8
        for (int h = 0; h < K; ++h) sum[h] += at(i, h);
      for (i = core_hi; i < every + keep; ++i) {
        const DVec<D> di = splat<D>(i) - static_cast<double>(keep);
#pragma GCC unroll 8
        for (int h = 0; h < K; ++h) sum[h] += di < lo[h] ? at(i, h) : DVec<D>{};
      }
      count = static_cast<double>(keep);
      break;
    }
  }
#pragma GCC unroll 8
  for (int h = 0; h < K; ++h) {
    const Vec<D> result =
        __builtin_convertvector(r.rule == ColumnRule::kMedian ? sum[h] : sum[h] / count, Vec<D>);
    std::memcpy(out + h * D, &result, sizeof result);
  }
}

/// detail::reduce_sorted for K x D lanes: batches of up to 4 half-groups (12 registers of
/// medians, counts and sums; all 2G at once spilled them to the stack, every add a load and a
/// store).
template <int D, int K>
void reduce_columns(const float* col, std::size_t stride, int n, ColumnReduce r, float* out) {
  constexpr int kBatch = K < 4 ? K : 4;
  for (int h = 0; h < K; h += kBatch)
    reduce_batch<D, kBatch>(col + h * D, stride, n, r, out + h * D);
}

/// Reduces every column of the tile: lane groups of G*L coordinates.
template <int L, int G>
void reduce_tile_groups(const Tile& tile, ColumnReduce r, float* out,
                        std::atomic<unsigned char>* nonfinite) {
  const int n = static_cast<int>(tile.n);
  const auto [need_lo, need_hi] = sorted_window(n, r);
  thread_local std::vector<Key<L>> buffer;
  buffer.resize(padded_rows(tile.n) * G);
  Key<L>* v = buffer.data();
  RowPrefetch ahead;
  for (std::size_t j0 = 0; j0 < tile.w; j0 += G * L) {
    const std::size_t w = std::min<std::size_t>(G * L, tile.w - j0);
    // The lane group kPrefetchGroups ahead: up to kSortBlock rows with the loads, each row's
    // lines as it loads (its network is too short to hide them: spread over it, N = 10 ran
    // 10-20% slower), else (within the tile) while this group sorts.
    const bool small = n <= kSortBlock;
    const std::size_t next = j0 + kPrefetchGroups * G * L;
    if (!small)
      ahead.start(tile, next, next < tile.w ? std::min<std::size_t>(G * L, tile.w - next) : 0);
    load_columns<L, G>(tile, j0, w, v, nonfinite, small);
    for (int g = 0; g < G; ++g) sort_column_registers(v + g, G, n, need_lo, need_hi, ahead);
    // Half lane groups (D = L/2 doubles, one register each), all 2G at once, into a padded
    // buffer.
    alignas(64) float res[G * L];
    const auto* sorted = reinterpret_cast<const float*>(v);
    reduce_columns<L / 2, 2 * G>(sorted, G * L, n, r, res);
    std::memcpy(out + j0, res, w * sizeof(float));
  }
}

/// The tile through the network, with as many lane groups at once (up to 8) as keep the
/// columns within kColumnBudget (P * G * L * 4 bytes; at N = 1024 one group, 32 or 64 KiB).
template <int L>
void reduce_tile_network(const Tile& tile, ColumnReduce r, float* out,
                         std::atomic<unsigned char>* nonfinite) {
  const std::size_t bytes = padded_rows(tile.n) * L * sizeof(float);
  if (bytes * 8 <= kColumnBudget)
    reduce_tile_groups<L, 8>(tile, r, out, nonfinite);
  else if (bytes * 4 <= kColumnBudget)
    reduce_tile_groups<L, 4>(tile, r, out, nonfinite);
  else if (bytes * 2 <= kColumnBudget)
    reduce_tile_groups<L, 2>(tile, r, out, nonfinite);
  else
    reduce_tile_groups<L, 1>(tile, r, out, nonfinite);
}

}  // namespace
}  // namespace murmur::kernels::cpu

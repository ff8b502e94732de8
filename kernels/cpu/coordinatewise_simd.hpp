#pragma once
// The coordinate-wise rules across SIMD lanes: one column per lane, G vectors of L lanes side by
// side, every compare-exchange of a sorting network one lane-wise min and max, then the column
// reduction (median, trimmed mean, MeaMed) vectorised across lanes in double. Included by one
// translation unit per instruction set (coordinatewise.cpp: the build's ISA; coordinatewise_avx2
// .cpp; coordinatewise_avx512.cpp), so everything here has internal linkage: each TU's copy is
// compiled for its own ISA and no copy can be picked by the linker for another.
//
// Each lane computes exactly what detail::reduce_sorted computes for its column (same sorted
// values, the same double sums in ascending order), so every ISA and lane width gives the same
// bits, and so does the CUDA backend.
#include <algorithm>
#include <atomic>
#include <cstring>
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
};
template <int L>
using Vec = typename VecTypes<L>::F;
template <int L>
using DVec = typename VecTypes<L>::D;

/// Coordinates per lane group in flight: rows are prefetched this many groups ahead.
constexpr std::size_t kPrefetchGroups = 4;

template <int L>
DVec<L> splat(double x) {
  return x - DVec<L>{};
}

/// L floats at p (any alignment), widened to double.
template <int L>
DVec<L> load_wide(const float* p) {
  Vec<L> x;
  std::memcpy(&x, p, sizeof x);
  return __builtin_convertvector(x, DVec<L>);
}

/// Loads G*L coordinates [j0, j0 + w) of every row into v (row i at v[i*G .. i*G+G)), as
/// canonical values (-0 read as +0), zero-padded past w; flags rows holding a NaN or Inf.
template <int L, int G>
void load_columns(const Tile& tile, std::size_t j0, std::size_t w, Vec<L>* v,
                  std::atomic<unsigned char>* nonfinite) {
  for (std::size_t i = 0; i < tile.n; ++i) {
    const float* x = tile.row(i) + j0;
    __builtin_prefetch(x + kPrefetchGroups * G * L);
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
      v[i * G + g] = t;
      bad += t - t;  // 0 where finite, NaN where not
    }
    bool any = false;
    for (int l = 0; l < L; ++l) any = any || bad[l] != bad[l];
    if (any && nonfinite != nullptr) nonfinite[i].store(1, std::memory_order_relaxed);
  }
}

/// Lane-wise (min, max) of (a, b): one min and one max instruction for AVX and SSE registers,
/// else a compare and two selects (AVX-512: GCC 12's _mm512_min_ps trips -Wmaybe-uninitialized,
/// and the compiler emits the same min/max for the select form).
template <class V>
inline void compare_exchange(V& a, V& b) {
  const V x = a, y = b;
#if defined(__AVX__)
  if constexpr (sizeof(V) == 32) {
    a = _mm256_min_ps(y, x);  // y < x ? y : x
    b = _mm256_max_ps(y, x);  // y > x ? y : x
    return;
  }
#endif
#if defined(__SSE__)
  if constexpr (sizeof(V) == 16) {
    a = _mm_min_ps(y, x);
    b = _mm_max_ps(y, x);
    return;
  }
#endif
  a = y < x ? y : x;
  b = y < x ? x : y;
}

/// Runs the network's compare-exchanges on G lane groups at once.
template <int L, int G>
void sort_columns(const SortPlan& plan, Vec<L>* v) {
  for (const NetworkRun& run : plan.runs) {
    Vec<L>* a = v + static_cast<std::size_t>(run.a) * G;
    Vec<L>* b = a + static_cast<std::size_t>(run.k) * G;
    for (int c = 0; c < run.count * G; ++c) compare_exchange(a[c], b[c]);
  }
}

/// detail::reduce_sorted for D lanes at once: column l's sorted values are col[i * stride + l],
/// i < n. D doubles make one register (half the float lanes), so nothing spills.
template <int D>
void reduce_columns(const float* col, std::size_t stride, int n, ColumnReduce r, float* out) {
  const auto at = [&](int i) { return load_wide<D>(col + static_cast<std::size_t>(i) * stride); };
  const DVec<D> median = n % 2 == 1 ? at(n / 2) : 0.5 * (at(n / 2 - 1) + at(n / 2));
  DVec<D> sum{};
  Vec<D> result{};
  switch (r.rule) {
    case ColumnRule::kMedian: result = __builtin_convertvector(median, Vec<D>); break;
    case ColumnRule::kTrimmedMean: {
      for (int i = r.trim; i < n - r.trim; ++i) sum += at(i);
      result = __builtin_convertvector(sum / static_cast<double>(n - 2 * r.trim), Vec<D>);
      break;
    }
    case ColumnRule::kMeaMed: {
      // reduce_sorted grows a window from m0 = (n-1)/2 + 1, taking the left neighbour when its
      // distance to the median is <= the right one's: a merge of the left distances
      // L_t = median - v[m0-1-t] and the right ones R_t = v[m0+t] - median (both ascending),
      // ties to the left. The first `keep` of that merge hold `a` left values, a the largest
      // in [a_lo, a_hi] with L_{a-1} <= R_{keep-a}; the test is monotone in a, so a = a_lo +
      // the number of a in (a_lo, a_hi] that pass, and each test reads the same two rows in
      // every lane (no gathers).
      const int m0 = (n - 1) / 2 + 1, keep = r.keep;
      const int a_lo = std::max(0, keep - (n - m0)), a_hi = std::min(keep, m0);
      DVec<D> taken = splat<D>(a_lo);
      for (int a = a_lo + 1; a <= a_hi; ++a)
        taken += median - at(m0 - a) <= at(m0 + keep - a) - median ? splat<D>(1.0) : DVec<D>{};
      const DVec<D> lo = static_cast<double>(m0) - taken, hi = lo + static_cast<double>(keep);
      // The window [lo, hi) summed in ascending order; values outside it add +0, which leaves
      // a sum of canonical values unchanged (it is never -0).
      for (int i = m0 - a_hi; i < m0 - a_lo + keep; ++i) {
        const DVec<D> di = splat<D>(i);
        sum += (di >= lo) & (di < hi) ? at(i) : DVec<D>{};
      }
      result = __builtin_convertvector(sum / static_cast<double>(keep), Vec<D>);
      break;
    }
  }
  std::memcpy(out, &result, sizeof result);
}

/// Reduces every column of the tile by the network: lane groups of G*L coordinates.
template <int L, int G>
void reduce_tile_groups(const Tile& tile, const SortPlan& plan, ColumnReduce r, float* out,
                        std::atomic<unsigned char>* nonfinite) {
  const int n = static_cast<int>(tile.n);
  thread_local std::vector<Vec<L>> buffer;
  buffer.resize(tile.n * G);
  Vec<L>* v = buffer.data();
  for (std::size_t j0 = 0; j0 < tile.w; j0 += G * L) {
    const std::size_t w = std::min<std::size_t>(G * L, tile.w - j0);
    load_columns<L, G>(tile, j0, w, v, nonfinite);
    sort_columns<L, G>(plan, v);
    // Half a lane group at a time (D = L/2 doubles, one register), into a padded buffer.
    alignas(64) float res[G * L];
    const auto* sorted = reinterpret_cast<const float*>(v);
    for (std::size_t h = 0; h < 2 * G && h * (L / 2) < w; ++h)
      reduce_columns<L / 2>(sorted + h * (L / 2), G * L, n, r, res + h * (L / 2));
    std::memcpy(out + j0, res, w * sizeof(float));
  }
}

/// The tile through the network, with as many lane groups at once as keep the columns in L1
/// (about 24 KiB: N * G * L * 4 bytes).
template <int L>
void reduce_tile_network(const Tile& tile, const SortPlan& plan, ColumnReduce r, float* out,
                         std::atomic<unsigned char>* nonfinite) {
  const std::size_t bytes = tile.n * L * sizeof(float);
  if (bytes * 4 <= kL1Budget)
    reduce_tile_groups<L, 4>(tile, plan, r, out, nonfinite);
  else if (bytes * 2 <= kL1Budget)
    reduce_tile_groups<L, 2>(tile, plan, r, out, nonfinite);
  else
    reduce_tile_groups<L, 1>(tile, plan, r, out, nonfinite);
}

}  // namespace
}  // namespace murmur::kernels::cpu

#pragma once
// The math of the coordinate-wise rules, written once for both backends: a sorting network
// for small N (run across SIMD lanes on the CPU, in registers of one thread on CUDA) and the
// reductions of a sorted column (median, trimmed mean, MeaMed).
#include <cstddef>

#include "murmur/kernels/detail/hd.hpp"

namespace murmur::kernels::detail {

/// Which reduction of a sorted column a coordinate-wise rule applies.
enum class ColumnRule : int { kMedian = 0, kTrimmedMean = 1, kMeaMed = 2 };

/// Parameters of a coordinate-wise reduction. `trim`: values dropped at each end (trimmed
/// mean); `keep`: values kept around the median (MeaMed). Preconditions: 2*trim < n,
/// 1 <= keep <= n.
struct ColumnReduce {
  ColumnRule rule = ColumnRule::kMedian;
  int trim = 0;
  int keep = 0;
};

/// Largest N handled by the sorting network; larger columns are sorted by CUB / std::sort.
inline constexpr int kNetworkMaxRows = 64;

/// Calls ce(a, b) for every comparator of Batcher's odd-even merge sort on n elements, in a
/// fixed order; after all of them, an array where each ce puts min at a and max at b is
/// sorted. O(n log^2 n) comparators (n = 32: 191), branch-free given ce. constexpr, so the
/// CPU kernels can unroll it at compile time into code that keeps a column in registers.
template <class CompareExchange>
MURMUR_HD constexpr void odd_even_merge_sort(int n, CompareExchange&& ce) {
  for (int p = 1; p < n; p <<= 1)
    for (int k = p; k >= 1; k >>= 1)
      for (int j = k % p; j + k < n; j += 2 * k)
        for (int i = 0; i < k && i + j + k < n; ++i)
          if ((i + j) / (2 * p) == (i + j + k) / (2 * p)) ce(i + j, i + j + k);
}

/// Rows' values enter the sort as x + 0.0f, which turns -0 into +0: the sorted column is then
/// a unique sequence of bits, so any correct sort on either backend gives the same result.
MURMUR_HD inline float canonical(float x) {
  return x + 0.0f;
}

/// Reduces a sorted column v[0], v[stride], ..., v[(n-1)*stride] (ascending, finite).
/// Sums are in double in ascending order, then rounded once to float.
///  median:       middle value, or the mean of the two middle values (in double) for even n;
///  trimmed mean: mean of v[trim .. n-trim);
///  MeaMed:       mean of the `keep` values closest to the median (a contiguous window of the
///                sorted column grown from the middle, ties to the lower side).
MURMUR_HD inline float reduce_sorted(const float* v, int n, int stride, ColumnReduce r) {
  const auto at = [&](int i) { return static_cast<double>(v[i * stride]); };
  const double median = (n % 2 == 1) ? at(n / 2) : 0.5 * (at(n / 2 - 1) + at(n / 2));
  int lo = 0, hi = n;  // the window summed
  switch (r.rule) {
    case ColumnRule::kMedian: return static_cast<float>(median);
    case ColumnRule::kTrimmedMean:
      lo = r.trim;
      hi = n - r.trim;
      break;
    case ColumnRule::kMeaMed: {
      // Start empty just left of the middle and take whichever neighbour is closer.
      lo = (n - 1) / 2 + 1;
      hi = lo;
      for (int taken = 0; taken < r.keep; ++taken) {
        const bool can_left = lo > 0, can_right = hi < n;
        if (can_left && (!can_right || median - at(lo - 1) <= at(hi) - median))
          --lo;
        else
          ++hi;
      }
      break;
    }
  }
  double sum = 0.0;
  for (int i = lo; i < hi; ++i) sum += at(i);
  return static_cast<float>(sum / static_cast<double>(hi - lo));
}

}  // namespace murmur::kernels::detail

#pragma once
// Per-row reductions shared by both backends: the terms summed, and the fixed 8-lane order in
// which a CPU tile sums them.
#include <cstddef>

#include "murmur/kernels/detail/hd.hpp"

namespace murmur::kernels::detail {

/// x_j^2 in double.
struct SquareTerm {
  MURMUR_HD double operator()(float x, std::size_t) const {
    const double v = x;
    return v * v;
  }
};

/// (x_j - z_j)^2 in double; z indexed by absolute coordinate.
struct DistanceTerm {
  const float* z;
  MURMUR_HD double operator()(float x, std::size_t j) const {
    const double v = static_cast<double>(x) - static_cast<double>(z[j]);
    return v * v;
  }
};

/// Adds term(x[k], begin + k) for k < w into acc[k % 8] (w a multiple of 8 except at a tile's
/// end): 8 interleaved partial sums, so the loop vectorises. Called on consecutive slices of a
/// tile, it sums exactly as one call on the whole tile.
template <class Term>
inline void lane_accumulate(const float* x, std::size_t w, std::size_t begin, Term term,
                            double acc[8]) {
  std::size_t k = 0;
  for (; k + 8 <= w; k += 8)
    for (std::size_t l = 0; l < 8; ++l) acc[l] += term(x[k + l], begin + k + l);
  for (std::size_t l = 0; k + l < w; ++l) acc[l] += term(x[k + l], begin + k + l);
}

/// The 8 partial sums combined pairwise in a fixed order.
inline double lane_combine(const double acc[8]) {
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/// Sum of term(x[k], begin + k) for k < w: lane_accumulate from zero, then lane_combine. The
/// fixed order in which a CPU tile sums a row (row_stats, squared_distances, and the norms
/// weighted_sum_checked takes on its way).
template <class Term>
inline double lane_sum(const float* x, std::size_t w, std::size_t begin, Term term) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  lane_accumulate(x, w, begin, term, acc);
  return lane_combine(acc);
}

}  // namespace murmur::kernels::detail

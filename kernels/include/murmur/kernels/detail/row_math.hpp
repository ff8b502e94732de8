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

/// Sum of term(x[k], begin + k) for k < w: 8 interleaved partial sums (so the loop vectorises)
/// combined pairwise in a fixed order.
template <class Term>
inline double lane_sum(const float* x, std::size_t w, std::size_t begin, Term term) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::size_t k = 0;
  for (; k + 8 <= w; k += 8)
    for (std::size_t l = 0; l < 8; ++l) acc[l] += term(x[k + l], begin + k + l);
  for (std::size_t l = 0; k + l < w; ++l) acc[l] += term(x[k + l], begin + k + l);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

}  // namespace murmur::kernels::detail

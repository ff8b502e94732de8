#pragma once
#include <cmath>

#include "murmur/kernels/detail/hd.hpp"

namespace murmur::kernels::detail {

/// One row's contribution to a weighted sum: acc + w * x with a single rounding. Both
/// backends call this in row order, which is what makes them agree bit for bit.
MURMUR_HD inline double weighted_step(double acc, double w, float x) {
  return fma(w, static_cast<double>(x), acc);
}

}  // namespace murmur::kernels::detail

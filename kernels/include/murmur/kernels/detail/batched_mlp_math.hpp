#pragma once
// The pointwise math of batched MLP evaluation, shared by the CPU loops and the CUDA kernels:
// what happens to one activation and to one row of logits. The GEMMs around it are BLAS.
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "murmur/kernels/detail/hd.hpp"

namespace murmur::kernels::detail {

/// One candidate's sums over the labelled rows, as a backend hands them to the dispatcher.
struct XentTotals {
  double loss_sum = 0;  ///< sum_i loss_i, rows summed in double in a fixed order
  std::uint64_t correct = 0;
};

/// relu(z + b). Written so that NaN propagates as in torch.relu (NaN < 0 is false).
MURMUR_HD inline float bias_relu(float z, float b) {
  const float v = z + b;
  return v < 0.0f ? 0.0f : v;
}

/// One example's softmax cross-entropy and prediction.
struct XentTerm {
  float loss;  ///< log sum_c exp(z_c + b_c) - (z_y + b_y); NaN/Inf when the logits are
  int argmax;  ///< first c with maximal z_c + b_c (torch.argmax's rule on ties)
};

/// Softmax cross-entropy of the logits z[0..classes) plus bias b against class `label`.
///
/// Math: with v_c = z_c + b_c and m = max_c v_c,
///   loss = log sum_c exp(v_c) - v_y = (m - v_y) + log sum_c exp(v_c - m),
/// the max-shifted form so that exp never overflows (every term is <= 1 and one is exactly 1,
/// so the sum is in [1, classes]). Two passes over the row; O(classes).
MURMUR_HD inline XentTerm softmax_xent(const float* z, const float* b, std::size_t classes,
                                       std::size_t label) {
  float m = z[0] + b[0];
  int arg = 0;
  for (std::size_t c = 1; c < classes; ++c) {
    const float v = z[c] + b[c];
    if (v > m) {
      m = v;
      arg = static_cast<int>(c);
    }
  }
  float s = 0.0f;
  for (std::size_t c = 0; c < classes; ++c) s += expf(z[c] + b[c] - m);
  return {(m - (z[label] + b[label])) + logf(s), arg};
}

}  // namespace murmur::kernels::detail

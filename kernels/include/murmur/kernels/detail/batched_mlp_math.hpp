#pragma once
// The pointwise math of batched MLP evaluation, shared by the CPU loops and the CUDA kernels:
// what happens to one activation and to one row of logits. The GEMMs around it are BLAS.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

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

/// The float whose IEEE-754 bits are `bits`.
MURMUR_HD inline float float_from_bits(unsigned bits) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
#endif
}

/// exp(x) for x <= 0 (the max-shifted logits of a softmax), branch-free so that loops over
/// it vectorise: x = n ln2 + r with n = ceil(x / ln2 - 1/2) (the integer conversion truncates
/// toward zero), |r| <= ln2 / 2, exp(r) by its degree-6 Taylor polynomial in Horner form
/// (truncation error < 1.3e-7 relative on that interval, about 2 ulp in all), times 2^n built
/// in the exponent bits. Below -87.3, where exp(x) < FLT_MIN, it returns exp(-87.3) ~ 1.2e-38
/// (nothing beside the softmax's largest term, 1). NaN and -Inf give NaN: a logit that
/// overflowed makes the loss non-finite.
MURMUR_HD inline float exp_nonpositive(float x) {
  // One comparison, false for NaN: the integer conversion below only sees [-87.3, 0].
  const float xs = x >= -87.3f ? x : -87.3f;
  const int ni = static_cast<int>(xs * 1.44269504f - 0.5f);  // in [-126, 0]
  const float n = static_cast<float>(ni);
  const float r = fmaf(n, -0.693145752f, fmaf(n, -1.42860677e-6f, xs));  // ln2 = hi + lo
  float p = 1.0f / 720.0f;
  p = fmaf(p, r, 1.0f / 120.0f);
  p = fmaf(p, r, 1.0f / 24.0f);
  p = fmaf(p, r, 1.0f / 6.0f);
  p = fmaf(p, r, 0.5f);
  p = fmaf(p, r, 1.0f);
  p = fmaf(p, r, 1.0f);
  // 2^n for n in [-126, 0]: a normal float with biased exponent n + 127.
  const float y = p * float_from_bits(static_cast<unsigned>(ni + 127) << 23);
  return y + (x - x);  // + 0 for finite x, NaN for NaN and +-Inf
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
  for (std::size_t c = 0; c < classes; ++c) s += exp_nonpositive(z[c] + b[c] - m);
  return {(m - (z[label] + b[label])) + logf(s), arg};
}

}  // namespace murmur::kernels::detail

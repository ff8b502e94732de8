#pragma once
// Fixed-point quantisation of updates into Z_2^32 for secure aggregation: clip to [-c, c],
// scale to [0, R] with R = floor((2^32 - 1) / max_summands), round stochastically (unbiased),
// so that the sum of up to max_summands values never wraps and decodes exactly.
#include <cstdint>
#include <span>

#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/masks.hpp"

namespace murmur::secagg {

struct FixedPoint {
  double clip = 1.0;               ///< values are clipped to [-clip, clip]
  std::uint64_t max_summands = 1;  ///< most values ever summed

  /// R: the integer that +clip maps to.
  std::uint32_t range() const;
  /// The value one integer step stands for: 2c / R.
  double step() const;
};

/// q_j = floor(v_j) + [u_j < frac(v_j)], v_j = (clamp(x_j) + c) / (2c) * R, with u_j uniform in
/// [0, 1) from the ChaCha20 stream of `rounding` (so E[q_j] = v_j, and the rounding is
/// reproducible from the seed). Non-finite x_j throws std::invalid_argument.
void quantize(kernels::Backend& backend, const FixedPoint& fp, std::span<const float> x,
              const kernels::MaskSeed& rounding, std::span<std::uint32_t> out);

/// The real-valued sum of `summands` quantised vectors from their Z_2^32 sum:
/// x = S * 2c / R - summands * c.
void dequantize_sum(const FixedPoint& fp, std::span<const std::uint32_t> sum,
                    std::uint64_t summands, std::span<float> out);

}  // namespace murmur::secagg

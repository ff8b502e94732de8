#include "murmur/secagg/fixed_point.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace murmur::secagg {

std::uint32_t FixedPoint::range() const {
  if (max_summands == 0) throw std::invalid_argument("FixedPoint: max_summands must be positive");
  return static_cast<std::uint32_t>(0xffffffffull / max_summands);
}

double FixedPoint::step() const {
  return 2.0 * clip / range();
}

void quantize(kernels::Backend& backend, const FixedPoint& fp, std::span<const float> x,
              const kernels::MaskSeed& rounding, std::span<std::uint32_t> out) {
  if (!(fp.clip > 0)) throw std::invalid_argument("FixedPoint: clip must be positive");
  if (out.size() != x.size())
    throw std::invalid_argument("quantize: output size differs from input");
  kernels::mask_stream(backend, rounding, out);  // uniform words, replaced in place below
  const double r = fp.range(), scale = r / (2.0 * fp.clip);
  for (std::size_t j = 0; j < x.size(); ++j) {
    if (!std::isfinite(x[j]))
      throw std::invalid_argument("quantize: coordinate " + std::to_string(j) + " is not finite");
    const double v = (std::clamp(static_cast<double>(x[j]), -fp.clip, fp.clip) + fp.clip) * scale;
    const double floor_v = std::floor(v);
    const double u = out[j] * 0x1p-32;
    out[j] = static_cast<std::uint32_t>(std::min(r, floor_v + (u < v - floor_v ? 1.0 : 0.0)));
  }
}

void dequantize_sum(const FixedPoint& fp, std::span<const std::uint32_t> sum,
                    std::uint64_t summands, std::span<float> out) {
  if (summands > fp.max_summands)
    throw std::invalid_argument("dequantize_sum: " + std::to_string(summands) +
                                " summands, at most " + std::to_string(fp.max_summands) +
                                " fit without wrapping");
  const double step = fp.step();
  for (std::size_t j = 0; j < sum.size(); ++j)
    out[j] = static_cast<float>(sum[j] * step - static_cast<double>(summands) * fp.clip);
}

}  // namespace murmur::secagg

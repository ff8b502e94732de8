#include "murmur/kernels/weighted_sum.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include "dispatch.hpp"

namespace murmur::kernels {

void weighted_sum(Backend& backend, const RowSource& rows, std::span<const double> weights,
                  std::span<float> out) {
  if (weights.size() != rows.rows())
    throw std::invalid_argument("weighted_sum: " + std::to_string(weights.size()) +
                                " weights for " + std::to_string(rows.rows()) + " rows");
  if (out.size() != rows.cols())
    throw std::invalid_argument("weighted_sum: output has " + std::to_string(out.size()) +
                                " coordinates, rows have " + std::to_string(rows.cols()));
  for (std::size_t i = 0; i < weights.size(); ++i)
    if (!std::isfinite(weights[i]))
      throw std::invalid_argument("weighted_sum: weight " + std::to_string(i) + " is not finite");
  if (backend.kind() == BackendKind::kCpu)
    return cpu::weighted_sum(cpu::as_cpu(backend), rows, weights, out);
  MURMUR_ON_CUDA(return cuda::weighted_sum(backend, rows, weights, out));
}

}  // namespace murmur::kernels

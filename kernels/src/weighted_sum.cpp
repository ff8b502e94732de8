#include "murmur/kernels/weighted_sum.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include "dispatch.hpp"
#include "murmur/kernels/row_stats.hpp"

namespace murmur::kernels {

namespace {

void check_sum(const RowSource& rows, std::span<const double> weights, std::span<float> out) {
  if (weights.size() != rows.rows())
    throw std::invalid_argument("weighted_sum: " + std::to_string(weights.size()) +
                                " weights for " + std::to_string(rows.rows()) + " rows");
  if (out.size() != rows.cols())
    throw std::invalid_argument("weighted_sum: output has " + std::to_string(out.size()) +
                                " coordinates, rows have " + std::to_string(rows.cols()));
  for (std::size_t i = 0; i < weights.size(); ++i)
    if (!std::isfinite(weights[i]))
      throw std::invalid_argument("weighted_sum: weight " + std::to_string(i) + " is not finite");
}

}  // namespace

void weighted_sum(Backend& backend, const RowSource& rows, std::span<const double> weights,
                  std::span<float> out) {
  check_sum(rows, weights, out);
  if (backend.kind() == BackendKind::kCpu)
    return cpu::weighted_sum(cpu::as_cpu(backend), rows, weights, out);
  MURMUR_ON_CUDA(return cuda::weighted_sum(backend, rows, weights, out));
}

std::vector<bool> weighted_sum_checked(Backend& backend, const RowSource& rows,
                                       std::span<const double> weights, std::span<float> out) {
  check_sum(rows, weights, out);
  if (backend.kind() == BackendKind::kCpu)
    return cpu::weighted_sum_checked(cpu::as_cpu(backend), rows, weights, out);
  // CUDA: the validation pass, then the sum.
  std::vector<bool> finite;
  for (const RowStats& s : row_stats(backend, rows)) finite.push_back(s.finite);
  weighted_sum(backend, rows, weights, out);
  return finite;
}

}  // namespace murmur::kernels

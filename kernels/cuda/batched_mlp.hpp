#pragma once
// The CUDA batched MLP evaluation as the dispatcher sees it: plain C++, no CUDA types.
// Defined only when MURMUR_HAVE_CUDA.
#include <cstdint>
#include <span>

#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/batched_mlp.hpp"
#include "murmur/kernels/detail/batched_mlp_math.hpp"

namespace murmur::kernels::cuda {

/// As cpu::evaluate_mlp, on the CUDA backend.
void evaluate_mlp(Backend& backend, const MlpShape& shape, CandidateRows candidates,
                  LabelledRows data, std::span<const std::uint8_t> evaluate,
                  std::span<detail::XentTotals> totals);

}  // namespace murmur::kernels::cuda

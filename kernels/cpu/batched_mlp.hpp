#pragma once
#include <cstdint>
#include <span>

#include "cpu_backend.hpp"
#include "murmur/kernels/batched_mlp.hpp"
#include "murmur/kernels/detail/batched_mlp_math.hpp"

namespace murmur::kernels::cpu {

/// Fills totals[k] for every k with evaluate[k] != 0 (the others are left alone); the
/// dispatcher has checked the inputs (see evaluate_mlp in batched_mlp.hpp).
void evaluate_mlp(CpuBackend& backend, const MlpShape& shape, CandidateRows candidates,
                  LabelledRows data, std::span<const std::uint8_t> evaluate,
                  std::span<detail::XentTotals> totals);

}  // namespace murmur::kernels::cpu

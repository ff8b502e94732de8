#pragma once
#include "cpu_backend.hpp"
#include "murmur/kernels/sgmv.hpp"

namespace murmur::kernels::cpu {

/// sgmv (murmur/kernels/sgmv.hpp) on host memory; the dispatcher has checked the problem.
void sgmv(CpuBackend& backend, const SgmvProblem& problem);

}  // namespace murmur::kernels::cpu

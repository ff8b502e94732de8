#pragma once
// The CUDA SGMV as the dispatcher sees it: plain C++, no CUDA types. Defined only when
// MURMUR_HAVE_CUDA.
#include "murmur/kernels/backend.hpp"
#include "murmur/kernels/sgmv.hpp"

namespace murmur::kernels::cuda {

/// sgmv (murmur/kernels/sgmv.hpp) on the CUDA backend; the dispatcher has checked the problem.
void sgmv(Backend& backend, const SgmvProblem& problem);

}  // namespace murmur::kernels::cuda

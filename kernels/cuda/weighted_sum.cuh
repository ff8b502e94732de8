#pragma once
#include <cuda_runtime.h>

#include <cstddef>

namespace murmur::kernels::cuda {

/// out[j] = sum_i weights[i] * rows[i * ld + j] for j < w, on `stream`; device pointers.
/// One thread per coordinate (coalesced row reads), rows summed in order with explicit fma in
/// double: bit-identical to the CPU backend.
void launch_weighted_sum(const float* rows, std::size_t n, std::size_t w, std::size_t ld,
                         const double* weights, float* out, cudaStream_t stream);

}  // namespace murmur::kernels::cuda

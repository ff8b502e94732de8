#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace murmur::kernels::cuda {

/// Turns a CUDA runtime error into an exception naming the call and the runtime's text.
inline void check(cudaError_t err, const char* what, const char* file, int line) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string(what) + " failed at " + file + ":" + std::to_string(line) +
                             ": " + cudaGetErrorString(err));
}

inline void check(cublasStatus_t status, const char* what, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string(what) + " failed at " + file + ":" + std::to_string(line) +
                             ": " + cublasGetStatusString(status));
}

}  // namespace murmur::kernels::cuda

#define MURMUR_CUDA_CHECK(expr) ::murmur::kernels::cuda::check((expr), #expr, __FILE__, __LINE__)

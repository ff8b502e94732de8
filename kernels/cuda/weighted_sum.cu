#include "cuda_ops.hpp"
#include "murmur/kernels/detail/weighted_sum_math.hpp"
#include "tile_pipeline.cuh"
#include "weighted_sum.cuh"

namespace murmur::kernels::cuda {
namespace {

__global__ void weighted_sum_kernel(const float* __restrict__ rows, std::size_t n, std::size_t w,
                                    std::size_t ld, const double* __restrict__ weights,
                                    float* __restrict__ out) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t j = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < w;
       j += stride) {
    double acc = 0.0;
    for (std::size_t i = 0; i < n; ++i)
      acc = detail::weighted_step(acc, __ldg(weights + i), __ldg(rows + i * ld + j));
    out[j] = static_cast<float>(acc);
  }
}

}  // namespace

void launch_weighted_sum(const float* rows, std::size_t n, std::size_t w, std::size_t ld,
                         const double* weights, float* out, cudaStream_t stream) {
  constexpr unsigned kBlock = 256;
  weighted_sum_kernel<<<grid_for(w, kBlock), kBlock, 0, stream>>>(rows, n, w, ld, weights, out);
}

void weighted_sum(Backend& backend, const RowSource& rows, std::span<const double> weights,
                  std::span<float> out) {
  CudaBackend& cuda = as_cuda(backend);
  auto* d_weights = static_cast<double*>(cuda.scratch(
      CudaBackend::kParams, std::max<std::size_t>(weights.size(), 1) * sizeof(double)));
  MURMUR_CUDA_CHECK(cudaMemcpy(d_weights, weights.data(), weights.size() * sizeof(double),
                               cudaMemcpyHostToDevice));
  run_coordinatewise(
      cuda, rows, out,
      [&](const float* tile, std::size_t n, std::size_t w, float* d_out, cudaStream_t stream) {
        launch_weighted_sum(tile, n, w, w, d_weights, d_out, stream);
      });
}

}  // namespace murmur::kernels::cuda

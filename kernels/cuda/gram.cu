// Gram matrix on CUDA: per tile, convert to double and G += T^T T with cuBLAS DSYRK, tiles in
// order on one stream (so G accumulates in a fixed order) while the host stages the next tile.
#include <vector>

#include "cuda_ops.hpp"
#include "tile_pipeline.cuh"

namespace murmur::kernels::cuda {
namespace {

__global__ void to_double(const float* __restrict__ in, std::size_t count,
                          double* __restrict__ out) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t k = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < count;
       k += stride)
    out[k] = in[k];
}

}  // namespace

std::vector<double> gram(Backend& backend, const RowSource& rows) {
  CudaBackend& cuda = as_cuda(backend);
  const std::size_t n = rows.rows(), d = rows.cols();
  std::vector<double> g(n * n, 0.0);
  if (n == 0 || d == 0) return g;
  auto* d_g = static_cast<double*>(cuda.scratch(CudaBackend::kWork, n * n * sizeof(double)));
  MURMUR_CUDA_CHECK(cudaMemsetAsync(d_g, 0, n * n * sizeof(double), cuda.stream(0)));
  const std::size_t width = tile_width(cuda, rows, sizeof(double), 256);
  auto* d_tile =
      static_cast<double*>(cuda.scratch(CudaBackend::kSortOut, n * width * sizeof(double)));
  cublasHandle_t handle = cuda.cublas();
  MURMUR_CUDA_CHECK(cublasSetStream(handle, cuda.stream(0)));
  stream_tiles(
      cuda, rows, width,
      [&](std::size_t, const float* tile, std::size_t, std::size_t w, std::size_t, int,
          cudaStream_t stream) {
        to_double<<<grid_for(n * w, 256), 256, 0, stream>>>(tile, n * w, d_tile);
        // The packed row-major tile is, column-major, a w x n matrix A: G += A^T A.
        const double one = 1.0;
        MURMUR_CUDA_CHECK(cublasDsyrk(handle, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_T,
                                      static_cast<int>(n), static_cast<int>(w), &one, d_tile,
                                      static_cast<int>(w), &one, d_g, static_cast<int>(n)));
      },
      [](std::size_t, std::size_t, std::size_t, int) {}, /*single_stream=*/true);
  std::vector<double> upper(n * n);
  MURMUR_CUDA_CHECK(cudaMemcpyAsync(upper.data(), d_g, n * n * sizeof(double),
                                    cudaMemcpyDeviceToHost, cuda.stream(0)));
  MURMUR_CUDA_CHECK(cudaStreamSynchronize(cuda.stream(0)));
  // Column-major upper triangle: (r, c) with r <= c sits at c * n + r.
  for (std::size_t c = 0; c < n; ++c)
    for (std::size_t r = 0; r <= c; ++r) g[r * n + c] = g[c * n + r] = upper[c * n + r];
  return g;
}

}  // namespace murmur::kernels::cuda

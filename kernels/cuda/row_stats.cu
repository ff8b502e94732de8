// Per-row reductions on CUDA: squared norms (the validation pass) and squared distances to a
// vector. Per tile, blocks of 256 threads reduce slices of a row in shared memory in a fixed
// tree order; a second kernel sums a row's block partials in order; the host sums tiles in
// order. Deterministic for a given device and N.
#include <vector>

#include "cuda_ops.hpp"
#include "murmur/kernels/detail/row_math.hpp"
#include "tile_pipeline.cuh"

namespace murmur::kernels::cuda {
namespace {

constexpr unsigned kBlock = 256;
constexpr unsigned kBlocksPerRow = 64;

/// partial[row * kBlocksPerRow + b] = sum over this block's coordinates of term(x, j0 + j).
template <class Term>
__global__ void row_partials(const float* __restrict__ tile, std::size_t w, std::size_t j0,
                             Term term, double* __restrict__ partial) {
  __shared__ double sums[kBlock];
  const std::size_t row = blockIdx.y;
  const float* x = tile + row * w;
  double acc = 0.0;
  for (std::size_t j = static_cast<std::size_t>(blockIdx.x) * kBlock + threadIdx.x; j < w;
       j += static_cast<std::size_t>(kBlocksPerRow) * kBlock)
    acc += term(x[j], j0 + j);
  sums[threadIdx.x] = acc;
  __syncthreads();
  for (unsigned stride = kBlock / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) sums[threadIdx.x] += sums[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[row * kBlocksPerRow + blockIdx.x] = sums[0];
}

__global__ void sum_partials(const double* __restrict__ partial, std::size_t n,
                             double* __restrict__ out) {
  const std::size_t row = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (row >= n) return;
  double s = 0.0;
  for (unsigned b = 0; b < kBlocksPerRow; ++b) s += partial[row * kBlocksPerRow + b];
  out[row] = s;
}

template <class Term>
std::vector<double> row_sums(CudaBackend& cuda, const RowSource& rows, Term term) {
  const std::size_t n = rows.rows();
  std::vector<double> sums(n, 0.0);
  if (n == 0) return sums;
  const std::size_t partial_bytes = n * kBlocksPerRow * sizeof(double);
  const auto slot = [](int s) {
    return static_cast<CudaBackend::Slot>(CudaBackend::kTileOut0 + s);
  };
  auto* d_partial = static_cast<double*>(cuda.scratch(CudaBackend::kWork, 2 * partial_bytes));
  stream_tiles(
      cuda, rows, tile_width(cuda, rows),
      [&](std::size_t, const float* tile, std::size_t, std::size_t w, std::size_t j0, int s,
          cudaStream_t stream) {
        double* partial = d_partial + s * n * kBlocksPerRow;
        auto* d_out = static_cast<double*>(cuda.scratch(slot(s), n * sizeof(double)));
        row_partials<<<dim3(kBlocksPerRow, static_cast<unsigned>(n)), kBlock, 0, stream>>>(
            tile, w, j0, term, partial);
        sum_partials<<<grid_for(n, 128), 128, 0, stream>>>(partial, n, d_out);
        MURMUR_CUDA_CHECK(cudaMemcpyAsync(cuda.pinned(slot(s), n * sizeof(double)), d_out,
                                          n * sizeof(double), cudaMemcpyDeviceToHost, stream));
      },
      [&](std::size_t, std::size_t, std::size_t, int s) {
        const auto* tile_sums =
            static_cast<const double*>(cuda.pinned(slot(s), n * sizeof(double)));
        for (std::size_t i = 0; i < n; ++i) sums[i] += tile_sums[i];
      });
  return sums;
}

}  // namespace

std::vector<RowStats> row_stats(Backend& backend, const RowSource& rows) {
  const auto sums = row_sums(as_cuda(backend), rows, detail::SquareTerm{});
  std::vector<RowStats> out(sums.size());
  for (std::size_t i = 0; i < sums.size(); ++i) out[i] = {std::isfinite(sums[i]), sums[i]};
  return out;
}

std::vector<double> squared_distances(Backend& backend, const RowSource& rows,
                                      std::span<const float> z) {
  CudaBackend& cuda = as_cuda(backend);
  auto* d_z = static_cast<float*>(
      cuda.scratch(CudaBackend::kParams, std::max<std::size_t>(z.size(), 1) * sizeof(float)));
  MURMUR_CUDA_CHECK(cudaMemcpy(d_z, z.data(), z.size() * sizeof(float), cudaMemcpyHostToDevice));
  return row_sums(cuda, rows, detail::DistanceTerm{d_z});
}

}  // namespace murmur::kernels::cuda

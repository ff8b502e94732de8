// Coordinate-wise median / trimmed mean / MeaMed on CUDA. N <= 64: one thread per coordinate
// loads its column (coalesced across the warp) and runs the same sorting network as the CPU.
// Larger N: the tile is transposed and each column sorted by CUB's segmented sort. Either
// way detail::reduce_sorted finishes the column, so CPU and CUDA agree bit for bit.
#include <cub/device/device_segmented_sort.cuh>

#include <utility>
#include <vector>

#include "cuda_ops.hpp"
#include "murmur/kernels/coordinatewise.hpp"
#include "tile_pipeline.cuh"

namespace murmur::kernels::cuda {
namespace {

constexpr unsigned kBlock = 128;

__global__ void network_reduce(const float* __restrict__ tile, std::size_t n, std::size_t w,
                               const int2* __restrict__ net, int comparators,
                               detail::ColumnReduce r, float* __restrict__ out) {
  float v[detail::kNetworkMaxRows];
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t j = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < w;
       j += stride) {
    for (std::size_t i = 0; i < n; ++i) v[i] = detail::canonical(tile[i * w + j]);
    for (int c = 0; c < comparators; ++c) {
      const int2 p = net[c];
      const float lo = fminf(v[p.x], v[p.y]), hi = fmaxf(v[p.x], v[p.y]);
      v[p.x] = lo;
      v[p.y] = hi;
    }
    out[j] = detail::reduce_sorted(v, static_cast<int>(n), 1, r);
  }
}

__global__ void transpose_canonical(const float* __restrict__ tile, std::size_t n, std::size_t w,
                                    float* __restrict__ cols) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t k = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n * w;
       k += stride) {
    const std::size_t i = k / w, j = k % w;  // read coalesced along j
    cols[j * n + i] = detail::canonical(tile[k]);
  }
}

__global__ void segment_offsets(std::size_t segments, std::size_t n, int* __restrict__ offsets) {
  const std::size_t k = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k <= segments) offsets[k] = static_cast<int>(k * n);
}

__global__ void sorted_reduce(const float* __restrict__ cols, std::size_t n, std::size_t w,
                              detail::ColumnReduce r, float* __restrict__ out) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t j = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < w;
       j += stride)
    out[j] = detail::reduce_sorted(cols + j * n, static_cast<int>(n), 1, r);
}

}  // namespace

void coordinate_reduce(Backend& backend, const RowSource& rows, ColumnReduce r,
                       std::span<float> out) {
  CudaBackend& cuda = as_cuda(backend);
  const std::size_t n = rows.rows();
  if (n <= static_cast<std::size_t>(detail::kNetworkMaxRows)) {
    std::vector<int2> net;
    detail::odd_even_merge_sort(static_cast<int>(n), [&](int a, int b) { net.push_back({a, b}); });
    auto* d_net = static_cast<int2*>(
        cuda.scratch(CudaBackend::kParams, std::max<std::size_t>(net.size(), 1) * sizeof(int2)));
    MURMUR_CUDA_CHECK(
        cudaMemcpy(d_net, net.data(), net.size() * sizeof(int2), cudaMemcpyHostToDevice));
    const int comparators = static_cast<int>(net.size());
    run_coordinatewise(cuda, rows, out,
                       [&](const float* tile, std::size_t rows_n, std::size_t w, float* d_out,
                           cudaStream_t stream) {
                         network_reduce<<<grid_for(w, kBlock), kBlock, 0, stream>>>(
                             tile, rows_n, w, d_net, comparators, r, d_out);
                       });
    return;
  }
  // Large N: one stream, so the sort's buffers are used by one tile at a time.
  const std::size_t width = tile_width(cuda, rows, sizeof(float), 256);
  const std::size_t items = n * width;
  if (items > static_cast<std::size_t>(INT32_MAX))
    throw std::invalid_argument("coordinate_reduce: tile of " + std::to_string(items) +
                                " values exceeds CUB's 32-bit segment offsets");
  auto* d_cols = static_cast<float*>(cuda.scratch(CudaBackend::kWork, items * sizeof(float)));
  auto* d_sorted = static_cast<float*>(cuda.scratch(CudaBackend::kSortOut, items * sizeof(float)));
  auto* d_offsets =
      static_cast<int*>(cuda.scratch(CudaBackend::kOffsets, (width + 1) * sizeof(int)));
  std::size_t temp_bytes = 0;
  MURMUR_CUDA_CHECK(cub::DeviceSegmentedSort::SortKeys(
      nullptr, temp_bytes, d_cols, d_sorted, static_cast<int>(items), static_cast<int>(width),
      d_offsets, d_offsets + 1, cuda.stream(0)));
  void* d_temp = cuda.scratch(CudaBackend::kSortTemp, std::max<std::size_t>(temp_bytes, 1));
  const std::size_t out_bytes = width * sizeof(float);
  stream_tiles(
      cuda, rows, width,
      [&](std::size_t, const float* tile, std::size_t, std::size_t w, std::size_t, int s,
          cudaStream_t stream) {
        const auto out_slot = static_cast<CudaBackend::Slot>(CudaBackend::kTileOut0 + s);
        auto* d_out = static_cast<float*>(cuda.scratch(out_slot, out_bytes));
        transpose_canonical<<<grid_for(n * w, 256), 256, 0, stream>>>(tile, n, w, d_cols);
        segment_offsets<<<grid_for(w + 1, 256), 256, 0, stream>>>(w, n, d_offsets);
        std::size_t bytes = temp_bytes;
        MURMUR_CUDA_CHECK(cub::DeviceSegmentedSort::SortKeys(
            d_temp, bytes, d_cols, d_sorted, static_cast<int>(n * w), static_cast<int>(w),
            d_offsets, d_offsets + 1, stream));
        sorted_reduce<<<grid_for(w, kBlock), kBlock, 0, stream>>>(d_sorted, n, w, r, d_out);
        MURMUR_CUDA_CHECK(cudaMemcpyAsync(cuda.pinned(out_slot, out_bytes), d_out,
                                          w * sizeof(float), cudaMemcpyDeviceToHost, stream));
      },
      [&](std::size_t, std::size_t j0, std::size_t w, int s) {
        const auto out_slot = static_cast<CudaBackend::Slot>(CudaBackend::kTileOut0 + s);
        std::memcpy(out.data() + j0, cuda.pinned(out_slot, out_bytes), w * sizeof(float));
      },
      /*single_stream=*/true);
}

}  // namespace murmur::kernels::cuda

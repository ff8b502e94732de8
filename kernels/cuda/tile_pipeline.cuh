#pragma once
#include <algorithm>
#include <cstring>
#include <span>

#include "check.cuh"
#include "cuda_backend.cuh"
#include "murmur/kernels/row_source.hpp"

namespace murmur::kernels::cuda {

/// Runs a coordinate-wise op over `source` tile by tile, double-buffered on two streams:
/// while tile k is copied host->device and reduced on stream k%2, the host fills the pinned
/// staging buffer of tile k+1 from the source (spool, memory) and drains tile k-1's result.
///
/// `launch(d_tile, n, w, d_out, stream)` reduces a packed device tile (n rows of w floats,
/// ld = w) into d_out[0, w). Traffic per tile: n*w*4 bytes up, w*4 bytes down.
template <class Launch>
void run_coordinatewise(CudaBackend& backend, const RowSource& source, std::span<float> out,
                        Launch&& launch) {
  const std::size_t n = source.rows();
  const std::size_t d = source.cols();
  if (d == 0) return;
  std::size_t width = std::max<std::size_t>(1, backend.tile_budget() / (std::max<std::size_t>(n, 1) * 4));
  if (width > 256) width -= width % 256;
  width = std::min(width, d);
  const std::size_t tiles = (d + width - 1) / width;
  const std::size_t in_bytes = std::max<std::size_t>(n, 1) * width * sizeof(float);
  const std::size_t out_bytes = width * sizeof(float);

  for (std::size_t k = 0; k < tiles + 2; ++k) {
    const int s = static_cast<int>(k % 2);
    const auto in_slot = static_cast<CudaBackend::Slot>(CudaBackend::kTileIn0 + s);
    const auto out_slot = static_cast<CudaBackend::Slot>(CudaBackend::kTileOut0 + s);
    if (k >= 2) {  // drain tile k-2, which used this slot
      const std::size_t j0 = (k - 2) * width;
      const std::size_t w = std::min(width, d - j0);
      MURMUR_CUDA_CHECK(cudaEventSynchronize(backend.event(s)));
      std::memcpy(out.data() + j0, backend.pinned(out_slot, out_bytes), w * sizeof(float));
    }
    if (k >= tiles) continue;
    const std::size_t j0 = k * width;
    const std::size_t w = std::min(width, d - j0);
    auto* h_in = static_cast<float*>(backend.pinned(in_slot, in_bytes));
    auto* d_in = static_cast<float*>(backend.scratch(in_slot, in_bytes));
    auto* d_out = static_cast<float*>(backend.scratch(out_slot, out_bytes));
    auto* h_out = backend.pinned(out_slot, out_bytes);
    source.read(j0, j0 + w, h_in, w);
    const cudaStream_t stream = backend.stream(s);
    MURMUR_CUDA_CHECK(
        cudaMemcpyAsync(d_in, h_in, n * w * sizeof(float), cudaMemcpyHostToDevice, stream));
    launch(static_cast<const float*>(d_in), n, w, d_out, stream);
    MURMUR_CUDA_CHECK(cudaGetLastError());
    MURMUR_CUDA_CHECK(
        cudaMemcpyAsync(h_out, d_out, w * sizeof(float), cudaMemcpyDeviceToHost, stream));
    MURMUR_CUDA_CHECK(cudaEventRecord(backend.event(s), stream));
  }
}

/// Grid size for a grid-stride loop over `count` items with `block` threads per block.
inline unsigned grid_for(std::size_t count, unsigned block) {
  const std::size_t blocks = (count + block - 1) / block;
  return static_cast<unsigned>(std::clamp<std::size_t>(blocks, 1, 65535));
}

}  // namespace murmur::kernels::cuda

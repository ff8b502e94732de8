#pragma once
#include <algorithm>
#include <cstring>
#include <span>

#include "check.cuh"
#include "cuda_backend.cuh"
#include "murmur/kernels/row_source.hpp"

namespace murmur::kernels::cuda {

/// Width of the tiles `source` is streamed in: as many coordinates as fit the backend's tile
/// budget, a multiple of `multiple`. Depends on N and the device only, which fixes the order
/// of every per-row accumulation.
inline std::size_t tile_width(const CudaBackend& backend, const RowSource& source,
                              std::size_t bytes_per_value = sizeof(float),
                              std::size_t multiple = 1024) {
  const std::size_t n = std::max<std::size_t>(source.rows(), 1);
  std::size_t width = std::max<std::size_t>(1, backend.tile_budget() / (n * bytes_per_value));
  if (width > multiple) width -= width % multiple;
  return std::min(width, std::max<std::size_t>(source.cols(), 1));
}

/// Streams `source` to the device in packed tiles (n rows of w floats, ld = w),
/// double-buffered: while tile k is copied up and processed on stream k%2, the host fills the
/// pinned staging buffer of tile k+1 from the source (spool, memory, mixing).
///
///  launch(k, d_tile, n, w, j0, slot, stream): enqueue tile k's work on `stream`, using
///      per-slot scratch `slot` (0 or 1) for anything that must outlive the call;
///  drain(k, j0, w, slot): called in tile order once tile k's work has completed.
///
/// With `single_stream`, every tile runs on stream 0 (for ops that accumulate into one
/// device buffer, such as the Gram matrix); the host still overlaps reading the next tile.
template <class Launch, class Drain>
void stream_tiles(CudaBackend& backend, const RowSource& source, std::size_t width, Launch&& launch,
                  Drain&& drain, bool single_stream = false) {
  const std::size_t n = source.rows();
  const std::size_t d = source.cols();
  if (d == 0) return;
  const std::size_t tiles = (d + width - 1) / width;
  const std::size_t in_bytes = std::max<std::size_t>(n, 1) * width * sizeof(float);
  for (std::size_t k = 0; k < tiles + 2; ++k) {
    const int s = static_cast<int>(k % 2);
    if (k >= 2) {  // tile k-2 used this slot: wait for it, hand it back in order
      const std::size_t j0 = (k - 2) * width;
      MURMUR_CUDA_CHECK(cudaEventSynchronize(backend.event(s)));
      drain(k - 2, j0, std::min(width, d - j0), s);
    }
    if (k >= tiles) continue;
    const std::size_t j0 = k * width;
    const std::size_t w = std::min(width, d - j0);
    const auto in_slot = static_cast<CudaBackend::Slot>(CudaBackend::kTileIn0 + s);
    auto* h_in = static_cast<float*>(backend.pinned(in_slot, in_bytes));
    auto* d_in = static_cast<float*>(backend.scratch(in_slot, in_bytes));
    source.read(j0, j0 + w, h_in, w);
    const cudaStream_t stream = backend.stream(single_stream ? 0 : s);
    MURMUR_CUDA_CHECK(
        cudaMemcpyAsync(d_in, h_in, n * w * sizeof(float), cudaMemcpyHostToDevice, stream));
    launch(k, static_cast<const float*>(d_in), n, w, j0, s, stream);
    MURMUR_CUDA_CHECK(cudaGetLastError());
    MURMUR_CUDA_CHECK(cudaEventRecord(backend.event(s), stream));
  }
}

/// A coordinate-wise op over `source`: `launch(d_tile, n, w, d_out, stream)` reduces a packed
/// device tile into d_out[0, w); results land in out. Traffic per tile: n*w*4 bytes up,
/// w*4 bytes down.
template <class Launch>
void run_coordinatewise(CudaBackend& backend, const RowSource& source, std::span<float> out,
                        Launch&& launch) {
  const std::size_t width = tile_width(backend, source, sizeof(float), 256);
  const std::size_t out_bytes = width * sizeof(float);
  const auto slot = [](int s) {
    return static_cast<CudaBackend::Slot>(CudaBackend::kTileOut0 + s);
  };
  stream_tiles(
      backend, source, width,
      [&](std::size_t, const float* d_tile, std::size_t n, std::size_t w, std::size_t, int s,
          cudaStream_t stream) {
        auto* d_out = static_cast<float*>(backend.scratch(slot(s), out_bytes));
        launch(d_tile, n, w, d_out, stream);
        MURMUR_CUDA_CHECK(cudaMemcpyAsync(backend.pinned(slot(s), out_bytes), d_out,
                                          w * sizeof(float), cudaMemcpyDeviceToHost, stream));
      },
      [&](std::size_t, std::size_t j0, std::size_t w, int s) {
        std::memcpy(out.data() + j0, backend.pinned(slot(s), out_bytes), w * sizeof(float));
      });
}

/// Grid size for a grid-stride loop over `count` items with `block` threads per block.
inline unsigned grid_for(std::size_t count, unsigned block) {
  const std::size_t blocks = (count + block - 1) / block;
  return static_cast<unsigned>(std::clamp<std::size_t>(blocks, 1, 65535));
}

}  // namespace murmur::kernels::cuda

// Mask expansion on CUDA: one thread per ChaCha20 block (16 words), the same block function as
// the CPU (detail/chacha20.hpp). The vector is streamed through device memory in tiles.
#include <algorithm>

#include "cuda_ops.hpp"
#include "murmur/kernels/detail/chacha20.hpp"
#include "tile_pipeline.cuh"

namespace murmur::kernels::cuda {
namespace {

struct Stream {
  std::uint32_t key[8];
  std::uint32_t nonce[3];
};

__global__ void add_mask_kernel(Stream seed, std::uint32_t first_block, std::uint32_t multiplier,
                                std::uint32_t* __restrict__ acc, std::size_t words) {
  const std::size_t blocks = (words + 15) / 16;
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t b = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; b < blocks;
       b += stride) {
    std::uint32_t ks[16];
    detail::chacha20_block(seed.key, first_block + static_cast<std::uint32_t>(b), seed.nonce, ks);
    for (int i = 0; i < 16 && b * 16 + i < words; ++i) acc[b * 16 + i] += multiplier * ks[i];
  }
}

void load_words(const std::uint8_t* bytes, std::uint32_t* words, int count) {
  for (int i = 0; i < count; ++i)
    words[i] = static_cast<std::uint32_t>(bytes[4 * i]) |
               static_cast<std::uint32_t>(bytes[4 * i + 1]) << 8 |
               static_cast<std::uint32_t>(bytes[4 * i + 2]) << 16 |
               static_cast<std::uint32_t>(bytes[4 * i + 3]) << 24;
}

}  // namespace

void add_mask(Backend& backend, const MaskSeed& seed, int sign, std::span<std::uint32_t> acc) {
  CudaBackend& cuda = as_cuda(backend);
  Stream s{};
  load_words(seed.key.data(), s.key, 8);
  load_words(seed.nonce.data(), s.nonce, 3);
  const std::uint32_t multiplier = sign > 0 ? 1u : 0xffffffffu;
  // Tiles of whole ChaCha blocks so every tile starts at a block boundary.
  const std::size_t tile =
      std::max<std::size_t>(16, cuda.tile_budget() / sizeof(std::uint32_t) / 16 * 16);
  auto* d_acc =
      static_cast<std::uint32_t*>(cuda.scratch(CudaBackend::kWork, tile * sizeof(std::uint32_t)));
  const cudaStream_t stream = cuda.stream(0);
  for (std::size_t w0 = 0; w0 < acc.size(); w0 += tile) {
    const std::size_t words = std::min(tile, acc.size() - w0);
    MURMUR_CUDA_CHECK(
        cudaMemcpyAsync(d_acc, acc.data() + w0, words * 4, cudaMemcpyHostToDevice, stream));
    add_mask_kernel<<<grid_for((words + 15) / 16, 256), 256, 0, stream>>>(
        s, static_cast<std::uint32_t>(w0 / 16), multiplier, d_acc, words);
    MURMUR_CUDA_CHECK(cudaGetLastError());
    MURMUR_CUDA_CHECK(
        cudaMemcpyAsync(acc.data() + w0, d_acc, words * 4, cudaMemcpyDeviceToHost, stream));
    MURMUR_CUDA_CHECK(cudaStreamSynchronize(stream));
  }
}

}  // namespace murmur::kernels::cuda

#include "murmur/kernels/masks.hpp"

#include <algorithm>
#include <stdexcept>

#include "dispatch.hpp"

namespace murmur::kernels {

void add_mask(Backend& backend, const MaskSeed& seed, int sign, std::span<std::uint32_t> acc) {
  if (sign != 1 && sign != -1) throw std::invalid_argument("add_mask: sign must be +1 or -1");
  if ((acc.size() + 15) / 16 > (std::size_t{1} << 32))
    throw std::invalid_argument("add_mask: more than 2^32 ChaCha20 blocks in one stream");
  if (backend.kind() == BackendKind::kCpu)
    return cpu::add_mask(cpu::as_cpu(backend), seed, sign, acc);
  MURMUR_ON_CUDA(return cuda::add_mask(backend, seed, sign, acc));
}

void mask_stream(Backend& backend, const MaskSeed& seed, std::span<std::uint32_t> out) {
  std::fill(out.begin(), out.end(), 0u);
  add_mask(backend, seed, 1, out);
}

}  // namespace murmur::kernels

#pragma once
// Secure-aggregation mask arithmetic in Z_2^32: ChaCha20 key-stream expansion added to (or
// subtracted from) a vector of words, and modular sums of masked vectors.
#include <array>
#include <cstdint>
#include <span>

#include "murmur/kernels/backend.hpp"

namespace murmur::kernels {

/// A ChaCha20 key and nonce naming one mask stream.
struct MaskSeed {
  std::array<std::uint8_t, 32> key{};
  std::array<std::uint8_t, 12> nonce{};
};

/// acc[i] += sign * w_i (mod 2^32) where w is the ChaCha20 (RFC 8439) key stream of `seed` from
/// block 0, read as little-endian 32-bit words: word i sits in block i / 16. sign is +1 or -1.
/// Traffic: acc read and written once; 20 ChaCha rounds per 16 words (compute-bound on CPU).
void add_mask(Backend& backend, const MaskSeed& seed, int sign, std::span<std::uint32_t> acc);

/// The key stream itself (acc zeroed, then add_mask with +1): for tests and the benchmark.
void mask_stream(Backend& backend, const MaskSeed& seed, std::span<std::uint32_t> out);

}  // namespace murmur::kernels

#pragma once
// Mask words as the little-endian byte stream ChaCha20 writes (shared by the mask tests).
#include <cstdint>
#include <vector>

namespace murmur::kernels {

inline std::vector<std::uint8_t> bytes_of(const std::vector<std::uint32_t>& words) {
  std::vector<std::uint8_t> b(words.size() * 4);
  for (std::size_t i = 0; i < words.size(); ++i)
    for (int k = 0; k < 4; ++k) b[4 * i + k] = static_cast<std::uint8_t>(words[i] >> (8 * k));
  return b;
}

}  // namespace murmur::kernels

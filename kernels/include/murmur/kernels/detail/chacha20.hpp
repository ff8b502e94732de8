#pragma once
// ChaCha20 (RFC 8439: 256-bit key, 96-bit nonce, 32-bit block counter), written once for both
// backends. Secure aggregation expands its pairwise and self masks with it; it is the PRG of
// secure aggregation (secagg/README.md), never a non-cryptographic generator.
#include <cstdint>

#include "murmur/kernels/detail/hd.hpp"

namespace murmur::kernels::detail {

MURMUR_HD inline std::uint32_t rotl32(std::uint32_t x, int n) {
  return (x << n) | (x >> (32 - n));
}

MURMUR_HD inline void quarter_round(std::uint32_t& a, std::uint32_t& b, std::uint32_t& c,
                                    std::uint32_t& d) {
  a += b;
  d ^= a;
  d = rotl32(d, 16);
  c += d;
  b ^= c;
  b = rotl32(b, 12);
  a += b;
  d ^= a;
  d = rotl32(d, 8);
  c += d;
  b ^= c;
  b = rotl32(b, 7);
}

/// The 16 key-stream words of block `counter` for `key` (8 words) and `nonce` (3 words),
/// little-endian words as RFC 8439 §2.3 defines them.
MURMUR_HD inline void chacha20_block(const std::uint32_t key[8], std::uint32_t counter,
                                     const std::uint32_t nonce[3], std::uint32_t out[16]) {
  std::uint32_t s[16] = {0x61707865u, 0x3320646eu, 0x79622d32u, 0x6b206574u, key[0], key[1],
                         key[2],      key[3],      key[4],      key[5],      key[6], key[7],
                         counter,     nonce[0],    nonce[1],    nonce[2]};
  std::uint32_t x[16];
  for (int i = 0; i < 16; ++i) x[i] = s[i];
  for (int round = 0; round < 10; ++round) {
    quarter_round(x[0], x[4], x[8], x[12]);
    quarter_round(x[1], x[5], x[9], x[13]);
    quarter_round(x[2], x[6], x[10], x[14]);
    quarter_round(x[3], x[7], x[11], x[15]);
    quarter_round(x[0], x[5], x[10], x[15]);
    quarter_round(x[1], x[6], x[11], x[12]);
    quarter_round(x[2], x[7], x[8], x[13]);
    quarter_round(x[3], x[4], x[9], x[14]);
  }
  for (int i = 0; i < 16; ++i) out[i] = x[i] + s[i];
}

}  // namespace murmur::kernels::detail

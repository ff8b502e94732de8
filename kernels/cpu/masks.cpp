#include <cstring>

#include "cpu_backend.hpp"
#include "murmur/kernels/detail/chacha20.hpp"
#include "murmur/kernels/masks.hpp"

namespace murmur::kernels::cpu {
namespace {

constexpr std::size_t kBlocksPerTask = 4096;  // 256 KiB of words per task
// Blocks computed side by side: each of the 16 state words is a vector of kLanes blocks, so
// the rounds run as SIMD adds, xors and rotates (GCC vector extension, like the sorting network).
constexpr std::size_t kLanes = 8;
using Lanes = std::uint32_t __attribute__((vector_size(kLanes * sizeof(std::uint32_t))));

inline Lanes rotl(Lanes x, int n) {
  return (x << n) | (x >> (32 - n));
}

inline void quarter(Lanes& a, Lanes& b, Lanes& c, Lanes& d) {
  a += b;
  d ^= a;
  d = rotl(d, 16);
  c += d;
  b ^= c;
  b = rotl(b, 12);
  a += b;
  d ^= a;
  d = rotl(d, 8);
  c += d;
  b ^= c;
  b = rotl(b, 7);
}

/// Key-stream words of kLanes consecutive blocks starting at `first`, added with `sign` into
/// acc (which holds words of those blocks, `words` of them).
void add_blocks(const std::uint32_t key[8], const std::uint32_t nonce[3], std::uint32_t first,
                int sign, std::uint32_t* acc, std::size_t words) {
  Lanes s[16], x[16];
  const std::uint32_t constants[4] = {0x61707865u, 0x3320646eu, 0x79622d32u, 0x6b206574u};
  for (int i = 0; i < 4; ++i) s[i] = Lanes{} + constants[i];
  for (int i = 0; i < 8; ++i) s[4 + i] = Lanes{} + key[i];
  for (std::size_t l = 0; l < kLanes; ++l) s[12][l] = first + static_cast<std::uint32_t>(l);
  for (int i = 0; i < 3; ++i) s[13 + i] = Lanes{} + nonce[i];
  for (int i = 0; i < 16; ++i) x[i] = s[i];
  for (int round = 0; round < 10; ++round) {
    quarter(x[0], x[4], x[8], x[12]);
    quarter(x[1], x[5], x[9], x[13]);
    quarter(x[2], x[6], x[10], x[14]);
    quarter(x[3], x[7], x[11], x[15]);
    quarter(x[0], x[5], x[10], x[15]);
    quarter(x[1], x[6], x[11], x[12]);
    quarter(x[2], x[7], x[8], x[13]);
    quarter(x[3], x[4], x[9], x[14]);
  }
  for (int i = 0; i < 16; ++i) x[i] += s[i];
  const std::uint32_t m = sign > 0 ? 1u : 0xffffffffu;  // multiply by -1 mod 2^32
  for (std::size_t l = 0; l < kLanes; ++l)
    for (std::size_t i = 0; i < 16 && l * 16 + i < words; ++i) acc[l * 16 + i] += m * x[i][l];
}

void load_words(const std::uint8_t* bytes, std::uint32_t* words, int count) {
  for (int i = 0; i < count; ++i)
    words[i] = static_cast<std::uint32_t>(bytes[4 * i]) |
               static_cast<std::uint32_t>(bytes[4 * i + 1]) << 8 |
               static_cast<std::uint32_t>(bytes[4 * i + 2]) << 16 |
               static_cast<std::uint32_t>(bytes[4 * i + 3]) << 24;
}

}  // namespace

void add_mask(CpuBackend& backend, const MaskSeed& seed, int sign, std::span<std::uint32_t> acc) {
  std::uint32_t key[8], nonce[3];
  load_words(seed.key.data(), key, 8);
  load_words(seed.nonce.data(), nonce, 3);
  const std::size_t blocks = (acc.size() + 15) / 16;
  const std::size_t tasks = (blocks + kBlocksPerTask - 1) / kBlocksPerTask;
  backend.pool().parallel_for(tasks, [&](std::size_t t, unsigned) {
    const std::size_t b0 = t * kBlocksPerTask, b1 = std::min(blocks, b0 + kBlocksPerTask);
    for (std::size_t b = b0; b < b1; b += kLanes) {
      const std::size_t w0 = b * 16;
      add_blocks(key, nonce, static_cast<std::uint32_t>(b), sign, acc.data() + w0,
                 std::min(acc.size() - w0, kLanes * 16));
    }
  });
}

}  // namespace murmur::kernels::cpu

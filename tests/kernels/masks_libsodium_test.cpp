// ChaCha20 mask expansion against libsodium's IETF ChaCha20 over many lengths (a real
// producer of the same stream). Built into kernel_mask_tests in the full build only: the
// kernels-only configuration (MURMUR_COMPONENTS=kernels) has no libsodium.
#include <gtest/gtest.h>
#include <sodium.h>

#include <random>

#include "kernels/mask_bytes.hpp"
#include "murmur/kernels/masks.hpp"

namespace murmur::kernels {
namespace {

TEST(ChaCha20, EqualsLibsodiumIetfStreamForAnyLength) {
  ASSERT_GE(sodium_init(), 0);
  std::mt19937_64 gen(20261122);
  auto cpu = make_cpu_backend(2);
  for (std::size_t words : {1u, 15u, 16u, 17u, 127u, 128u, 129u, 4096u * 16 + 5, 300001u}) {
    MaskSeed seed;
    for (auto& b : seed.key) b = static_cast<std::uint8_t>(gen());
    for (auto& b : seed.nonce) b = static_cast<std::uint8_t>(gen());
    std::vector<std::uint32_t> ours(words);
    mask_stream(*cpu, seed, ours);
    std::vector<std::uint8_t> theirs(words * 4);
    crypto_stream_chacha20_ietf(theirs.data(), theirs.size(), seed.nonce.data(), seed.key.data());
    EXPECT_EQ(bytes_of(ours), theirs) << "words=" << words;
  }
}

}  // namespace
}  // namespace murmur::kernels

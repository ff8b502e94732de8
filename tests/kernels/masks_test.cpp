// ChaCha20 mask expansion: RFC 8439's test vector bit for bit and the Z_2^32 arithmetic of
// adding and removing masks. Needs the kernels only; libsodium's IETF ChaCha20 over many lengths
// is masks_libsodium_test.cpp (full build only); CPU and CUDA against a naive ChaCha20 are the
// parity harness's `masks` op (ops_masks.hpp, kernel_parity).
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "kernels/mask_bytes.hpp"
#include "murmur/kernels/masks.hpp"

namespace murmur::kernels {
namespace {

MaskSeed rfc_seed(std::uint8_t nonce_3, std::uint8_t nonce_7) {
  MaskSeed s;
  for (int i = 0; i < 32; ++i) s.key[i] = static_cast<std::uint8_t>(i);
  s.nonce[3] = nonce_3;
  s.nonce[7] = nonce_7;
  return s;
}

TEST(ChaCha20, Rfc8439BlockFunctionVector) {
  // RFC 8439 §2.3.2: key 00..1f, nonce 000000090000004a00000000, block counter 1.
  const std::vector<std::uint8_t> want = {
      0x10, 0xf1, 0xe7, 0xe4, 0xd1, 0x3b, 0x59, 0x15, 0x50, 0x0f, 0xdd, 0x1f, 0xa3,
      0x20, 0x71, 0xc4, 0xc7, 0xd1, 0xf4, 0xc7, 0x33, 0xc0, 0x68, 0x03, 0x04, 0x22,
      0xaa, 0x9a, 0xc3, 0xd4, 0x6c, 0x4e, 0xd2, 0x82, 0x64, 0x46, 0x07, 0x9f, 0xaa,
      0x09, 0x14, 0xc2, 0xd7, 0x05, 0xd9, 0x8b, 0x02, 0xa2, 0xb5, 0x12, 0x9c, 0xd1,
      0xde, 0x16, 0x4e, 0xb9, 0xcb, 0xd0, 0x83, 0xe8, 0xa2, 0x50, 0x3c, 0x4e};
  auto cpu = make_cpu_backend(2);
  std::vector<std::uint32_t> words(32);  // blocks 0 and 1
  mask_stream(*cpu, rfc_seed(0x09, 0x4a), words);
  const auto got = bytes_of(words);
  EXPECT_EQ(std::vector<std::uint8_t>(got.begin() + 64, got.end()), want);
}

TEST(ChaCha20, MasksCancelExactlyInZ2to32) {
  auto cpu = make_cpu_backend(3);
  std::vector<std::uint32_t> x(100003), y;
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<std::uint32_t>(i * 2654435761u);
  y = x;
  MaskSeed a = rfc_seed(1, 2), b = rfc_seed(3, 4);
  add_mask(*cpu, a, +1, y);
  add_mask(*cpu, b, +1, y);
  EXPECT_NE(x, y);
  add_mask(*cpu, a, -1, y);
  add_mask(*cpu, b, -1, y);
  EXPECT_EQ(x, y);
  EXPECT_THROW(add_mask(*cpu, a, 2, y), std::invalid_argument);
}

}  // namespace
}  // namespace murmur::kernels

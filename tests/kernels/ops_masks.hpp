#pragma once
// The parity table's mask op: add_mask (ChaCha20 key stream added into Z_2^32) against a
// ChaCha20 written from RFC 8439 §2.3 as plain loops, for both signs and lengths around a
// block (16 words) up to 2^20 words.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "murmur/kernels/masks.hpp"
#include "ops.hpp"

namespace murmur::test {

namespace naive {

inline std::uint32_t rotl(std::uint32_t v, int c) {
  return (v << c) | (v >> (32 - c));
}

inline void quarter_round(std::array<std::uint32_t, 16>& s, int a, int b, int c, int d) {
  s[a] += s[b], s[d] ^= s[a], s[d] = rotl(s[d], 16);
  s[c] += s[d], s[b] ^= s[c], s[b] = rotl(s[b], 12);
  s[a] += s[b], s[d] ^= s[a], s[d] = rotl(s[d], 8);
  s[c] += s[d], s[b] ^= s[c], s[b] = rotl(s[b], 7);
}

/// ChaCha20's block `counter` for (key, nonce), RFC 8439 §2.3: 16 little-endian words.
inline std::array<std::uint32_t, 16> chacha20_block(const kernels::MaskSeed& seed,
                                                    std::uint32_t counter) {
  const auto le32 = [](const std::uint8_t* p) {
    return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
           std::uint32_t{p[3]} << 24;
  };
  std::array<std::uint32_t, 16> in{0x61707865, 0x3320646e, 0x79622d32, 0x6b206574};
  for (int i = 0; i < 8; ++i) in[4 + i] = le32(seed.key.data() + 4 * i);
  in[12] = counter;
  for (int i = 0; i < 3; ++i) in[13 + i] = le32(seed.nonce.data() + 4 * i);
  std::array<std::uint32_t, 16> s = in;
  for (int round = 0; round < 10; ++round) {
    quarter_round(s, 0, 4, 8, 12), quarter_round(s, 1, 5, 9, 13);
    quarter_round(s, 2, 6, 10, 14), quarter_round(s, 3, 7, 11, 15);
    quarter_round(s, 0, 5, 10, 15), quarter_round(s, 1, 6, 11, 12);
    quarter_round(s, 2, 7, 8, 13), quarter_round(s, 3, 4, 9, 14);
  }
  for (int i = 0; i < 16; ++i) s[i] += in[i];
  return s;
}

/// acc[i] + sign * (word i of the key stream from block 0), mod 2^32.
inline std::vector<std::uint32_t> add_mask(const kernels::MaskSeed& seed, int sign,
                                           std::vector<std::uint32_t> acc) {
  std::array<std::uint32_t, 16> block{};
  for (std::size_t i = 0; i < acc.size(); ++i) {
    if (i % 16 == 0) block = chacha20_block(seed, static_cast<std::uint32_t>(i / 16));
    acc[i] += sign > 0 ? block[i % 16] : 0u - block[i % 16];
  }
  return acc;
}

}  // namespace naive

/// A mask case: `words` words holding i * multiplier, a seed and a sign.
struct MaskCase {
  std::size_t words;
  int sign;
  std::uint8_t nonce_3, nonce_7;  ///< the seed: key 00..1f, these two nonce bytes
  std::uint32_t multiplier;

  kernels::MaskSeed seed() const {
    kernels::MaskSeed s;
    for (int i = 0; i < 32; ++i) s.key[i] = static_cast<std::uint8_t>(i);
    s.nonce[3] = nonce_3;
    s.nonce[7] = nonce_7;
    return s;
  }
  std::vector<std::uint32_t> input() const {
    std::vector<std::uint32_t> x(words);
    for (std::size_t i = 0; i < words; ++i) x[i] = static_cast<std::uint32_t>(i) * multiplier;
    return x;
  }
};

/// add_mask: one word, around a block, an odd length across CPU chunks, and 2^20 words with
/// sign -1 (the mask a node removes).
inline std::vector<Op> mask_ops() {
  using Words = std::vector<std::uint32_t>;
  const auto same_words = [](const Words& got, const Words& want, const MaskCase& c, Tolerance,
                             const std::string& label) -> ::testing::AssertionResult {
    if (got.size() != want.size())
      return ::testing::AssertionFailure()
             << label << ": " << got.size() << " words, want " << want.size();
    for (std::size_t i = 0; i < got.size(); ++i)
      if (got[i] != want[i])
        return ::testing::AssertionFailure()
               << label << " (" << c.words << " words, sign " << c.sign << "): word " << i << " is "
               << got[i] << ", want " << want[i];
    return ::testing::AssertionSuccess();
  };
  OpSpec<MaskCase, Words, Words> s;
  s.name = "masks";
  s.shapes = {{1, +1, 1, 2, 2654435761u},      {15, -1, 1, 2, 2654435761u},
              {16, +1, 3, 4, 2654435761u},     {17, +1, 3, 4, 2654435761u},
              {100003, +1, 1, 2, 2654435761u}, {1u << 20, -1, 7, 9, 1u}};
  s.describe = [](const MaskCase& c) {
    return "n" + std::to_string(c.words) + (c.sign > 0 ? "_plus" : "_minus");
  };
  s.naive = [](const MaskCase& c) { return naive::add_mask(c.seed(), c.sign, c.input()); };
  s.run = [](kernels::Backend& b, const MaskCase& c, InputPath) {
    Words acc = c.input();
    kernels::add_mask(b, c.seed(), c.sign, acc);
    return acc;
  };
  s.cpu_vs_naive = s.gpu_vs_cpu = kExact;
  s.vs_naive = [same_words](const Words& got, const Words& want, const MaskCase& c, Tolerance t,
                            const std::string& label) {
    if (want == c.input())
      return ::testing::AssertionFailure() << label << ": the reference left the words unchanged";
    return same_words(got, want, c, t, label);
  };
  s.vs_out = same_words;
  return {make_op(std::move(s))};
}

}  // namespace murmur::test

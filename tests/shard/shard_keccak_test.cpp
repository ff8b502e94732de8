// KeccakChain (server/src/shard_keccak.hpp): the candidate's keccak-256 absorbed shard after
// shard, the sponge handed on as bytes, is keccak-256 of the whole (chain::keccak256, Crypto++'s
// one-shot), whatever the boundaries; a state of another size or a block offset past 136 bytes
// is refused.
#include <gtest/gtest.h>

#include <random>

#include "murmur/chain/keccak.hpp"
#include "shard_keccak.hpp"  // server/src

namespace murmur::testing {
namespace {

using server::KeccakChain;

chain::Hash32 chained(std::span<const std::uint8_t> bytes, const std::vector<std::size_t>& cuts) {
  std::vector<std::uint8_t> state;
  std::size_t at = 0;
  for (std::size_t k = 0; k <= cuts.size(); ++k) {
    const std::size_t end = k < cuts.size() ? cuts[k] : bytes.size();
    KeccakChain sponge = k == 0 ? KeccakChain() : KeccakChain::resume(state);
    sponge.absorb(bytes.subspan(at, end - at));
    at = end;
    if (k == cuts.size()) return sponge.finish();
    state = sponge.state();
    EXPECT_EQ(state.size(), KeccakChain::kStateBytes);
  }
  return {};
}

TEST(ShardKeccak, ChainedAcrossHoldersIsTheWholeHash) {
  const std::uint32_t seed = 20261203;
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> bytes(3 * 16384 + 4 * 137);
  for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
  const chain::Hash32 want = chain::keccak256(bytes);
  // Empty input: Ethereum's keccak256("").
  EXPECT_EQ(chain::to_hex(chained({}, {})),
            "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
  // Cuts at, around and inside the 136-byte block, and on the shards' 16 KiB units.
  for (const std::vector<std::size_t>& cuts :
       std::vector<std::vector<std::size_t>>{{},
                                             {0},
                                             {1},
                                             {135},
                                             {136},
                                             {137},
                                             {16384},
                                             {16384, 32768},
                                             {136, 136, 272},
                                             {bytes.size()},
                                             {4, 8, 12, 16, 20}})
    EXPECT_EQ(chained(bytes, cuts), want) << "cuts of " << cuts.size() << ", seed " << seed;
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<std::size_t> cuts(1 + rng() % 6);
    for (auto& c : cuts) c = rng() % (bytes.size() + 1);
    std::sort(cuts.begin(), cuts.end());
    EXPECT_EQ(chained(bytes, cuts), want) << "trial " << trial << ", seed " << seed;
  }
  // A different byte anywhere changes the hash (the chain is not ignoring a holder).
  std::vector<std::uint8_t> other = bytes;
  other[16384 + 3] ^= 1;
  EXPECT_NE(chained(other, {16384, 32768}), want);
}

TEST(ShardKeccak, AStateOfAnotherShapeIsRefused) {
  std::vector<std::uint8_t> state = KeccakChain().state();
  EXPECT_THROW(KeccakChain::resume(std::span(state).first(200)), std::invalid_argument);
  state[200] = 136;  // the offset in the block: at most 135
  EXPECT_THROW(KeccakChain::resume(state), std::invalid_argument);
  state[200] = 135;
  EXPECT_NO_THROW(KeccakChain::resume(state));
}

}  // namespace
}  // namespace murmur::testing

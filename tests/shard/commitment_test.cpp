// Split-upload commitments over BLAKE3's tree against b3sum of the whole file: every part's
// proof combines into b3sum's hash, each part checks alone, and a changed byte, a swapped
// chaining value or a wrong cover is refused.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <random>

#include "murmur/protocol/blake3.hpp"
#include "murmur/protocol/blake3_tree.hpp"
#include "murmur/protocol/part_commitment.hpp"
#include "murmur/shard/partition.hpp"
#include "murmur/testing/process.hpp"
#include "murmur/testing/temp_dir.hpp"

namespace murmur::shard {
namespace {

using protocol::Blake3Node;

std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::vector<std::uint8_t> b(n);
  for (auto& x : b) x = static_cast<std::uint8_t>(gen());
  return b;
}

std::string hex(const chain::Hash32& h) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (std::uint8_t b : h) s += digits[b >> 4], s += digits[b & 15];
  return s;
}

/// b3sum (the reference implementation, BLAKE3 1.x) of `bytes`, written to a file.
std::string b3sum(const std::vector<std::uint8_t>& bytes) {
  testing::TempDir dir("b3sum");
  const auto path = dir / "update.bin";
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  const auto [status, out] = testing::run_command("b3sum --no-names " + path.string());
  EXPECT_EQ(status, 0) << out;
  return out.substr(0, 64);
}

TEST(Blake3Tree, CoverSpansTheRangeWithNodesOfTheTree) {
  // 37 chunks and a bit: the tree's right spine is uneven.
  const std::uint64_t total = 37 * 1024 + 100;
  const auto cover = protocol::blake3_cover(total, 16 * 1024, total);
  ASSERT_FALSE(cover.empty());
  EXPECT_EQ(cover.front().first_chunk, 16u);
  EXPECT_EQ(cover.back().end_chunk, 38u);
  for (std::size_t i = 1; i < cover.size(); ++i)
    EXPECT_EQ(cover[i].first_chunk, cover[i - 1].end_chunk);
  // [16, 32) is a complete subtree of 16 chunks; [32, 38) is the right spine's node.
  EXPECT_EQ(cover, (std::vector<Blake3Node>{{16, 32}, {32, 38}}));
  EXPECT_THROW(protocol::blake3_cover(total, 100, total), protocol::Blake3TreeError);
  EXPECT_THROW(protocol::blake3_cover(total, 0, 5000), protocol::Blake3TreeError);
}

TEST(Blake3Tree, NodeChainingValuesCombineIntoTheHash) {
  for (const std::uint64_t total : {2048ull, 5000ull, 64ull * 1024, 37ull * 1024 + 100}) {
    const auto bytes = random_bytes(total, total);
    // Every chunk boundary as a split point: the cover of [0, b) then of [b, total).
    for (std::uint64_t b = 1024; b < total; b += 1024) {
      std::vector<Blake3Node> nodes = protocol::blake3_cover(total, 0, b);
      const auto right = protocol::blake3_cover(total, b, total);
      nodes.insert(nodes.end(), right.begin(), right.end());
      std::vector<protocol::Blake3Cv> cvs;
      for (const Blake3Node& n : nodes) {
        const std::uint64_t s = n.first_chunk * 1024, e = std::min(n.end_chunk * 1024, total);
        cvs.push_back(protocol::blake3_node_cv(total, n, {bytes.data() + s, e - s}));
      }
      EXPECT_EQ(protocol::blake3_root(total, nodes, cvs), protocol::blake3(bytes))
          << "total " << total << " split at " << b;
    }
  }
}

TEST(PartCommitment, EveryPartChecksAloneAndTheWholeIsB3sum) {
  // 40000 float32 coordinates (160000 bytes, a ragged last chunk) split for 1, 2, 3 and 4 shards.
  const std::size_t d = 40000;
  const auto bytes = random_bytes(d * 4, 7);
  const std::string reference = b3sum(bytes);
  ASSERT_EQ(reference.size(), 64u);
  for (std::size_t shards : {1u, 2u, 3u, 4u}) {
    const auto ranges = partition(d, shards);
    const auto boundaries = byte_boundaries(ranges);
    const protocol::SplitCommitment c = protocol::commit_parts(bytes, boundaries);
    EXPECT_EQ(hex(c.hash), reference) << shards << " shards";
    ASSERT_EQ(c.parts.size(), shards);
    for (std::size_t p = 0; p < shards; ++p) {
      const std::span<const std::uint8_t> part(bytes.data() + c.parts[p].begin,
                                               c.parts[p].end - c.parts[p].begin);
      EXPECT_NO_THROW(protocol::check_part(c, p, part)) << shards << " shards, part " << p;
      // One flipped byte in the part: its own check fails, naming the part.
      std::vector<std::uint8_t> bad(part.begin(), part.end());
      bad[bad.size() / 2] ^= 1;
      try {
        protocol::check_part(c, p, bad);
        ADD_FAILURE() << "a flipped byte passed, part " << p << " of " << shards;
      } catch (const protocol::PartCommitmentError& e) {
        EXPECT_NE(std::string(e.what()).find("part " + std::to_string(p)), std::string::npos)
            << e.what();
      }
    }
  }
}

TEST(PartCommitment, ForgedProofsAreRefused) {
  const std::size_t d = 3 * 4096 + 17;
  const auto bytes = random_bytes(d * 4, 11);
  const auto boundaries = byte_boundaries(partition(d, 3));
  const protocol::SplitCommitment good = protocol::commit_parts(bytes, boundaries);
  const auto part1 = std::span<const std::uint8_t>(bytes).subspan(
      good.parts[1].begin, good.parts[1].end - good.parts[1].begin);
  ASSERT_NO_THROW(protocol::check_part(good, 1, part1));

  // Another part's chaining value altered: part 1's bytes are right, the whole is not.
  protocol::SplitCommitment other = good;
  other.parts[2].cvs[0][0] ^= 1;
  EXPECT_THROW(protocol::check_part(other, 1, part1), protocol::PartCommitmentError);
  // A different signed hash.
  protocol::SplitCommitment hash = good;
  hash.hash[0] ^= 1;
  EXPECT_THROW(protocol::check_part(hash, 1, part1), protocol::PartCommitmentError);
  // A cover that is not the tree's (two parts' nodes moved).
  protocol::SplitCommitment cover = good;
  cover.parts[0].nodes.back().end_chunk += 1;
  EXPECT_THROW(protocol::check_part(cover, 1, part1), protocol::PartCommitmentError);
  // Parts that do not tile the update.
  protocol::SplitCommitment gap = good;
  gap.parts[1].begin += 1024;
  EXPECT_THROW(protocol::check_part(gap, 0, part1), protocol::PartCommitmentError);
  // Boundaries off the chunk grid.
  std::vector<std::uint64_t> off = boundaries;
  off[1] += 4;
  EXPECT_THROW(protocol::commit_parts(bytes, off), protocol::PartCommitmentError);
}

TEST(Partition, AlignedContiguousRangesInShardOrder) {
  const auto r = partition(40000, 4);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0], (CoordinateRange{0, 8192}));
  EXPECT_EQ(r[1], (CoordinateRange{8192, 20480}));
  EXPECT_EQ(r[2], (CoordinateRange{20480, 28672}));
  EXPECT_EQ(r[3], (CoordinateRange{28672, 40000}));
  for (std::size_t s = 0; s < 4; ++s) EXPECT_EQ(r[s].begin % kDefaultAlignment, 0u);
  EXPECT_EQ(partition(5, 1), (std::vector<CoordinateRange>{{0, 5}}));
  // 7B coordinates on 64 shards: equal to within one aligned unit.
  const auto big = partition(7'000'000'000ull, 64);
  std::size_t lo = big[0].size(), hi = lo;
  for (const auto& x : big) lo = std::min(lo, x.size()), hi = std::max(hi, x.size());
  EXPECT_LE(hi - lo, kDefaultAlignment);
  EXPECT_EQ(big.back().end, 7'000'000'000ull);
  EXPECT_THROW(partition(4096, 2), PartitionError);          // one unit, two shards
  EXPECT_THROW(partition(100, 0), PartitionError);           // no shard
  EXPECT_THROW(partition(100000, 2, 3000), PartitionError);  // 12000-byte units
}

}  // namespace
}  // namespace murmur::shard

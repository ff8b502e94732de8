// The order every shard sums the allgathered partials in: shard 0, 1, ..., S-1, left to right,
// starting from shard 0's values. FP64 addition is not associative, so the order is visible:
// these partials give 0 in shard order and 1 in any order that adds the two 1e16s first.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "murmur/shard/collective.hpp"

namespace murmur::shard {
namespace {

TEST(ShardOrder, SumsLeftToRightFromShardZero) {
  // Two values per shard, three shards: all[r * 2 + j].
  const std::vector<double> all = {1e16, -0.0, 1.0, -0.0, -1e16, -0.0};
  std::vector<double> out(2);
  sum_in_shard_order(all, 3, out);
  EXPECT_EQ(out[0], 0.0);  // (1e16 + 1) rounds to 1e16, minus 1e16; other orders give 1
  EXPECT_EQ((1e16 + -1e16) + 1.0, 1.0);
  // -0 + -0 + -0 stays -0: the sum starts from shard 0's value, not from +0.
  EXPECT_TRUE(std::signbit(out[1]));
}

TEST(ShardOrder, OneShardIsItsOwnBits) {
  const std::vector<double> all = {0.1, -0.0, 3e-310};
  std::vector<double> out(3);
  sum_in_shard_order(all, 1, out);
  EXPECT_EQ(std::memcmp(out.data(), all.data(), sizeof(double) * 3), 0);
}

TEST(ShardOrder, ShapeMismatchIsACollectiveError) {
  std::vector<double> out(2);
  EXPECT_THROW(sum_in_shard_order(std::vector<double>(5), 3, out), CollectiveError);
  EXPECT_THROW(sum_in_shard_order(std::vector<double>(0), 0, std::span<double>()), CollectiveError);
}

}  // namespace
}  // namespace murmur::shard
